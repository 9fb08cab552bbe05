//! What can go wrong between the sink and the server, and what each failure asks of the caller:
//! reconnect and go on, wait for an administrator, or stop.

/// How the pipeline treats a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The server or the network failed; reconnect with backoff and resume from the checkpoint.
    Transient,
    /// The server refuses the ingester's writes (a missing or revoked privilege, `read_only`, a
    /// failover in progress). At start-up this stops the ingester with the error; once it has run, it
    /// waits and retries with backoff, loudly, so nothing is lost when the grant comes back.
    Refused,
    /// Retrying cannot help: configuration, schema version, a checkpoint written by someone else.
    Fatal,
}

/// Server error codes that mean "not allowed" or "not writable now".
mod code {
    /// `ER_DBACCESS_DENIED_ERROR`
    pub const DB_ACCESS_DENIED: u16 = 1044;
    /// `ER_ACCESS_DENIED_ERROR` (a wrong or changed password)
    pub const ACCESS_DENIED: u16 = 1045;
    /// `ER_TABLEACCESS_DENIED_ERROR`
    pub const TABLE_ACCESS_DENIED: u16 = 1142;
    /// `ER_COLUMNACCESS_DENIED_ERROR`
    pub const COLUMN_ACCESS_DENIED: u16 = 1143;
    /// `ER_SPECIFIC_ACCESS_DENIED_ERROR`: a missing global privilege (e.g. to set `sql_log_bin`)
    pub const SPECIFIC_ACCESS_DENIED: u16 = 1227;
    /// `ER_OPTION_PREVENTS_STATEMENT`: `read_only` / `super_read_only`
    pub const OPTION_PREVENTS_STATEMENT: u16 = 1290;
    /// `ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION`
    pub const READ_ONLY_TRANSACTION: u16 = 1792;
    /// `ER_READ_ONLY_MODE`
    pub const READ_ONLY_MODE: u16 = 1836;
    /// `ER_ACCOUNT_HAS_BEEN_LOCKED` (MySQL 8; MariaDB 4151)
    pub const ACCOUNT_LOCKED: [u16; 2] = [3118, 4151];
}

/// Whether a server error code means the server refuses the ingester's work.
pub fn is_refusal(code: u16) -> bool {
    use code::*;
    matches!(
        code,
        DB_ACCESS_DENIED | ACCESS_DENIED | TABLE_ACCESS_DENIED | COLUMN_ACCESS_DENIED | SPECIFIC_ACCESS_DENIED | OPTION_PREVENTS_STATEMENT | READ_ONLY_TRANSACTION | READ_ONLY_MODE
    ) || code::ACCOUNT_LOCKED.contains(&code)
}

/// Whether a server error code is `read_only` (rather than a privilege).
pub fn is_read_only(code: u16) -> bool {
    matches!(code, code::OPTION_PREVENTS_STATEMENT | code::READ_ONLY_TRANSACTION | code::READ_ONLY_MODE)
}

/// Server error codes worth a reconnect: deadlock, lock wait timeout, shutdown in progress, too many
/// connections, server gone, Galera's "not ready".
const TRANSIENT_CODES: &[u16] = &[1205, 1213, 1053, 1040, 1927, 2006, 2013, 1047];

/// The hint that goes with a refused write, for the administrator who reads the log.
pub fn refusal_hint(code: u16) -> &'static str {
    if is_read_only(code) {
        "the server is read-only for this account: grant READ_ONLY ADMIN (MariaDB 10.5.2+) or CONNECTION_ADMIN (MySQL 8, Percona Server) \
         so audit-ingest may write its own tables on a replica (super_read_only blocks every account; see examples/grant.sql)"
    } else if code == code::ACCESS_DENIED {
        "the login was refused: check the user, the password and the host the account is created for; see examples/grant.sql"
    } else if code == code::SPECIFIC_ACCESS_DENIED {
        "the account lacks a global privilege: see examples/grant.sql"
    } else {
        "the account lacks a privilege on the audit tables: see examples/grant.sql"
    }
}

fn refusal_suffix(e: &mysql_async::Error) -> String {
    match e {
        mysql_async::Error::Server(s) if is_refusal(s.code) => format!(" ({})", refusal_hint(s.code)),
        _ => String::new(),
    }
}

/// The driver's repeated error parts said once (shared with check-gen through connect-config).
pub use connect_config::said_once;

/// A sink's errors.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The server or the connection failed. A refusal (a missing privilege, `read_only`) says what
    /// to grant.
    // The driver's error is shown, not chained: its own source repeats its text.
    #[error("{server}: {}{}", said_once(&error.to_string()), refusal_suffix(error))]
    Db {
        /// `host:port` of the server.
        server: String,
        /// What the driver said.
        error: mysql_async::Error,
    },
    /// `SET SESSION sql_log_bin = 0` was refused: in local mode the ingester will not write rows that
    /// would replicate.
    #[error(
        "{server}: the account may not keep audit-ingest's writes out of the binary log (SET SESSION sql_log_bin = 0: {message}). \
         Grant BINLOG ADMIN (MariaDB 10.5.2+; SUPER before) or SESSION_VARIABLES_ADMIN (MySQL 8.0.14+, Percona Server) to it, as in examples/grant.sql; \
         or, to have these writes replicate on purpose (a central store), run with --mode central"
    )]
    BinlogPrivilege {
        /// `host:port` of the server.
        server: String,
        /// The server's message.
        message: String,
    },
    /// The tables are at a layout this release does not write.
    #[error("{0}")]
    SchemaVersion(String),
    /// The checkpoint in the table is not the one this process committed: another process writes the
    /// same source, or the table was changed by hand.
    #[error("checkpoint of source {source_name:?} moved under us (expected offset {expected:?}, found {found:?}): is another audit-ingest running for this source?")]
    Conflict {
        /// The source.
        source_name: String,
        /// What we committed last.
        expected: Option<u64>,
        /// What the table holds.
        found: Option<u64>,
    },
    /// The stored checkpoint cannot be read.
    #[error("source {source_name:?}: {reason}")]
    BadCheckpoint {
        /// The source.
        source_name: String,
        /// Why.
        reason: String,
    },
    /// Another process holds the source's lock.
    #[error("source {0:?} is being ingested by another process (lock held)")]
    Locked(String),
    /// A statement stored rows with warnings (or fewer rows than sent): the server changed or
    /// dropped data, so the batch is refused rather than stored altered.
    #[error("{statement}: {warnings} warning(s), {stored} of {sent} rows stored; the batch is not committed. First warnings: {sample}")]
    Warnings {
        /// `LOAD DATA` or `INSERT`.
        statement: &'static str,
        /// The server's warning count.
        warnings: u64,
        /// Rows the statement stored.
        stored: u64,
        /// Rows sent.
        sent: u64,
        /// `SHOW WARNINGS`, first few.
        sample: String,
    },
    /// `--load-method infile` was asked for but the server refuses LOCAL INFILE.
    #[error("LOAD DATA LOCAL INFILE is disabled on the server (@@local_infile = 0): enable it (local_infile=ON) or use --load-method insert")]
    InfileDisabled,
    /// The server did not say a new connection's id or its uptime, without which the ingester
    /// cannot tell its own statements in the log from other sessions'.
    #[error("{0}: the server did not return CONNECTION_ID() and its Uptime status on a new connection")]
    NoConnectionId(String),
}

impl SinkError {
    /// The server's error code, if the server refused a statement.
    pub fn server_code(&self) -> Option<u16> {
        match self {
            SinkError::Db { error: mysql_async::Error::Server(s), .. } => Some(s.code),
            _ => None,
        }
    }

    /// What the caller should do about it.
    pub fn class(&self) -> ErrorClass {
        match self {
            SinkError::Db { error, .. } => match error {
                mysql_async::Error::Io(_) | mysql_async::Error::Driver(_) => ErrorClass::Transient,
                mysql_async::Error::Server(s) if is_refusal(s.code) => ErrorClass::Refused,
                mysql_async::Error::Server(s) if TRANSIENT_CODES.contains(&s.code) => ErrorClass::Transient,
                _ => ErrorClass::Fatal,
            },
            SinkError::BinlogPrivilege { .. } => ErrorClass::Refused,
            SinkError::Locked(_) => ErrorClass::Transient,
            SinkError::SchemaVersion(_) | SinkError::Conflict { .. } | SinkError::BadCheckpoint { .. } | SinkError::Warnings { .. } | SinkError::InfileDisabled | SinkError::NoConnectionId(_) => ErrorClass::Fatal,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn repeated_parts_are_said_once() {
        assert_eq!(super::said_once("Input/output error: Input/output error: Connection refused (os error 111)"), "Input/output error: Connection refused (os error 111)");
        assert_eq!(super::said_once("a: b: a"), "a: b: a");
    }
}
