//! The loop that joins a follower and a sink: batches read on one side, committed with their
//! checkpoints on the other, in order; reconnect with backoff and resume from the committed
//! checkpoint when the server goes away.
//!
//! Two halves joined by a bounded channel, so reading and parsing the next batch overlaps the commit
//! of the previous one ([`reader`], on a blocking thread: file reads are synchronous) while one
//! committer ([`committer`]) commits them strictly in the order read, each checked against the
//! checkpoint committed before it. On a database error the committer stops, the batches in flight are
//! dropped with the reader, and the next attempt reads again from the committed checkpoint: exactly
//! once, as with one batch at a time.

mod committer;
mod reader;

use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::filter::RecordFilter;
use crate::follower::{FollowError, FollowOptions};
use crate::metrics::Metrics;
use crate::sink::{ErrorClass, Sink, SinkError};

/// How the pipeline batches and waits.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// Rows a batch at most.
    pub batch_rows: usize,
    /// Bytes a batch at most (keep well under the server's `max_allowed_packet`).
    pub batch_bytes: usize,
    /// How long the first record of a batch may wait for more.
    pub batch_wait: Duration,
    /// Longest sleep between looks at an idle file.
    pub max_poll: Duration,
    /// How often the heartbeat is touched while idle.
    pub heartbeat: Duration,
    /// Stop when caught up (backfill) instead of following.
    pub exit_when_caught_up: bool,
    /// Which records to store.
    pub filter: RecordFilter,
    /// Leave out the records of the sink's own connections (its writes, which the server it writes
    /// to logs): [`run`] sets [`RecordFilter::own`] to [`Sink::own_connections`] unless the filter
    /// has a set already. Default true.
    pub exclude_own: bool,
    /// Longest backoff between reconnects.
    pub max_backoff: Duration,
    /// Batches read ahead and queued for the committer while it commits one (at least 1): memory
    /// holds at most this many plus two.
    pub in_flight: usize,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            batch_rows: 1000,
            batch_bytes: 4 << 20,
            batch_wait: Duration::from_millis(50),
            max_poll: Duration::from_millis(100),
            heartbeat: Duration::from_secs(30),
            exit_when_caught_up: false,
            filter: RecordFilter::default(),
            exclude_own: true,
            max_backoff: Duration::from_secs(30),
            in_flight: 1,
        }
    }
}

/// The pipeline's errors.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Database.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// The server refused the ingester's first writes: a privilege is missing or the server is
    /// read-only for the account (the error says what to grant). Once it has run, a refusal makes it
    /// wait instead.
    #[error("the server refuses audit-ingest's writes: {0}")]
    Refused(SinkError),
    /// Log files.
    #[error(transparent)]
    Follow(#[from] FollowError),
}

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Records stored.
    pub records: u64,
    /// Records read that the table already held (a replay), not stored again.
    pub replayed: u64,
    /// Malformed records dead-lettered (gaps included).
    pub dead_letters: u64,
    /// Gaps: bytes that could not be read any more (a rotated file deleted unread), dead-lettered.
    pub gaps: u64,
    /// Records dropped by filters.
    pub filtered: u64,
    /// Batches committed.
    pub batches: u64,
}

/// Runs until `shutdown` turns true (or, with `exit_when_caught_up`, until caught up). Transient
/// database errors reconnect with capped exponential backoff; the log file is the buffer meanwhile.
///
/// The first write (a heartbeat) shows whether the server takes the ingester's writes: a refusal then
/// ends the run with [`PipelineError::Refused`], which names what to grant. A refusal after that (a
/// REVOKE, `read_only` switched on, a failover) makes it wait and retry with backoff, counted in
/// [`Metrics::refused_writes`] and shown by [`Metrics::writes_refused`], and resume where it stopped.
pub async fn run(
    sink: &Sink,
    path: PathBuf,
    follow: FollowOptions,
    opts: &PipelineOptions,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<Summary, PipelineError> {
    let with_own;
    let opts = if opts.exclude_own && opts.filter.own.is_none() {
        with_own = PipelineOptions { filter: RecordFilter { own: Some(sink.own_connections()), ..opts.filter.clone() }, ..opts.clone() };
        &with_own
    } else {
        opts
    };
    let mut summary = Summary::default();
    let mut backoff = Duration::from_millis(100);
    let mut lock = None;
    let mut started = false;
    // Since when the database has been unreachable, to say when it is back.
    let mut outage: Option<Instant> = None;
    loop {
        let batches_before = summary.batches;
        let attempt = async {
            if lock.is_none() {
                lock = Some(sink.lock_source().await?);
                if let Some(since) = outage.take() {
                    // At the level of the outage's warnings, so whoever saw them sees this too.
                    tracing::warn!(database = %sink.address(), after = ?since.elapsed(), "reconnected: the database is reachable again; resuming from the committed checkpoint");
                }
            }
            if !started {
                sink.heartbeat(&path).await?;
                started = true;
            }
            committer::run_once(sink, &path, &follow, opts, &metrics, &shutdown, &mut summary).await
        };
        let error = match attempt.await {
            Ok(()) => return Ok(summary),
            Err(PipelineError::Sink(e)) => e,
            Err(e) => return Err(e),
        };
        if summary.batches > batches_before {
            // It worked for a while since the last failure: a new outage starts short.
            backoff = Duration::from_millis(100);
        }
        match error.class() {
            ErrorClass::Transient => {
                metrics.reconnects.fetch_add(1, Relaxed);
                if matches!(error, SinkError::Locked(_)) {
                    tracing::warn!(error = %error, retry_in = ?backoff, "another audit-ingest holds this source; standing by until it stops");
                } else {
                    tracing::warn!(error = %error, retry_in = ?backoff, "database unavailable; will resume from the committed checkpoint");
                    outage.get_or_insert_with(Instant::now);
                }
            }
            ErrorClass::Refused if started => {
                metrics.refused_writes.fetch_add(1, Relaxed);
                metrics.writes_refused.store(1, Relaxed);
                tracing::error!(error = %error, retry_in = ?backoff, "the server refuses audit-ingest's writes; waiting (nothing is lost: the log is read on from the checkpoint when writes are accepted again)");
            }
            ErrorClass::Refused => return Err(PipelineError::Refused(error)),
            ErrorClass::Fatal => return Err(error.into()),
        }
        // The lock died with its connection, if the server went away.
        lock = None;
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            return Ok(summary);
        }
        backoff = (backoff * 2).min(opts.max_backoff);
    }
}

/// After a successful write: clears the refused state, saying so once.
fn writes_accepted(metrics: &Metrics) {
    if metrics.writes_refused.swap(0, Relaxed) == 1 {
        tracing::info!("the server takes audit-ingest's writes again; catching up");
    }
}

