//! A throwaway MariaDB server for tests, with the `server_audit` plugin logging to a file.
//!
//! [`MariaDb::start`] runs `mariadb-install-db` into a fresh temporary directory, starts `mariadbd`
//! on a free TCP port on 127.0.0.1 with `server_audit` writing `server_audit.log` into that
//! directory, and returns once the server accepts connections. Tests can then make real logins (good
//! and failed) and read the real audit log. Dropping the [`MariaDb`] kills the server and removes the
//! directory (set `AUDIT_TEST_KEEP=1` to keep it; its path is printed).
//!
//! Needs the MariaDB server and client binaries (`mariadbd`, `mariadb-install-db`, `mariadb`,
//! Debian's `mariadb-server` + `mariadb-client`). When run as root, `mariadbd` is started with
//! `--user=root`.
//!
//! What the server looks like after `start()`:
//! - `root@localhost` and `root@127.0.0.1` log in over TCP with an empty password;
//! - the anonymous accounts `mariadb-install-db` creates are gone, so an unknown user's login fails
//!   with 1045 instead of matching the anonymous account;
//! - database `test` exists; [`MariaDb::dsn`] points at it;
//! - the audit log is empty: setup runs from `--init-file` and readiness is read from `error.log`,
//!   so neither leaves audit records. Every later [`MariaDb::sql`] or [`MariaDb::create_user`] call
//!   is a real root login and leaves its own `root` `CONNECT`/`DISCONNECT` pair.
//!
//! Over TCP from 127.0.0.1 the audit log's host field is `localhost` (the server resolves the
//! address), and the serverhost field is the machine's host name.
//!
//! ```no_run
//! use test_harness::{LoginOutcome, MariaDb};
//!
//! # fn main() -> Result<(), test_harness::HarnessError> {
//! // Prefer an external server when the environment names one.
//! if let Some(dsn) = test_harness::external_dsn() {
//!     println!("using {dsn}");
//!     return Ok(());
//! }
//! let mut db = MariaDb::builder()
//!     .audit_events("CONNECT,QUERY")
//!     .audit_rotate_size(4096)
//!     .audit_rotations(3)
//!     .start()?;
//! db.create_user("alice", "secret")?;
//! assert_eq!(db.try_login("alice", "secret"), LoginOutcome::Ok);
//! assert_eq!(db.try_login("alice", "wrong").code(), Some(1045));
//! db.sql("CREATE TABLE t (x INT); INSERT INTO t VALUES (1)")?;
//! db.restart()?; // same data directory, port and options
//! assert_eq!(db.sql("SELECT x FROM t")?, "1\n");
//! let log = db.read_audit_log()?;
//! assert!(log.contains(",alice,localhost,"));
//! println!("{} at {}", db.dsn(), db.audit_log_path().display());
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::fs;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

mod replication;
pub use replication::{replica_status, ReplicaPair, ReplicaStatus, REPLICATION_USER};

/// How long to wait for the server to accept connections, and for it to exit on shutdown.
const TIMEOUT: Duration = Duration::from_secs(30);
/// How often to poll while waiting.
const POLL: Duration = Duration::from_millis(50);
/// The line `mariadbd` writes to its error log once it accepts connections.
const READY_LINE: &str = "ready for connections";
/// Written to the error log when the port is taken (another process grabbed it after we picked it).
const BIND_FAILED: &str = "Bind on TCP/IP port";
/// How many times `start` picks a new port when the picked one was taken meanwhile.
const PORT_ATTEMPTS: usize = 3;

/// The DSN of an external server to use instead of a throwaway one: env `AUDIT_TEST_DSN`, if set and
/// not empty.
pub fn external_dsn() -> Option<String> {
    std::env::var("AUDIT_TEST_DSN")
        .ok()
        .filter(|dsn| !dsn.trim().is_empty())
}

/// A failure of the harness, with the command that failed, its exit status and the tail of its
/// standard error (or of the server's error log) when there is one.
#[derive(Debug)]
pub struct HarnessError {
    message: String,
    command: Option<String>,
    status: Option<ExitStatus>,
    stderr_tail: Option<String>,
    source: Option<io::Error>,
}

impl HarnessError {
    fn new(message: impl Into<String>) -> Self {
        HarnessError {
            message: message.into(),
            command: None,
            status: None,
            stderr_tail: None,
            source: None,
        }
    }

    fn io(message: impl Into<String>, source: io::Error) -> Self {
        HarnessError {
            source: Some(source),
            ..HarnessError::new(message)
        }
    }

    fn command(mut self, command: &Command) -> Self {
        self.command = Some(describe(command));
        self
    }

    fn output(mut self, output: &Output) -> Self {
        self.status = Some(output.status);
        self.stderr_tail = Some(tail(&String::from_utf8_lossy(&output.stderr)));
        self
    }

    fn tail_of(mut self, text: &str) -> Self {
        self.stderr_tail = Some(tail(text));
        self
    }

    /// What failed.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The command line that failed, if a command failed.
    pub fn failed_command(&self) -> Option<&str> {
        self.command.as_deref()
    }

    /// The failed command's exit status.
    pub fn status(&self) -> Option<ExitStatus> {
        self.status
    }

    /// The last lines of the command's standard error, or of the server's `error.log`.
    pub fn stderr_tail(&self) -> Option<&str> {
        self.stderr_tail.as_deref()
    }
}

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        if let Some(command) = &self.command {
            write!(f, "\n  command: {command}")?;
        }
        if let Some(status) = &self.status {
            write!(f, "\n  status: {status}")?;
        }
        if let Some(tail) = self.stderr_tail.as_deref().filter(|t| !t.is_empty()) {
            write!(f, "\n  output (tail):")?;
            for line in tail.lines() {
                write!(f, "\n    {line}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for HarnessError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// The result of one login attempt made with [`MariaDb::try_login`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginOutcome {
    /// The login succeeded and `SELECT 1` ran.
    Ok,
    /// The client failed. `code` is the MariaDB error number (1045: access denied); 0 when the
    /// client's output held none (the message then says what happened).
    Failed {
        /// MariaDB error number, e.g. 1045.
        code: u32,
        /// The client's message, e.g. `Access denied for user 'bob'@'localhost' (using password: YES)`.
        message: String,
    },
}

impl LoginOutcome {
    /// True for [`LoginOutcome::Ok`].
    pub fn is_ok(&self) -> bool {
        matches!(self, LoginOutcome::Ok)
    }

    /// The error number of a failed login.
    pub fn code(&self) -> Option<u32> {
        match self {
            LoginOutcome::Ok => None,
            LoginOutcome::Failed { code, .. } => Some(*code),
        }
    }
}

/// Options of a throwaway server; made by [`MariaDb::builder`].
#[derive(Debug, Clone)]
pub struct Builder {
    audit_events: String,
    audit_rotate_size: u64,
    audit_rotations: u32,
    server_args: Vec<String>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            audit_events: "CONNECT".to_owned(),
            audit_rotate_size: 1_000_000,
            audit_rotations: 9,
            server_args: Vec::new(),
        }
    }
}

impl Builder {
    /// `server_audit_events`, e.g. `"CONNECT"` (the default) or `"CONNECT,QUERY"`.
    pub fn audit_events(mut self, events: &str) -> Self {
        events.clone_into(&mut self.audit_events);
        self
    }

    /// `server_audit_file_rotate_size` in bytes (default 1,000,000, MariaDB's default).
    pub fn audit_rotate_size(mut self, bytes: u64) -> Self {
        self.audit_rotate_size = bytes;
        self
    }

    /// `server_audit_file_rotations` (default 9; 0 disables rotation).
    pub fn audit_rotations(mut self, n: u32) -> Self {
        self.audit_rotations = n;
        self
    }

    /// One more `mariadbd` option, e.g. `"--server-audit-query-log-limit=100"`; kept on restart.
    pub fn server_arg(mut self, arg: &str) -> Self {
        self.server_args.push(arg.to_owned());
        self
    }

    /// Creates the data directory and starts the server.
    pub fn start(self) -> Result<MariaDb, HarnessError> {
        if self.audit_events.is_empty()
            || !self
                .audit_events
                .bytes()
                .all(|b| b.is_ascii_alphabetic() || b == b'_' || b == b',')
        {
            return Err(HarnessError::new(format!(
                "invalid audit events {:?}: expected e.g. CONNECT,QUERY",
                self.audit_events
            )));
        }
        MariaDb::start_with(self)
    }
}

/// A throwaway `mariadbd` with its own temporary directory, port and audit log.
///
/// Layout of [`MariaDb::dir`]: `data/` (the datadir), `mysqld.sock`, `mysqld.pid`, `error.log`,
/// `server_audit.log` (and its rotations `server_audit.log.1` ...), `init.sql`, `install.log`.
#[derive(Debug)]
pub struct MariaDb {
    /// `None` only during drop.
    tempdir: Option<TempDir>,
    dir: PathBuf,
    port: u16,
    options: Builder,
    child: Option<Child>,
}

impl MariaDb {
    /// Starts a server with the default options (audit events `CONNECT`).
    pub fn start() -> Result<MariaDb, HarnessError> {
        Builder::default().start()
    }

    /// Options for a server: audit events, rotation size and count.
    pub fn builder() -> Builder {
        Builder::default()
    }

    fn start_with(options: Builder) -> Result<MariaDb, HarnessError> {
        let tempdir = tempfile::Builder::new()
            .prefix("mariadb-test-")
            .tempdir()
            .map_err(|e| HarnessError::io("cannot create a temporary directory", e))?;
        let dir = tempdir.path().to_path_buf();
        let mut db = MariaDb {
            tempdir: Some(tempdir),
            dir,
            port: 0,
            options,
            child: None,
        };
        db.install()?;
        let init = db.dir.join("init.sql");
        fs::write(&init, INIT_SQL).map_err(|e| HarnessError::io("cannot write init.sql", e))?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            db.port = free_port()?;
            match db.spawn(Some(&init)) {
                Ok(()) => return Ok(db),
                Err(e)
                    if attempt < PORT_ATTEMPTS
                        && e.stderr_tail().is_some_and(|t| t.contains(BIND_FAILED)) => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn install(&self) -> Result<(), HarnessError> {
        let mut cmd = Command::new("mariadb-install-db");
        cmd.arg("--no-defaults")
            .arg("--auth-root-authentication-method=normal")
            .arg(format!("--datadir={}", self.data_dir().display()))
            .arg("--skip-test-db");
        if running_as_root() {
            cmd.arg("--user=root");
        }
        // Passed on to the bootstrap mariadbd; must match the server's options below. Each server
        // keeps its temporary tables in its own folder: concurrent bootstraps sharing /tmp were seen
        // to fail with "Unknown table 'mysql.tmp_user_sys'".
        let tmp = self.dir.join("tmp");
        fs::create_dir_all(&tmp).map_err(|e| HarnessError::io("creating the tmpdir", e))?;
        cmd.args(SIZE_ARGS).arg(format!("--tmpdir={}", tmp.display()));
        let log = self.dir.join("install.log");
        let output = match run(&mut cmd, "mariadb-install-db") {
            Ok(o) => o,
            // One retry into a clean data directory: a bootstrap can still lose a race it did not cause.
            Err(_) => {
                let _ = fs::remove_dir_all(self.data_dir());
                run(&mut cmd, "mariadb-install-db")?
            }
        };
        // Best effort: the log only helps a human debugging a kept directory.
        let _ = fs::write(&log, [output.stdout, output.stderr].concat());
        Ok(())
    }

    fn server_command(&self, init_file: Option<&Path>) -> Command {
        let o = &self.options;
        let mut cmd = Command::new("mariadbd");
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", self.data_dir().display()))
            .arg(format!("--socket={}", self.socket_path().display()))
            .arg(format!("--port={}", self.port))
            .arg("--bind-address=127.0.0.1")
            .arg(format!(
                "--pid-file={}",
                self.dir.join("mysqld.pid").display()
            ))
            .arg(format!("--log-error={}", self.error_log_path().display()))
            .arg(format!("--tmpdir={}", self.dir.join("tmp").display()));
        if running_as_root() {
            cmd.arg("--user=root");
        }
        cmd.args(SIZE_ARGS)
            .arg("--plugin-load-add=server_audit")
            .arg("--server-audit-logging=ON")
            .arg("--server-audit-output-type=file")
            .arg(format!(
                "--server-audit-file-path={}",
                self.audit_log_path().display()
            ))
            .arg(format!("--server-audit-events={}", o.audit_events))
            .arg(format!(
                "--server-audit-file-rotate-size={}",
                o.audit_rotate_size
            ))
            .arg(format!(
                "--server-audit-file-rotations={}",
                o.audit_rotations
            ))
            .args(&o.server_args);
        if let Some(init) = init_file {
            cmd.arg(format!("--init-file={}", init.display()));
        }
        cmd
    }

    /// Starts mariadbd and waits until its error log says it accepts connections.
    fn spawn(&mut self, init_file: Option<&Path>) -> Result<(), HarnessError> {
        let error_log = self.error_log_path();
        let offset = fs::metadata(&error_log).map(|m| m.len()).unwrap_or(0);
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("mariadbd.out"))
            .map_err(|e| HarnessError::io("cannot open mariadbd.out", e))?;
        let out_err = out
            .try_clone()
            .map_err(|e| HarnessError::io("cannot open mariadbd.out", e))?;
        let mut cmd = self.server_command(init_file);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(out_err));
        let child = cmd
            .spawn()
            .map_err(|e| HarnessError::io("cannot start mariadbd", e).command(&cmd))?;
        self.child = Some(child);
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let log = read_from(&error_log, offset);
            if log.contains(READY_LINE) {
                return Ok(());
            }
            let exited = match self.child.as_mut().map(Child::try_wait) {
                Some(Ok(Some(status))) => Some(status),
                _ => None,
            };
            if let Some(status) = exited {
                self.child = None;
                let mut err = HarnessError::new("mariadbd exited during startup")
                    .command(&cmd)
                    .tail_of(&log);
                err.status = Some(status);
                return Err(err);
            }
            if Instant::now() > deadline {
                let _ = self.kill();
                return Err(HarnessError::new(format!(
                    "mariadbd did not accept connections within {} s",
                    TIMEOUT.as_secs()
                ))
                .command(&cmd)
                .tail_of(&read_from(&error_log, offset)));
            }
            thread::sleep(POLL);
        }
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `mysql://root@127.0.0.1:<port>/test`.
    pub fn dsn(&self) -> String {
        format!("mysql://root@127.0.0.1:{}/test", self.port)
    }

    /// The temporary directory holding everything of this server.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The datadir, `<dir>/data`.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The Unix socket, `<dir>/mysqld.sock`.
    pub fn socket_path(&self) -> PathBuf {
        self.dir.join("mysqld.sock")
    }

    /// The live audit log, `<dir>/server_audit.log`; rotated files add `.1`, `.2`, ...
    pub fn audit_log_path(&self) -> PathBuf {
        self.dir.join("server_audit.log")
    }

    /// The `n`th rotated audit log, `<dir>/server_audit.log.<n>` (1 is the newest).
    pub fn rotated_audit_log_path(&self, n: u32) -> PathBuf {
        self.dir.join(format!("server_audit.log.{n}"))
    }

    /// The server's error log, `<dir>/error.log` (kept across restarts).
    pub fn error_log_path(&self) -> PathBuf {
        self.dir.join("error.log")
    }

    /// The live audit log's content ("" when it does not exist yet).
    pub fn read_audit_log(&self) -> Result<String, HarnessError> {
        match fs::read(self.audit_log_path()) {
            Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(HarnessError::io("cannot read the audit log", e)),
        }
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// True while the server process started by this harness runs.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(_) => {
                self.child = None;
                false
            }
            None => false,
        }
    }

    fn client(&self) -> Command {
        let mut cmd = self.client_with_column_names();
        cmd.arg("--skip-column-names");
        cmd
    }

    fn client_with_column_names(&self) -> Command {
        let mut cmd = Command::new("mariadb");
        cmd.arg("--no-defaults")
            .arg("--protocol=TCP")
            .arg("--host=127.0.0.1")
            .arg(format!("--port={}", self.port))
            .arg("--batch");
        for var in [
            "MYSQL_PWD",
            "MYSQL_HOST",
            "MYSQL_TCP_PORT",
            "MYSQL_UNIX_PORT",
        ] {
            cmd.env_remove(var);
        }
        cmd
    }

    /// Runs SQL (one or more `;`-separated statements) as root over TCP in database `test`, with the
    /// `mariadb` client in batch mode (`--batch --skip-column-names`: tab-separated, one line a row);
    /// returns its standard output.
    pub fn sql(&self, sql: &str) -> Result<String, HarnessError> {
        let mut cmd = self.client();
        cmd.arg("--user=root").arg("--database=test");
        let output = run_with_stdin(&mut cmd, sql, "mariadb client (root)")?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Like [`MariaDb::sql`], with the client's vertical output (`name: value` lines), for statements
    /// such as `SHOW SLAVE STATUS` whose columns are read by name.
    pub fn sql_vertical(&self, sql: &str) -> Result<String, HarnessError> {
        let mut cmd = self.client_with_column_names();
        cmd.arg("--user=root").arg("--database=test").arg("--vertical");
        let output = run_with_stdin(&mut cmd, sql, "mariadb client (root)")?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// One real login over TCP as `user` running `SELECT 1`. The password goes through the
    /// `MYSQL_PWD` environment variable, never the command line; an empty password means no password.
    /// Any user name may be given (no SQL is built from it).
    pub fn try_login(&self, user: &str, password: &str) -> LoginOutcome {
        let mut cmd = self.client();
        cmd.arg(format!("--user={user}"))
            .arg("--execute=SELECT 1")
            .stdin(Stdio::null());
        if !password.is_empty() {
            cmd.env("MYSQL_PWD", password);
        }
        match cmd.output() {
            Ok(output) if output.status.success() => LoginOutcome::Ok,
            Ok(output) => parse_client_error(&String::from_utf8_lossy(&output.stderr)),
            Err(e) => LoginOutcome::Failed {
                code: 0,
                message: format!("cannot run the mariadb client: {e}"),
            },
        }
    }

    /// Creates (or replaces) `user@'%'` with `password` and grants it all privileges on database
    /// `test`. Names are limited to `[A-Za-z0-9_]`; passwords may not hold quotes, backslashes or
    /// control characters. For other grants use [`MariaDb::sql`] as root.
    pub fn create_user(&self, user: &str, password: &str) -> Result<(), HarnessError> {
        validate_user(user)?;
        validate_password(password)?;
        self.sql(&format!(
            "CREATE OR REPLACE USER '{user}'@'%' IDENTIFIED BY '{password}';\n\
             GRANT ALL PRIVILEGES ON test.* TO '{user}'@'%';\n"
        ))?;
        Ok(())
    }

    /// Stops the server gracefully (SIGTERM, then waits up to 30 s; SIGKILL after that). Does
    /// nothing when it is not running. Sends no SQL, so it leaves no audit record.
    pub fn stop(&mut self) -> Result<(), HarnessError> {
        let Some(child) = self.child.as_mut() else {
            return Ok(());
        };
        let pid = child.id();
        if let Ok(Some(_)) = child.try_wait() {
            self.child = None;
            return Ok(());
        }
        let mut cmd = Command::new("kill");
        cmd.arg("-TERM").arg(pid.to_string());
        if let Err(e) = run(&mut cmd, "kill -TERM") {
            // Fall back to a shutdown over SQL.
            let mut admin = Command::new("mariadb-admin");
            admin
                .arg("--no-defaults")
                .arg("--protocol=TCP")
                .arg("--host=127.0.0.1")
                .arg(format!("--port={}", self.port))
                .arg("--user=root")
                .arg("shutdown")
                .env_remove("MYSQL_PWD");
            if run(&mut admin, "mariadb-admin shutdown").is_err() {
                return Err(e);
            }
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let Some(child) = self.child.as_mut() else {
                return Ok(());
            };
            match child.try_wait() {
                Ok(Some(_)) => {
                    self.child = None;
                    return Ok(());
                }
                Ok(None) if Instant::now() < deadline => thread::sleep(POLL),
                Ok(None) => {
                    self.kill()?;
                    return Err(HarnessError::new(format!(
                        "mariadbd did not stop within {} s after SIGTERM; killed it",
                        TIMEOUT.as_secs()
                    ))
                    .tail_of(&read_from(&self.error_log_path(), 0)));
                }
                Err(e) => return Err(HarnessError::io("cannot wait for mariadbd", e)),
            }
        }
    }

    /// Kills the server (SIGKILL) and reaps it; a crash as far as the server is concerned. Does
    /// nothing when it is not running.
    pub fn kill(&mut self) -> Result<(), HarnessError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if let Ok(Some(_)) = child.try_wait() {
            return Ok(());
        }
        // kill fails only when the process already exited.
        let _ = child.kill();
        child
            .wait()
            .map_err(|e| HarnessError::io("cannot wait for mariadbd", e))?;
        Ok(())
    }

    /// Stops the server (if running) and starts it again on the same datadir, port and options.
    /// The audit log is appended to, not replaced.
    pub fn restart(&mut self) -> Result<(), HarnessError> {
        self.stop()?;
        self.start_again()
    }

    /// Starts the server again after [`MariaDb::stop`] or [`MariaDb::kill`] (same datadir, port and
    /// options). Does nothing when it runs.
    pub fn start_again(&mut self) -> Result<(), HarnessError> {
        if self.is_running() {
            return Ok(());
        }
        self.spawn(None)
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        let _ = self.kill();
        if let Some(tempdir) = self.tempdir.take() {
            if std::env::var("AUDIT_TEST_KEEP").is_ok_and(|v| v == "1") {
                let path = tempdir.keep();
                eprintln!(
                    "AUDIT_TEST_KEEP=1: kept MariaDB test directory {}",
                    path.display()
                );
            }
            // Otherwise dropping `tempdir` removes the directory.
        }
    }
}

/// Run by the server at its first start, before it accepts connections: no audit records.
const INIT_SQL: &str = "\
DELETE FROM mysql.global_priv WHERE User = '';
FLUSH PRIVILEGES;
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
CREATE DATABASE IF NOT EXISTS test;
";

/// Small InnoDB sizes: each test server needs 16 MiB of buffer pool and a 4 MiB redo log instead
/// of 128 MiB and 96 MiB.
const SIZE_ARGS: [&str; 2] = ["--innodb-buffer-pool-size=16M", "--innodb-log-file-size=4M"];

fn running_as_root() -> bool {
    // std offers no geteuid; `id -u` is always there where mariadbd is.
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.status.success() && o.stdout.trim_ascii() == b"0")
}

fn free_port() -> Result<u16, HarnessError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| HarnessError::io("cannot bind 127.0.0.1:0 to find a free port", e))?;
    let port = listener
        .local_addr()
        .map_err(|e| HarnessError::io("cannot read the bound port", e))?
        .port();
    Ok(port)
}

/// The text of `path` from byte `offset` on ("" when unreadable).
fn read_from(path: &Path, offset: u64) -> String {
    let mut text = Vec::new();
    if let Ok(mut file) = fs::File::open(path) {
        if file.seek(SeekFrom::Start(offset)).is_ok() {
            let _ = file.read_to_end(&mut text);
        }
    }
    String::from_utf8_lossy(&text).into_owned()
}

/// The last 20 lines of `text`.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}

fn run(cmd: &mut Command, what: &str) -> Result<Output, HarnessError> {
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| HarnessError::io(format!("cannot run {what}"), e).command(cmd))?;
    check(cmd, output, what)
}

fn run_with_stdin(cmd: &mut Command, input: &str, what: &str) -> Result<Output, HarnessError> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| HarnessError::io(format!("cannot run {what}"), e).command(cmd))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A write error means the client exited early; its status and stderr tell why.
        let _ = stdin.write_all(input.as_bytes());
    }
    let output = child
        .wait_with_output()
        .map_err(|e| HarnessError::io(format!("cannot run {what}"), e).command(cmd))?;
    check(cmd, output, what)
}

fn check(cmd: &Command, output: Output, what: &str) -> Result<Output, HarnessError> {
    if output.status.success() {
        Ok(output)
    } else {
        Err(HarnessError::new(format!("{what} failed"))
            .command(cmd)
            .output(&output))
    }
}

/// Parses the client's `ERROR 1045 (28000): Access denied ...` (the SQLSTATE part is optional).
fn parse_client_error(stderr: &str) -> LoginOutcome {
    for line in stderr.lines() {
        let Some(rest) = line.trim().strip_prefix("ERROR ") else {
            continue;
        };
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let Ok(code) = rest[..digits].parse::<u32>() else {
            continue;
        };
        let message = rest[digits..]
            .split_once(": ")
            .map_or(rest[digits..].trim(), |(_, m)| m.trim());
        return LoginOutcome::Failed {
            code,
            message: message.to_owned(),
        };
    }
    LoginOutcome::Failed {
        code: 0,
        message: stderr.trim().to_owned(),
    }
}

fn validate_user(user: &str) -> Result<(), HarnessError> {
    if user.is_empty()
        || user.len() > 80
        || !user.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(HarnessError::new(format!(
            "invalid user name {user:?}: only 1 to 80 of [A-Za-z0-9_]"
        )));
    }
    Ok(())
}

fn validate_password(password: &str) -> Result<(), HarnessError> {
    if password
        .chars()
        .any(|c| matches!(c, '\'' | '"' | '`' | '\\') || c.is_control())
    {
        return Err(HarnessError::new(
            "invalid password: quotes, backslashes and control characters are not allowed",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_access_denied() {
        let out =
            "ERROR 1045 (28000): Access denied for user 'bob'@'localhost' (using password: YES)\n";
        assert_eq!(
            parse_client_error(out),
            LoginOutcome::Failed {
                code: 1045,
                message: "Access denied for user 'bob'@'localhost' (using password: YES)".into()
            }
        );
    }

    #[test]
    fn parses_error_without_sqlstate_and_garbage() {
        let out = "ERROR 2003: Can't connect to MySQL server on '127.0.0.1' (111)";
        assert_eq!(parse_client_error(out).code(), Some(2003));
        assert_eq!(
            parse_client_error("mariadb: unknown option"),
            LoginOutcome::Failed {
                code: 0,
                message: "mariadb: unknown option".into()
            }
        );
    }

    #[test]
    fn rejects_injectable_names_and_passwords() {
        assert!(validate_user("alice_01").is_ok());
        for bad in ["", "a'b", "a b", "a-b", "a@b", "ä", &"x".repeat(81)] {
            assert!(validate_user(bad).is_err(), "{bad:?}");
        }
        assert!(validate_password("").is_ok());
        assert!(validate_password("p@ss w0rd!").is_ok());
        for bad in ["a'b", "a\"b", "a\\", "a`b", "a\nb", "a\0b"] {
            assert!(validate_password(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rejects_bad_audit_events_before_starting() {
        let err = MariaDb::builder()
            .audit_events("CONNECT'; DROP")
            .start()
            .expect_err("must be rejected");
        assert!(err.message().contains("invalid audit events"));
    }
}
