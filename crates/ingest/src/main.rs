//! `audit-ingest`: reads MySQL audit logs and stores them for PMM's advisor checks; a thin command line
//! over the `audit-model` and `ingest` libraries.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use audit_model::Kind;
use clap::{Args, Parser, Subcommand};
use ingest::config::{connect_options, ConfigFile, ConnectSettings, SslMode};
use ingest::decode::Decoder;
use ingest::filter::RecordFilter;
use ingest::follower::StartAt;
use ingest::metrics::{LoginConfig, Metrics};
use ingest::sink::{ErrorClass, LoadMethod, SchemaChange, Sink, SinkOptions, WriteMode};
use ingest::{ConfigError, IngestError, Ingester, IngesterBuilder};

mod backfill_cmd;
mod decrypt_args;
mod doctor_cmd;
mod errors;
mod format_arg;
mod output;
mod parse_cmd;
mod progress;
mod sources_cmd;

/// What the help of every storing command says about the server's settings.
macro_rules! server_note {
    () => {
        "Server settings:\n  \
         max_allowed_packet must exceed the largest record (as Percona JSON, plus about 64 KiB): MySQL 8's default\n  \
         of 64 MiB is fine; MariaDB's default of 16 MiB is not for 16 MiB statements. A record too large for it is\n  \
         stored in the dead-letter table (its first bytes and the reason), not in the data table.\n  \
         local_infile=ON lets records load with LOAD DATA LOCAL INFILE (--load-method infile, then the default;\n  \
         faster); with it OFF, multi-row INSERTs are used."
    };
}
pub(crate) use server_note;
const SERVER_NOTE: &str = server_note!();

/// Reads MySQL audit logs (Percona audit_log, audit_log_filter / MySQL Enterprise Audit, MariaDB
/// server_audit) and stores every record exactly once in a MySQL table that PMM's advisor checks query.
#[derive(Debug, Parser)]
#[command(name = "audit-ingest", version, about, long_about = None, after_help = SERVER_NOTE)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Parse(parse_cmd::ParseArgs),
    Follow(FollowArgs),
    Backfill(backfill_cmd::BackfillArgs),
    Sources(sources_cmd::SourcesArgs),
    Doctor(doctor_cmd::DoctorArgs),
    Schema(SchemaArgs),
    Status(StatusArgs),
}

/// How to reach the database. Credentials never need the command line: use AUDIT_INGEST_DSN, a config
/// file or a MySQL option file.
#[derive(Debug, Args, Clone)]
struct DbArgs {
    /// mysql://user:password@host:port/database (the database holds the tables; `percona` when none).
    #[arg(long, env = "AUDIT_INGEST_DSN", hide_env_values = true)]
    dsn: Option<String>,
    /// A TOML file with any of: dsn, defaults_file, table, source, ssl_mode, ssl_ca, server, mode.
    #[arg(long)]
    config: Option<PathBuf>,
    /// A MySQL option file whose [client] section gives user, password, host, port, socket, database.
    #[arg(long)]
    defaults_file: Option<PathBuf>,
    /// The data table; the checkpoint and dead-letter tables are named after it.
    #[arg(long)]
    table: Option<String>,
    /// TLS: disabled, required, verify-ca or verify-identity.
    #[arg(long, ignore_case = true, value_parser = ssl_mode_parser())]
    ssl_mode: Option<SslMode>,
    /// CA certificate for verify-ca and verify-identity.
    #[arg(long)]
    ssl_ca: Option<PathBuf>,
    /// The audited server's name, stored in every row and checkpoint (letters, digits, '.', '_', ':',
    /// '-'; default: this machine's host name). Give each host of a fleet its own.
    #[arg(long, env = "AUDIT_INGEST_SERVER")]
    server: Option<String>,
    /// `local`: this server keeps its own audit tables and nothing audit-ingest writes enters the binary
    /// log (SET SESSION sql_log_bin = 0; needs BINLOG ADMIN on MariaDB, SESSION_VARIABLES_ADMIN on
    /// MySQL 8 / Percona). `central`: write through the binary log on purpose, into a store that many
    /// hosts share and that may replicate.
    #[arg(long)]
    mode: Option<WriteMode>,
}

/// `--ssl-mode`: the library's names, listed in `--help`.
fn ssl_mode_parser() -> impl clap::builder::TypedValueParser<Value = SslMode> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(SslMode::NAMES.map(|(n, _)| n)).try_map(|s| s.parse::<SslMode>())
}

#[derive(Clone)]
struct Db {
    opts: mysql_async::Opts,
    names: audit_schema::TableNames,
    source: Option<String>,
    server: audit_schema::ServerName,
    mode: WriteMode,
}

impl Db {
    fn sink(&self, source: String) -> Sink {
        Sink::new(self.opts.clone(), SinkOptions::new(self.names.clone(), source, self.server.clone()).with_mode(self.mode))
    }
}

impl DbArgs {
    fn resolve(&self) -> Result<Db> {
        let file = match &self.config {
            Some(p) => ConfigFile::load(p)?,
            None => ConfigFile::default(),
        };
        let settings = ConnectSettings::from_flags_and_file(self.dsn.clone(), self.defaults_file.clone(), self.ssl_mode, self.ssl_ca.clone(), &file)?;
        if settings.dsn.is_none() && settings.defaults_file.is_none() {
            bail!("no database given: use --dsn, AUDIT_INGEST_DSN, --config or --defaults-file");
        }
        let (opts, database) = connect_options(&settings)?;
        let table = self.table.clone().or(file.table).unwrap_or_else(|| "audit_data".into());
        let names = audit_schema::TableNames::new(&database, &table)?;
        let server = match self.server.clone().or(file.server) {
            Some(s) => audit_schema::ServerName::new(&s).context("--server")?,
            None => ingest::sink::host_server_name().map_err(anyhow::Error::msg)?,
        };
        let mode = match (self.mode, file.mode) {
            (Some(m), _) => m,
            (None, Some(m)) => m.parse().map_err(anyhow::Error::msg)?,
            (None, None) => WriteMode::Local,
        };
        Ok(Db { opts, names, source: file.source, server, mode })
    }
}

/// Options shared by follow and backfill.
#[derive(Debug, Args, Clone)]
struct ReadArgs {
    /// The log's format; `auto` recognises it from the first record (see the README's table of formats).
    #[arg(long, default_value = "auto", value_parser = format_arg::parser())]
    format: format_arg::FormatArg,
    /// Time zone of formats written in local time (MariaDB, audit_log_filter): IANA name, UTC or system.
    #[arg(long, default_value = "UTC")]
    time_zone: String,
    /// The source's name (the checkpoint's key; default: the log's absolute path).
    #[arg(long)]
    source: Option<String>,
    /// Store only these kinds (comma-separated: connect, disconnect, change_user, query, table_access,
    /// startup, shutdown, other), like audit_log_policy=LOGINS with `connect,disconnect,change_user`.
    /// The query checks (privilege changes, audit tampering, file access) need `query`.
    #[arg(long, value_delimiter = ',')]
    kinds: Vec<String>,
    /// Accounts whose records are not stored (user or user@host; repeatable). Failed logins are always
    /// stored.
    #[arg(long = "exclude-account")]
    exclude_accounts: Vec<String>,
    /// Also store the records of audit-ingest's own connections (left out by default, so its own
    /// writes never loop back; other sessions of its account are always stored).
    #[arg(long)]
    include_self: bool,
    /// Rows a batch at most.
    #[arg(long, default_value_t = 1000)]
    batch_rows: usize,
    /// How records reach the table: `infile` (LOAD DATA LOCAL INFILE, data streamed from memory, in the
    /// batch's transaction) or `insert` (multi-row INSERTs with parameters). Default: infile when the
    /// server has local_infile=ON, else insert.
    #[arg(long, env = "AUDIT_INGEST_LOAD_METHOD")]
    load_method: Option<LoadMethod>,
    /// Do not create the database and tables when they are missing.
    #[arg(long)]
    no_create_schema: bool,
}

/// Follow a live audit log and store its records (the daemon). SIGTERM or SIGINT commit what was read
/// and exit 0.
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "Example:\n  AUDIT_INGEST_DSN=mysql://audit_ingest:secret@127.0.0.1:3306/percona audit-ingest follow /var/lib/mysql/audit.log\n\n",
    server_note!(),
    "\n\n",
    decrypt_args::help!()
))]
struct FollowArgs {
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    read: ReadArgs,
    /// The password of rotated encrypted files (the live file of an encrypting server is refused).
    #[command(flatten)]
    decrypt: decrypt_args::DecryptArgs,
    /// Without a checkpoint: `beginning` reads the file's history, `end` skips it.
    #[arg(long, default_value = "beginning", value_parser = ["beginning", "end"])]
    start_at: String,
    /// Delete rows older than this (e.g. 30d, 12h); off by default.
    #[arg(long, value_parser = parse_duration)]
    retention: Option<Duration>,
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9105; keep it on localhost
    /// or a private interface: the labels name accounts and client addresses). A port in use is an
    /// error at start.
    #[arg(long)]
    metrics_listen: Option<std::net::SocketAddr>,
    /// Label sets each per-account or per-client metric family keeps; later ones are summed into the
    /// family's `overflow="true"` series, so invented account names cannot grow the scrape.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    metrics_max_accounts: u32,
    /// Accounts (user names) whose successful logins from public addresses are counted in
    /// audit_ingest_privileged_public_logins_total (repeatable; default root).
    #[arg(long = "privileged-account", value_name = "USER", default_values_t = ["root".to_string()])]
    privileged_accounts: Vec<String>,
    /// Touch the heartbeat this often while idle (seconds).
    #[arg(long, default_value_t = 30)]
    heartbeat_secs: u64,
    /// The audit log to follow.
    path: PathBuf,
}

/// Print the tables' DDL, or create or upgrade them in place (--apply). In the default local mode
/// none of it enters the binary log: run it on every server that keeps its own tables (a primary and
/// each replica).
#[derive(Debug, Args)]
struct SchemaArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Create the tables, or upgrade an older layout in place (rows written before are attributed to
    /// --server).
    #[arg(long, conflicts_with = "upgrade_sql")]
    apply: bool,
    /// Connect, and print the statements --apply would run for the layout found (nothing when it is
    /// current).
    #[arg(long)]
    upgrade_sql: bool,
}

/// Print each source's position: file, offset, bytes behind (MISSING: the file does not exist, the
/// follower waits for it), last commit. `audit-ingest sources` says which are live or finished.
#[derive(Debug, Args)]
struct StatusArgs {
    #[command(flatten)]
    db: DbArgs,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().map_err(|_| format!("invalid duration {s:?} (e.g. 30d, 12h, 90m)"))?;
    let secs = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" | "" => 1,
        _ => return Err(format!("invalid duration unit in {s:?}: use d, h, m or s")),
    };
    Ok(Duration::from_secs(n * secs))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Parse(args) = &cli.command {
        return parse_cmd::run(args);
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("AUDIT_INGEST_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(output::stderr_colours())
        .init();
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("audit-ingest: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(run(cli.command)) {
        Ok(code) => code,
        // The reader of the output went away (`status | head -1`): nothing more to say.
        Err(e) if output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("audit-ingest: {}", errors::report(&e));
            ExitCode::from(2)
        }
    }
}

async fn run(cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::Parse(_) => unreachable!("handled before the runtime starts"),
        Command::Schema(a) => schema(a).await,
        Command::Status(a) => status(a).await,
        Command::Follow(a) => follow(a).await,
        Command::Backfill(a) => backfill_cmd::run(a).await,
        Command::Sources(a) => sources_cmd::run(a).await,
        Command::Doctor(a) => doctor_cmd::run(a).await,
    }
}

async fn schema(a: SchemaArgs) -> Result<ExitCode> {
    let db = a.db.resolve()?;
    if !a.apply && !a.upgrade_sql {
        output::outln!("{}", audit_schema::render_ddl(&db.names)?.trim_end());
        return Ok(ExitCode::SUCCESS);
    }
    let sink = db.sink(String::new());
    if a.upgrade_sql {
        for stmt in sink.schema_statements().await? {
            output::outln!("{stmt};\n");
        }
    } else {
        let names = &db.names;
        let what = match sink.apply_schema().await? {
            SchemaChange::Created => "created".to_string(),
            SchemaChange::Upgraded { from } => format!("upgraded from version {from}"),
            SchemaChange::UpToDate => "already current".to_string(),
        };
        output::outln!(
            "schema version {} {what} on {} ({} mode): {}, {}, {}, {}, {}",
            audit_schema::SCHEMA_VERSION,
            sink.address(),
            db.mode.name(),
            names.data(),
            names.checkpoint(),
            names.dead_letter(),
            names.logins(),
            names.schema()
        );
    }
    sink.close().await?;
    Ok(ExitCode::SUCCESS)
}

async fn status(a: StatusArgs) -> Result<ExitCode> {
    use mysql_async::prelude::*;
    let db = a.db.resolve()?;
    let sink = db.sink(String::new());
    // What the ingester of this account would meet now: binary-log privilege, read_only, grants.
    match sink.probe_writes().await {
        // The server is not there (or refuses the login): that is the one thing to say.
        Err(e) if e.class() == ErrorClass::Transient || e.server_code() == Some(1045) => return Err(e.into()),
        Ok(()) => output::outln!("{} ({} mode, server {}): writes accepted", sink.address(), db.mode.name(), db.server),
        Err(e) => output::outln!("{} ({} mode, server {}): writes REFUSED: {e}", sink.address(), db.mode.name(), db.server),
    }
    sink.close().await?;
    // Reading needs no binary-log privilege: a plain connection lists the sources even when writes
    // are refused.
    let pool = mysql_async::Pool::new(db.opts.clone());
    let mut conn = pool.get_conn().await.map_err(|e| anyhow::anyhow!("{}: {e}", ingest::config::describe(&db.opts)))?;
    let sql = format!(
        "SELECT server, source, file_path, file_offset, records_total, DATE_FORMAT(updated_at, '%Y-%m-%dT%H:%i:%sZ'), \
         CAST(TIMESTAMPDIFF(SECOND, updated_at, UTC_TIMESTAMP(6)) AS SIGNED) FROM {} ORDER BY server, source",
        db.names.checkpoint()
    );
    let rows: Vec<(String, String, String, u64, u64, String, i64)> = conn.query(sql).await?;
    let dead_sql = format!("SELECT server, source, COUNT(*) FROM {} GROUP BY server, source", db.names.dead_letter());
    let dead: Vec<(String, String, i64)> = conn.query(dead_sql).await?;
    output::outln!("{:<20} {:<40} {:>14} {:>14} {:>12} {:>8}  {:<22} file", "server", "source", "offset", "bytes behind", "records", "dead", "last commit");
    for (server, source, path, offset, records, updated, age) in rows {
        // Bytes behind only mean something for this host's own files.
        let behind = if server == db.server.as_str() {
            match std::fs::metadata(&path) {
                Ok(m) => m.len().saturating_sub(offset).to_string(),
                // A mistyped path, or a log not created yet: the follower waits for it.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => "MISSING".into(),
                Err(_) => "?".into(),
            }
        } else {
            "-".into()
        };
        let dead = dead.iter().find(|(sv, s, _)| *sv == server && *s == source).map_or(0, |(_, _, n)| *n);
        output::outln!("{server:<20} {source:<40} {offset:>14} {behind:>14} {records:>12} {dead:>8}  {updated} ({age}s ago) {path}");
    }
    drop(conn);
    pool.disconnect().await?;
    Ok(ExitCode::SUCCESS)
}

/// The sink of one source, and an ingester's settings from the flags follow and backfill share.
struct Prepared {
    sink: Sink,
    builder: IngesterBuilder,
}

fn prepare(db: Db, read: &ReadArgs, path: &std::path::Path) -> Result<Prepared> {
    let tz = match read.time_zone.as_str() {
        "UTC" | "utc" => jiff::tz::TimeZone::UTC,
        "system" | "local" => jiff::tz::TimeZone::try_system()?,
        name => jiff::tz::TimeZone::get(name).with_context(|| format!("unknown time zone {name:?}"))?,
    };
    let source = match read.source.clone().or(db.source.clone()) {
        Some(s) => s,
        None => std::path::absolute(path)?.to_string_lossy().into_owned(),
    };
    let filter = record_filter(read)?;
    let sink = db.sink(source).with_load_method(read.load_method);
    let builder = Ingester::builder(path, sink.clone())
        .format(read.format.0)
        .time_zone(tz)
        .filter(filter)
        .exclude_own(!read.include_self)
        .batch_rows(read.batch_rows)
        .create_schema(!read.no_create_schema);
    Ok(Prepared { sink, builder })
}

// ---- The record filter: built here and nowhere else, from --kinds and --exclude-account (the
// ---- ingester's own connections are left out by the library unless --include-self).
fn record_filter(read: &ReadArgs) -> Result<RecordFilter> {
    let kinds = read.kinds.iter().map(|k| k.parse::<Kind>()).collect::<Result<Vec<_>, _>>()?;
    let exclude: Vec<(String, Option<String>)> = read
        .exclude_accounts
        .iter()
        .map(|a| match a.split_once('@') {
            Some((u, h)) => (u.to_string(), Some(h.to_string())),
            None => (a.clone(), None),
        })
        .collect();
    Ok(RecordFilter { kinds, exclude_accounts: exclude, own: None })
}

/// An ingester's error in the words of the command line: a setting names its flag.
fn cli_error(e: IngestError) -> anyhow::Error {
    match e {
        IngestError::Listen { addr, source } => anyhow::Error::new(source).context(format!("--metrics-listen {addr}: cannot listen")),
        IngestError::Config(ConfigError::BatchRows(n)) => {
            anyhow::anyhow!("--batch-rows {n}: must be from {} to {}", ingest::BATCH_ROWS.start(), ingest::BATCH_ROWS.end())
        }
        IngestError::Config(ConfigError::Heartbeat(d)) => {
            anyhow::anyhow!("--heartbeat-secs {}: must be from {} to {}", d.as_secs(), ingest::HEARTBEAT.start().as_secs(), ingest::HEARTBEAT.end().as_secs())
        }
        e => e.into(),
    }
}

/// Completes on SIGTERM or SIGINT.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

async fn follow(a: FollowArgs) -> Result<ExitCode> {
    let db = a.db.resolve()?;
    let Prepared { sink, builder } = prepare(db, &a.read, &a.path)?;
    let metrics = Arc::new(Metrics::new(LoginConfig { max_series: a.metrics_max_accounts as usize, privileged: a.privileged_accounts.clone() }));
    let mut builder = builder
        .start_at(if a.start_at == "end" { StartAt::End } else { StartAt::Beginning })
        // Rotated `.enc` siblings are read with the password when one is given.
        .decoder(Decoder::with_key(a.decrypt.key()?))
        .heartbeat(Duration::from_secs(a.heartbeat_secs))
        .metrics(metrics);
    if let Some(addr) = a.metrics_listen {
        builder = builder.metrics_listen(addr);
    }
    if let Some(keep) = a.retention {
        builder = builder.retention(keep);
    }
    // Built before anything connects: a bad setting or a port in use stops the program here.
    let ingester = builder.build().map_err(cli_error)?;
    ingester.run(shutdown_signal()?).await.map_err(cli_error)?;
    sink.close().await?;
    Ok(ExitCode::SUCCESS)
}
