//! Against the real server at 127.0.0.1:3306 (root, no password): creates the schema with audit-schema's
//! DDL, inserts records (typed columns and the Percona JSON shape, all through parameters), fills the
//! login summary from them with the statement the schema upgrade uses, and checks that `check-gen run`
//! reports what the checks claim, in both table layouts, and per server when several servers' records
//! share one table (a central store). Skipped only when AUDIT_TEST_NO_DB is set; an unreachable server
//! fails the test.
use std::collections::HashMap;
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

fn fail<'a>(ago_s: i64, user: &'a str, priv_user: &'a str, host: &'a str, ip: &'a str) -> Rec<'a> {
    Rec { ago_s, user, priv_user, host, ip, status: 1045 }
}

fn ok<'a>(ago_s: i64, user: &'a str, host: &'a str, ip: &'a str) -> Rec<'a> {
    Rec { ago_s, user, priv_user: user, host, ip, status: 0 }
}

/// Writes servers' records into a data table as audit-ingest does: each record at the next byte
/// offset of the current server's current file. Times are whole seconds (as server_audit writes them) before `now`, a
/// fixed UTC time taken once, so records given the same age share one `event_time`.
struct Writer {
    names: audit_schema::TableNames,
    table: String,
    /// The `format` column: what wrote the log decides what a failed login says of its account.
    format: &'static str,
    now: String,
    server: String,
    file_id: String,
    /// The next offset of each (server, file).
    offsets: HashMap<(String, String), u64>,
}

impl Writer {
    async fn new(conn: &mut Conn, names: &audit_schema::TableNames, server: &str) -> Writer {
        for stmt in audit_schema::ddl_statements(names).expect("ddl") {
            conn.query_drop(stmt).await.expect("ddl");
        }
        let now: Option<String> =
            conn.query_first("SELECT DATE_FORMAT(UTC_TIMESTAMP(), '%Y-%m-%d %H:%i:%s')").await.expect("now");
        Writer {
            names: names.clone(),
            table: names.data(),
            format: "percona-json",
            now: now.expect("a time"),
            server: server.into(),
            file_id: "f1".into(),
            offsets: HashMap::new(),
        }
    }

    /// Writes the records that follow as if read from a log of `format`.
    fn format(&mut self, format: &'static str) -> &mut Writer {
        self.format = format;
        self
    }

    /// Fills the login summary from the records written (once, at the end).
    async fn finish(&self, conn: &mut Conn) {
        conn.query_drop(audit_schema::summary::fill_sql(&self.names)).await.expect("fill the login summary");
    }

    /// Continues in a server's log file `f1`.
    fn server(&mut self, server: &str) -> &mut Writer {
        self.file(server, "f1")
    }

    /// Continues in a server's file, after the records written into it so far.
    fn file(&mut self, server: &str, file_id: &str) -> &mut Writer {
        self.server = server.into();
        self.file_id = file_id.into();
        self
    }

    async fn insert(&mut self, conn: &mut Conn, r: &Rec<'_>) {
        let failed = i32::from(r.status != 0);
        let next = self.offsets.entry((self.server.clone(), self.file_id.clone())).or_insert(0);
        let off = *next;
        *next += 1;
        let json = serde_json::json!({"audit_record": {
            "name": "Connect", "record": format!("{off}_2026-01-01T00:00:00"), "timestamp": "",
            "connection_id": off.to_string(), "status": r.status, "user": r.user, "priv_user": r.priv_user,
            "os_login": "", "proxy_user": "", "host": r.host, "ip": r.ip, "db": ""}})
        .to_string();
        // The table name is a validated identifier; every value goes through a parameter.
        let sql = format!(
            "INSERT INTO {} (server, file_id, file_offset, source, event_time, name, kind, status, is_failed_login, \
             user, priv_user, host, ip, format, audit_record) VALUES (?, ?, ?, 'test', CAST(? AS DATETIME) - INTERVAL ? SECOND, \
             'Connect', 'connect', ?, ?, ?, NULLIF(?, '(none)'), ?, ?, ?, \
             JSON_SET(?, '$.audit_record.timestamp', DATE_FORMAT(CAST(? AS DATETIME) - INTERVAL ? SECOND, '%Y-%m-%dT%H:%i:%sZ')))",
            self.table
        );
        let params: Vec<mysql_async::Value> = vec![
            self.server.clone().into(),
            self.file_id.clone().into(),
            off.into(),
            self.now.clone().into(),
            r.ago_s.into(),
            r.status.into(),
            failed.into(),
            r.user.into(),
            r.priv_user.into(),
            r.host.into(),
            r.ip.into(),
            self.format.into(),
            json.into(),
            self.now.clone().into(),
            r.ago_s.into(),
        ];
        conn.exec_drop(sql, params).await.expect("insert");
    }

    async fn insert_all(&mut self, conn: &mut Conn, recs: &[Rec<'_>]) {
        for r in recs {
            self.insert(conn, r).await;
        }
    }
}

async fn heartbeat(conn: &mut Conn, checkpoint: &str, server: &str, source: &str, ago_s: i64) {
    let sql = format!(
        "INSERT INTO {checkpoint} (server, source, file_path, file_id, file_offset, updated_at) \
         VALUES (?, ?, '/var/lib/mysql/audit.log', 'f1', 0, UTC_TIMESTAMP(6) - INTERVAL ? SECOND)"
    );
    conn.exec_drop(sql, (server, source, ago_s)).await.expect("heartbeat");
}

async fn connect() -> Conn {
    Conn::new(Opts::from_url(DSN).expect("dsn"))
        .await
        .expect("MariaDB at 127.0.0.1:3306 must be reachable (set AUDIT_TEST_NO_DB to skip)")
}

fn names(db: &str, table: &str) -> audit_schema::TableNames {
    audit_schema::TableNames::new(db, table).expect("names")
}

/// One server's tables (local mode): the original scenario, and every other check's pattern.
async fn setup_local(db: &str) {
    let mut conn = connect().await;
    // The original scenario alone: three failed logins, nothing else failing.
    let n = names(db, "scenario");
    let mut w = Writer::new(&mut conn, &n, "db1").await;
    w.insert_all(&mut conn, &[
        fail(600, "nosuchuser", "", "localhost", ""), // unknown user
        fail(500, "app", "app", "localhost", ""),     // wrong password
        fail(400, "app", "app", "localhost", ""),     // empty password
        ok(300, "app", "localhost", ""),
        fail(26 * 3600, "old", "", "localhost", ""), // outside 24 h
    ])
    .await;
    w.finish(&mut conn).await;
    heartbeat(&mut conn, &n.checkpoint(), "db1", "/var/lib/mysql/audit.log", 30).await;

    let n = names(db, "attacks");
    let mut w = Writer::new(&mut conn, &n, "db1").await;
    for i in 0..12 {
        w.insert(&mut conn, &fail(3000 - i * 60, "admin", "", "203.0.113.9", "203.0.113.9")).await;
    }
    for u in ["a1", "a2", "a3"] {
        w.insert(&mut conn, &fail(7000, u, "", "198.51.100.4", "198.51.100.4")).await;
    }
    for i in 0..6 {
        w.insert(&mut conn, &fail(2400 - i * 60, "app", "app", "192.0.2.50", "192.0.2.50")).await;
    }
    w.insert_all(&mut conn, &[
        ok(1800, "app", "192.0.2.50", "192.0.2.50"),
        ok(1700, "root", "198.51.100.23", "198.51.100.23"),
        ok(1600, "root", "10.0.0.5", "10.0.0.5"),
        ok(1500, "root", "localhost", ""),
    ])
    .await;
    w.finish(&mut conn).await;
    heartbeat(&mut conn, &n.checkpoint(), "db1", "/var/lib/mysql/audit.log", 7200).await;
    heartbeat(&mut conn, &n.checkpoint(), "db1", "/var/lib/mysql/other.log", 10).await;
    conn.disconnect().await.expect("disconnect");
}

/// Records of one second, ordered only by where they are stored.
async fn setup_same_second(db: &str) {
    let mut conn = connect().await;
    let n = names(db, "same_second");
    let mut w = Writer::new(&mut conn, &n, "db1").await;
    let dave: Vec<Rec> = (0..5).map(|_| fail(100, "dave", "dave", "192.0.2.77", "192.0.2.77")).collect();
    w.insert_all(&mut conn, &dave).await; // five failures, then the login, in one file
    w.insert(&mut conn, &ok(100, "dave", "192.0.2.77", "192.0.2.77")).await;
    w.insert(&mut conn, &ok(100, "frank", "192.0.2.78", "192.0.2.78")).await; // the login first
    let frank: Vec<Rec> = (0..5).map(|_| fail(100, "frank", "frank", "192.0.2.78", "192.0.2.78")).collect();
    w.insert_all(&mut conn, &frank).await;
    // erin's failures and login of the same second lie in two files: not known to be before.
    let erin: Vec<Rec> = (0..5).map(|_| fail(100, "erin", "erin", "192.0.2.79", "192.0.2.79")).collect();
    w.file("db1", "f2").insert_all(&mut conn, &erin).await;
    w.file("db1", "f3").insert(&mut conn, &ok(100, "erin", "192.0.2.79", "192.0.2.79")).await;
    w.finish(&mut conn).await;
    heartbeat(&mut conn, &n.checkpoint(), "db1", "/var/lib/mysql/audit.log", 5).await;
    conn.disconnect().await.expect("disconnect");
}

/// Two servers' records in one table (a central store, or what a replica would hold had the
/// primary's rows reached it): 3 failures on db1, 2 on db2; and attacks that cross the threshold
/// only when both servers' records are added up.
async fn setup_fleet(db: &str) {
    let mut conn = connect().await;
    let n = names(db, "fleet");
    let mut w = Writer::new(&mut conn, &n, "db1").await;
    w.insert_all(&mut conn, &[
        fail(600, "app", "app", "10.0.0.7", "10.0.0.7"),
        fail(500, "app", "app", "10.0.0.7", "10.0.0.7"),
        fail(400, "nosuchuser", "", "localhost", ""),
        ok(300, "app", "10.0.0.7", "10.0.0.7"),
    ])
    .await;
    // The same file identity and offsets on another server: a different record.
    w.server("db2").insert_all(&mut conn, &[
        fail(600, "app", "app", "10.0.0.7", "10.0.0.7"),
        fail(550, "bob", "bob", "10.0.0.8", "10.0.0.8"),
        ok(300, "bob", "10.0.0.8", "10.0.0.8"),
    ])
    .await;
    w.finish(&mut conn).await;
    heartbeat(&mut conn, &n.checkpoint(), "db1", "/var/lib/mysql/audit.log", 10).await;
    heartbeat(&mut conn, &n.checkpoint(), "db2", "/var/lib/mysql/audit.log", 10).await;

    let n = names(db, "fleet_attacks");
    let mut w = Writer::new(&mut conn, &n, "db1").await;
    for server in ["db1", "db2"] {
        w.server(server);
        // 6 + 6 failures from one source within minutes: 12 together, under 10 on each server.
        for i in 0..6 {
            w.insert(&mut conn, &fail(3000 - i * 60, "admin", "", "203.0.113.9", "203.0.113.9")).await;
        }
        // 2 + 2 unknown accounts from one source: 4 together, under 3 on each server.
        for u in if server == "db1" { ["a1", "a2"] } else { ["b1", "b2"] } {
            w.insert(&mut conn, &fail(7000, u, "", "198.51.100.4", "198.51.100.4")).await;
        }
    }
    // app fails 5 times on db1, then logs in on db2: no password was guessed on db2.
    w.server("db1");
    for i in 0..5 {
        w.insert(&mut conn, &fail(2400 - i * 60, "app", "app", "192.0.2.50", "192.0.2.50")).await;
    }
    w.server("db2");
    w.insert(&mut conn, &ok(1800, "app", "192.0.2.50", "192.0.2.50")).await;
    // carol fails 5 times on db2 and logs in there: guessed on db2.
    for i in 0..5 {
        w.insert(&mut conn, &fail(2400 - i * 60, "carol", "carol", "192.0.2.60", "192.0.2.60")).await;
    }
    w.insert_all(&mut conn, &[
        ok(1800, "carol", "192.0.2.60", "192.0.2.60"),
        ok(1700, "root", "198.51.100.23", "198.51.100.23"),
    ])
    .await;
    w.server("db1");
    w.insert(&mut conn, &ok(1700, "root", "10.0.0.5", "10.0.0.5")).await;
    // Two hosts with the same log path: db2's ingester stopped two hours ago.
    w.finish(&mut conn).await;
    heartbeat(&mut conn, &n.checkpoint(), "db1", "/var/lib/mysql/audit.log", 10).await;
    heartbeat(&mut conn, &n.checkpoint(), "db2", "/var/lib/mysql/audit.log", 7200).await;
    conn.disconnect().await.expect("disconnect");
}

/// The same pattern from logs of three formats: five failed logins from one source for names it
/// cannot be told exist (MariaDB's 1045: a wrong password or an unknown account), that do not exist
/// (audit_log_filter XML's empty PRIV_USER), or that the log does not say (audit_log_filter JSON).
async fn setup_formats(db: &str) {
    let mut conn = connect().await;
    for (table, format, priv_user) in [("mariadb", "mariadb", "(none)"), ("filter_xml", "filter-xml-new", ""), ("filter_json", "filter-json", "same")] {
        let n = names(db, table);
        let mut w = Writer::new(&mut conn, &n, "db1").await;
        w.format(format);
        for u in ["alice", "bob", "carol", "pmm", "nosuchuser"] {
            let p = if priv_user == "same" { u } else { priv_user };
            w.insert(&mut conn, &fail(900, u, p, "localhost", "")).await;
        }
        w.insert_all(&mut conn, &[ok(800, "alice", "localhost", ""), ok(700, "pmm", "localhost", "")]).await;
        w.finish(&mut conn).await;
        heartbeat(&mut conn, &n.checkpoint(), "db1", "/var/lib/mysql/audit.log", 10).await;
    }
    conn.disconnect().await.expect("disconnect");
}

async fn drop_db(db: &str) {
    let mut conn = connect().await;
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

/// The server label every alert carries: db1 in the typed layout, "" in the json one (no such column).
fn server_of(layout: &str) -> &'static str {
    if layout == "json" { "" } else { "db1" }
}

fn assert_scenario(alerts: &[serde_json::Value], layout: &str) {
    assert_eq!(alerts.len(), 1, "{layout}: only the failed-login alert expected: {alerts:#?}");
    let a = &alerts[0];
    assert_eq!(a["check"], "mysql_audit_failed_logins_24h");
    assert_eq!(a["labels"]["failed_logins"], "3", "{layout}");
    assert_eq!(a["labels"]["server"], server_of(layout), "{layout}");
    let on = if layout == "json" { "" } else { " on db1" };
    assert_eq!(a["summary"], format!("3 failed login attempts{on} in the last 24 hours"));
    assert_eq!(a["severity"], "warning");
    assert_eq!(a["description"], "Top accounts: app (2), nosuchuser (1). Top sources: localhost (3).");
}

fn assert_attacks(alerts: &[serde_json::Value], layout: &str) {
    let server = server_of(layout);
    for a in alerts {
        assert_eq!(a["labels"]["server"], server, "{layout}: {a:#}");
    }
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

/// Runs `f` on a fresh database filled by `setup`, dropping the database whatever happens.
fn with_db<S: std::future::Future<Output = ()>>(tag: &str, setup: impl FnOnce(String) -> S, f: impl FnOnce(&str)) {
    if std::env::var_os("AUDIT_TEST_NO_DB").is_some() {
        eprintln!("AUDIT_TEST_NO_DB set: skipping the live server test");
        return;
    }
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").subsec_nanos();
    let db = format!("checkgen_{tag}_{}_{nanos}", std::process::id());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(setup(db.clone()));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&db)));
    rt.block_on(drop_db(&db));
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}

#[test]
fn run_finds_what_the_checks_claim_on_mariadb() {
    with_db("local", |db| async move { setup_local(&db).await }, |db| {
        assert_scenario(&run(db, "scenario", "typed"), "typed");
        assert_scenario(&run(db, "scenario", "json"), "json");
        let typed = run(db, "attacks", "typed");
        assert_attacks(&typed, "typed");
        let stale = by_check(&typed, "mysql_audit_pipeline_stale");
        assert_eq!(stale.len(), 1, "{typed:#?}");
        assert_eq!(stale[0]["labels"]["source"], "/var/lib/mysql/audit.log");
        assert_eq!(stale[0]["summary"], "Audit pipeline /var/lib/mysql/audit.log on db1 is stale");
        let json = run(db, "attacks", "json");
        assert_attacks(&json, "json");
        // json layout: the newest record (25 minutes old) stands in for the heartbeat: stale too.
        let stale = by_check(&json, "mysql_audit_pipeline_stale");
        assert_eq!(stale.len(), 1, "{json:#?}");
        assert_eq!(stale[0]["labels"]["source"], "newest record");
    });
}

/// server_audit writes whole seconds: a failure of the login's own second counts as before it when
/// it was stored earlier in the same file, and not when the two lie in different files.
#[test]
fn same_second_records_are_ordered_by_storage_within_a_file() {
    with_db("second", |db| async move { setup_same_second(&db).await }, |db| {
        let alerts = run(db, "same_second", "typed");
        let la = by_check(&alerts, "mysql_audit_login_after_failures");
        assert_eq!(la.len(), 1, "only dave's failures came before his login: {alerts:#?}");
        assert_eq!(la[0]["labels"]["user"], "dave");
        assert_eq!(la[0]["labels"]["failed_logins"], "5");
        assert_eq!(la[0]["labels"]["server"], "db1");
        // In the json layout records of one second are not ordered at all: nobody.
        let json = run(db, "same_second", "json");
        assert!(by_check(&json, "mysql_audit_login_after_failures").is_empty(), "{json:#?}");
    });
}

fn labels_of(alerts: &[&serde_json::Value], key: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = alerts
        .iter()
        .map(|a| (a["labels"]["server"].as_str().unwrap_or("?").into(), a["labels"][key].as_str().unwrap_or("?").into()))
        .collect();
    v.sort();
    v
}

/// Many servers in one table: each check counts each server's own records, and every alert names its
/// server.
#[test]
fn run_reports_per_server_on_a_shared_table() {
    with_db("fleet", |db| async move { setup_fleet(&db).await }, |db| {
        let alerts = run(db, "fleet", "typed");
        let fl = by_check(&alerts, "mysql_audit_failed_logins_24h");
        assert_eq!(labels_of(&fl, "failed_logins"), [("db1".into(), "3".into()), ("db2".into(), "2".into())], "{alerts:#?}");
        assert_eq!(fl[0]["summary"], "3 failed login attempts on db1 in the last 24 hours");
        assert_eq!(fl[0]["description"], "Top accounts: app (2), nosuchuser (1). Top sources: 10.0.0.7 (2), localhost (1).");
        assert_eq!(fl[1]["summary"], "2 failed login attempts on db2 in the last 24 hours");
        assert_eq!(fl[1]["description"], "Top accounts: app (1), bob (1). Top sources: 10.0.0.7 (1), 10.0.0.8 (1).");
        assert_eq!(alerts.len(), 2, "nothing else fires: {alerts:#?}");

        let alerts = run(db, "fleet_attacks", "typed");
        let count = |check| by_check(&alerts, check).len();
        assert_eq!(count("mysql_audit_bruteforce_source"), 0, "6 + 6 failures of two servers added up: {alerts:#?}");
        assert_eq!(count("mysql_audit_account_probing"), 0, "2 + 2 accounts of two servers added up: {alerts:#?}");
        let la = by_check(&alerts, "mysql_audit_login_after_failures");
        assert_eq!(labels_of(&la, "user"), [("db2".into(), "carol".into())], "{alerts:#?}");
        assert_eq!(la[0]["summary"], "Login as carol from 192.0.2.60 on db2 after 5 failed attempts");
        let rp = by_check(&alerts, "mysql_audit_remote_privileged_login");
        assert_eq!(labels_of(&rp, "ip"), [("db2".into(), "198.51.100.23".into())], "{alerts:#?}");
        let stale = by_check(&alerts, "mysql_audit_pipeline_stale");
        assert_eq!(labels_of(&stale, "source"), [("db2".into(), "/var/lib/mysql/audit.log".into())], "{alerts:#?}");
        let fl = by_check(&alerts, "mysql_audit_failed_logins_24h");
        assert_eq!(labels_of(&fl, "failed_logins"), [("db1".into(), "13".into()), ("db2".into(), "13".into())]);
    });
}

/// "Account exists" is what each log says: MariaDB's wrong passwords of existing accounts are never
/// probing, audit_log_filter XML's empty PRIV_USER is, and the failures count the same in all three.
#[test]
fn probing_counts_only_accounts_the_log_says_do_not_exist() {
    with_db("formats", |db| async move { setup_formats(&db).await }, |db| {
        for table in ["mariadb", "filter_xml", "filter_json"] {
            let alerts = run(db, table, "typed");
            let fl = by_check(&alerts, "mysql_audit_failed_logins_24h");
            assert_eq!(fl.len(), 1, "{table}: {alerts:#?}");
            assert_eq!(fl[0]["labels"]["failed_logins"], "5", "{table}");
            let probing = by_check(&alerts, "mysql_audit_account_probing");
            if table == "filter_xml" {
                assert_eq!(probing.len(), 1, "{table}: {alerts:#?}");
                assert_eq!(probing[0]["summary"], "Account probing from localhost on db1: 5 non-existent accounts tried");
                assert_eq!(probing[0]["description"], "5 failed logins for accounts that do not exist in the last 24 hours, e.g. alice, bob, carol, nosuchuser, pmm.");
            } else {
                assert!(probing.is_empty(), "{table}: the log cannot tell these accounts do not exist: {alerts:#?}");
            }
        }
    });
}
