//! Where the database is and how to log in, without credentials on the command line: `--dsn`,
//! `AUDIT_INGEST_DSN`, a TOML config file, or a MySQL option file's `[client]` section.

use std::path::{Path, PathBuf};

use mysql_async::{Opts, OptsBuilder, SslOpts};
use serde::Deserialize;

/// A connection setting that cannot be used, naming the file it came from when there is one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// A config or option file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A TOML config file that does not parse, or holds a key it may not.
    #[error("{}: {reason}", path.display())]
    ConfigSyntax {
        /// The file.
        path: PathBuf,
        /// What the TOML parser said (line, column, key).
        reason: String,
    },
    /// A line of a MySQL option file's `[client]` section with a value that cannot be used.
    #[error("{}line {line}: {reason}", path.as_ref().map(|p| format!("{}: ", p.display())).unwrap_or_default())]
    OptionFile {
        /// The file, once known.
        path: Option<PathBuf>,
        /// The line, from 1.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// An `ssl_mode` that is none of the four.
    #[error(transparent)]
    SslMode(#[from] UnknownSslMode),
    /// A DSN that is no `mysql://` URL.
    #[error("invalid DSN: {0}")]
    Dsn(String),
}

/// The settings a config file may hold (every key optional; command-line flags win).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// `mysql://user:password@host:port/database`.
    pub dsn: Option<String>,
    /// A MySQL option file to read `[client]` from.
    pub defaults_file: Option<PathBuf>,
    /// The data table's name.
    pub table: Option<String>,
    /// The source name.
    pub source: Option<String>,
    /// `disabled`, `required`, `verify-ca`, `verify-identity`.
    pub ssl_mode: Option<String>,
    /// CA certificate path.
    pub ssl_ca: Option<PathBuf>,
    /// The audited server's name (default: the host name).
    pub server: Option<String>,
    /// `local` (the default: writes stay out of the binary log) or `central`.
    pub mode: Option<String>,
}

impl ConfigFile {
    /// Reads a TOML config file.
    pub fn load(path: &Path) -> Result<ConfigFile, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Io { path: path.to_path_buf(), source })?;
        toml::from_str(&text).map_err(|e| SettingsError::ConfigSyntax { path: path.to_path_buf(), reason: e.to_string() })
    }
}

/// The `[client]` settings of a MySQL option file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ClientSection {
    /// `user`.
    pub user: Option<String>,
    /// `password`.
    pub password: Option<String>,
    /// `host`.
    pub host: Option<String>,
    /// `port`.
    pub port: Option<u16>,
    /// `socket`.
    pub socket: Option<String>,
    /// `database`.
    pub database: Option<String>,
}

/// Parses the `[client]` (and `[audit-ingest]`) sections of a MySQL option file.
pub fn parse_option_file(text: &str) -> Result<ClientSection, SettingsError> {
    let mut out = ClientSection::default();
    let mut in_client = false;
    for (n, raw) in text.lines().enumerate() {
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
        let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\''))).unwrap_or(value).to_string();
        match key.replace('_', "-").as_str() {
            "user" => out.user = Some(value),
            "password" => out.password = Some(value),
            "host" => out.host = Some(value),
            "port" => {
                let reason = format!("port is not a number: {value:?}");
                out.port = Some(value.parse().map_err(|_| SettingsError::OptionFile { path: None, line: n + 1, reason })?);
            }
            "socket" => out.socket = Some(value),
            "database" => out.database = Some(value),
            _ => {}
        }
    }
    Ok(out)
}

/// TLS as the MySQL client's `--ssl-mode` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// No TLS.
    #[default]
    Disabled,
    /// Encrypt, do not verify the certificate.
    Required,
    /// Encrypt and verify the certificate against the CA, not the host name.
    VerifyCa,
    /// Encrypt and verify the certificate and the host name.
    VerifyIdentity,
}

impl SslMode {
    /// Every mode, in `--ssl-mode`'s order.
    pub const ALL: [SslMode; 4] = [SslMode::Disabled, SslMode::Required, SslMode::VerifyCa, SslMode::VerifyIdentity];

    /// The name the MySQL client gives it: `disabled`, `required`, `verify-ca`, `verify-identity`.
    pub fn name(self) -> &'static str {
        match self {
            SslMode::Disabled => "disabled",
            SslMode::Required => "required",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyIdentity => "verify-identity",
        }
    }
}

/// A name that is no [`SslMode`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid ssl mode {0:?}: use disabled, required, verify-ca or verify-identity")]
pub struct UnknownSslMode(pub String);

impl std::str::FromStr for SslMode {
    type Err = UnknownSslMode;
    /// A mode by its name, in any case.
    fn from_str(s: &str) -> Result<Self, UnknownSslMode> {
        SslMode::ALL.into_iter().find(|m| m.name().eq_ignore_ascii_case(s)).ok_or_else(|| UnknownSslMode(s.to_string()))
    }
}

/// Everything needed to connect.
#[derive(Debug, Clone, Default)]
pub struct ConnectSettings {
    /// From `--dsn` or `AUDIT_INGEST_DSN`.
    pub dsn: Option<String>,
    /// From `--defaults-file`.
    pub defaults_file: Option<PathBuf>,
    /// TLS.
    pub ssl_mode: SslMode,
    /// CA file.
    pub ssl_ca: Option<PathBuf>,
}

impl ConnectSettings {
    /// Command-line values first, then the config file's: the one precedence rule of audit-ingest and
    /// check-gen. TLS is off when neither names a mode.
    pub fn from_flags_and_file(
        dsn: Option<String>,
        defaults_file: Option<PathBuf>,
        ssl_mode: Option<SslMode>,
        ssl_ca: Option<PathBuf>,
        file: &ConfigFile,
    ) -> Result<ConnectSettings, SettingsError> {
        let ssl_mode = match (ssl_mode, &file.ssl_mode) {
            (Some(m), _) => m,
            (None, Some(m)) => m.parse()?,
            (None, None) => SslMode::default(),
        };
        Ok(ConnectSettings {
            dsn: dsn.or_else(|| file.dsn.clone()),
            defaults_file: defaults_file.or_else(|| file.defaults_file.clone()),
            ssl_mode,
            ssl_ca: ssl_ca.or_else(|| file.ssl_ca.clone()),
        })
    }
}

/// The connection options, and the database named (or `percona`).
pub fn connect_options(s: &ConnectSettings) -> Result<(Opts, String), SettingsError> {
    let mut builder = match &s.dsn {
        Some(dsn) => OptsBuilder::from_opts(Opts::from_url(dsn).map_err(|e| SettingsError::Dsn(e.to_string()))?),
        None => OptsBuilder::default().ip_or_hostname("127.0.0.1").user(Some("root")),
    };
    let mut database = s.dsn.as_deref().and_then(|d| Opts::from_url(d).ok()).and_then(|o| o.db_name().map(str::to_string));
    if let Some(path) = &s.defaults_file {
        let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Io { path: path.clone(), source })?;
        let c = parse_option_file(&text).map_err(|e| match e {
            SettingsError::OptionFile { line, reason, .. } => SettingsError::OptionFile { path: Some(path.clone()), line, reason },
            e => e,
        })?;
        if let Some(v) = c.user {
            builder = builder.user(Some(v));
        }
        if let Some(v) = c.password {
            builder = builder.pass(Some(v));
        }
        if let Some(v) = c.host {
            builder = builder.ip_or_hostname(v);
        }
        if let Some(v) = c.port {
            builder = builder.tcp_port(v);
        }
        if let Some(v) = c.socket {
            builder = builder.socket(Some(v));
        }
        if let Some(v) = c.database {
            database = Some(v);
        }
    }
    let ssl = match s.ssl_mode {
        SslMode::Disabled => None,
        mode => {
            let mut o = SslOpts::default();
            if let Some(ca) = &s.ssl_ca {
                o = o.with_root_certs(vec![ca.clone().into()]);
            }
            Some(match mode {
                SslMode::Required => o.with_danger_accept_invalid_certs(true).with_danger_skip_domain_validation(true),
                SslMode::VerifyCa => o.with_danger_skip_domain_validation(true),
                _ => o,
            })
        }
    };
    let database = database.unwrap_or_else(|| "percona".to_string());
    // The tables are named in full in every statement; connect without a default database, which may
    // not exist yet.
    let builder = builder.db_name(None::<String>).ssl_opts(ssl).prefer_socket(false);
    Ok((Opts::from(builder), database))
}

/// `host:port` (or the socket) a connection goes to, for messages.
pub fn describe(opts: &mysql_async::Opts) -> String {
    match opts.socket() {
        Some(s) => format!("{}:{} (socket {s})", opts.ip_or_hostname(), opts.tcp_port()),
        None => format!("{}:{}", opts.ip_or_hostname(), opts.tcp_port()),
    }
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

    /// The examples the README points to parse, with the values they show.
    #[test]
    fn example_config_and_option_file_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
        let c = ConfigFile::load(&dir.join("audit-ingest.toml")).unwrap();
        assert_eq!(c.defaults_file.as_deref(), Some(Path::new("/etc/audit-ingest/client.cnf")));
        assert_eq!((c.table.as_deref(), c.server.as_deref(), c.mode.as_deref()), (Some("audit_data"), Some("db1"), Some("local")));
        assert_eq!(c.ssl_mode.as_deref().map(str::parse::<SslMode>), Some(Ok(SslMode::Disabled)));
        assert!(c.mode.unwrap().parse::<crate::sink::WriteMode>().is_ok());
        let o = parse_option_file(&std::fs::read_to_string(dir.join("audit-ingest.cnf")).unwrap()).unwrap();
        assert_eq!((o.user.as_deref(), o.port, o.database.as_deref()), (Some("audit_ingest"), Some(3306), Some("percona")));
    }

    #[test]
    fn dsn_names_the_database() {
        let (_, db) = connect_options(&ConnectSettings { dsn: Some("mysql://u:p@127.0.0.1:3306/audit".into()), ..Default::default() }).unwrap();
        assert_eq!(db, "audit");
        let (_, db) = connect_options(&ConnectSettings { dsn: Some("mysql://u:p@127.0.0.1:3306".into()), ..Default::default() }).unwrap();
        assert_eq!(db, "percona");
    }
}
