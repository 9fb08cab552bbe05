//! The reader: one poll over the current file (records, malformed records, a corrupt stream given
//! up), and what happened to the file at its end (still live, rotated away, truncated).

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;

use audit_model::{Error as ReadError, MalformedRecord, Position, ReaderOptions};

use super::discovery;
use super::plan::{self, Queued, Resume};
use super::{io_err, Event, FollowError, Follower, Item, Warning};
use crate::checkpoint::DoneFile;
use crate::decode::Encoding;
use crate::identity::tail_fingerprint;
use crate::sniff::looks_like;
use crate::source::OpenLog;

impl Follower {
    pub(super) fn reader_options(&self, offset: u64) -> ReaderOptions {
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
                let read_as = cur.log.reader.format().or(self.format);
                self.warnings.push(Warning::NotAuditLog { path: cur.log.path.clone(), read_as, looks_like: looks_like(&prefix, read_as) });
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
        self.warnings.push(Warning::Truncated { path: cur.log.path.clone(), offset });
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
}

enum FileState {
    /// Still the live file; nothing more yet.
    Same,
    /// Read to the end of a file that will not grow.
    Finished,
    /// Shorter than what was read.
    Truncated,
}
