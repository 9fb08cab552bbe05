//! Stop the ingester: after the staleness window (lowered to 6 s through a copy of `checks/` with
//! `max_age_minutes: 0.1`) `mysql_audit_pipeline_stale` fires; restart it and the alert clears, and
//! the logins made while it was down are stored, none lost or duplicated.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{
    check_gen_run, checks_dir, ingested_server, label, start_server, wait_table_matches_log,
    wait_until, Follower,
};
use test_harness::{LoginOutcome, MariaDb};

const CHECK: &str = "mysql_audit_pipeline_stale";
/// The lowered window: 0.1 minutes.
const WINDOW_SECS: u64 = 6;

/// A copy of the check's spec with the window lowered, in its own `--checks` directory.
fn fast_checks(dir: &std::path::Path) -> String {
    let file = format!("{CHECK}.yml");
    let spec = std::fs::read_to_string(checks_dir().join(&file)).unwrap();
    let line = "  max_age_minutes: 15\n";
    assert!(spec.contains(line), "checks/{file} no longer has {line:?}");
    std::fs::write(
        dir.join(&file),
        spec.replace(line, "  max_age_minutes: 0.1\n"),
    )
    .unwrap();
    dir.to_str().unwrap().to_string()
}

#[test]
fn stale_while_stopped_and_clears_after_restart_without_loss() {
    let t0 = Instant::now();
    let db = start_server(MariaDb::builder());
    let checks = tempfile::tempdir().unwrap();
    let checks = fast_checks(checks.path());
    let pre = ["--checks", checks.as_str()];
    let source = std::path::absolute(db.audit_log_path()).unwrap();
    let source = source.to_str().unwrap();

    db.create_user("carol", "secret").unwrap();
    assert_eq!(db.try_login("carol", "secret"), LoginOutcome::Ok);
    assert_eq!(db.try_login("carol", "nope").code(), Some(1045));

    let follower = Follower::start(&db, &[]);
    let before = wait_table_matches_log(&db, Duration::from_secs(20));
    assert_eq!(before.len(), 2, "{before:?}");
    // Heartbeat every second, window 6 s: fresh.
    let alerts = check_gen_run(&db, &pre, CHECK);
    assert!(
        alerts.is_empty(),
        "fresh pipeline reported stale: {alerts:#?}"
    );

    assert_eq!(
        follower.stop().code(),
        Some(0),
        "audit-ingest follow exit status"
    );
    let stopped = Instant::now();
    // Logins while nobody ingests.
    assert_eq!(db.try_login("carol", "secret"), LoginOutcome::Ok);
    for _ in 0..3 {
        assert_eq!(db.try_login("carol", "wrong").code(), Some(1045));
    }
    assert_eq!(db.try_login("nobody", "x").code(), Some(1045));

    let stale = wait_until(
        "the pipeline is reported stale",
        Duration::from_secs(30),
        || {
            let alerts = check_gen_run(&db, &pre, CHECK);
            (!alerts.is_empty()).then_some(alerts)
        },
    );
    let waited = stopped.elapsed();
    assert!(
        waited >= Duration::from_secs(WINDOW_SECS),
        "stale after {waited:?}, before the {WINDOW_SECS} s window"
    );
    assert_eq!(stale.len(), 1, "{stale:#?}");
    assert_eq!(stale[0]["check"], CHECK);
    assert_eq!(label(&stale[0], "source"), source, "{:#}", stale[0]);
    let server = ingested_server(&db);
    assert_eq!(label(&stale[0], "server"), server, "{:#}", stale[0]);
    assert_eq!(
        stale[0]["summary"],
        format!("Audit pipeline {source} on {server} is stale")
    );

    let follower = Follower::start(&db, &[]);
    wait_until("the stale alert clears", Duration::from_secs(20), || {
        check_gen_run(&db, &pre, CHECK).is_empty().then_some(())
    });
    let after = wait_table_matches_log(&db, Duration::from_secs(20));
    assert_eq!(after.len(), 2 + 5, "{after:?}");
    assert_eq!(after.iter().filter(|l| l.2).count(), 1 + 4, "{after:?}");

    assert_eq!(follower.stop().code(), Some(0));
    eprintln!(
        "pipeline stale: stale after {waited:?}; total {:?}",
        t0.elapsed()
    );
}
