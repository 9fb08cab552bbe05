//! Shared helpers of the end-to-end tests: the workspace's `audit-ingest` and `check-gen` binaries,
//! a follower process stopped with SIGTERM, polling with a timeout, `check-gen run --format json`,
//! and the connect records of the real audit log and of the table, to compare them.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use test_harness::MariaDb;

/// The data table `audit-ingest` fills (database `percona`, the default).
pub const TABLE: &str = "percona.audit_data";

/// The directory holding the workspace's binaries: the parent of the test executable's `deps`.
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("the test executable has a directory");
    let dir = if deps.file_name().is_some_and(|n| n == "deps") {
        deps.parent().expect("deps has a parent")
    } else {
        deps
    };
    dir.to_path_buf()
}

/// The path of a workspace binary (`audit-ingest`, `check-gen`); panics with how to build it.
pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} not found: build them first: cargo build -p ingest -p check-gen --features check-gen/full",
        path.display()
    );
    path
}

/// Starts a throwaway MariaDB (see `test_harness`), panicking with the harness's report on failure.
pub fn start_server(builder: test_harness::Builder) -> MariaDb {
    builder.start().unwrap_or_else(|e| panic!("cannot start MariaDB: {e}"))
}

/// The server's DSN with database `percona` (where audit-ingest keeps its tables).
pub fn percona_dsn(db: &MariaDb) -> String {
    let dsn = db.dsn();
    let base = dsn.strip_suffix("/test").expect("the harness DSN ends in /test");
    format!("{base}/percona")
}

/// The server's DSN without a database, as `check-gen run` documents it.
pub fn server_dsn(db: &MariaDb) -> String {
    let dsn = db.dsn();
    let base = dsn.strip_suffix("/test").expect("the harness DSN ends in /test");
    format!("{base}/")
}

/// Polls `f` every 200 ms until it returns `Some`, for at most `timeout`; panics naming `what`
/// (and the last value seen by `f`, which it may report through `last`) on timeout.
pub fn wait_until<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting until {what}"
        );
        thread::sleep(Duration::from_millis(200));
    }
}

/// Runs SQL as root; `None` when it fails (e.g. the table does not exist yet).
pub fn try_sql(db: &MariaDb, sql: &str) -> Option<String> {
    db.sql(sql).ok()
}

/// Runs SQL as root; panics with the harness's report when it fails.
pub fn sql(db: &MariaDb, sql: &str) -> String {
    db.sql(sql).unwrap_or_else(|e| panic!("SQL failed: {e}"))
}

/// A single number a query returns; `None` when the query fails.
pub fn try_count(db: &MariaDb, query: &str) -> Option<u64> {
    try_sql(db, query).and_then(|s| s.trim().parse().ok())
}

/// A running `audit-ingest follow` of the server's audit log; its output goes to a file in the
/// server's directory. Dropping it kills it (a test that panicked); [`Follower::stop`] sends SIGTERM.
#[derive(Debug)]
pub struct Follower {
    child: Option<Child>,
    output: PathBuf,
}

impl Follower {
    /// `AUDIT_INGEST_DSN=<percona dsn> audit-ingest follow --format mariadb --time-zone system
    /// --heartbeat-secs 1 <extra> <audit log>`. The server writes local time in the machine's zone,
    /// the same `system` zone the ingester reads.
    pub fn start(db: &MariaDb, extra: &[&str]) -> Follower {
        Follower::start_to(db, &db.audit_log_path(), &percona_dsn(db), extra)
    }

    /// The same, following `log` into the server at `dsn`; its output goes into `db`'s directory.
    pub fn start_to(db: &MariaDb, log: &Path, dsn: &str, extra: &[&str]) -> Follower {
        let n = fs::read_dir(db.dir())
            .map(|d| {
                d.filter(|e| {
                    e.as_ref()
                        .is_ok_and(|e| e.file_name().to_string_lossy().starts_with("follower-"))
                })
                .count()
            })
            .unwrap_or(0);
        let output = db.dir().join(format!("follower-{n}.log"));
        let out = fs::File::create(&output).expect("create the follower's log");
        let err = out.try_clone().expect("clone the follower's log");
        let child = Command::new(bin("audit-ingest"))
            .arg("follow")
            .args(["--format", "mariadb", "--time-zone", "system", "--heartbeat-secs", "1"])
            .args(extra)
            .arg(log)
            .env("AUDIT_INGEST_DSN", dsn)
            .env("AUDIT_INGEST_LOG", "info")
            .env_remove("AUDIT_INGEST_SERVER")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("start audit-ingest follow");
        Follower {
            child: Some(child),
            output,
        }
    }

    /// Whether it exited, with its status.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().expect("running").try_wait().expect("wait for audit-ingest")
    }

    /// SIGKILL: no chance to commit anything; returns once it is gone.
    pub fn kill9(mut self) {
        let mut child = self.child.take().expect("running");
        let _ = child.kill();
        let _ = child.wait();
    }

    /// What the follower wrote so far.
    pub fn output(&self) -> String {
        fs::read_to_string(&self.output).unwrap_or_default()
    }

    /// Panics (with its output) if the follower exited.
    pub fn assert_running(&mut self) {
        let child = self.child.as_mut().expect("running");
        if let Ok(Some(status)) = child.try_wait() {
            panic!("audit-ingest follow exited with {status}:\n{}", self.output());
        }
    }

    /// SIGTERM (`kill -TERM`), then waits up to 20 s; returns the exit status.
    pub fn stop(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().expect("wait for audit-ingest") {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("audit-ingest did not exit within 20 s of SIGTERM:\n{}", self.output());
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            if thread::panicking() {
                eprintln!("audit-ingest output:\n{}", self.output());
            }
        }
    }
}

/// `check-gen <pre...> run --dsn <server> --format json --only <check>`: the alerts, parsed.
/// `pre` goes before `run` (e.g. `--checks DIR`). Panics unless it exits 0 with a JSON array.
pub fn check_gen_run(db: &MariaDb, pre: &[&str], check: &str) -> Vec<serde_json::Value> {
    let out = Command::new(bin("check-gen"))
        .args(pre)
        .args(["run", "--dsn", &server_dsn(db), "--format", "json", "--only", check])
        .env_remove("CHECK_GEN_DSN")
        .stdin(Stdio::null())
        .output()
        .expect("run check-gen");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "check-gen run failed ({}):\nstdout: {stdout}\nstderr: {stderr}",
        out.status
    );
    let value: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("check-gen printed no JSON ({e}):\n{stdout}\nstderr: {stderr}"));
    match value {
        serde_json::Value::Array(alerts) => alerts,
        other => panic!("check-gen printed no JSON array: {other}"),
    }
}

/// The audited server's name the ingester stored (`--server`, default the host name): the one
/// `server` value of the table; panics unless there is exactly one.
pub fn ingested_server(db: &MariaDb) -> String {
    let out = sql(db, &format!("SELECT DISTINCT server FROM {TABLE}"));
    let names: Vec<&str> = out.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    assert_eq!(names.len(), 1, "one server name expected in {TABLE}: {names:?}");
    names[0].to_string()
}

/// A label of an alert, as a string ("" when missing).
pub fn label<'a>(alert: &'a serde_json::Value, name: &str) -> &'a str {
    alert["labels"][name].as_str().unwrap_or_default()
}

/// Runs a command, returning its status, stdout and stderr.
pub fn run(cmd: &mut Command) -> (ExitStatus, String, String) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A login record: connection id, user, failed?
pub type Login = (u64, String, bool);

/// The audit log files: the live one and every rotated one. MariaDB names the rotated files with as
/// many digits as `server_audit_file_rotations` has (`.1` with 9 rotations, `.001` with 999), so they
/// are listed, not guessed: `server_audit.log.<digits>`.
pub fn audit_files(db: &MariaDb) -> Vec<PathBuf> {
    let live = db.audit_log_path();
    let prefix = format!("{}.", live.file_name().unwrap().to_string_lossy());
    let mut rotated: Vec<(u32, PathBuf)> = fs::read_dir(db.dir())
        .expect("list the server's directory")
        .filter_map(|e| {
            let e = e.ok()?;
            let name = e.file_name().to_string_lossy().into_owned();
            let n = name.strip_prefix(&prefix)?;
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some((n.parse().ok()?, e.path()))
        })
        .collect();
    rotated.sort();
    let mut files = vec![live];
    files.extend(rotated.into_iter().map(|(_, p)| p));
    files
}

/// The `CONNECT` and `FAILED_CONNECT` lines of the audit log files, except the successful logins of
/// `root` (the harness's and the tools' own, which audit-ingest stores like any session's but whose
/// number depends on the harness: [`table_logins`] leaves them out too), sorted.
/// A server_audit line: `time,serverhost,user,host,connection_id,query_id,operation,db,object,retcode`.
pub fn log_logins(db: &MariaDb) -> Vec<Login> {
    log_logins_except(db, "root")
}

/// The same, leaving out the successful logins of `ingester` (the account audit-ingest logs in as).
pub fn log_logins_except(db: &MariaDb, ingester: &str) -> Vec<Login> {
    let mut logins = Vec::new();
    for file in audit_files(db) {
        let text = match fs::read(&file) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => panic!("cannot read {}: {e}", file.display()),
        };
        logins.extend(parse_logins(&text, ingester));
    }
    logins.sort();
    logins
}

fn parse_logins(text: &str, ingester: &str) -> Vec<Login> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.splitn(10, ',').collect();
            if f.len() < 7 {
                return None;
            }
            let failed = match f[6] {
                "CONNECT" => false,
                "FAILED_CONNECT" => true,
                _ => return None,
            };
            if f[2] == ingester && !failed {
                return None;
            }
            Some((f[4].parse().ok()?, f[2].to_string(), failed))
        })
        .collect()
}

/// The table's rows of kind `connect` except the successful logins of `ingester` (as
/// [`log_logins_except`] leaves them out), sorted; `None` while the table does not exist.
pub fn table_logins(db: &MariaDb, ingester: &str) -> Option<Vec<Login>> {
    let out = try_sql(
        db,
        &format!("SELECT connection_id, COALESCE(user, ''), is_failed_login FROM {TABLE} WHERE kind = 'connect' AND (is_failed_login = 1 OR COALESCE(user, '') <> '{ingester}')"),
    )?;
    let mut rows: Vec<Login> = out
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 3, "unexpected row {l:?}");
            (f[0].parse().expect("connection_id"), f[1].to_string(), f[2] == "1")
        })
        .collect();
    rows.sort();
    Some(rows)
}

/// Waits until the table's connect rows equal the log's connect lines (as multisets); returns them.
pub fn wait_table_matches_log(db: &MariaDb, timeout: Duration) -> Vec<Login> {
    wait_table_matches_log_except(db, "root", timeout)
}

/// The same for an ingester logged in as `ingester`.
pub fn wait_table_matches_log_except(db: &MariaDb, ingester: &str, timeout: Duration) -> Vec<Login> {
    let deadline = Instant::now() + timeout;
    loop {
        let log = log_logins_except(db, ingester);
        let table = table_logins(db, ingester);
        if table.as_ref() == Some(&log) {
            return log;
        }
        if Instant::now() >= deadline {
            let table = table.unwrap_or_default();
            let missing: Vec<_> = diff(&log, &table);
            let extra: Vec<_> = diff(&table, &log);
            panic!(
                "after {timeout:?} the table's logins differ from the log's: {} in the log, {} in \
                 the table; missing from the table: {missing:?}; extra (duplicated or unknown) in \
                 the table: {extra:?}",
                log.len(),
                table.len()
            );
        }
        thread::sleep(Duration::from_millis(300));
    }
}

/// The elements of sorted `a` not matched one to one in sorted `b`.
fn diff(a: &[Login], b: &[Login]) -> Vec<Login> {
    let mut rest: Vec<Login> = b.to_vec();
    let mut out = Vec::new();
    for x in a {
        match rest.iter().position(|y| y == x) {
            Some(i) => {
                rest.remove(i);
            }
            None => out.push(x.clone()),
        }
    }
    out
}

/// The workspace's `checks/` directory.
pub fn checks_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../checks")
}
