//! The committing half of the pipeline: one connection attempt's run. It starts a [`Reader`] from
//! the committed checkpoint, then commits what the reader sends, one batch at a time in the order
//! read, each with the checkpoint committed before it as `prev` (so batch N+1's checkpoint can only
//! follow batch N's), and touches the heartbeat while idle.

use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, watch};

use super::reader::{Reader, Ready};
use super::{writes_accepted, PipelineError, PipelineOptions, Summary};
use crate::checkpoint::Checkpoint;
use crate::follower::{FollowOptions, Follower};
use crate::metrics::Metrics;
use crate::sink::{Batch, LoadMethod, Sink};

/// Reads from the committed checkpoint and commits until caught up (backfill), shut down, or an
/// error. On an error the batches in flight are dropped: the reader stops at its next look, and
/// the caller's next attempt reads them again from the committed checkpoint.
pub(super) async fn run_once(
    sink: &Sink,
    path: &Path,
    follow: &FollowOptions,
    opts: &PipelineOptions,
    metrics: &Arc<Metrics>,
    shutdown: &watch::Receiver<bool>,
    summary: &mut Summary,
) -> Result<(), PipelineError> {
    let committed = sink.load_committed().await?;
    let mut prev: Option<Checkpoint> = committed.checkpoint;
    let follower = Follower::new(path, prev.as_ref(), follow.clone())?;
    if prev.is_none() {
        // Commit where a new source starts before reading anything: a restart after a crash then
        // finds this file by identity even if it was rotated meanwhile.
        if let Some(start) = follower.checkpoint() {
            sink.commit(&Batch::empty(), None, &start).await?;
            prev = Some(start);
        }
    }
    let max_packet = sink.max_packet().await?;
    let encode_for_load = sink.load_method().await? == LoadMethod::Infile;
    let (tx, mut rx) = mpsc::channel(opts.in_flight.max(1));
    let reader = Reader {
        follower,
        sink: sink.clone(),
        max_packet,
        encode_for_load,
        log_server_id: committed.log_server_id,
        opts: opts.clone(),
        metrics: metrics.clone(),
        shutdown: shutdown.clone(),
    };
    let reading = tokio::task::spawn_blocking(move || reader.run(tx));
    let committing = commit_all(sink, path, &mut rx, prev, opts, metrics, summary).await;
    // Whatever is still queued is dropped with the channel; the reader sees it closed and stops
    // (within one nap), and its follower and files are released before any new one opens.
    drop(rx);
    let read = match reading.await {
        Ok(r) => r,
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            // Cancelled: the runtime is shutting down.
            Err(_) => Ok(()),
        },
    };
    committing?;
    read?;
    Ok(())
}

/// Commits batches as they come until the reader is done; the heartbeat is touched after
/// `opts.heartbeat` without a commit.
async fn commit_all(
    sink: &Sink,
    path: &Path,
    rx: &mut mpsc::Receiver<Ready>,
    mut prev: Option<Checkpoint>,
    opts: &PipelineOptions,
    metrics: &Metrics,
    summary: &mut Summary,
) -> Result<(), PipelineError> {
    let mut last_touch = Instant::now().checked_sub(opts.heartbeat).unwrap_or_else(Instant::now);
    loop {
        let wait = opts.heartbeat.saturating_sub(last_touch.elapsed());
        let ready = match tokio::time::timeout(wait, rx.recv()).await {
            Ok(Some(ready)) => ready,
            // The reader is done (caught up, or shut down) and everything it sent is committed.
            Ok(None) => return Ok(()),
            Err(_) => {
                sink.heartbeat(path).await?;
                writes_accepted(metrics);
                last_touch = Instant::now();
                metrics.last_commit.store(jiff::Timestamp::now().as_second(), Relaxed);
                continue;
            }
        };
        let Ready { batch, next, gaps, filtered } = ready;
        let stored = sink.commit(&batch, prev.as_ref(), &next).await?;
        writes_accepted(metrics);
        last_touch = Instant::now();
        summary.records += stored.records;
        summary.replayed += batch.records() as u64 - stored.records.min(batch.records() as u64);
        summary.dead_letters += stored.dead_letters;
        summary.gaps += gaps;
        summary.filtered += filtered;
        summary.batches += 1;
        metrics.records.fetch_add(stored.records, Relaxed);
        metrics.dead_letters.fetch_add(stored.dead_letters, Relaxed);
        metrics.filtered.fetch_add(filtered, Relaxed);
        metrics.bytes.fetch_add(batch.log_bytes(), Relaxed);
        metrics.add_failed_logins(&stored.failed_logins);
        metrics.last_commit.store(jiff::Timestamp::now().as_second(), Relaxed);
        tracing::debug!(records = stored.records, dead = stored.dead_letters, offset = next.offset, "committed");
        prev = Some(next);
    }
}
