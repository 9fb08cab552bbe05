//! What a follower tells its operator without stopping: files skipped, read again or lost. Each is a
//! value a caller can match on; its text is what the daemon logs.

use std::fmt;
use std::path::PathBuf;

use audit_model::Format;

use crate::sniff::NOT_AUDIT_AFTER;

/// Something the operator should know about the files followed (see [`super::Follower::take_warnings`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// A file's first records were all malformed: it is taken for no audit log and not read further.
    NotAuditLog {
        /// The file.
        path: PathBuf,
        /// The format it was read as, if one was known.
        read_as: Option<Format>,
        /// What its first bytes look like instead (see [`crate::sniff::looks_like`]).
        looks_like: String,
    },
    /// The file being read was truncated (copytruncate): it is read again from its start.
    Truncated {
        /// The file.
        path: PathBuf,
        /// The offset read up to before.
        offset: u64,
    },
    /// The checkpoint's file holds other content now: its new content is read from the start.
    TruncatedSinceCheckpoint {
        /// The file.
        path: PathBuf,
        /// The checkpoint's offset.
        offset: u64,
    },
    /// A file went away after `offset` and how much it held then is not known: records written to it
    /// after that, if any, are lost.
    LostAfter {
        /// The file.
        path: PathBuf,
        /// Where reading stood.
        offset: u64,
        /// How it went away.
        why: &'static str,
    },
    /// A rotated file was gone before it could be opened (nothing of it was known).
    Gone {
        /// Where it was.
        path: PathBuf,
    },
    /// A compressed file decodes to fewer bytes than were already read from its original: nothing
    /// more is read from it.
    Shorter {
        /// The file.
        path: PathBuf,
        /// The decoded bytes read before.
        offset: u64,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::NotAuditLog { path, read_as, looks_like } => {
                let read_as = read_as.map_or(String::new(), |f| format!(" of format {}", f.name()));
                write!(
                    f,
                    "{}: not read further: its first {NOT_AUDIT_AFTER} records are all malformed (dead-lettered), so it is no audit log{read_as}: {looks_like}",
                    path.display()
                )
            }
            Warning::Truncated { path, offset } => write!(f, "{}: truncated at offset {offset}; reading it again from the start", path.display()),
            Warning::TruncatedSinceCheckpoint { path, offset } => {
                write!(f, "{}: truncated since the checkpoint (offset {offset}); its new content is read from the start", path.display())
            }
            Warning::LostAfter { path, offset, why } => {
                write!(f, "{}: {why} after offset {offset}; records written to it after that, if any, are lost", path.display())
            }
            Warning::Gone { path } => write!(f, "{}: gone before it could be read", path.display()),
            Warning::Shorter { path, offset } => {
                write!(f, "{}: holds fewer than the {offset} decoded bytes already read; nothing more read from it", path.display())
            }
        }
    }
}
