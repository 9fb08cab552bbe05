//! What an [`super::Ingester`] can fail with, classified so a caller can tell a setting to fix from a
//! file to look at, a server that refused, and tables at the wrong layout.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::follower::FollowError;
use crate::sink::SinkError;

/// A builder setting out of its range, found by [`super::IngesterBuilder::build`] before anything
/// runs: nothing is clamped silently.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `batch_rows` outside [`super::BATCH_ROWS`].
    #[error("batch rows {0}: must be from {min} to {max}", min = super::BATCH_ROWS.start(), max = super::BATCH_ROWS.end())]
    BatchRows(usize),
    /// `heartbeat` outside [`super::HEARTBEAT`].
    #[error("heartbeat every {0:?}: must be from {min:?} to {max:?}", min = super::HEARTBEAT.start(), max = super::HEARTBEAT.end())]
    Heartbeat(Duration),
    /// `in_flight` of 0: the reader could never hand a batch over.
    #[error("batches in flight: must be at least 1")]
    InFlight,
    /// `batch_bytes` of 0: no record would fit.
    #[error("batch bytes: must be at least 1")]
    BatchBytes,
    /// A source name the checkpoint table cannot key.
    #[error("the source name must be 1 to 128 characters (got {0})")]
    SourceName(usize),
}

/// Why an [`super::Ingester`] stopped or could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// A setting is out of range (see [`ConfigError`]).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A file could not be read, or the log is one this mode cannot read (an encrypted live log).
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The metrics endpoint's address could not be bound (a port in use, no such interface).
    #[error("metrics endpoint {addr}: cannot listen: {source}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The database: unreachable, or an error the server returned ([`IngestError::server_code`]).
    #[error(transparent)]
    Database(SinkError),
    /// The tables are missing (and creating them was turned off), older or newer than this release
    /// writes: the message says which `audit-ingest schema` command fixes it.
    #[error(transparent)]
    SchemaVersion(SinkError),
    /// The server refused the ingester's first writes: a privilege is missing or the account is
    /// read-only there (the message says what to grant). Refusals after a good start make it wait.
    #[error("the server refuses audit-ingest's writes: {0}")]
    Refused(SinkError),
}

impl IngestError {
    /// The server's error code (e.g. 1045 for a refused login), when the server returned one.
    pub fn server_code(&self) -> Option<u16> {
        match self {
            IngestError::Database(e) | IngestError::SchemaVersion(e) | IngestError::Refused(e) => e.server_code(),
            _ => None,
        }
    }
}

impl From<SinkError> for IngestError {
    fn from(e: SinkError) -> IngestError {
        match e {
            SinkError::SchemaVersion(_) => IngestError::SchemaVersion(e),
            e => IngestError::Database(e),
        }
    }
}

impl From<FollowError> for IngestError {
    fn from(e: FollowError) -> IngestError {
        match e {
            FollowError::Io { path, source } => IngestError::Io { path, source },
        }
    }
}

impl From<crate::pipeline::PipelineError> for IngestError {
    fn from(e: crate::pipeline::PipelineError) -> IngestError {
        use crate::pipeline::PipelineError;
        match e {
            PipelineError::Sink(e) => e.into(),
            PipelineError::Refused(e) => IngestError::Refused(e),
            PipelineError::Follow(e) => e.into(),
        }
    }
}
