//! What a new user meets first, through the `audit-ingest` binary: errors said once with the server
//! and the file, files that are no audit log, a closed pipe, colours, `--help`, and the examples (the
//! systemd unit's command lines, the embed example without an argument).
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{bin, ingest_cmd, lines, TestDb};

fn output(cmd: &mut Command) -> (Option<i32>, String, String) {
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

#[test]
fn parse_stops_at_a_file_that_is_no_audit_log() {
    let cargo_toml = workspace().join("Cargo.toml");
    let (code, out, err) = output(Command::new(bin()).arg("parse").arg(&cargo_toml));
    assert_eq!(code, Some(2), "{err}");
    assert!(out.is_empty(), "Cargo.toml taken for records: {out}");
    assert!(err.contains("not an audit log") && err.contains("INI or TOML file (first line: \"[workspace]\")"), "{err}");
    assert!(err.lines().count() <= 12, "a summary after the first errors, not one line a record:\n{err}");

    // The wrong --format: says which format it looks like.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    std::fs::write(&log, lines(0, 50)).unwrap();
    let (code, _, err) = output(Command::new(bin()).args(["parse", "--format", "mariadb"]).arg(&log));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("not an audit log of format mariadb") && err.contains("it looks like percona-json (give --format percona-json or auto)"), "{err}");
    // Bad records among good ones are an audit log with bad records: exit 1, errors summarized.
    let mut text = lines(0, 5);
    text.push_str(&"garbage\n".repeat(40));
    std::fs::write(&log, text).unwrap();
    let (code, out, err) = output(Command::new(bin()).arg("parse").arg(&log));
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(out.lines().count(), 5);
    assert!(err.contains("40 malformed records in all (10 shown)"), "{err}");
}

#[test]
fn format_help_lists_its_values() {
    for cmd in ["follow", "backfill", "parse"] {
        let (code, out, _) = output(Command::new(bin()).args([cmd, "--help"]));
        assert_eq!(code, Some(0));
        assert!(out.contains("possible values: auto, percona-old, percona-new, percona-json"), "{cmd} --help:\n{out}");
        assert!(out.contains("journald+mariadb"), "{cmd} --help:\n{out}");
    }
    let (code, _, err) = output(Command::new(bin()).args(["parse", "--format", "json", "x"]));
    assert_eq!(code, Some(2));
    assert!(err.contains("possible values"), "{err}");
}

/// Standard output closed early (`| head -1`): no panic, exit 0, five times in a row.
#[test]
fn a_closed_pipe_ends_commands_quietly() {
    let db = TestDb::new("pipe");
    let (code, _, err) = output(&mut ingest_cmd(&db.dsn(), &["schema", "--apply"]));
    assert_eq!(code, Some(0), "{err}");
    for args in [&["status"][..], &["sources"], &["schema"]] {
        for _ in 0..5 {
            let mut child = ingest_cmd(&db.dsn(), args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
            drop(child.stdout.take());
            let mut err = String::new();
            child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            let st = child.wait().unwrap();
            assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{args:?}: {err}");
            assert_eq!(st.code(), Some(0), "{args:?}: {err}");
        }
    }
}

#[test]
fn connection_errors_name_the_server_and_say_each_cause_once() {
    // Nobody listens on port 1.
    let (code, _, err) = output(&mut ingest_cmd("mysql://root@127.0.0.1:1/percona", &["status"]));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("127.0.0.1:1"), "{err}");
    assert_eq!(err.matches("Connection refused").count(), 1, "{err}");
    // A wrong password, for status and for follow.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    std::fs::write(&log, lines(0, 3)).unwrap();
    for args in [vec!["status"], vec!["follow", log.to_str().unwrap()]] {
        let (code, _, err) = output(ingest_cmd("mysql://root:wrong@127.0.0.1:3306/percona", &args).env("NO_COLOR", "1"));
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains("127.0.0.1:3306"), "{args:?}: {err}");
        assert_eq!(err.matches("Access denied").count(), 1, "{args:?}: {err}");
    }
}

/// As another user than root (who reads anything), an unreadable log is named once, with what the
/// account needs.
#[test]
fn an_unreadable_log_is_named_once_with_the_hint() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    std::fs::write(&log, lines(0, 3)).unwrap();
    std::fs::set_permissions(&log, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let as_nobody = |args: &[&str]| {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", bin()]).args(args).env("NO_COLOR", "1");
        output(&mut c)
    };
    let (code, _, err) = as_nobody(&["parse", log.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(err.matches("Permission denied").count(), 1, "{err}");
    assert!(err.contains(log.to_str().unwrap()) && err.contains("needs read access to the audit log"), "{err}");
    let (code, _, err) = as_nobody(&["backfill", "--dsn", "mysql://root@127.0.0.1:3306/percona", log.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(err.matches("Permission denied").count(), 1, "{err}");
    assert!(err.contains(log.to_str().unwrap()) && err.contains("needs read access to the audit log"), "{err}");
}

/// A log path that does not exist: said at the start (naming it), in plain text when standard error
/// is a file, and `status` shows it.
#[test]
fn a_missing_log_is_said_at_start_without_colours() {
    let db = TestDb::new("missing");
    let (dir, _) = common::log_dir();
    let missing = dir.path().join("no-such-audit.log");
    let err_path = dir.path().join("follow.stderr");
    let err_file = std::fs::File::create(&err_path).unwrap();
    let child = ingest_cmd(&db.dsn(), &["follow", "--heartbeat-secs", "1", missing.to_str().unwrap()]).env("AUDIT_INGEST_LOG", "info").stdout(Stdio::null()).stderr(err_file).spawn().unwrap();
    let t = Instant::now();
    let text = loop {
        let text = std::fs::read_to_string(&err_path).unwrap();
        if text.contains("does not exist") {
            break text;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "follow never said the log is missing:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(text.contains(missing.to_str().unwrap()), "{text}");
    assert!(!text.contains('\x1b'), "ANSI colours in a file: {text:?}");
    let (code, out, _) = output(&mut ingest_cmd(&db.dsn(), &["status"]));
    assert_eq!(code, Some(0));
    assert!(out.lines().any(|l| l.contains("MISSING") && l.contains(missing.to_str().unwrap())), "{out}");
    assert_eq!(common::stop(child).code(), Some(0));
    assert_eq!(text.matches("does not exist").count(), 1, "said once until a minute has passed: {text}");
}

/// Every `ExecStart` of the systemd unit (the commented variants too) is a valid command line: it
/// fails only on the option file, which does not exist.
#[test]
fn the_systemd_units_command_lines_parse() {
    let unit = std::fs::read_to_string(workspace().join("examples/audit-ingest.service")).unwrap();
    let lines: Vec<&str> = unit.lines().filter_map(|l| l.trim_start_matches('#').strip_prefix("ExecStart=/usr/local/bin/audit-ingest ")).collect();
    assert_eq!(lines.len(), 3, "{unit}");
    // The option file's path is swapped for one that exists nowhere: on a host where the package is
    // installed, /etc/audit-ingest/client.cnf exists and the command would try to log in.
    let missing = std::env::temp_dir().join(format!("audit-ingest-test-{}/client.cnf", std::process::id()));
    for line in lines {
        assert!(line.contains("--defaults-file /etc/audit-ingest/client.cnf"), "{line}");
        let args: Vec<String> = line.split_whitespace().map(|a| if a == "/etc/audit-ingest/client.cnf" { missing.display().to_string() } else { a.to_string() }).collect();
        let (code, _, err) = output(Command::new(bin()).args(&args));
        assert_eq!(code, Some(2), "{line}: {err}");
        assert!(err.contains(&missing.display().to_string()) && !err.contains("Usage:"), "{line}: {err}");
    }
}

#[test]
fn the_embed_example_without_an_argument_prints_its_usage() {
    let exe = std::env::current_exe().unwrap();
    let embed = exe.parent().unwrap().parent().unwrap().join("examples/embed");
    let (code, _, err) = output(&mut Command::new(&embed));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.starts_with("usage: cargo run -p ingest --example embed -- AUDIT_LOG"), "{err}");
    assert!(!err.contains('"'), "{err}");
}

/// The docs a user reads point inside the repository: relative links and backquoted paths of the
/// READMEs resolve, and nothing refers to the development machine's folder beside the checkout.
#[test]
fn docs_point_inside_the_repository() {
    for (doc, base) in [("README.md", ""), ("examples/logs/README.md", "examples/logs")] {
        let text = std::fs::read_to_string(workspace().join(doc)).unwrap();
        // Spelled in pieces so that this file itself names no outside folder.
        let (outside, reference) = (concat!("../", "sha", "red"), concat!("sha", "red/", "reference"));
        assert!(!text.contains(outside) && !text.contains(reference), "{doc} refers outside the repository");
        let links = text.split("](").skip(1).filter_map(|s| s.split(')').next());
        let quoted = text.split('`').skip(1).step_by(2).filter(|s| ["crates/", "examples/", "checks/", "templates/"].iter().any(|p| s.starts_with(p)) && !s.contains(' ') && !s.contains('*'));
        for target in links.filter(|l| !l.starts_with("http") && !l.starts_with('#')).chain(quoted) {
            let path = target.split('#').next().unwrap();
            let resolved = if target.starts_with("crates/") || target.starts_with("examples/") || target.starts_with("checks/") || target.starts_with("templates/") { workspace().join(path) } else { workspace().join(base).join(path) };
            assert!(resolved.exists(), "{doc}: {target} does not exist");
        }
    }
}

/// `follow` on a file that is no audit log: its first records are dead-lettered and counted, then it
/// stops reading it and says what it looks like; it keeps running (waiting for a rotation).
#[test]
fn follow_stops_reading_a_file_that_is_no_audit_log() {
    let db = TestDb::new("notaudit");
    let (dir, log) = common::log_dir();
    let text: String = (0..200).map(|i| format!("[section{i}]\nkey = \"value\"\n")).collect();
    std::fs::write(&log, text).unwrap();
    let child = common::spawn_follow(&db.dsn(), dir.path(), &[], &log);
    let t = Instant::now();
    let logs = loop {
        let logs = common::follow_logs(dir.path());
        if logs.contains("not read further") {
            break logs;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "follow never gave up:\n{logs}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(logs.contains("its first 20 records are all malformed") && logs.contains("an INI or TOML file (first line: \"[section0]\")"), "{logs}");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(db.dead_count(), 20, "the first records are dead-lettered, then nothing more is read");
    assert_eq!(db.count(), 0);
    assert_eq!(common::stop(child).code(), Some(0));
}
