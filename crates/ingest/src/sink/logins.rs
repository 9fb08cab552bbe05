//! The login summary's part of a commit: the login records a batch really inserted, tallied by
//! minute, outcome, server, account and source, then upserted in the batch's transaction (so the
//! summary is exactly once with the rows). See `audit_schema::summary` for the table's contract.

use std::collections::HashMap;

use audit_schema::summary::{account_state, LOGINS_COLUMNS, UPSERT_SUFFIX};
use mysql_async::prelude::*;
use mysql_async::{Params, Value};

/// Positions of the columns read here in a [`super::Batch`] row (checked against [`DATA_COLUMNS`]
/// by a test).
mod col {
    pub const SERVER: usize = 0;
    pub const FILE_ID: usize = 1;
    pub const FILE_OFFSET: usize = 2;
    pub const EVENT_TIME: usize = 4;
    pub const KIND: usize = 6;
    pub const STATUS: usize = 7;
    pub const FAILED: usize = 8;
    pub const USER: usize = 9;
    pub const PRIV_USER: usize = 10;
    pub const HOST: usize = 11;
    pub const IP: usize = 12;
    pub const FORMAT: usize = 16;
}

/// Date and time as the driver holds them: year, month, day, hour, minute, second, microsecond.
type Time = (u16, u8, u8, u8, u8, u8, u32);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    failed: bool,
    /// The minute: the event time with seconds and microseconds zeroed.
    bucket: Time,
    server: Vec<u8>,
    user: Vec<u8>,
    source: Vec<u8>,
    via_ip: bool,
    account: &'static str,
    status: i64,
}

/// Where an event lies: ordered by time, then file, then offset (as the upsert orders them).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Pos {
    time: Time,
    file: Vec<u8>,
    offset: u64,
}

#[derive(Debug, Clone)]
struct Tally {
    logins: u64,
    first: Pos,
    last: Pos,
}

fn bytes(v: &Value) -> Option<&[u8]> {
    match v {
        Value::Bytes(b) => Some(b),
        _ => None,
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(n) => Some(*n),
        Value::UInt(n) => i64::try_from(*n).ok(),
        _ => None,
    }
}

/// The summary key and position of a data row, if it is a login (`kind` = `connect`).
fn login_of(row: &[Value]) -> Option<(Key, Pos)> {
    if bytes(&row[col::KIND])? != b"connect" {
        return None;
    }
    let Value::Date(y, mo, d, h, mi, s, us) = row[col::EVENT_TIME] else { return None };
    let failed = int(&row[col::FAILED]) == Some(1);
    let ip = bytes(&row[col::IP]).filter(|ip| !ip.is_empty());
    let source = ip.or_else(|| bytes(&row[col::HOST])).unwrap_or_default().to_vec();
    let format = std::str::from_utf8(bytes(&row[col::FORMAT])?).ok()?;
    let priv_user = bytes(&row[col::PRIV_USER]).map(|p| std::str::from_utf8(p).unwrap_or("?"));
    let key = Key {
        failed,
        bucket: (y, mo, d, h, mi, 0, 0),
        server: bytes(&row[col::SERVER])?.to_vec(),
        user: bytes(&row[col::USER]).unwrap_or_default().to_vec(),
        source,
        via_ip: ip.is_some(),
        account: account_state(format, failed, priv_user),
        status: int(&row[col::STATUS]).unwrap_or(0),
    };
    let Value::UInt(offset) = row[col::FILE_OFFSET] else { return None };
    let pos = Pos { time: (y, mo, d, h, mi, s, us), file: bytes(&row[col::FILE_ID])?.to_vec(), offset };
    Some((key, pos))
}

/// The summary rows (in [`LOGINS_COLUMNS`] order) of the login records among `rows`.
pub(super) fn summary_rows<'a>(rows: impl IntoIterator<Item = &'a Vec<Value>>) -> Vec<Vec<Value>> {
    let mut tallies: HashMap<Key, Tally> = HashMap::new();
    for (key, pos) in rows.into_iter().filter_map(|r| login_of(r)) {
        match tallies.get_mut(&key) {
            Some(t) => {
                t.logins += 1;
                if pos < t.first {
                    t.first = pos.clone();
                }
                if pos > t.last {
                    t.last = pos;
                }
            }
            None => {
                tallies.insert(key, Tally { logins: 1, first: pos.clone(), last: pos });
            }
        }
    }
    let date = |t: Time| Value::Date(t.0, t.1, t.2, t.3, t.4, t.5, t.6);
    tallies
        .into_iter()
        .map(|(k, t)| {
            vec![
                Value::Int(i64::from(k.failed)),
                date(k.bucket),
                Value::Bytes(k.server),
                Value::Bytes(k.user),
                Value::Bytes(k.source),
                Value::Int(i64::from(k.via_ip)),
                Value::Bytes(k.account.as_bytes().to_vec()),
                Value::Int(k.status),
                Value::UInt(t.logins),
                date(t.first.time),
                Value::Bytes(t.first.file),
                Value::UInt(t.first.offset),
                date(t.last.time),
                Value::Bytes(t.last.file),
                Value::UInt(t.last.offset),
            ]
        })
        .collect()
}

/// Rows a statement: a few fixed sizes, so the server caches a few prepared statements. A summary
/// row is at most about 1.5 KB, so 500 rows stay under the smallest `max_allowed_packet` (1 MiB).
const CHUNKS: &[usize] = &[500, 50, 5, 1];

/// Upserts `rows` (from [`summary_rows`]) with `prefix` (`audit_schema::summary::upsert_prefix`).
/// Warnings are not checked: the values come from rows the data table just took as they were, and
/// MySQL 8.0.20+ notes the deprecated (but only portable) `VALUES()` on every such statement.
pub(super) async fn upsert(tx: &mut mysql_async::Transaction<'_>, prefix: &str, rows: &[Vec<Value>]) -> Result<(), mysql_async::Error> {
    let mut rest = rows;
    while !rest.is_empty() {
        let n = CHUNKS.iter().copied().find(|&c| c <= rest.len()).unwrap_or(1);
        let (chunk, tail) = rest.split_at(n);
        let sql = format!("{prefix}{}{UPSERT_SUFFIX}", super::placeholders(LOGINS_COLUMNS.len(), n));
        let params: Vec<Value> = chunk.iter().flat_map(|r| r.iter().cloned()).collect();
        tx.exec_drop(sql, Params::Positional(params)).await?;
        rest = tail;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::batch::DATA_COLUMNS;
    use super::*;

    #[test]
    fn column_positions_match_the_rows() {
        for (i, name) in [
            (col::SERVER, "server"),
            (col::FILE_ID, "file_id"),
            (col::FILE_OFFSET, "file_offset"),
            (col::EVENT_TIME, "event_time"),
            (col::KIND, "kind"),
            (col::STATUS, "status"),
            (col::FAILED, "is_failed_login"),
            (col::USER, "user"),
            (col::PRIV_USER, "priv_user"),
            (col::HOST, "host"),
            (col::IP, "ip"),
            (col::FORMAT, "format"),
        ] {
            assert_eq!(DATA_COLUMNS[i], name);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn row(kind: &str, sec: u8, off: u64, status: i64, user: &str, priv_user: Option<&str>, host: &str, ip: &str, format: &str) -> Vec<Value> {
        let mut r = vec![Value::NULL; DATA_COLUMNS.len()];
        let b = |s: &str| Value::Bytes(s.as_bytes().to_vec());
        r[col::SERVER] = b("db1");
        r[col::FILE_ID] = b("f1");
        r[col::FILE_OFFSET] = Value::UInt(off);
        r[col::EVENT_TIME] = Value::Date(2026, 12, 1, 10, 20, sec, 0);
        r[col::KIND] = b(kind);
        r[col::STATUS] = Value::Int(status);
        r[col::FAILED] = Value::Int(i64::from(status != 0));
        r[col::USER] = b(user);
        r[col::PRIV_USER] = priv_user.map_or(Value::NULL, b);
        r[col::HOST] = b(host);
        r[col::IP] = b(ip);
        r[col::FORMAT] = b(format);
        r
    }

    #[test]
    fn logins_of_one_minute_tally_into_one_row_with_first_and_last() {
        let rows = vec![
            row("connect", 30, 200, 1045, "app", Some("app"), "h", "10.0.0.1", "percona-json"),
            row("connect", 5, 100, 1045, "app", Some("app"), "h", "10.0.0.1", "percona-json"),
            row("connect", 5, 150, 1045, "app", Some("app"), "h", "10.0.0.1", "percona-json"),
            row("query", 6, 160, 0, "app", Some("app"), "h", "10.0.0.1", "percona-json"),
            row("connect", 7, 170, 1045, "ghost", Some(""), "localhost", "", "percona-json"),
            row("connect", 8, 180, 1045, "alice", None, "localhost", "", "mariadb"),
        ];
        let mut out = summary_rows(&rows);
        out.sort_by_key(|r| format!("{:?}", r[3]));
        assert_eq!(out.len(), 3, "{out:?}");
        let app = &out[1];
        assert_eq!(app[3], Value::Bytes(b"app".to_vec()));
        assert_eq!(app[4], Value::Bytes(b"10.0.0.1".to_vec()));
        assert_eq!((&app[5], &app[6], &app[8]), (&Value::Int(1), &Value::Bytes(b"exists".to_vec()), &Value::UInt(3)));
        assert_eq!((&app[9], &app[11]), (&Value::Date(2026, 12, 1, 10, 20, 5, 0), &Value::UInt(100)));
        assert_eq!((&app[12], &app[14]), (&Value::Date(2026, 12, 1, 10, 20, 30, 0), &Value::UInt(200)));
        assert_eq!(app[1], Value::Date(2026, 12, 1, 10, 20, 0, 0));
        let (alice, ghost) = (&out[0], &out[2]);
        assert_eq!((&alice[4], &alice[5], &alice[6]), (&Value::Bytes(b"localhost".to_vec()), &Value::Int(0), &Value::Bytes(b"unknown".to_vec())));
        assert_eq!(ghost[6], Value::Bytes(b"absent".to_vec()));
    }
}
