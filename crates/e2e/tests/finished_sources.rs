//! Finished sources never count as stale pipelines: a backfill's source is finished when it ends, a
//! mistyped path followed once stays a live (stale) source until `audit-ingest sources remove` forgets
//! it, and `mysql_audit_pipeline_stale` (window lowered to 6 s) reports only live sources.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::{bin, check_gen_run, checks_dir, label, percona_dsn, run, start_server, wait_table_matches_log, wait_until, Follower};
use test_harness::{LoginOutcome, MariaDb};

const CHECK: &str = "mysql_audit_pipeline_stale";

fn fast_checks(dir: &std::path::Path) -> String {
    let file = format!("{CHECK}.yml");
    let spec = std::fs::read_to_string(checks_dir().join(&file)).unwrap();
    let line = "  max_age_minutes: 15\n";
    assert!(spec.contains(line), "checks/{file} no longer has {line:?}");
    std::fs::write(dir.join(&file), spec.replace(line, "  max_age_minutes: 0.1\n")).unwrap();
    dir.to_str().unwrap().to_string()
}

fn ingest(db: &MariaDb, args: &[&str]) -> (std::process::ExitStatus, String, String) {
    run(Command::new(bin("audit-ingest")).args(args).env("AUDIT_INGEST_DSN", percona_dsn(db)).env_remove("AUDIT_INGEST_SERVER").env("NO_COLOR", "1"))
}

fn count(db: &MariaDb) -> u64 {
    common::sql(db, "SELECT COUNT(*) FROM percona.audit_data").trim().parse().unwrap()
}

#[test]
fn backfills_are_finished_and_removed_sources_are_forgotten() {
    let db = start_server(MariaDb::builder());
    let checks = tempfile::tempdir().unwrap();
    let checks = fast_checks(checks.path());
    let pre = ["--checks", checks.as_str()];
    db.create_user("carol", "secret").unwrap();
    assert_eq!(db.try_login("carol", "secret"), LoginOutcome::Ok);
    assert_eq!(db.try_login("carol", "nope").code(), Some(1045));

    // The live log, followed and stopped once caught up.
    let follower = Follower::start(&db, &[]);
    assert!(wait_table_matches_log(&db, Duration::from_secs(20)).len() >= 2);
    assert_eq!(follower.stop().code(), Some(0));
    let rows = count(&db);

    let copies = tempfile::tempdir().unwrap();
    // A backfill that stores something: its source is finished when it ends.
    let other = copies.path().join("other.log");
    std::fs::write(&other, "20261201 10:00:00,db,nobody,10.0.0.9,7,0,FAILED_CONNECT,,,1045\n").unwrap();
    let (st, out, err) = ingest(&db, &["backfill", "--format", "mariadb", other.to_str().unwrap()]);
    assert!(st.success() && out.contains("1 new records stored"), "{out}{err}");
    assert_eq!(count(&db), rows + 1);

    // A mistyped path, followed once: said at start, and shown by status.
    let typo = db.dir().join("server_audit.lgo");
    let mistyped = Follower::start_to(&db, &typo, &percona_dsn(&db), &[]);
    let said = wait_until("follow says the log is missing", Duration::from_secs(10), || mistyped.output().contains("does not exist").then(|| mistyped.output()));
    assert!(said.contains(typo.to_str().unwrap()), "{said}");
    assert!(!said.contains("\x1b["), "colours in a file: {said}");
    let (st, out, _) = ingest(&db, &["status"]);
    assert!(st.success() && out.lines().any(|l| l.contains("MISSING") && l.contains(typo.to_str().unwrap())), "{out}");
    assert_eq!(mistyped.stop().code(), Some(0));

    let (st, out, err) = ingest(&db, &["sources"]);
    assert!(st.success(), "{err}");
    let state = |needle: &str| out.lines().find(|l| l.contains(needle)).map(|l| l.split_whitespace().nth(2).unwrap().to_string());
    assert_eq!(state(typo.to_str().unwrap()).as_deref(), Some("live"), "{out}");
    assert_eq!(state(db.audit_log_path().to_str().unwrap()).as_deref(), Some("live"), "{out}");
    assert_eq!(state(other.to_str().unwrap()).as_deref(), Some("finished"), "{out}");
    assert_eq!(out.lines().count(), 4, "header, the log, the typo, one backfill (the skipped ones left none): {out}");

    // Past the window: the two live sources are stale, the finished backfill is not.
    let alerts = wait_until("both live sources are stale", Duration::from_secs(30), || {
        let a = check_gen_run(&db, &pre, CHECK);
        (a.len() == 2).then_some(a)
    });
    let mut sources: Vec<String> = alerts.iter().map(|a| label(a, "source").to_string()).collect();
    sources.sort();
    let mut want = vec![db.audit_log_path().to_str().unwrap().to_string(), typo.to_str().unwrap().to_string()];
    want.sort();
    assert_eq!(sources, want, "{alerts:#?}");

    // Forgotten: the typo no longer alerts; the real log still does until it is followed again.
    let (st, out, err) = ingest(&db, &["sources", "remove", typo.to_str().unwrap()]);
    assert!(st.success() && out.contains("removed source"), "{out}{err}");
    let (st, _, err) = ingest(&db, &["sources", "remove", "no-such-source"]);
    assert_eq!(st.code(), Some(2), "{err}");
    assert!(err.contains("no source \"no-such-source\""), "{err}");
    let alerts = check_gen_run(&db, &pre, CHECK);
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(label(&alerts[0], "source"), db.audit_log_path().to_str().unwrap());
    let follower = Follower::start(&db, &[]);
    wait_until("the stale alert clears", Duration::from_secs(20), || check_gen_run(&db, &pre, CHECK).is_empty().then_some(()));
    assert_eq!(follower.stop().code(), Some(0));
}
