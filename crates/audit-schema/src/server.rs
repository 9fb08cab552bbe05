//! The audited server's name: part of every row's key, so many servers' records can share one store.

use std::fmt;

use crate::IdentError;

/// Longest server name (the column is `VARCHAR(64)`).
pub const MAX_SERVER_LEN: usize = 64;

/// The name of an audited server, as `audit-ingest --server` gives it (default: the host name).
///
/// 1 to 64 characters of `[A-Za-z0-9._:-]`, starting with a letter or digit: every host name, FQDN
/// or `host:port` fits, and such a name is safe inside a quoted SQL literal and a Prometheus label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerName(String);

impl ServerName {
    /// Validates a name.
    pub fn new(name: &str) -> Result<ServerName, IdentError> {
        let err = |reason| Err(IdentError { name: name.to_string(), reason });
        if name.is_empty() {
            return err("empty server name");
        }
        if name.len() > MAX_SERVER_LEN {
            return err("server name longer than 64 characters");
        }
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-')) {
            return err("a server name takes only letters, digits, '.', '_', ':' and '-'");
        }
        if !name.as_bytes()[0].is_ascii_alphanumeric() {
            return err("a server name starts with a letter or digit");
        }
        Ok(ServerName(name.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as a single-quoted SQL literal (safe: the name was validated).
    pub fn literal(&self) -> String {
        format!("'{}'", self.0)
    }
}

impl fmt::Display for ServerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for ServerName {
    type Err = IdentError;
    fn from_str(s: &str) -> Result<Self, IdentError> {
        ServerName::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_pass_and_hostile_names_do_not() {
        for ok in ["db1", "db-1.example.com", "10.0.0.5:3306", "DB_2"] {
            assert!(ServerName::new(ok).is_ok(), "{ok:?} refused");
        }
        for bad in ["", "a'b", "a b", "-x", ".x", "x;y", "é", &"x".repeat(65), "a\\b", "a\"b"] {
            assert!(ServerName::new(bad).is_err(), "{bad:?} accepted");
        }
    }
}
