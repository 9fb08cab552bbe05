//! Starts real MariaDB servers: needs `mariadbd`, `mariadb-install-db` and `mariadb` on PATH.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use test_harness::{LoginOutcome, MariaDb};

/// Fields of one `server_audit` line:
/// `YYYYMMDD HH:MM:SS,serverhost,user,host,connid,queryid,operation,database,object,retcode`.
#[derive(Debug)]
struct Line<'a> {
    user: &'a str,
    host: &'a str,
    operation: &'a str,
    retcode: &'a str,
}

/// Parses and checks the shape of a connection-event line (no commas inside fields).
fn parse(line: &str) -> Line<'_> {
    let f: Vec<&str> = line.split(',').collect();
    assert_eq!(f.len(), 10, "not 10 fields: {line:?}");
    let ts = f[0].as_bytes();
    assert_eq!(ts.len(), 17, "timestamp {:?}", f[0]);
    for (i, b) in ts.iter().enumerate() {
        match i {
            8 => assert_eq!(*b, b' ', "{line:?}"),
            11 | 14 => assert_eq!(*b, b':', "{line:?}"),
            _ => assert!(b.is_ascii_digit(), "timestamp {:?}", f[0]),
        }
    }
    assert!(!f[1].is_empty(), "serverhost empty: {line:?}");
    assert!(f[4].parse::<u64>().is_ok(), "connid {line:?}");
    assert_eq!(f[5], "0", "queryid {line:?}");
    Line {
        user: f[2],
        host: f[3],
        operation: f[6],
        retcode: f[9],
    }
}

/// The audit log once it holds `want` lines for `user` (the file is written as events happen, but
/// a DISCONNECT may trail the client's exit by a moment).
fn audit_lines_for(db: &MariaDb, user: &str, want: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = db.read_audit_log().unwrap();
        let lines: Vec<String> = log
            .lines()
            .filter(|l| parse(l).user == user)
            .map(str::to_owned)
            .collect();
        if lines.len() >= want || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn failed_and_good_logins_reach_the_audit_log() {
    let db = MariaDb::start().unwrap();
    assert_eq!(
        db.read_audit_log().unwrap(),
        "",
        "startup must leave no audit records"
    );
    assert!(db.dsn().starts_with("mysql://root@127.0.0.1:"));
    assert!(db.dsn().ends_with("/test"));

    db.create_user("alice", "s3cret pw").unwrap();
    let anonymous = db
        .sql("SELECT COUNT(*) FROM mysql.global_priv WHERE User = ''")
        .unwrap();
    assert_eq!(anonymous, "0\n");

    let unknown = db.try_login("nosuchuser", "");
    assert_eq!(unknown.code(), Some(1045), "{unknown:?}");
    assert_eq!(db.try_login("alice", "wrong").code(), Some(1045));
    let empty = db.try_login("alice", "");
    assert_eq!(empty.code(), Some(1045));
    match &empty {
        LoginOutcome::Failed { message, .. } => {
            assert!(message.contains("(using password: NO)"), "{message}");
        }
        LoginOutcome::Ok => unreachable!(),
    }
    assert_eq!(db.try_login("alice", "s3cret pw"), LoginOutcome::Ok);
    assert_eq!(db.try_login("root", ""), LoginOutcome::Ok);

    let nosuch = audit_lines_for(&db, "nosuchuser", 2);
    let alice = audit_lines_for(&db, "alice", 6);
    let ops = |lines: &[String]| -> Vec<(String, String)> {
        lines
            .iter()
            .map(|l| {
                let p = parse(l);
                assert_eq!(p.host, "localhost", "{l}");
                (p.operation.to_owned(), p.retcode.to_owned())
            })
            .collect()
    };
    let pair = |op: &str, rc: &str| (op.to_owned(), rc.to_owned());
    assert_eq!(
        ops(&nosuch),
        [pair("FAILED_CONNECT", "1045"), pair("DISCONNECT", "0")]
    );
    assert_eq!(
        ops(&alice),
        [
            pair("FAILED_CONNECT", "1045"),
            pair("DISCONNECT", "0"),
            pair("FAILED_CONNECT", "1045"),
            pair("DISCONNECT", "0"),
            pair("CONNECT", "0"),
            pair("DISCONNECT", "0"),
        ]
    );
    let log = db.read_audit_log().unwrap();
    let failed = log
        .lines()
        .filter(|l| l.contains(",FAILED_CONNECT,,,1045"))
        .count();
    assert_eq!(failed, 3, "{log}");
    // Only complete lines.
    assert!(log.ends_with('\n'));
}

#[test]
fn restart_keeps_data_port_and_audit_log() {
    let mut db = MariaDb::start().unwrap();
    let port = db.port();
    db.sql("CREATE TABLE kept (x INT); INSERT INTO kept VALUES (42)")
        .unwrap();
    db.create_user("bob", "pw").unwrap();
    assert!(db.try_login("bob", "pw").is_ok());
    let before = db.read_audit_log().unwrap();

    db.restart().unwrap();
    assert_eq!(db.port(), port);
    assert_eq!(db.sql("SELECT x FROM kept").unwrap(), "42\n");
    assert!(db.try_login("bob", "pw").is_ok());
    assert_eq!(db.try_login("nosuchuser", "").code(), Some(1045));
    let after = db.read_audit_log().unwrap();
    assert!(
        after.starts_with(&before),
        "the audit log must be appended to"
    );

    // A crash (SIGKILL) and a start after it: committed data survives.
    db.sql("INSERT INTO kept VALUES (43)").unwrap();
    db.kill().unwrap();
    assert!(!db.is_running());
    // The 10.11 client says 2002 "Can't connect to server on '127.0.0.1' (115)" over TCP too.
    let down = db.try_login("root", "");
    assert!(matches!(down.code(), Some(2002 | 2003)), "{down:?}");
    db.start_again().unwrap();
    assert_eq!(db.sql("SELECT x FROM kept ORDER BY x").unwrap(), "42\n43\n");
    db.stop().unwrap();
    assert!(!db.is_running());
}

#[test]
fn small_rotate_size_rotates_the_audit_log() {
    let db = MariaDb::builder()
        .audit_rotate_size(4096)
        .audit_rotations(3)
        .start()
        .unwrap();
    assert_eq!(
        db.sql("SELECT @@server_audit_file_rotate_size, @@server_audit_file_rotations")
            .unwrap(),
        "4096\t3\n"
    );
    // About 2 x 100 bytes a login: 30 logins pass 4096 bytes.
    let user = "rotation_user_with_a_long_name_to_fill_the_log";
    for _ in 0..30 {
        assert_eq!(db.try_login(user, "x").code(), Some(1045));
    }
    let rotated = db.rotated_audit_log_path(1);
    assert!(rotated.exists(), "{} missing", rotated.display());
    assert!(!db.rotated_audit_log_path(4).exists());
    let size = std::fs::metadata(db.audit_log_path()).unwrap().len();
    assert!(size <= 4096 + 200, "live file {size} bytes");
}

#[test]
fn two_servers_run_at_once() {
    let a = MariaDb::builder()
        .audit_events("CONNECT,QUERY")
        .start()
        .unwrap();
    let b = MariaDb::start().unwrap();
    assert_ne!(a.port(), b.port());
    assert_ne!(a.data_dir(), b.data_dir());
    a.sql("CREATE TABLE only_in_a (x INT)").unwrap();
    assert_eq!(b.sql("SHOW TABLES").unwrap(), "");
    assert_eq!(a.sql("SHOW TABLES").unwrap(), "only_in_a\n");
    // QUERY events on a only.
    assert!(a
        .read_audit_log()
        .unwrap()
        .contains(",QUERY,test,'CREATE TABLE only_in_a (x INT)',0"));
    assert!(!b.read_audit_log().unwrap().contains(",QUERY,"));
    let dir = a.dir().to_path_buf();
    drop(a);
    if std::env::var("AUDIT_TEST_KEEP").is_err() {
        assert!(!dir.exists(), "drop must remove {}", dir.display());
    }
}
