//! Templates to SQL and check files: one minijinja environment with strict undefined behaviour, the
//! embedded templates (overridable from a directory), and filters that serialize values instead of
//! quoting them by hand.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use audit_schema::TableNames;
use minijinja::value::Value;
use minijinja::{Environment, ErrorKind, UndefinedBehavior};
use serde::Serialize;

use crate::embedded;
use crate::file_version::FileVersion;
use crate::spec::{CheckSpec, QueryType};

/// Rendering failed.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A template failed; the message names the template and line.
    #[error("check {check}: {source:#}")]
    Template {
        /// The check being rendered (or the target's name).
        check: String,
        /// The template error.
        source: minijinja::Error,
    },
    /// A rendered query or script breaks a PMM rule.
    #[error("check {check}: {message}")]
    Output {
        /// The check being rendered.
        check: String,
        /// What is wrong.
        message: String,
    },
    /// An override template directory could not be read.
    #[error("reading templates from {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Which table layout the SQL is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Layout {
    /// The typed, indexed columns of the table that audit-ingest creates.
    #[default]
    Typed,
    /// The original recipe's table: one `audit_record` JSON column (full scans; portable JSON functions).
    Json,
}

/// The check file's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Target {
    /// One version 2 file with `advisor: dev` for PMM_DEV_ADVISOR_CHECKS_FILE (PMM 3) or
    /// PERCONA_TEST_CHECKS_FILE (PMM 2.36+). Replaces PMM's built-in checks.
    #[default]
    DevFile,
    /// PMM 3.4+ bundled layout (`--out DIR`): `advisors/mysql_audit_log.yaml` and `checks/NAME.yaml`,
    /// beside PMM's built-in checks.
    Bundled,
    /// One version 1 file with `tiers` and a `check(rows)` shim, for PMM 2.9 to 2.35.
    Legacy,
}

impl Target {
    /// The version of the checks in the target's files.
    pub fn file_version(self) -> FileVersion {
        match self {
            Target::Legacy => FileVersion::V1,
            Target::DevFile | Target::Bundled => FileVersion::V2,
        }
    }
}

/// The advisor that bundled checks belong to.
pub const ADVISOR_NAME: &str = "mysql_audit_log";

/// Where the SQL reads from and in which layout.
#[derive(Debug, Clone)]
pub struct SqlOptions {
    /// Validated database and table names.
    pub names: TableNames,
    /// The table's layout.
    pub layout: Layout,
}

/// A check rendered for one target.
#[derive(Debug, Clone, Serialize)]
pub struct RenderedCheck {
    /// The check's name.
    pub name: String,
    /// One line.
    pub summary: String,
    /// What it looks for.
    pub description: String,
    /// `standard`, `frequent` or `rare`.
    pub interval: String,
    /// The full SELECT statement.
    pub sql: String,
    /// The statement without its leading `SELECT`, as PMM's `query:` field wants it (MetricsQL for
    /// METRICS_INSTANT).
    pub query: String,
    /// PMM's query type (`MYSQL_SELECT`, `METRICS_INSTANT`).
    pub query_type: String,
    /// The query's `parameters:` (METRICS_INSTANT's `lookback`).
    pub parameters: BTreeMap<String, String>,
    /// The Starlark script with its entry point for the target's file version.
    pub script: String,
}

/// The template environment with the embedded templates and, over them, those of an override directory.
#[derive(Debug)]
pub struct Renderer {
    env: Environment<'static>,
}

fn invalid(msg: impl Into<String>) -> minijinja::Error {
    minijinja::Error::new(ErrorKind::InvalidOperation, msg.into())
}

/// Serializes a value as YAML with serde-saphyr; multi-line strings become literal blocks. Lines after
/// the first are indented by `indent` spaces so the value can sit under a key at that depth.
fn yaml_filter(value: Value, indent: Option<usize>) -> Result<String, minijinja::Error> {
    let out = match value.as_str() {
        Some(s) if s.contains('\n') => {
            if s.contains('\t') {
                return Err(invalid("TAB character in a multi-line value (PMM rejects TABs in scripts)"));
            }
            serde_saphyr::to_string(&serde_saphyr::LitStr(s))
        }
        // One line stays one line (no folding), so the value can follow its key directly.
        _ => serde_saphyr::to_string_with_options(
            &value,
            serde_saphyr::SerializerOptions { prefer_block_scalars: false, ..Default::default() },
        ),
    }
    .map_err(|e| invalid(format!("YAML serialization: {e}")))?;
    let pad = " ".repeat(indent.unwrap_or(0));
    let mut lines = out.trim_end_matches('\n').lines();
    let mut s = lines.next().unwrap_or_default().to_string();
    for line in lines {
        s.push('\n');
        if !line.trim().is_empty() {
            s.push_str(&pad);
            s.push_str(line);
        }
    }
    Ok(s)
}

/// An integer parameter as an SQL literal; anything else is refused.
fn sql_int(value: Value) -> Result<String, minijinja::Error> {
    i64::try_from(value.clone())
        .map(|n| n.to_string())
        .map_err(|_| invalid(format!("sql_int: {value:?} is not an integer")))
}

/// A string parameter as an SQL literal. Only printable characters other than `'` and `\` are allowed,
/// so the literal reads the same under every sql_mode (NO_BACKSLASH_ESCAPES or not).
fn sql_str(value: Value) -> Result<String, minijinja::Error> {
    let s = value.as_str().ok_or_else(|| invalid(format!("sql_str: {value:?} is not a string")))?;
    if s.chars().any(|c| c == '\'' || c == '\\' || c.is_control()) {
        return Err(invalid(format!("sql_str: {s:?} contains a quote, backslash or control character")));
    }
    Ok(format!("'{s}'"))
}

/// A non-empty list of strings as a comma-separated list of SQL literals, for `IN (...)`.
fn sql_str_list(value: Value) -> Result<String, minijinja::Error> {
    let items: Vec<String> = value
        .try_iter()
        .map_err(|_| invalid("sql_str_list: not a list"))?
        .map(sql_str)
        .collect::<Result<_, _>>()?;
    if items.is_empty() {
        return Err(invalid("sql_str_list: the list is empty"));
    }
    Ok(items.join(", "))
}

/// A value as a Starlark literal (None, True/False, numbers, strings, lists, dicts).
fn starlark_literal(value: Value) -> Result<String, minijinja::Error> {
    use minijinja::value::ValueKind;
    Ok(match value.kind() {
        ValueKind::Undefined | ValueKind::None => "None".into(),
        ValueKind::Bool => if value.is_true() { "True" } else { "False" }.into(),
        ValueKind::Number => value.to_string(),
        ValueKind::String => serde_json::to_string(value.as_str().unwrap_or_default())
            .map_err(|e| invalid(e.to_string()))?,
        ValueKind::Seq => {
            let items: Vec<String> = value.try_iter()?.map(starlark_literal).collect::<Result<_, _>>()?;
            format!("[{}]", items.join(", "))
        }
        ValueKind::Map => {
            let mut items = Vec::new();
            for k in value.try_iter()? {
                let v = value.get_item(&k)?;
                items.push(format!("{}: {}", starlark_literal(k)?, starlark_literal(v)?));
            }
            format!("{{{}}}", items.join(", "))
        }
        other => return Err(invalid(format!("starlark: cannot write a {other} value"))),
    })
}

fn read_dir_recursive(dir: &Path, prefix: &str, out: &mut Vec<(String, String)>) -> Result<(), RenderError> {
    let io = |path: &Path, source| RenderError::Io { path: path.to_path_buf(), source };
    for entry in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let entry = entry.map_err(|e| io(dir, e))?;
        let path = entry.path();
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        if path.is_dir() {
            read_dir_recursive(&path, &format!("{name}/"), out)?;
        } else {
            out.push((name, std::fs::read_to_string(&path).map_err(|e| io(&path, e))?));
        }
    }
    Ok(())
}

/// Removes the leading `SELECT` keyword: pmm-agent prepends `SELECT /* pmm-agent */ ` itself.
pub fn strip_select(sql: &str) -> Option<&str> {
    let t = sql.trim_start();
    let head = t.get(..6)?;
    let rest = &t[6..];
    (head.eq_ignore_ascii_case("select") && rest.starts_with(char::is_whitespace)).then(|| rest.trim_start())
}

impl Renderer {
    /// The embedded templates, with those found under `overrides` (same relative names) taking precedence.
    pub fn new(overrides: Option<&Path>) -> Result<Self, RenderError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_keep_trailing_newline(true);
        audit_schema::add_ident_filter(&mut env);
        env.add_filter("yaml", yaml_filter);
        env.add_filter("sql_int", sql_int);
        env.add_filter("sql_str", sql_str);
        env.add_filter("sql_str_list", sql_str_list);
        env.add_filter("starlark", starlark_literal);
        let template_err = |source| RenderError::Template { check: "(templates)".into(), source };
        for (name, text) in embedded::TEMPLATES.iter().filter(|(n, _)| !embedded::is_data(n)) {
            env.add_template(name, text).map_err(template_err)?;
        }
        if let Some(dir) = overrides {
            let mut files = Vec::new();
            read_dir_recursive(dir, "", &mut files)?;
            for (name, text) in files.into_iter().filter(|(n, _)| !embedded::is_data(n)) {
                env.add_template_owned(name, text).map_err(template_err)?;
            }
        }
        Ok(Renderer { env })
    }

    fn render(&self, check: &str, template: &str, ctx: Value) -> Result<String, RenderError> {
        self.env
            .get_template(template)
            .and_then(|t| t.render(ctx))
            .map_err(|source| RenderError::Template { check: check.to_string(), source })
    }

    /// The check's MetricsQL (METRICS_INSTANT checks), with PMM's `{{.NodeName}}` placeholders left
    /// for pmm-managed.
    pub fn metrics_query(&self, spec: &CheckSpec) -> Result<String, RenderError> {
        let q = self.render(&spec.name, &spec.query, minijinja::context! { params => spec.parameters })?;
        let q = q.trim().to_string();
        if q.is_empty() || strip_select(&q).is_some() {
            return Err(RenderError::Output { check: spec.name.clone(), message: format!("template {} must render a MetricsQL query", spec.query) });
        }
        Ok(q)
    }

    /// The check's full SELECT statement.
    pub fn sql(&self, spec: &CheckSpec, opts: &SqlOptions) -> Result<String, RenderError> {
        if spec.query_type != QueryType::MysqlSelect {
            return Err(RenderError::Output { check: spec.name.clone(), message: "it queries PMM's metrics (METRICS_INSTANT), not the server: it has no SQL".into() });
        }
        let ctx = minijinja::context! {
            params => spec.parameters,
            data => opts.names.data(),
            checkpoint => opts.names.checkpoint(),
            logins => opts.names.logins(),
            layout => match opts.layout { Layout::Typed => "typed", Layout::Json => "json" },
        };
        let sql = self.render(&spec.name, &spec.query, ctx)?;
        let sql = sql.trim().to_string();
        if strip_select(&sql).is_none() {
            return Err(RenderError::Output {
                check: spec.name.clone(),
                message: format!("template {} must render one statement starting with SELECT", spec.query),
            });
        }
        Ok(sql)
    }

    /// The check's script for a file version with the given parameters: the spec's
    /// `alerts(rows, context)`, the shared helpers of `scripts/helpers.star.j2` and the entry point(s)
    /// of `scripts/entry.star.j2`.
    pub fn script(
        &self,
        spec: &CheckSpec,
        params: &BTreeMap<String, Value>,
        version: FileVersion,
    ) -> Result<String, RenderError> {
        let ctx = minijinja::context! {
            params => params,
            check => minijinja::context! { name => spec.name, severity => spec.severity, read_more_url => spec.read_more_url },
            version => version.number(),
        };
        let body = self.render(&spec.name, &spec.script, ctx.clone())?;
        let helpers = self.render(&spec.name, "scripts/helpers.star.j2", ctx.clone())?;
        let entry = self.render(&spec.name, "scripts/entry.star.j2", ctx)?;
        let script = format!("{}\n\n{}\n\n{}\n", body.trim_end(), helpers.trim(), entry.trim());
        if script.contains('\t') {
            return Err(RenderError::Output {
                check: spec.name.clone(),
                message: "the script contains a TAB character; PMM refuses it (indent with spaces)".into(),
            });
        }
        Ok(script)
    }

    /// The check ready for a target file of the given version.
    pub fn check(&self, spec: &CheckSpec, opts: &SqlOptions, version: FileVersion) -> Result<RenderedCheck, RenderError> {
        let (sql, query) = match spec.query_type {
            QueryType::MysqlSelect => {
                let sql = self.sql(spec, opts)?;
                let query = strip_select(&sql).unwrap_or_default().to_string();
                (sql, query)
            }
            QueryType::MetricsInstant => (String::new(), self.metrics_query(spec)?),
        };
        let parameters = spec.lookback.iter().map(|l| ("lookback".to_string(), l.clone())).collect();
        Ok(RenderedCheck {
            query_type: spec.query_type.pmm_name().to_string(),
            parameters,
            name: spec.name.clone(),
            summary: spec.summary.clone(),
            description: spec.description.clone(),
            interval: serde_json::to_value(spec.interval)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            script: self.script(spec, &spec.parameters, version)?,
            sql,
            query,
        })
    }

    /// Renders a target for the newest PMM release: (relative path, contents) pairs. `dev-file` and
    /// `legacy` give one file whose path is `custom-checks.yml`.
    pub fn target(
        &self,
        target: Target,
        specs: &[CheckSpec],
        opts: &SqlOptions,
    ) -> Result<Vec<(PathBuf, String)>, RenderError> {
        self.target_for(target, specs, opts, &crate::pmm_release::profile(crate::pmm_release::NEWEST))
    }

    /// Renders a target as one PMM release loads it (bundled file extension, the dev file's variable).
    pub fn target_for(
        &self,
        target: Target,
        specs: &[CheckSpec],
        opts: &SqlOptions,
        pmm: &crate::pmm_release::Profile,
    ) -> Result<Vec<(PathBuf, String)>, RenderError> {
        let ext = pmm.bundled.map(|b| b.extension).unwrap_or("yaml");
        let version = target.file_version();
        // Version 1 files run SQL only: metrics checks need version 2 (PMM 2.36+).
        let specs: Vec<&CheckSpec> = specs.iter().filter(|s| version == FileVersion::V2 || s.query_type == QueryType::MysqlSelect).collect();
        let checks = specs.iter().map(|s| self.check(s, opts, version)).collect::<Result<Vec<_>, _>>()?;
        let names = minijinja::context! { database => opts.names.database(), table => opts.names.table() };
        let pmm_ctx = minijinja::context! {
            version => pmm.version.to_string(),
            env => pmm.dev_file_env,
            advisors_dir => pmm.bundled.map(|b| b.advisors_dir),
            checks_dir => pmm.bundled.map(|b| b.checks_dir),
        };
        match target {
            Target::DevFile | Target::Legacy => {
                let tmpl = if target == Target::DevFile { "targets/dev-file.yml.j2" } else { "targets/legacy.yml.j2" };
                let text = self.render("(target)", tmpl, minijinja::context! { checks => checks, names => names, pmm => pmm_ctx })?;
                Ok(vec![(PathBuf::from("custom-checks.yml"), text)])
            }
            Target::Bundled => {
                let mut files = vec![(
                    PathBuf::from(format!("advisors/{ADVISOR_NAME}.{ext}")),
                    self.render(
                        "(advisor)",
                        "targets/bundled-advisor.yml.j2",
                        minijinja::context! { advisor => ADVISOR_NAME, names => names, pmm => pmm_ctx.clone() },
                    )?,
                )];
                for c in &checks {
                    let text = self.render(
                        &c.name,
                        "targets/bundled-check.yml.j2",
                        minijinja::context! { check => c, advisor => ADVISOR_NAME },
                    )?;
                    files.push((PathBuf::from(format!("checks/{}.{ext}", c.name)), text));
                }
                Ok(files)
            }
        }
    }
}
