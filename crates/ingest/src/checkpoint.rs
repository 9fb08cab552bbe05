//! Where a source is: the file it reads, the offset after the last committed record, and a fingerprint
//! of the bytes before that offset. Stored as JSON in the checkpoint table's `state` column, committed in
//! the same transaction as the records it covers.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::identity::FileId;

/// The checkpoint format's version; a newer one is refused rather than misread.
pub const CHECKPOINT_VERSION: u32 = 1;

/// A source's committed position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// [`CHECKPOINT_VERSION`].
    pub version: u32,
    /// The path the file had when it was read (it may have been rotated away since).
    pub path: PathBuf,
    /// The file's identity.
    pub file: FileId,
    /// The offset just past the last complete record read.
    pub offset: u64,
    /// Length and FNV-1a hash of the bytes before `offset` (see [`crate::identity::tail_fingerprint`]).
    pub tail: Option<(u32, u64)>,
    /// The format read, so a rotated file without a header is read the same way.
    pub format: Option<String>,
    /// When it was saved (Unix seconds): rotated files modified after it may hold unread records.
    pub saved_at: i64,
}

impl Checkpoint {
    /// Parses the stored JSON.
    pub fn from_json(text: &str) -> Result<Checkpoint, String> {
        let ck: Checkpoint = serde_json::from_str(text).map_err(|e| format!("unreadable checkpoint: {e}"))?;
        if ck.version != CHECKPOINT_VERSION {
            return Err(format!("checkpoint version {} is not {CHECKPOINT_VERSION}: written by another release", ck.version));
        }
        Ok(ck)
    }

    /// The JSON to store.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}
