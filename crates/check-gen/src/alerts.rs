//! PMM alert rule templates (`check-gen alerts`): parsed with PMM's structure and checked with its
//! rules (pmm-managed `managed/pi/alert`, formerly `percona-platform/saas pkg/alert`, and
//! `managed/services/alerting`), and their parameters filled the way pmm-managed fills them (Go
//! templates with `[[ ]]` delimiters, float values printed by Go's `fmt.Sprint`), so the same
//! expressions can be run on VictoriaMetrics or written as a Prometheus rule file.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The built-in templates' file, under `templates/`.
pub const BUILTIN: &str = "alerts/audit_ingest.yml";

/// A templates file: `templates:` and a list (PMM reads every YAML document of a file).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateFile {
    /// The templates.
    pub templates: Vec<Template>,
}

/// One template, with the fields of PMM's `alert.Template` (unknown fields are refused, as pmm-managed
/// does for user files).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// Unique; user templates must not start with `pmm_` or `saas_`.
    pub name: String,
    /// Always 1.
    pub version: u32,
    /// One line, shown in the template list.
    pub summary: String,
    /// Deprecated by PMM; accepted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<String>,
    /// MetricsQL with `[[ .param ]]` placeholders.
    pub expr: String,
    /// The placeholders' definitions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,
    /// How long the condition must hold (a Prometheus duration).
    #[serde(rename = "for")]
    pub for_: String,
    /// emergency, alert, critical, error, warning, notice, info or debug.
    pub severity: String,
    /// Labels added to the alerts (parameters filled).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations (parameters filled; `{{ }}` is left to Grafana).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A parameter's value as YAML gives it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ParamValue {
    /// `true` / `false`.
    Bool(bool),
    /// A number.
    Float(f64),
    /// A string.
    Str(String),
}

/// A parameter of a template (PMM's `alert.Parameter`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Param {
    /// Its name in `[[ .name ]]`.
    pub name: String,
    /// What it means, shown in the rule form.
    pub summary: String,
    /// "", "%" or "s".
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub unit: String,
    /// float, bool or string (PMM's rule form offers float only).
    #[serde(rename = "type")]
    pub ty: String,
    /// `[min, max]` for floats.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub range: Vec<ParamValue>,
    /// The default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<ParamValue>,
}

const SEVERITIES: &[&str] = &["emergency", "alert", "critical", "error", "warning", "notice", "info", "debug"];

/// Parses a templates file; a parse error names the line.
pub fn parse(file: &str, text: &str) -> Result<Vec<Template>, String> {
    let f: TemplateFile = serde_saphyr::from_str(text).map_err(|e| format!("{file}: {e}"))?;
    Ok(f.templates)
}

/// A Prometheus duration (`0s`, `5m`, `1h30m`, `1d`), as promconfig reads `for`.
pub fn is_prom_duration(s: &str) -> bool {
    if s == "0" {
        return true;
    }
    let mut rest = s;
    let mut parts = 0;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        let Some(unit) = ["ms", "s", "m", "h", "d", "w", "y"].into_iter().find(|u| rest.starts_with(u)) else { return false };
        rest = &rest[unit.len()..];
        parts += 1;
    }
    parts > 0
}

fn as_f64(v: &ParamValue) -> Option<f64> {
    match v {
        ParamValue::Float(f) => Some(*f),
        ParamValue::Str(s) => s.trim().parse().ok(),
        ParamValue::Bool(_) => None,
    }
}

/// Every problem PMM (or the filler) would find in `t`; empty when it loads.
pub fn problems(t: &Template) -> Vec<String> {
    let mut out = Vec::new();
    let mut err = |m: String| out.push(format!("template {:?}: {m}", t.name));
    if t.version != 1 {
        err(format!("unexpected version {} (PMM takes 1)", t.version));
    }
    if t.name.is_empty() {
        err("template name is empty".into());
    }
    if t.name.starts_with("pmm_") || t.name.starts_with("saas_") {
        err("a user template's name must not start with pmm_ or saas_".into());
    }
    if t.summary.trim().is_empty() {
        err("template summary is empty".into());
    }
    if t.expr.trim().is_empty() {
        err("template expression is empty".into());
    }
    if !SEVERITIES.contains(&t.severity.as_str()) {
        err(format!("unknown severity {:?} (one of {})", t.severity, SEVERITIES.join(", ")));
    }
    if !is_prom_duration(&t.for_) {
        err(format!("for {:?} is not a Prometheus duration (e.g. 0s, 5m)", t.for_));
    }
    for (i, p) in t.params.iter().enumerate() {
        if !crate::validate::is_valid_name(&p.name) {
            err(format!("parameter name {:?} must be a Go template field name ([a-zA-Z_][a-zA-Z0-9_]*)", p.name));
        }
        if t.params[..i].iter().any(|q| q.name == p.name) {
            err(format!("parameter {:?} is defined twice", p.name));
        }
        if p.summary.trim().is_empty() {
            err(format!("parameter {:?}: summary is empty", p.name));
        }
        if !matches!(p.unit.as_str(), "" | "%" | "s") {
            err(format!("parameter {:?}: unhandled unit {:?} (\"\", \"%\" or \"s\")", p.name, p.unit));
        }
        match p.ty.as_str() {
            "float" => {
                let value = p.value.as_ref().map(as_f64);
                if value == Some(None) {
                    err(format!("parameter {:?}: value is not a number", p.name));
                }
                if !p.range.is_empty() {
                    let r: Vec<Option<f64>> = p.range.iter().map(as_f64).collect();
                    match r.as_slice() {
                        [Some(lo), Some(hi)] => {
                            if let Some(Some(v)) = value {
                                if v < *lo || v > *hi {
                                    err(format!("parameter {:?}: value {v} outside its range [{lo}, {hi}]", p.name));
                                }
                            }
                        }
                        _ => err(format!("parameter {:?}: range must be empty or two numbers", p.name)),
                    }
                }
            }
            "bool" | "string" => {
                if !p.range.is_empty() {
                    err(format!("parameter {:?}: a {} parameter takes no range", p.name, p.ty));
                }
                let ok = match (&p.value, p.ty.as_str()) {
                    (None, _) | (Some(ParamValue::Bool(_)), "bool") | (Some(ParamValue::Str(_)), "string") => true,
                    (Some(ParamValue::Str(s)), "bool") => matches!(s.as_str(), "true" | "false" | "1" | "0"),
                    _ => false,
                };
                if !ok {
                    err(format!("parameter {:?}: value does not fit type {}", p.name, p.ty));
                }
            }
            other => err(format!("parameter {:?}: unhandled type {other:?} (float, bool or string)", p.name)),
        }
    }
    // pmm-managed fills expressions, labels and annotations with missingkey=error.
    let defaults = default_values(t);
    let texts = std::iter::once(("expr", &t.expr)).chain(t.labels.iter().chain(&t.annotations).map(|(k, v)| (k.as_str(), v)));
    for (what, text) in texts {
        if let Err(e) = fill(text, &defaults) {
            err(format!("{what}: {e}"));
        }
    }
    out
}

/// Go's `fmt.Sprint(float64)` (`%v`, strconv's 'g' with the shortest precision): the shortest digits,
/// in exponent form from 1e6 up and below 1e-4 (so 1000000 prints as `1e+06`).
pub fn go_float(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let exp = v.abs().log10().floor() as i32;
    if !(-4..6).contains(&exp) {
        let s = format!("{v:e}");
        let (mantissa, e) = s.split_once('e').unwrap_or((&s, "0"));
        let n: i32 = e.parse().unwrap_or(0);
        return format!("{mantissa}e{}{:02}", if n < 0 { '-' } else { '+' }, n.abs());
    }
    format!("{v}")
}

/// The parameters' defaults as pmm-managed would print them into an expression.
pub fn default_values(t: &Template) -> BTreeMap<String, String> {
    t.params
        .iter()
        .map(|p| {
            let v = match &p.value {
                Some(ParamValue::Float(f)) => go_float(*f),
                Some(ParamValue::Bool(b)) => b.to_string(),
                Some(ParamValue::Str(s)) => s.clone(),
                None if p.ty == "float" => "0".into(),
                None if p.ty == "bool" => "false".into(),
                None => String::new(),
            };
            (p.name.clone(), v)
        })
        .collect()
}

/// Replaces each `[[ .name ]]` with its value. Only that form is accepted (it is all the templates
/// need); an unknown name is an error, as with pmm-managed's `missingkey=error`.
pub fn fill(text: &str, values: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("[[") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("]]").ok_or_else(|| format!("unclosed [[ at {:?}", &rest[start..rest.len().min(start + 20)]))?;
        let inner = after[..end].trim();
        let name = inner.strip_prefix('.').filter(|n| crate::validate::is_valid_name(n)).ok_or_else(|| format!("unsupported placeholder [[{}]]: use [[ .name ]]", &after[..end]))?;
        let v = values.get(name).ok_or_else(|| format!("no parameter named {name:?}"))?;
        out.push_str(v);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// One template with its defaults filled in, for `--format json` and the tests.
#[derive(Debug, Clone, Serialize)]
pub struct Filled {
    /// The template's name.
    pub name: String,
    /// Its summary.
    pub summary: String,
    /// The expression with every parameter at its default.
    pub expr: String,
    /// `for`.
    #[serde(rename = "for")]
    pub for_: String,
    /// The severity.
    pub severity: String,
    /// Labels, filled.
    pub labels: BTreeMap<String, String>,
    /// Annotations, filled.
    pub annotations: BTreeMap<String, String>,
    /// The defaults used.
    pub params: BTreeMap<String, String>,
}

/// Fills a (valid) template with its defaults.
pub fn filled(t: &Template) -> Result<Filled, String> {
    let params = default_values(t);
    let map = |m: &BTreeMap<String, String>| m.iter().map(|(k, v)| Ok((k.clone(), fill(v, &params)?))).collect::<Result<BTreeMap<_, _>, String>>();
    Ok(Filled {
        name: t.name.clone(),
        summary: t.summary.clone(),
        expr: fill(&t.expr, &params)?,
        for_: t.for_.clone(),
        severity: t.severity.clone(),
        labels: map(&t.labels)?,
        annotations: map(&t.annotations)?,
        params,
    })
}

#[derive(Debug, Serialize)]
struct RuleFile {
    groups: Vec<RuleGroup>,
}

#[derive(Debug, Serialize)]
struct RuleGroup {
    name: String,
    rules: Vec<Rule>,
}

#[derive(Debug, Serialize)]
struct Rule {
    alert: String,
    expr: String,
    #[serde(rename = "for")]
    for_: String,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

/// A Prometheus rule file (for `promtool`, vmalert or Prometheus) with one alerting rule a template,
/// its defaults filled and its severity as a label, as PMM labels the alerts it creates.
pub fn prometheus_rules(templates: &[Template], group: &str) -> Result<String, String> {
    let rules = templates
        .iter()
        .map(|t| {
            let f = filled(t)?;
            let mut labels = f.labels;
            labels.insert("severity".into(), f.severity);
            Ok(Rule { alert: f.name, expr: f.expr, for_: f.for_, labels, annotations: f.annotations })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let file = RuleFile { groups: vec![RuleGroup { name: group.to_string(), rules }] };
    serde_saphyr::to_string(&file).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_float_matches_fmt_sprint() {
        for (v, go) in [(10.0, "10"), (300.0, "300"), (0.5, "0.5"), (100000.0, "100000"), (1e6, "1e+06"), (268435456.0, "2.68435456e+08"), (1e21, "1e+21"), (0.00001, "1e-05"), (0.0, "0"), (-3.0, "-3")] {
            assert_eq!(go_float(v), go, "{v}");
        }
    }

    #[test]
    fn fill_follows_missingkey_error() {
        let v: BTreeMap<String, String> = [("window".to_string(), "300".to_string())].into();
        assert_eq!(fill("x[ [[ .window ]]s ]", &v).unwrap(), "x[ 300s ]");
        assert_eq!(fill("{{ $labels.a }} [[.window]]", &v).unwrap(), "{{ $labels.a }} 300");
        assert!(fill("[[ .nope ]]", &v).unwrap_err().contains("nope"));
        assert!(fill("[[ if .window ]]", &v).is_err());
        assert!(fill("[[ .window", &v).is_err());
    }

    #[test]
    fn durations() {
        for d in ["0s", "5m", "1h30m", "1d", "0", "500ms"] {
            assert!(is_prom_duration(d), "{d}");
        }
        for d in ["", "5", "m", "1.5m", "5 m", "-1m"] {
            assert!(!is_prom_duration(d), "{d}");
        }
    }

    fn template(yaml: &str) -> Template {
        parse("t.yml", yaml).unwrap().remove(0)
    }

    #[test]
    fn pmm_rules_are_applied() {
        let ok = "templates:\n  - {name: a, version: 1, summary: s, expr: 'x > [[ .t ]]', params: [{name: t, summary: s, type: float, range: [0, 10], value: 5}], for: 1m, severity: warning}\n";
        assert!(problems(&template(ok)).is_empty(), "{:?}", problems(&template(ok)));
        let bad = [
            (ok.replace("version: 1", "version: 2"), "version"),
            (ok.replace("name: a,", "name: pmm_a,"), "pmm_"),
            (ok.replace("severity: warning", "severity: page"), "severity"),
            (ok.replace("for: 1m", "for: soon"), "duration"),
            (ok.replace("value: 5", "value: 50"), "range"),
            (ok.replace("type: float", "type: int"), "type"),
            (ok.replace("[[ .t ]]", "[[ .u ]]"), "no parameter"),
            (ok.replace("type: float,", "type: float, unit: ms,"), "unit"),
        ];
        for (yaml, want) in bad {
            let p = problems(&template(&yaml));
            assert!(p.iter().any(|m| m.contains(want)), "{want}: {p:?}");
        }
        let unknown = ok.replace("for: 1m", "for: 1m, category: mysql");
        assert!(parse("t.yml", &unknown).is_err());
    }
}
