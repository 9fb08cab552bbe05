//! `backfill`'s progress on a terminal: one bar over the bytes of all its files, with rate and ETA
//! (indicatif). Off a terminal indicatif draws nothing, and the per-file lines and the summary are
//! all there is. The bar moves with the bytes of committed batches (`audit_ingest_log_bytes_total`);
//! a compressed or encrypted file's decoded bytes do not measure its size on disk, so such a file
//! moves the bar only when it is done.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ingest::metrics::Metrics;

/// The bar over all files of a run.
pub struct Progress {
    bar: ProgressBar,
    /// Bytes of the files done (their whole size on disk).
    done: u64,
}

impl Progress {
    /// A bar for `total` bytes, drawn on standard error when it is a terminal.
    pub fn new(total: u64) -> Progress {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        // The template is fixed text: it always parses.
        if let Ok(style) = ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}") {
            bar.set_style(style);
        }
        Progress { bar, done: 0 }
    }

    /// Prints `line` above the bar (or plainly, off a terminal).
    pub fn println(&self, line: &str) {
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }

    /// Runs `work` on a file of `size` bytes on disk, moving the bar with `metrics` while it runs
    /// when the file is `plain` (its bytes read are its bytes on disk).
    pub async fn file<T>(&mut self, name: &str, size: u64, plain: bool, metrics: &Arc<Metrics>, work: impl std::future::Future<Output = T>) -> T {
        self.bar.set_message(name.to_string());
        let start = metrics.bytes.load(Relaxed);
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        tokio::pin!(work);
        let out = loop {
            tokio::select! {
                out = &mut work => break out,
                _ = tick.tick(), if plain => {
                    let read = metrics.bytes.load(Relaxed).saturating_sub(start).min(size);
                    self.bar.set_position(self.done + read);
                }
            }
        };
        self.skip(size);
        out
    }

    /// Counts a file of `size` bytes as done (read, or skipped as stored already).
    pub fn skip(&mut self, size: u64) {
        self.done += size;
        self.bar.set_position(self.done);
    }

    /// Removes the bar, leaving the lines printed above it.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
