//! The loop that joins a follower and a sink: read a batch, commit it with its checkpoint, repeat;
//! reconnect with backoff and resume from the committed checkpoint when the server goes away.
//!
//! File reads are synchronous and short (the page cache); the loop runs them inline on its task.

use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::checkpoint::Checkpoint;
use crate::follower::{FollowError, FollowOptions, Follower};
use crate::metrics::Metrics;
use crate::filter::RecordFilter;
use crate::sink::{Batch, ErrorClass, Sink, SinkError};

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
    /// Longest backoff between reconnects.
    pub max_backoff: Duration,
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
            max_backoff: Duration::from_secs(30),
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
    let mut summary = Summary::default();
    let mut backoff = Duration::from_millis(100);
    let mut lock = None;
    let mut started = false;
    loop {
        let batches_before = summary.batches;
        let attempt = async {
            if lock.is_none() {
                lock = Some(sink.lock_source().await?);
            }
            if !started {
                sink.heartbeat(&path).await?;
                started = true;
            }
            run_once(sink, &path, &follow, opts, &metrics, &mut shutdown, &mut summary).await
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

async fn run_once(
    sink: &Sink,
    path: &std::path::Path,
    follow: &FollowOptions,
    opts: &PipelineOptions,
    metrics: &Metrics,
    shutdown: &mut watch::Receiver<bool>,
    summary: &mut Summary,
) -> Result<(), PipelineError> {
    let committed = sink.load_committed().await?;
    let mut prev: Option<Checkpoint> = committed.checkpoint;
    let mut log_server_id = committed.log_server_id;
    let mut follower = Follower::new(path, prev.as_ref(), follow.clone())?;
    if prev.is_none() {
        // Commit where a new source starts before reading anything: a restart after a crash then
        // finds this file by identity even if it was rotated meanwhile.
        if let Some(start) = follower.checkpoint() {
            sink.commit(&Batch::empty(), None, &start).await?;
            prev = Some(start);
        }
    }
    let max_packet = sink.max_packet().await?;
    let mut last_touch = Instant::now() - opts.heartbeat;
    let mut idle_sleep = Duration::from_millis(1);
    loop {
        let mut batch = sink.batch(max_packet, log_server_id);
        let mut next: Option<Checkpoint> = None;
        let mut first_at: Option<Instant> = None;
        let mut batch_gaps = 0u64;
        loop {
            let room = opts.batch_rows.saturating_sub(batch.len()).max(1);
            let items = follower.poll(room)?;
            for w in follower.take_warnings() {
                tracing::warn!("{w}");
            }
            for item in &items {
                if item.gap {
                    // Dead-lettered like a malformed record (reason "gap: N bytes from offset ...").
                    batch_gaps += 1;
                }
                if !batch.push_item(item, |r| opts.filter.keep(r)) {
                    metrics.filtered.fetch_add(1, Relaxed);
                    summary.filtered += 1;
                }
            }
            if !items.is_empty() {
                next = follower.checkpoint();
                first_at.get_or_insert_with(Instant::now);
                idle_sleep = Duration::from_millis(1);
            }
            if batch.len() >= opts.batch_rows || batch.bytes() >= opts.batch_bytes {
                break;
            }
            if items.is_empty() {
                metrics.bytes_behind.store(follower.bytes_behind(), Relaxed);
                let stopping = *shutdown.borrow();
                if next.is_some() && (stopping || opts.exit_when_caught_up || first_at.is_some_and(|t| t.elapsed() >= opts.batch_wait)) {
                    break;
                }
                if next.is_none() {
                    if stopping || opts.exit_when_caught_up {
                        return Ok(());
                    }
                    if last_touch.elapsed() >= opts.heartbeat {
                        sink.heartbeat(path).await?;
                        writes_accepted(metrics);
                        last_touch = Instant::now();
                        metrics.last_commit.store(jiff::Timestamp::now().as_second(), Relaxed);
                    }
                }
                // Back off while idle: 1 ms doubling to max_poll, as file shippers do.
                tokio::select! {
                    _ = tokio::time::sleep(idle_sleep) => {}
                    _ = shutdown.changed() => {}
                }
                idle_sleep = (idle_sleep * 2).min(opts.max_poll);
            }
        }
        let Some(next_ck) = next else { continue };
        let stored = sink.commit(&batch, prev.as_ref(), &next_ck).await?;
        writes_accepted(metrics);
        last_touch = Instant::now();
        log_server_id = batch.log_server_id();
        summary.records += stored.records;
        summary.replayed += batch.records() as u64 - stored.records.min(batch.records() as u64);
        summary.dead_letters += stored.dead_letters;
        summary.gaps += batch_gaps;
        summary.batches += 1;
        metrics.records.fetch_add(stored.records, Relaxed);
        metrics.dead_letters.fetch_add(stored.dead_letters, Relaxed);
        metrics.bytes.fetch_add(batch.log_bytes(), Relaxed);
        metrics.observe_logins(&stored.logins);
        metrics.bytes_behind.store(follower.bytes_behind(), Relaxed);
        metrics.last_commit.store(jiff::Timestamp::now().as_second(), Relaxed);
        tracing::debug!(records = stored.records, dead = stored.dead_letters, offset = next_ck.offset, "committed");
        prev = Some(next_ck);
    }
}
