//! Schema versions on a real server: tables of the first layout (version 1: AUTO_INCREMENT ids, no
//! server column) with rows and a checkpoint in them are refused by `follow`, upgraded in place by
//! `schema --apply` into exactly the layout a fresh install gets, and then followed on from the old
//! checkpoint without a duplicate. A newer layout is refused too.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::{append, ingest_cmd, lines, spawn_follow, stop, TestDb};
use ingest::follower::{Event, FollowOptions, Follower};

const V1_DDL: &str = include_str!("fixtures/schema_v1.sql");

/// What a version-1 ingester left behind for the first `n` records of `log`: its rows and its
/// checkpoint (the follower's own state, as that release stored it).
fn v1_tables_with_rows(db: &TestDb, log: &Path, source: &str) -> u64 {
    for stmt in V1_DDL.replace("__DB__", &db.name).split(";\n").map(str::trim).filter(|s| !s.is_empty() && !s.starts_with("--")) {
        db.exec(stmt.trim_end_matches(';'));
    }
    let mut follower = Follower::new(log, None, FollowOptions::default()).unwrap();
    let items = follower.poll(1000).unwrap();
    let mut n = 0;
    for item in &items {
        let Event::Record(r) = &item.event else { panic!("malformed fixture line") };
        let sql = format!(
            "INSERT INTO {} (source, file_id, file_offset, event_time, name, kind, status, is_failed_login, user, priv_user, host, ip, db, format, audit_record) \
             VALUES ('{source}', '{}', {}, '2026-11-29 05:00:00', 'Connect', 'connect', {}, {}, 'u', 'u', 'h', '10.0.0.1', '', 'percona-json', '{{}}')",
            db.data(),
            item.file_key,
            r.span().start,
            r.status().unwrap_or(0),
            i32::from(r.is_failed_login()),
        );
        db.exec(&sql);
        n += 1;
    }
    let ck = follower.checkpoint().unwrap();
    let state = ck.to_json().replace('\\', "\\\\").replace('\'', "\\'");
    db.exec(&format!(
        "INSERT INTO {} (source, file_path, file_id, file_offset, state, records_total, updated_at) VALUES ('{source}', '{}', '{}', {}, '{state}', {n}, UTC_TIMESTAMP(6))",
        db.checkpoint(),
        log.display(),
        ck.file.key(),
        ck.offset
    ));
    n
}

/// Columns (name, type, nullability) and index parts of a table, sorted: the layout, whatever the
/// column order.
type Layout = (Vec<(String, String, String)>, Vec<(String, u32, String)>);

fn layout(db: &TestDb, table: &str) -> Layout {
    let cols = db.query(&format!(
        "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{}' AND TABLE_NAME = '{table}' ORDER BY COLUMN_NAME",
        db.name
    ));
    let keys = db.query(&format!(
        "SELECT INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = '{}' AND TABLE_NAME = '{table}' ORDER BY INDEX_NAME, SEQ_IN_INDEX",
        db.name
    ));
    (cols, keys)
}

fn output(args: &[&str], db: &TestDb) -> (Option<i32>, String, String) {
    let out = ingest_cmd(&db.dsn(), args).output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn version_1_tables_are_refused_then_upgraded_in_place_and_followed_on() {
    let db = TestDb::new("upgrade");
    let (dir, log) = common::log_dir();
    append(&log, &lines(0, 10));
    let source = std::path::absolute(&log).unwrap().to_string_lossy().into_owned();
    assert_eq!(v1_tables_with_rows(&db, &log, &source), 10);

    // follow says what it found and what to do, and writes nothing.
    let mut child = spawn_follow(&db.dsn(), dir.path(), &[], &log);
    let status = common::wait_exit(&mut child, Duration::from_secs(20));
    assert_eq!(status.code(), Some(2));
    let err = std::fs::read_to_string(dir.path().join("follow-0.stderr")).unwrap();
    assert!(err.contains("older layout of schema version 1") && err.contains("schema --apply"), "{err}");

    // The statements, for a DBA; then the upgrade itself.
    let (code, sql, err) = output(&["schema", "--upgrade-sql"], &db);
    assert_eq!(code, Some(0), "{err}");
    assert!(sql.contains("DROP COLUMN id") && sql.contains("ADD PRIMARY KEY (server, file_id, file_offset)") && sql.contains("upgraded from 1"), "{sql}");
    let (code, out, err) = output(&["schema", "--apply"], &db);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("upgraded from version 1"), "{out}");
    let (code, out, _) = output(&["schema", "--apply"], &db);
    assert_eq!(code, Some(0));
    assert!(out.contains("already current"), "{out}");

    // The rows are kept, attributed to the upgrading server, in exactly a fresh install's layout.
    assert_eq!(db.count(), 10);
    assert_eq!(db.query::<String>(&format!("SELECT DISTINCT server FROM {}", db.data())), ["testhost"]);
    assert_eq!(db.query::<String>(&format!("SELECT DISTINCT server FROM {}", db.checkpoint())), ["testhost"]);
    let fresh = TestDb::new("fresh");
    let (code, _, err) = output(&["schema", "--apply"], &fresh);
    assert_eq!(code, Some(0), "{err}");
    for table in ["audit_data", "audit_data_checkpoint", "audit_data_dead_letter", "audit_data_schema"] {
        assert_eq!(layout(&db, table), layout(&fresh, table), "{table}: upgraded and fresh layouts differ");
    }
    let versions: Vec<(u32, String)> = db.query(&format!("SELECT version, note FROM `{}`.`audit_data_schema`", db.name));
    assert_eq!(versions, [(2, "upgraded from 1".to_string())]);

    // follow goes on from the version-1 checkpoint: nothing read twice, the new records stored.
    append(&log, &lines(10, 15));
    let child = spawn_follow(&db.dsn(), dir.path(), &[], &log);
    db.wait_count(15, Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(stop(child).code(), Some(0));
    assert_eq!(db.count(), 15);
    let totals: Vec<u64> = db.query(&format!("SELECT records_total FROM {}", db.checkpoint()));
    assert_eq!(totals, [15]);

    // A layout newer than this release is refused, not misread.
    db.exec(&format!("INSERT INTO `{}`.`audit_data_schema` VALUES (3, UTC_TIMESTAMP(6), 'from the future')", db.name));
    let mut child = spawn_follow(&db.dsn(), dir.path(), &[], &log);
    assert_eq!(common::wait_exit(&mut child, Duration::from_secs(20)).code(), Some(2));
    let err = std::fs::read_to_string(dir.path().join("follow-2.stderr")).unwrap();
    assert!(err.contains("schema version 3, newer than this release's 2"), "{err}");
}
