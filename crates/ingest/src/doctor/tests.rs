//! The rules on facts made up for each case; the real server's answers are tested in
//! tests/doctor.rs.

use super::*;
use crate::doctor::server::{packet, STATEMENT_OVERHEAD};

fn facts(vars: &[(&str, &str)]) -> ServerFacts {
    ServerFacts {
        version: "10.11.6-MariaDB".into(),
        variables: vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        audit_plugins: vec![("SERVER_AUDIT".into(), "ACTIVE".into())],
        grants: vec!["GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX ON `percona`.* TO `audit_ingest`@`localhost`".into()],
        is_replica: Some(false),
        ..ServerFacts::default()
    }
}

fn options() -> DoctorOptions {
    DoctorOptions { database: "percona".into(), ..DoctorOptions::default() }
}

fn levels(findings: &[Finding], topic: &str) -> Vec<Level> {
    findings.iter().filter(|f| f.topic == topic).map(|f| f.level).collect()
}

const GOOD: &[(&str, &str)] = &[
    ("server_audit_logging", "ON"),
    ("server_audit_output_type", "file"),
    ("server_audit_events", "CONNECT"),
    ("server_audit_file_rotate_size", "1000000"),
    ("server_audit_file_rotations", "9"),
    ("local_infile", "ON"),
    ("max_allowed_packet", "67108864"),
];

#[test]
fn a_well_set_server_has_nothing_to_fix() {
    let f = server::assess(&facts(GOOD), &options());
    assert!(f.iter().all(|f| f.level <= Level::Info), "{f:#?}");
    assert_eq!(levels(&f, "policy"), [Level::Ok]);
    // server_audit writes local time: the time zone note is always there for it.
    assert_eq!(levels(&f, "time zone"), [Level::Info]);
}

#[test]
fn no_audit_plugin_is_an_error_with_the_install_statement() {
    let mut f = facts(GOOD);
    f.audit_plugins.clear();
    let found = server::assess(&f, &options());
    let audit: Vec<&Finding> = found.iter().filter(|f| f.topic == "audit plugin").collect();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].level, Level::Error);
    assert!(audit[0].fix.contains("INSTALL SONAME 'server_audit'"), "{}", audit[0].fix);
}

#[test]
fn logins_not_logged_is_an_error() {
    let mut vars = GOOD.to_vec();
    vars.retain(|(k, _)| *k != "server_audit_events");
    vars.push(("server_audit_events", "QUERY,TABLE"));
    assert_eq!(levels(&server::assess(&facts(&vars), &options()), "policy"), [Level::Error]);
    let mut p = facts(&[("audit_log_policy", "QUERIES"), ("audit_log_rotate_on_size", "0")]);
    p.audit_plugins = vec![("audit_log".into(), "ACTIVE".into())];
    let found = server::assess(&p, &options());
    assert_eq!(levels(&found, "policy"), [Level::Error]);
    assert_eq!(levels(&found, "rotation"), [Level::Warning]);
}

#[test]
fn a_refused_sql_log_bin_matters_in_local_mode_only() {
    let mut f = facts(GOOD);
    f.sql_log_bin_refused = Some("Access denied; you need the BINLOG ADMIN privilege (1227)".into());
    let local = server::assess(&f, &options());
    let refused: Vec<&Finding> = local.iter().filter(|x| x.topic == "privileges" && x.level == Level::Error).collect();
    assert_eq!(refused.len(), 1, "{local:#?}");
    assert!(refused[0].fix.contains("BINLOG ADMIN"));
    let central = server::assess(&f, &DoctorOptions { mode: crate::sink::WriteMode::Central, ..options() });
    assert!(central.iter().all(|x| x.level != Level::Error), "{central:#?}");
}

#[test]
fn missing_table_privileges_and_read_only_are_named() {
    let mut f = facts(&[("read_only", "ON")]);
    f.grants = vec!["GRANT USAGE ON *.* TO `x`@`%`".into(), "GRANT SELECT ON `percona`.* TO `x`@`%`".into()];
    let found = server::assess(&f, &options());
    let p = found.iter().find(|x| x.topic == "privileges" && x.level == Level::Error).expect("a privilege error");
    assert!(p.message.contains("INSERT, UPDATE, DELETE, CREATE"), "{}", p.message);
    assert!(!p.message.contains("SELECT"), "{}", p.message);
    assert_eq!(levels(&found, "read_only"), [Level::Error]);
    f.grants.push("GRANT READ_ONLY ADMIN, INSERT, UPDATE, DELETE, CREATE ON *.* TO `x`@`%`".into());
    let found = server::assess(&f, &options());
    assert_eq!(levels(&found, "read_only"), [Level::Ok]);
}

#[test]
fn max_allowed_packet_against_the_largest_record() {
    let f = facts(&[("max_allowed_packet", "16777216")]);
    assert_eq!(packet(&f, Some(1000)).level, Level::Ok);
    let too_big = packet(&f, Some(16 << 20));
    assert_eq!(too_big.level, Level::Error);
    let want_mib = ((16u64 << 20) + STATEMENT_OVERHEAD).div_ceil(1 << 20);
    assert!(too_big.fix.contains(&format!("max_allowed_packet = {want_mib}M")), "{}", too_big.fix);
    // Unread log: measured against the reader's limit, a warning only.
    assert_eq!(packet(&f, None).level, Level::Warning);
}

#[test]
fn clock_skew_is_a_warning() {
    let mut f = facts(GOOD);
    f.clock_skew_s = -7.5;
    let found = server::assess(&f, &options());
    let c = found.iter().find(|x| x.topic == "clock").expect("clock");
    assert_eq!(c.level, Level::Warning);
    assert!(c.message.contains("-7.5 s"), "{}", c.message);
}

#[test]
fn the_log_path_is_in_the_data_directory_when_relative() {
    let f = facts(&[("datadir", "/var/lib/mysql/"), ("server_audit_file_path", "server_audit.log")]);
    assert_eq!(server::log_path(&f).as_deref(), Some(std::path::Path::new("/var/lib/mysql/server_audit.log")));
    let f = facts(&[("datadir", "/var/lib/mysql/"), ("server_audit_file_path", "/var/log/mysql-audit/a.log")]);
    assert_eq!(server::log_path(&f).as_deref(), Some(std::path::Path::new("/var/log/mysql-audit/a.log")));
}

#[test]
fn exit_status_follows_the_worst_finding() {
    assert_eq!(exit_status(&[Finding::ok("a", "b")]), 0);
    assert_eq!(exit_status(&[Finding::ok("a", "b"), Finding::new(Level::Warning, "a", "b", "c")]), 3);
    assert_eq!(exit_status(&[Finding::new(Level::Error, "a", "b", "c"), Finding::new(Level::Warning, "a", "b", "c")]), 1);
}
