//! The query-level checks on a real MariaDB with server_audit logging CONNECT and QUERY events:
//! ordinary traffic raises nothing; a real GRANT, a real `SELECT ... INTO OUTFILE`, a real
//! `SET GLOBAL server_audit_logging=OFF` and a login from a second address (127.0.0.2) each raise
//! their check through `check-gen run`.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};

use socket2::{Domain, Socket, Type};
use std::time::Duration;

use common::{check_gen_run, label, sql, start_server, try_count, wait_until, Follower, TABLE};
use test_harness::{LoginOutcome, MariaDb};

const CHECKS: [&str; 4] = ["mysql_audit_privilege_change", "mysql_audit_logging_tampered", "mysql_audit_file_access", "mysql_audit_new_source_for_account"];

/// A relay on 127.0.0.1 whose one connection reaches the server from the local address `from`
/// (the mariadb client cannot bind one, and Linux connects from 127.0.0.1 to any loopback address).
fn relay_from(db: &MariaDb, from: &str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (from, server): (SocketAddr, SocketAddr) = (format!("{from}:0").parse().unwrap(), format!("127.0.0.1:{}", db.port()).parse().unwrap());
    std::thread::spawn(move || {
        let (client, _) = listener.accept().unwrap();
        let upstream = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        upstream.bind(&from.into()).unwrap();
        upstream.connect(&server.into()).unwrap();
        let upstream: TcpStream = upstream.into();
        let (mut c2, mut u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
        let up = std::thread::spawn(move || {
            let _ = std::io::copy(&mut c2, &mut u2);
            let _ = u2.shutdown(Shutdown::Write);
        });
        let (mut u, mut c) = (upstream, client);
        let _ = std::io::copy(&mut u, &mut c);
        let _ = c.shutdown(Shutdown::Write);
        let _ = up.join();
    });
    port
}

/// A login of `user` over TCP from the local address `from`, running `SELECT 1`.
fn login_from(db: &MariaDb, user: &str, password: &str, from: &str) -> bool {
    let port = relay_from(db, from);
    Command::new("mariadb")
        .args(["--no-defaults", "--protocol=TCP", "--host=127.0.0.1", &format!("--port={port}")])
        .args([&format!("--user={user}"), "--execute=SELECT 1"])
        .env("MYSQL_PWD", password)
        .stdin(Stdio::null())
        .output()
        .unwrap()
        .status
        .success()
}

/// Waits until the table holds a query record whose class is `class`.
fn wait_class(db: &MariaDb, class: &str) {
    wait_until(&format!("a {class} record stored"), Duration::from_secs(30), || {
        (try_count(db, &format!("SELECT COUNT(*) FROM {TABLE} WHERE statement_class = '{class}'"))? > 0).then_some(())
    });
}

#[test]
fn each_query_check_fires_on_real_statements_and_ordinary_traffic_is_quiet() {
    let db = start_server(MariaDb::builder().audit_events("CONNECT,QUERY_DDL,QUERY_DCL,QUERY"));
    db.create_user("bob", "s3cret").unwrap();
    // From here on: the account setup above is not what the checks are to report.
    let mut follower = Follower::start(&db, &["--start-at", "end"]);
    std::thread::sleep(Duration::from_millis(500));

    // Ordinary traffic: tables, rows, reads, bob's logins from his usual address.
    sql(&db, "CREATE TABLE test.q (a INT); INSERT INTO test.q VALUES (1), (2); SELECT COUNT(*) FROM test.q; UPDATE test.q SET a = 3");
    for _ in 0..3 {
        assert_eq!(db.try_login("bob", "s3cret"), LoginOutcome::Ok);
    }
    wait_until("the ordinary statements stored", Duration::from_secs(30), || {
        (try_count(&db, &format!("SELECT COUNT(*) FROM {TABLE} WHERE statement_class = 'update'"))? > 0).then_some(())
    });
    for check in CHECKS {
        let alerts = check_gen_run(&db, &[], check);
        assert!(alerts.is_empty(), "{check} on ordinary traffic: {alerts:#?}\n{}", follower.output());
    }

    // The attacks.
    std::thread::sleep(Duration::from_millis(1100));
    assert!(login_from(&db, "bob", "s3cret", "127.0.0.2"), "cannot log in from 127.0.0.2");
    sql(&db, "GRANT ALL PRIVILEGES ON *.* TO 'bob'@'%'");
    // Refused or not (secure_file_priv), the statement is what the check reports.
    let _ = db.sql("SELECT * FROM test.q INTO OUTFILE '/tmp/query_checks_e2e.txt'");
    sql(&db, "SET GLOBAL server_audit_logging=OFF");
    wait_class(&db, "grant");
    wait_class(&db, "select_into_outfile");
    wait_class(&db, "set_audit_variable");
    follower.assert_running();

    let alerts = check_gen_run(&db, &[], "mysql_audit_privilege_change");
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!((label(&alerts[0], "user"), label(&alerts[0], "class")), ("root", "grant"), "{:#}", alerts[0]);
    assert!(alerts[0]["description"].as_str().unwrap().contains("GRANT ALL PRIVILEGES ON *.* TO 'bob'@'%'"), "{:#}", alerts[0]);

    let alerts = check_gen_run(&db, &[], "mysql_audit_file_access");
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(label(&alerts[0], "class"), "select_into_outfile", "{:#}", alerts[0]);

    let alerts = check_gen_run(&db, &[], "mysql_audit_logging_tampered");
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0]["severity"], "error");
    assert!(alerts[0]["description"].as_str().unwrap().contains("SET GLOBAL server_audit_logging=OFF"), "{:#}", alerts[0]);

    let alerts = check_gen_run(&db, &[], "mysql_audit_new_source_for_account");
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!((label(&alerts[0], "user"), label(&alerts[0], "source")), ("bob", "127.0.0.2"), "{:#}", alerts[0]);
    assert_eq!(follower.stop().code(), Some(0));
}
