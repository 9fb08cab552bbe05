//! Where the database is and how to log in, without credentials on the command line: a DSN
//! (`--dsn`, an environment variable), audit-ingest's TOML config file, or a MySQL option file's
//! `[client]` section; and TLS as the mysql client names it.
//!
//! Both `audit-ingest` and `check-gen run` connect this way, with one precedence rule (flags over the
//! config file, [`ConnectSettings::from_flags_and_file`]), so one set of files serves both. A crate of
//! its own so that check-gen gets it without the ingester.
//!
//! ```
//! use connect_config::{connect_options, ConfigFile, ConnectSettings};
//!
//! let file = ConfigFile { dsn: Some("mysql://pmm:secret@db1:3306/audit".into()), ..Default::default() };
//! let settings = ConnectSettings::from_flags_and_file(None, None, None, None, &file)?;
//! let (opts, database) = connect_options(&settings)?;
//! assert_eq!((opts.ip_or_hostname(), database.as_str()), ("db1", "audit"));
//! # Ok::<(), connect_config::ConfigError>(())
//! ```
#![deny(missing_docs)]

use std::path::{Path, PathBuf};

use mysql_async::{Opts, OptsBuilder, SslOpts};
use serde::Deserialize;

mod option_file;

pub use option_file::{parse_option_file, ClientSection, OptionFileError};

/// The database used when neither the DSN nor the option file names one.
pub const DEFAULT_DATABASE: &str = "percona";

/// Why the connection settings could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A config or option file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The TOML config file is not valid (the message names the line and column).
    #[error("{}: {source}", path.display())]
    Toml {
        /// The file.
        path: PathBuf,
        /// What the TOML parser said.
        source: toml::de::Error,
    },
    /// The option file has a bad line.
    #[error("{}: {source}", path.display())]
    OptionFile {
        /// The file.
        path: PathBuf,
        /// The line and what is wrong with it.
        source: OptionFileError,
    },
    /// The config file's `ssl_mode` is none of the known modes.
    #[error(transparent)]
    SslMode(#[from] UnknownSslMode),
    /// The DSN is not a `mysql://` URL the driver takes.
    #[error("invalid DSN: {0}")]
    Dsn(#[source] mysql_async::UrlError),
}

/// The settings audit-ingest's TOML config file may hold (every key optional; command-line flags win).
/// check-gen reads the same file and uses its connection keys.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// `mysql://user:password@host:port/database`.
    pub dsn: Option<String>,
    /// A MySQL option file to read `[client]` from.
    pub defaults_file: Option<PathBuf>,
    /// The data table's name (the checkpoint and dead-letter tables are named after it).
    pub table: Option<String>,
    /// The name of the followed source in the checkpoint table (default: the log's absolute path).
    pub source: Option<String>,
    /// `disabled`, `required`, `verify-ca`, `verify-identity`.
    pub ssl_mode: Option<String>,
    /// CA certificate path for `verify-ca` and `verify-identity`.
    pub ssl_ca: Option<PathBuf>,
    /// The audited server's name stored in every row (default: the host name).
    pub server: Option<String>,
    /// `local` (the default: writes stay out of the binary log) or `central`.
    pub mode: Option<String>,
}

impl ConfigFile {
    /// Reads a TOML config file; unknown keys are refused (a typo must not pass silently).
    pub fn load(path: &Path) -> Result<ConfigFile, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        toml::from_str(&text).map_err(|source| ConfigError::Toml { path: path.into(), source })
    }
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
    /// Every mode with its name, as `--ssl-mode` and the config file spell it.
    pub const NAMES: [(&'static str, SslMode); 4] =
        [("disabled", SslMode::Disabled), ("required", SslMode::Required), ("verify-ca", SslMode::VerifyCa), ("verify-identity", SslMode::VerifyIdentity)];
}

/// A TLS mode name that is none of [`SslMode::NAMES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid ssl_mode {0:?} (one of disabled, required, verify-ca, verify-identity)")]
pub struct UnknownSslMode(pub String);

impl std::str::FromStr for SslMode {
    type Err = UnknownSslMode;
    /// Case-insensitive; `_` is taken for `-` (`VERIFY_CA`, as MySQL prints it).
    fn from_str(s: &str) -> Result<Self, UnknownSslMode> {
        let wanted = s.trim().to_ascii_lowercase().replace('_', "-");
        SslMode::NAMES.iter().find(|(n, _)| *n == wanted).map(|(_, m)| *m).ok_or_else(|| UnknownSslMode(s.to_string()))
    }
}

/// Everything needed to connect.
#[derive(Debug, Clone, Default)]
pub struct ConnectSettings {
    /// `mysql://user:password@host:port/database`, from a flag, the environment or the config file.
    pub dsn: Option<String>,
    /// A MySQL option file whose `[client]` section overrides the DSN's parts.
    pub defaults_file: Option<PathBuf>,
    /// TLS.
    pub ssl_mode: SslMode,
    /// CA certificate for the verifying modes.
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
    ) -> Result<ConnectSettings, ConfigError> {
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

/// The connection options, and the database named (or [`DEFAULT_DATABASE`]). Without a DSN the
/// client's defaults apply (root at 127.0.0.1), overridden by the option file.
pub fn connect_options(s: &ConnectSettings) -> Result<(Opts, String), ConfigError> {
    let dsn_opts = s.dsn.as_deref().map(Opts::from_url).transpose().map_err(ConfigError::Dsn)?;
    let mut database = dsn_opts.as_ref().and_then(|o| o.db_name().map(str::to_string));
    let mut builder = match dsn_opts {
        Some(opts) => OptsBuilder::from_opts(opts),
        None => OptsBuilder::default().ip_or_hostname("127.0.0.1").user(Some("root")),
    };
    if let Some(path) = &s.defaults_file {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.clone(), source })?;
        let c = parse_option_file(&text).map_err(|source| ConfigError::OptionFile { path: path.clone(), source })?;
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
    let database = database.unwrap_or_else(|| DEFAULT_DATABASE.to_string());
    // The tables are named in full in every statement; connect without a default database, which may
    // not exist yet.
    let builder = builder.db_name(None::<String>).ssl_opts(ssl_opts(s)).prefer_socket(false);
    Ok((Opts::from(builder), database))
}

/// The driver's TLS options for a mode; `None` is plain TCP.
fn ssl_opts(s: &ConnectSettings) -> Option<SslOpts> {
    if s.ssl_mode == SslMode::Disabled {
        return None;
    }
    let mut o = SslOpts::default();
    if let Some(ca) = &s.ssl_ca {
        o = o.with_root_certs(vec![ca.clone().into()]);
    }
    Some(match s.ssl_mode {
        SslMode::Required => o.with_danger_accept_invalid_certs(true).with_danger_skip_domain_validation(true),
        SslMode::VerifyCa => o.with_danger_skip_domain_validation(true),
        _ => o,
    })
}

/// `host:port` (or the socket) a connection goes to, for messages.
pub fn describe(opts: &Opts) -> String {
    match opts.socket() {
        Some(s) => format!("{}:{} (socket {s})", opts.ip_or_hostname(), opts.tcp_port()),
        None => format!("{}:{}", opts.ip_or_hostname(), opts.tcp_port()),
    }
}

/// A driver error's text with each repeated `: `-separated part said once: mysql_async's I/O errors
/// print their source twice ("Input/output error: Input/output error: ...").
pub fn said_once(text: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in text.split(": ") {
        if parts.last() != Some(&part) {
            parts.push(part);
        }
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dsn_names_the_database() {
        let (_, db) = connect_options(&ConnectSettings { dsn: Some("mysql://u:p@127.0.0.1:3306/audit".into()), ..Default::default() }).unwrap();
        assert_eq!(db, "audit");
        let (_, db) = connect_options(&ConnectSettings { dsn: Some("mysql://u:p@127.0.0.1:3306".into()), ..Default::default() }).unwrap();
        assert_eq!(db, "percona");
    }

    #[test]
    fn a_bad_dsn_is_refused() {
        let e = connect_options(&ConnectSettings { dsn: Some("postgres://u@h/".into()), ..Default::default() }).unwrap_err();
        assert!(e.to_string().starts_with("invalid DSN"), "{e}");
    }

    #[test]
    fn flags_win_over_the_file() {
        let file = ConfigFile { dsn: Some("mysql://file@h/".into()), ssl_mode: Some("required".into()), ..Default::default() };
        let s = ConnectSettings::from_flags_and_file(Some("mysql://flag@h/".into()), None, None, None, &file).unwrap();
        assert_eq!((s.dsn.as_deref(), s.ssl_mode), (Some("mysql://flag@h/"), SslMode::Required));
        let s = ConnectSettings::from_flags_and_file(None, None, Some(SslMode::VerifyCa), None, &file).unwrap();
        assert_eq!((s.dsn.as_deref(), s.ssl_mode), (Some("mysql://file@h/"), SslMode::VerifyCa));
        let bad = ConfigFile { ssl_mode: Some("maybe".into()), ..Default::default() };
        assert!(matches!(ConnectSettings::from_flags_and_file(None, None, None, None, &bad), Err(ConfigError::SslMode(_))));
    }

    #[test]
    fn ssl_mode_names() {
        for (name, mode) in SslMode::NAMES {
            assert_eq!(name.parse(), Ok(mode));
        }
        assert_eq!("VERIFY_IDENTITY".parse(), Ok(SslMode::VerifyIdentity));
        assert_eq!("tls".parse::<SslMode>(), Err(UnknownSslMode("tls".into())));
    }

    #[test]
    fn a_bad_option_file_names_the_file_and_line() {
        let dir = std::env::temp_dir().join(format!("connect-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.cnf");
        std::fs::write(&path, "[client]\nport=x\n").unwrap();
        let e = connect_options(&ConnectSettings { defaults_file: Some(path.clone()), ..Default::default() }).unwrap_err();
        assert_eq!(e.to_string(), format!("{}: line 2 (byte 9): port is not a number: \"x\"", path.display()));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn repeated_parts_are_said_once() {
        assert_eq!(said_once("Input/output error: Input/output error: Connection refused (os error 111)"), "Input/output error: Connection refused (os error 111)");
        assert_eq!(said_once("a: b: a"), "a: b: a");
    }
}
