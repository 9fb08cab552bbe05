//! The server's audit log rotates every 4 KiB while the test logs in a few hundred times (good and
//! failed, from several client threads): every login is in the table exactly once.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{audit_files, start_server, wait_table_matches_log, Follower, TABLE};
use test_harness::{LoginOutcome, MariaDb};

/// Logins per thread; every third one fails.
const PER_THREAD: usize = 75;
const THREADS: usize = 4;

#[test]
fn every_login_is_stored_once_across_rotations() {
    let t0 = Instant::now();
    // 999 rotations (MariaDB's maximum): no rotated file is deleted before the test counts it.
    let db = start_server(
        MariaDb::builder()
            .audit_rotate_size(4096)
            .audit_rotations(999),
    );
    db.create_user("rot", "secret").unwrap();
    let mut follower = Follower::start(&db, &[]);

    let logins = Instant::now();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let db = &db;
            s.spawn(move || {
                for i in 0..PER_THREAD {
                    if i % 3 == 2 {
                        let user = if i % 2 == 0 {
                            "rot".to_string()
                        } else {
                            format!("ghost{t}")
                        };
                        assert_eq!(db.try_login(&user, "bad").code(), Some(1045));
                    } else {
                        assert_eq!(db.try_login("rot", "secret"), LoginOutcome::Ok);
                    }
                }
            });
        }
    });
    let login_time = logins.elapsed();
    follower.assert_running();

    let files = audit_files(&db);
    assert!(
        files.len() >= 5,
        "expected several rotations, got {files:?}"
    );
    let stored = wait_table_matches_log(&db, Duration::from_secs(30));
    let total = THREADS * PER_THREAD;
    assert_eq!(stored.len(), total, "non-root logins in the log");
    assert_eq!(
        stored.iter().filter(|l| l.2).count(),
        THREADS * (PER_THREAD / 3)
    );
    // The record identity is unique (the table's key), and no (connection, user) twice.
    let dupes = common::sql(
        &db,
        &format!(
            "SELECT COUNT(*) FROM (SELECT connection_id, user, is_failed_login FROM {TABLE} \
             WHERE kind = 'connect' GROUP BY connection_id, user, is_failed_login HAVING COUNT(*) > 1) d"
        ),
    );
    assert_eq!(dupes.trim(), "0");

    assert_eq!(follower.stop().code(), Some(0));
    eprintln!(
        "rotation: {total} logins in {login_time:?} over {} files; total {:?}",
        audit_files(&db).len(),
        t0.elapsed()
    );
}
