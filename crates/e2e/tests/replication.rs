//! A primary and a replica, each with its own audit log and its own `audit-ingest follow` (local mode,
//! the default): replication keeps running, each server's table holds exactly its own log's records,
//! and each server's check counts its own failed logins. Then what a replicated fleet meets: a
//! missing privilege, `read_only`, a REVOKE while running, a failover; and a central store that many
//! hosts write on purpose.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{check_gen_run, label, percona_dsn, sql, try_count, wait_table_matches_log, wait_table_matches_log_except, wait_until, Follower, TABLE};
use test_harness::{LoginOutcome, MariaDb, ReplicaPair};

const CHECK: &str = "mysql_audit_failed_logins_24h";

fn pair() -> ReplicaPair {
    ReplicaPair::start(MariaDb::builder().audit_rotate_size(4096).audit_rotations(999)).unwrap_or_else(|e| panic!("cannot start the pair: {e}"))
}

fn fail(db: &MariaDb, n: usize) {
    for _ in 0..n {
        assert_eq!(db.try_login("alice", "wrong").code(), Some(1045));
    }
}

fn succeed(db: &MariaDb, n: usize) {
    for _ in 0..n {
        assert_eq!(db.try_login("alice", "secret"), LoginOutcome::Ok);
    }
}

/// The distinct `server` values of a table, sorted.
fn servers(db: &MariaDb, table: &str) -> String {
    sql(db, &format!("SELECT GROUP_CONCAT(DISTINCT server ORDER BY server) FROM {table}")).trim().to_string()
}

/// An account with exactly the privileges of examples/grant.sql's MariaDB block, less `drop`.
fn ingest_account(db: &MariaDb, global: &str) -> String {
    sql(
        db,
        &format!(
            "CREATE USER 'ingest'@'%' IDENTIFIED BY 'ingest-pw';\n\
             GRANT CREATE, ALTER, SELECT, INSERT, UPDATE, DELETE ON percona.* TO 'ingest'@'%';\n{}",
            if global.is_empty() { String::new() } else { format!("GRANT {global} ON *.* TO 'ingest'@'%';\n") }
        ),
    );
    format!("mysql://ingest:ingest-pw@127.0.0.1:{}/percona", db.port())
}

/// Whether any event of any of the server's binary logs mentions `word` (ROW events name their
/// tables as `db.table`; statements carry their text).
fn binlog_mentions(db: &MariaDb, word: &str) -> bool {
    let logs = sql(db, "SHOW BINARY LOGS");
    logs.lines().filter_map(|l| l.split('\t').next()).any(|name| {
        assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'), "{name:?}");
        sql(db, &format!("SHOW BINLOG EVENTS IN '{name}'")).contains(word)
    })
}

fn failed_logins_alert(db: &MariaDb) -> Option<serde_json::Value> {
    let alerts = check_gen_run(db, &[], CHECK);
    assert!(alerts.len() <= 1, "one server's table, one alert at most: {alerts:#?}");
    alerts.into_iter().next()
}

#[test]
fn each_server_keeps_its_own_records_and_replication_keeps_running() {
    let t0 = Instant::now();
    let pair = pair();
    let (p, r) = (&pair.primary, &pair.replica);
    // The account replicates: it exists on both.
    p.create_user("alice", "secret").unwrap();
    pair.sync(Duration::from_secs(20)).unwrap();

    let fp = Follower::start(p, &["--server", "primary"]);
    let fr = Follower::start(r, &["--server", "replica"]);
    fail(p, 2);
    fail(r, 1);
    succeed(p, 2);
    succeed(r, 2);
    // Crash both ingesters mid-stream, then let the logs rotate while they are down.
    wait_until("rows on both", Duration::from_secs(20), || {
        (try_count(p, &format!("SELECT COUNT(*) FROM {TABLE}"))? > 0 && try_count(r, &format!("SELECT COUNT(*) FROM {TABLE}"))? > 0).then_some(())
    });
    fp.kill9();
    fr.kill9();
    succeed(p, 40);
    succeed(r, 40);
    let mut fp = Follower::start(p, &["--server", "primary"]);
    let mut fr = Follower::start(r, &["--server", "replica"]);
    fail(p, 1);
    fail(r, 1);
    succeed(p, 25);

    let on_primary = wait_table_matches_log(p, Duration::from_secs(40));
    let on_replica = wait_table_matches_log(r, Duration::from_secs(40));
    fp.assert_running();
    fr.assert_running();
    assert!(common::audit_files(p).len() > 2, "the primary's log rotated: {:?}", common::audit_files(p));
    assert!(common::audit_files(r).len() > 1, "the replica's log rotated: {:?}", common::audit_files(r));
    assert_eq!(on_primary.iter().filter(|l| l.2).count(), 3);
    assert_eq!(on_replica.iter().filter(|l| l.2).count(), 2);

    let status = pair.sync(Duration::from_secs(20)).unwrap();
    assert!(status.is_healthy(), "{status:?}");
    // Nothing the ingesters wrote (DDL, rows, checkpoints) entered either binary log.
    assert!(!binlog_mentions(p, "audit_data"), "the primary's binary log holds audit-ingest's writes");
    assert!(!binlog_mentions(r, "audit_data"), "the replica's binary log holds audit-ingest's writes");
    assert_eq!(servers(p, TABLE), "primary");
    assert_eq!(servers(r, TABLE), "replica");
    assert_eq!(servers(p, &format!("{TABLE}_checkpoint")), "primary");
    assert_eq!(servers(r, &format!("{TABLE}_checkpoint")), "replica");

    let a = failed_logins_alert(p).expect("an alert on the primary");
    assert_eq!(label(&a, "failed_logins"), "3", "{a:#}");
    assert_eq!(label(&a, "server"), "primary", "{a:#}");
    let a = failed_logins_alert(r).expect("an alert on the replica");
    assert_eq!(label(&a, "failed_logins"), "2", "{a:#}");
    assert_eq!(label(&a, "server"), "replica", "{a:#}");

    assert_eq!(fp.stop().code(), Some(0));
    assert_eq!(fr.stop().code(), Some(0));
    assert!(pair.status().unwrap().is_healthy());
    eprintln!("primary + replica: {:?}", t0.elapsed());
}

#[test]
fn without_the_binlog_privilege_or_on_a_read_only_replica_it_stops_with_the_grant_to_give() {
    let pair = pair();
    let (p, r) = (&pair.primary, &pair.replica);
    // Table privileges only, created on the primary: the account replicates to the replica.
    let _ = ingest_account(p, "");
    pair.sync(Duration::from_secs(20)).unwrap();
    let dsn = format!("mysql://ingest:ingest-pw@127.0.0.1:{}/percona", r.port());
    let mut f = Follower::start_to(r, &r.audit_log_path(), &dsn, &["--server", "replica"]);
    let status = wait_until("the ingester to stop", Duration::from_secs(20), || f.exited());
    assert_eq!(status.code(), Some(2), "{}", f.output());
    let out = f.output();
    for part in ["sql_log_bin", "BINLOG ADMIN", "SESSION_VARIABLES_ADMIN", "--mode central", &format!("127.0.0.1:{}", r.port())] {
        assert!(out.contains(part), "{part:?} not in:\n{out}");
    }
    assert_eq!(try_count(r, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'percona'"), Some(0), "nothing written");

    // With BINLOG ADMIN but on a read-only replica without READ_ONLY ADMIN: a clear error, once.
    sql(r, "SET GLOBAL read_only = ON; GRANT BINLOG ADMIN ON *.* TO 'ingest'@'%';");
    let mut f = Follower::start_to(r, &r.audit_log_path(), &dsn, &["--server", "replica"]);
    let status = wait_until("the ingester to stop", Duration::from_secs(20), || f.exited());
    assert_eq!(status.code(), Some(2), "{}", f.output());
    let out = f.output();
    assert!(out.contains("READ_ONLY ADMIN") && out.contains("read-only"), "{out}");

    // Granted, the read-only replica is a normal place to run.
    sql(r, "GRANT READ_ONLY ADMIN ON *.* TO 'ingest'@'%';");
    p.create_user("alice", "secret").unwrap();
    pair.sync(Duration::from_secs(20)).unwrap();
    fail(r, 2);
    let mut f = Follower::start_to(r, &r.audit_log_path(), &dsn, &["--server", "replica"]);
    let logins = wait_table_matches_log_except(r, "ingest", Duration::from_secs(30));
    f.assert_running();
    assert_eq!(logins.iter().filter(|l| l.2).count(), 2);
    assert!(pair.sync(Duration::from_secs(20)).unwrap().is_healthy());
    assert!(!binlog_mentions(r, "audit_data"), "the ingester's writes stayed out of the replica's binary log");
    assert_eq!(f.stop().code(), Some(0));
}

#[test]
fn refusals_while_running_wait_and_lose_nothing_and_a_promoted_replica_goes_on() {
    let mut pair = pair();
    let dsn = ingest_account(&pair.primary, "BINLOG ADMIN");
    pair.primary.create_user("alice", "secret").unwrap();
    pair.sync(Duration::from_secs(20)).unwrap();
    let p = &pair.primary;
    let mut f = Follower::start_to(p, &p.audit_log_path(), &dsn, &["--server", "primary"]);
    fail(p, 1);
    wait_table_matches_log_except(p, "ingest", Duration::from_secs(30));

    // A REVOKE: the ingester waits (does not exit), and catches up once the grant is back.
    sql(p, "REVOKE INSERT ON percona.* FROM 'ingest'@'%';");
    fail(p, 2);
    std::thread::sleep(Duration::from_secs(3));
    f.assert_running();
    assert!(f.output().contains("refuses audit-ingest's writes"), "{}", f.output());
    sql(p, "GRANT INSERT ON percona.* TO 'ingest'@'%';");
    wait_table_matches_log_except(p, "ingest", Duration::from_secs(60));
    // read_only switched on (a demotion): the same.
    sql(p, "SET GLOBAL read_only = ON;");
    fail(p, 1);
    std::thread::sleep(Duration::from_secs(3));
    f.assert_running();
    sql(p, "SET GLOBAL read_only = OFF;");
    let logins = wait_table_matches_log_except(p, "ingest", Duration::from_secs(60));
    assert_eq!(logins.iter().filter(|l| l.2).count(), 4);
    assert!(f.output().contains("takes audit-ingest's writes again"), "{}", f.output());
    assert_eq!(f.stop().code(), Some(0));

    // Failover: the primary dies, the replica is promoted; its own ingester (local all along) goes on.
    let r = &pair.replica;
    let mut fr = Follower::start(r, &["--server", "replica"]);
    fail(r, 1);
    wait_table_matches_log(r, Duration::from_secs(30));
    pair.primary.kill().unwrap();
    let r = &pair.replica;
    sql(r, "STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = OFF;");
    fail(r, 2);
    let logins = wait_table_matches_log(r, Duration::from_secs(30));
    fr.assert_running();
    assert_eq!(logins.iter().filter(|l| l.2).count(), 3);
    assert_eq!(servers(r, TABLE), "replica");
    let a = failed_logins_alert(r).expect("an alert on the promoted replica");
    assert_eq!(label(&a, "failed_logins"), "3", "{a:#}");
    assert_eq!(fr.stop().code(), Some(0));
}

#[test]
fn a_central_store_keeps_hosts_apart_and_replicates_their_rows() {
    // The store is a primary with a replica of its own; two "hosts" follow the same log path into it.
    let store = pair();
    let host = common::start_server(MariaDb::builder());
    host.create_user("alice", "secret").unwrap();
    fail(&host, 3);
    succeed(&host, 1);
    let dsn = percona_dsn(&store.primary);
    let log: &Path = &host.audit_log_path();
    let mut h1 = Follower::start_to(&host, log, &dsn, &["--server", "db1", "--mode", "central"]);
    let mut h2 = Follower::start_to(&host, log, &dsn, &["--server", "db2", "--mode", "central"]);
    // Every login of the host's log: root's too (the ingesters write to the store, so no record of
    // the host's log is theirs).
    let expected = common::log_logins_except(&host, "").len() as u64;
    let per_server = |db: &MariaDb, server: &str| try_count(db, &format!("SELECT COUNT(*) FROM {TABLE} WHERE kind = 'connect' AND server = '{server}'"));
    wait_until("both hosts' rows in the store", Duration::from_secs(30), || {
        (per_server(&store.primary, "db1")? >= expected && per_server(&store.primary, "db2")? >= expected).then_some(())
    });
    h1.assert_running();
    h2.assert_running();
    store.sync(Duration::from_secs(20)).unwrap();
    for db in [&store.primary, &store.replica] {
        // Exactly once per server.
        assert_eq!(per_server(db, "db1"), Some(expected));
        assert_eq!(per_server(db, "db2"), Some(expected));
    }
    let alerts = check_gen_run(&store.primary, &[], CHECK);
    let mut by_server: Vec<(String, String)> = alerts.iter().map(|a| (label(a, "server").to_string(), label(a, "failed_logins").to_string())).collect();
    by_server.sort();
    assert_eq!(by_server, [("db1".to_string(), "3".to_string()), ("db2".to_string(), "3".to_string())], "{alerts:#?}");
    assert_eq!(h1.stop().code(), Some(0));
    assert_eq!(h2.stop().code(), Some(0));
    assert!(store.status().unwrap().is_healthy());
}
