//! Records and dead letters turned into rows of the tables, ready for one transaction.

use audit_model::{Field, MalformedRecord, Record};
use audit_schema::statement::{classify, STATEMENT_CHARS};
use mysql_async::Value;

use crate::follower::{Event, Item};

/// The data table's columns, in the order of every row a [`Batch`] holds.
pub(super) const DATA_COLUMNS: &[&str] = &[
    "server", "file_id", "file_offset", "source", "event_time", "name", "kind", "status", "is_failed_login", "user", "priv_user", "host", "ip", "db",
    "connection_id", "command_class", "format", "log_server_id", "audit_record", "statement_class", "statement",
];
/// The dead-letter table's columns, in row order.
pub(super) const DEAD_COLUMNS: &[&str] = &["server", "file_id", "file_offset", "source", "file_path", "reason", "raw", "created_at"];
/// Room left in a packet for the statement text and the row's other columns.
pub(super) const PACKET_MARGIN: usize = 64 << 10;

/// Rows ready to insert, built from follower items, for one server and source.
#[derive(Debug)]
pub struct Batch {
    server: Vec<u8>,
    source: Vec<u8>,
    pub(super) rows: Vec<Vec<Value>>,
    pub(super) dead: Vec<Vec<Value>>,
    bytes: usize,
    log_bytes: u64,
    /// `(row index, login)` of each login attempt, in log order, so replays can be left out of the
    /// metrics.
    pub(super) logins: Vec<(usize, Login)>,
    /// The server's `max_allowed_packet`: a record whose row cannot fit in one packet is
    /// dead-lettered instead of failing its batch forever.
    max_packet: usize,
    /// The `server_id` the log last stated (a startup record), carried from batch to batch.
    log_server_id: Option<u32>,
    /// The records as `LOAD DATA` rows, once [`Batch::encode_for_load`] made them.
    pub(super) tsv: Option<bytes::Bytes>,
}

/// A login attempt (a connect record) as the metrics count it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// The account's user name.
    pub user: String,
    /// Where it came from: the IP address, or the host when there is none.
    pub client: String,
    /// The `ip` field alone (empty for socket connections), for the public-address rule.
    pub ip: String,
    /// Refused (a failed login) or accepted.
    pub failed: bool,
    /// The record's event time, Unix seconds.
    pub at: i64,
}

impl Login {
    /// The login attempt a record is, if it is one.
    pub fn of(r: &Record) -> Option<Login> {
        if r.kind() != audit_model::Kind::Connect {
            return None;
        }
        let failed = r.is_failed_login();
        if !failed && r.status().is_some_and(|s| s != 0) {
            return None;
        }
        let ip = r.ip().unwrap_or("");
        let client = if ip.is_empty() { r.host().unwrap_or("") } else { ip };
        Some(Login { user: r.user().unwrap_or("").to_string(), client: client.to_string(), ip: ip.to_string(), failed, at: r.timestamp().as_second() })
    }
}

/// Clips text to a column's width in characters (the whole value stays in `audit_record`).
pub(super) fn clip(s: &str, chars: usize) -> &str {
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
    /// An empty batch of `server`'s `source`, for a server whose `max_allowed_packet` is `max_packet`
    /// (see [`super::Sink::max_packet`]), continuing from the `server_id` the log stated last.
    pub fn new(server: &str, source: &str, max_packet: usize, log_server_id: Option<u32>) -> Batch {
        Batch {
            server: server.as_bytes().to_vec(),
            source: source.as_bytes().to_vec(),
            rows: Vec::new(),
            dead: Vec::new(),
            bytes: 0,
            log_bytes: 0,
            logins: Vec::new(),
            max_packet,
            log_server_id,
            tsv: None,
        }
    }

    /// A batch with no rows: commits only a checkpoint.
    pub fn empty() -> Batch {
        Batch::new("", "", usize::MAX, None)
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
    /// The `server_id` the log stated last, as of the end of this batch.
    pub fn log_server_id(&self) -> Option<u32> {
        self.log_server_id
    }

    /// The batch's records as the `LOAD DATA` data [`super::LoadMethod::Infile`] sends (TSV, in the
    /// column order of [`super::Sink::load_statement`]); for benchmarks and tools.
    pub fn records_tsv(&self) -> Vec<u8> {
        super::infile::tsv_rows(&self.rows)
    }

    /// Encodes the records as the `LOAD DATA` rows of [`super::LoadMethod::Infile`] now, so that the
    /// commit only sends them: the pipeline's reader calls it on its own thread, off the commit's
    /// path. Adding a record afterwards drops the encoding.
    pub fn encode_for_load(&mut self) {
        self.tsv = Some(bytes::Bytes::from(super::infile::tsv_rows(&self.rows)));
    }

    /// Adds a record read from the file `file_key`.
    pub fn push_record(&mut self, file_key: &str, r: &Record) {
        self.push_record_json(file_key, r, r.to_percona_json());
    }

    fn push_record_json(&mut self, file_key: &str, r: &Record, json: String) {
        if let Some(id) = r.get(Field::ServerId).and_then(|s| s.trim().parse::<u32>().ok()) {
            self.log_server_id = Some(id);
        }
        self.tsv = None;
        self.bytes += json.len() + 200;
        self.log_bytes += r.span().end - r.span().start;
        if let Some(login) = Login::of(r) {
            self.logins.push((self.rows.len(), login));
        }
        self.rows.push(vec![
            Value::Bytes(self.server.clone()),
            Value::Bytes(file_key.as_bytes().to_vec()),
            Value::UInt(r.span().start),
            Value::Bytes(self.source.clone()),
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
            self.log_server_id.map_or(Value::NULL, |id| Value::UInt(u64::from(id))),
            Value::Bytes(json.into_bytes()),
            // Decided from the whole text: the stored text below is clipped.
            classify(r.command_class(), r.sqltext()).map_or(Value::NULL, |c| Value::Bytes(c.into_bytes())),
            text(r.sqltext(), STATEMENT_CHARS),
        ]);
    }

    /// Adds a malformed record.
    pub fn push_dead(&mut self, path: &std::path::Path, file_key: &str, m: &MalformedRecord) {
        self.bytes += m.raw.len() + m.reason.len() + 200;
        self.log_bytes += m.len;
        self.dead.push(vec![
            Value::Bytes(self.server.clone()),
            Value::Bytes(file_key.as_bytes().to_vec()),
            Value::UInt(m.position.byte),
            Value::Bytes(self.source.clone()),
            Value::Bytes(path.to_string_lossy().as_bytes().to_vec()),
            Value::Bytes(m.reason.as_bytes().to_vec()),
            Value::Bytes(m.raw.clone()),
            datetime(jiff::Timestamp::now()),
        ]);
    }

    /// Adds a follower item, unless `keep` refuses its record (filters); returns whether it was added.
    pub fn push_item(&mut self, item: &Item, keep: impl Fn(&Record) -> bool) -> bool {
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
                    self.push_dead(&item.path, &item.file_key, &m);
                } else {
                    self.push_record_json(&item.file_key, r, json);
                }
                true
            }
            Event::Record(_) => false,
            Event::Malformed(m) => {
                self.push_dead(&item.path, &item.file_key, m);
                true
            }
        }
    }
}

/// The `(file_id, file_offset)` of a row built by [`Batch`] (data or dead letter: both start with
/// server, file_id, file_offset).
pub(super) fn row_key(row: &[Value]) -> Option<(&[u8], u64)> {
    match (&row[1], &row[2]) {
        (Value::Bytes(f), Value::UInt(o)) => Some((f.as_slice(), *o)),
        _ => None,
    }
}
