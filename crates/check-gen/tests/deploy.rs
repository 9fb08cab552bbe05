//! `check-gen deploy` against a local stand-in for pmm-managed's HTTP gateway that answers with the
//! shapes of percona/pmm `api/advisors/v1` (ListAdvisorChecks, CreateAdvisorCheck, UpdateAdvisorCheck:
//! `{"checks": [...]}`, `{"check": {...}}`, errors as `{"code", "message", "details"}`) and records every
//! request it gets.
#![cfg(feature = "deploy")]
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    auth: String,
    body: serde_json::Value,
}

/// Serves until the test ends; `existing` are the check names the list returns. A POST of a name in
/// `reject` gets PMM's InvalidArgument answer.
fn stand_in(existing: Vec<&'static str>, reject: &'static str) -> (String, Arc<Mutex<Vec<Request>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut first = String::new();
            if reader.read_line(&mut first).is_err() {
                continue;
            }
            let mut parts = first.split_whitespace();
            let (method, path) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
            let (mut len, mut auth) = (0usize, String::new());
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
                let (k, v) = h.split_once(':').unwrap_or((&h, ""));
                match k.to_ascii_lowercase().as_str() {
                    "content-length" => len = v.trim().parse().unwrap_or(0),
                    "authorization" => auth = v.trim().to_string(),
                    _ => {}
                }
            }
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
            seen.lock().expect("lock").push(Request { method: method.clone(), path: path.clone(), auth, body: body.clone() });
            let (status, answer) = match (method.as_str(), path.as_str()) {
                ("GET", "/v1/advisors/checks") => {
                    let checks: Vec<_> = existing
                        .iter()
                        .map(|n| serde_json::json!({"name": n, "enabled": true, "summary": "old", "interval": "ADVISOR_CHECK_INTERVAL_STANDARD", "family": "ADVISOR_CHECK_FAMILY_MYSQL"}))
                        .collect();
                    ("200 OK", serde_json::json!({ "checks": checks }))
                }
                ("POST", "/v1/advisors/checks") if body["check"]["name"] == reject => (
                    "400 Bad Request",
                    serde_json::json!({"code": 3, "message": "invalid advisor check: check script is empty", "details": []}),
                ),
                ("POST", "/v1/advisors/checks") => ("200 OK", serde_json::json!({"check": with_user_defined(&body["check"])})),
                ("PUT", p) if p.starts_with("/v1/advisors/checks/") => ("200 OK", serde_json::json!({"check": with_user_defined(&body["check"])})),
                _ => ("404 Not Found", serde_json::json!({"code": 5, "message": "Not Found", "details": []})),
            };
            let text = answer.to_string();
            let mut out = stream;
            let _ = write!(out, "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}", text.len());
        }
    });
    (url, log)
}

/// PMM echoes the stored check with `user_defined` and `enabled` set.
fn with_user_defined(check: &serde_json::Value) -> serde_json::Value {
    let mut c = check.clone();
    c["user_defined"] = serde_json::Value::Bool(true);
    c["enabled"] = serde_json::Value::Bool(true);
    c
}

fn check_gen(args: &[&str], token: Option<&str>) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_check-gen"));
    cmd.args(args).env_remove("PMM_API_TOKEN");
    if let Some(t) = token {
        cmd.env("PMM_API_TOKEN", t);
    }
    cmd.output().expect("run check-gen")
}

#[test]
fn creates_new_checks_and_updates_existing_ones() {
    let (url, log) = stand_in(vec!["custom_mysql_audit_pipeline_stale", "mysql_configuration_max_connections_usage"], "");
    let o = check_gen(
        &["deploy", "--pmm-url", &url, "--only", "mysql_audit_failed_logins_24h", "--only", "mysql_audit_pipeline_stale"],
        Some("glsa_secret_token\n"),
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(stdout, "created custom_mysql_audit_failed_logins_24h\nupdated custom_mysql_audit_pipeline_stale\n");
    let reqs = log.lock().expect("lock").clone();
    let calls: Vec<(String, String)> = reqs.iter().map(|r| (r.method.clone(), r.path.clone())).collect();
    assert_eq!(
        calls,
        [
            ("GET".into(), "/v1/advisors/checks".into()),
            ("POST".into(), "/v1/advisors/checks".into()),
            ("PUT".into(), "/v1/advisors/checks/custom_mysql_audit_pipeline_stale".into()),
        ]
    );
    assert!(reqs.iter().all(|r| r.auth == "Bearer glsa_secret_token"), "{reqs:#?}");
    let created = &reqs[1].body["check"];
    assert_eq!(created["name"], "custom_mysql_audit_failed_logins_24h");
    assert_eq!(created["technology"], "ADVISOR_CHECK_TECHNOLOGY_MYSQL");
    assert_eq!(created["category"], "Security");
    assert!(created["interval"].as_str().is_some_and(|i| i.starts_with("ADVISOR_CHECK_INTERVAL_")), "{created}");
    assert_eq!(created["queries"][0]["type"], "MYSQL_SELECT");
    let query = created["queries"][0]["query"].as_str().unwrap_or_default();
    assert!(!query.to_ascii_uppercase().starts_with("SELECT"), "pmm-agent prepends SELECT: {query}");
    assert!(created["script"].as_str().is_some_and(|s| s.contains("def check_context(")), "{created}");
    // Only the fields CreateAdvisorCheck reads; nothing PMM would refuse.
    let mut keys: Vec<&str> = created.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
    keys.sort_unstable();
    assert_eq!(keys, ["category", "description", "interval", "name", "queries", "script", "summary", "technology"]);
}

#[test]
fn pmm_errors_are_reported_with_their_message() {
    let (url, _log) = stand_in(vec![], "custom_mysql_audit_failed_logins_24h");
    let o = check_gen(&["deploy", "--pmm-url", &url, "--only", "mysql_audit_failed_logins_24h"], Some("t"));
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("POST /v1/advisors/checks: PMM answered 400: invalid advisor check: check script is empty"), "{err}");
}

#[test]
fn a_pmm_without_the_api_says_so() {
    let (url, _log) = stand_in(vec![], "");
    // The stand-in answers 404 to anything else: a PMM release whose gateway has no such route.
    let o = check_gen(&["deploy", "--pmm-url", &format!("{url}/nothing-here"), "--only", "mysql_audit_failed_logins_24h"], Some("t"));
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("GET /v1/advisors/checks: PMM answered 404"), "{err}");
}

#[test]
fn the_token_never_comes_from_the_command_line() {
    let o = check_gen(&["deploy", "--pmm-url", "http://127.0.0.1:9", "--token", "x"], None);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unexpected argument"));
    let o = check_gen(&["deploy", "--pmm-url", "http://127.0.0.1:9"], None);
    assert!(String::from_utf8_lossy(&o.stderr).contains("no token: give --token-file FILE or set PMM_API_TOKEN"));
    let dir = std::env::temp_dir().join(format!("check-gen-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let f = dir.join("token");
    std::fs::write(&f, "  \n").expect("write");
    let o = check_gen(&["deploy", "--pmm-url", "http://127.0.0.1:9", "--token-file", f.to_str().expect("p")], None);
    assert!(String::from_utf8_lossy(&o.stderr).contains("the token is empty"));
}
