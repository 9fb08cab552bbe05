//! What to read next, decided from what the files are, never from their names: the file a checkpoint
//! stands in (found by identity, or by content if it was copied or compressed since), files with
//! bytes added after they were finished, and files never seen, oldest first, the live path last.
//! A file whose content was read already, under whatever name, compressed or not, is not read again.

use std::fs::File;
use std::path::PathBuf;

use crate::checkpoint::{Checkpoint, DoneFile};
use crate::decode::Encoding;
use super::discovery::Candidate;
use crate::identity::{head_matches, tail_fingerprint, FileId, Fingerprint};

/// A file to read.
#[derive(Debug, Clone)]
pub(crate) struct Queued {
    pub path: PathBuf,
    /// The identity its rows get.
    pub id: FileId,
    /// The file to open (its identity may differ from `id`: a copy).
    pub inode: FileId,
    /// Its content, to find it again if it is renamed or compressed before it is opened.
    pub head: Option<Fingerprint>,
    /// Decoded offset to start at.
    pub offset: u64,
    /// Decoded bytes it had when planned (what is lost if it vanishes unread).
    pub seen_len: Option<u64>,
    pub live: bool,
}

/// Where reading stood: the checkpoint's file, to find again.
#[derive(Debug, Clone)]
pub(crate) struct Resume {
    pub path: PathBuf,
    pub file: FileId,
    pub head: Option<Fingerprint>,
    pub offset: u64,
    pub tail: Option<Fingerprint>,
    pub seen_len: u64,
}

impl Resume {
    pub fn of(ck: &Checkpoint) -> Resume {
        Resume { path: ck.path.clone(), file: ck.file, head: ck.head, offset: ck.offset, tail: ck.tail, seen_len: ck.seen_len.max(ck.offset) }
    }

    /// Whether `c` holds this content up to the offset.
    pub(crate) fn holds(&self, c: &Candidate) -> bool {
        if let Some(h) = self.head.filter(|h| !h.is_empty()) {
            if !head_matches(h, &c.prefix) {
                return false;
            }
        } else if !self.file.same_inode(&c.id) && self.offset == 0 {
            // Nothing read and no content to compare: only the same inode is the same file.
            return false;
        }
        match c.encoding {
            // The bytes before the offset tell a file truncated and regrown from the original.
            Encoding::Plain => {
                c.meta.len() >= self.offset && self.tail.is_none_or(|t| File::open(&c.path).ok().and_then(|f| tail_fingerprint(&f, self.offset).ok().flatten()) == Some(t))
            }
            // Checked by its decoded length when it is opened.
            _ => self.head.is_some_and(|h| !h.is_empty()) || self.file.same_inode(&c.id),
        }
    }
}

/// What [`plan`] decided.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub queue: Vec<Queued>,
    /// The checkpoint's file was not found: its unread rest (at least `seen_len - offset` bytes).
    pub lost: Option<Resume>,
    /// The checkpoint's inode holds other content now (truncated since).
    pub truncated: Option<PathBuf>,
}

/// Decides what to read among `cands` (rotated oldest first, then the live path).
pub(crate) fn plan(resume: Option<&Resume>, state: &mut Checkpoint, cands: &[Candidate]) -> Plan {
    let mut out = Plan::default();
    let mut used = vec![false; cands.len()];
    if let Some(r) = resume {
        // The same inode first, then a copy or a compressed version of it.
        let pick = cands.iter().position(|c| r.file.same_inode(&c.id) && r.holds(c)).or_else(|| cands.iter().position(|c| !r.file.same_inode(&c.id) && r.holds(c)));
        match pick {
            Some(i) => {
                let c = &cands[i];
                used[i] = true;
                out.queue.push(Queued { path: c.path.clone(), id: r.file, inode: c.id, head: r.head, offset: r.offset, seen_len: Some(r.seen_len), live: c.live });
            }
            None => out.lost = Some(r.clone()),
        }
        if cands.iter().any(|c| r.file.same_inode(&c.id) && !r.holds(c)) {
            out.truncated = Some(r.path.clone());
        }
        // Other copies of the same content (`audit.log.1` and `audit.log.1.gz` side by side).
        for (i, c) in cands.iter().enumerate() {
            if !used[i] && r.head.is_some_and(|h| head_matches(h, &c.prefix)) {
                used[i] = true;
            }
        }
    }
    for (i, c) in cands.iter().enumerate() {
        if used[i] {
            continue;
        }
        let done = state.done.iter().find(|d| head_matches(d.head, &c.prefix) || (d.head.is_empty() && d.len == 0 && d.file.same_inode(&c.id)));
        if let Some(d) = done {
            // Bytes added after it was finished (a late write through a descriptor the server still
            // held): read them under the same identity. Another encoding of the same content (the
            // file compressed since) holds nothing new.
            let grew = c.encoding == d.encoding && c.meta.len() > d.raw_len;
            if grew {
                let len = (c.encoding == Encoding::Plain).then_some(c.meta.len());
                out.queue.push(Queued { path: c.path.clone(), id: d.file, inode: c.id, head: Some(d.head), offset: d.len, seen_len: len, live: c.live });
            }
            continue;
        }
        if !c.live && state.done_before.is_some_and(|t| c.mtime <= t) {
            continue;
        }
        let mut id = c.id;
        let reused = resume.is_some_and(|r| r.file.same_inode(&c.id)) || state.done.iter().any(|d| d.file.same_inode(&c.id));
        if reused {
            // New content in a known inode (truncated and written again): new keys.
            state.max_generation += 1;
            id.generation = state.max_generation;
        }
        let len = (c.encoding == Encoding::Plain).then_some(c.meta.len());
        let head = Some(crate::identity::head_fingerprint(&c.prefix));
        out.queue.push(Queued { path: c.path.clone(), id, inode: c.id, head, offset: 0, seen_len: len, live: c.live });
    }
    out
}

/// A file present before the source started, remembered as needing no reading.
pub(crate) fn history(c: &Candidate) -> DoneFile {
    let len = if c.encoding == Encoding::Plain { c.meta.len() } else { 0 };
    DoneFile { file: c.id, head: crate::identity::head_fingerprint(&c.prefix), len, encoding: c.encoding, raw_len: c.meta.len(), mtime: c.mtime }
}

/// Whether `c` holds the content `r` stands in, up to its offset.
pub(crate) fn holds(r: &Resume, c: &Candidate) -> bool {
    r.holds(c)
}
