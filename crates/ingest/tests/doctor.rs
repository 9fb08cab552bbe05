//! `audit-ingest doctor` against a throwaway MariaDB with server_audit (test-harness): as root it
//! finds the plugin, its settings and the log file from the server's own variables; as an account
//! without the ingester's privileges it names what to grant.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

use test_harness::MariaDb;

fn doctor(args: &[&str]) -> (Output, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_audit-ingest")).arg("doctor").args(args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out, text)
}

fn lines<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.starts_with(prefix)).collect()
}

#[test]
fn doctor_finds_server_audit_and_its_log() {
    let server = MariaDb::builder().server_arg("--max-allowed-packet=64M").server_arg("--local-infile=ON").start().unwrap();
    // A failed login: the log holds a record whose size doctor measures.
    assert!(!server.try_login("nosuchuser", "wrong").is_ok());
    let (out, text) = doctor(&["--dsn", &server.dsn()]);
    let err = String::from_utf8_lossy(&out.stderr);
    // Where the package is installed, its service user exists and (rightly) may not read this
    // root-owned test log: the one error allowed, and then only there.
    let service_user = Command::new("id").arg("audit-ingest").output().is_ok_and(|o| o.status.success());
    let unreadable = "[error] log file: the service user audit-ingest may not read";
    let errors: Vec<&str> = lines(&text, "[error]").into_iter().filter(|l| !(service_user && l.starts_with(unreadable))).collect();
    assert!(errors.is_empty(), "root has every privilege:\n{text}\n{err}");
    let expected = if text.contains(unreadable) { 1 } else if lines(&text, "[warning]").is_empty() { 0 } else { 3 };
    assert_eq!(out.status.code(), Some(expected), "{text}\n{err}");
    assert!(text.contains("[ok] audit plugin: server_audit is active"), "{text}");
    assert!(text.contains("[ok] policy: server_audit_events logs logins"), "{text}");
    assert!(text.contains("[ok] rotation: rotates at 1000000 bytes"), "{text}");
    assert!(text.contains("[ok] local_infile: ON"), "{text}");
    assert!(text.contains("[info] time zone: server_audit writes the server's local time"), "{text}");
    assert!(text.contains("[ok] privileges: the account may keep its writes out of the binary log"), "{text}");
    // The log is found through server_audit_file_path, and its record measured.
    let log = server.audit_log_path();
    let record = server.read_audit_log().unwrap();
    let first = record.lines().next().expect("a record").len();
    let ok = lines(&text, "[ok] log file:");
    assert_eq!(ok.len(), 1, "{text}");
    assert!(ok[0].starts_with(&format!("[ok] log file: {} is readable here; largest record: ", log.display())), "{text}");
    let largest: usize = ok[0].rsplit(": ").next().unwrap().trim_end_matches(" bytes").parse().unwrap();
    assert!(largest >= first && largest <= record.len(), "largest {largest}, first line {first}, log {}", record.len());
    assert!(text.contains(&format!("[ok] max_allowed_packet: 67108864 bytes: room for the largest record in the log ({largest} bytes)")), "{text}");
}

#[test]
fn doctor_names_the_missing_privileges() {
    let server = MariaDb::start().unwrap();
    server
        .sql("CREATE USER 'doctor_weak'@'%' IDENTIFIED BY 'pw'; CREATE DATABASE IF NOT EXISTS percona; GRANT SELECT ON percona.* TO 'doctor_weak'@'%';")
        .unwrap();
    let dsn = format!("mysql://doctor_weak:pw@127.0.0.1:{}/percona", server.port());
    let (out, text) = doctor(&["--dsn", &dsn, "--log", server.audit_log_path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    let errors = lines(&text, "[error] privileges:");
    assert_eq!(errors.len(), 2, "{text}");
    assert!(errors[0].contains("SET SESSION sql_log_bin = 0 is refused"), "{text}");
    assert!(text.contains("fix: GRANT BINLOG ADMIN ON *.* TO the ingest account"), "{text}");
    assert!(errors[1].contains("the grants give no INSERT, UPDATE, DELETE, CREATE on `percona`.*"), "{text}");
}
