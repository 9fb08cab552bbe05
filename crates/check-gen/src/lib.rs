//! check-gen: PMM advisor checks over the audit table, rendered from templates, validated with PMM's own
//! rules, and runnable (on fixtures or on a live server) before they are copied into pmm-server.
//!
//! One module a concern: [`spec`] reads the check specs, [`render`] turns them into SQL and check files
//! (of a [`file_version::FileVersion`]), [`validate`] applies PMM's parser rules to any check file.
//! [`alerts`] and [`dashboard`] give the real-time side: PMM alert rule templates and a Grafana
//! dashboard on audit-ingest's metrics. These need no optional feature: rendering and validating build
//! quickly.
//!
//! Behind features: `starlark` gives `script` (check scripts with PMM's Starlark dialect); `test`
//! adds `fixtures` (`check-gen test`: scripts on their fixtures); `run` adds `runner`
//! (checks against a server the way pmm-agent runs them); `deploy` adds `deploy` (PMM's advisor API).

pub mod alerts;
pub mod cells;
pub mod dashboard;
#[cfg(feature = "deploy")]
pub mod deploy;
pub mod file_version;
#[cfg(feature = "test")]
pub mod fixtures;
pub mod pmm_release;
pub mod render;
#[cfg(feature = "run")]
pub mod runner;
#[cfg(feature = "starlark")]
pub mod script;
pub mod spec;
pub mod untrusted;
pub mod validate;
pub mod yaml_tree;

/// The default checks and templates, embedded at build time from the workspace's `checks/` and
/// `templates/` (see `build.rs`).
pub mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

    /// Directories of `templates/` that hold data files (YAML), not minijinja templates.
    pub const DATA_DIRS: &[&str] = &["alerts/", "dashboards/"];

    /// Whether a file under `templates/` is a data file rather than a template.
    pub fn is_data(name: &str) -> bool {
        DATA_DIRS.iter().any(|d| name.starts_with(d))
    }

    /// A data file: from `overrides` when it has one of that name, else the built-in one.
    pub fn data_file(overrides: Option<&std::path::Path>, name: &str) -> std::io::Result<String> {
        if let Some(dir) = overrides {
            let path = dir.join(name);
            if path.is_file() {
                return std::fs::read_to_string(path);
            }
        }
        TEMPLATES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| (*t).to_string())
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, format!("no built-in {name}")))
    }
}
