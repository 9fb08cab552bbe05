//! The `[client]` section of a MySQL option file (`~/.my.cnf` style), as the mysql client reads it.

/// The `[client]` settings of a MySQL option file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ClientSection {
    /// The account to log in as.
    pub user: Option<String>,
    /// Its password.
    pub password: Option<String>,
    /// The server's host name or address.
    pub host: Option<String>,
    /// The server's TCP port.
    pub port: Option<u16>,
    /// A Unix socket path, used instead of TCP when given.
    pub socket: Option<String>,
    /// The database that holds the audit tables.
    pub database: Option<String>,
}

/// A line of an option file that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line} (byte {byte}): {reason}")]
pub struct OptionFileError {
    /// 1-based line number.
    pub line: usize,
    /// Byte offset of the line's start in the file.
    pub byte: usize,
    /// What is wrong with it.
    pub reason: String,
}

/// Parses the `[client]` (and `[audit-ingest]`) sections of a MySQL option file; other sections and
/// unknown keys are skipped, as the mysql client skips what it does not use.
pub fn parse_option_file(text: &str) -> Result<ClientSection, OptionFileError> {
    let mut out = ClientSection::default();
    let mut in_client = false;
    let mut byte = 0;
    for (n, raw) in text.split_inclusive('\n').enumerate() {
        let start = byte;
        byte += raw.len();
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_client = matches!(section.trim(), "client" | "audit-ingest");
            continue;
        }
        if !in_client {
            continue;
        }
        let (key, value) = line.split_once('=').map_or((line, ""), |(k, v)| (k.trim(), v.trim()));
        let value = unquote(value).to_string();
        match key.replace('_', "-").as_str() {
            "user" => out.user = Some(value),
            "password" => out.password = Some(value),
            "host" => out.host = Some(value),
            "port" => {
                let port = value.parse().map_err(|_| OptionFileError { line: n + 1, byte: start, reason: format!("port is not a number: {value:?}") })?;
                out.port = Some(port);
            }
            "socket" => out.socket = Some(value),
            "database" => out.database = Some(value),
            _ => {}
        }
    }
    Ok(out)
}

/// A value without one pair of surrounding quotes, as the client strips them.
fn unquote(value: &str) -> &str {
    ['"', '\''].iter().find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q))).unwrap_or(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_file_client_section() {
        let c = parse_option_file("[mysqld]\nuser=mysql\n[client]\nuser = audit_ingest\npassword=\"s3cr#t\"\nport=3307\n# comment\n[mysql]\nuser=other\n").unwrap();
        assert_eq!(c.user.as_deref(), Some("audit_ingest"));
        assert_eq!(c.password.as_deref(), Some("s3cr#t"));
        assert_eq!(c.port, Some(3307));
        assert!(parse_option_file("[client]\nport=x\n").is_err());
    }

    #[test]
    fn a_bad_port_names_its_line_and_byte() {
        let e = parse_option_file("[client]\nuser=a\nport=x\n").unwrap_err();
        assert_eq!((e.line, e.byte), (3, 16));
        assert_eq!(e.to_string(), "line 3 (byte 16): port is not a number: \"x\"");
    }
}
