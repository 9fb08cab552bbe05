//! Dead letters, the per-source lock, retention, filters, and the `schema` and
//! `status` commands, on a real MariaDB.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use audit_model::{Field, Format, Record};
use common::{append, ids, lines, spawn_follow, stop, TestDb};
use ingest::checkpoint::{Checkpoint, CHECKPOINT_VERSION};
use ingest::config::{connect_options, ConnectSettings};
use ingest::identity::FileId;
use ingest::sink::{Batch, Sink, SinkOptions};

fn wait_rows(db: &TestDb, n: u64, dir: &std::path::Path) {
    let t = Instant::now();
    while db.count() != n {
        assert!(t.elapsed() < Duration::from_secs(60), "timed out: {} rows, want {n}\n{}", db.count(), common::follow_logs(dir));
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn malformed_records_are_dead_lettered_and_good_ones_stored() {
    let db = TestDb::new("dead");
    let (_dir, log) = common::log_dir();
    let bad1: &[u8] = b"{\"audit_record\":{\"name\":\"Connect\",\"record\":\n";
    let bad2: &[u8] = b"garbage \x01\xff\xfe not json at all\n";
    let mut bytes = Vec::new();
    let mut bad_offsets = Vec::new();
    for (i, part) in [Some(0u64), None, Some(1), Some(2), None, Some(3)].into_iter().enumerate() {
        match part {
            Some(n) => bytes.extend_from_slice(common::json_line(n).as_bytes()),
            None => {
                bad_offsets.push(bytes.len() as u64);
                bytes.extend_from_slice(if i == 1 { bad1 } else { bad2 });
            }
        }
    }
    std::fs::write(&log, &bytes).unwrap();
    let out = common::ingest_cmd(&db.dsn(), &["backfill", "--source", "dead-test", log.to_str().unwrap()]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "backfill exits 1 when records were dead-lettered: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("4 new records stored, 0 already stored, 2 malformed"), "{stdout}");
    assert_eq!(db.record_ids(), ids(0..4));
    let dead: Vec<(String, String, u64, Vec<u8>, String)> =
        db.query(&format!("SELECT source, file_path, file_offset, raw, reason FROM {} ORDER BY file_offset", db.dead()));
    assert_eq!(dead.len(), 2, "{dead:?}");
    for ((source, path, offset, raw, reason), (want_off, want_raw)) in dead.iter().zip(bad_offsets.iter().zip([bad1, bad2])) {
        assert_eq!(source, "dead-test");
        assert_eq!(path, log.to_str().unwrap());
        assert_eq!(offset, want_off);
        let want_raw = want_raw.strip_suffix(b"\n").unwrap();
        assert!(raw.strip_suffix(b"\n").unwrap_or(raw) == want_raw, "raw {:?}", String::from_utf8_lossy(raw));
        assert!(!reason.trim().is_empty());
    }
    // `status` lists the source, its offset and its dead letters.
    let out = common::ingest_cmd(&db.dsn(), &["status"]).output().unwrap();
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{status}{}", String::from_utf8_lossy(&out.stderr));
    assert!(status.lines().next().unwrap_or_default().ends_with("writes accepted"), "{status}");
    let line = status.lines().find(|l| l.starts_with("testhost") && l.contains("dead-test")).unwrap_or_else(|| panic!("{status}"));
    assert!(line.contains(&bytes.len().to_string()) || line.contains(&(bytes.len() - 1).to_string()), "{line}");
    assert!(line.ends_with(log.to_str().unwrap()), "{line}");
}

#[test]
fn a_second_instance_on_the_same_source_is_refused() {
    let db = TestDb::new("lock");
    let (dir, log) = common::log_dir();
    append(&log, &lines(0, 20));
    let first = spawn_follow(&db.dsn(), dir.path(), &[], &log);
    wait_rows(&db, 20, dir.path());
    let second = spawn_follow(&db.dsn(), dir.path(), &[], &log);
    let t = Instant::now();
    loop {
        if common::follow_logs(dir.path()).contains("lock held") {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "the second instance did not report the lock:\n{}", common::follow_logs(dir.path()));
        std::thread::sleep(Duration::from_millis(100));
    }
    append(&log, &lines(20, 40));
    wait_rows(&db, 40, dir.path());
    // The first stops: the second (which waited) takes over from the committed checkpoint.
    assert_eq!(stop(first).code(), Some(0));
    append(&log, &lines(40, 50));
    let t = Instant::now();
    while db.count() != 50 {
        assert!(t.elapsed() < Duration::from_secs(60), "the waiting instance did not take over: {} rows", db.count());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(stop(second).code(), Some(0));
    assert_eq!(db.record_ids(), ids(0..50));
}

fn sink_for(db: &TestDb, source: &str) -> Sink {
    let (opts, database) = connect_options(&ConnectSettings { dsn: Some(db.dsn()), ..Default::default() }).unwrap();
    Sink::new(opts, SinkOptions::new(audit_schema::TableNames::new(&database, "audit_data").unwrap(), source, common::server())).with_load_method(common::load_method())
}

#[test]
fn retention_deletes_old_rows_in_batches() {
    let db = TestDb::new("retention");
    let sink = sink_for(&db, "retention");
    let now = jiff::Timestamp::now();
    let old = 2500u64;
    let mut batch = sink.batch(usize::MAX, None);
    for i in 0..old + 10 {
        let ts = if i < old { now - jiff::SignedDuration::from_hours(24 * 40 + i as i64) } else { now - jiff::SignedDuration::from_hours(24) };
        let mut b = Record::builder(Format::PerconaJson);
        b.set(Field::Name, "Connect").set(Field::RecordId, &format!("{i}_x")).set(Field::User, "u");
        b.timestamp(ts).status(Some(0)).span(i * 10..i * 10 + 10);
        batch.push_record("f-0", &b.build());
    }
    let ck = Checkpoint {
        version: CHECKPOINT_VERSION,
        path: "/nonexistent".into(),
        file: FileId { dev: 1, ino: 2, born: None, generation: 0 },
        offset: (old + 10) * 10,
        tail: None,
        format: None,
        saved_at: 0,
        ..Checkpoint::default()
    };
    let deleted = db.rt.block_on(async {
        sink.apply_schema().await.unwrap();
        sink.commit(&batch, None, &ck).await.unwrap();
        let d = sink.enforce_retention(Duration::from_secs(30 * 86_400), Duration::from_millis(1)).await.unwrap();
        // Nothing more to delete the second time.
        assert_eq!(sink.enforce_retention(Duration::from_secs(30 * 86_400), Duration::from_millis(1)).await.unwrap(), 0);
        d
    });
    assert_eq!(deleted, old);
    assert_eq!(db.count(), 10);
    // The login summary is trimmed too: the old logins' minutes are gone, the recent minute stays.
    let kept: Vec<(u64, u64)> = db.query(&format!("SELECT COUNT(*), CAST(SUM(logins) AS UNSIGNED) FROM `{}`.`audit_data_logins`", db.name));
    assert_eq!(kept, [(1, 10)]);
    db.rt.block_on(sink.close()).unwrap();
}

/// The login summary counts only rows really inserted, whichever way a batch is loaded: a batch
/// replayed under another source name (half of it new) and a batch replayed after a checkpoint reset
/// add only their new logins, and a summary row's first and last events are those of its rows.
#[test]
fn a_replay_never_counts_twice_in_the_login_summary() {
    use ingest::sink::LoadMethod;
    for method in [LoadMethod::Insert, LoadMethod::Infile] {
        let db = TestDb::new("summary_replay");
        let batch_of = |source: &str, from: u64, to: u64| {
            let mut batch = Batch::new(common::server().as_str(), source, usize::MAX, None);
            for i in from..to {
                let mut b = Record::builder(Format::PerconaJson);
                let user = format!("u{}", i % 3);
                b.set(Field::Name, "Connect").set(Field::RecordId, &format!("{i}_r")).set(Field::User, &user);
                b.set(Field::PrivUser, if i % 2 == 0 { "" } else { &user }).set(Field::Ip, "192.0.2.1");
                b.timestamp(jiff::Timestamp::from_second(1_790_000_000 + i as i64).unwrap()).status(Some(if i % 4 == 3 { 0 } else { 1045 })).span(i * 10..i * 10 + 10);
                batch.push_record("f-0", &b.build());
            }
            batch
        };
        let ck = |offset: u64| Checkpoint {
            version: CHECKPOINT_VERSION,
            path: "/nonexistent".into(),
            file: FileId { dev: 1, ino: 2, born: None, generation: 0 },
            offset,
            ..Checkpoint::default()
        };
        let first = sink_for(&db, "first").with_load_method(Some(method));
        let second = sink_for(&db, "second").with_load_method(Some(method));
        let totals = |db: &TestDb| -> Vec<(u64, u64)> {
            db.query(&format!("SELECT failed, CAST(SUM(logins) AS UNSIGNED) FROM `{}`.`audit_data_logins` GROUP BY failed ORDER BY failed", db.name))
        };
        db.rt.block_on(async {
            first.apply_schema().await.unwrap();
            assert_eq!(first.commit(&batch_of("first", 0, 100), None, &ck(1000)).await.unwrap().records, 100);
        });
        assert_eq!(totals(&db), [(0, 25), (1, 75)], "{method}");
        db.rt.block_on(async {
            assert_eq!(second.commit(&batch_of("second", 0, 150), None, &ck(1500)).await.unwrap().records, 50);
            assert_eq!(first.commit(&batch_of("first", 0, 100), Some(&ck(1000)), &ck(1000)).await.unwrap().records, 0);
        });
        assert_eq!(totals(&db), [(0, 37), (1, 113)], "{method}: replays counted again");
        // Every summary row agrees with the rows it counts.
        let same_row = "d.is_failed_login = s.failed AND d.user = s.user AND d.ip = s.source AND d.status = s.status \
            AND d.event_time >= s.bucket AND d.event_time < s.bucket + INTERVAL 1 MINUTE \
            AND (CASE WHEN d.is_failed_login = 0 THEN 'exists' WHEN d.priv_user = '' THEN 'absent' ELSE 'exists' END) = s.account";
        let mismatched: Vec<u64> = db.query(&format!(
            "SELECT COUNT(*) FROM `{0}`.`audit_data_logins` s \
             WHERE (s.logins, s.first_time, s.first_offset, s.last_time, s.last_offset) <> \
               (SELECT COUNT(*), MIN(event_time), MIN(file_offset), MAX(event_time), MAX(file_offset) FROM {1} d WHERE {same_row})",
            db.name,
            db.data()
        ));
        assert_eq!(mismatched, [0], "{method}");
        db.rt.block_on(async {
            first.close().await.unwrap();
            second.close().await.unwrap();
        });
    }
}

/// A Percona JSON Connect line for `user` with `status`, record id `<n>_f`.
fn connect(n: u64, name: &str, user: &str, status: u32) -> String {
    format!(
        r#"{{"audit_record":{{"name":"{name}","record":"{n}_f","timestamp":"2026-11-29T05:00:00Z","connection_id":"{n}","status":{status},"user":"{user}","priv_user":"{user}","os_login":"","proxy_user":"","host":"localhost","ip":"10.0.0.9","db":""}}}}"#
    ) + "\n"
}

#[test]
fn filters_kinds_excluded_accounts_and_self() {
    let db = TestDb::new("filters");
    let (dir, log) = common::log_dir();
    let text = [
        connect(0, "Connect", "alice", 0),
        connect(1, "Connect", "bob", 0),
        connect(2, "Connect", "bob", 1045),
        connect(3, "Connect", "root", 0),
        connect(4, "Connect", "root", 1045),
        connect(5, "Quit", "alice", 0),
        r#"{"audit_record":{"name":"Query","record":"6_f","timestamp":"2026-11-29T05:00:00Z","command_class":"select","connection_id":"6","status":0,"sqltext":"SELECT 1","user":"alice[alice] @ localhost [10.0.0.9]","host":"localhost","os_user":"","ip":"10.0.0.9","db":""}}"#.to_string() + "\n",
    ]
    .concat();
    std::fs::write(&log, text).unwrap();
    let out = common::ingest_cmd(&db.dsn(), &["backfill", "--kinds", "connect", "--exclude-account", "bob", log.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut got: Vec<String> = db.query(&format!("SELECT JSON_VALUE(audit_record, '$.audit_record.record') FROM {}", db.data()));
    got.sort();
    // alice's connect; bob's failed login only; root's (the DSN's user) login too: only the
    // ingester's own connections are left out, never its account (issue 11).
    assert_eq!(got, ["0_f", "2_f", "3_f", "4_f"]);
    drop(dir);
}

#[test]
fn schema_prints_and_applies_ddl() {
    let db = TestDb::new("schema");
    let out = common::ingest_cmd(&db.dsn(), &["schema"]).output().unwrap();
    let ddl = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert_eq!(ddl.matches("CREATE TABLE IF NOT EXISTS").count(), 5, "{ddl}");
    assert!(ddl.contains(&db.name));
    let tables = format!("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '{}'", db.name);
    assert_eq!(db.query::<u64>(&tables), [0]);
    let out = common::ingest_cmd(&db.dsn(), &["schema", "--apply"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(db.query::<u64>(&tables), [5]);
    assert_eq!(db.query::<u32>(&format!("SELECT version FROM `{}`.`audit_data_schema`", db.name)), [audit_schema::SCHEMA_VERSION]);
    // Applying again is harmless.
    assert!(common::ingest_cmd(&db.dsn(), &["schema", "--apply"]).output().unwrap().status.success());
}

/// A replay (the same file read under a second source name, e.g. `backfill` after `follow`) stores no
/// duplicate: the key (server, file_id, file_offset) keeps the first row. With LOAD DATA the
/// duplicates come back as warnings, the transaction is rolled back and the batch redone with INSERT;
/// the new records of the batch are stored, the checkpoint moves, and only rows really inserted are
/// counted (in the commit's result, the checkpoint's records_total and so the metrics).
#[test]
fn a_replayed_batch_stores_no_duplicate() {
    let db = TestDb::new("replay");
    let batch_of = |source: &str, from: u64, to: u64| {
        let mut batch = Batch::new(common::server().as_str(), source, usize::MAX, None);
        for i in from..to {
            let mut b = Record::builder(Format::PerconaJson);
            b.set(Field::Name, "Query").set(Field::RecordId, &format!("{i}_r")).set(Field::User, "u\t'\\").set(Field::SqlText, &format!("SELECT '{i}\\n'\n"));
            b.timestamp(jiff::Timestamp::from_second(1_790_000_000 + i as i64).unwrap()).status(Some(0)).span(i * 10..i * 10 + 10);
            batch.push_record("f-0", &b.build());
        }
        batch
    };
    let ck = |offset: u64| Checkpoint {
        version: CHECKPOINT_VERSION,
        path: "/nonexistent".into(),
        file: FileId { dev: 1, ino: 2, born: None, generation: 0 },
        offset,
        tail: None,
        format: None,
        saved_at: 0,
        ..Checkpoint::default()
    };
    let first = sink_for(&db, "first");
    let second = sink_for(&db, "second");
    db.rt.block_on(async {
        first.apply_schema().await.unwrap();
        assert_eq!(first.commit(&batch_of("first", 0, 100), None, &ck(1000)).await.unwrap().records, 100);
        // The second source replays 0..100 and brings 100..150.
        assert_eq!(second.commit(&batch_of("second", 0, 150), None, &ck(1500)).await.unwrap().records, 50);
        // And the first replays its own batch after a checkpoint reset by hand.
        assert_eq!(first.commit(&batch_of("first", 0, 100), Some(&ck(1000)), &ck(1000)).await.unwrap().records, 0);
    });
    assert_eq!(db.count(), 150);
    let by_source: Vec<(String, u64)> = db.query(&format!("SELECT source, COUNT(*) FROM {} GROUP BY source ORDER BY source", db.data()));
    assert_eq!(by_source, [("first".to_string(), 100), ("second".to_string(), 50)]);
    let mut want: Vec<String> = (0..150).map(|i| format!("{i}_r")).collect();
    want.sort();
    assert_eq!(db.query::<String>(&format!("SELECT JSON_VALUE(audit_record, '$.audit_record.record') FROM {} ORDER BY 1", db.data())), want);
    let users: Vec<String> = db.query(&format!("SELECT DISTINCT user FROM {}", db.data()));
    assert_eq!(users, ["u\t'\\"]);
    let ck_rows: Vec<(String, u64, u64)> = db.query(&format!("SELECT source, file_offset, records_total FROM {} ORDER BY source", db.checkpoint()));
    assert_eq!(ck_rows, [("first".to_string(), 1000, 100), ("second".to_string(), 1500, 50)]);
    db.rt.block_on(async {
        first.close().await.unwrap();
        second.close().await.unwrap();
    });
}
