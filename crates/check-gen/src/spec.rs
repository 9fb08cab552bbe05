//! Check specs: one YAML file a check in `checks/`, parsed strictly with serde-saphyr.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cells::{Cell, Row};
use crate::embedded;

/// A check spec could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The directory or a file in it could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// What was being read.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A spec is not valid YAML for the spec format.
    #[error("{file}: {source}")]
    Parse {
        /// The spec's file name.
        file: String,
        /// The cause, with its line and column.
        source: Box<serde_saphyr::Error>,
    },
    /// A spec is well-formed but wrong.
    #[error("{file}: {message}")]
    Invalid {
        /// The spec's file name.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// `--only` named a check that does not exist.
    #[error("no check named {0:?} (see `check-gen list`)")]
    UnknownCheck(String),
}

/// How often PMM runs a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    /// Every 24 hours.
    Standard,
    /// Every 4 hours.
    Frequent,
    /// Every 78 hours.
    Rare,
}

/// What a check queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum QueryType {
    /// A SELECT on the monitored server, run by pmm-agent.
    #[default]
    MysqlSelect,
    /// MetricsQL on PMM's VictoriaMetrics at one instant, run by pmm-managed (`{{.NodeName}}` and
    /// `{{.ServiceName}}` filled in); the script gets the samples as `{"metric": {...}, "value": [t, "v"]}`.
    MetricsInstant,
}

impl QueryType {
    /// PMM's name of the query type.
    pub fn pmm_name(self) -> &'static str {
        match self {
            QueryType::MysqlSelect => "MYSQL_SELECT",
            QueryType::MetricsInstant => "METRICS_INSTANT",
        }
    }
}

/// One check, as written in `checks/NAME.yml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    /// `^[a-zA-Z_][a-zA-Z0-9_]*$`, also the file's base name.
    pub name: String,
    /// The check's one-line summary, as PMM lists it.
    pub summary: String,
    /// What the check looks for.
    pub description: String,
    /// How often PMM runs it.
    pub interval: Interval,
    /// Severity of the alerts it raises (`error` or `warning`).
    pub severity: String,
    /// Link put into every alert.
    #[serde(default)]
    pub read_more_url: String,
    /// Parameter name to default value; both the SQL and the script templates see them as `params`.
    #[serde(default)]
    pub parameters: BTreeMap<String, minijinja::Value>,
    /// What the query is: `MYSQL_SELECT` (the default) or `METRICS_INSTANT`.
    #[serde(default)]
    pub query_type: QueryType,
    /// METRICS_INSTANT only: evaluate the query this long ago (a Go duration, e.g. `5m`).
    #[serde(default)]
    pub lookback: Option<String>,
    /// Template name of the query: a full SELECT statement, or MetricsQL for METRICS_INSTANT.
    pub query: String,
    /// Template name of the Starlark script (defines `alerts(rows, context)`).
    pub script: String,
    /// Rows in, alerts out.
    #[serde(default)]
    pub fixtures: Vec<Fixture>,
}

/// A test case of a check's script.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// Names the case in test output.
    pub name: String,
    /// Parameters that differ from the defaults for this case.
    #[serde(default)]
    pub parameters: BTreeMap<String, minijinja::Value>,
    /// The query's result rows.
    pub rows: Vec<BTreeMap<String, Cell>>,
    /// The alerts the script must return, in order.
    pub expected: Vec<ExpectedAlert>,
}

impl Fixture {
    /// The rows in the shape scripts get them.
    pub fn rows(&self) -> Vec<Row> {
        self.rows.iter().map(|r| r.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).collect()
    }
}

/// An alert a fixture expects; a field left out is not compared.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedAlert {
    /// Must equal the alert's summary.
    pub summary: String,
    /// Must equal the alert's description, if given.
    #[serde(default)]
    pub description: Option<String>,
    /// Must equal the alert's severity.
    pub severity: String,
    /// Must equal the alert's labels, if given.
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
}

impl CheckSpec {
    /// The parameters with a fixture's overrides applied.
    pub fn params_with(&self, overrides: &BTreeMap<String, minijinja::Value>) -> BTreeMap<String, minijinja::Value> {
        let mut p = self.parameters.clone();
        p.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
        p
    }
}

/// Parses one spec and checks what serde cannot: the name's pattern, the file name, the severity, and
/// that fixtures only override parameters that exist.
pub fn parse_spec(file: &str, text: &str) -> Result<CheckSpec, SpecError> {
    let spec: CheckSpec = serde_saphyr::from_str(text)
        .map_err(|e| SpecError::Parse { file: file.to_string(), source: Box::new(e) })?;
    let invalid = |message: String| Err(SpecError::Invalid { file: file.to_string(), message });
    if !crate::validate::is_valid_name(&spec.name) {
        return invalid(format!("name {:?} does not match ^[a-zA-Z_][a-zA-Z0-9_]*$", spec.name));
    }
    let stem = Path::new(file).file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    if stem != spec.name {
        return invalid(format!("the file must be named after the check: {}.yml", spec.name));
    }
    if !matches!(spec.severity.as_str(), "error" | "warning") {
        return invalid(format!("severity {:?}: only error and warning work on every PMM version", spec.severity));
    }
    match (&spec.lookback, spec.query_type) {
        (Some(_), QueryType::MysqlSelect) => return invalid("lookback is a METRICS_INSTANT parameter; MYSQL_SELECT takes none".into()),
        (Some(l), QueryType::MetricsInstant) if !crate::validate::is_go_duration(l) => {
            return invalid(format!("lookback {l:?} is not a Go duration (e.g. 5m, 1h30m; no days)"))
        }
        _ => {}
    }
    for fx in &spec.fixtures {
        if let Some(k) = fx.parameters.keys().find(|k| !spec.parameters.contains_key(*k)) {
            return invalid(format!("fixture {:?} overrides unknown parameter {k:?}", fx.name));
        }
    }
    Ok(spec)
}

/// Loads every `*.yml` spec from `dir`, or the embedded defaults when `dir` is `None`; sorted by name.
pub fn load_specs(dir: Option<&Path>) -> Result<Vec<CheckSpec>, SpecError> {
    let mut specs = Vec::new();
    match dir {
        None => {
            for (name, text) in embedded::CHECKS.iter().filter(|(n, _)| n.ends_with(".yml")) {
                specs.push(parse_spec(name, text)?);
            }
        }
        Some(dir) => {
            let io = |path: &Path, source| SpecError::Io { path: path.to_path_buf(), source };
            let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
                .map_err(|e| io(dir, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
                .collect();
            paths.sort();
            for path in paths {
                let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
                let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
                specs.push(parse_spec(&file, &text)?);
            }
        }
    }
    specs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(specs)
}

/// Keeps the checks named in `only` (all when empty); an unknown name is an error.
pub fn select(specs: Vec<CheckSpec>, only: &[String]) -> Result<Vec<CheckSpec>, SpecError> {
    if let Some(missing) = only.iter().find(|n| !specs.iter().any(|s| &s.name == *n)) {
        return Err(SpecError::UnknownCheck(missing.clone()));
    }
    Ok(specs.into_iter().filter(|s| only.is_empty() || only.contains(&s.name)).collect())
}
