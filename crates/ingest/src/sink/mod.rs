//! Writes records into MySQL, exactly once: each batch and the checkpoint that follows it commit in one
//! transaction, with the checkpoint row locked (`SELECT ... FOR UPDATE`), so a crash anywhere leaves
//! either both or neither. Data travels only as statement parameters or as `LOAD DATA LOCAL INFILE`
//! data streamed from memory through mysql_async's infile handler: never interpolated into SQL, never
//! written to a file.
//!
//! Replication: every row is keyed by the audited server's name, the file's identity and the record's
//! offset, never by a server-local counter, so rows of different servers cannot collide. In
//! [`WriteMode::Local`] (the default) every connection runs `SET SESSION sql_log_bin = 0` before any
//! statement, so nothing the ingester writes (DDL included) enters the binary log; a server that
//! refuses it stops the ingester with [`SinkError::BinlogPrivilege`] instead of writing a replicated
//! row by accident. [`WriteMode::Central`] writes through the binary log on purpose.
//!
//! Two ways to load a batch's records ([`LoadMethod`]):
//! - `infile` (the default when the server has `local_infile=ON`): one `LOAD DATA LOCAL INFILE` a
//!   batch, rows serialized as TSV, inside the batch's transaction. With `LOCAL`, the server turns
//!   duplicate keys *and* data errors into warnings, so the result is checked instead: any warning,
//!   or fewer rows than sent, rolls the whole transaction back and the batch is redone with `insert`.
//! - `insert`: the batch's keys already stored (a replay: the same file read under another source
//!   name, or a checkpoint reset by hand) are looked up and left out, the rest go as multi-row
//!   `INSERT ... ON DUPLICATE KEY UPDATE` with parameters, up to 1,000 rows a statement; a statement
//!   that leaves warnings fails the batch. Counters count rows really inserted.
//!
//! The login summary (`<table>_logins`) is upserted in the same transaction from the login records
//! really inserted: all of a `LOAD DATA` batch (it commits only when every row was new), the rows of
//! an `INSERT` batch that were not stored before. A replay never counts twice.

mod batch;
mod error;
mod infile;
mod logins;
mod sources;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use audit_schema::{Layout, ServerName, TableNames, SCHEMA_VERSION};
use mysql_async::prelude::*;
use mysql_async::{Conn, Opts, OptsBuilder, Params, Pool, TxOpts, Value};

pub use batch::{Batch, Login};
use batch::{clip, row_key, DATA_COLUMNS, DEAD_COLUMNS, PACKET_MARGIN};
pub use error::{refusal_hint, said_once, ErrorClass, SinkError};
pub use sources::{KnownFile, SourceRow};
use infile::{tsv_rows, value_bytes, InfileData};

use crate::checkpoint::Checkpoint;
use crate::filter::OwnConnections;

/// Whether the ingester's writes enter the binary log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteMode {
    /// Each server keeps its own audit tables: `sql_log_bin = 0` on every connection, so nothing
    /// replicates to (or collides on) a replica. Needs BINLOG ADMIN (MariaDB) or
    /// SESSION_VARIABLES_ADMIN (MySQL 8, Percona Server).
    #[default]
    Local,
    /// Many servers' ingesters write one store, and the store's binary log carries the rows to its
    /// own replicas (or cluster).
    Central,
}

impl WriteMode {
    /// `local` or `central`.
    pub fn name(self) -> &'static str {
        match self {
            WriteMode::Local => "local",
            WriteMode::Central => "central",
        }
    }
}

impl std::str::FromStr for WriteMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "local" => Ok(WriteMode::Local),
            "central" => Ok(WriteMode::Central),
            _ => Err(format!("unknown mode {s:?}: local or central")),
        }
    }
}

/// The host name of this machine as a [`ServerName`], the default `--server`.
pub fn host_server_name() -> Result<ServerName, String> {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map_err(|e| format!("cannot read the host name ({e}): pass --server NAME"))?;
    ServerName::new(raw.trim()).map_err(|e| format!("the host name cannot name the server ({e}): pass --server NAME"))
}

/// Where the sink writes.
#[derive(Debug, Clone)]
pub struct SinkOptions {
    /// The tables.
    pub names: TableNames,
    /// The source's name: with `server`, the checkpoint's key.
    pub source: String,
    /// The audited server: part of every row's key.
    pub server: ServerName,
    /// Whether writes replicate.
    pub mode: WriteMode,
}

impl SinkOptions {
    /// Options for `server`'s `source`, in [`WriteMode::Local`].
    pub fn new(names: TableNames, source: impl Into<String>, server: ServerName) -> SinkOptions {
        SinkOptions { names, source: source.into(), server, mode: WriteMode::Local }
    }

    /// The same with another write mode.
    pub fn with_mode(mut self, mode: WriteMode) -> SinkOptions {
        self.mode = mode;
        self
    }
}

/// How a batch's records reach the data table (dead letters always use `INSERT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadMethod {
    /// Multi-row `INSERT` statements with parameters.
    Insert,
    /// One `LOAD DATA LOCAL INFILE` a batch, the data streamed from memory (needs `local_infile=ON`).
    Infile,
}

impl LoadMethod {
    /// `insert` or `infile`.
    pub fn name(self) -> &'static str {
        match self {
            LoadMethod::Insert => "insert",
            LoadMethod::Infile => "infile",
        }
    }
}

impl std::fmt::Display for LoadMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for LoadMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "insert" => Ok(LoadMethod::Insert),
            "infile" => Ok(LoadMethod::Infile),
            _ => Err(format!("unknown load method {s:?}: insert or infile")),
        }
    }
}

/// Rows a statement: a few fixed sizes, so the server and the client cache a few prepared statements.
const CHUNKS: &[usize] = &[1000, 100, 10, 1];

/// What a commit really stored: replays of rows already stored are not counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stored {
    /// Records inserted.
    pub records: u64,
    /// Dead letters inserted.
    pub dead_letters: u64,
    /// The login attempts inserted, in log order.
    pub logins: Vec<Login>,
}

/// A source's committed state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Committed {
    /// Where it stands; `None` before its first commit.
    pub checkpoint: Option<Checkpoint>,
    /// The `server_id` its log stated last.
    pub log_server_id: Option<u32>,
}

/// What [`Sink::apply_schema`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaChange {
    /// The tables were created (or their creation completed).
    Created,
    /// An older layout was upgraded in place.
    Upgraded {
        /// The version it had.
        from: u32,
    },
    /// Nothing to do.
    UpToDate,
}

/// Attaches the server's address to a driver error.
trait OnServer<T> {
    fn on(self, server: &str) -> Result<T, SinkError>;
}

impl<T> OnServer<T> for Result<T, mysql_async::Error> {
    fn on(self, server: &str) -> Result<T, SinkError> {
        self.map_err(|error| SinkError::Db { server: server.to_string(), error })
    }
}

/// The MySQL side: schema, checkpoint, batches.
#[derive(Debug, Clone)]
pub struct Sink {
    pool: Pool,
    opts: SinkOptions,
    /// `host:port` (or the socket), for error messages.
    addr: String,
    insert_prefix: String,
    dead_prefix: String,
    logins_prefix: String,
    load_sql: String,
    /// The server's `max_allowed_packet`, once read (0 before).
    max_packet: Arc<AtomicUsize>,
    /// The method asked for (`None`: `infile` when the server allows it).
    load_request: Option<LoadMethod>,
    /// The method in use once the server was asked: 0 unknown, 1 insert, 2 infile.
    load_method: Arc<AtomicU8>,
    infile: InfileData,
    /// The ids of the connections this sink opened, for the filter to leave their records out.
    own: OwnConnections,
}

/// `SHOW WARNINGS`, the first few, on one line.
async fn warnings_sample(tx: &mut mysql_async::Transaction<'_>) -> String {
    match tx.query::<(String, u32, String), _>("SHOW WARNINGS LIMIT 5").await {
        Ok(rows) => rows.iter().map(|(level, code, msg)| format!("{level} {code}: {msg}")).collect::<Vec<_>>().join("; "),
        Err(e) => format!("(SHOW WARNINGS failed: {e})"),
    }
}

fn placeholders(cols: usize, rows: usize) -> String {
    let one = format!("({})", vec!["?"; cols].join(","));
    vec![one; rows].join(",")
}

/// FNV-1a over `parts`, separated, from `seed`: a stable name for the source's lock.
fn fnv(seed: u64, parts: &[&str]) -> u64 {
    let mut h = seed;
    for p in parts {
        for &b in p.as_bytes().iter().chain(&[0u8]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100_0000_01b3);
        }
    }
    h
}

impl Sink {
    /// A sink writing to `opts.names` through a pool on `mysql`.
    pub fn new(mysql: Opts, opts: SinkOptions) -> Sink {
        let infile = InfileData::default();
        let addr = crate::config::describe(&mysql);
        let mut builder = OptsBuilder::from_opts(mysql).local_infile_handler(Some(infile.handler()));
        if opts.mode == WriteMode::Local {
            // `setup` runs on every new connection and again after every pool reset, which clears
            // session variables: no statement of ours can run with binary logging on.
            builder = builder.setup(vec!["SET SESSION sql_log_bin = 0"]);
        }
        let pool = Pool::new(builder);
        let insert_prefix = format!("INSERT INTO {} ({}) VALUES ", opts.names.data(), DATA_COLUMNS.join(", "));
        let dead_prefix = format!("INSERT INTO {} ({}) VALUES ", opts.names.dead_letter(), DEAD_COLUMNS.join(", "));
        // Separators as hex literals: read the same whatever the session's NO_BACKSLASH_ESCAPES.
        let load_sql = format!(
            "INTO TABLE {} CHARACTER SET utf8mb4 FIELDS TERMINATED BY X'09' ESCAPED BY X'5C' LINES TERMINATED BY X'0A' ({})",
            opts.names.data(),
            DATA_COLUMNS.join(", ")
        );
        let logins_prefix = audit_schema::summary::upsert_prefix(&opts.names);
        Sink { pool, opts, addr, insert_prefix, dead_prefix, logins_prefix, load_sql, max_packet: Default::default(), load_request: None, load_method: Default::default(), infile, own: OwnConnections::new() }
    }

    /// The `LOAD DATA LOCAL INFILE` statement of [`LoadMethod::Infile`] for the file name `name` (which
    /// goes into the statement as is: pass a plain name).
    pub fn load_statement(&self, name: &str) -> String {
        format!("LOAD DATA LOCAL INFILE '{name}' {}", self.load_sql)
    }

    /// Loads records with `method`; `None` (the default) picks `infile` when the server has
    /// `local_infile=ON`, else `insert`.
    pub fn with_load_method(mut self, method: Option<LoadMethod>) -> Sink {
        self.load_request = method;
        self.load_method = Default::default();
        self
    }

    /// The load method in use (asks the server the first time).
    pub async fn load_method(&self) -> Result<LoadMethod, SinkError> {
        match self.load_method.load(Relaxed) {
            1 => return Ok(LoadMethod::Insert),
            2 => return Ok(LoadMethod::Infile),
            _ => {}
        }
        let mut conn = self.conn().await?;
        let on: Option<Option<i64>> = conn.query_first("SELECT @@local_infile").await.on(&self.addr)?;
        let on = on.flatten() == Some(1);
        let m = match (self.load_request, on) {
            (Some(LoadMethod::Infile), false) => return Err(SinkError::InfileDisabled),
            (Some(m), _) => m,
            (None, true) => LoadMethod::Infile,
            (None, false) => LoadMethod::Insert,
        };
        self.load_method.store(if m == LoadMethod::Insert { 1 } else { 2 }, Relaxed);
        Ok(m)
    }

    /// The options.
    pub fn options(&self) -> &SinkOptions {
        &self.opts
    }

    /// `host:port` of the server.
    pub fn address(&self) -> &str {
        &self.addr
    }

    /// A batch for this sink's server and source.
    pub fn batch(&self, max_packet: usize, log_server_id: Option<u32>) -> Batch {
        Batch::new(self.opts.server.as_str(), &self.opts.source, max_packet, log_server_id)
    }

    /// The server's `max_allowed_packet` (read once, then cached): no statement may be larger.
    pub async fn max_packet(&self) -> Result<usize, SinkError> {
        let known = self.max_packet.load(Relaxed);
        if known > 0 {
            return Ok(known);
        }
        let mut conn = self.conn().await?;
        let v: Option<u64> = conn.query_first("SELECT @@max_allowed_packet").await.on(&self.addr)?;
        let v = usize::try_from(v.unwrap_or(4 << 20)).unwrap_or(usize::MAX).max(1 << 20);
        self.max_packet.store(v, Relaxed);
        Ok(v)
    }

    /// The connections this sink opened: give it to [`crate::filter::RecordFilter::own`] so that
    /// their records (the ingester's own writes, logged by the server it writes to) are not stored.
    pub fn own_connections(&self) -> OwnConnections {
        self.own.clone()
    }

    /// Tells [`Sink::own_connections`] a connection the pool opened, before any statement of ours
    /// runs on it: the server's `CONNECTION_ID()` (the handshake's id is 32 bits), in the statement
    /// whose logged text shows the filter which connection of the log it is, and when the server
    /// started, so ids a restarted server hands out again are told apart.
    async fn register(&self, conn: &mut Conn) -> Result<(), SinkError> {
        let row: Option<(u64, i64, String)> = conn.query_first(self.own.registering_sql()).await.on(&self.addr)?;
        let uptime: Option<(String, String)> = conn.query_first(self.own.uptime_sql()).await.on(&self.addr)?;
        let (Some((id, now, _)), Some(uptime)) = (row, uptime.and_then(|(_, v)| v.parse::<i64>().ok())) else {
            return Err(SinkError::NoConnectionId(self.addr.clone()));
        };
        self.own.add_at(id, now - uptime, now);
        Ok(())
    }

    /// A connection from the pool, with binary logging off in [`WriteMode::Local`], its id known to
    /// [`Sink::own_connections`]. Registered at every checkout, not once a connection: the pool
    /// replaces a connection a restarted server dropped without telling, and the new one may have
    /// the old one's id (the driver's id says nothing of which server run it belongs to). Two short
    /// statements a checkout (one a batch).
    pub async fn conn(&self) -> Result<Conn, SinkError> {
        match self.pool.get_conn().await {
            Ok(mut c) => {
                self.register(&mut c).await?;
                Ok(c)
            }
            // In local mode the only statement a new connection runs is `SET SESSION sql_log_bin = 0`.
            Err(mysql_async::Error::Server(s)) if self.opts.mode == WriteMode::Local && s.code == 1227 => {
                Err(SinkError::BinlogPrivilege { server: self.addr.clone(), message: s.message })
            }
            Err(error) => Err(SinkError::Db { server: self.addr.clone(), error }),
        }
    }

    /// Which layout the database holds for the sink's tables.
    pub async fn layout(&self) -> Result<Layout, SinkError> {
        let mut conn = self.conn().await?;
        let names = &self.opts.names;
        let [db, data, schema] = audit_schema::probe_params(names);
        let cols: Vec<(String, String)> = conn.exec(audit_schema::PROBE_SQL, (&db, &data, &schema)).await.on(&self.addr)?;
        let data_cols: Vec<String> = cols.iter().filter(|(t, _)| *t == data).map(|(_, c)| c.clone()).collect();
        let recorded = if cols.iter().any(|(t, _)| *t == schema) {
            let v: Option<Option<u32>> = conn.query_first(audit_schema::recorded_version_sql(names)).await.on(&self.addr)?;
            v.flatten()
        } else {
            None
        };
        Ok(Layout::classify(&data_cols, recorded))
    }

    /// Checks that the tables are at this release's layout, creating them when absent and `create`
    /// is set; an older or newer layout is an error that says what to do.
    pub async fn ensure_schema(&self, create: bool) -> Result<(), SinkError> {
        match self.layout().await? {
            Layout::Version(SCHEMA_VERSION) => Ok(()),
            Layout::Absent | Layout::Unrecorded if create => self.apply_schema().await.map(|_| ()),
            Layout::Absent | Layout::Unrecorded => Err(SinkError::SchemaVersion(format!(
                "the tables {} do not exist (or are incomplete): run `audit-ingest schema --apply`, or start without --no-create-schema",
                self.opts.names
            ))),
            Layout::Version(v) if v < SCHEMA_VERSION => Err(SinkError::SchemaVersion(format!(
                "the tables {} have the older layout of schema version {v}; this release writes version {SCHEMA_VERSION}. \
                 Stop the ingesters that write them and run `audit-ingest schema --apply` to upgrade in place \
                 (`audit-ingest schema --upgrade-sql` prints the statements)",
                self.opts.names
            ))),
            Layout::Version(v) => Err(SinkError::SchemaVersion(format!(
                "the tables {} are at schema version {v}, newer than this release's {SCHEMA_VERSION}: upgrade audit-ingest",
                self.opts.names
            ))),
        }
    }

    /// The statements that would bring the tables to this release's layout (the DDL when absent).
    pub async fn schema_statements(&self) -> Result<Vec<String>, SinkError> {
        let names = &self.opts.names;
        match self.layout().await? {
            Layout::Absent | Layout::Unrecorded => audit_schema::ddl_statements(names).map_err(|e| SinkError::SchemaVersion(e.to_string())),
            Layout::Version(v) => audit_schema::upgrade_statements(names, v, &self.opts.server).map_err(|e| SinkError::SchemaVersion(e.to_string())),
        }
    }

    /// Creates the tables, or upgrades an older layout in place. In local mode none of it enters the
    /// binary log: apply it on every server that keeps its own tables.
    pub async fn apply_schema(&self) -> Result<SchemaChange, SinkError> {
        let layout = self.layout().await?;
        let change = match layout {
            Layout::Absent | Layout::Unrecorded => SchemaChange::Created,
            Layout::Version(SCHEMA_VERSION) => return Ok(SchemaChange::UpToDate),
            Layout::Version(from) => SchemaChange::Upgraded { from },
        };
        let stmts = self.schema_statements().await?;
        let mut conn = self.conn().await?;
        for s in stmts {
            conn.query_drop(s).await.on(&self.addr)?;
        }
        Ok(change)
    }

    /// Takes the source's advisory lock on a connection the caller keeps open as long as it ingests:
    /// a second process for the same server and source is refused instead of interleaving.
    pub async fn lock_source(&self) -> Result<Conn, SinkError> {
        let mut conn = self.conn().await?;
        let name = self.lock_name(self.opts.server.as_str(), &self.opts.source);
        let got: Option<Option<i64>> = conn.exec_first("SELECT GET_LOCK(?, 0)", (clip(&name, 64),)).await.on(&self.addr)?;
        if got.flatten() != Some(1) {
            return Err(SinkError::Locked(self.opts.source.clone()));
        }
        Ok(conn)
    }

    fn bad_checkpoint(&self, reason: String) -> SinkError {
        SinkError::BadCheckpoint { source_name: self.opts.source.clone(), reason }
    }

    /// The source's committed state.
    pub async fn load_committed(&self) -> Result<Committed, SinkError> {
        let mut conn = self.conn().await?;
        let sql = format!("SELECT state, log_server_id FROM {} WHERE server = ? AND source = ?", self.opts.names.checkpoint());
        let row: Option<(Option<String>, Option<u32>)> = conn.exec_first(sql, (self.opts.server.as_str(), &self.opts.source)).await.on(&self.addr)?;
        let Some((state, log_server_id)) = row else { return Ok(Committed::default()) };
        let checkpoint = state.map(|s| Checkpoint::from_json(&s).map_err(|r| self.bad_checkpoint(r))).transpose()?;
        Ok(Committed { checkpoint, log_server_id })
    }

    /// Commits `batch` and `next` in one transaction, after checking the stored checkpoint is still
    /// `prev` (what this process committed last, `None` for none). Returns what was really inserted.
    ///
    /// With [`LoadMethod::Infile`], a `LOAD DATA` that leaves any warning (a duplicate of a stored
    /// record, or a value the server altered) is rolled back with its transaction and the batch is
    /// committed again with [`LoadMethod::Insert`], which leaves stored rows alone and refuses
    /// altered values.
    pub async fn commit(&self, batch: &Batch, prev: Option<&Checkpoint>, next: &Checkpoint) -> Result<Stored, SinkError> {
        let (max_packet, method) = if batch.records() == 0 {
            (if batch.is_empty() { usize::MAX } else { self.max_packet().await? }, LoadMethod::Insert)
        } else {
            (self.max_packet().await?, self.load_method().await?)
        };
        match self.commit_with(batch, prev, next, max_packet, method).await {
            Err(e @ SinkError::Warnings { .. }) if method == LoadMethod::Infile => {
                tracing::debug!(error = %e, "LOAD DATA was not exact (a replayed record?); committing the batch again with INSERT");
                self.commit_with(batch, prev, next, max_packet, LoadMethod::Insert).await
            }
            r => r,
        }
    }

    async fn commit_with(&self, batch: &Batch, prev: Option<&Checkpoint>, next: &Checkpoint, max_packet: usize, method: LoadMethod) -> Result<Stored, SinkError> {
        let mut conn = self.conn().await?;
        let mut tx = conn.start_transaction(TxOpts::default()).await.on(&self.addr)?;
        let result = self.commit_in(&mut tx, batch, prev, next, max_packet, method).await;
        match result {
            Ok(stored) => {
                tx.commit().await.on(&self.addr)?;
                Ok(stored)
            }
            Err(e) => {
                // End the transaction explicitly: a dropped one only marks the connection.
                let _ = tx.rollback().await;
                Err(e)
            }
        }
    }

    async fn commit_in(&self, tx: &mut mysql_async::Transaction<'_>, batch: &Batch, prev: Option<&Checkpoint>, next: &Checkpoint, max_packet: usize, method: LoadMethod) -> Result<Stored, SinkError> {
        let (server, source) = (self.opts.server.as_str(), self.opts.source.as_str());
        let sql = format!("SELECT state FROM {} WHERE server = ? AND source = ? FOR UPDATE", self.opts.names.checkpoint());
        let stored: Option<Option<String>> = tx.exec_first(sql, (server, source)).await.on(&self.addr)?;
        let stored = stored.flatten().map(|s| Checkpoint::from_json(&s).map_err(|r| self.bad_checkpoint(r))).transpose()?;
        let same = match (&stored, prev) {
            (None, None) => true,
            (Some(a), Some(b)) => a.file == b.file && a.offset == b.offset,
            _ => false,
        };
        if !same {
            return Err(SinkError::Conflict { source_name: self.opts.source.clone(), expected: prev.map(|c| c.offset), found: stored.map(|c| c.offset) });
        }
        let budget = max_packet.saturating_sub(PACKET_MARGIN).max(1);
        let suffix = " ON DUPLICATE KEY UPDATE file_offset = file_offset";
        let mut out = Stored::default();
        let logins = match method {
            LoadMethod::Insert => {
                let replayed = self.stored_keys(tx, &batch.rows).await?;
                if replayed.is_empty() {
                    // The usual case: nothing stored yet, so no copy of the rows to leave any out.
                    out.records = self.insert_chunked(tx, &self.insert_prefix, DATA_COLUMNS.len(), &batch.rows, suffix, budget).await?;
                    out.logins = batch.logins.iter().map(|(_, l)| l.clone()).collect();
                    logins::summary_rows(&batch.rows)
                } else {
                    let is_fresh = |row: &[Value]| row_key(row).is_none_or(|(f, o)| !replayed.contains(&(f.to_vec(), o)));
                    let rows: Vec<Vec<Value>> = batch.rows.iter().filter(|r| is_fresh(r)).cloned().collect();
                    out.records = self.insert_chunked(tx, &self.insert_prefix, DATA_COLUMNS.len(), &rows, suffix, budget).await?;
                    out.logins = batch.logins.iter().filter(|(i, _)| is_fresh(&batch.rows[*i])).map(|(_, l)| l.clone()).collect();
                    logins::summary_rows(&rows)
                }
            }
            LoadMethod::Infile => {
                out.records = self.load_infile(tx, batch).await?;
                out.logins = batch.logins.iter().map(|(_, l)| l.clone()).collect();
                logins::summary_rows(&batch.rows)
            }
        };
        logins::upsert(tx, &self.logins_prefix, &logins).await.on(&self.addr)?;
        out.dead_letters = self.insert_chunked(tx, &self.dead_prefix, DEAD_COLUMNS.len(), &batch.dead, suffix, budget).await?;
        let sql = format!(
            "INSERT INTO {} (server, source, file_path, file_id, file_offset, state, log_server_id, records_total, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(6)) \
             ON DUPLICATE KEY UPDATE file_path = VALUES(file_path), file_id = VALUES(file_id), file_offset = VALUES(file_offset), \
             state = VALUES(state), log_server_id = VALUES(log_server_id), records_total = records_total + VALUES(records_total), updated_at = VALUES(updated_at)",
            self.opts.names.checkpoint()
        );
        let params: Vec<Value> = vec![
            server.into(),
            source.into(),
            next.path.to_string_lossy().as_ref().into(),
            next.file.key().into(),
            next.offset.into(),
            next.to_json().into(),
            batch.log_server_id().into(),
            out.records.into(),
        ];
        tx.exec_drop(sql, Params::Positional(params)).await.on(&self.addr)?;
        Ok(out)
    }

    /// The keys of `rows` that the data table already holds: one primary-key range read a file.
    async fn stored_keys(&self, tx: &mut mysql_async::Transaction<'_>, rows: &[Vec<Value>]) -> Result<HashSet<(Vec<u8>, u64)>, SinkError> {
        let mut ranges: Vec<(&[u8], u64, u64)> = Vec::new();
        for (f, o) in rows.iter().filter_map(|r| row_key(r)) {
            match ranges.iter_mut().find(|(g, _, _)| *g == f) {
                Some(r) => {
                    r.1 = r.1.min(o);
                    r.2 = r.2.max(o);
                }
                None => ranges.push((f, o, o)),
            }
        }
        let sql = format!("SELECT file_offset FROM {} WHERE server = ? AND file_id = ? AND file_offset BETWEEN ? AND ?", self.opts.names.data());
        let mut found = HashSet::new();
        for (f, lo, hi) in ranges {
            let offsets: Vec<u64> = tx.exec(&sql, (self.opts.server.as_str(), f, lo, hi)).await.on(&self.addr)?;
            found.extend(offsets.into_iter().map(|o| (f.to_vec(), o)));
        }
        Ok(found)
    }

    /// One `LOAD DATA LOCAL INFILE` of the batch's records (encoded now unless
    /// [`Batch::encode_for_load`] did it), the data handed to the driver from memory; refused
    /// ([`SinkError::Warnings`]) unless every row was stored without a warning.
    async fn load_infile(&self, tx: &mut mysql_async::Transaction<'_>, batch: &Batch) -> Result<u64, SinkError> {
        let rows = &batch.rows;
        if rows.is_empty() {
            return Ok(0);
        }
        let data = batch.tsv.clone().unwrap_or_else(|| bytes::Bytes::from(tsv_rows(rows)));
        let name = self.infile.put(data);
        // The name is ours (letters, digits, dashes): the only thing interpolated.
        let result = tx.query_drop(self.load_statement(&name)).await;
        // Forget the data if the server never asked for it (an error before the transfer).
        let _ = self.infile.take(name.as_bytes());
        result.on(&self.addr)?;
        let (warnings, stored) = (u64::from(tx.get_warnings()), tx.affected_rows());
        if warnings > 0 || stored != rows.len() as u64 {
            let sample = warnings_sample(tx).await;
            return Err(SinkError::Warnings { statement: "LOAD DATA", warnings, stored, sent: rows.len() as u64, sample });
        }
        Ok(stored)
    }

    /// Inserts `rows` in statements of [`CHUNKS`] rows, each kept under `budget` bytes (the server's
    /// `max_allowed_packet` less a margin; a single row always goes, alone). Returns the rows
    /// inserted (a duplicate left as it was counts 0).
    async fn insert_chunked(&self, tx: &mut mysql_async::Transaction<'_>, prefix: &str, cols: usize, rows: &[Vec<Value>], suffix: &str, budget: usize) -> Result<u64, SinkError> {
        let mut rest = rows;
        let mut inserted = 0;
        while !rest.is_empty() {
            let fits = |n: usize| rest[..n].iter().map(|r| value_bytes(r)).sum::<usize>() <= budget;
            let n = CHUNKS.iter().copied().find(|&c| c <= rest.len() && fits(c)).unwrap_or(1);
            let (chunk, tail) = rest.split_at(n);
            let sql = format!("{prefix}{}{suffix}", placeholders(cols, n));
            let params: Vec<Value> = chunk.iter().flat_map(|r| r.iter().cloned()).collect();
            tx.exec_drop(sql, Params::Positional(params)).await.on(&self.addr)?;
            let warnings = u64::from(tx.get_warnings());
            if warnings > 0 {
                let sample = warnings_sample(tx).await;
                return Err(SinkError::Warnings { statement: "INSERT", warnings, stored: tx.affected_rows(), sent: n as u64, sample });
            }
            inserted += tx.affected_rows();
            rest = tail;
        }
        Ok(inserted)
    }

    /// Touches the heartbeat (`updated_at`) of the source's checkpoint row, creating the row (with no
    /// position) when nothing was committed yet, so the staleness check sees a live ingester. Also
    /// the first write of a run: it shows at once whether the server takes the ingester's writes.
    pub async fn heartbeat(&self, path: &std::path::Path) -> Result<(), SinkError> {
        let mut conn = self.conn().await?;
        let sql = format!(
            "INSERT INTO {} (server, source, file_path, file_id, file_offset, state, records_total, updated_at) VALUES (?, ?, ?, '', 0, NULL, 0, UTC_TIMESTAMP(6)) \
             ON DUPLICATE KEY UPDATE updated_at = VALUES(updated_at)",
            self.opts.names.checkpoint()
        );
        conn.exec_drop(sql, (self.opts.server.as_str(), &self.opts.source, path.to_string_lossy().as_ref())).await.on(&self.addr)?;
        Ok(())
    }

    /// Whether the server takes this account's writes to the tables now, without writing anything:
    /// the connection's `sql_log_bin = 0` (local mode), then an `UPDATE` that matches no row, which
    /// the server still checks for the privilege and for `read_only`.
    pub async fn probe_writes(&self) -> Result<(), SinkError> {
        let mut conn = self.conn().await?;
        let sql = format!("UPDATE {} SET updated_at = updated_at WHERE 1 = 0", self.opts.names.checkpoint());
        conn.query_drop(sql).await.on(&self.addr)
    }

    /// Deletes this server's rows older than `keep`, in small batches ordered by time, pausing
    /// between them, so retention never holds long locks or floods replication; then the login
    /// summary's minutes that lie wholly before the same time. Returns the data rows deleted.
    pub async fn enforce_retention(&self, keep: Duration, pause: Duration) -> Result<u64, SinkError> {
        let mut conn = self.conn().await?;
        let server = self.opts.server.as_str();
        let sql = format!(
            "DELETE FROM {} WHERE event_time < UTC_TIMESTAMP(6) - INTERVAL ? SECOND AND server = ? ORDER BY event_time LIMIT 1000",
            self.opts.names.data()
        );
        let mut total = 0;
        loop {
            conn.exec_drop(&sql, (keep.as_secs(), server)).await.on(&self.addr)?;
            let n = conn.affected_rows();
            total += n;
            if n < 1000 {
                break;
            }
            tokio::time::sleep(pause).await;
        }
        // One primary-key range a login outcome (the key starts with `failed`, then the minute).
        let sql = format!(
            "DELETE FROM {} WHERE failed = ? AND bucket < UTC_TIMESTAMP() - INTERVAL ? SECOND - INTERVAL 1 MINUTE AND server = ? ORDER BY failed, bucket LIMIT 1000",
            self.opts.names.logins()
        );
        for failed in [0, 1] {
            loop {
                conn.exec_drop(&sql, (failed, keep.as_secs(), server)).await.on(&self.addr)?;
                if conn.affected_rows() < 1000 {
                    break;
                }
                tokio::time::sleep(pause).await;
            }
        }
        Ok(total)
    }

    /// Closes the pool.
    pub async fn close(self) -> Result<(), SinkError> {
        let addr = self.addr.clone();
        self.pool.disconnect().await.on(&addr)
    }
}
