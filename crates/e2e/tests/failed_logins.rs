//! The original scenario: an unknown user, a wrong password and an empty password fail; one login
//! succeeds. `audit-ingest follow` stores the real audit log, `check-gen run` reports the three
//! failures and names the accounts; with good logins only, it reports nothing.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{check_gen_run, ingested_server, label, start_server, wait_table_matches_log, Follower};
use test_harness::{LoginOutcome, MariaDb};

const CHECK: &str = "mysql_audit_failed_logins_24h";

#[test]
fn three_failed_logins_raise_one_alert_naming_the_accounts() {
    let t0 = Instant::now();
    let db = start_server(MariaDb::builder());
    db.create_user("alice", "secret").unwrap();
    assert_eq!(db.try_login("nosuchuser", "whatever").code(), Some(1045));
    assert_eq!(db.try_login("alice", "wrong").code(), Some(1045));
    assert_eq!(db.try_login("alice", "").code(), Some(1045));
    assert_eq!(db.try_login("alice", "secret"), LoginOutcome::Ok);

    let mut follower = Follower::start(&db, &[]);
    let logins = wait_table_matches_log(&db, Duration::from_secs(20));
    follower.assert_running();
    assert_eq!(logins.len(), 4, "{logins:?}");
    assert_eq!(logins.iter().filter(|l| l.2).count(), 3, "{logins:?}");
    // The log's local times were converted to UTC: every event is seconds old, not hours.
    let skew = common::sql(
        &db,
        &format!(
            "SELECT MAX(ABS(TIMESTAMPDIFF(SECOND, event_time, UTC_TIMESTAMP()))) FROM {}",
            common::TABLE
        ),
    );
    let skew: i64 = skew.trim().parse().unwrap();
    assert!(
        skew < 120,
        "event_time is {skew} s off UTC: wrong --time-zone handling"
    );

    let alerts = check_gen_run(&db, &[], CHECK);
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let alert = &alerts[0];
    assert_eq!(alert["check"], CHECK);
    assert_eq!(label(alert, "failed_logins"), "3", "{alert:#}");
    let server = ingested_server(&db);
    assert_eq!(label(alert, "server"), server, "{alert:#}");
    assert_eq!(alert["severity"], "warning");
    assert_eq!(
        alert["summary"],
        format!("3 failed login attempts on {server} in the last 24 hours"),
        "{alert:#}"
    );
    let description = alert["description"].as_str().unwrap();
    for part in ["alice (2)", "nosuchuser (1)", "localhost (3)"] {
        assert!(
            description.contains(part),
            "{part:?} not in {description:?}"
        );
    }

    let status = follower.stop();
    assert_eq!(status.code(), Some(0), "audit-ingest follow exit status");
    eprintln!("failed logins scenario: {:?}", t0.elapsed());
}

#[test]
fn good_logins_only_raise_nothing() {
    let t0 = Instant::now();
    let db = start_server(MariaDb::builder());
    db.create_user("bob", "secret").unwrap();
    for _ in 0..3 {
        assert_eq!(db.try_login("bob", "secret"), LoginOutcome::Ok);
    }
    let follower = Follower::start(&db, &[]);
    let logins = wait_table_matches_log(&db, Duration::from_secs(20));
    assert_eq!(logins.len(), 3, "{logins:?}");
    assert!(logins.iter().all(|l| !l.2), "{logins:?}");

    let alerts = check_gen_run(&db, &[], CHECK);
    assert!(alerts.is_empty(), "{alerts:#?}");

    assert_eq!(follower.stop().code(), Some(0));
    eprintln!("good logins only: {:?}", t0.elapsed());
}

/// issue 14: MariaDB's server_audit writes error 1045 for a wrong password and for an unknown
/// account alike, so wrong passwords of existing accounts (and unknown names, which it cannot tell
/// from them) never make a probing alert; the failures still count.
#[test]
fn mariadb_wrong_passwords_of_existing_accounts_are_not_probing() {
    let t0 = Instant::now();
    let db = start_server(MariaDb::builder());
    for u in ["nc_alice", "nc_bob", "nc_carol", "nc_dave"] {
        db.create_user(u, "secret").unwrap();
        assert_eq!(db.try_login(u, "wrong").code(), Some(1045));
    }
    assert_eq!(db.try_login("nc_nosuchuser", "whatever").code(), Some(1045));
    assert_eq!(db.try_login("nc_alice", "secret"), LoginOutcome::Ok);

    let mut follower = Follower::start(&db, &[]);
    let logins = wait_table_matches_log(&db, Duration::from_secs(20));
    follower.assert_running();
    assert_eq!(logins.iter().filter(|l| l.2).count(), 5, "{logins:?}");
    // The summary holds them as failures whose account the log cannot tell.
    let unknown = common::sql(
        &db,
        &format!("SELECT CAST(SUM(logins) AS SIGNED) FROM {}_logins WHERE failed = 1 AND account = 'unknown'", common::TABLE),
    );
    assert_eq!(unknown.trim(), "5");

    assert!(check_gen_run(&db, &[], "mysql_audit_account_probing").is_empty());
    let failed = check_gen_run(&db, &[], CHECK);
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(label(&failed[0], "failed_logins"), "5");

    assert_eq!(follower.stop().code(), Some(0));
    eprintln!("mariadb wrong passwords: {:?}", t0.elapsed());
}
