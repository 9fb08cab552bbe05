//! The metrics endpoint of a real `audit-ingest follow` on a real MariaDB: the series and their names,
//! escaped attacker-chosen labels, HTTP behaviour (methods, paths, slow clients, oversized heads),
//! and `--metrics-listen` on a port in use refused at start.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{append, ingest_cmd, lines, spawn_follow, stop, TestDb};

fn request(addr: &str, req: &str) -> String {
    // The follower may still be starting: retry the connection for a while.
    let t = Instant::now();
    let mut s = loop {
        match TcpStream::connect(addr) {
            Ok(s) => break s,
            Err(e) if t.elapsed() < Duration::from_secs(20) => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("{addr}: {e}"),
        }
    };
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    String::from_utf8_lossy(&resp).into_owned()
}

fn free_addr() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    format!("127.0.0.1:{port}")
}

#[test]
fn metrics_endpoint_serves_the_series() {
    let db = TestDb::new("metrics");
    let (dir, log) = common::log_dir();
    append(&log, &lines(0, 23));
    let addr = free_addr();
    let child = spawn_follow(&db.dsn(), dir.path(), &["--metrics-listen", &addr, "--source", "metrics-src", "--metrics-max-accounts", "3"], &log);
    let want = "audit_ingest_records_total{server=\"testhost\",log_source=\"metrics-src\"} 23";
    let t = Instant::now();
    let resp = loop {
        let resp = request(&addr, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        if resp.contains(want) || t.elapsed() > Duration::from_secs(20) {
            break resp;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_ascii_lowercase().contains("content-type: application/openmetrics-text"), "{head}");
    assert!(body.contains(want), "{body}");
    assert!(body.trim_end().ends_with("# EOF"), "{body}");
    // json_line(n) fails for n % 5 == 0 (0, 5, 10, 15, 20) with user u'"N from 10.0.0.1: five failed
    // logins, three accounts kept (--metrics-max-accounts 3), two in the overflow series.
    assert!(body.contains("audit_ingest_failed_logins_total{server=\"testhost\",log_source=\"metrics-src\"} 5"), "{body}");
    let by_account: Vec<&str> = body.lines().filter(|l| l.starts_with("audit_ingest_failed_logins_by_account_total{")).collect();
    assert_eq!(by_account.len(), 4, "{body}");
    assert!(by_account.contains(&"audit_ingest_failed_logins_by_account_total{server=\"testhost\",log_source=\"metrics-src\",user=\"u'\\\\\\\"0\",client=\"10.0.0.1\"} 1"), "{by_account:?}");
    assert!(by_account.contains(&"audit_ingest_failed_logins_by_account_total{server=\"testhost\",log_source=\"metrics-src\",overflow=\"true\"} 2"), "{by_account:?}");
    assert!(body.contains("audit_ingest_failed_logins_by_client_total{server=\"testhost\",log_source=\"metrics-src\",client=\"10.0.0.1\"} 5"), "{body}");
    assert!(body.contains("audit_ingest_logins_total{server=\"testhost\",log_source=\"metrics-src\"} 18"), "{body}");
    for name in ["audit_ingest_last_commit_age_seconds", "audit_ingest_last_commit_timestamp_seconds", "audit_ingest_behind_bytes", "audit_ingest_log_bytes_total", "audit_ingest_dead_letters_total", "audit_ingest_reconnects_total", "audit_ingest_permission_errors_total", "audit_ingest_writes_refused", "audit_ingest_build_info"] {
        assert!(body.lines().any(|l| l.starts_with(&format!("{name}{{server=\"testhost\",log_source=\"metrics-src\""))), "{name}:\n{body}");
    }
    // HEAD, other methods, other paths.
    assert!(request(&addr, "HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").starts_with("HTTP/1.1 200"));
    let post = request(&addr, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    assert!(post.starts_with("HTTP/1.1 405") && post.to_ascii_lowercase().contains("allow: get, head"), "{post}");
    assert!(request(&addr, "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").starts_with("HTTP/1.1 404"));
    // A request head larger than the limit is refused, not buffered.
    let huge = format!("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Junk: {}\r\n\r\n", "a".repeat(64 << 10));
    let resp = request(&addr, &huge);
    assert!(resp.is_empty() || resp.starts_with("HTTP/1.1 431"), "{}", &resp[..resp.len().min(200)]);
    // A client that sends nothing is cut off after the head timeout (5 s), and scrapes go on meanwhile.
    let mut idle = TcpStream::connect(&addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let t = Instant::now();
    assert!(request(&addr, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").contains(want));
    let mut buf = Vec::new();
    let _ = idle.read_to_end(&mut buf);
    let waited = t.elapsed();
    assert!(waited >= Duration::from_secs(4) && waited < Duration::from_secs(15), "idle client cut off after {waited:?}");
    assert_eq!(stop(child).code(), Some(0));
    drop(dir);
}

#[test]
fn metrics_listen_on_a_port_in_use_is_an_error_at_start() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (dir, log) = common::log_dir();
    append(&log, &lines(0, 1));
    // No database is reached: the port is checked first.
    let t = Instant::now();
    let out = ingest_cmd("mysql://nobody@127.0.0.1:1/none", &["follow", "--metrics-listen", &addr, log.to_str().unwrap()]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("--metrics-listen {addr}: cannot listen")) && stderr.contains("in use"), "{stderr}");
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    drop(taken);
    drop(dir);
}
