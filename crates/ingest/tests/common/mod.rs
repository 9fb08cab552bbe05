//! Shared helpers of the database tests: a uniquely named database on the shared server (dropped at
//! the end), the `audit-ingest` binary, record generators, polling with a timeout.
#![allow(dead_code, clippy::unwrap_used)]

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use mysql_async::prelude::*;

/// The shared server (root, no password); `AUDIT_TEST_BASE_DSN` overrides it.
pub fn base_dsn() -> String {
    std::env::var("AUDIT_TEST_BASE_DSN").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// The server name the tests' rows carry.
pub fn server() -> audit_schema::ServerName {
    audit_schema::ServerName::new("testhost").unwrap()
}

/// The load method the tests ask for: `AUDIT_INGEST_LOAD_METHOD` (`insert` or `infile`; the binary
/// reads the same variable), else the sink's default (infile when the server allows it). Run the
/// suite once with each to cover both paths.
pub fn load_method() -> Option<ingest::sink::LoadMethod> {
    std::env::var("AUDIT_INGEST_LOAD_METHOD").ok().filter(|v| !v.is_empty()).map(|v| v.parse().unwrap())
}

/// A database name unique to this process and call.
pub fn unique_name(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("ingest_test_{tag}_{}_{}_{:x}", std::process::id(), N.fetch_add(1, Ordering::Relaxed), nanos)
}

/// A database for one test on a server; dropped when the value is (unless `keep` is set).
pub struct TestDb {
    pub rt: tokio::runtime::Runtime,
    pub pool: mysql_async::Pool,
    pub name: String,
    server: String,
    drop_db: bool,
}

impl TestDb {
    /// A fresh database on the shared server.
    pub fn new(tag: &str) -> TestDb {
        TestDb::on(&base_dsn(), tag)
    }

    /// A fresh database on the server of `server_dsn` (`mysql://user@host:port`, any path ignored).
    pub fn on(server_dsn: &str, tag: &str) -> TestDb {
        let server = match server_dsn.rfind('/') {
            Some(i) if i > "mysql://".len() => server_dsn[..i].to_string(),
            _ => server_dsn.to_string(),
        };
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let pool = mysql_async::Pool::new(mysql_async::Opts::from_url(&server).unwrap());
        let name = unique_name(tag);
        let db = TestDb { rt, pool, name, server, drop_db: true };
        db.exec(&format!("CREATE DATABASE `{}` CHARACTER SET utf8mb4", db.name));
        db
    }

    /// The DSN naming this database (what audit-ingest gets).
    pub fn dsn(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }

    /// `db`.`audit_data` and friends.
    pub fn data(&self) -> String {
        format!("`{}`.`audit_data`", self.name)
    }
    pub fn checkpoint(&self) -> String {
        format!("`{}`.`audit_data_checkpoint`", self.name)
    }
    pub fn dead(&self) -> String {
        format!("`{}`.`audit_data_dead_letter`", self.name)
    }

    pub fn exec(&self, sql: &str) {
        let pool = self.pool.clone();
        let sql = sql.to_string();
        self.rt.block_on(async move { pool.get_conn().await?.query_drop(sql).await }).unwrap();
    }

    /// Rows of a query; errors (a table not there yet) are returned.
    pub fn try_query<T: FromRow + Send + 'static>(&self, sql: &str) -> Result<Vec<T>, mysql_async::Error> {
        let pool = self.pool.clone();
        let sql = sql.to_string();
        self.rt.block_on(async move { pool.get_conn().await?.query(sql).await })
    }

    pub fn query<T: FromRow + Send + 'static>(&self, sql: &str) -> Vec<T> {
        self.try_query(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Rows in the data table (0 while it does not exist).
    pub fn count(&self) -> u64 {
        self.try_query::<u64>(&format!("SELECT COUNT(*) FROM {}", self.data())).ok().and_then(|v| v.first().copied()).unwrap_or(0)
    }

    pub fn dead_count(&self) -> u64 {
        self.try_query::<u64>(&format!("SELECT COUNT(*) FROM {}", self.dead())).ok().and_then(|v| v.first().copied()).unwrap_or(0)
    }

    /// The record ids stored, sorted (duplicates kept: a multiset).
    pub fn record_ids(&self) -> Vec<String> {
        let mut v: Vec<String> = self.query(&format!("SELECT JSON_VALUE(audit_record, '$.audit_record.record') FROM {}", self.data()));
        v.sort();
        v
    }

    /// Polls until the data table holds `n` rows; panics with what it holds after `timeout`.
    pub fn wait_count(&self, n: u64, timeout: Duration) {
        let t = Instant::now();
        loop {
            let c = self.count();
            if c == n {
                return;
            }
            assert!(t.elapsed() < timeout, "timed out after {timeout:?}: {c} rows, want {n}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.drop_db && std::env::var("AUDIT_TEST_KEEP").map_or(true, |v| v != "1") {
            let pool = self.pool.clone();
            let sql = format!("DROP DATABASE IF EXISTS `{}`", self.name);
            let _ = self.rt.block_on(async move {
                let r = async { pool.get_conn().await?.query_drop(sql).await }.await;
                let _ = pool.disconnect().await;
                r
            });
        }
    }
}

/// The `audit-ingest` binary.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_audit-ingest")
}

/// `audit-ingest ARGS` with the DSN in the environment and its log in `log` (stderr).
pub fn ingest_cmd(dsn: &str, args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    // Rows carry the same server name as the library-level tests' (see `server`).
    c.args(args).env("AUDIT_INGEST_DSN", dsn).env("AUDIT_INGEST_SERVER", "testhost").env("AUDIT_INGEST_LOG", std::env::var("AUDIT_INGEST_LOG").unwrap_or_else(|_| "warn".into()));
    c
}

/// Spawns `audit-ingest follow` with stderr to `<dir>/follow-<n>.log`.
pub fn spawn_follow(dsn: &str, dir: &Path, extra: &[&str], log: &Path) -> Child {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let err = fs::File::create(dir.join(format!("follow-{n}.stderr"))).unwrap();
    let mut args = vec!["follow", "--heartbeat-secs", "1"];
    args.extend_from_slice(extra);
    let log = log.to_str().unwrap().to_string();
    args.push(&log);
    ingest_cmd(dsn, &args).stdout(Stdio::null()).stderr(err).spawn().unwrap()
}

/// The stderr files of the followers spawned in `dir`, for failure messages.
pub fn follow_logs(dir: &Path) -> String {
    let mut out = String::new();
    let mut files: Vec<_> = fs::read_dir(dir).unwrap().flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "stderr")).collect();
    files.sort();
    for f in files {
        let t = fs::read_to_string(&f).unwrap_or_default();
        if !t.trim().is_empty() {
            out += &format!("--- {}\n{}\n", f.display(), &t[t.len().saturating_sub(3000)..]);
        }
    }
    out
}

pub fn signal(child: &Child, sig: &str) {
    let st = Command::new("kill").arg(format!("-{sig}")).arg(child.id().to_string()).status().unwrap();
    assert!(st.success(), "kill -{sig} failed");
}

/// Waits for a child to exit; kills it and panics after `timeout`.
pub fn wait_exit(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let t = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if t.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!("process {} did not exit within {timeout:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGTERM, and the exit status.
pub fn stop(mut child: Child) -> std::process::ExitStatus {
    signal(&child, "TERM");
    wait_exit(&mut child, Duration::from_secs(20))
}

/// A Percona JSON Connect line with record id `<n>_2026-...`: failed (1045) when `n % 5 == 0`.
pub fn json_line(n: u64) -> String {
    let status = if n % 5 == 0 { 1045 } else { 0 };
    format!(
        r#"{{"audit_record":{{"name":"Connect","record":"{n}_2026-11-29T05:00:00","timestamp":"2026-11-29T05:00:{:02}Z","connection_id":"{n}","status":{status},"user":"u'\\\"{n}","priv_user":"u{n}","os_login":"","proxy_user":"","host":"h","ip":"10.0.0.1","db":""}}}}"#,
        n % 60
    ) + "\n"
}

/// The record id [`json_line`] writes for `n`.
pub fn json_id(n: u64) -> String {
    format!("{n}_2026-11-29T05:00:00")
}

pub fn append(path: &Path, text: &str) {
    let mut f = OpenOptions::new().create(true).append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f.sync_data().ok();
}

/// Lines `from..to` of [`json_line`].
pub fn lines(from: u64, to: u64) -> String {
    (from..to).map(json_line).collect()
}

/// Percona style rotation: `.N` → `.N+1`, ..., the live file → `.1`.
pub fn rotate(log: &Path) {
    let name = log.file_name().unwrap().to_str().unwrap().to_string();
    let dir = log.parent().unwrap();
    let mut n = 1;
    while dir.join(format!("{name}.{n}")).exists() {
        n += 1;
    }
    for i in (1..n).rev() {
        fs::rename(dir.join(format!("{name}.{i}")), dir.join(format!("{name}.{}", i + 1))).unwrap();
    }
    if log.exists() {
        fs::rename(log, dir.join(format!("{name}.1"))).unwrap();
    }
}

/// logrotate's copytruncate: copy to `.1` (after shifting), truncate the live file.
pub fn copytruncate(log: &Path) {
    let name = log.file_name().unwrap().to_str().unwrap().to_string();
    let dir = log.parent().unwrap();
    let mut n = 1;
    while dir.join(format!("{name}.{n}")).exists() {
        n += 1;
    }
    for i in (1..n).rev() {
        fs::rename(dir.join(format!("{name}.{i}")), dir.join(format!("{name}.{}", i + 1))).unwrap();
    }
    fs::copy(log, dir.join(format!("{name}.1"))).unwrap();
    OpenOptions::new().write(true).open(log).unwrap().set_len(0).unwrap();
}

/// Sorted ids `0..n` of [`json_line`].
pub fn ids(range: std::ops::Range<u64>) -> Vec<String> {
    let mut v: Vec<String> = range.map(json_id).collect();
    v.sort();
    v
}

/// A temporary directory holding `audit.log`.
pub fn log_dir() -> (tempfile::TempDir, PathBuf) {
    let mut dir = tempfile::Builder::new().prefix("ingest-test-").tempdir().unwrap();
    if std::env::var("AUDIT_TEST_KEEP").is_ok_and(|v| v == "1") {
        eprintln!("AUDIT_TEST_KEEP=1: keeping {}", dir.path().display());
        dir.disable_cleanup(true);
    }
    let log = dir.path().join("audit.log");
    (dir, log)
}
