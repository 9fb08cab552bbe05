//! Errors with the position they happened at.

use std::fmt;

/// Where in the input something happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Position {
    /// Byte offset of the record's first byte, counted from the reader's start offset.
    pub byte: u64,
    /// 1-based line number of that byte (counted from the reader's start; a follower that resumes in
    /// the middle of a file counts from there).
    pub line: u64,
}

/// A record that could not be parsed. The reader reports it and goes on with the next record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedRecord {
    /// Where the malformed bytes start.
    pub position: Position,
    /// How many bytes were skipped.
    pub len: u64,
    /// Why they were refused.
    pub reason: String,
    /// The skipped bytes, for a dead-letter store (at most [`MalformedRecord::MAX_RAW`] of them).
    pub raw: Vec<u8>,
}

impl MalformedRecord {
    /// The most raw bytes kept with an error.
    pub const MAX_RAW: usize = 1 << 20;
}

impl fmt::Display for MalformedRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (line {}, {} bytes skipped)", self.reason, self.position.line, self.len)
    }
}

/// An error from a [`crate::RecordReader`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A malformed record; reading goes on after it.
    #[error("byte {}: {}", .0.position.byte, .0)]
    Malformed(Box<MalformedRecord>),
    /// The underlying reader failed; reading may be retried.
    #[error("read error at byte {offset}: {source}")]
    Io {
        /// Where the read failed.
        offset: u64,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The position of a malformed record or read error.
    pub fn position(&self) -> Option<Position> {
        match self {
            Error::Malformed(m) => Some(m.position),
            Error::Io { offset, .. } => Some(Position { byte: *offset, line: 0 }),
        }
    }
}
