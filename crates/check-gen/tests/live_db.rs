//! Against the real server at 127.0.0.1:3306 (root, no password): creates the schema with audit-schema's
//! DDL, inserts records (typed columns and the Percona JSON shape, all through parameters), and checks
//! that `check-gen run` reports what the checks claim, in both table layouts. Skipped only when
//! AUDIT_TEST_NO_DB is set; an unreachable server fails the test.
use std::process::Command;

use mysql_async::prelude::*;
use mysql_async::{Conn, Opts};

const DSN: &str = "mysql://root@127.0.0.1:3306/";

struct Rec<'a> {
    ago_s: i64,
    user: &'a str,
    priv_user: &'a str,
    host: &'a str,
    ip: &'a str,
    status: i32,
}

async fn insert(conn: &mut Conn, table: &str, offset: &mut u64, r: &Rec<'_>) {
    let failed = i32::from(r.status != 0);
    let json = serde_json::json!({"audit_record": {
        "name": "Connect", "record": format!("{offset}_2026-01-01T00:00:00"), "timestamp": "",
        "connection_id": offset.to_string(), "status": r.status, "user": r.user, "priv_user": r.priv_user,
        "os_login": "", "proxy_user": "", "host": r.host, "ip": r.ip, "db": ""}})
    .to_string();
    // The table name is a validated identifier; every value goes through a parameter. UTC_TIMESTAMP()
    // is constant within a statement, so event_time and the JSON timestamp agree.
    let sql = format!(
        "INSERT INTO {table} (source, file_id, file_offset, event_time, name, kind, status, is_failed_login, \
         user, priv_user, host, ip, format, audit_record) VALUES ('test', 'f1', ?, UTC_TIMESTAMP(6) - INTERVAL ? SECOND, \
         'Connect', 'connect', ?, ?, ?, ?, ?, ?, 'json', \
         JSON_SET(?, '$.audit_record.timestamp', DATE_FORMAT(UTC_TIMESTAMP() - INTERVAL ? SECOND, '%Y-%m-%dT%H:%i:%sZ')))"
    );
    conn.exec_drop(sql, (*offset, r.ago_s, r.status, failed, r.user, r.priv_user, r.host, r.ip, json, r.ago_s))
        .await
        .expect("insert");
    *offset += 1;
}

async fn heartbeat(conn: &mut Conn, checkpoint: &str, source: &str, ago_s: i64) {
    let sql = format!(
        "INSERT INTO {checkpoint} (source, file_path, file_id, file_offset, updated_at) \
         VALUES (?, '/var/lib/mysql/audit.log', 'f1', 0, UTC_TIMESTAMP(6) - INTERVAL ? SECOND)"
    );
    conn.exec_drop(sql, (source, ago_s)).await.expect("heartbeat");
}

async fn setup(db: &str) {
    let mut conn = Conn::new(Opts::from_url(DSN).expect("dsn")).await.expect("MariaDB at 127.0.0.1:3306 must be reachable (set AUDIT_TEST_NO_DB to skip)");
    // The original scenario alone: three failed logins, nothing else failing.
    let names = audit_schema::TableNames::new(db, "scenario").expect("names");
    for stmt in audit_schema::ddl_statements(&names).expect("ddl") {
        conn.query_drop(stmt).await.expect("ddl");
    }
    let t = names.data();
    let mut off = 0;
    let fail = |ago_s, user, priv_user, host, ip| Rec { ago_s, user, priv_user, host, ip, status: 1045 };
    insert(&mut conn, &t, &mut off, &fail(600, "nosuchuser", "", "localhost", "")).await; // unknown user
    insert(&mut conn, &t, &mut off, &fail(500, "app", "app", "localhost", "")).await; // wrong password
    insert(&mut conn, &t, &mut off, &fail(400, "app", "app", "localhost", "")).await; // empty password
    insert(&mut conn, &t, &mut off, &Rec { ago_s: 300, user: "app", priv_user: "app", host: "localhost", ip: "", status: 0 }).await;
    insert(&mut conn, &t, &mut off, &fail(26 * 3600, "old", "", "localhost", "")).await; // outside 24 h
    heartbeat(&mut conn, &names.checkpoint(), "db1", 30).await;

    // Every other check's pattern.
    let names = audit_schema::TableNames::new(db, "attacks").expect("names");
    for stmt in audit_schema::ddl_statements(&names).expect("ddl") {
        conn.query_drop(stmt).await.expect("ddl");
    }
    let t = names.data();
    let mut off = 0;
    for i in 0..12 {
        insert(&mut conn, &t, &mut off, &fail(3000 - i * 60, "admin", "", "203.0.113.9", "203.0.113.9")).await;
    }
    for u in ["a1", "a2", "a3"] {
        insert(&mut conn, &t, &mut off, &fail(7000, u, "", "198.51.100.4", "198.51.100.4")).await;
    }
    for i in 0..6 {
        insert(&mut conn, &t, &mut off, &fail(2400 - i * 60, "app", "app", "192.0.2.50", "192.0.2.50")).await;
    }
    let ok = |ago_s, user, host, ip| Rec { ago_s, user, priv_user: user, host, ip, status: 0 };
    insert(&mut conn, &t, &mut off, &ok(1800, "app", "192.0.2.50", "192.0.2.50")).await;
    insert(&mut conn, &t, &mut off, &ok(1700, "root", "198.51.100.23", "198.51.100.23")).await;
    insert(&mut conn, &t, &mut off, &ok(1600, "root", "10.0.0.5", "10.0.0.5")).await;
    insert(&mut conn, &t, &mut off, &ok(1500, "root", "localhost", "")).await;
    heartbeat(&mut conn, &names.checkpoint(), "db1", 7200).await;
    heartbeat(&mut conn, &names.checkpoint(), "db2", 10).await;
    conn.disconnect().await.expect("disconnect");
}

async fn drop_db(db: &str) {
    let mut conn = Conn::new(Opts::from_url(DSN).expect("dsn")).await.expect("connect");
    conn.query_drop(format!("DROP DATABASE IF EXISTS {}", audit_schema::quote_ident(db).expect("ident")))
        .await
        .expect("drop database");
    conn.disconnect().await.expect("disconnect");
}

fn run(db: &str, table: &str, layout: &str) -> Vec<serde_json::Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_check-gen"))
        .args(["run", "--dsn", DSN, "--database", db, "--table", table, "--table-layout", layout, "--format", "json"])
        .output()
        .expect("run check-gen");
    assert!(out.status.success(), "check-gen run failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout).expect("a JSON array")
}

fn by_check<'a>(alerts: &'a [serde_json::Value], check: &str) -> Vec<&'a serde_json::Value> {
    alerts.iter().filter(|a| a["check"] == check).collect()
}

fn assert_scenario(alerts: &[serde_json::Value], layout: &str) {
    assert_eq!(alerts.len(), 1, "{layout}: only the failed-login alert expected: {alerts:#?}");
    let a = &alerts[0];
    assert_eq!(a["check"], "mysql_audit_failed_logins_24h");
    assert_eq!(a["labels"]["failed_logins"], "3", "{layout}");
    assert_eq!(a["summary"], "3 failed login attempts in the last 24 hours");
    assert_eq!(a["severity"], "warning");
    assert_eq!(a["description"], "Top accounts: app (2), nosuchuser (1). Top sources: localhost (3).");
}

fn assert_attacks(alerts: &[serde_json::Value], layout: &str) {
    let fl = by_check(alerts, "mysql_audit_failed_logins_24h");
    assert_eq!(fl.len(), 1, "{layout}");
    assert_eq!(fl[0]["labels"]["failed_logins"], "21", "{layout}");
    let bf = by_check(alerts, "mysql_audit_bruteforce_source");
    assert_eq!(bf.len(), 1, "{layout}: {alerts:#?}");
    assert_eq!(bf[0]["labels"]["source"], "203.0.113.9");
    assert_eq!(bf[0]["severity"], "error");
    let ap = by_check(alerts, "mysql_audit_account_probing");
    assert_eq!(ap.len(), 1, "{layout}: {alerts:#?}");
    assert_eq!(ap[0]["labels"]["source"], "198.51.100.4");
    let la = by_check(alerts, "mysql_audit_login_after_failures");
    assert_eq!(la.len(), 1, "{layout}: {alerts:#?}");
    assert_eq!(la[0]["labels"]["user"], "app");
    assert_eq!(la[0]["labels"]["failed_logins"], "6");
    let rp = by_check(alerts, "mysql_audit_remote_privileged_login");
    assert_eq!(rp.len(), 1, "{layout}: {alerts:#?}");
    assert_eq!(rp[0]["labels"]["ip"], "198.51.100.23");
}

#[test]
fn run_finds_what_the_checks_claim_on_mariadb() {
    if std::env::var_os("AUDIT_TEST_NO_DB").is_some() {
        eprintln!("AUDIT_TEST_NO_DB set: skipping the live server test");
        return;
    }
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").subsec_nanos();
    let db = format!("checkgen_test_{}_{nanos}", std::process::id());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(setup(&db));
    let result = std::panic::catch_unwind(|| {
        assert_scenario(&run(&db, "scenario", "typed"), "typed");
        assert_scenario(&run(&db, "scenario", "json"), "json");
        let typed = run(&db, "attacks", "typed");
        assert_attacks(&typed, "typed");
        let stale = by_check(&typed, "mysql_audit_pipeline_stale");
        assert_eq!(stale.len(), 1, "{typed:#?}");
        assert_eq!(stale[0]["labels"]["source"], "db1");
        let json = run(&db, "attacks", "json");
        assert_attacks(&json, "json");
        // json layout: the newest record (25 minutes old) stands in for the heartbeat: stale too.
        let stale = by_check(&json, "mysql_audit_pipeline_stale");
        assert_eq!(stale.len(), 1, "{json:#?}");
        assert_eq!(stale[0]["labels"]["source"], "newest record");
    });
    rt.block_on(drop_db(&db));
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}
