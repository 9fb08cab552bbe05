//! How the follower gets its next file: the plan after a restart, opening a queued file wherever it
//! went (renamed, compressed), and reporting what cannot be read (once) or is lost (a gap item).

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use audit_model::{MalformedRecord, Position};

use super::discovery::{self, Found};
use super::plan::{self, Queued, Resume};
use super::{io_err, Current, Event, FollowError, Follower, Item, Warning};
use crate::checkpoint::{Checkpoint, DoneFile};
use crate::decode::Encoding;
use crate::identity::{head_matches, FileId, Fingerprint};
use crate::source::OpenLog;

/// What an account that may not read the log needs.
pub const PERMISSION_HINT: &str = "The account audit-ingest runs as needs read access to the audit log: \
    the log's group (e.g. mysql) or an ACL on its directory; see examples/audit-ingest.service";

/// How often a follower waiting for its missing log says so again.
pub(super) const MISSING_REPORT_EVERY: Duration = Duration::from_secs(60);

impl Follower {
    /// After a restart: find the checkpoint's file by identity or content, read its rest, then what
    /// was rotated since.
    pub(super) fn plan_resume(&mut self, ck: &Checkpoint, found: &Found) {
        if ck.version < 2 {
            // A version 1 checkpoint lists no finished files: those rotated before it was saved were.
            let saved = i128::from(ck.saved_at) * 1_000_000_000;
            for c in found.files.iter().filter(|c| !c.live && c.mtime <= saved && !ck.file.same_inode(&c.id)) {
                self.state.add_done(plan::history(c));
            }
        }
        let resume = Resume::of(ck);
        let finished = self.state.done.iter().any(|d| d.file == ck.file && d.len >= ck.offset);
        let p = plan::plan(Some(&resume), &mut self.state, &found.files);
        if let Some(t) = &p.truncated {
            self.warnings.push(Warning::TruncatedSinceCheckpoint { path: t.clone(), offset: ck.offset });
        }
        if let Some(lost) = p.lost.filter(|_| !finished) {
            self.lost(&lost.path, lost.file, lost.offset, lost.seen_len, "the checkpoint's file is gone (deleted before it was read to its end)");
            self.state.add_done(DoneFile { file: ck.file, head: ck.head.unwrap_or(Fingerprint::EMPTY), len: ck.offset, encoding: ck.encoding.unwrap_or(Encoding::Plain), raw_len: 0, mtime: 0 });
            self.finished = Some(ck.clone());
        }
        self.queue.extend(p.queue);
    }

    /// Reports bytes that cannot be read any more: a gap item when their number is known, a warning
    /// when it is not.
    pub(super) fn lost(&mut self, path: &Path, file: FileId, offset: u64, seen_len: u64, why: &'static str) {
        let len = seen_len.saturating_sub(offset);
        tracing::error!(path = %path.display(), file_id = %file.key(), offset, lost_bytes = len, "{why}");
        if len == 0 {
            self.warnings.push(Warning::LostAfter { path: path.to_path_buf(), offset, why });
            return;
        }
        let m = MalformedRecord {
            position: Position { byte: offset, line: 0 },
            len,
            reason: format!("gap: {len} bytes from offset {offset} of {} could not be read: {why}", path.display()),
            raw: Vec::new(),
        };
        self.early.push(Item { file_key: file.key(), path: path.to_path_buf(), event: Event::Malformed(Box::new(m)), gap: true });
    }

    /// Says that the followed path does not exist, when it is first found missing and then every
    /// [`MISSING_REPORT_EVERY`] while it stays so, and when it appears.
    fn note_missing(&mut self, present: bool) {
        let now = Instant::now();
        match (self.missing, present) {
            (None, false) => {
                tracing::warn!(path = %self.path.display(), "the audit log does not exist (yet); waiting for it: check the path and the server's audit log file setting");
                self.missing = Some((now, now));
            }
            (Some((since, said)), false) if now.duration_since(said) >= MISSING_REPORT_EVERY => {
                tracing::warn!(path = %self.path.display(), waiting_secs = now.duration_since(since).as_secs(), "the audit log still does not exist; waiting for it");
                self.missing = Some((since, now));
            }
            (Some((since, _)), true) => {
                tracing::info!(path = %self.path.display(), waited_secs = now.duration_since(since).as_secs(), "the audit log exists now; reading it");
                self.missing = None;
            }
            _ => {}
        }
    }

    /// Reports each unreadable file once (until it is readable again).
    pub(super) fn report_unreadable(&mut self, found: &Found) {
        for (p, e) in &found.unreadable {
            self.report_open_error(p, e);
        }
    }

    fn report_open_error(&mut self, path: &Path, e: &io::Error) {
        let text = e.to_string();
        if self.unreadable.get(path) != Some(&text) {
            // Logged here, once, not handed to the caller as a warning too.
            if e.kind() == io::ErrorKind::PermissionDenied {
                tracing::error!(path = %path.display(), error = %text, "cannot read an audit log file; trying again until it can be read. {PERMISSION_HINT}");
            } else {
                tracing::error!(path = %path.display(), error = %text, "cannot read an audit log file; trying again until it can be read");
            }
            self.unreadable.insert(path.to_path_buf(), text);
        }
    }

    fn readable_again(&mut self, path: &Path) {
        if self.unreadable.remove(path).is_some() {
            tracing::info!(path = %path.display(), "audit log file readable again");
        }
    }

    /// Opens the next file: the queue's head, else whatever a new look at the files finds.
    /// `Ok(false)` when there is none yet (or it cannot be read yet).
    pub(super) fn open_next(&mut self) -> Result<bool, FollowError> {
        for _ in 0..16 {
            if self.queue.is_empty() {
                let found = discovery::discover(&self.path, &self.opts.decoder);
                self.report_unreadable(&found);
                self.queue.extend(plan::plan(None, &mut self.state, &found.files).queue);
                self.note_missing(found.files.iter().any(|c| c.live));
                if self.queue.is_empty() {
                    return Ok(false);
                }
            }
            let Some(q) = self.queue.pop_front() else { return Ok(false) };
            match self.open_queued(&q)? {
                Opened::Yes => return Ok(true),
                Opened::Gone => {}
                Opened::NotYet => {
                    self.queue.push_front(q);
                    return Ok(false);
                }
            }
        }
        Ok(false)
    }

    /// Finds a queued file (renamed or compressed since it was queued, maybe) and opens it.
    fn open_queued(&mut self, q: &Queued) -> Result<Opened, FollowError> {
        let (path, file) = match self.locate(q) {
            Ok(Some(x)) => x,
            Ok(None) => {
                if let Some(len) = q.seen_len {
                    self.lost(&q.path, q.id, q.offset, len, "rotated file gone before it was read to its end");
                } else {
                    self.warnings.push(Warning::Gone { path: q.path.clone() });
                }
                self.state.add_done(DoneFile { file: q.id, head: q.head.unwrap_or(Fingerprint::EMPTY), len: q.offset, encoding: Encoding::Plain, raw_len: 0, mtime: 0 });
                return Ok(Opened::Gone);
            }
            Err((p, e)) => {
                self.report_open_error(&p, &e);
                return Ok(Opened::NotYet);
            }
        };
        self.readable_again(&path);
        let offset = if q.live && q.offset == 0 { self.live_start.take().unwrap_or(0) } else { q.offset };
        let opts = |at| self.reader_options(at);
        let undetected = Encoding::detect(&file).map_err(io_err(&path))?.is_none();
        match OpenLog::open(file, &path, q.id, offset, opts, &self.opts.decoder) {
            Ok(Some(log)) => {
                let known_tail = Some((log.raw_offset(), log.raw_tail().map_err(io_err(&path))?));
                let complete_tail = log.start_tail;
                let rotated = path != self.path;
                self.cur = Some(Current { log, rotated, undetected, known_tail, complete_tail, start: Default::default(), given_up: false });
                self.finished = None;
                Ok(Opened::Yes)
            }
            Ok(None) => {
                self.warnings.push(Warning::Shorter { path: path.clone(), offset });
                self.state.add_done(DoneFile { file: q.id, head: q.head.unwrap_or(Fingerprint::EMPTY), len: q.offset, encoding: Encoding::Gzip, raw_len: u64::MAX, mtime: 0 });
                Ok(Opened::Gone)
            }
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// The queued file: at its path, or renamed (same inode), or compressed (same content). `Ok(None)`
    /// when it is gone; `Err` when it cannot be opened.
    fn locate(&self, q: &Queued) -> Result<Option<(PathBuf, File)>, (PathBuf, io::Error)> {
        match File::open(&q.path) {
            Ok(f) => {
                if f.metadata().is_ok_and(|m| q.inode.same_file(&m)) {
                    return Ok(Some((q.path.clone(), f)));
                }
            }
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err((q.path.clone(), e)),
            Err(_) => {}
        }
        let found = discovery::discover(&self.path, &self.opts.decoder);
        let c = found.files.iter().find(|c| q.inode.same_inode(&c.id)).or_else(|| q.head.and_then(|h| found.files.iter().find(|c| head_matches(h, &c.prefix))));
        match c {
            Some(c) => File::open(&c.path).map(|f| Some((c.path.clone(), f))).map_err(|e| (c.path.clone(), e)),
            None => Ok(None),
        }
    }

}

enum Opened {
    Yes,
    /// Gone (reported): go on with the next.
    Gone,
    /// Cannot be opened yet (reported): try again later.
    NotYet,
}

