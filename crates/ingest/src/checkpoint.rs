//! Where a source is: the file it reads, the offset after the last committed record, fingerprints of
//! that file's first bytes and of the bytes before the offset, and the files already read (so a
//! rotated file is recognised as read whatever its name, compressed or copied). Stored as JSON in the
//! checkpoint table's `state` column, committed in the same transaction as the records it covers.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::decode::Encoding;
use crate::identity::{FileId, Fingerprint};

/// The checkpoint format's version; a newer one is refused rather than misread. Version 1 (no `head`,
/// no `done`) is still read.
pub const CHECKPOINT_VERSION: u32 = 2;

/// How many finished files a checkpoint remembers; older ones are known by [`Checkpoint::done_before`].
pub const DONE_MAX: usize = 128;

/// A source's committed position.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Checkpoint {
    /// [`CHECKPOINT_VERSION`].
    pub version: u32,
    /// The path the file had when it was read (it may have been rotated away since).
    pub path: PathBuf,
    /// The file's identity; its key is the `file_id` of its rows, also when its content is later
    /// found in a copy or a compressed file.
    pub file: FileId,
    /// The offset just past the last complete record read, in decoded bytes.
    pub offset: u64,
    /// Length and FNV-1a hash of the bytes before `offset` (see [`crate::identity::tail_fingerprint`]);
    /// `None` for a compressed file (its content is checked by `head` and its decoded length).
    pub tail: Option<Fingerprint>,
    /// Fingerprint of the file's first decoded bytes (see [`crate::identity::head_fingerprint`]).
    #[serde(default)]
    pub head: Option<Fingerprint>,
    /// How the file is encoded.
    #[serde(default)]
    pub encoding: Option<Encoding>,
    /// Decoded bytes of the file known to exist when it was saved (`offset` or more): what is lost at
    /// least if the file vanishes unread.
    #[serde(default)]
    pub seen_len: u64,
    /// The format read, so a rotated file without a header is read the same way.
    pub format: Option<String>,
    /// When it was saved (Unix seconds): rotated files modified after it may hold unread records.
    pub saved_at: i64,
    /// Files read to their end (or present before the source started), oldest first.
    #[serde(default)]
    pub done: Vec<DoneFile>,
    /// Modification time (ns since the epoch) of the newest file dropped from `done`: an unknown file
    /// not newer than it is an old one, not read again.
    #[serde(default)]
    pub done_before: Option<i128>,
    /// The highest generation handed out, so a truncated inode's new content never reuses a key.
    #[serde(default)]
    pub max_generation: u32,
    /// When the source ended for good (Unix seconds): a backfill that read its files to their end.
    /// A finished source is not expected to check in, so the staleness check leaves it out; a
    /// `follow` of it makes it live again. Absent (not `null`) while live, which is what the check's
    /// SQL tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<i64>,
}

/// A file that needs no more reading, and how to recognise it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoneFile {
    /// Its identity (its rows' `file_id`).
    pub file: FileId,
    /// Fingerprint of its first decoded bytes.
    pub head: Fingerprint,
    /// Decoded bytes read (its end when it was finished).
    pub len: u64,
    /// Its encoding, and its size on disk then: a file of the same encoding that grew since is read
    /// from `len` on.
    pub encoding: Encoding,
    /// Size on disk when it was finished.
    pub raw_len: u64,
    /// Modification time then (ns since the epoch).
    pub mtime: i128,
}

impl Checkpoint {
    /// Parses the stored JSON.
    pub fn from_json(text: &str) -> Result<Checkpoint, String> {
        let ck: Checkpoint = serde_json::from_str(text).map_err(|e| format!("unreadable checkpoint: {e}"))?;
        if ck.version > CHECKPOINT_VERSION || ck.version == 0 {
            return Err(format!("checkpoint version {} is not {CHECKPOINT_VERSION}: written by another release", ck.version));
        }
        Ok(ck)
    }

    /// The JSON to store.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Adds a finished file, replacing an entry of the same identity, dropping the oldest beyond
    /// [`DONE_MAX`].
    pub fn add_done(&mut self, d: DoneFile) {
        self.done.retain(|e| e.file != d.file);
        self.done.push(d);
        while self.done.len() > DONE_MAX {
            let old = self.done.remove(0);
            self.done_before = Some(self.done_before.map_or(old.mtime, |t| t.max(old.mtime)));
        }
    }
}
