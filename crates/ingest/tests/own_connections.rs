//! The ingester follows the audit log of the very server it writes to (MariaDB server_audit logging
//! CONNECT and QUERY): its own statements, which that server logs, are left out, before and after a
//! server restart (new connections, ids handed out again), while another session of the same account
//! (root, as the ingester) is stored with its statement class and text.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{ingest_cmd, stop, TestDb};
use test_harness::MariaDb;

/// What only the ingester runs: its registering statement, its checkpoint writes, its loads.
fn own_statement_sql(db: &TestDb) -> String {
    format!(
        "SELECT COUNT(*) FROM {} WHERE kind = 'query' AND (statement LIKE 'SELECT CONNECTION_ID(), UNIX_TIMESTAMP(), %' \
         OR statement LIKE '%audit_data_checkpoint%' OR statement LIKE 'LOAD DATA%' OR statement LIKE 'INSERT INTO `{}`.`audit_data%')",
        db.data(),
        db.name
    )
}

/// Waits until a query record whose text starts with `prefix` (no `'`, `%` or `_` in it) is stored;
/// returns its (user, class, text). Anchored: this very query, stored too, contains the prefix.
fn wait_statement(db: &TestDb, prefix: &str, dir: &std::path::Path) -> (String, String, String) {
    let t = Instant::now();
    loop {
        let sql = format!("SELECT user, statement_class, statement FROM {} WHERE kind = 'query' AND statement LIKE 'SELECT ''{prefix}%'", db.data());
        if let Some(row) = db.try_query::<(String, String, String)>(&sql).ok().and_then(|v| v.into_iter().next()) {
            return row;
        }
        if t.elapsed() > Duration::from_secs(60) {
            panic!("no record of {prefix} stored\n{}", common::follow_logs(dir));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_ingesters_own_statements_are_left_out_and_its_accounts_other_sessions_are_not() {
    let mut server = MariaDb::builder().audit_events("CONNECT,QUERY").start().unwrap();
    let db = TestDb::on(&server.dsn(), "own");
    let (dir, _) = common::log_dir();
    let log = server.audit_log_path();
    let err = std::fs::File::create(dir.path().join("own-follow.stderr")).unwrap();
    let args = ["follow", "--heartbeat-secs", "1", "--load-method", "insert", log.to_str().unwrap()];
    let child = ingest_cmd(&db.dsn(), &args).stderr(err).spawn().unwrap();

    // Another session of root, the ingester's account.
    server.sql("SELECT 'own-test first session' FROM DUAL").unwrap();
    let (user, class, text) = wait_statement(&db, "own-test first session", dir.path());
    assert_eq!((user.as_str(), class.as_str(), text.as_str()), ("root", "select", "SELECT 'own-test first session' FROM DUAL"));

    // The restart drops every connection; the ingester reconnects with new ids, which may be ids
    // its old connections had.
    server.restart().unwrap();
    server.sql("SELECT 'own-test after the restart' FROM DUAL").unwrap();
    wait_statement(&db, "own-test after the restart", dir.path());
    // A few heartbeats and commits more, each logged by the server.
    std::thread::sleep(Duration::from_secs(3));
    server.sql("SELECT 'own-test last' FROM DUAL").unwrap();
    wait_statement(&db, "own-test last", dir.path());
    assert_eq!(stop(child).code(), Some(0), "{}", common::follow_logs(dir.path()));

    // The server did log the ingester's statements (so leaving them out is what kept them away) ...
    let raw = server.read_audit_log().unwrap();
    let registered = raw.lines().filter(|l| l.contains("SELECT CONNECTION_ID(), UNIX_TIMESTAMP(), ")).count();
    let checkpoint_writes = raw.lines().filter(|l| l.contains(",QUERY,") && l.contains("audit_data_checkpoint")).count();
    assert!(registered >= 2, "expected a registering statement before and after the restart, got {registered}");
    assert!(checkpoint_writes >= 5, "expected the server to log the ingester's checkpoint writes, got {checkpoint_writes}");
    // ... and none of them is stored, while root's other sessions are, with their logins.
    let stored: Vec<(u64, String, String)> = db.query(&own_statement_sql(&db).replace("SELECT COUNT(*)", "SELECT connection_id, CAST(event_time AS CHAR), LEFT(statement, 120)"));
    assert!(stored.is_empty(), "the ingester's own statements were stored: {stored:#?}\n{}", common::follow_logs(dir.path()));
    let others: Vec<u64> = db.query(&format!("SELECT COUNT(*) FROM {} WHERE kind = 'query' AND user = 'root' AND statement LIKE 'SELECT ''own-test%'", db.data()));
    assert_eq!(others, [3]);
    let logins: Vec<u64> = db.query(&format!("SELECT COUNT(*) FROM {} WHERE kind = 'connect' AND user = 'root'", db.data()));
    assert!(logins[0] >= 4, "root's logins are stored, the ingester's too: {logins:?}");
    eprintln!("{registered} registering statements and {checkpoint_writes} checkpoint writes logged, none stored");
}
