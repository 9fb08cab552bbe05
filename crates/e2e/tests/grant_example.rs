//! `examples/grant.sql` runs as written on a throwaway MariaDB started with `skip_name_resolve`, and
//! each account it creates logs in over TCP to 127.0.0.1 and does its job: `audit_ingest` creates the
//! tables and ingests in local mode (sql_log_bin = 0), `pmm` runs the checks, read-only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::{bin, run, start_server};
use test_harness::{LoginOutcome, MariaDb};

const GRANT: &str = include_str!("../../../examples/grant.sql");

#[test]
fn grant_sql_runs_as_written_and_each_account_logs_in_over_tcp() {
    let db = start_server(MariaDb::builder().server_arg("--skip-name-resolve"));
    assert_eq!(common::sql(&db, "SELECT @@skip_name_resolve").trim(), "1");
    db.sql(GRANT).unwrap_or_else(|e| panic!("examples/grant.sql failed: {e}"));
    // Twice: an administrator may run it again (IF NOT EXISTS, grants are idempotent).
    db.sql(GRANT).unwrap_or_else(|e| panic!("examples/grant.sql failed the second time: {e}"));
    for user in ["audit_ingest", "pmm"] {
        assert_eq!(db.try_login(user, "change-me"), LoginOutcome::Ok, "{user} over TCP to 127.0.0.1");
    }
    let ingest_dsn = format!("mysql://audit_ingest:change-me@127.0.0.1:{}/percona", db.port());
    let (st, out, err) = run(Command::new(bin("audit-ingest")).args(["schema", "--apply", "--server", "db1", "--dsn", &ingest_dsn]));
    assert!(st.success(), "schema --apply as audit_ingest: {out}{err}");
    let (st, _, err) = run(Command::new(bin("audit-ingest")).args(["backfill", "--server", "db1", "--dsn", &ingest_dsn]).arg(db.audit_log_path()));
    assert!(st.success(), "backfill as audit_ingest: {err}");
    let stored: u64 = common::sql(&db, "SELECT COUNT(*) FROM percona.audit_data").trim().parse().unwrap();
    assert!(stored >= 2, "the logins above are stored: {stored}");
    let (st, out, err) = run(Command::new(bin("audit-ingest")).args(["status", "--server", "db1", "--dsn", &ingest_dsn]));
    assert!(st.success() && out.contains("writes accepted"), "status as audit_ingest: {out}{err}");
    let pmm_dsn = format!("mysql://pmm:change-me@127.0.0.1:{}/", db.port());
    let (st, out, err) = run(Command::new(bin("check-gen")).args(["run", "--format", "json", "--dsn", &pmm_dsn]).env_remove("CHECK_GEN_DSN"));
    assert!(st.success(), "check-gen run as pmm: {out}{err}");
    // The PMM account reads only.
    let denied = Command::new("mariadb")
        .args(["--protocol=TCP", "--host=127.0.0.1", &format!("--port={}", db.port()), "--user=pmm", "--execute=DELETE FROM percona.audit_data"])
        .env("MYSQL_PWD", "change-me")
        .output()
        .unwrap();
    assert!(!denied.status.success(), "pmm may not delete");
}
