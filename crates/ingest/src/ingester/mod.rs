//! The one way in: an [`Ingester`] follows a log into a [`Sink`] and owns everything around it: the
//! schema check, the source lock, heartbeats, reconnects with backoff, retention and the metrics
//! endpoint. `audit-ingest follow` and `backfill` are this with their flags mapped onto the builder.

mod error;

use std::future::Future;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use audit_model::Format;
use jiff::tz::TimeZone;

use crate::checkpoint::DoneFile;
use crate::decode::{Decoder, Encoding};
use crate::filter::RecordFilter;
use crate::follower::{FollowOptions, StartAt};
use crate::metrics::http::Endpoint;
use crate::metrics::Metrics;
use crate::pipeline::{self, PipelineOptions};
use crate::sink::Sink;

pub use error::{ConfigError, IngestError};
pub use pipeline::Summary;

/// Rows a batch may be given at most and at least.
pub const BATCH_ROWS: RangeInclusive<usize> = 1..=10_000;
/// How often the heartbeat may be touched while idle, at most and at least.
pub const HEARTBEAT: RangeInclusive<Duration> = Duration::from_secs(1)..=Duration::from_secs(60);
/// How often old rows are looked for when retention is on.
const RETENTION_EVERY: Duration = Duration::from_secs(600);
/// The pause between the deletes of one retention pass, so it never holds the table for long.
const RETENTION_PAUSE: Duration = Duration::from_millis(50);

/// Follows one audit log into a sink, exactly once; built with [`Ingester::builder`].
#[derive(Debug)]
pub struct Ingester {
    sink: Sink,
    path: PathBuf,
    follow: FollowOptions,
    pipeline: PipelineOptions,
    metrics: Arc<Metrics>,
    listener: Option<(SocketAddr, std::net::TcpListener)>,
    retention: Option<Duration>,
    create_schema: bool,
    one_pass: bool,
}

/// The settings of an [`Ingester`]; every one has a default but the log and the sink.
#[derive(Debug)]
#[must_use = "a builder does nothing until built and run"]
pub struct IngesterBuilder {
    sink: Sink,
    path: PathBuf,
    follow: FollowOptions,
    pipeline: PipelineOptions,
    metrics: Option<Arc<Metrics>>,
    metrics_listen: Option<SocketAddr>,
    retention: Option<Duration>,
    create_schema: bool,
    one_pass: bool,
}

impl Ingester {
    /// Starts the settings of an ingester that reads the log at `path` (and its rotated files) into
    /// `sink`, whose [`crate::sink::SinkOptions`] name the tables, the source and the server. The
    /// sink stays the caller's: close it with [`Sink::close`] after [`Ingester::run`].
    pub fn builder(path: impl Into<PathBuf>, sink: Sink) -> IngesterBuilder {
        IngesterBuilder {
            sink,
            path: path.into(),
            follow: FollowOptions::default(),
            pipeline: PipelineOptions::default(),
            metrics: None,
            metrics_listen: None,
            retention: None,
            create_schema: true,
            one_pass: false,
        }
    }

    /// The counters this ingester updates (shared with its metrics endpoint, if any).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Runs until `shutdown` completes (or, with [`IngesterBuilder::one_pass`], until caught up), then
    /// commits what was read and returns what it did. Give `std::future::pending()` for no shutdown.
    ///
    /// Before reading it checks (or creates) the tables and, unless one pass, marks the source live.
    /// Database outages are waited out with capped backoff; another ingester holding the same
    /// source is waited for. A one-pass run marks its source finished once caught up, so the
    /// staleness check does not wait for it.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<Summary, IngestError> {
        let Ingester { sink, path, follow, pipeline: opts, metrics, listener, retention, create_schema, one_pass } = self;
        sink.ensure_schema(create_schema).await?;
        if !one_pass {
            // Followed again after it finished (a backfill's source): live, so watched again.
            sink.set_finished(false).await?;
        }
        // The side tasks end with the run: dropped, not left behind in the caller's runtime.
        let endpoint = match listener {
            Some((addr, l)) => {
                let l = l.set_nonblocking(true).and_then(|()| tokio::net::TcpListener::from_std(l)).map_err(|source| IngestError::Listen { addr, source })?;
                let o = sink.options();
                let endpoint = Arc::new(Endpoint { metrics: metrics.clone(), server: o.server.to_string(), source: o.source.clone() });
                Some(async move {
                    if let Err(e) = crate::metrics::http::serve(l, endpoint).await {
                        tracing::error!(error = %e, "metrics endpoint failed");
                    }
                })
            }
            None => None,
        };
        let retention = retention.map(|keep| retain(sink.clone(), keep));
        let o = sink.options();
        tracing::info!(path = %path.display(), server = %o.server, source = %o.source, table = %o.names, database = %sink.address(), mode = o.mode.name(), "following");
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let run = pipeline::run(&sink, path, follow, &opts, metrics, stopped);
        // Never completes: a failed endpoint has said so and stops alone, ingestion goes on.
        let side = async {
            tokio::join!(optional(endpoint), optional(retention));
            std::future::pending::<()>().await
        };
        tokio::pin!(run, shutdown, side);
        let mut shut = false;
        let summary = loop {
            tokio::select! {
                r = &mut run => break r?,
                () = &mut shutdown, if !shut => {
                    shut = true;
                    tracing::info!("stopping: committing what was read");
                    // The receiver lives in `run`, which is polled to its end below.
                    let _ = stop.send(true);
                }
                () = &mut side => {}
            }
        };
        if one_pass {
            // Read to its end: nobody is to check in for this source any more.
            sink.set_finished(true).await?;
        }
        tracing::info!(records = summary.records, dead_letters = summary.dead_letters, filtered = summary.filtered, "stopped");
        Ok(summary)
    }
}

/// Awaits `f` if there is one.
async fn optional(f: Option<impl Future<Output = ()>>) {
    if let Some(f) = f {
        f.await;
    }
}

/// Deletes rows older than `keep`, every [`RETENTION_EVERY`], for as long as it is polled.
async fn retain(sink: Sink, keep: Duration) {
    loop {
        match sink.enforce_retention(keep, RETENTION_PAUSE).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "retention: deleted old rows"),
            Err(e) => tracing::warn!(error = %e, "retention failed; will retry"),
        }
        tokio::time::sleep(RETENTION_EVERY).await;
    }
}

impl IngesterBuilder {
    /// The log's format; by default it is recognised from the first record.
    pub fn format(mut self, format: Option<Format>) -> Self {
        self.follow.format = format;
        self
    }

    /// The zone of formats written in local time (MariaDB, audit_log_filter); default UTC.
    pub fn time_zone(mut self, tz: TimeZone) -> Self {
        self.follow.time_zone = Some(tz);
        self
    }

    /// Where a source without a checkpoint starts: the log's history (default) or its end.
    pub fn start_at(mut self, start: StartAt) -> Self {
        self.follow.start_at = start;
        self
    }

    /// The password of rotated encrypted (`.enc`) files; none by default.
    pub fn decoder(mut self, decoder: Decoder) -> Self {
        self.follow.decoder = decoder;
        self
    }

    /// Files other sources stored already (see [`crate::known`]): one with such content is read
    /// only past what was stored.
    pub fn known_files(mut self, known: Vec<DoneFile>) -> Self {
        self.follow.known = known;
        self
    }

    /// Which records to store; all by default.
    pub fn filter(mut self, filter: RecordFilter) -> Self {
        self.pipeline.filter = filter;
        self
    }

    /// Whether to leave out the records of the ingester's own connections (default `true`): the
    /// statements it runs, which the server it writes to logs. Only connections the log shows to be
    /// its own are left out, never other sessions of its account (see [`crate::filter`]).
    pub fn exclude_own(mut self, exclude: bool) -> Self {
        self.pipeline.exclude_own = exclude;
        self
    }

    /// Rows a batch at most, within [`BATCH_ROWS`] (default 1000).
    pub fn batch_rows(mut self, rows: usize) -> Self {
        self.pipeline.batch_rows = rows;
        self
    }

    /// Bytes a batch at most (default 4 MiB; keep well under the server's `max_allowed_packet`).
    pub fn batch_bytes(mut self, bytes: usize) -> Self {
        self.pipeline.batch_bytes = bytes;
        self
    }

    /// How long the first record of a batch may wait for more (default 50 ms).
    pub fn batch_wait(mut self, wait: Duration) -> Self {
        self.pipeline.batch_wait = wait;
        self
    }

    /// Batches read ahead while one commits, at least 1 (default 1): memory holds this many plus two.
    pub fn in_flight(mut self, batches: usize) -> Self {
        self.pipeline.in_flight = batches;
        self
    }

    /// Longest sleep between looks at an idle file (default 100 ms).
    pub fn max_poll(mut self, poll: Duration) -> Self {
        self.pipeline.max_poll = poll;
        self
    }

    /// How often the heartbeat is touched while idle, within [`HEARTBEAT`] (default 30 s).
    pub fn heartbeat(mut self, every: Duration) -> Self {
        self.pipeline.heartbeat = every;
        self
    }

    /// Longest backoff between reconnects (default 30 s).
    pub fn max_backoff(mut self, backoff: Duration) -> Self {
        self.pipeline.max_backoff = backoff;
        self
    }

    /// Read the log to its current end once, then stop and mark the source finished (a backfill);
    /// by default the log is followed until shutdown.
    pub fn one_pass(mut self) -> Self {
        self.one_pass = true;
        self
    }

    /// Delete rows older than `keep`, checked every ten minutes; off by default.
    pub fn retention(mut self, keep: Duration) -> Self {
        self.retention = Some(keep);
        self
    }

    /// Create the tables when they are missing (the default); with `false` a missing table is an
    /// [`IngestError::SchemaVersion`].
    pub fn create_schema(mut self, create: bool) -> Self {
        self.create_schema = create;
        self
    }

    /// The counters to update, to read them while it runs; a fresh set by default.
    pub fn metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Serve Prometheus metrics at `http://addr/metrics` while running (keep it on localhost or a
    /// private interface: the labels name accounts and client addresses). Bound by
    /// [`IngesterBuilder::build`], so a port in use is an error before anything runs.
    pub fn metrics_listen(mut self, addr: SocketAddr) -> Self {
        self.metrics_listen = Some(addr);
        self
    }

    /// Checks the settings and binds the metrics endpoint: a value out of range is a
    /// [`ConfigError`], nothing is clamped.
    pub fn build(self) -> Result<Ingester, IngestError> {
        let p = &self.pipeline;
        if !BATCH_ROWS.contains(&p.batch_rows) {
            return Err(ConfigError::BatchRows(p.batch_rows).into());
        }
        if !HEARTBEAT.contains(&p.heartbeat) {
            return Err(ConfigError::Heartbeat(p.heartbeat).into());
        }
        if p.in_flight == 0 {
            return Err(ConfigError::InFlight.into());
        }
        if p.batch_bytes == 0 {
            return Err(ConfigError::BatchBytes.into());
        }
        let source = &self.sink.options().source;
        if source.is_empty() || source.chars().count() > 128 {
            return Err(ConfigError::SourceName(source.chars().count()).into());
        }
        if !self.one_pass && is_encrypted(&self.path) {
            let reason = "encrypted: follow does not read an encrypted live log (its last block is written only when the server closes it); import the rotated .enc files with `audit-ingest backfill`";
            return Err(IngestError::Io { path: self.path, source: std::io::Error::new(std::io::ErrorKind::InvalidData, reason) });
        }
        let listener = match self.metrics_listen {
            Some(addr) => Some((addr, std::net::TcpListener::bind(addr).map_err(|source| IngestError::Listen { addr, source })?)),
            None => None,
        };
        let mut pipeline = self.pipeline;
        pipeline.exit_when_caught_up = self.one_pass;
        Ok(Ingester {
            sink: self.sink,
            path: self.path,
            follow: self.follow,
            pipeline,
            metrics: self.metrics.unwrap_or_default(),
            listener,
            retention: self.retention,
            create_schema: self.create_schema,
            one_pass: self.one_pass,
        })
    }
}

/// Whether the file at `path` exists and is encrypted (a missing one is waited for, so not).
fn is_encrypted(path: &std::path::Path) -> bool {
    std::fs::File::open(path).is_ok_and(|f| Encoding::detect(&f).is_ok_and(|e| e == Some(Encoding::Encrypted)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::SinkOptions;

    /// A sink that is never connected to: building checks settings only.
    fn sink(source: &str) -> Sink {
        let names = audit_schema::TableNames::new("library_test", "audit_data").unwrap();
        let server = audit_schema::ServerName::new("db1").unwrap();
        Sink::new(mysql_async::Opts::from_url("mysql://nobody@127.0.0.1:1/x").unwrap(), SinkOptions::new(names, source, server))
    }

    #[test]
    fn out_of_range_settings_are_refused_not_clamped() {
        let build = |f: fn(IngesterBuilder) -> IngesterBuilder| f(Ingester::builder("/nonexistent/audit.log", sink("s"))).build().err().map(|e| e.to_string());
        assert_eq!(build(|b| b.batch_rows(0)), Some("batch rows 0: must be from 1 to 10000".into()));
        assert_eq!(build(|b| b.batch_rows(10_001)), Some("batch rows 10001: must be from 1 to 10000".into()));
        assert!(build(|b| b.heartbeat(Duration::from_secs(61))).is_some_and(|e| e.starts_with("heartbeat every 61s")));
        assert!(build(|b| b.heartbeat(Duration::ZERO)).is_some());
        assert!(build(|b| b.in_flight(0)).is_some());
        assert_eq!(build(|b| b.batch_rows(10_000).heartbeat(Duration::from_secs(60))), None);
        let e = Ingester::builder("/nonexistent/audit.log", sink("")).build().err();
        assert!(matches!(e, Some(IngestError::Config(ConfigError::SourceName(0)))), "{e:?}");
    }

    #[test]
    fn a_port_in_use_is_an_error_of_build() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let e = Ingester::builder("/nonexistent/audit.log", sink("s")).metrics_listen(addr).build().err();
        assert!(matches!(&e, Some(IngestError::Listen { addr: a, .. }) if *a == addr), "{e:?}");
    }
}
