//! Backfill equality on a real MariaDB: every record of a file is one row whose `audit_record` is the
//! record's `to_percona_json()`, with the typed columns derived from it; hostile values are stored
//! byte-exact; a record too large for the server's `max_allowed_packet` is dead-lettered with a reason
//! instead of stalling the pipeline. Other formats (MariaDB server_audit, Percona XML) round through too.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::time::{Duration, Instant};

use audit_model::{Field, Format, ReaderOptions, Record, RecordReader};
use common::TestDb;
use ingest::config::{connect_options, ConnectSettings};
use ingest::sink::{Sink, SinkOptions};
use ingest::Ingester;

const HOSTILE: &[&str] = &[
    "'); DROP TABLE audit_data; --",
    "back\\slash\\\\ and \\' and \\\"",
    "quotes ' \" ` ''",
    "nul\0byte",
    "emoji 🦀🔥 and ñ, 中文",
    "control \u{1}\u{7}\u{8}\u{b}\u{c}\u{1b}[31m\r\n\t",
    "\\n is not a newline; \n is",
    "</AUDIT><x a=\"1\"/>&amp;",
    "",
];

fn ts(i: u64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_790_000_000 + i as i64).unwrap() + jiff::SignedDuration::from_micros((i * 7919 % 1_000_000) as i64)
}

fn build(i: u64) -> Record {
    let hostile = HOSTILE[i as usize % HOSTILE.len()];
    let id = format!("{i}_2026-11-29T05:00:00");
    let (name, status) = match i % 10 {
        0 => ("Connect", 1045),
        1 => ("Connect", 0),
        2 => ("Quit", 0),
        _ => ("Query", if i % 7 == 0 { 1064 } else { 0 }),
    };
    let long_user;
    let user = if i == 13 {
        long_user = format!("{}é", "u".repeat(300));
        long_user.as_str()
    } else if i % 3 == 0 {
        hostile
    } else {
        "alice"
    };
    let mut b = Record::builder(Format::PerconaJson);
    b.set(Field::Name, name).set(Field::RecordId, &id).set(Field::User, user).set(Field::PrivUser, user).set(Field::Host, "h'ost").set(Field::Ip, "10.0.0.1").set(Field::Db, hostile);
    b.set(Field::OsUser, "").set(Field::ProxyUser, "");
    if name == "Query" {
        b.set(Field::CommandClass, "select").set(Field::SqlText, &format!("SELECT '{hostile}' /* {i} */"));
    }
    b.timestamp(ts(i)).connection_id(Some(i)).status(Some(status));
    b.build()
}

/// The records as the reader reads them back from the file (with their offsets).
fn read_back(path: &std::path::Path, format: Option<Format>) -> Vec<Record> {
    let f = BufReader::new(File::open(path).unwrap());
    let mut out = Vec::new();
    for item in RecordReader::new(f, ReaderOptions::new().format_opt(format).time_zone(jiff::tz::TimeZone::UTC)) {
        out.push(item.unwrap());
    }
    out
}

fn utc_text(t: jiff::Timestamp) -> String {
    let d = t.to_zoned(jiff::tz::TimeZone::UTC).datetime();
    format!("{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}", d.year(), d.month(), d.day(), d.hour(), d.minute(), d.second(), d.subsec_nanosecond() / 1000)
}

fn clip(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

type Row = (u64, String, String, Option<i64>, Option<String>, i64, String, Option<String>);

#[test]
fn backfill_json_rows_equal_records() {
    let db = TestDb::new("backfill");
    let (dir, log) = common::log_dir();
    let n = 400u64;
    let big_at = 200u64;
    let mut text = String::new();
    for i in 0..n {
        let rec = if i == big_at {
            // A 16 MiB statement: larger than the server's max_allowed_packet (16 MiB by default).
            let mut b = Record::builder(Format::PerconaJson);
            b.set(Field::Name, "Query").set(Field::RecordId, &format!("{i}_2026-11-29T05:00:00")).set(Field::User, "bob").set(Field::SqlText, &format!("SELECT '{}'", "x".repeat(16 << 20)));
            b.set(Field::CommandClass, "select");
            b.timestamp(ts(i)).connection_id(Some(i)).status(Some(0));
            b.build()
        } else {
            build(i)
        };
        audit_model::write::write_record(Format::PerconaJson, &rec, &mut text).unwrap();
    }
    std::fs::write(&log, &text).unwrap();
    drop(text);
    let expected = read_back(&log, Some(Format::PerconaJson));
    assert_eq!(expected.len() as u64, n);

    let (opts, database) = connect_options(&ConnectSettings { dsn: Some(db.dsn()), ..Default::default() }).unwrap();
    assert_eq!(database, db.name);
    let names = audit_schema::TableNames::new(&database, "audit_data").unwrap();
    let sink = Sink::new(opts, SinkOptions::new(names, "backfill-test", common::server())).with_load_method(common::load_method());
    let t = Instant::now();
    let summary = db.rt.block_on(async {
        sink.apply_schema().await.unwrap();
        let run = Ingester::builder(&log, sink.clone()).one_pass().batch_rows(50).build().unwrap().run(std::future::pending());
        tokio::time::timeout(Duration::from_secs(120), run).await.expect("the pipeline stalled").unwrap()
    });
    eprintln!("backfill of {n} records (one of 16 MiB) took {:?}: {summary:?}", t.elapsed());

    let rows: Vec<Row> = db.query(&format!(
        "SELECT file_offset, audit_record, kind, status, user, is_failed_login, DATE_FORMAT(event_time, '%Y-%m-%d %H:%i:%s.%f'), name FROM {} ORDER BY file_offset",
        db.data()
    ));
    let dead: Vec<(u64, String, u64)> = db.query(&format!("SELECT file_offset, reason, LENGTH(raw) FROM {}", db.dead()));
    let by_offset: BTreeMap<u64, &Row> = rows.iter().map(|r| (r.0, r)).collect();
    assert_eq!(by_offset.len(), rows.len(), "two rows at one offset");
    let mut stored = 0;
    for rec in &expected {
        let off = rec.span().start;
        let Some(row) = by_offset.get(&off) else {
            // Only the 16 MiB record may be missing, and then it is in the dead-letter table with a reason.
            assert_eq!(rec.record_id(), Some(format!("{big_at}_2026-11-29T05:00:00").as_str()), "record at {off} neither stored");
            let d = dead.iter().find(|d| d.0 == off).unwrap_or_else(|| panic!("the 16 MiB record is neither stored nor dead-lettered: {dead:?}"));
            assert!(d.1.contains("max_allowed_packet"), "unclear reason: {}", d.1);
            continue;
        };
        stored += 1;
        let want: serde_json::Value = serde_json::from_str(&rec.to_percona_json()).unwrap();
        let got: serde_json::Value = serde_json::from_str(&row.1).unwrap();
        assert_eq!(got, want, "audit_record at {off}");
        assert_eq!(row.2, rec.kind().name());
        assert_eq!(row.3, rec.status());
        assert_eq!(row.4.as_deref(), rec.user().map(|u| clip(u, 255)).as_deref(), "user at {off}");
        assert_eq!(row.5, i64::from(rec.is_failed_login()));
        assert_eq!(row.6, utc_text(rec.timestamp()));
        assert_eq!(row.7.as_deref(), Some(rec.name()));
    }
    assert_eq!(rows.len(), stored, "rows that are no record of the file");
    assert!(stored as u64 >= n - 1);
    assert_eq!(summary.records, stored as u64);
    assert_eq!(summary.records + summary.dead_letters, n);
    // Counts by kind.
    let mut want_kinds: BTreeMap<String, u64> = BTreeMap::new();
    for r in expected.iter().filter(|r| by_offset.contains_key(&r.span().start)) {
        *want_kinds.entry(r.kind().name().to_string()).or_default() += 1;
    }
    let got_kinds: BTreeMap<String, u64> = db.query::<(String, u64)>(&format!("SELECT kind, COUNT(*) FROM {} GROUP BY kind", db.data())).into_iter().collect();
    assert_eq!(got_kinds, want_kinds);
    // The injection attempt is data, and the table still exists; the long user is clipped to 255.
    let injected: u64 = db.query(&format!("SELECT COUNT(*) FROM {} WHERE user = ?", db.data()).replace('?', "'''); DROP TABLE audit_data; --'"))[0];
    assert!(injected > 0);
    let long: Vec<(u64, u64)> = db.query(&format!(
        "SELECT CHAR_LENGTH(user), CHAR_LENGTH(JSON_VALUE(audit_record, '$.audit_record.user')) FROM {} WHERE JSON_VALUE(audit_record, '$.audit_record.record') = '13_2026-11-29T05:00:00'",
        db.data()
    ));
    assert_eq!(long, vec![(255, 301)]);
    // The checkpoint is at the end of the file.
    let ck: Vec<(u64, u64)> = db.query(&format!("SELECT file_offset, records_total FROM {}", db.checkpoint()));
    // (The offset is just past the last record; its newline may not be counted.)
    let len = std::fs::metadata(&log).unwrap().len();
    assert_eq!(ck.len(), 1);
    assert!(len - ck[0].0 <= 1, "checkpoint at {} of {len}", ck[0].0);
    assert_eq!(ck[0].1, stored as u64);
    db.rt.block_on(sink.close()).unwrap();
    drop(dir);
}

/// The `backfill` binary on one file of `format`: the rows' statuses (read through `JSON_VALUE`) are
/// the records' statuses, in file order.
fn backfill_file(tag: &str, format: Option<Format>, file_text: &str, extra: &[&str]) -> (TestDb, Vec<Record>) {
    let db = TestDb::new(tag);
    let (dir, log) = common::log_dir();
    std::fs::write(&log, file_text).unwrap();
    let expected = read_back(&log, format);
    let mut args = vec!["backfill", "--include-self"];
    args.extend_from_slice(extra);
    args.push(log.to_str().unwrap());
    let out = common::ingest_cmd(&db.dsn(), &args).output().unwrap();
    assert!(out.status.success(), "backfill failed: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains(&format!("{} new records stored", expected.len())), "{summary}");
    let rows: Vec<(Option<String>, Option<String>, String)> = db.query(&format!(
        "SELECT JSON_VALUE(audit_record, '$.audit_record.status'), JSON_VALUE(audit_record, '$.audit_record.user'), format FROM {} ORDER BY file_offset",
        db.data()
    ));
    assert_eq!(rows.len(), expected.len());
    for (row, rec) in rows.iter().zip(&expected) {
        assert_eq!(row.0, Some(rec.status().unwrap_or(0).to_string()));
        assert_eq!(row.1.as_deref(), Some(rec.user().unwrap_or("")));
        assert_eq!(row.2, rec.format().name());
    }
    drop(dir);
    (db, expected)
}

#[test]
fn backfill_mariadb_server_audit_file() {
    let text = "20261129 05:02:38,vm,nosuchuser,localhost,10279,0,FAILED_CONNECT,,,1045\n\
                20261129 05:02:40,vm,alice,localhost,10281,0,CONNECT,shop,,0\n\
                20261129 05:02:41,vm,alice,localhost,10281,7,QUERY,shop,'SELECT \\'a\\' FROM t',0\n\
                20261129 05:02:42,vm,alice,localhost,10281,8,QUERY,shop,'SELEC oops',1064\n\
                20261129 05:02:43,vm,alice,localhost,10281,0,DISCONNECT,shop,,0\n";
    let (db, expected) = backfill_file("mariadb", None, text, &["--time-zone", "UTC"]);
    assert_eq!(expected.len(), 5);
    assert_eq!(expected[0].format(), Format::MariaDb);
    let failed: Vec<(String, i64)> = db.query(&format!("SELECT user, status FROM {} WHERE is_failed_login = 1", db.data()));
    assert_eq!(failed, vec![("nosuchuser".to_string(), 1045)]);
}

#[test]
fn backfill_percona_xml_files() {
    for (tag, format) in [("xmlold", Format::PerconaOld), ("xmlnew", Format::PerconaNew)] {
        let mut text = audit_model::write::header(format).to_string();
        let recs: Vec<Record> = (0..30).map(|i| {
            let r = build(i);
            let mut b = Record::builder(format);
            for f in Field::ALL {
                if let Some(v) = r.get(f) {
                    // XML cannot carry NUL or most control characters.
                    let v: String = v.chars().filter(|c| !c.is_control() || *c == '\n' || *c == '\t').collect();
                    b.set(f, &v);
                }
            }
            b.timestamp(r.timestamp()).connection_id(r.connection_id()).status(r.status());
            b.build()
        }).collect();
        for r in &recs {
            audit_model::write::write_record(format, r, &mut text).unwrap();
        }
        text += audit_model::write::footer(format);
        let (_db, expected) = backfill_file(tag, None, &text, &[]);
        assert_eq!(expected.len(), recs.len(), "{format}");
        assert_eq!(expected[0].format(), format);
    }
}

/// The hostile 16 MiB sqltext, on a server whose `max_allowed_packet` is MySQL 8's default
/// (64 MiB): stored byte-exact, with the records around it. (On a server whose packet is smaller than
/// the record, it is dead-lettered instead: `backfill_json_rows_equal_records`.)
#[test]
fn sixteen_mib_sqltext_is_stored_byte_exact_with_a_64m_packet() {
    let t0 = Instant::now();
    let server = test_harness::MariaDb::builder().server_arg("--max-allowed-packet=64M").start().unwrap();
    eprintln!("throwaway server (max_allowed_packet=64M) up in {:?}", t0.elapsed());
    let db = TestDb::on(&server.dsn(), "bigsql");
    assert_eq!(db.query::<u64>("SELECT @@max_allowed_packet"), [64 << 20]);
    let (dir, log) = common::log_dir();
    // Exactly 16 MiB of hostile text: quotes, backslashes, NUL, control characters, emoji, the
    // separators LOAD DATA uses, and an injection attempt.
    let piece = "'); DROP TABLE audit_data; -- \\ \\\\ \\N \0 \t\r\n \u{1}\u{1b} 🦀 ñ 中文 \"x\" ";
    let mut sql = piece.repeat((16 << 20) / piece.len());
    sql.push_str(&"y".repeat((16 << 20) - sql.len()));
    assert_eq!(sql.len(), 16 << 20);
    let mut text = String::new();
    for i in 0..5u64 {
        let rec = if i == 2 {
            let mut b = Record::builder(Format::PerconaJson);
            b.set(Field::Name, "Query").set(Field::RecordId, &format!("{i}_2026-11-29T05:00:00")).set(Field::User, "bob").set(Field::SqlText, &sql);
            b.set(Field::CommandClass, "select");
            b.timestamp(ts(i)).connection_id(Some(i)).status(Some(0));
            b.build()
        } else {
            build(i)
        };
        audit_model::write::write_record(Format::PerconaJson, &rec, &mut text).unwrap();
    }
    std::fs::write(&log, &text).unwrap();
    drop(text);
    let expected = read_back(&log, Some(Format::PerconaJson));
    assert_eq!(expected.len(), 5);
    assert_eq!(expected[2].sqltext(), Some(sql.as_str()));

    let (opts, database) = connect_options(&ConnectSettings { dsn: Some(db.dsn()), ..Default::default() }).unwrap();
    let names = audit_schema::TableNames::new(&database, "audit_data").unwrap();
    let sink = Sink::new(opts, SinkOptions::new(names, "bigsql", common::server())).with_load_method(common::load_method());
    let (summary, method) = db.rt.block_on(async {
        sink.apply_schema().await.unwrap();
        let run = Ingester::builder(&log, sink.clone()).one_pass().build().unwrap().run(std::future::pending());
        let s = tokio::time::timeout(Duration::from_secs(180), run).await.expect("the pipeline stalled").unwrap();
        (s, sink.load_method().await.unwrap())
    });
    eprintln!("5 records, one with a 16 MiB sqltext, stored with {method} in {:?}", t0.elapsed());
    assert_eq!(summary.records, 5, "{summary:?}");
    assert_eq!(db.dead_count(), 0);
    let rows: Vec<(u64, String)> = db.query(&format!("SELECT file_offset, audit_record FROM {} ORDER BY file_offset", db.data()));
    assert_eq!(rows.len(), 5);
    for (rec, (off, json)) in expected.iter().zip(&rows) {
        assert_eq!(*off, rec.span().start);
        let want: serde_json::Value = serde_json::from_str(&rec.to_percona_json()).unwrap();
        let got: serde_json::Value = serde_json::from_str(json).unwrap();
        assert!(got == want, "audit_record at {off} differs");
    }
    // The server's own reading of the stored JSON gives the statement back byte for byte.
    let stored: Vec<Vec<u8>> = db.query(&format!(
        "SELECT CAST(JSON_VALUE(audit_record, '$.audit_record.sqltext') AS BINARY) FROM {} WHERE file_offset = {}",
        db.data(),
        expected[2].span().start
    ));
    assert_eq!(stored.len(), 1);
    assert!(stored[0] == sql.as_bytes(), "sqltext: {} bytes stored, {} written", stored[0].len(), sql.len());
    db.rt.block_on(sink.close()).unwrap();
    drop(db);
    drop(dir);
}
