//! Writes records into MySQL, exactly once: each batch and the checkpoint that follows it commit in one
//! transaction, with the checkpoint row locked (`SELECT ... FOR UPDATE`), so a crash anywhere leaves
//! either both or neither. Data travels only as statement parameters or as `LOAD DATA LOCAL INFILE`
//! data streamed from memory through mysql_async's infile handler: never interpolated into SQL, never
//! written to a file.
//!
//! Two ways to load a batch's records ([`LoadMethod`]):
//! - `infile` (the default when the server has `local_infile=ON`): one `LOAD DATA LOCAL INFILE` a
//!   batch, rows serialized as TSV (`\\`, `\t`, `\n`, `\r`, `\0` escaped, NULL as `\N`),
//!   `CHARACTER SET utf8mb4`, inside the batch's transaction (InnoDB makes it transactional).
//!   With `LOCAL`, the server turns duplicate keys *and* data errors into warnings (it cannot stop the
//!   client's stream), so neither `IGNORE` nor `REPLACE` is written and the result is checked
//!   instead: any warning, or fewer rows than sent, rolls the whole transaction back and the batch is
//!   redone with `insert`, which is exact. A duplicate `(file_id, file_offset)` (a replay: the same file
//!   read under another source name, or a checkpoint reset by hand) therefore ends exactly as with
//!   `insert`: the stored row is kept. `REPLACE` was rejected because it deletes and re-inserts the
//!   stored row (new `id`, another source's row overwritten) and still lets data errors pass as
//!   warnings.
//! - `insert`: multi-row `INSERT ... ON DUPLICATE KEY UPDATE id = id` with parameters, up to 1,000 rows
//!   a statement; a statement that leaves warnings fails the batch.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use audit_model::{Kind, MalformedRecord, Record};
use audit_schema::TableNames;
use mysql_async::prelude::*;
use mysql_async::{Conn, Opts, OptsBuilder, Params, Pool, TxOpts, Value};

use crate::checkpoint::Checkpoint;
use crate::follower::{Event, Item};

/// A sink's errors.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The server or the connection failed; retrying after a reconnect may succeed.
    #[error("database: {0}")]
    Db(#[from] mysql_async::Error),
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
}

impl SinkError {
    /// Whether retrying after a reconnect can help.
    pub fn is_transient(&self) -> bool {
        match self {
            SinkError::Db(e) => match e {
                mysql_async::Error::Io(_) | mysql_async::Error::Driver(_) => true,
                // Deadlock, lock wait timeout, server shutting down, too many connections, read-only.
                mysql_async::Error::Server(s) => matches!(s.code, 1205 | 1213 | 1053 | 1040 | 1927 | 2006 | 2013 | 1290 | 1836),
                _ => false,
            },
            SinkError::Locked(_) => true,
            SinkError::Conflict { .. } | SinkError::BadCheckpoint { .. } | SinkError::Warnings { .. } | SinkError::InfileDisabled => false,
        }
    }
}

/// Where the sink writes and how it batches.
#[derive(Debug, Clone)]
pub struct SinkOptions {
    /// The tables.
    pub names: TableNames,
    /// The source's name: the checkpoint's key and part of each row's identity.
    pub source: String,
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

const DATA_COLUMNS: &[&str] = &[
    "source", "file_id", "file_offset", "event_time", "name", "kind", "status", "is_failed_login", "user", "priv_user", "host", "ip", "db",
    "connection_id", "command_class", "format", "audit_record",
];
const DEAD_COLUMNS: &[&str] = &["source", "file_path", "file_id", "file_offset", "reason", "raw", "created_at"];
/// Rows a statement: a few fixed sizes, so the server and the client cache a few prepared statements.
const CHUNKS: &[usize] = &[1000, 100, 10, 1];
/// Room left in a packet for the statement text and the row's other columns.
const PACKET_MARGIN: usize = 64 << 10;

/// Rows ready to insert, built from follower items.
#[derive(Debug)]
pub struct Batch {
    rows: Vec<Vec<Value>>,
    dead: Vec<Vec<Value>>,
    bytes: usize,
    log_bytes: u64,
    failed_logins: Vec<String>,
    /// The server's `max_allowed_packet`: a record whose row cannot fit in one packet is
    /// dead-lettered instead of failing its batch forever.
    max_packet: usize,
}

impl Default for Batch {
    fn default() -> Self {
        Batch::with_max_packet(usize::MAX)
    }
}

/// Clips text to a column's width in characters (the whole value stays in `audit_record`).
fn clip(s: &str, chars: usize) -> &str {
    match s.char_indices().nth(chars) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn text(v: Option<&str>, chars: usize) -> Value {
    v.map_or(Value::NULL, |s| Value::Bytes(clip(s, chars).as_bytes().to_vec()))
}

fn datetime(ts: jiff::Timestamp) -> Value {
    let dt = ts.to_zoned(jiff::tz::TimeZone::UTC).datetime();
    Value::Date(dt.year() as u16, dt.month() as u8, dt.day() as u8, dt.hour() as u8, dt.minute() as u8, dt.second() as u8, (dt.subsec_nanosecond() / 1000) as u32)
}

impl Batch {
    /// An empty batch for a server whose `max_allowed_packet` is `max_packet` (see [`Sink::max_packet`]).
    pub fn with_max_packet(max_packet: usize) -> Batch {
        Batch { rows: Vec::new(), dead: Vec::new(), bytes: 0, log_bytes: 0, failed_logins: Vec::new(), max_packet }
    }

    /// Rows in the batch (records and dead letters).
    pub fn len(&self) -> usize {
        self.rows.len() + self.dead.len()
    }
    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Approximate bytes of the batch's values.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
    /// Accounts (`user@source`) of the failed logins in the batch, for metrics.
    pub fn failed_logins(&self) -> &[String] {
        &self.failed_logins
    }
    /// Bytes of the log the batch's records and dead letters span.
    pub fn log_bytes(&self) -> u64 {
        self.log_bytes
    }
    /// Records in the batch.
    pub fn records(&self) -> usize {
        self.rows.len()
    }
    /// Dead letters in the batch.
    pub fn dead_letters(&self) -> usize {
        self.dead.len()
    }

    /// The batch's records as the `LOAD DATA` data [`LoadMethod::Infile`] sends (TSV, in the column
    /// order of [`Sink::load_statement`]); for benchmarks and tools.
    pub fn records_tsv(&self) -> Vec<u8> {
        tsv_rows(&self.rows)
    }

    /// Adds a record.
    pub fn push_record(&mut self, source: &str, file_key: &str, r: &Record) {
        self.push_record_json(source, file_key, r, r.to_percona_json());
    }

    fn push_record_json(&mut self, source: &str, file_key: &str, r: &Record, json: String) {
        self.bytes += json.len() + 200;
        self.log_bytes += r.span().end - r.span().start;
        if r.is_failed_login() {
            let src = r.ip().filter(|s| !s.is_empty()).or(r.host()).unwrap_or("");
            self.failed_logins.push(format!("{}@{}", r.user().unwrap_or(""), src));
        }
        self.rows.push(vec![
            Value::Bytes(source.as_bytes().to_vec()),
            Value::Bytes(file_key.as_bytes().to_vec()),
            Value::UInt(r.span().start),
            datetime(r.timestamp()),
            text(Some(r.name()), 64),
            Value::Bytes(r.kind().name().as_bytes().to_vec()),
            r.status().map_or(Value::NULL, |s| Value::Int(s.clamp(i64::from(i32::MIN), i64::from(i32::MAX)))),
            Value::Int(i64::from(r.is_failed_login())),
            text(r.user(), 255),
            text(r.priv_user(), 255),
            text(r.host(), 255),
            text(r.ip(), 64),
            text(r.db(), 255),
            r.connection_id().map_or(Value::NULL, Value::UInt),
            text(r.command_class(), 64),
            Value::Bytes(r.format().name().as_bytes().to_vec()),
            Value::Bytes(json.into_bytes()),
        ]);
    }

    /// Adds a malformed record.
    pub fn push_dead(&mut self, source: &str, path: &std::path::Path, file_key: &str, m: &MalformedRecord) {
        self.bytes += m.raw.len() + m.reason.len() + 200;
        self.log_bytes += m.len;
        self.dead.push(vec![
            Value::Bytes(source.as_bytes().to_vec()),
            Value::Bytes(path.to_string_lossy().as_bytes().to_vec()),
            Value::Bytes(file_key.as_bytes().to_vec()),
            Value::UInt(m.position.byte),
            Value::Bytes(m.reason.as_bytes().to_vec()),
            Value::Bytes(m.raw.clone()),
            datetime(jiff::Timestamp::now()),
        ]);
    }

    /// Adds a follower item, unless `keep` refuses its record (filters); returns whether it was added.
    pub fn push_item(&mut self, source: &str, item: &Item, keep: impl Fn(&Record) -> bool) -> bool {
        match &item.event {
            Event::Record(r) if keep(r) => {
                let json = r.to_percona_json();
                if json.len().saturating_add(PACKET_MARGIN) > self.max_packet {
                    // No INSERT can carry it: store what fits, and why, rather than retry forever.
                    let keep_raw = MalformedRecord::MAX_RAW.min(self.max_packet / 4);
                    let m = MalformedRecord {
                        position: audit_model::Position { byte: r.span().start, line: 0 },
                        len: r.span().end - r.span().start,
                        reason: format!(
                            "record of {} bytes (as Percona JSON) does not fit the server's max_allowed_packet of {} bytes; raw holds its first {} bytes",
                            json.len(),
                            self.max_packet,
                            keep_raw.min(json.len())
                        ),
                        raw: json.as_bytes()[..keep_raw.min(json.len())].to_vec(),
                    };
                    self.push_dead(source, &item.path, &item.file_key, &m);
                } else {
                    self.push_record_json(source, &item.file_key, r, json);
                }
                true
            }
            Event::Record(_) => false,
            Event::Malformed(m) => {
                self.push_dead(source, &item.path, &item.file_key, m);
                true
            }
        }
    }
}

/// The MySQL side: schema, checkpoint, batches.
#[derive(Debug, Clone)]
pub struct Sink {
    pool: Pool,
    opts: SinkOptions,
    insert_prefix: String,
    dead_prefix: String,
    load_sql: String,
    /// The server's `max_allowed_packet`, once read (0 before).
    max_packet: Arc<AtomicUsize>,
    /// The method asked for (`None`: `infile` when the server allows it).
    load_request: Option<LoadMethod>,
    /// The method in use once the server was asked: 0 unknown, 1 insert, 2 infile.
    load_method: Arc<AtomicU8>,
    infile: InfileData,
}

/// LOCAL INFILE data waiting for the server to ask for it, by the name the statement gives. The
/// handler serves these names only: a server asking for anything else (a file of this machine) is
/// refused.
#[derive(Debug, Clone, Default)]
struct InfileData {
    pending: Arc<Mutex<HashMap<String, bytes::Bytes>>>,
    next: Arc<AtomicU64>,
}

/// Chunks handed to the driver: each becomes one protocol packet, well under any `max_allowed_packet`.
const INFILE_CHUNK: usize = 1 << 20;

impl InfileData {
    fn put(&self, data: bytes::Bytes) -> String {
        let name = format!("audit-ingest-{}-{}", std::process::id(), self.next.fetch_add(1, Relaxed));
        self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(name.clone(), data);
        name
    }

    fn take(&self, name: &[u8]) -> Option<bytes::Bytes> {
        let name = std::str::from_utf8(name).ok()?;
        self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(name)
    }

    fn handler(&self) -> impl mysql_async::prelude::GlobalHandler {
        let this = self.clone();
        move |name: &[u8]| -> futures_core::future::BoxFuture<'static, Result<mysql_async::InfileData, mysql_async::LocalInfileError>> {
            let found = this.take(name);
            let name = String::from_utf8_lossy(name).into_owned();
            Box::pin(async move {
                let data = found.ok_or(mysql_async::LocalInfileError::PathIsNotInTheWhiteList(name))?;
                let stream: mysql_async::InfileData = Box::pin(Chunks { data });
                Ok(stream)
            })
        }
    }
}

/// A buffer as a stream of [`INFILE_CHUNK`]-byte pieces (no copies).
struct Chunks {
    data: bytes::Bytes,
}

impl futures_core::Stream for Chunks {
    type Item = std::io::Result<bytes::Bytes>;
    fn poll_next(mut self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<Option<Self::Item>> {
        if self.data.is_empty() {
            return std::task::Poll::Ready(None);
        }
        let n = self.data.len().min(INFILE_CHUNK);
        std::task::Poll::Ready(Some(Ok(self.data.split_to(n))))
    }
}

/// Appends `v` as one field of `LOAD DATA ... FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES
/// TERMINATED BY '\n'`: NULL as `\N`; in text, the escape character, both terminators, `\r` and NUL
/// escaped (the server turns them back into the same bytes).
fn tsv_field(out: &mut Vec<u8>, v: &Value) {
    use std::io::Write;
    match v {
        Value::NULL => out.extend_from_slice(b"\\N"),
        Value::Bytes(b) => {
            let mut start = 0;
            for (i, &c) in b.iter().enumerate() {
                let esc = match c {
                    b'\\' => b'\\',
                    b'\t' => b't',
                    b'\n' => b'n',
                    b'\r' => b'r',
                    0 => b'0',
                    _ => continue,
                };
                out.extend_from_slice(&b[start..i]);
                out.extend_from_slice(&[b'\\', esc]);
                start = i + 1;
            }
            out.extend_from_slice(&b[start..]);
        }
        Value::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Value::UInt(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Date(y, mo, d, h, mi, s, us) => {
            let _ = write!(out, "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}");
        }
        // The sink builds no other kind of value.
        other => out.extend_from_slice(other.as_sql(true).as_bytes()),
    }
}

/// The rows as TSV for [`tsv_field`]'s `LOAD DATA` clauses.
fn tsv_rows(rows: &[Vec<Value>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows.iter().map(|r| value_bytes(r)).sum::<usize>() + rows.len() * 16);
    for row in rows {
        for (i, v) in row.iter().enumerate() {
            if i > 0 {
                out.push(b'\t');
            }
            tsv_field(&mut out, v);
        }
        out.push(b'\n');
    }
    out
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

impl Sink {
    /// A sink writing to `opts.names` through a pool on `dsn`.
    pub fn new(mysql: Opts, opts: SinkOptions) -> Sink {
        let infile = InfileData::default();
        let pool = Pool::new(OptsBuilder::from_opts(mysql).local_infile_handler(Some(infile.handler())));
        let insert_prefix = format!("INSERT INTO {} ({}) VALUES ", opts.names.data(), DATA_COLUMNS.join(", "));
        let dead_prefix = format!("INSERT INTO {} ({}) VALUES ", opts.names.dead_letter(), DEAD_COLUMNS.join(", "));
        // Separators as hex literals: read the same whatever the session's NO_BACKSLASH_ESCAPES.
        let load_sql = format!(
            "INTO TABLE {} CHARACTER SET utf8mb4 FIELDS TERMINATED BY X'09' ESCAPED BY X'5C' LINES TERMINATED BY X'0A' ({})",
            opts.names.data(),
            DATA_COLUMNS.join(", ")
        );
        Sink { pool, opts, insert_prefix, dead_prefix, load_sql, max_packet: Default::default(), load_request: None, load_method: Default::default(), infile }
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
        let on: Option<Option<i64>> = conn.query_first("SELECT @@local_infile").await?;
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

    /// The server's `max_allowed_packet` (read once, then cached): no statement may be larger.
    pub async fn max_packet(&self) -> Result<usize, SinkError> {
        let known = self.max_packet.load(Relaxed);
        if known > 0 {
            return Ok(known);
        }
        let mut conn = self.conn().await?;
        let v: Option<u64> = conn.query_first("SELECT @@max_allowed_packet").await?;
        let v = usize::try_from(v.unwrap_or(4 << 20)).unwrap_or(usize::MAX).max(1 << 20);
        self.max_packet.store(v, Relaxed);
        Ok(v)
    }

    /// A connection from the pool.
    pub async fn conn(&self) -> Result<Conn, SinkError> {
        Ok(self.pool.get_conn().await?)
    }

    /// Creates the database and tables if they do not exist.
    pub async fn apply_schema(&self) -> Result<(), SinkError> {
        let mut conn = self.conn().await?;
        let stmts = audit_schema::ddl_statements(&self.opts.names).map_err(|e| SinkError::BadCheckpoint { source_name: self.opts.source.clone(), reason: e.to_string() })?;
        for s in stmts {
            conn.query_drop(s).await?;
        }
        Ok(())
    }

    /// Takes the source's advisory lock on a connection the caller keeps open as long as it ingests:
    /// a second process for the same source is refused instead of interleaving.
    pub async fn lock_source(&self) -> Result<Conn, SinkError> {
        let mut conn = self.conn().await?;
        let name = format!("audit-ingest:{}:{}", self.opts.names.data(), self.opts.source);
        let got: Option<Option<i64>> = conn.exec_first("SELECT GET_LOCK(?, 0)", (clip(&name, 64),)).await?;
        if got.flatten() != Some(1) {
            return Err(SinkError::Locked(self.opts.source.clone()));
        }
        Ok(conn)
    }

    /// The committed checkpoint, if any.
    pub async fn load_checkpoint(&self) -> Result<Option<Checkpoint>, SinkError> {
        let mut conn = self.conn().await?;
        let sql = format!("SELECT state FROM {} WHERE source = ?", self.opts.names.checkpoint());
        let state: Option<Option<String>> = conn.exec_first(sql, (&self.opts.source,)).await?;
        match state.flatten() {
            None => Ok(None),
            Some(s) => Checkpoint::from_json(&s).map(Some).map_err(|reason| SinkError::BadCheckpoint { source_name: self.opts.source.clone(), reason }),
        }
    }

    /// Commits `batch` and `next` in one transaction, after checking the stored checkpoint is still
    /// `prev` (what this process committed last, `None` for none).
    ///
    /// With [`LoadMethod::Infile`], a `LOAD DATA` that leaves any warning (a duplicate of a stored
    /// record, or a value the server altered) is rolled back with its transaction and the batch is
    /// committed again with [`LoadMethod::Insert`], which keeps stored duplicates and refuses altered
    /// values.
    pub async fn commit(&self, batch: &Batch, prev: Option<&Checkpoint>, next: &Checkpoint) -> Result<(), SinkError> {
        let (max_packet, method) = if batch.records() == 0 {
            (if batch.is_empty() { usize::MAX } else { self.max_packet().await? }, LoadMethod::Insert)
        } else {
            (self.max_packet().await?, self.load_method().await?)
        };
        match self.commit_with(batch, prev, next, max_packet, method).await {
            Err(e @ SinkError::Warnings { .. }) if method == LoadMethod::Infile => {
                tracing::warn!(error = %e, "LOAD DATA was not exact (a replayed record?); committing the batch again with INSERT");
                self.commit_with(batch, prev, next, max_packet, LoadMethod::Insert).await
            }
            r => r,
        }
    }

    async fn commit_with(&self, batch: &Batch, prev: Option<&Checkpoint>, next: &Checkpoint, max_packet: usize, method: LoadMethod) -> Result<(), SinkError> {
        let mut conn = self.conn().await?;
        let mut tx = conn.start_transaction(TxOpts::default()).await?;
        let result = self.commit_in(&mut tx, batch, prev, next, max_packet, method).await;
        match result {
            Ok(()) => Ok(tx.commit().await?),
            Err(e) => {
                // End the transaction explicitly: a dropped one only marks the connection.
                let _ = tx.rollback().await;
                Err(e)
            }
        }
    }

    async fn commit_in(&self, tx: &mut mysql_async::Transaction<'_>, batch: &Batch, prev: Option<&Checkpoint>, next: &Checkpoint, max_packet: usize, method: LoadMethod) -> Result<(), SinkError> {
        let sql = format!("SELECT state FROM {} WHERE source = ? FOR UPDATE", self.opts.names.checkpoint());
        let stored: Option<Option<String>> = tx.exec_first(sql, (&self.opts.source,)).await?;
        let stored = match stored.flatten() {
            Some(s) => Some(Checkpoint::from_json(&s).map_err(|reason| SinkError::BadCheckpoint { source_name: self.opts.source.clone(), reason })?),
            None => None,
        };
        let same = match (&stored, prev) {
            (None, None) => true,
            (Some(a), Some(b)) => a.file == b.file && a.offset == b.offset,
            _ => false,
        };
        if !same {
            return Err(SinkError::Conflict { source_name: self.opts.source.clone(), expected: prev.map(|c| c.offset), found: stored.map(|c| c.offset) });
        }
        let budget = max_packet.saturating_sub(PACKET_MARGIN).max(1);
        match method {
            LoadMethod::Insert => insert_chunked(tx, &self.insert_prefix, DATA_COLUMNS.len(), &batch.rows, " ON DUPLICATE KEY UPDATE id = id", budget).await?,
            LoadMethod::Infile => self.load_infile(tx, &batch.rows).await?,
        }
        insert_chunked(tx, &self.dead_prefix, DEAD_COLUMNS.len(), &batch.dead, " ON DUPLICATE KEY UPDATE id = id", budget).await?;
        let sql = format!(
            "INSERT INTO {} (source, file_path, file_id, file_offset, state, records_total, updated_at) VALUES (?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(6)) \
             ON DUPLICATE KEY UPDATE file_path = VALUES(file_path), file_id = VALUES(file_id), file_offset = VALUES(file_offset), \
             state = VALUES(state), records_total = records_total + VALUES(records_total), updated_at = VALUES(updated_at)",
            self.opts.names.checkpoint()
        );
        tx.exec_drop(
            sql,
            (
                &self.opts.source,
                next.path.to_string_lossy().as_ref(),
                next.file.key(),
                next.offset,
                next.to_json(),
                batch.rows.len() as u64,
            ),
        )
        .await?;
        Ok(())
    }

    /// One `LOAD DATA LOCAL INFILE` of `rows`, the data handed to the driver from memory; refused
    /// ([`SinkError::Warnings`]) unless every row was stored without a warning.
    async fn load_infile(&self, tx: &mut mysql_async::Transaction<'_>, rows: &[Vec<Value>]) -> Result<(), SinkError> {
        if rows.is_empty() {
            return Ok(());
        }
        let name = self.infile.put(bytes::Bytes::from(tsv_rows(rows)));
        // The name is ours (letters, digits, dashes): the only thing interpolated.
        let result = tx.query_drop(self.load_statement(&name)).await;
        // Forget the data if the server never asked for it (an error before the transfer).
        let _ = self.infile.take(name.as_bytes());
        result?;
        let (warnings, stored) = (u64::from(tx.get_warnings()), tx.affected_rows());
        if warnings > 0 || stored != rows.len() as u64 {
            let sample = warnings_sample(tx).await;
            return Err(SinkError::Warnings { statement: "LOAD DATA", warnings, stored, sent: rows.len() as u64, sample });
        }
        Ok(())
    }

    /// Touches the heartbeat (`updated_at`) of the source's checkpoint row, creating the row (with no
    /// position) when nothing was committed yet, so the staleness check sees a live ingester.
    pub async fn heartbeat(&self, path: &std::path::Path) -> Result<(), SinkError> {
        let mut conn = self.conn().await?;
        let sql = format!(
            "INSERT INTO {} (source, file_path, file_id, file_offset, state, records_total, updated_at) VALUES (?, ?, '', 0, NULL, 0, UTC_TIMESTAMP(6)) \
             ON DUPLICATE KEY UPDATE updated_at = VALUES(updated_at)",
            self.opts.names.checkpoint()
        );
        conn.exec_drop(sql, (&self.opts.source, path.to_string_lossy().as_ref())).await?;
        Ok(())
    }

    /// Deletes rows older than `keep`, in small batches ordered by time, pausing between them, so
    /// retention never holds long locks or floods replication. Returns the rows deleted.
    pub async fn enforce_retention(&self, keep: Duration, pause: Duration) -> Result<u64, SinkError> {
        let mut conn = self.conn().await?;
        let sql = format!("DELETE FROM {} WHERE event_time < UTC_TIMESTAMP(6) - INTERVAL ? SECOND ORDER BY event_time LIMIT 1000", self.opts.names.data());
        let mut total = 0;
        loop {
            conn.exec_drop(&sql, (keep.as_secs(),)).await?;
            let n = conn.affected_rows();
            total += n;
            if n < 1000 {
                return Ok(total);
            }
            tokio::time::sleep(pause).await;
        }
    }

    /// Closes the pool.
    pub async fn close(self) -> Result<(), SinkError> {
        Ok(self.pool.disconnect().await?)
    }
}

fn value_bytes(row: &[Value]) -> usize {
    row.iter().map(|v| match v {
        Value::Bytes(b) => b.len() + 9,
        _ => 16,
    }).sum()
}

/// Inserts `rows` in statements of [`CHUNKS`] rows, each kept under `budget` bytes (the server's
/// `max_allowed_packet` less a margin; a single row always goes, alone).
async fn insert_chunked(tx: &mut mysql_async::Transaction<'_>, prefix: &str, cols: usize, rows: &[Vec<Value>], suffix: &str, budget: usize) -> Result<(), SinkError> {
    let mut rest = rows;
    while !rest.is_empty() {
        let fits = |n: usize| rest[..n].iter().map(|r| value_bytes(r)).sum::<usize>() <= budget;
        let n = CHUNKS.iter().copied().find(|&c| c <= rest.len() && fits(c)).unwrap_or(1);
        let (chunk, tail) = rest.split_at(n);
        let sql = format!("{prefix}{}{suffix}", placeholders(cols, n));
        let params: Vec<Value> = chunk.iter().flat_map(|r| r.iter().cloned()).collect();
        tx.exec_drop(sql, Params::Positional(params)).await?;
        let warnings = u64::from(tx.get_warnings());
        if warnings > 0 {
            let sample = warnings_sample(tx).await;
            return Err(SinkError::Warnings { statement: "INSERT", warnings, stored: tx.affected_rows(), sent: n as u64, sample });
        }
        rest = tail;
    }
    Ok(())
}

/// Whether a record is of the kinds wanted and not from an excluded account.
#[derive(Debug, Clone, Default)]
pub struct RecordFilter {
    /// Kinds to keep; empty keeps all.
    pub kinds: Vec<Kind>,
    /// Accounts to drop, as `user` or `user@host` (host `%` or absent matches any).
    pub exclude_accounts: Vec<(String, Option<String>)>,
}

impl RecordFilter {
    /// Whether to keep `r`.
    pub fn keep(&self, r: &Record) -> bool {
        if !self.kinds.is_empty() && !self.kinds.contains(&r.kind()) {
            return false;
        }
        // Failed logins are never filtered by account: they are what the checks look for.
        if r.is_failed_login() {
            return true;
        }
        let user = account_user(r);
        let host = r.host().unwrap_or("");
        !self.exclude_accounts.iter().any(|(u, h)| u == user && h.as_deref().is_none_or(|h| h == "%" || h == host || r.ip() == Some(h)))
    }
}

/// The account's user name: Percona statement records write `priv[user] @ host [ip]`.
fn account_user(r: &Record) -> &str {
    let u = r.priv_user().filter(|s| !s.is_empty()).or(r.user()).unwrap_or("");
    match u.find('[') {
        Some(i) if u.contains("] @ ") => &u[..i],
        _ => u,
    }
}
