//! The reading half of the pipeline, on a thread of its own: follower items into batches, each sent
//! with the checkpoint that follows it through a bounded channel to the committer, so the next batch
//! is read and parsed while the previous one commits.
//!
//! Memory stays bounded: at most the batch being built, [`super::PipelineOptions::in_flight`] batches
//! queued and the one being committed exist at once.
//!
//! Batches are cut when full, when caught up in a backfill, at shutdown, or `batch_wait` after their
//! first record; but while the committer still has a batch queued, a batch that is only due by time
//! keeps filling (to its limits): under load batches grow and commits stay few, and a record never
//! waits behind more than one queued batch.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use super::PipelineOptions;
use crate::checkpoint::Checkpoint;
use crate::follower::{FollowError, Follower};
use crate::metrics::Metrics;
use crate::sink::{Batch, Sink};

/// The shortest nap between looks at the file; idle naps double from it up to `max_poll`.
const MIN_NAP: Duration = Duration::from_millis(1);

/// A batch ready to commit, and what to commit with it.
#[derive(Debug)]
pub(super) struct Ready {
    /// The rows.
    pub batch: Batch,
    /// The position just after its last item.
    pub next: Checkpoint,
    /// Gap items among its dead letters.
    pub gaps: u64,
    /// Records the filters dropped on the way (counted when the batch commits).
    pub filtered: u64,
}

/// What the reading thread owns.
pub(super) struct Reader {
    pub follower: Follower,
    /// Makes empty batches for this sink's server and source (no connection is used).
    pub sink: Sink,
    pub max_packet: usize,
    /// Encode each batch's `LOAD DATA` rows here, before handing it over (the sink loads with infile).
    pub encode_for_load: bool,
    /// The `server_id` the log stated last, carried from batch to batch.
    pub log_server_id: Option<u32>,
    pub opts: PipelineOptions,
    pub metrics: Arc<Metrics>,
    pub shutdown: watch::Receiver<bool>,
}

impl Reader {
    /// Reads and sends batches until caught up (backfill), shut down, or the committer has gone
    /// (a reconnect: what was in flight is dropped, and a new reader starts from the committed
    /// checkpoint).
    pub fn run(mut self, tx: mpsc::Sender<Ready>) -> Result<(), FollowError> {
        let mut idle_nap = MIN_NAP;
        loop {
            let mut batch = self.sink.batch(self.max_packet, self.log_server_id);
            let mut next: Option<Checkpoint> = None;
            let mut first_at: Option<Instant> = None;
            let (mut gaps, mut filtered) = (0u64, 0u64);
            loop {
                if tx.is_closed() {
                    return Ok(());
                }
                let room = self.opts.batch_rows.saturating_sub(batch.len()).max(1);
                let items = self.follower.poll(room)?;
                for w in self.follower.take_warnings() {
                    tracing::warn!("{w}");
                }
                for item in &items {
                    if item.gap {
                        // Dead-lettered like a malformed record (reason "gap: N bytes from offset ...").
                        gaps += 1;
                    }
                    if !batch.push_item(item, |r| self.opts.filter.keep(r)) {
                        filtered += 1;
                    }
                }
                if !items.is_empty() {
                    next = self.follower.checkpoint();
                    first_at.get_or_insert_with(Instant::now);
                    idle_nap = MIN_NAP;
                }
                if batch.len() >= self.opts.batch_rows || batch.bytes() >= self.opts.batch_bytes {
                    break;
                }
                if !items.is_empty() {
                    continue;
                }
                self.metrics.bytes_behind.store(self.follower.bytes_behind(), Relaxed);
                let stopping = *self.shutdown.borrow();
                if next.is_some() {
                    if stopping || self.opts.exit_when_caught_up {
                        break;
                    }
                    let due = first_at.is_some_and(|t| t.elapsed() >= self.opts.batch_wait);
                    if due && tx.capacity() > 0 {
                        break;
                    }
                    // Due but the committer is busy, or not due yet: look again soon.
                    std::thread::sleep(MIN_NAP);
                } else {
                    if stopping || self.opts.exit_when_caught_up {
                        return Ok(());
                    }
                    // Back off while idle: 1 ms doubling to max_poll, as file shippers do.
                    std::thread::sleep(idle_nap);
                    idle_nap = (idle_nap * 2).min(self.opts.max_poll.max(MIN_NAP));
                }
            }
            let Some(next) = next else { continue };
            self.log_server_id = batch.log_server_id();
            if self.encode_for_load && batch.records() > 0 {
                batch.encode_for_load();
            }
            if tx.blocking_send(Ready { batch, next, gaps, filtered }).is_err() {
                return Ok(());
            }
        }
    }
}
