//! Which file is which: device, inode and birth time, not the path (rotation renames files). A
//! generation counter tells apart the contents of one inode before and after a truncation
//! (copytruncate). A copy of a file (copytruncate's copy, a compressed `.gz`) has another inode but
//! the same content: it is recognised by the fingerprint of its first decoded bytes ([`Fingerprint`]
//! of up to [`HEAD_LEN`] bytes, which hold the first record with its timestamp and id).

use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

/// A file's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct FileId {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
    /// Birth time in nanoseconds since the epoch, where the file system records it (it tells a new file
    /// that reuses a deleted file's inode from the old one).
    pub born: Option<i128>,
    /// How many times this inode was seen truncated.
    pub generation: u32,
}

impl FileId {
    /// The identity of an open file's metadata, generation 0.
    pub fn of(meta: &Metadata) -> FileId {
        let born = meta
            .created()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as i128);
        FileId { dev: meta.dev(), ino: meta.ino(), born, generation: 0 }
    }

    /// Whether `meta` is the same file (generation aside).
    pub fn same_file(&self, meta: &Metadata) -> bool {
        let other = FileId::of(meta);
        self.dev == other.dev && self.ino == other.ino && self.born == other.born
    }

    /// Whether `other` is the same inode (generation aside).
    pub fn same_inode(&self, other: &FileId) -> bool {
        self.dev == other.dev && self.ino == other.ino && self.born == other.born
    }

    /// The `file_id` column's value: stable across renames, new for a new file or a truncation.
    pub fn key(&self) -> String {
        format!("{:x}-{:x}-{:x}-{}", self.dev, self.ino, self.born.unwrap_or(0), self.generation)
    }
}

/// How many bytes from the start the content fingerprint covers at most.
pub const HEAD_LEN: usize = 1024;

/// What some bytes were, to know them again: their length and FNV-1a hash. Stored in checkpoints as
/// the JSON array `[length, hash]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Fingerprint(
    /// How many bytes were hashed (0: none, a fingerprint that says nothing).
    pub u32,
    /// Their FNV-1a hash.
    pub u64,
);

impl Fingerprint {
    /// The fingerprint of no bytes, which matches nothing.
    pub const EMPTY: Fingerprint = Fingerprint(0, 0);

    /// The fingerprint of `bytes` (at most 4 GiB of them are counted).
    pub fn of(bytes: &[u8]) -> Fingerprint {
        Fingerprint(bytes.len() as u32, fnv1a(bytes))
    }

    /// How many bytes were hashed.
    pub fn len(self) -> usize {
        self.0 as usize
    }

    /// Whether no bytes were hashed: such a fingerprint tells no content apart.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// The fingerprint of a file's first decoded bytes (up to [`HEAD_LEN`] of them).
pub fn head_fingerprint(prefix: &[u8]) -> Fingerprint {
    Fingerprint::of(&prefix[..prefix.len().min(HEAD_LEN)])
}

/// Whether a file whose first decoded bytes are `prefix` has the content `head` was taken of (a file
/// that grew since keeps its first bytes). An empty head matches nothing: it says nothing.
pub fn head_matches(head: Fingerprint, prefix: &[u8]) -> bool {
    let len = head.len();
    !head.is_empty() && prefix.len() >= len && fnv1a(&prefix[..len]) == head.1
}

/// How many bytes before the offset the checkpoint fingerprints.
pub const TAIL_LEN: u64 = 256;

/// FNV-1a, 64 bits: enough to notice that the bytes before an offset changed; not a defence.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The fingerprint of the up to [`TAIL_LEN`] bytes before `offset`, or `None` when the file is
/// shorter than `offset`.
pub fn tail_fingerprint(file: &File, offset: u64) -> io::Result<Option<Fingerprint>> {
    let len = TAIL_LEN.min(offset);
    let mut buf = vec![0u8; len as usize];
    let mut got = 0usize;
    while got < buf.len() {
        let n = file.read_at(&mut buf[got..], offset - len + got as u64)?;
        if n == 0 {
            return Ok(None);
        }
        got += n;
    }
    Ok(Some(Fingerprint::of(&buf)))
}

/// Opens a path and returns the file with its metadata.
pub fn open_with_meta(path: &Path) -> io::Result<(File, Metadata)> {
    let file = File::open(path)?;
    let meta = file.metadata()?;
    Ok((file, meta))
}
