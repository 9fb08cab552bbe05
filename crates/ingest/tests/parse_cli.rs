//! `audit-ingest parse`: NDJSON out, `FILE:OFFSET: reason` on standard error, exit 0 / 1 / 2.
#![allow(clippy::unwrap_used)] // a test fails loudly

use std::io::Write;
use std::process::{Command, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_audit-ingest"))
}

fn example(name: &str) -> String {
    format!("{}/../../examples/logs/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn prints_one_object_a_record_with_the_documented_keys() {
    let out = bin().args(["parse", &example("percona-json.log")]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 8);
    for key in ["format", "name", "kind", "record_id", "timestamp", "connection_id", "status", "user", "priv_user", "os_user", "proxy_user", "host", "ip", "db", "command_class", "sqltext", "file", "offset"] {
        assert!(lines.iter().all(|l| l.get(key).is_some()), "key {key} missing");
    }
    let failed: Vec<_> = lines.iter().filter(|l| l["failed_login"] == true).collect();
    assert_eq!(failed.len(), 3);
    assert_eq!(failed[0]["status"], 1045);
    assert_eq!(failed[0]["connection_id"], 10279);
    assert_eq!(failed[0]["timestamp"], "2026-11-29T05:02:38Z");
    assert_eq!(lines[0]["offset"], 0);
    assert!(lines[1]["offset"].as_u64().unwrap() > 0);
    assert_eq!(lines[6]["sqltext"], "SELECT * FROM customers WHERE name = 'O\\'Brien' /* it's \"quoted\" */");
}

#[test]
fn malformed_records_go_to_stderr_with_file_and_offset_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let good = r#"{"audit_record":{"name":"Connect","record":"1_x","timestamp":"2026-11-29T05:02:38Z","connection_id":"7","status":1045,"user":"u","priv_user":"","os_login":"","proxy_user":"","host":"h","ip":"","db":""}}"#;
    std::fs::write(&path, format!("{good}\nnot a record\n{good}\n")).unwrap();
    let out = bin().args(["parse", path.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 2, "good records are still printed");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with(&format!("{}:{}: ", path.display(), good.len() + 1)), "{err}");
}

#[test]
fn torn_last_record_is_reported_as_incomplete() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    std::fs::write(&path, "20261129 05:02:38,vm,alice,localhost,7,0,FAILED_CONNECT,,,1045\n20261129 05:02:39,vm,al").unwrap();
    let out = bin().args(["parse", "--format", "mariadb", path.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 1);
    assert!(String::from_utf8(out.stderr).unwrap().contains("incomplete record at the end"));
}

#[test]
fn reads_standard_input_and_applies_the_time_zone() {
    let mut child = bin()
        .args(["parse", "--format", "mariadb", "--time-zone", "Europe/Berlin", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"20261129 05:02:38,vm,alice,localhost,7,0,CONNECT,,,0\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["timestamp"], "2026-11-29T04:02:38Z");
    assert_eq!(v["file"], "-");
}

#[test]
fn usage_and_io_errors_exit_2() {
    let out = bin().args(["parse", "/nonexistent/audit.log"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("/nonexistent/audit.log"));
    let out = bin().args(["parse", "--format", "nope", "x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = bin().args(["parse", "--time-zone", "Mars/Olympus", "x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// `parse FILE.gz` (made by the real gzip) prints what `parse FILE` does.
#[test]
fn parses_a_gzip_file_like_the_plain_one() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("audit.log.1");
    std::fs::copy(example("percona-json.log"), &plain).unwrap();
    let want = bin().arg("parse").arg(&plain).output().unwrap();
    let st = Command::new("gzip").arg("-k").arg(&plain).status().unwrap();
    assert!(st.success());
    let gz = dir.path().join("audit.log.1.gz");
    let got = bin().arg("parse").arg(&gz).output().unwrap();
    assert_eq!(got.status.code(), Some(0), "{}", String::from_utf8_lossy(&got.stderr));
    let strip = |out: &[u8], name: &str| String::from_utf8_lossy(out).replace(name, "FILE");
    assert_eq!(strip(&got.stdout, gz.to_str().unwrap()), strip(&want.stdout, plain.to_str().unwrap()));
    assert_eq!(String::from_utf8_lossy(&want.stdout).lines().count(), 8);
}

#[test]
fn a_syslog_file_reads_its_audit_records_and_counts_the_other_programs_lines() {
    let fixture = format!("{}/../audit-model/tests/fixtures/syslog/rsyslog-mariadb-fileformat.log", env!("CARGO_MANIFEST_DIR"));
    for format in ["auto", "syslog+mariadb"] {
        let out = bin().args(["parse", "--format", format, &fixture]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(stderr.contains("4 lines of other programs skipped"), "{stderr}");
        let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 30);
        assert!(lines.iter().all(|l| l["format"] == "syslog+mariadb"));
        assert_eq!(lines.iter().filter(|l| l["failed_login"] == true).count(), 6);
    }
}
