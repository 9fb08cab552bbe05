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
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use audit_model::{Error as ReadError, Format, MalformedRecord, Position, ReaderOptions, Record};

use crate::checkpoint::{Checkpoint, DoneFile, CHECKPOINT_VERSION};
use crate::decode::{Decoder, Encoding};
use crate::discovery;
use crate::identity::{tail_fingerprint, Fingerprint};
use crate::plan::{self, Queued, Resume};
use crate::sniff::{looks_like, BadStart, NOT_AUDIT_AFTER};
use crate::source::OpenLog;

mod opening;

pub use opening::PERMISSION_HINT;

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
    warnings: Vec<String>,
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
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    fn reader_options(&self, offset: u64) -> ReaderOptions {
        let mut o = ReaderOptions::new().format_opt(self.format).start_offset(offset);
        if let Some(tz) = &self.opts.time_zone {
            o = o.time_zone(tz.clone());
        }
        if let Some(m) = self.opts.max_record {
            o = o.max_record(m);
        }
        o
    }

    /// Reads up to `max` items. An empty result means caught up: call again later.
    pub fn poll(&mut self, max: usize) -> Result<Vec<Item>, FollowError> {
        let mut out = std::mem::take(&mut self.early);
        // Bounded: each pass either reads, or moves to another file, or returns.
        for _ in 0..64 {
            if self.cur.is_none() && !self.open_next()? {
                out.append(&mut self.early);
                return Ok(out);
            }
            out.append(&mut self.early);
            if !self.detect_encoding()? {
                return Ok(out);
            }
            if self.truncated_since_last_poll()? {
                self.restart_truncated();
                continue;
            }
            let Some(cur) = self.cur.as_mut() else { continue };
            let key = cur.log.id.key();
            let mut corrupt = None;
            let mut gave_up = false;
            while out.len() < max && !cur.given_up {
                let event = match cur.log.reader.next() {
                    Some(Ok(r)) => Event::Record(Box::new(r)),
                    Some(Err(ReadError::Malformed(m))) => Event::Malformed(m),
                    Some(Err(ReadError::Io { source, offset })) if cur.log.encoding != Encoding::Plain && matches!(source.kind(), io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput) => {
                        // A corrupt compressed stream: nothing after this point can be decoded.
                        // Reported, and the file given up (never retried: the same bytes would fail again).
                        corrupt = Some((offset, source));
                        break;
                    }
                    Some(Err(ReadError::Io { source, .. })) => return Err(io_err(&cur.log.path)(source)),
                    Some(Err(e)) => Event::Malformed(Box::new(MalformedRecord { position: e.position().unwrap_or_default(), len: 0, reason: e.to_string(), raw: Vec::new() })),
                    None => break,
                };
                match &event {
                    Event::Record(_) => cur.start.good(),
                    Event::Malformed(_) if cur.start.bad() => {
                        cur.given_up = true;
                        gave_up = true;
                    }
                    Event::Malformed(_) => {}
                }
                out.push(Item { file_key: key.clone(), path: cur.log.path.clone(), event, gap: false });
            }
            if gave_up {
                let prefix = crate::decode::decoded_prefix(&cur.log.path, 4096, &self.opts.decoder).unwrap_or_default();
                let read_as = cur.log.reader.format().or(self.format).map_or(String::new(), |f| format!(" of format {}", f.name()));
                self.warnings.push(format!(
                    "{}: not read further: its first {NOT_AUDIT_AFTER} records are all malformed (dead-lettered), so it is no audit log{read_as}: {}",
                    cur.log.path.display(),
                    looks_like(&prefix, cur.log.reader.format().or(self.format))
                ));
            }
            if cur.log.reader.format().is_some() {
                self.format = cur.log.reader.format();
            }
            if let Some((offset, source)) = corrupt {
                out.extend(self.corrupt(offset, &source));
                return Ok(out);
            }
            if !out.is_empty() {
                self.remember_tail()?;
                return Ok(out);
            }
            // At the end of the current file: what happened to it?
            match self.check_current()? {
                FileState::Same => {
                    self.remember_tail()?;
                    return Ok(out);
                }
                FileState::Finished => {
                    self.finish_current(&mut out);
                    if !out.is_empty() {
                        return Ok(out);
                    }
                }
                FileState::Truncated => self.restart_truncated(),
            }
        }
        Ok(out)
    }

    /// A live file opened empty is read once its first bytes say how it is encoded (audit_log_filter
    /// may write it compressed). `Ok(false)` while they do not yet.
    fn detect_encoding(&mut self) -> Result<bool, FollowError> {
        let opts = self.reader_options(0);
        let Some(cur) = self.cur.as_mut().filter(|c| c.undetected) else { return Ok(true) };
        match Encoding::detect(&cur.log.file).map_err(io_err(&cur.log.path))? {
            // Empty: nothing to misread, and a rotation of it is noticed as usual. One byte that may
            // begin a gzip header: wait for the next.
            None => Ok(cur.rotated || cur.log.file.metadata().map_err(io_err(&cur.log.path))?.len() == 0),
            Some(e) => {
                cur.undetected = false;
                if e != cur.log.encoding && cur.log.reader.complete_offset() == 0 {
                    // Through the descriptor held: the path may name another file by now.
                    let path = cur.log.path.clone();
                    let file = cur.log.file.try_clone().map_err(io_err(&path))?;
                    if let Some(log) = OpenLog::open(file, &path, cur.log.id, 0, |_| opts, &self.opts.decoder).map_err(io_err(&path))? {
                        cur.known_tail = Some((log.raw_offset(), log.raw_tail().map_err(io_err(&path))?));
                        cur.log = log;
                    }
                }
                Ok(true)
            }
        }
    }

    /// Gives up the current (compressed or encrypted) file at a decoding error: a dead letter saying where and how
    /// many encoded bytes could not be read; the file is remembered as finished for good.
    fn corrupt(&mut self, offset: u64, source: &io::Error) -> Option<Item> {
        let cur = self.cur.take()?;
        let raw_len = cur.log.file.metadata().map_or(0, |m| m.len());
        tracing::error!(path = %cur.log.path.display(), decoded_offset = offset, "corrupt {} stream: {source}", cur.log.encoding.name());
        let r = &cur.log.reader;
        let m = MalformedRecord {
            position: Position { byte: r.complete_offset(), line: 0 },
            len: r.pending() as u64,
            reason: format!(
                "corrupt {} stream: decoded up to offset {offset}, {} of the file's {raw_len} encoded bytes read; the rest cannot be decoded: {source}",
                cur.log.encoding.name(),
                cur.log.raw_offset()
            ),
            raw: r.pending_bytes()[..r.pending().min(MalformedRecord::MAX_RAW)].to_vec(),
        };
        let end = cur.log.read_offset();
        self.state.add_done(DoneFile { file: cur.log.id, head: cur.log.head(), len: end, encoding: cur.log.encoding, raw_len: u64::MAX, mtime: 0 });
        self.finished = Some(self.checkpoint_for(&cur, end, None));
        Some(Item { file_key: cur.log.id.key(), path: cur.log.path.clone(), event: Event::Malformed(Box::new(m)), gap: false })
    }

    /// Whether the bytes before the current encoded position changed since the last poll ended.
    fn truncated_since_last_poll(&self) -> Result<bool, FollowError> {
        let Some(cur) = self.cur.as_ref() else { return Ok(false) };
        let Some((at, seen)) = cur.known_tail else { return Ok(false) };
        let len = cur.log.file.metadata().map_err(io_err(&cur.log.path))?.len();
        if len < at {
            return Ok(true);
        }
        Ok(tail_fingerprint(&cur.log.file, at).map_err(io_err(&cur.log.path))? != seen)
    }

    fn remember_tail(&mut self) -> Result<(), FollowError> {
        if let Some(cur) = self.cur.as_mut() {
            cur.known_tail = Some((cur.log.raw_offset(), cur.log.raw_tail().map_err(io_err(&cur.log.path))?));
            cur.complete_tail = cur.log.checkpoint_tail();
        }
        Ok(())
    }

    fn check_current(&mut self) -> Result<FileState, FollowError> {
        let Some(cur) = self.cur.as_mut() else { return Ok(FileState::Finished) };
        let meta = cur.log.file.metadata().map_err(io_err(&cur.log.path))?;
        let raw = cur.log.raw_offset();
        if meta.len() < raw {
            return Ok(FileState::Truncated);
        }
        if cur.rotated {
            return Ok(FileState::Finished);
        }
        if cur.given_up {
            // Not read any more: done once the path names another file.
            return Ok(match fs::metadata(&self.path) {
                Ok(m) if cur.log.inode.same_file(&m) => FileState::Same,
                _ => FileState::Finished,
            });
        }
        match fs::metadata(&self.path) {
            Ok(m) if cur.log.inode.same_file(&m) => Ok(FileState::Same),
            // Renamed away, or deleted: read what is left through the descriptor we hold, then move on.
            _ if meta.len() > raw => Ok(FileState::Same),
            _ => Ok(FileState::Finished),
        }
    }

    /// The current file will not grow: a pending partial record is reported, and the file is
    /// remembered as finished.
    fn finish_current(&mut self, out: &mut Vec<Item>) {
        let Some(cur) = self.cur.take() else { return };
        let r = &cur.log.reader;
        let end = cur.log.read_offset();
        if r.pending() > 0 {
            let raw = r.pending_bytes();
            let m = MalformedRecord {
                position: Position { byte: r.complete_offset(), line: 0 },
                len: raw.len() as u64,
                reason: "incomplete record at the end of a file that was rotated away".into(),
                raw: raw[..raw.len().min(MalformedRecord::MAX_RAW)].to_vec(),
            };
            out.push(Item { file_key: cur.log.id.key(), path: cur.log.path.clone(), event: Event::Malformed(Box::new(m)), gap: false });
        }
        let meta = cur.log.file.metadata().ok();
        let mtime = meta.as_ref().map_or(0, |m| i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()));
        // A file given up is never taken to have grown: its rest is no audit log either.
        let raw_len = if cur.given_up { u64::MAX } else { cur.log.raw_offset() };
        self.state.add_done(DoneFile { file: cur.log.id, head: cur.log.head(), len: end, encoding: cur.log.encoding, raw_len, mtime });
        let tail = match cur.log.encoding {
            Encoding::Plain => tail_fingerprint(&cur.log.file, end).ok().flatten(),
            _ => None,
        };
        self.finished = Some(self.checkpoint_for(&cur, end, tail));
    }

    /// The current file was truncated: its unread rest is searched in the copy copytruncate made
    /// (found by content), and its new content is read under a new generation.
    fn restart_truncated(&mut self) {
        let Some(cur) = self.cur.take() else { return };
        let offset = cur.log.reader.complete_offset();
        self.warnings.push(format!("{}: truncated at offset {offset}; reading it again from the start", cur.log.path.display()));
        let resume = Resume { path: cur.log.path.clone(), file: cur.log.id, head: Some(cur.log.head()), offset, tail: cur.complete_tail, seen_len: cur.known_tail.map_or(offset, |(at, _)| at) };
        let found = discovery::discover(&self.path, &self.opts.decoder);
        let copy = found.files.iter().find(|c| !cur.log.inode.same_inode(&c.id) && plan::holds(&resume, c));
        match copy {
            Some(c) => self.queue.push_front(Queued { path: c.path.clone(), id: cur.log.id, inode: c.id, head: resume.head, offset, seen_len: Some(c.meta.len()), live: false }),
            None => {
                let seen = if cur.log.encoding == Encoding::Plain { resume.seen_len } else { offset };
                self.lost(&cur.log.path, cur.log.id, offset, seen, "truncated before it was read to its end, and no copy of it was found");
                self.state.add_done(DoneFile { file: cur.log.id, head: cur.log.head(), len: offset, encoding: cur.log.encoding, raw_len: 0, mtime: 0 });
            }
        }
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

enum FileState {
    /// Still the live file; nothing more yet.
    Same,
    /// Read to the end of a file that will not grow.
    Finished,
    /// Shorter than what was read.
    Truncated,
}
