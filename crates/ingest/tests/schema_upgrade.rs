//! Schema versions on a real server: tables of the first layout (version 1: AUTO_INCREMENT ids, no
//! server column) with rows and a checkpoint in them are refused by `follow`, upgraded in place by
//! `schema --apply` into exactly the layout a fresh install gets, and then followed on from the old
//! checkpoint without a duplicate. A newer layout is refused too. Version 2 tables are upgraded with
//! a login summary filled from their rows that equals the summary a fresh install's ingest keeps.
//! Version 3 tables get the statement class and text (version 4), and are followed on without a
//! duplicate, the records stored after the upgrade classified.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::{append, ingest_cmd, lines, spawn_follow, stop, TestDb};
use ingest::follower::{Event, FollowOptions, Follower};

const V1_DDL: &str = include_str!("fixtures/schema_v1.sql");
const V2_DDL: &str = include_str!("fixtures/schema_v2.sql");
const V3_DDL: &str = include_str!("fixtures/schema_v3.sql");

fn run_ddl(db: &TestDb, ddl: &str) {
    for stmt in ddl.replace("__DB__", &db.name).split(";\n").map(str::trim).filter(|s| !s.is_empty()) {
        let stmt: String = stmt.lines().filter(|l| !l.starts_with("--")).collect::<Vec<_>>().join("\n");
        if !stmt.trim().is_empty() {
            db.exec(stmt.trim().trim_end_matches(';'));
        }
    }
}

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
    for table in TABLES {
        assert_eq!(layout(&db, table), layout(&fresh, table), "{table}: upgraded and fresh layouts differ");
    }
    let versions: Vec<(u32, String)> = db.query(&format!("SELECT version, note FROM `{}`.`audit_data_schema` ORDER BY version", db.name));
    assert_eq!(versions, [(2, "upgraded from 1".to_string()), (3, "upgraded from 2".to_string()), (4, "upgraded from 3".to_string())]);
    // The summary holds the version-1 rows' logins: 2 of the 10 failed.
    let failed: Vec<Option<i64>> = db.query(&format!("SELECT CAST(SUM(logins) AS SIGNED) FROM `{}`.`audit_data_logins` WHERE failed = 1", db.name));
    assert_eq!(failed, [Some(2)]);

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
    db.exec(&format!("INSERT INTO `{}`.`audit_data_schema` VALUES (5, UTC_TIMESTAMP(6), 'from the future')", db.name));
    let mut child = spawn_follow(&db.dsn(), dir.path(), &[], &log);
    assert_eq!(common::wait_exit(&mut child, Duration::from_secs(20)).code(), Some(2));
    let err = std::fs::read_to_string(dir.path().join("follow-2.stderr")).unwrap();
    assert!(err.contains("schema version 5, newer than this release's 4"), "{err}");
}

const TABLES: [&str; 5] = ["audit_data", "audit_data_checkpoint", "audit_data_dead_letter", "audit_data_logins", "audit_data_schema"];

/// Percona JSON Connect lines of four accounts from three sources, failed (with and without a
/// matched account) and successful, several in one second, across two minutes.
fn login_lines() -> String {
    (0..60u64)
        .map(|n| {
            let user = format!("user{}", n % 4);
            let status = if n % 3 == 0 { 0 } else { 1045 };
            let priv_user = if status != 0 && n % 2 == 0 { String::new() } else { user.clone() };
            let ip = if n % 5 == 0 { String::new() } else { format!("10.0.0.{}", n % 3) };
            format!(
                r#"{{"audit_record":{{"name":"Connect","record":"{n}_2026-11-29T05:00:00","timestamp":"2026-11-29T05:{:02}:{:02}Z","connection_id":"{n}","status":{status},"user":"{user}","priv_user":"{priv_user}","os_login":"","proxy_user":"","host":"h{}","ip":"{ip}","db":""}}}}"#,
                n / 30,
                (n / 4) % 60,
                n % 2
            ) + "\n"
        })
        .collect()
}

/// Every row of the login summary, in key order.
fn summary(db: &TestDb) -> Vec<String> {
    db.query(&format!(
        "SELECT CONCAT_WS('|', failed, bucket, server, user, source, via_ip, account, status, logins, first_time, first_file_id, first_offset, last_time, last_file_id, last_offset) \
         FROM `{}`.`audit_data_logins` ORDER BY failed, bucket, server, user, source, via_ip, account, status",
        db.name
    ))
}

#[test]
fn version_2_tables_are_upgraded_with_the_summary_a_fresh_ingest_keeps() {
    let (_dir, log) = common::log_dir();
    append(&log, &login_lines());
    let path = log.to_string_lossy().into_owned();

    // A fresh install: the sink keeps the summary as it stores the rows.
    let fresh = TestDb::new("v3");
    let (code, _, err) = output(&["backfill", &path], &fresh);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(fresh.count(), 60);
    let kept = summary(&fresh);
    assert!(kept.len() > 10, "{kept:#?}");

    // The same rows in version 2 tables, which had no summary.
    let old = TestDb::new("v2");
    run_ddl(&old, V2_DDL);
    let cols = "server, file_id, file_offset, source, event_time, name, kind, status, is_failed_login, user, priv_user, host, ip, db, connection_id, command_class, format, log_server_id, audit_record";
    old.exec(&format!("INSERT INTO {} ({cols}) SELECT {cols} FROM {}", old.data(), fresh.data()));
    let versions: Vec<u32> = old.query(&format!("SELECT version FROM `{}`.`audit_data_schema`", old.name));
    assert_eq!(versions, [2]);

    // Running this release's DDL over them (an empty summary) records no version: the upgrade still
    // has to run, and fills it.
    for stmt in audit_schema::ddl_statements(&audit_schema::TableNames::new(&old.name, "audit_data").unwrap()).unwrap() {
        old.exec(&stmt);
    }
    let (code, sql, err) = output(&["schema", "--upgrade-sql"], &old);
    assert_eq!(code, Some(0), "{err}");
    assert!(sql.contains("DROP INDEX failed_login_time") && sql.contains("GROUP BY") && sql.contains("upgraded from 2"), "{sql}");
    let (code, out, err) = output(&["schema", "--apply"], &old);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("upgraded from version 2"), "{out}");

    assert_eq!(summary(&old), kept, "the upgrade's summary differs from the one ingest kept");
    for table in TABLES {
        assert_eq!(layout(&old, table), layout(&fresh, table), "{table}: upgraded and fresh layouts differ");
    }
    let versions: Vec<(u32, String)> = old.query(&format!("SELECT version, note FROM `{}`.`audit_data_schema` ORDER BY version", old.name));
    assert_eq!(versions, [(2, "created".to_string()), (3, "upgraded from 2".to_string()), (4, "upgraded from 3".to_string())]);
}

/// A Percona JSON Query record `n` (record id `{n}_2026-11-29T05:00:00`) of `sql`.
fn query_line(n: u64, class: &str, sql: &str) -> String {
    format!(
        r#"{{"audit_record":{{"name":"Query","record":"{n}_2026-11-29T05:00:00","timestamp":"2026-11-29T05:10:{:02}Z","command_class":"{class}","connection_id":"{n}","status":0,"sqltext":"{sql}","user":"admin[admin] @ localhost [10.0.0.9]","host":"localhost","os_user":"","ip":"10.0.0.9","db":""}}}}"#,
        n % 60
    ) + "\n"
}

#[test]
fn version_3_tables_get_the_statement_columns_and_are_followed_on() {
    let (dir, log) = common::log_dir();
    append(&log, &login_lines());
    append(&log, &query_line(100, "grant", "GRANT ALL ON *.* TO 'evil'@'%'"));
    let path = log.to_string_lossy().into_owned();

    // What a version 3 ingester kept of the log: its rows, summary and checkpoint, copied from a
    // fresh install's (the columns version 3 had).
    let fresh = TestDb::new("v4");
    // Under the source name follow gives the live log, so that follow goes on from its checkpoint.
    let (code, _, err) = output(&["backfill", "--source", &path, &path], &fresh);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(fresh.count(), 61);
    let old = TestDb::new("v3");
    run_ddl(&old, V3_DDL);
    let versions: Vec<u32> = old.query(&format!("SELECT version FROM `{}`.`audit_data_schema`", old.name));
    assert_eq!(versions, [3]);
    let cols = "server, file_id, file_offset, source, event_time, name, kind, status, is_failed_login, user, priv_user, host, ip, db, connection_id, command_class, format, log_server_id, audit_record";
    old.exec(&format!("INSERT INTO {} ({cols}) SELECT {cols} FROM {}", old.data(), fresh.data()));
    for t in ["audit_data_checkpoint", "audit_data_logins"] {
        old.exec(&format!("INSERT INTO `{}`.`{t}` SELECT * FROM `{}`.`{t}`", old.name, fresh.name));
    }

    // follow refuses the old layout; the upgrade adds the columns and the index, nothing else.
    // (Not spawn_follow: its stderr files are numbered across the tests of this binary.)
    let (code, _, err) = output(&["follow", &path], &old);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("older layout of schema version 3"), "{err}");
    let (code, sql, err) = output(&["schema", "--upgrade-sql"], &old);
    assert_eq!(code, Some(0), "{err}");
    assert!(sql.contains("ADD COLUMN statement_class") && sql.contains("KEY statement_class (server, statement_class, event_time)") && sql.contains("upgraded from 3"), "{sql}");
    let (code, out, err) = output(&["schema", "--apply"], &old);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("upgraded from version 3"), "{out}");
    for table in TABLES {
        assert_eq!(layout(&old, table), layout(&fresh, table), "{table}: upgraded and fresh layouts differ");
    }
    let versions: Vec<(u32, String)> = old.query(&format!("SELECT version, note FROM `{}`.`audit_data_schema` ORDER BY version", old.name));
    assert_eq!(versions, [(3, "created".to_string()), (4, "upgraded from 3".to_string())]);
    // Rows stored before keep no class (it is decided from the whole text when a record is stored).
    let unclassified: Vec<u64> = old.query(&format!("SELECT COUNT(*) FROM {} WHERE statement_class IS NULL", old.data()));
    assert_eq!(unclassified, [61]);

    // follow goes on from the copied checkpoint: nothing twice, the new statements classified and
    // their text kept, as a fresh install keeps them.
    append(&log, &query_line(101, "select", "SELECT * FROM t INTO OUTFILE '/tmp/x'"));
    append(&log, &query_line(102, "set_option", "SET GLOBAL audit_log_policy = NONE"));
    let err = std::fs::File::create(dir.path().join("v3-follow.stderr")).unwrap();
    let child = ingest_cmd(&old.dsn(), &["follow", "--heartbeat-secs", "1", &path]).stderr(err).spawn().unwrap();
    old.wait_count(63, Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(stop(child).code(), Some(0));
    assert_eq!(old.count(), 63);
    let totals: Vec<u64> = old.query(&format!("SELECT records_total FROM {}", old.checkpoint()));
    assert_eq!(totals, [63]);
    let classified: Vec<(String, String)> =
        old.query(&format!("SELECT statement_class, statement FROM {} WHERE statement_class IS NOT NULL ORDER BY file_offset", old.data()));
    assert_eq!(
        classified,
        [
            ("select_into_outfile".to_string(), "SELECT * FROM t INTO OUTFILE '/tmp/x'".to_string()),
            ("set_audit_variable".to_string(), "SET GLOBAL audit_log_policy = NONE".to_string())
        ]
    );
    let fresh_grant: Vec<(String, String)> = fresh.query(&format!("SELECT statement_class, statement FROM {} WHERE kind = 'query'", fresh.data()));
    assert_eq!(fresh_grant, [("grant".to_string(), "GRANT ALL ON *.* TO 'evil'@'%'".to_string())]);
}
