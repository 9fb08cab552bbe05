//! Runs check scripts the way PMM does: Starlark with PMM's predeclared helpers and its dialect limits
//! (no `while`, no recursion, no `set`, no top-level statements), frozen inputs, a CPU deadline, and
//! whatever `print()` said kept for the caller.
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use starlark::environment::{Globals, GlobalsBuilder, LibraryExtension, Module};
use starlark::eval::Evaluator;
use starlark::starlark_module;
use starlark::syntax::ast::{AstExpr, AstStmt, ExprP, StmtP};
use starlark::syntax::{AstModule, Dialect, DialectTypes};
use starlark::values::dict::{AllocDict, DictRef};
use starlark::values::list::{AllocList, ListRef};
use starlark::values::none::{NoneOr, NoneType};
use starlark::values::{FrozenValue, Heap, Value};
use starlark::PrintHandler;

use crate::cells::{Alert, Cell, Row};
use crate::file_version::FileVersion;

/// PMM gives a script 4 s of CPU; wall time is the closest portable stand-in.
const DEADLINE: Duration = Duration::from_secs(4);

/// Why a script produced no alerts.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// Syntax error, or a construct PMM's dialect lacks (`while`, top-level `if`/`for`, ...).
    #[error("script does not parse in PMM's Starlark dialect: {0}")]
    Parse(String),
    /// A function calls itself, directly or through others.
    #[error("recursion is not allowed in PMM's Starlark: {0}")]
    Recursion(String),
    /// `check_context` is missing.
    #[error("script defines no check_context(docs, context)")]
    NoEntryPoint,
    /// The script raised an error (or used something undefined, such as `set`).
    #[error("script failed: {0}")]
    Eval(String),
    /// The script returned something PMM would refuse.
    #[error("script returned an invalid result: {0}")]
    Result(String),
}

/// The result of one run and what the script printed meanwhile.
#[derive(Debug)]
pub struct Outcome {
    /// The alerts, or why there are none.
    pub result: Result<Vec<Alert>, ScriptError>,
    /// Lines passed to `print()`, in order.
    pub printed: Vec<String>,
}

/// `parse_version("8.0.23-14")`: major, minor, patch, num (major*10000 + minor*100 + patch), rest ("-14")
/// and numrest (14), as PMM's helper returns them.
pub fn parse_version(v: &str) -> Option<BTreeMap<&'static str, VersionPart>> {
    let t = v.trim().trim_start_matches('v');
    let end = t.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(t.len());
    let (nums, rest) = t.split_at(end);
    let mut it = nums.split('.').filter(|s| !s.is_empty()).map(str::parse::<i64>);
    let major = it.next()?.ok()?;
    let minor = it.next().transpose().ok()?.unwrap_or(0);
    let patch = it.next().transpose().ok()?.unwrap_or(0);
    let numrest: i64 = rest
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Some(BTreeMap::from([
        ("major", VersionPart::Int(major)),
        ("minor", VersionPart::Int(minor)),
        ("patch", VersionPart::Int(patch)),
        ("num", VersionPart::Int(major * 10000 + minor * 100 + patch)),
        ("rest", VersionPart::Str(rest.to_string())),
        ("numrest", VersionPart::Int(numrest)),
    ]))
}

/// A field of [`parse_version`]'s result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionPart {
    /// A number.
    Int(i64),
    /// The text after the numbers.
    Str(String),
}

/// `format_version_num(80023)` = `"8.0.23"`.
pub fn format_version_num(n: i64) -> String {
    format!("{}.{}.{}", n / 10000, n / 100 % 100, n % 100)
}

/// `ip_is_private`: RFC 1918 and RFC 4193 addresses (Go's `net.IP.IsPrivate`), a CIDR by its address;
/// `None` for anything that is not an address.
pub fn ip_is_private(s: &str) -> Option<bool> {
    let addr = s.split('/').next().unwrap_or_default();
    let ip: IpAddr = addr.parse().ok()?;
    Some(match ip {
        IpAddr::V4(v4) => v4.is_private(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.is_private(),
            None => (v6.segments()[0] & 0xfe00) == 0xfc00,
        },
    })
}

#[starlark_module]
fn pmm_predeclared(builder: &mut GlobalsBuilder) {
    fn parse_version<'v>(#[starlark(require = pos)] v: &str, heap: Heap<'v>) -> starlark::Result<Value<'v>> {
        let parts = self::parse_version(v)
            .ok_or_else(|| starlark::Error::new_other(anyhow_like(format!("cannot parse version {v:?}"))))?;
        let items: Vec<(&str, Value<'v>)> = parts
            .into_iter()
            .map(|(k, p)| {
                let v = match p {
                    VersionPart::Int(i) => heap.alloc(i),
                    VersionPart::Str(s) => heap.alloc(s),
                };
                (k, v)
            })
            .collect();
        Ok(heap.alloc(AllocDict(items)))
    }

    fn format_version_num(#[starlark(require = pos)] n: i64) -> starlark::Result<String> {
        Ok(self::format_version_num(n))
    }
}

#[starlark_module]
fn pmm_context(builder: &mut GlobalsBuilder) {
    fn ip_is_private(#[starlark(require = pos)] s: &str) -> starlark::Result<NoneOr<bool>> {
        Ok(match self::ip_is_private(s) {
            Some(b) => NoneOr::Other(b),
            None => NoneOr::None,
        })
    }
}

/// A plain error type for helper failures (the library keeps anyhow out of its API).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct HelperError(String);

fn anyhow_like(msg: String) -> HelperError {
    HelperError(msg)
}

/// PMM's dialect: `def` and `lambda`, no `load`, no top-level statements, no f-strings, no types.
/// `while` is not in this Starlark's grammar at all, which matches PMM.
fn dialect() -> Dialect {
    Dialect {
        enable_def: true,
        enable_lambda: true,
        enable_load: false,
        enable_keyword_only_arguments: false,
        enable_positional_only_arguments: false,
        enable_types: DialectTypes::Disable,
        enable_load_reexport: false,
        enable_top_level_stmt: false,
        enable_f_strings: false,
        ..Dialect::Standard
    }
}

/// Globals the script sees: the standard library with `print` (no `set`) plus PMM's two helpers.
fn script_globals() -> Globals {
    GlobalsBuilder::extended_by(&[LibraryExtension::Print]).with(pmm_predeclared).build()
}

/// Globals used only to build `context`: the helpers plus `ip_is_private`.
fn context_globals() -> Globals {
    GlobalsBuilder::standard().with(pmm_predeclared).with(pmm_context).build()
}

fn calls_in_expr(e: &AstExpr, out: &mut HashSet<String>) {
    if let ExprP::Call(callee, _) = &e.node {
        if let ExprP::Identifier(id) = &callee.node {
            out.insert(id.node.ident.clone());
        }
    }
    e.node.visit_expr(|c| calls_in_expr(c, out));
}

fn calls_in_stmt(s: &AstStmt, out: &mut HashSet<String>) {
    s.node.visit_expr(|e| calls_in_expr(e, out));
    s.node.visit_stmt(|c| calls_in_stmt(c, out));
}

fn collect_defs<'a>(s: &'a AstStmt, out: &mut Vec<(String, &'a AstStmt)>) {
    if let StmtP::Def(d) = &s.node {
        out.push((d.name.node.ident.clone(), &d.body));
    }
    s.node.visit_stmt(|c| collect_defs(c, out));
}

/// Go's Starlark refuses recursion at run time; this finds it before running, from the call graph of
/// functions calling each other by name.
fn find_recursion(ast: &AstModule) -> Option<String> {
    let mut defs = Vec::new();
    collect_defs(ast.statement(), &mut defs);
    let names: HashSet<&str> = defs.iter().map(|(n, _)| n.as_str()).collect();
    let mut graph: HashMap<&str, Vec<String>> = HashMap::new();
    for (name, body) in &defs {
        let mut calls = HashSet::new();
        calls_in_stmt(body, &mut calls);
        let mut calls: Vec<String> = calls.into_iter().filter(|c| names.contains(c.as_str())).collect();
        calls.sort();
        graph.entry(name.as_str()).or_default().extend(calls);
    }
    fn dfs<'a>(n: &'a str, g: &'a HashMap<&str, Vec<String>>, path: &mut Vec<&'a str>) -> Option<String> {
        if let Some(i) = path.iter().position(|p| *p == n) {
            let mut cycle: Vec<&str> = path[i..].to_vec();
            cycle.push(n);
            return Some(cycle.join(" -> "));
        }
        path.push(n);
        for c in g.get(n).into_iter().flatten() {
            if let Some(found) = dfs(c, g, path) {
                return Some(found);
            }
        }
        path.pop();
        None
    }
    let mut starts: Vec<&str> = graph.keys().copied().collect();
    starts.sort();
    starts.into_iter().find_map(|s| dfs(s, &graph, &mut Vec::new()))
}

struct Printed(RefCell<Vec<String>>);

impl PrintHandler for Printed {
    fn println(&self, text: &str) -> starlark::Result<()> {
        self.0.borrow_mut().push(text.to_string());
        Ok(())
    }
}

fn freeze_cell(heap: &starlark::values::FrozenHeap, c: &Cell) -> FrozenValue {
    match c {
        Cell::Null => heap.alloc(NoneType),
        Cell::Int(i) => heap.alloc(*i),
        Cell::Float(f) => heap.alloc(*f),
        Cell::Str(s) => heap.alloc(s.clone()),
        Cell::List(items) => heap.alloc(AllocList(items.iter().map(|c| freeze_cell(heap, c)).collect::<Vec<_>>())),
        Cell::Map(m) => heap.alloc(AllocDict(m.iter().map(|(k, v)| (k.as_str(), freeze_cell(heap, v))).collect::<Vec<_>>())),
    }
}

/// The script's `docs` argument, frozen as PMM's inputs are: version 2 gets one list of rows a query,
/// version 1 the rows of its single query.
fn freeze_docs(heap: &starlark::values::FrozenHeap, docs: &[Vec<Row>], version: FileVersion) -> FrozenValue {
    let lists: Vec<FrozenValue> = docs
        .iter()
        .map(|rows| {
            let rows: Vec<FrozenValue> = rows
                .iter()
                .map(|row| {
                    let items: Vec<(&str, FrozenValue)> =
                        row.iter().map(|(k, v)| (k.as_str(), freeze_cell(heap, v))).collect();
                    heap.alloc(AllocDict(items))
                })
                .collect();
            heap.alloc(AllocList(rows))
        })
        .collect();
    if version == FileVersion::V1 {
        lists.into_iter().next().unwrap_or_else(|| heap.alloc(AllocList(Vec::<FrozenValue>::new())))
    } else {
        heap.alloc(AllocList(lists))
    }
}

fn str_field(d: &DictRef, key: &str, required: bool) -> Result<String, ScriptError> {
    match d.get_str(key) {
        None if required => Err(ScriptError::Result(format!("an alert has no {key}"))),
        None => Ok(String::new()),
        Some(v) if v.is_none() && !required => Ok(String::new()),
        Some(v) => v
            .unpack_str()
            .map(str::to_string)
            .ok_or_else(|| ScriptError::Result(format!("{key} must be a string, not {}", v.get_type()))),
    }
}

/// Checks the returned value as PMM does and converts it.
fn to_alerts(v: Value) -> Result<Vec<Alert>, ScriptError> {
    if let Some(s) = v.unpack_str() {
        return Err(ScriptError::Result(format!("the script returned a string (PMM treats it as an error): {s}")));
    }
    let list = ListRef::from_value(v)
        .ok_or_else(|| ScriptError::Result(format!("expected a list of dicts, got {}", v.get_type())))?;
    let mut alerts = Vec::new();
    for item in list.iter() {
        let d = DictRef::from_value(item)
            .ok_or_else(|| ScriptError::Result(format!("expected a dict, got {}", item.get_type())))?;
        for k in d.keys() {
            let k = k.unpack_str().unwrap_or_default();
            if !["summary", "description", "read_more_url", "severity", "labels"].contains(&k) {
                return Err(ScriptError::Result(format!("unknown alert key {k:?}")));
            }
        }
        let summary = str_field(&d, "summary", true)?;
        if summary.is_empty() {
            return Err(ScriptError::Result("an alert has an empty summary".into()));
        }
        let severity = str_field(&d, "severity", true)?;
        if severity != "error" && severity != "warning" {
            return Err(ScriptError::Result(format!("severity {severity:?}: only error and warning work on every PMM version")));
        }
        let read_more_url = str_field(&d, "read_more_url", false)?;
        if !(read_more_url.is_empty() || read_more_url.starts_with("https://") || read_more_url.starts_with("http://")) {
            return Err(ScriptError::Result(format!("read_more_url {read_more_url:?} is not a URL")));
        }
        let mut labels = BTreeMap::new();
        if let Some(l) = d.get_str("labels").filter(|l| !l.is_none()) {
            let ld = DictRef::from_value(l).ok_or_else(|| ScriptError::Result("labels must be a dict".into()))?;
            for (k, v) in ld.iter() {
                match (k.unpack_str(), v.unpack_str()) {
                    (Some(k), Some(v)) => {
                        labels.insert(k.to_string(), v.to_string());
                    }
                    _ => return Err(ScriptError::Result(format!("label {k}: {v} is not str to str"))),
                }
            }
        }
        alerts.push(Alert {
            check: String::new(),
            summary,
            description: str_field(&d, "description", false)?,
            severity,
            labels,
            read_more_url,
        });
    }
    Ok(alerts)
}

/// Runs `check_context(docs, context)` of a script of the given file version on the rows of its queries.
pub fn run(script: &str, docs: &[Vec<Row>], version: FileVersion) -> Outcome {
    let printed = Printed(RefCell::new(Vec::new()));
    let result = run_inner(script, docs, version, &printed);
    Outcome { result, printed: printed.0.into_inner() }
}

fn run_inner(script: &str, docs: &[Vec<Row>], version: FileVersion, printed: &Printed) -> Result<Vec<Alert>, ScriptError> {
    let ast = AstModule::parse("script.star", script.to_string(), &dialect())
        .map_err(|e| ScriptError::Parse(e.to_string()))?;
    if let Some(cycle) = find_recursion(&ast) {
        return Err(ScriptError::Recursion(cycle));
    }
    // `context` is built by an expression evaluated with globals that include `ip_is_private`; the
    // script itself is evaluated with globals that do not (as in PMM, where it only lives in context).
    let ctx_ast = AstModule::parse(
        "context.star",
        "{\"ip_is_private\": ip_is_private, \"parse_version\": parse_version, \"format_version_num\": format_version_num}\n".into(),
        &Dialect::Standard,
    )
    .map_err(|e| ScriptError::Eval(e.to_string()))?;
    let globals = script_globals();
    let ctx_globals = context_globals();
    Module::with_temp_heap(|module| {
        let docs = freeze_docs(module.frozen_heap(), docs, version).to_value();
        let mut eval = Evaluator::new(&module);
        eval.set_print_handler(printed);
        let start = Instant::now();
        eval.set_check_cancelled(Box::new(move || start.elapsed() > DEADLINE));
        let ctx = eval.eval_module(ctx_ast, &ctx_globals).map_err(|e| ScriptError::Eval(e.to_string()))?;
        eval.eval_module(ast, &globals).map_err(|e| ScriptError::Eval(e.to_string()))?;
        let f = module.get("check_context").ok_or(ScriptError::NoEntryPoint)?;
        let ret = eval.eval_function(f, &[docs, ctx], &[]).map_err(|e| ScriptError::Eval(e.to_string()))?;
        to_alerts(ret)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_follow_pmm() {
        let v = parse_version("8.0.23-14").expect("parses");
        assert_eq!(v["num"], VersionPart::Int(80023));
        assert_eq!(v["rest"], VersionPart::Str("-14".into()));
        assert_eq!(v["numrest"], VersionPart::Int(14));
        assert_eq!(format_version_num(100413), "10.4.13");
        assert_eq!(ip_is_private("10.1.2.3"), Some(true));
        assert_eq!(ip_is_private("172.31.0.1/16"), Some(true));
        assert_eq!(ip_is_private("172.32.0.1"), Some(false));
        assert_eq!(ip_is_private("fd12::1"), Some(true));
        assert_eq!(ip_is_private("8.8.8.8"), Some(false));
        assert_eq!(ip_is_private("localhost"), None);
    }
}
