//! The database server goes away in the middle of a stream (a clean restart, then a crash): the
//! follower reconnects with backoff and resumes from the committed checkpoint; every record ends up
//! stored exactly once. Uses a throwaway MariaDB from test-harness as the database.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{append, ids, lines, spawn_follow, stop, TestDb};
use test_harness::MariaDb;

fn wait(db: &TestDb, n: u64, dir: &std::path::Path, timeout: Duration) {
    let t = Instant::now();
    loop {
        if db.count() == n {
            return;
        }
        if t.elapsed() > timeout {
            panic!("timed out: {} rows, want {n}\n{}", db.count(), common::follow_logs(dir));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn server_restart_and_crash_mid_stream() {
    let t0 = Instant::now();
    let mut server = MariaDb::start().unwrap();
    eprintln!("throwaway server up in {:?}", t0.elapsed());
    let db = TestDb::on(&server.dsn(), "restart");
    let (dir, log) = common::log_dir();
    append(&log, &lines(0, 100));
    let child = spawn_follow(&db.dsn(), dir.path(), &["--batch-rows", "7"], &log);
    wait(&db, 100, dir.path(), Duration::from_secs(60));

    // A stream of appends across a clean restart: some before, some while down, some after.
    let mut n = 100;
    let writer = |from: u64, to: u64| {
        let log = log.clone();
        std::thread::spawn(move || {
            for i in from..to {
                append(&log, &common::json_line(i));
                std::thread::sleep(Duration::from_millis(3));
            }
        })
    };
    let w = writer(n, n + 300);
    n += 300;
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    server.restart().unwrap();
    eprintln!("restart took {:?}", t.elapsed());
    w.join().unwrap();
    wait(&db, n, dir.path(), Duration::from_secs(90));
    assert_eq!(db.record_ids(), ids(0..n));

    // A crash (SIGKILL of mariadbd) in the middle of a stream, down for a while.
    let w = writer(n, n + 300);
    n += 300;
    std::thread::sleep(Duration::from_millis(200));
    server.kill().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    server.start_again().unwrap();
    w.join().unwrap();
    wait(&db, n, dir.path(), Duration::from_secs(90));
    std::thread::sleep(Duration::from_millis(300));
    let st = stop(child);
    assert_eq!(st.code(), Some(0), "{}", common::follow_logs(dir.path()));
    assert_eq!(db.record_ids(), ids(0..n), "{}", common::follow_logs(dir.path()));
    assert_eq!(db.dead_count(), 0);
    let logs = common::follow_logs(dir.path());
    assert!(logs.contains("database unavailable"), "no outage was logged:\n{logs}");
    assert!(logs.matches("reconnected: the database is reachable again").count() >= 2, "no reconnect was logged after each outage:\n{logs}");
    eprintln!("{n} records across a restart and a crash in {:?}", t0.elapsed());
}
