//! A log file that cannot be read (permissions) is reported once, naming the path and the OS error,
//! and read as soon as it can be: on a real MariaDB, with the follower run as an unprivileged user
//! (root reads any file), so `setpriv` must be installed when the tests run as root.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{append, ids, lines, TestDb};

#[test]
fn an_unreadable_log_is_reported_once_and_read_once_readable() {
    let db = TestDb::new("unreadable");
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let log = dir.path().join("audit.log");
    append(&log, &lines(0, 5));
    fs::set_permissions(&log, fs::Permissions::from_mode(0o000)).unwrap();
    let root = runs_as_root();
    let mut cmd = if root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", common::bin()]);
        c
    } else {
        Command::new(common::bin())
    };
    let err = dir.path().join("follow.stderr");
    let mut child = cmd
        .args(["follow", "--heartbeat-secs", "1", log.to_str().unwrap()])
        .env("AUDIT_INGEST_DSN", db.dsn())
        .env("AUDIT_INGEST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(fs::File::create(&err).unwrap())
        .spawn()
        .expect("setpriv must be installed to run this test as root");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(db.count(), 0);
    fs::set_permissions(&log, fs::Permissions::from_mode(0o644)).unwrap();
    let t = Instant::now();
    while db.count() < 5 && t.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    common::signal(&child, "TERM");
    common::wait_exit(&mut child, Duration::from_secs(20));
    let text = fs::read_to_string(&err).unwrap();
    assert_eq!(db.record_ids(), ids(0..5), "{text}");
    let reported: Vec<_> = text.lines().filter(|l| l.contains("cannot read an audit log file")).collect();
    assert_eq!(reported.len(), 1, "reported once, not at every retry: {text}");
    assert!(reported[0].contains("audit.log") && reported[0].contains("Permission denied"), "{}", reported[0]);
    assert!(text.contains("readable again"), "{text}");
}

/// Whether this process runs as root (then file permissions do not stop it).
fn runs_as_root() -> bool {
    fs::read_to_string("/proc/self/status").unwrap().lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}
