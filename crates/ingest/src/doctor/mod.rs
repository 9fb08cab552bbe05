//! `audit-ingest doctor`: what a DBA gets wrong before the first record is stored, found on the
//! server and on this host, each finding with its fix. [`facts`] asks the server (read-only: it
//! writes nothing), [`server`] judges what it said, [`log_file`] looks at the audit log itself.
//!
//! The judging is pure (facts in, findings out), so each rule is tested without a server.

use std::fmt;
use std::path::PathBuf;

use crate::sink::WriteMode;

pub mod facts;
pub mod log_file;
pub mod server;

pub use facts::{gather, ServerFacts};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// As it should be.
    Ok,
    /// Works; worth knowing.
    Info,
    /// Works today, fails or misleads later (records lost at rotation, a record too large).
    Warning,
    /// audit-ingest cannot do its job until it is fixed.
    Error,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Ok => "ok",
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
        })
    }
}

/// One thing doctor found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// How bad.
    pub level: Level,
    /// What it is about: `audit plugin`, `policy`, `privileges`, `log file`, ...
    pub topic: &'static str,
    /// What was found, with the values that show it.
    pub message: String,
    /// What to do; empty when nothing is to be done.
    pub fix: String,
}

impl Finding {
    /// A finding with nothing to fix.
    pub fn ok(topic: &'static str, message: impl Into<String>) -> Finding {
        Finding { level: Level::Ok, topic, message: message.into(), fix: String::new() }
    }

    /// A finding of `level` with its fix.
    pub fn new(level: Level, topic: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding { level, topic, message: message.into(), fix: fix.into() }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}: {}", self.level, self.topic, self.message)?;
        if !self.fix.is_empty() {
            write!(f, "\n    fix: {}", self.fix)?;
        }
        Ok(())
    }
}

/// What doctor is to check against.
#[derive(Debug, Clone, Default)]
pub struct DoctorOptions {
    /// The audit log to look at; default the file the server's settings name.
    pub log: Option<PathBuf>,
    /// How audit-ingest will write (local mode needs the right to keep writes out of the binary log).
    pub mode: WriteMode,
    /// The database that holds (or will hold) the audit tables.
    pub database: String,
    /// The account the service runs as, whose access to the log is checked (when it exists here).
    pub service_user: Option<String>,
}

/// Everything doctor finds: the server's settings, then the log file's.
pub fn assess(facts: &ServerFacts, options: &DoctorOptions) -> Vec<Finding> {
    let mut findings = server::assess(facts, options);
    let path = options.log.clone().or_else(|| server::log_path(facts));
    let log = log_file::inspect(path.as_deref(), facts, options.service_user.as_deref());
    findings.push(server::packet(facts, log.largest_record));
    findings.extend(log.findings);
    findings
}

/// The exit status for a list of findings: 0 nothing to fix, 1 an error, 3 warnings only (as
/// `check-gen validate`).
pub fn exit_status(findings: &[Finding]) -> u8 {
    match findings.iter().map(|f| f.level).max() {
        Some(Level::Error) => 1,
        Some(Level::Warning) => 3,
        _ => 0,
    }
}

#[cfg(test)]
mod tests;
