//! Follows one audit log through appends, rotation (any naming scheme), copytruncate, compression,
//! truncation, deletion and re-creation, and restarts from a checkpoint.
//!
//! Synchronous and free of any database: it turns a path and a checkpoint into records, each with the
//! identity of the file it came from, and says where it stands after them. The caller commits records
//! and that position together.
//!
//! How it stays exact:
//! - It holds the open file. When the path starts naming another file (rotation), it reads the old one
//!   to its end through the descriptor it holds, then decides what to read next ([`crate::plan`]).
//! - Files are known by what they are: identity (device, inode, birth time) and the fingerprint of
//!   their first decoded bytes. The checkpoint remembers the files finished, so a rotated file is not
//!   read again whatever it is renamed to, copied to or compressed into, and a file never seen is
//!   read whatever its name ([`crate::discovery`] lists them, oldest first).
//! - A file shorter than the offset, or whose bytes before the offset changed, was truncated: the copy
//!   that copytruncate made is found by content for the unread rest, and the file is read again from 0
//!   under a new generation (so its offsets are new identities).
//! - A record left incomplete at the end of a file that will not grow again (rotated away) is reported
//!   as malformed, never half-stored and never silently dropped; bytes known to exist that can no
//!   longer be read (a file deleted before it was read) are reported as a gap item.
//! - A file that cannot be opened (permissions) is reported once and tried again at every poll.

use std::collections::{HashMap, VecDeque};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use audit_model::{Format, MalformedRecord, Record};

use crate::checkpoint::{Checkpoint, DoneFile, CHECKPOINT_VERSION};
use crate::decode::Decoder;
use crate::identity::Fingerprint;
use crate::sniff::BadStart;
use crate::source::OpenLog;

// Split as file shippers do (Vector's file source): finding the files, deciding what to read after
// a restart or a rotation, and reading the one open.
mod discovery;
mod opening;
mod plan;
mod read;
mod warning;

use plan::Queued;

pub use opening::PERMISSION_HINT;
pub use warning::Warning;

/// Where a follower without a checkpoint starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartAt {
    /// From the first byte of the live file (the default: history is read).
    #[default]
    Beginning,
    /// From the live file's current end (history skipped).
    End,
}

/// How a follower reads.
#[derive(Debug, Clone, Default)]
pub struct FollowOptions {
    /// The format, or `None` to recognise it from the first file's first record.
    pub format: Option<Format>,
    /// The zone of zone-less timestamps.
    pub time_zone: Option<jiff::tz::TimeZone>,
    /// Where to start without a checkpoint.
    pub start_at: StartAt,
    /// Largest record accepted (default: audit-model's).
    pub max_record: Option<usize>,
    /// The password of encrypted files (`.enc`, recognised by their `Salted__` header).
    pub decoder: Decoder,
    /// Files whose content other sources stored already (see [`crate::known`]), for a new source: a
    /// file with such content is read only past what was stored, its rows keyed like the original's.
    pub known: Vec<DoneFile>,
}

/// One thing read: a record or a malformed record, with the file it came from.
#[derive(Debug)]
pub struct Item {
    /// The file's [`crate::identity::FileId::key`].
    pub file_key: String,
    /// The path the file was opened by.
    pub path: PathBuf,
    /// What was read.
    pub event: Event,
    /// A gap: `event` is a [`Event::Malformed`] with no raw bytes whose `len` bytes at its position
    /// could not be read (the file vanished or was truncated before they were read).
    pub gap: bool,
}

/// A record or a malformed one.
#[derive(Debug)]
pub enum Event {
    /// A complete record.
    Record(Box<Record>),
    /// Bytes that are no record (or were lost: a gap), to be dead-lettered.
    Malformed(Box<MalformedRecord>),
}

impl Event {
    /// The byte offset the item starts at.
    pub fn offset(&self) -> u64 {
        match self {
            Event::Record(r) => r.span().start,
            Event::Malformed(m) => m.position.byte,
        }
    }
}

/// A follower's errors: I/O on the log files.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// Reading a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> FollowError + '_ {
    move |source| FollowError::Io { path: path.to_path_buf(), source }
}

#[derive(Debug)]
struct Current {
    log: OpenLog,
    /// Read from the queue (a rotated file that will not grow) rather than the live path.
    rotated: bool,
    /// Empty when opened: its encoding is decided once its first bytes are there.
    undetected: bool,
    /// The encoded position and the fingerprint of the bytes before it at the end of the last poll,
    /// checked at the start of the next: a truncation that regrew the file past it changes it.
    known_tail: Option<(u64, Option<Fingerprint>)>,
    /// Fingerprint of the decoded bytes before the complete offset at the end of the last poll (to
    /// find a copytruncate copy once the file is truncated).
    complete_tail: Option<Fingerprint>,
    /// Malformed records in a row before the first good one.
    start: BadStart,
    /// Taken for no audit log (of the format read): not read further.
    given_up: bool,
}

/// Follows one path. See the module docs.
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    opts: FollowOptions,
    format: Option<Format>,
    cur: Option<Current>,
    queue: VecDeque<Queued>,
    /// Where the next file opened from the live path starts (used once, for `StartAt::End`).
    live_start: Option<u64>,
    /// Files finished, generations handed out (the checkpoint's lists).
    state: Checkpoint,
    /// Warnings for the operator (a checkpoint's file was not found, ...), drained by the caller.
    warnings: Vec<Warning>,
    /// Items to hand out with the next poll (gaps, found outside a poll).
    early: Vec<Item>,
    /// The position at the end of the last file finished, while no other file is open.
    finished: Option<Checkpoint>,
    /// Files that could not be read, reported once each (path → error).
    unreadable: HashMap<PathBuf, String>,
    /// Since when the followed path has been missing, and when that was last said.
    missing: Option<(Instant, Instant)>,
}

impl Follower {
    /// Starts following `path` from `checkpoint` (or per `opts.start_at` without one).
    pub fn new(path: impl Into<PathBuf>, checkpoint: Option<&Checkpoint>, opts: FollowOptions) -> Result<Follower, FollowError> {
        let path = path.into();
        let format = checkpoint.and_then(|c| c.format.as_deref()).and_then(|f| f.parse().ok()).or(opts.format);
        let state = checkpoint.cloned().unwrap_or_default();
        let mut f = Follower { path, format, opts, cur: None, queue: VecDeque::new(), live_start: None, state, warnings: Vec::new(), early: Vec::new(), finished: None, unreadable: HashMap::new(), missing: None };
        let found = discovery::discover(&f.path, &f.opts.decoder);
        f.report_unreadable(&found);
        match checkpoint {
            Some(ck) => f.plan_resume(ck, &found),
            None => {
                if f.opts.start_at == StartAt::End {
                    f.live_start = Some(crate::source::TO_END);
                }
                // Files present before the source starts are history, not read (backfill reads them);
                // but if the live path is not there yet, files rotated just now hold records we must
                // not miss.
                for d in f.opts.known.clone() {
                    f.state.add_done(d);
                }
                let fresh = (!f.path.exists()).then(|| nanos(SystemTime::now() - Duration::from_secs(1)));
                for c in found.files.iter().filter(|c| !c.live && fresh.is_none_or(|t| c.mtime < t)) {
                    f.state.add_done(plan::history(c));
                }
                f.queue.extend(plan::plan(None, &mut f.state, &found.files).queue);
            }
        }
        // Hold the file from now on, so a rotation or truncation before the first poll is seen as
        // one; a new source's caller commits this first position before reading (see `checkpoint`).
        f.open_next()?;
        Ok(f)
    }

    /// The path followed.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The format being read, once known.
    pub fn format(&self) -> Option<Format> {
        self.cur.as_ref().and_then(|c| c.log.reader.format()).or(self.format)
    }

    /// Warnings since the last call (files that could not be found, data that may be missing).
    pub fn take_warnings(&mut self) -> Vec<Warning> {
        std::mem::take(&mut self.warnings)
    }

    fn checkpoint_for(&self, cur: &Current, offset: u64, tail: Option<Fingerprint>) -> Checkpoint {
        Checkpoint {
            version: CHECKPOINT_VERSION,
            path: cur.log.path.clone(),
            file: cur.log.id,
            offset,
            tail,
            head: Some(cur.log.head()),
            encoding: Some(cur.log.encoding),
            seen_len: cur.log.read_offset().max(offset),
            format: self.format().map(|f| f.name().to_string()),
            saved_at: 0,
            ..Checkpoint::default()
        }
    }

    /// The position after everything returned so far, to commit with those items. `None` before any
    /// file was opened.
    pub fn checkpoint(&self) -> Option<Checkpoint> {
        let mut ck = match self.cur.as_ref() {
            Some(cur) => self.checkpoint_for(cur, cur.log.reader.complete_offset(), cur.log.checkpoint_tail()),
            None => self.finished.clone()?,
        };
        ck.version = CHECKPOINT_VERSION;
        ck.done.clone_from(&self.state.done);
        ck.done_before = self.state.done_before;
        ck.max_generation = self.state.max_generation;
        ck.saved_at = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        Some(ck)
    }

    /// Bytes of the live path not read yet (for `status` and metrics).
    pub fn bytes_behind(&self) -> u64 {
        let live = fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        match &self.cur {
            Some(c) if !c.rotated => live.saturating_sub(c.log.raw_offset()),
            _ => live,
        }
    }
}

fn nanos(t: SystemTime) -> i128 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i128)
}
