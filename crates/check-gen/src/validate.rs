//! PMM's rules for check files (versions 1 and 2, custom `dev` files and bundled check files) and for
//! bundled advisor files, as pmm-managed applies them, with the file, line and check of every problem.
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use crate::yaml_tree::{Node, Yaml};

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file as named on the command line.
    pub file: String,
    /// 1-based line, 0 if unknown.
    pub line: u64,
    /// The check (or advisor) it concerns, if known.
    pub check: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file, self.line)?;
        if let Some(c) = &self.check {
            write!(f, "check {c}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Go's `time.ParseDuration` syntax: an optional sign, then one or more decimal numbers (a fraction
/// allowed) each with a unit of ns, us, µs, μs, ms, s, m or h; or a bare `0`.
pub fn is_go_duration(s: &str) -> bool {
    let rest = s.strip_prefix(['-', '+']).unwrap_or(s);
    if rest == "0" {
        return true;
    }
    let mut rest = rest;
    let mut parts = 0;
    while !rest.is_empty() {
        let num = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.').len();
        let digits = &rest[..num];
        if digits.is_empty() || digits == "." || digits.matches('.').count() > 1 {
            return false;
        }
        rest = &rest[num..];
        let Some(unit) = ["ns", "us", "µs", "μs", "ms", "s", "m", "h"].into_iter().find(|u| rest.starts_with(u)) else { return false };
        rest = &rest[unit.len()..];
        parts += 1;
    }
    parts > 0
}

/// `^[a-zA-Z_][a-zA-Z0-9_]*$`, PMM's pattern for check and advisor names.
pub fn is_valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

const CHECK_KEYS: &[&str] = &[
    "version", "name", "summary", "description", "advisor", "category", "tiers", "type", "query", "family",
    "queries", "interval", "script",
];
const ADVISOR_KEYS: &[&str] = &["version", "name", "summary", "description", "category", "tiers"];
const V1_TYPES: &[&str] = &[
    "MYSQL_SHOW", "MYSQL_SELECT", "POSTGRESQL_SHOW", "POSTGRESQL_SELECT", "MONGODB_GETPARAMETER",
    "MONGODB_BUILDINFO", "MONGODB_GETCMDLINEOPTS", "MONGODB_REPLSETGETSTATUS", "MONGODB_GETDIAGNOSTICDATA",
];
const TIERS: &[&str] = &["anonymous", "registered", "paid"];
const INTERVALS: &[&str] = &["standard", "frequent", "rare", ""];

/// The query types a version 2 check of a family may use.
fn v2_types(family: &str) -> &'static [&'static str] {
    match family {
        "MYSQL" => &["MYSQL_SHOW", "MYSQL_SELECT", "METRICS_INSTANT", "METRICS_RANGE", "CLICKHOUSE_SELECT"],
        "POSTGRESQL" => &[
            "POSTGRESQL_SHOW", "POSTGRESQL_SELECT", "METRICS_INSTANT", "METRICS_RANGE", "CLICKHOUSE_SELECT",
        ],
        "MONGODB" => &[
            "MONGODB_GETPARAMETER", "MONGODB_BUILDINFO", "MONGODB_GETCMDLINEOPTS", "MONGODB_REPLSETGETSTATUS",
            "MONGODB_GETDIAGNOSTICDATA", "METRICS_INSTANT", "METRICS_RANGE", "CLICKHOUSE_SELECT",
        ],
        _ => &[],
    }
}

/// Collects problems for one file.
struct Ctx<'a> {
    file: &'a str,
    check: Option<String>,
    problems: &'a mut Vec<Problem>,
}

impl Ctx<'_> {
    fn err(&mut self, line: u64, message: impl Into<String>) {
        self.problems.push(Problem { file: self.file.to_string(), line, check: self.check.clone(), message: message.into() });
    }
}

fn line(n: &Node) -> u64 {
    n.referenced.line()
}

/// What the files given together declare, for rules that span files.
#[derive(Debug, Default)]
pub struct Seen {
    /// Advisors defined in advisor files, with where.
    pub advisors: BTreeSet<String>,
    /// Check name to (file, line), for duplicates.
    checks: BTreeMap<String, (String, u64)>,
    /// (file, line, check, advisor) of bundled checks, resolved once every file is read.
    advisor_refs: Vec<(String, u64, String, String)>,
}

/// Validates one file's text. `file` names it in messages and gives the base name bundled check files
/// must match.
pub fn validate_text(file: &str, text: &str, seen: &mut Seen) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut cx = Ctx { file, check: None, problems: &mut problems };
    let docs: Vec<Node> = match serde_saphyr::from_multiple(text) {
        Ok(d) => d,
        Err(e) => {
            let l = e.location().map(|l| l.line()).unwrap_or(0);
            cx.err(l, format!("not valid YAML: {}", e.without_snippet()));
            return problems;
        }
    };
    let mut checks: Vec<&Node> = Vec::new();
    for doc in &docs {
        match &doc.value {
            Yaml::Null => {}
            Yaml::Map(entries) => {
                for (k, v) in entries {
                    match (k.value.as_str(), &v.value) {
                        ("checks", Yaml::Seq(items)) => checks.extend(items.iter()),
                        ("advisors", Yaml::Seq(items)) => {
                            for a in items {
                                validate_advisor(&mut cx, a, seen);
                            }
                        }
                        ("checks" | "advisors", other) => {
                            cx.err(line(v), format!("{} must be a list, not {}", k.value, other.kind()))
                        }
                        (other, _) => cx.err(k.referenced.line(), format!("unknown top-level key {other:?} (only checks or advisors)")),
                    }
                }
            }
            other => cx.err(line(doc), format!("a document must be a mapping with a checks list, not {}", other.kind())),
        }
    }
    let stem = Path::new(file).file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
    let total = checks.len();
    for c in checks {
        validate_check(&mut cx, c, seen, &stem, total);
    }
    problems
}

/// Checks references between files (bundled checks name an advisor defined in an advisor file); call
/// after every file went through [`validate_text`], and only if advisor files were among them.
pub fn cross_file(seen: &Seen) -> Vec<Problem> {
    seen.advisor_refs
        .iter()
        .filter(|(_, _, _, adv)| !seen.advisors.contains(adv))
        .map(|(file, line, check, adv)| Problem {
            file: file.clone(),
            line: *line,
            check: Some(check.clone()),
            message: format!("advisor {adv:?} is not defined in any advisor file given"),
        })
        .collect()
}

fn required_str<'n>(cx: &mut Ctx, node: &'n Node, key: &str) -> Option<(&'n str, u64)> {
    match node.value.get(key) {
        None => {
            cx.err(line(node), format!("{key} is required"));
            None
        }
        Some(v) => match &v.value {
            Yaml::Str(s) if !s.trim().is_empty() => Some((s.as_str(), line(v))),
            Yaml::Str(_) | Yaml::Null => {
                cx.err(line(v), format!("{key} must not be empty"));
                None
            }
            other => {
                cx.err(line(v), format!("{key} must be a string, not {}", other.kind()));
                None
            }
        },
    }
}

fn check_tiers(cx: &mut Ctx, v: &Node) {
    match &v.value {
        Yaml::Seq(items) => {
            for t in items {
                if !t.value.as_str().is_some_and(|s| TIERS.contains(&s)) {
                    cx.err(line(t), format!("tier must be one of {}", TIERS.join(", ")));
                }
            }
        }
        other => cx.err(line(v), format!("tiers must be a list, not {}", other.kind())),
    }
}

fn check_keys(cx: &mut Ctx, node: &Node, allowed: &[&str], what: &str) {
    if let Yaml::Map(entries) = &node.value {
        let mut seen = BTreeSet::new();
        for (k, _) in entries {
            if !allowed.contains(&k.value.as_str()) {
                cx.err(k.referenced.line(), format!("unknown key {:?}: PMM parses strictly (field {} not found in type {what})", k.value, k.value));
            } else if !seen.insert(k.value.as_str()) {
                cx.err(k.referenced.line(), format!("duplicate key {:?}", k.value));
            }
        }
    }
}

fn validate_advisor(cx: &mut Ctx, a: &Node, seen: &mut Seen) {
    cx.check = a.value.get("name").and_then(|n| n.value.as_str()).map(|s| format!("(advisor) {s}"));
    if !matches!(a.value, Yaml::Map(_)) {
        cx.err(line(a), format!("an advisor must be a mapping, not {}", a.value.kind()));
        return;
    }
    check_keys(cx, a, ADVISOR_KEYS, "advisor.Advisor");
    match a.value.get("version").map(|v| (&v.value, line(v))) {
        Some((Yaml::Int(1), _)) => {}
        Some((_, l)) => cx.err(l, "advisor version must be 1"),
        None => cx.err(line(a), "version is required"),
    }
    if let Some((name, l)) = required_str(cx, a, "name") {
        if !is_valid_name(name) {
            cx.err(l, format!("name {name:?} does not match ^[a-zA-Z_][a-zA-Z0-9_]*$"));
        }
        seen.advisors.insert(name.to_string());
    }
    required_str(cx, a, "summary");
    required_str(cx, a, "description");
    required_str(cx, a, "category");
    match a.value.get("tiers") {
        Some(t) => check_tiers(cx, t),
        None => cx.err(line(a), "tiers is required for an advisor"),
    }
}

fn validate_script(cx: &mut Ctx, v: &Node, script: &str) {
    let base = line(v);
    // A block scalar starts on the line after its key.
    let first = if script.contains('\n') { base + 1 } else { base };
    for (i, l) in script.lines().enumerate() {
        if l.contains('\t') {
            cx.err(first + i as u64, "script contains a TAB character (PMM refuses it; indent with spaces)");
        }
    }
    if !script.lines().any(|l| l.starts_with("def check_context(")) {
        cx.err(base, "script must define check_context(docs, context) at the top level");
    }
    // Severity literals in returned dicts: only these two work on every PMM version.
    for (i, l) in script.lines().enumerate() {
        if let Some(pos) = l.find("\"severity\"") {
            let rest = l[pos + 10..].trim_start();
            if let Some(rest) = rest.strip_prefix(':') {
                let rest = rest.trim_start();
                if let Some(q) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') {
                    let lit: String = rest[1..].chars().take_while(|c| *c != q).collect();
                    if lit != "error" && lit != "warning" {
                        cx.err(first + i as u64, format!("severity {lit:?}: only error and warning are accepted by every PMM version"));
                    }
                }
            }
        }
    }
}

fn validate_query_text(cx: &mut Ctx, q: &Node, ty: &str) {
    match &q.value {
        Yaml::Str(s) if !s.trim().is_empty() => {
            let t = s.trim_start();
            if ty == "MYSQL_SELECT" && t.len() >= 6 && t[..6].eq_ignore_ascii_case("select") && t[6..].starts_with(|c: char| c.is_whitespace() || c == '/' || c == '(') {
                cx.err(line(q), "query starts with SELECT, but pmm-agent prepends `SELECT /* pmm-agent */ `: drop it");
            }
            if ty == "MYSQL_SHOW" && t.len() >= 4 && t[..4].eq_ignore_ascii_case("show") {
                cx.err(line(q), "query starts with SHOW, but pmm-agent prepends `SHOW `: drop it");
            }
        }
        other => cx.err(line(q), format!("query must be a non-empty string, not {}", other.kind())),
    }
}

fn validate_queries(cx: &mut Ctx, qs: &Node, family: Option<&str>) {
    let Yaml::Seq(items) = &qs.value else {
        cx.err(line(qs), format!("queries must be a list, not {}", qs.value.kind()));
        return;
    };
    if items.is_empty() {
        cx.err(line(qs), "queries must have at least one query");
    }
    for q in items {
        if !matches!(q.value, Yaml::Map(_)) {
            cx.err(line(q), "a query must be a mapping with type, query and parameters");
            continue;
        }
        check_keys(cx, q, &["type", "query", "parameters"], "check.Query");
        let Some((ty, tl)) = required_str(cx, q, "type") else { continue };
        if let Some(f) = family {
            if !v2_types(f).contains(&ty) {
                cx.err(tl, format!("query type {ty} is not allowed for family {f}"));
            }
        }
        let params: Vec<(String, u64)> = match q.value.get("parameters").map(|p| &p.value) {
            Some(Yaml::Map(m)) => m.iter().map(|(k, _)| (k.value.clone(), k.referenced.line())).collect(),
            Some(Yaml::Null) | None => Vec::new(),
            Some(other) => {
                cx.err(tl, format!("parameters must be a mapping, not {}", other.kind()));
                Vec::new()
            }
        };
        let has = |k: &str| params.iter().any(|(p, _)| p == k);
        match ty {
            t if t.ends_with("_SELECT") || t.ends_with("_SHOW") => {
                match q.value.get("query") {
                    Some(qn) => validate_query_text(cx, qn, ty),
                    None => cx.err(line(q), format!("{ty} needs a query")),
                }
                if let Some((p, l)) = params.first() {
                    cx.err(*l, format!("{ty} takes no parameters (got {p})"));
                }
            }
            "METRICS_INSTANT" | "METRICS_RANGE" => {
                match q.value.get("query") {
                    Some(Node { value: Yaml::Str(s), .. }) if !s.trim().is_empty() => {}
                    Some(qn) => cx.err(line(qn), format!("{ty} needs a non-empty MetricsQL query")),
                    None => cx.err(line(q), format!("{ty} needs a query")),
                }
                let allowed: &[&str] = if ty == "METRICS_INSTANT" { &["lookback"] } else { &["lookback", "range", "step"] };
                for (p, l) in params.iter().filter(|(p, _)| !allowed.contains(&p.as_str())) {
                    cx.err(*l, format!("{ty} takes only {} (got {p})", allowed.join(", ")));
                }
                if ty == "METRICS_RANGE" {
                    for k in ["range", "step"] {
                        if !has(k) {
                            cx.err(tl, format!("METRICS_RANGE needs the parameter {k}"));
                        }
                    }
                }
                // pmm-managed parses each with Go's time.ParseDuration and fails the check otherwise.
                if let Some(Yaml::Map(m)) = q.value.get("parameters").map(|p| &p.value) {
                    for (k, v) in m {
                        if !allowed.contains(&k.value.as_str()) {
                            continue;
                        }
                        match v.value.as_str() {
                            Some(d) if is_go_duration(d) => {}
                            _ => cx.err(line(v), format!("{ty} parameter {} must be a Go duration such as 5m or 1h30m (no days), not {}", k.value, v.value.kind())),
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

fn validate_check(cx: &mut Ctx, c: &Node, seen: &mut Seen, stem: &str, checks_in_file: usize) {
    let name = c.value.get("name").and_then(|n| n.value.as_str()).map(str::to_string);
    cx.check = name.clone();
    if !matches!(c.value, Yaml::Map(_)) {
        cx.err(line(c), format!("a check must be a mapping, not {}", c.value.kind()));
        return;
    }
    check_keys(cx, c, CHECK_KEYS, "check.Check");
    let version = match c.value.get("version").map(|v| (&v.value, line(v))) {
        Some((Yaml::Int(v @ (1 | 2)), _)) => Some(*v),
        Some((other, l)) => {
            cx.err(l, format!("version must be 1 or 2, not {other:?}"));
            None
        }
        None => {
            cx.err(line(c), "version is required");
            None
        }
    };
    if let Some((n, l)) = required_str(cx, c, "name") {
        if !is_valid_name(n) {
            cx.err(l, format!("name {n:?} does not match ^[a-zA-Z_][a-zA-Z0-9_]*$"));
        }
        if let Some((f, fl)) = seen.checks.get(n) {
            cx.err(l, format!("duplicate check name (also at {f}:{fl})"));
        } else {
            seen.checks.insert(n.to_string(), (cx.file.to_string(), l));
        }
    }
    required_str(cx, c, "summary");
    required_str(cx, c, "description");
    let advisor = c.value.get("advisor");
    let tiers = c.value.get("tiers");
    match (advisor, tiers) {
        (Some(_), Some(t)) => cx.err(line(t), "tiers and advisor together: PMM 2.36+ rejects tiers, older versions reject advisor"),
        (None, None) => cx.err(line(c), "advisor is required since PMM 2.36 (dev for a custom checks file); PMM before 2.36 wants tiers instead"),
        (None, Some(t)) => check_tiers(cx, t),
        (Some(a), None) => match a.value.as_str() {
            Some("dev") => {}
            Some(adv) if !adv.is_empty() => {
                // A bundled check file: exactly one check, named like the file.
                if checks_in_file != 1 {
                    cx.err(line(a), format!("a bundled check file (advisor {adv}) holds exactly one check, this one has {checks_in_file}; a custom file must use advisor dev"));
                }
                if name.as_deref().is_some_and(|n| n != stem) {
                    cx.err(line(a), format!("a bundled check file must be named after its check: {}.yml", name.as_deref().unwrap_or_default()));
                }
                seen.advisor_refs.push((cx.file.to_string(), line(a), name.clone().unwrap_or_default(), adv.to_string()));
            }
            _ => cx.err(line(a), "advisor must be a non-empty string"),
        },
    }
    if let Some(cat) = c.value.get("category") {
        if !matches!(cat.value, Yaml::Str(_)) {
            cx.err(line(cat), "category must be a string");
        }
    }
    if let Some(iv) = c.value.get("interval") {
        match &iv.value {
            Yaml::Null => {}
            Yaml::Str(s) if INTERVALS.contains(&s.as_str()) => {}
            other => cx.err(line(iv), format!("interval must be standard, frequent, rare or empty (case-sensitive), not {other:?}")),
        }
    }
    match version {
        Some(1) => {
            for k in ["family", "queries"] {
                if let Some(n) = c.value.get(k) {
                    cx.err(line(n), format!("{k} is not allowed in a version 1 check"));
                }
            }
            if let Some((ty, tl)) = required_str(cx, c, "type") {
                if !V1_TYPES.contains(&ty) {
                    cx.err(tl, format!("type {ty} is not a version 1 query type ({})", V1_TYPES.join(", ")));
                }
                if ty.starts_with("MYSQL_") || ty.starts_with("POSTGRESQL_") {
                    match c.value.get("query") {
                        Some(q) => validate_query_text(cx, q, ty),
                        None => cx.err(line(c), format!("{ty} needs a query")),
                    }
                }
            }
        }
        Some(2) => {
            for k in ["type", "query"] {
                if let Some(n) = c.value.get(k) {
                    cx.err(line(n), format!("{k} is not allowed in a version 2 check (use queries)"));
                }
            }
            let family = required_str(cx, c, "family").map(|(f, l)| {
                if !["MYSQL", "POSTGRESQL", "MONGODB"].contains(&f) {
                    cx.err(l, format!("family must be MYSQL, POSTGRESQL or MONGODB, not {f:?}"));
                }
                f
            });
            match c.value.get("queries") {
                Some(qs) => validate_queries(cx, qs, family),
                None => cx.err(line(c), "queries is required in a version 2 check"),
            }
        }
        _ => {}
    }
    match c.value.get("script") {
        None => cx.err(line(c), "script is required"),
        Some(s) => match &s.value {
            Yaml::Str(text) if !text.trim().is_empty() => validate_script(cx, s, text),
            other => cx.err(line(s), format!("script must be a non-empty string, not {}", other.kind())),
        },
    }
}
