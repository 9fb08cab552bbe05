//! Follows one audit log through appends, rotation by rename, copytruncate, truncation, deletion and
//! re-creation, and restarts from a checkpoint.
//!
//! Synchronous and free of any database: it turns a path and a checkpoint into records, each with the
//! identity of the file it came from, and says where it stands after them. The caller commits records
//! and that position together.
//!
//! How it stays exact:
//! - It holds the open file. When the path starts naming another file (rotation), it reads the old one
//!   to its end through the descriptor it holds, then opens the new one from offset 0.
//! - At a restart it finds the checkpoint's file by device and inode (and birth time) among the path and
//!   its rotated siblings, checks the bytes before the saved offset, reads that file's rest, then the
//!   siblings rotated after it, oldest first, then the path.
//! - A file shorter than the offset, or whose bytes before the offset changed, was truncated: the
//!   copy that copytruncate made is searched for the unread rest, and the file is read again from 0
//!   under a new generation (so its offsets are new identities).
//! - A record left incomplete at the end of a file that will not grow again (rotated away) is reported
//!   as malformed, never half-stored and never silently dropped.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::{self, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use audit_model::{Error as ReadError, Format, MalformedRecord, Position, ReaderOptions, Record, RecordReader};

use crate::checkpoint::{Checkpoint, CHECKPOINT_VERSION};
use crate::identity::{open_with_meta, tail_fingerprint, FileId};

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
}

/// One thing read: a record or a malformed record, with the file it came from.
#[derive(Debug)]
pub struct Item {
    /// The file's [`FileId::key`].
    pub file_key: String,
    /// The path the file was opened by.
    pub path: PathBuf,
    /// What was read.
    pub event: Event,
}

/// A record or a malformed one.
#[derive(Debug)]
pub enum Event {
    /// A complete record.
    Record(Box<Record>),
    /// Bytes that are no record, to be dead-lettered.
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

/// A file to read before the live path.
#[derive(Debug, Clone)]
struct Queued {
    path: PathBuf,
    id: Option<FileId>,
    offset: u64,
}

#[derive(Debug)]
struct Current {
    reader: RecordReader<BufReader<File>>,
    id: FileId,
    path: PathBuf,
    /// Read from the queue (a rotated file that will not grow) rather than the live path.
    rotated: bool,
    /// The fingerprint of the bytes before the read position at the end of the last poll, checked at
    /// the start of the next: a truncation that regrew the file past it in between changes it.
    known_tail: Option<(u64, Option<(u32, u64)>)>,
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
    /// Generation of the next live file, so a truncated inode gets new identities.
    next_generation: Option<(FileId, u32)>,
    /// Warnings for the operator (a checkpoint's file was not found, ...), drained by the caller.
    warnings: Vec<String>,
    /// The position at the end of the last file finished, while no other file is open.
    finished: Option<Checkpoint>,
    /// Set until the first file is opened when starting without a checkpoint: files rotated away
    /// after this moment, before the live path was first seen, are read first.
    fresh_since: Option<SystemTime>,
}

impl Follower {
    /// Starts following `path` from `checkpoint` (or per `opts.start_at` without one).
    pub fn new(path: impl Into<PathBuf>, checkpoint: Option<&Checkpoint>, opts: FollowOptions) -> Result<Follower, FollowError> {
        let path = path.into();
        let format = checkpoint.and_then(|c| c.format.as_deref()).and_then(|f| f.parse().ok()).or(opts.format);
        let mut f = Follower { path, format, opts, cur: None, queue: VecDeque::new(), live_start: None, next_generation: None, warnings: Vec::new(), finished: None, fresh_since: None };
        match checkpoint {
            Some(ck) => f.plan_resume(ck)?,
            None => {
                if f.opts.start_at == StartAt::End {
                    f.live_start = Some(fs::metadata(&f.path).map(|m| m.len()).unwrap_or(0));
                } else if !f.path.exists() {
                    // Not there yet: if it appears and rotates before we look, its rotated files
                    // (newer than now) hold records we must not miss.
                    f.fresh_since = Some(SystemTime::now() - std::time::Duration::from_secs(1));
                }
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
        self.cur.as_ref().and_then(|c| c.reader.format()).or(self.format)
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

    /// Decides what to read after a restart: find the checkpoint's file by identity (at the live path
    /// or among the rotated siblings), read its rest (or, if it was truncated meanwhile, the rest from
    /// its copy and then it again from 0 under a new generation), then the files rotated after it.
    fn plan_resume(&mut self, ck: &Checkpoint) -> Result<(), FollowError> {
        let siblings = self.siblings();
        let live = fs::metadata(&self.path).ok().filter(|m| ck.file.same_file(m));
        let pos = siblings.iter().position(|(_, m)| ck.file.same_file(m));
        let (path, meta) = match (live, pos) {
            (Some(m), _) => (self.path.clone(), m),
            (None, Some(i)) => siblings[i].clone(),
            (None, None) => {
                self.warnings.push(format!(
                    "{}: the checkpoint's file ({}, offset {}) is gone; reading the files rotated since the checkpoint, records written in between may be missing",
                    self.path.display(),
                    ck.path.display(),
                    ck.offset
                ));
                let since = UNIX_EPOCH + std::time::Duration::from_secs(ck.saved_at.max(0) as u64);
                for (p, m) in siblings.iter().filter(|(_, m)| m.modified().is_ok_and(|t| t > since)) {
                    self.queue.push_back(Queued { path: p.clone(), id: Some(FileId::of(m)), offset: 0 });
                }
                return Ok(());
            }
        };
        let intact = meta.len() >= ck.offset && File::open(&path).ok().and_then(|f| tail_fingerprint(&f, ck.offset).ok().flatten()) == ck.tail;
        if intact {
            self.queue.push_back(Queued { path: path.clone(), id: Some(ck.file), offset: ck.offset });
        } else {
            self.warnings.push(format!("{}: truncated since the checkpoint (offset {}); reading it again from the start", path.display(), ck.offset));
            if let Some(copy) = self.find_copy(ck.offset, ck.tail, ck.offset) {
                self.queue.push_back(Queued { path: copy, id: None, offset: ck.offset });
            }
            let next_gen = FileId { generation: ck.file.generation + 1, ..ck.file };
            self.queue.push_back(Queued { path: path.clone(), id: Some(next_gen), offset: 0 });
        }
        if let (None, Some(i)) = (fs::metadata(&self.path).ok().filter(|m| ck.file.same_file(m)), pos) {
            for (p, m) in &siblings[i + 1..] {
                self.queue.push_back(Queued { path: p.clone(), id: Some(FileId::of(m)), offset: 0 });
            }
        }
        Ok(())
    }

    /// Rotated siblings of the path: same folder, names that start with the path's stem and are not
    /// the path itself, not compressed or encrypted. Oldest first.
    fn siblings(&self) -> Vec<(PathBuf, fs::Metadata)> {
        let dir = self.path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let Some(name) = self.path.file_name().and_then(|n| n.to_str()) else { return Vec::new() };
        // `audit.log` rotates to `audit.log.1`; audit_log_filter's `audit_filter.log` to
        // `audit_filter.20250401T120000-1.log`.
        let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
        let mut out: Vec<_> = fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let n = e.file_name().into_string().ok()?;
                if n == name || !n.starts_with(stem) || n.ends_with(".gz") || n.ends_with(".enc") {
                    return None;
                }
                let p = e.path();
                let m = fs::metadata(&p).ok()?;
                m.is_file().then_some((p, m))
            })
            .collect();
        // Oldest first: `audit.log.9` .. `audit.log.1` (numbered rotation shifts older files up), and
        // timestamped names (`audit_filter.20250401T120000-1.log`) in name order.
        let order = |p: &Path| -> (u8, std::cmp::Reverse<u64>, PathBuf) {
            let n = p.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_prefix(name)).and_then(|s| s.strip_prefix('.')).and_then(|d| d.parse::<u64>().ok());
            match n {
                Some(n) => (0, std::cmp::Reverse(n), PathBuf::new()),
                None => (1, std::cmp::Reverse(0), p.to_path_buf()),
            }
        };
        out.sort_by_key(|(p, _)| order(p));
        out
    }

    /// The newest sibling at least `min_len` long holding the bytes fingerprinted by `tail` before
    /// `at` (a copytruncate copy).
    fn find_copy(&self, at: u64, tail: Option<(u32, u64)>, min_len: u64) -> Option<PathBuf> {
        // Newest first: copytruncate has just made the copy.
        self.siblings().into_iter().rev().find_map(|(p, m)| {
            (m.len() >= min_len && File::open(&p).ok().and_then(|f| tail_fingerprint(&f, at).ok().flatten()) == tail).then_some(p)
        })
    }

    /// Opens the next file: the queue's head, else the live path. `Ok(false)` when there is none yet.
    fn open_next(&mut self) -> Result<bool, FollowError> {
        // After a file that was rotated away: the live file may have rotated again before we got
        // here, so the files rotated after the finished one (oldest first) come before the live path.
        if self.queue.is_empty() {
            if let Some(fin) = &self.finished {
                let siblings = self.siblings();
                if let Some(i) = siblings.iter().position(|(_, m)| fin.file.same_file(m)) {
                    for (p, m) in &siblings[i + 1..] {
                        self.queue.push_back(Queued { path: p.clone(), id: Some(FileId::of(m)), offset: 0 });
                    }
                }
            }
        }
        if let Some(mut q) = self.queue.pop_front() {
            // Rotated again since it was queued: find it by identity.
            if let Some(want) = q.id {
                if !fs::metadata(&q.path).is_ok_and(|m| want.same_file(&m)) {
                    if let Some((p, _)) = self.siblings().into_iter().find(|(_, m)| want.same_file(m)) {
                        q.path = p;
                    }
                }
            }
            let (mut file, meta) = match open_with_meta(&q.path) {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    self.warnings.push(format!("{}: gone before it could be read", q.path.display()));
                    return Ok(true);
                }
                Err(e) => return Err(io_err(&q.path)(e)),
            };
            let mut id = FileId::of(&meta);
            if let Some(want) = q.id {
                if !want.same_file(&meta) {
                    self.warnings.push(format!("{}: replaced before it could be read", q.path.display()));
                    return Ok(true);
                }
                id.generation = want.generation;
            }
            let live = q.path == self.path;
            let known_tail = Some((q.offset, tail_fingerprint(&file, q.offset).map_err(io_err(&q.path))?));
            file.seek(SeekFrom::Start(q.offset)).map_err(io_err(&q.path))?;
            let reader = RecordReader::new(BufReader::with_capacity(256 << 10, file), self.reader_options(q.offset));
            self.cur = Some(Current { reader, id, path: q.path, rotated: !live, known_tail });
            self.finished = None;
            return Ok(true);
        }
        if let Some(since) = self.fresh_since {
            let rotated: Vec<_> = self.siblings().into_iter().filter(|(_, m)| m.modified().is_ok_and(|t| t >= since)).collect();
            if self.path.exists() || !rotated.is_empty() {
                self.fresh_since = None;
                for (p, m) in rotated {
                    self.queue.push_back(Queued { path: p, id: Some(FileId::of(&m)), offset: 0 });
                }
                if !self.queue.is_empty() {
                    return self.open_next();
                }
            }
        }
        let (mut file, meta) = match open_with_meta(&self.path) {
            Ok(x) => x,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io_err(&self.path)(e)),
        };
        let mut id = FileId::of(&meta);
        if let Some((prev, gen)) = self.next_generation.take() {
            if prev.same_file(&meta) {
                id.generation = gen;
            }
        }
        let offset = self.live_start.take().unwrap_or(0).min(meta.len());
        let known_tail = Some((offset, tail_fingerprint(&file, offset).map_err(io_err(&self.path))?));
        file.seek(SeekFrom::Start(offset)).map_err(io_err(&self.path))?;
        let reader = RecordReader::new(BufReader::with_capacity(256 << 10, file), self.reader_options(offset));
        self.cur = Some(Current { reader, id, path: self.path.clone(), rotated: false, known_tail });
        self.finished = None;
        Ok(true)
    }

    /// Reads up to `max` items. An empty result means caught up: call again later.
    pub fn poll(&mut self, max: usize) -> Result<Vec<Item>, FollowError> {
        let mut out = Vec::new();
        // Bounded: each pass either reads, or moves to another file, or returns.
        for _ in 0..64 {
            if self.cur.is_none() && !self.open_next()? {
                return Ok(out);
            }
            if self.truncated_since_last_poll()? {
                self.restart_truncated()?;
                continue;
            }
            let Some(cur) = self.cur.as_mut() else { continue };
            while out.len() < max {
                match cur.reader.next() {
                    Some(Ok(r)) => out.push(Item { file_key: cur.id.key(), path: cur.path.clone(), event: Event::Record(Box::new(r)) }),
                    Some(Err(ReadError::Malformed(m))) => out.push(Item { file_key: cur.id.key(), path: cur.path.clone(), event: Event::Malformed(m) }),
                    Some(Err(ReadError::Io { source, .. })) => return Err(io_err(&cur.path)(source)),
                    Some(Err(e)) => {
                        let m = MalformedRecord { position: e.position().unwrap_or_default(), len: 0, reason: e.to_string(), raw: Vec::new() };
                        out.push(Item { file_key: cur.id.key(), path: cur.path.clone(), event: Event::Malformed(Box::new(m)) });
                    }
                    None => break,
                }
            }
            if cur.reader.format().is_some() {
                self.format = cur.reader.format();
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
                FileState::Truncated => self.restart_truncated()?,
            }
        }
        Ok(out)
    }

    /// Whether the bytes before the current offset changed since the last poll ended.
    fn truncated_since_last_poll(&self) -> Result<bool, FollowError> {
        let Some(cur) = self.cur.as_ref() else { return Ok(false) };
        let Some((at, seen)) = cur.known_tail else { return Ok(false) };
        let file = cur.reader.get_ref().get_ref();
        let len = file.metadata().map_err(io_err(&cur.path))?.len();
        if len < at {
            return Ok(true);
        }
        Ok(tail_fingerprint(file, at).map_err(io_err(&cur.path))? != seen)
    }

    fn remember_tail(&mut self) -> Result<(), FollowError> {
        if let Some(cur) = self.cur.as_mut() {
            // Up to what was read from the file, the buffered part of an incomplete record included.
            let at = cur.reader.complete_offset() + cur.reader.pending() as u64;
            let tail = tail_fingerprint(cur.reader.get_ref().get_ref(), at).map_err(io_err(&cur.path))?;
            cur.known_tail = Some((at, tail));
        }
        Ok(())
    }

    fn check_current(&mut self) -> Result<FileState, FollowError> {
        let Some(cur) = self.cur.as_mut() else { return Ok(FileState::Finished) };
        let file = cur.reader.get_ref().get_ref();
        let meta = file.metadata().map_err(io_err(&cur.path))?;
        let offset = cur.reader.complete_offset() + cur.reader.pending() as u64;
        if meta.len() < offset {
            return Ok(FileState::Truncated);
        }

        if cur.rotated {
            return Ok(FileState::Finished);
        }
        match fs::metadata(&self.path) {
            Ok(m) if cur.id.same_file(&m) => Ok(FileState::Same),
            // Renamed away, or deleted: read what is left through the descriptor we hold, then move on.
            _ => {
                if meta.len() > offset {
                    return Ok(FileState::Same);
                }
                Ok(FileState::Finished)
            }
        }
    }

    /// The current file will not grow: a pending partial record is reported, and the file closed.
    fn finish_current(&mut self, out: &mut Vec<Item>) {
        if let Some(cur) = self.cur.take() {
            let end = cur.reader.complete_offset() + cur.reader.pending() as u64;
            if cur.reader.pending() > 0 {
                let raw = cur.reader.pending_bytes();
                let m = MalformedRecord {
                    position: Position { byte: cur.reader.complete_offset(), line: 0 },
                    len: raw.len() as u64,
                    reason: "incomplete record at the end of a file that was rotated away".into(),
                    raw: raw[..raw.len().min(MalformedRecord::MAX_RAW)].to_vec(),
                };
                out.push(Item { file_key: cur.id.key(), path: cur.path.clone(), event: Event::Malformed(Box::new(m)) });
            }
            let tail = tail_fingerprint(cur.reader.get_ref().get_ref(), end).ok().flatten();
            self.finished = Some(self.checkpoint_for(&cur.id, &cur.path, end, tail));
        }
    }

    fn restart_truncated(&mut self) -> Result<(), FollowError> {
        if let Some(cur) = self.cur.take() {
            let offset = cur.reader.complete_offset();
            self.warnings.push(format!("{}: truncated at offset {offset}; reading it again from the start", cur.path.display()));
            // The copy (copytruncate) is recognised by the bytes seen before the last poll's offset;
            // what was read since is in it too, so reading resumes at `offset`.
            let (at, tail) = cur.known_tail.unwrap_or((0, Some((0, crate::identity::fnv1a(&[])))));
            if let Some(copy) = self.find_copy(at, tail, offset) {
                self.queue.push_back(Queued { path: copy, id: None, offset });
            }
            if cur.rotated {
                return Ok(());
            }
            self.next_generation = Some((cur.id, cur.id.generation + 1));
        }
        Ok(())
    }

    fn checkpoint_for(&self, id: &FileId, path: &Path, offset: u64, tail: Option<(u32, u64)>) -> Checkpoint {
        Checkpoint {
            version: CHECKPOINT_VERSION,
            path: path.to_path_buf(),
            file: *id,
            offset,
            tail,
            format: self.format().map(|f| f.name().to_string()),
            saved_at: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64),
        }
    }

    /// The position after everything returned so far, to commit with those items. `None` before any
    /// file was opened.
    pub fn checkpoint(&self) -> Option<Checkpoint> {
        let Some(cur) = self.cur.as_ref() else { return self.finished.clone() };
        let offset = cur.reader.complete_offset();
        let file = cur.reader.get_ref().get_ref();
        let tail = tail_fingerprint(file, offset).ok().flatten();
        Some(self.checkpoint_for(&cur.id, &cur.path, offset, tail))
    }

    /// Bytes of the live path not read yet (for `status` and metrics).
    pub fn bytes_behind(&self) -> u64 {
        let live = fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        match &self.cur {
            Some(c) if !c.rotated => live.saturating_sub(c.reader.complete_offset()),
            _ => live,
        }
    }
}

enum FileState {
    /// Still the live file; nothing more yet.
    Same,
    /// Read to the end of a file that will not grow.
    Finished,
    /// Shorter than what was read.
    Truncated,
}
