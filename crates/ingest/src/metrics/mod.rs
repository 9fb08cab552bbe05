//! The ingester's metrics and their Prometheus endpoint (`--metrics-listen`), so PMM can scrape
//! audit-ingest as an external exporter and alert within seconds (see the README's metrics table).
//!
//! The pipeline feeds plain atomics and [`Metrics::observe_logins`]; a scrape takes a snapshot and
//! encodes it with `prometheus-client` ([`exposition`]), served by hyper ([`http`]).

pub mod exposition;
pub mod http;
pub mod labels;
pub mod logins;

use std::sync::atomic::{AtomicI64, AtomicU64};
use std::sync::Mutex;

pub use logins::{LoginConfig, LoginStats};

use crate::sink::Login;

/// The ingester's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Records stored.
    pub records: AtomicU64,
    /// Bytes of the log read into committed batches.
    pub bytes: AtomicU64,
    /// Records dropped by filters.
    pub filtered: AtomicU64,
    /// Malformed records dead-lettered.
    pub dead_letters: AtomicU64,
    /// Bytes of the live file not read yet.
    pub bytes_behind: AtomicU64,
    /// Unix time of the last commit (or heartbeat).
    pub last_commit: AtomicI64,
    /// Reconnects after database errors.
    pub reconnects: AtomicU64,
    /// Writes the server refused (privilege, read_only) while running.
    pub refused_writes: AtomicU64,
    /// 1 while the server refuses the ingester's writes (it waits and retries), else 0.
    pub writes_refused: AtomicU64,
    config: LoginConfig,
    logins: Mutex<LoginStats>,
}

impl Metrics {
    /// Metrics whose login families follow `config` (cap, privileged accounts).
    pub fn new(config: LoginConfig) -> Metrics {
        Metrics { config, ..Metrics::default() }
    }

    /// Counts the login attempts a commit stored, in log order.
    pub fn observe_logins(&self, logins: &[Login]) {
        if logins.is_empty() {
            return;
        }
        // A poisoned lock only means a panic elsewhere mid-update: the counts are still usable.
        let mut stats = self.logins.lock().unwrap_or_else(|e| e.into_inner());
        stats.observe(logins, &self.config);
    }

    /// A copy of the login statistics (the scrape encodes it without holding the lock).
    pub fn login_snapshot(&self) -> LoginStats {
        self.logins.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
