//! Brute force: twelve failed logins of one account from one source within a minute raise
//! `mysql_audit_bruteforce_source`; a good login of that account from that source afterwards
//! raises `mysql_audit_login_after_failures`.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{check_gen_run, ingested_server, label, start_server, wait_table_matches_log, Follower};
use test_harness::{LoginOutcome, MariaDb};

const BRUTEFORCE: &str = "mysql_audit_bruteforce_source";
const AFTER: &str = "mysql_audit_login_after_failures";

#[test]
fn twelve_failures_then_a_good_login() {
    let t0 = Instant::now();
    let db = start_server(MariaDb::builder());
    db.create_user("bob", "correct_horse").unwrap();
    // Follow from the start: the records arrive while the follower runs.
    let mut follower = Follower::start(&db, &[]);

    let burst = Instant::now();
    for i in 0..12 {
        assert_eq!(db.try_login("bob", &format!("guess{i}")).code(), Some(1045));
    }
    assert!(
        burst.elapsed() < Duration::from_secs(60),
        "the burst took {:?}",
        burst.elapsed()
    );
    let logins = wait_table_matches_log(&db, Duration::from_secs(20));
    follower.assert_running();
    assert_eq!(logins.iter().filter(|l| l.2).count(), 12, "{logins:?}");

    let alerts = check_gen_run(&db, &[], BRUTEFORCE);
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let a = &alerts[0];
    assert_eq!(a["check"], BRUTEFORCE);
    assert_eq!(a["severity"], "error");
    assert_eq!(label(a, "source"), "localhost", "{a:#}");
    assert_eq!(label(a, "failed_logins"), "12", "{a:#}");
    let server = ingested_server(&db);
    assert_eq!(label(a, "server"), server, "{a:#}");
    assert!(
        a["summary"].as_str().unwrap().contains("localhost"),
        "{a:#}"
    );
    // No good login yet: nothing to report.
    let none = check_gen_run(&db, &[], AFTER);
    assert!(none.is_empty(), "{none:#?}");

    // server_audit writes whole seconds: log in a later second than the last failure, so that
    // "after" is unambiguous (the same-second case is `good_login_in_the_same_second_...` below).
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(db.try_login("bob", "correct_horse"), LoginOutcome::Ok);
    let logins = wait_table_matches_log(&db, Duration::from_secs(20));
    assert_eq!(logins.iter().filter(|l| !l.2).count(), 1, "{logins:?}");
    let alerts = check_gen_run(&db, &[], AFTER);
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let a = &alerts[0];
    assert_eq!(a["check"], AFTER);
    assert_eq!(a["severity"], "error");
    assert_eq!(label(a, "user"), "bob", "{a:#}");
    assert_eq!(label(a, "source"), "localhost", "{a:#}");
    assert_eq!(label(a, "failed_logins"), "12", "{a:#}");
    assert_eq!(label(a, "server"), server, "{a:#}");
    assert_eq!(
        a["summary"],
        format!("Login as bob from localhost on {server} after 12 failed attempts"),
        "{a:#}"
    );

    assert_eq!(follower.stop().code(), Some(0));
    eprintln!("brute force scenario: {:?}", t0.elapsed());
}

/// A guessing tool fails and then succeeds within one second; server_audit's timestamps have whole
/// seconds, so the failures and the login share one `event_time`. They are still failures *before*
/// the login (the log's order, the smaller offset in the same file, says so) and must count.
#[test]
fn good_login_in_the_same_second_as_the_failures() {
    let db = start_server(MariaDb::builder());
    db.create_user("dave", "letmein").unwrap();
    let mut follower = Follower::start(&db, &[]);
    // Start right after a second boundary: six logins take well under a second.
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    std::thread::sleep(Duration::from_nanos(
        1_000_000_000 - u64::from(since_epoch.subsec_nanos()) + 20_000_000,
    ));
    for i in 0..5 {
        assert_eq!(
            db.try_login("dave", &format!("guess{i}")).code(),
            Some(1045)
        );
    }
    assert_eq!(db.try_login("dave", "letmein"), LoginOutcome::Ok);
    let logins = wait_table_matches_log(&db, Duration::from_secs(20));
    follower.assert_running();
    assert_eq!(logins.len(), 6, "{logins:?}");
    let seconds = common::sql(
        &db,
        &format!(
            "SELECT COUNT(DISTINCT event_time) FROM {} WHERE user = 'dave' AND kind = 'connect'",
            common::TABLE
        ),
    );
    eprintln!(
        "the 6 logins span {} distinct event_time(s)",
        seconds.trim()
    );

    let alerts = check_gen_run(&db, &[], AFTER);
    assert_eq!(
        alerts.len(),
        1,
        "5 failures, then a good login in the same second: {alerts:#?}"
    );
    assert_eq!(label(&alerts[0], "user"), "dave", "{:#}", alerts[0]);
    assert_eq!(label(&alerts[0], "failed_logins"), "5", "{:#}", alerts[0]);
    assert_eq!(follower.stop().code(), Some(0));
}
