//! PMM's rules for check files (versions 1 and 2, custom `dev` files and bundled check files) and for
//! bundled advisor files, as pmm-managed applies them, with the file, line and check of every problem.
//!
//! Two verdicts: an [`Level::Error`] is a file PMM refuses to load (its parser or loader rejects it); a
//! [`Level::Warning`] is a file PMM loads whose check then fails when it runs (the query or the script
//! is refused by pmm-agent or the Starlark runtime). Rules depend on the PMM release
//! ([`crate::pmm_release`]); every message names the releases it holds for.
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use crate::file_version::FileVersion;
use crate::pmm_release::{self, Profile, PmmVersion};
use crate::yaml_tree::{Node, Yaml};

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// PMM loads the file but the check fails at run time.
    Warning,
    /// PMM refuses to load the file (for a dev file: none of its checks load).
    Error,
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file as named on the command line.
    pub file: String,
    /// 1-based line, 0 if unknown.
    pub line: u64,
    /// The check (or advisor) it concerns, if known.
    pub check: Option<String>,
    /// Refused at load time, or failing at run time.
    pub level: Level,
    /// What is wrong, with the PMM releases the rule comes from.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Error => "error",
            Level::Warning => "warning",
        };
        write!(f, "{}:{}: {level}: ", self.file, self.line)?;
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
    pmm: Profile,
}

/// The releases a rule is stated for, as messages say it: `PMM 2.9+`, `PMM 2.36+`, `PMM 3.x`.
fn since(v: PmmVersion) -> String {
    format!("PMM {v}+")
}

impl Ctx<'_> {
    /// PMM refuses to load this (`rule`: the releases the rule holds for).
    fn err(&mut self, line: u64, message: impl Into<String>) {
        self.push(Level::Error, line, message.into(), "PMM 2.9+".into());
    }
    fn err_in(&mut self, line: u64, message: impl Into<String>, rule: String) {
        self.push(Level::Error, line, message.into(), rule);
    }
    /// PMM loads this but the check fails when it runs.
    fn warn(&mut self, line: u64, message: impl Into<String>, rule: String) {
        self.push(Level::Warning, line, message.into(), rule);
    }
    fn push(&mut self, level: Level, line: u64, message: String, rule: String) {
        let message = format!("{message} [{rule}; checked for PMM {}]", self.pmm.version);
        self.problems.push(Problem { file: self.file.to_string(), line, check: self.check.clone(), level, message });
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

/// Validates one file's text for the newest PMM release ([`pmm_release::NEWEST`]).
pub fn validate_text(file: &str, text: &str, seen: &mut Seen) -> Vec<Problem> {
    validate_text_for(file, text, seen, pmm_release::profile(pmm_release::NEWEST))
}

/// Validates one file's text for one PMM release. `file` names it in messages and gives the base name
/// (and extension) bundled check files must have.
pub fn validate_text_for(file: &str, text: &str, seen: &mut Seen, pmm: Profile) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut cx = Ctx { file, check: None, problems: &mut problems, pmm };
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
    let total = checks.len();
    for c in checks {
        validate_check(&mut cx, c, seen, Path::new(file), total);
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
            level: Level::Error,
            message: format!("advisor {adv:?} is not defined in any advisor file given [PMM 3.4+ bundled checks]"),
        })
        .collect()
}

/// A scalar as the Go YAML decoder (gopkg.in/yaml.v3) puts it into a string field: any scalar's text
/// (`query: 1` loads as "1"), null as "". Lists and maps do not decode into a string.
fn scalar_text(v: &Yaml) -> Option<String> {
    match v {
        Yaml::Str(s) => Some(s.clone()),
        Yaml::Int(i) => Some(i.to_string()),
        Yaml::Float(f) => Some(f.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        Yaml::Null => Some(String::new()),
        _ => None,
    }
}

fn required_str(cx: &mut Ctx, node: &Node, key: &str) -> Option<(String, u64)> {
    match node.value.get(key) {
        None => {
            cx.err(line(node), format!("{key} is required"));
            None
        }
        Some(v) => match scalar_text(&v.value) {
            Some(s) if !s.is_empty() => Some((s, line(v))),
            Some(_) => {
                cx.err(line(v), format!("{key} must not be empty"));
                None
            }
            None => {
                cx.err(line(v), format!("{key} must be a string, not {}", v.value.kind()));
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
    if cx.pmm.bundled.is_none() {
        let v = cx.pmm.version;
        cx.err_in(line(a), format!("PMM {v} loads no advisor files (bundled advisors start with PMM 3.4)"), since(PmmVersion::new(3, 4)));
    }
    check_keys(cx, a, ADVISOR_KEYS, "advisor.Advisor");
    match a.value.get("version").map(|v| (&v.value, line(v))) {
        Some((Yaml::Int(1), _)) => {}
        Some((_, l)) => cx.err(l, "advisor version must be 1"),
        None => cx.err(line(a), "version is required"),
    }
    if let Some((name, l)) = required_str(cx, a, "name") {
        if !is_valid_name(&name) {
            cx.err(l, format!("name {name:?} does not match ^[a-zA-Z_][a-zA-Z0-9_]*$"));
        }
        seen.advisors.insert(name);
    }
    required_str(cx, a, "summary");
    required_str(cx, a, "description");
    required_str(cx, a, "category");
    match a.value.get("tiers") {
        Some(t) => check_tiers(cx, t),
        None => cx.err(line(a), "tiers is required for an advisor"),
    }
}

/// The first word of a Starlark line outside strings and comments, and the line's indentation.
fn first_word(l: &str) -> (usize, &str) {
    let indent = l.len() - l.trim_start().len();
    let t = l.trim_start();
    let end = t.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(t.len());
    (indent, &t[..end])
}

/// Whether `code` calls the builtin `name(`: not a method (`.name(`) or a longer identifier (`xname(`).
fn calls_builtin(code: &str, name: &str) -> bool {
    let pat = format!("{name}(");
    code.match_indices(&pat).any(|(i, _)| {
        code[..i].chars().next_back().is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '.'))
    })
}

/// `l` without its comment and string literals (blanked), so words inside them are not taken for code.
/// Triple-quoted strings spanning lines are not tracked: a rare false warning, never a missed error.
fn code_of(l: &str) -> String {
    let mut out = String::with_capacity(l.len());
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in l.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
                out.push(' ');
            }
            None if c == '#' => break,
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                out.push(' ');
            }
            None => out.push(c),
        }
    }
    out
}

/// The severity literal of a `"severity": "..."` entry on this line, if any.
fn severity_literal(l: &str) -> Option<String> {
    let pos = l.find("\"severity\"").or_else(|| l.find("'severity'"))?;
    let rest = l.get(pos + 10..)?.trim_start().strip_prefix(':')?.trim_start();
    let q = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    Some(rest[q.len_utf8()..].chars().take_while(|c| *c != q).collect())
}

fn validate_script(cx: &mut Ctx, v: &Node, script: &str) {
    let base = line(v);
    // A block scalar starts on the line after its key.
    let first = if script.contains('\n') { base + 1 } else { base };
    let all = "PMM 2.9+".to_string();
    if script.contains('\t') {
        // pkg/check Check.validateScript: the whole file fails to load.
        for (i, l) in script.lines().enumerate().filter(|(_, l)| l.contains('\t')) {
            cx.err(first + i as u64, "script contains a TAB character (PMM refuses it; indent with spaces)");
            let _ = l;
        }
    }
    let entry = if cx.pmm.calls_check_context { "check_context" } else { "check" };
    let rule = if cx.pmm.calls_check_context { since(PmmVersion::new(2, 12)) } else { "PMM 2.9 to 2.11".into() };
    if !script.lines().any(|l| l.starts_with(&format!("def {entry}("))) {
        cx.warn(base, format!("script defines no top-level {entry}(): PMM loads the check, then fails to run it"), rule);
    }
    let pmm = cx.pmm;
    for (i, l) in script.lines().enumerate() {
        let at = first + i as u64;
        let code = code_of(l);
        let (indent, word) = first_word(&code);
        // go.starlark.net resolve options PMM leaves off: the script fails to compile when it runs.
        if word == "while" {
            cx.warn(at, "`while` is refused by PMM's Starlark (no AllowRecursion): the check fails when it runs; use for over range()", all.clone());
        }
        if word == "def" && indent > 0 {
            cx.warn(at, "a nested def is refused by PMM's Starlark (no AllowNestedDef): define helpers at the top level", all.clone());
        }
        if indent == 0 && matches!(word, "if" | "for") {
            cx.warn(at, format!("a top-level `{word}` is refused by PMM's Starlark (no AllowGlobalReassign): move it into a function"), all.clone());
        }
        if code.split(|c: char| !(c.is_alphanumeric() || c == '_')).any(|w| w == "lambda") {
            cx.warn(at, "`lambda` is refused by PMM's Starlark (no AllowLambda): use a def", all.clone());
        }
        if !pmm.allows_set && calls_builtin(&code, "set") {
            cx.warn(at, "set() is refused by PMM 3's Starlark (PMM 2's allowed it): use a dict's keys", since(PmmVersion::new(3, 0)));
        }
        if let Some(lit) = severity_literal(l) {
            if !pmm.severities.contains(&lit.as_str()) {
                let everywhere = !pmm_release::profile(pmm_release::NEWEST).severities.contains(&lit.as_str());
                let rule = if everywhere { all.clone() } else { "PMM 2.x".to_string() };
                cx.warn(at, format!("severity {lit:?}: PMM {} refuses it when the script returns it (accepted: {})", pmm.version, pmm.severities.join(", ")), rule);
            }
        }
    }
}

/// `t` starts with the keyword `kw`, case-insensitively, followed by a space, comment or parenthesis.
fn starts_with_keyword(t: &str, kw: &str) -> bool {
    t.get(..kw.len()).is_some_and(|h| h.eq_ignore_ascii_case(kw))
        && t[kw.len()..].starts_with(|c: char| c.is_whitespace() || c == '/' || c == '(')
}

fn validate_query_text(cx: &mut Ctx, q: &Node, ty: &str) {
    match scalar_text(&q.value) {
        Some(s) if !s.is_empty() => {
            let t = s.trim_start();
            let rule = "PMM 2.9+ pmm-agent".to_string();
            if ty == "MYSQL_SELECT" && starts_with_keyword(t, "select") {
                cx.warn(line(q), "query starts with SELECT, but pmm-agent prepends `SELECT /* pmm-agent */ `: the query fails when it runs; drop it", rule);
            } else if ty == "MYSQL_SHOW" && starts_with_keyword(t, "show") {
                cx.warn(line(q), "query starts with SHOW, but pmm-agent prepends `SHOW `: the query fails when it runs; drop it", rule);
            }
        }
        Some(_) => cx.err(line(q), format!("{ty} needs a non-empty query")),
        None => cx.err(line(q), format!("query must be a string, not {}", q.value.kind())),
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
        let ty = ty.as_str();
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
        let needs_query = ty.ends_with("_SELECT") || ty == "MYSQL_SHOW" || ty.starts_with("METRICS_");
        match q.value.get("query") {
            Some(qn) if needs_query => validate_query_text(cx, qn, ty),
            None if needs_query => cx.err(line(q), format!("{ty} needs a query")),
            Some(qn) if scalar_text(&qn.value).is_some_and(|t| !t.is_empty()) => {
                cx.err(line(qn), format!("{ty} takes no query"));
            }
            _ => {}
        }
        match ty {
            "POSTGRESQL_SELECT" => {
                for (p, l) in params.iter().filter(|(p, _)| p != "all_dbs") {
                    cx.err(*l, format!("POSTGRESQL_SELECT takes only all_dbs (got {p})"));
                }
            }
            t if t.ends_with("_SELECT") || t.ends_with("_SHOW") || t.starts_with("MONGODB_") => {
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
                for (p, l) in params.iter().filter(|(p, _)| !["range", "step", "lookback"].contains(&p.as_str())) {
                    cx.err(*l, format!("METRICS_RANGE takes range, step and lookback (got {p})"));
                }
            }
            _ => {}
        }
    }
}

fn validate_check(cx: &mut Ctx, c: &Node, seen: &mut Seen, file_name: &Path, checks_in_file: usize) {
    let name = c.value.get("name").and_then(|n| scalar_text(&n.value));
    cx.check = name.clone();
    if !matches!(c.value, Yaml::Map(_)) {
        cx.err(line(c), format!("a check must be a mapping, not {}", c.value.kind()));
        return;
    }
    let pmm = cx.pmm;
    // pkg/check's Check struct: `advisor` arrived with 2.36, `tiers` left then; a strict parse refuses the other.
    let keys: Vec<&str> = CHECK_KEYS
        .iter()
        .copied()
        .filter(|k| if pmm.advisor_field { *k != "tiers" } else { *k != "advisor" })
        .collect();
    check_keys(cx, c, &keys, "check.Check");
    let version = match c.value.get("version").map(|v| (&v.value, line(v))) {
        Some((Yaml::Int(n), l)) if FileVersion::from_number(*n).is_some() => {
            let v = FileVersion::from_number(*n);
            if v == Some(FileVersion::V2) && !pmm.accepts_v2 {
                cx.err_in(l, format!("version 2 checks need PMM 2.28 or later, not {}", pmm.version), since(PmmVersion::new(2, 28)));
            }
            if v == Some(FileVersion::V1) && !pmm.accepts_v1 {
                cx.err_in(l, format!("PMM {} takes only version 2 checks", pmm.version), since(PmmVersion::new(3, 5)));
            }
            v
        }
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
        if !is_valid_name(&n) {
            cx.err(l, format!("name {n:?} does not match ^[a-zA-Z_][a-zA-Z0-9_]*$"));
        }
        if let Some((f, fl)) = seen.checks.get(&n) {
            cx.err(l, format!("duplicate check name (also at {f}:{fl})"));
        } else {
            seen.checks.insert(n, (cx.file.to_string(), l));
        }
    }
    required_str(cx, c, "summary");
    required_str(cx, c, "description");
    if pmm.advisor_field {
        match c.value.get("advisor") {
            None => cx.err_in(line(c), "advisor is required (dev for a custom checks file); PMM before 2.36 wants tiers instead", since(PmmVersion::new(2, 36))),
            Some(a) => match scalar_text(&a.value).as_deref() {
                Some("dev") => {}
                Some(adv) if !adv.is_empty() => validate_bundled(cx, seen, a, adv, name.as_deref(), file_name, checks_in_file),
                _ => cx.err_in(line(a), "advisor must be a non-empty string", since(PmmVersion::new(2, 36))),
            },
        }
    } else if let Some(t) = c.value.get("tiers") {
        check_tiers(cx, t);
    }
    if let Some(cat) = c.value.get("category") {
        if scalar_text(&cat.value).is_none() {
            cx.err(line(cat), "category must be a string");
        }
    }
    if let Some(iv) = c.value.get("interval") {
        match scalar_text(&iv.value) {
            Some(s) if INTERVALS.contains(&s.as_str()) => {}
            _ => cx.err(line(iv), format!("interval must be standard, frequent, rare or empty (case-sensitive), not {:?}", iv.value)),
        }
    }
    match version {
        Some(FileVersion::V1) => {
            for k in ["family", "queries"] {
                if let Some(n) = c.value.get(k) {
                    cx.err(line(n), format!("{k} is not allowed in a version 1 check"));
                }
            }
            if let Some((ty, tl)) = required_str(cx, c, "type") {
                if !V1_TYPES.contains(&ty.as_str()) {
                    cx.err(tl, format!("type {ty} is not a version 1 query type ({})", V1_TYPES.join(", ")));
                }
                if ty.starts_with("MYSQL_") || ty == "POSTGRESQL_SELECT" {
                    match c.value.get("query") {
                        Some(q) => validate_query_text(cx, q, &ty),
                        None => cx.err(line(c), format!("{ty} needs a query")),
                    }
                }
            }
        }
        Some(FileVersion::V2) => {
            for k in ["type", "query"] {
                if let Some(n) = c.value.get(k) {
                    cx.err(line(n), format!("{k} is not allowed in a version 2 check (use queries)"));
                }
            }
            let family = required_str(cx, c, "family").map(|(f, l)| {
                if !["MYSQL", "POSTGRESQL", "MONGODB"].contains(&f.as_str()) {
                    cx.err(l, format!("family must be MYSQL, POSTGRESQL or MONGODB, not {f:?}"));
                }
                f
            });
            match c.value.get("queries") {
                Some(qs) => validate_queries(cx, qs, family.as_deref()),
                None => cx.err(line(c), "queries is required in a version 2 check"),
            }
        }
        None => {}
    }
    match c.value.get("script") {
        None => cx.err(line(c), "script is required"),
        Some(s) => match scalar_text(&s.value) {
            Some(text) if !text.is_empty() => validate_script(cx, s, &text),
            Some(_) => cx.err(line(s), "script must not be empty"),
            None => cx.err(line(s), format!("script must be a string, not {}", s.value.kind())),
        },
    }
}

/// A check naming an advisor other than `dev`: a bundled check file (PMM 3.4+), one check a file,
/// named after the check with the extension the loader globs.
#[allow(clippy::too_many_arguments)]
fn validate_bundled(cx: &mut Ctx, seen: &mut Seen, a: &Node, adv: &str, name: Option<&str>, file: &Path, checks_in_file: usize) {
    let rule = since(PmmVersion::new(3, 4));
    let Some(layout) = cx.pmm.bundled else {
        let v = cx.pmm.version;
        cx.err_in(line(a), format!("advisor {adv}: PMM {v} loads only dev checks from a custom file (bundled check files start with PMM 3.4)"), rule);
        return;
    };
    if checks_in_file != 1 {
        cx.err_in(line(a), format!("a bundled check file (advisor {adv}) holds exactly one check, this one has {checks_in_file}; a custom file must use advisor dev"), rule.clone());
    }
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    let ext = file.extension().and_then(|s| s.to_str()).unwrap_or_default();
    if name.is_some_and(|n| n != stem) {
        cx.err_in(line(a), format!("a bundled check file must be named after its check: {}.{}", name.unwrap_or_default(), layout.extension), rule.clone());
    }
    if ext != layout.extension {
        cx.err_in(line(a), format!("PMM {} loads only *.{} from {}: this .{ext} file is ignored", cx.pmm.version, layout.extension, layout.checks_dir), rule);
    }
    seen.advisor_refs.push((cx.file.to_string(), line(a), name.unwrap_or_default().to_string(), adv.to_string()));
}
