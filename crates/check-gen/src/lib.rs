//! check-gen: PMM advisor checks over the audit table, rendered from templates, validated with PMM's own
//! rules, and runnable (on fixtures or on a live server) before they are copied into pmm-server.
//!
//! One module a concern: [`spec`] reads the check specs, [`render`] turns them into SQL and check files,
//! [`validate`] applies PMM's parser rules to any check file, [`script`] runs check scripts with PMM's
//! Starlark dialect, [`runner`] runs checks against a server the way pmm-agent does.

pub mod cells;
#[cfg(feature = "deploy")]
pub mod deploy;
pub mod pmm_release;
pub mod render;
#[cfg(feature = "starlark")]
pub mod script;
pub mod runner;
pub mod spec;
pub mod untrusted;
pub mod validate;
pub mod yaml_tree;

/// The default checks and templates, embedded at build time from the workspace's `checks/` and
/// `templates/` (see `build.rs`).
pub mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}
