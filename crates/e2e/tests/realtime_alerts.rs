//! Real-time alerts on the real engines: a real `audit-ingest follow --metrics-listen` on a real
//! MariaDB's server_audit log, scraped every second by a real VictoriaMetrics (PMM's TSDB, through its
//! `-promscrape.config`). Every PMM alert template of `check-gen alerts`, its parameters at their
//! defaults, is evaluated on VictoriaMetrics's query API: none fires on quiet traffic; after real failed
//! logins, probing, a guessed password and a malformed record the security ones fire; after the
//! ingester stops the stalled one does. Every query of `check-gen dashboard` returns series there.
//!
//! Needs `victoria-metrics` (Debian package of the same name; `.ci/run` installs it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{bin, ingested_server, run, start_server, wait_until, Follower};
use serde_json::Value;
use test_harness::{LoginOutcome, MariaDb};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// A VictoriaMetrics single-node server scraping `target` every second; killed on drop.
struct Vm {
    child: Child,
    port: u16,
}

impl Vm {
    fn start(dir: &Path, target: u16) -> Vm {
        let exe = which("victoria-metrics").expect("victoria-metrics not found: apt-get install victoria-metrics (.ci/run does)");
        let config = dir.join("scrape.yml");
        // The labels pmm-admin add external gives the series in PMM.
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: audit-ingest\n    static_configs:\n      - targets: [\"127.0.0.1:{target}\"]\n        labels: {{node_name: e2e-node, service_name: e2e-audit-ingest}}\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.join("victoria-metrics.log")).unwrap();
        let child = Command::new(exe)
            .arg(format!("-storageDataPath={}", dir.join("vm-data").display()))
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            .arg(format!("-promscrape.config={}", config.display()))
            // Samples are queryable at once (the default hides the last 30 s).
            .arg("-search.latencyOffset=0s")
            .arg("-retentionPeriod=1d")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start victoria-metrics");
        let vm = Vm { child, port };
        wait_until("VictoriaMetrics answers", Duration::from_secs(30), || http_get(port, "/health").filter(|(s, _)| *s == 200));
        vm
    }

    fn api(&self, path: &str, params: &[(&str, String)]) -> Vec<Value> {
        let query: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", urlencode(v))).collect();
        let (status, body) = http_get(self.port, &format!("{path}?{}", query.join("&"))).expect("VictoriaMetrics query");
        let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"));
        assert_eq!((status, v["status"].as_str()), (200, Some("success")), "{params:?}: {body}");
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// An instant query at `at` (Unix seconds), as Grafana's alert rules send them.
    fn query(&self, expr: &str, at: i64) -> Vec<Value> {
        self.api("/api/v1/query", &[("query", expr.to_string()), ("time", at.to_string())])
    }

    fn range(&self, expr: &str, start: i64, end: i64) -> Vec<Value> {
        self.api("/api/v1/query_range", &[("query", expr.to_string()), ("start", start.to_string()), ("end", end.to_string()), ("step", "5".into())])
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join(name)).find(|p| p.is_file()))
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// GET over HTTP/1.0 (no chunked replies); `None` when nothing listens yet.
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let (head, body) = resp.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

fn check_gen_json(args: &[&str]) -> Value {
    let (status, out, err) = run(Command::new(bin("check-gen")).args(args));
    assert!(status.success(), "check-gen {args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("check-gen {args:?} printed no JSON: {e}\n{out}"))
}

/// The templates' names and expressions, parameters at their defaults.
fn templates() -> Vec<(String, String)> {
    let v = check_gen_json(&["alerts", "--format", "json"]);
    v.as_array().unwrap().iter().map(|t| (t["name"].as_str().unwrap().to_string(), t["expr"].as_str().unwrap().to_string())).collect()
}

fn firing(vm: &Vm, templates: &[(String, String)], at: i64) -> BTreeSet<String> {
    templates.iter().filter(|(_, expr)| !vm.query(expr, at).is_empty()).map(|(n, _)| n.clone()).collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn alert_templates_and_dashboard_on_victoriametrics() {
    let db = start_server(MariaDb::builder());
    db.create_user("bob", "correct_horse").unwrap();
    let metrics_port = free_port();
    let mut follower = Follower::start(&db, &["--metrics-listen", &format!("127.0.0.1:{metrics_port}")]);
    let vm = Vm::start(db.dir(), metrics_port);
    let templates = templates();
    assert_eq!(templates.len(), 7, "{templates:?}");

    // Quiet traffic: a good login. Wait until VictoriaMetrics holds a few scrapes of it.
    assert_eq!(db.try_login("bob", "correct_horse"), LoginOutcome::Ok);
    wait_until("VictoriaMetrics has scraped the quiet login", Duration::from_secs(30), || {
        (!vm.query("sum(audit_ingest_logins_total) >= 1 and sum(count_over_time(audit_ingest_failed_logins_total[1m])) >= 3", now()).is_empty()).then_some(())
    });
    follower.assert_running();
    assert_eq!(firing(&vm, &templates, now()), BTreeSet::new(), "quiet traffic must raise nothing");

    // The attack: 12 wrong passwords for bob, 10 account names that do not exist, then bob's
    // password guessed; and a line that is no audit record.
    for i in 0..12 {
        assert_eq!(db.try_login("bob", &format!("guess{i}")).code(), Some(1045));
    }
    for i in 0..10 {
        assert_eq!(db.try_login(&format!("probe{i}"), "x").code(), Some(1045));
    }
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(db.try_login("bob", "correct_horse"), LoginOutcome::Ok);
    let mut f = std::fs::OpenOptions::new().append(true).open(db.audit_log_path()).unwrap();
    f.write_all(b"this line is not an audit record\n").unwrap();
    drop(f);
    wait_until("VictoriaMetrics has scraped the attack", Duration::from_secs(30), || {
        let q = "sum(audit_ingest_failed_logins_total) >= 22 and sum(audit_ingest_logins_after_failures_total) >= 1 and sum(audit_ingest_dead_letters_total) >= 1";
        (!vm.query(q, now()).is_empty()).then_some(())
    });
    follower.assert_running();
    // A series VictoriaMetrics has just created (the per-client and per-account ones are born with the
    // attack) answers queries some seconds after the totals that existed before it show the attack
    // (VictoriaMetrics 1.79, measured here: 6.5 to 7.6 s in three runs). PMM evaluates alert rules
    // every minute or more, so allow 60 s, and print how long it took.
    let expected = set(&["audit_ingest_account_probing", "audit_ingest_bruteforce_source", "audit_ingest_dead_letters", "audit_ingest_failed_login_spike", "audit_ingest_login_after_failures"]);
    let scraped = std::time::Instant::now();
    let mut fired = BTreeSet::new();
    let mut at = now();
    while scraped.elapsed() < Duration::from_secs(60) {
        at = now();
        fired = firing(&vm, &templates, at);
        if fired == expected {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!("the attack's templates fired {:?} after VictoriaMetrics held the attack's totals: {fired:?}", scraped.elapsed());
    assert_eq!(fired, expected, "the attack (no public address can log in here, and the ingester runs), 60 s after it was scraped");
    let server = ingested_server(&db);
    let expr = |name: &str| templates.iter().find(|(n, _)| n == name).unwrap().1.clone();
    let brute = vm.query(&expr("audit_ingest_bruteforce_source"), at);
    assert_eq!(brute.len(), 1, "{brute:?}");
    assert_eq!(brute[0]["metric"]["client"], "localhost", "{brute:?}");
    assert_eq!(brute[0]["metric"]["server"], server.as_str(), "{brute:?}");
    assert_eq!(brute[0]["metric"]["node_name"], "e2e-node", "{brute:?}");
    let failed: f64 = brute[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(failed >= 22.0, "{brute:?}");
    let after = vm.query(&expr("audit_ingest_login_after_failures"), at);
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!((after[0]["metric"]["user"].as_str(), after[0]["metric"]["client"].as_str()), (Some("bob"), Some("localhost")), "{after:?}");
    let probing = vm.query(&expr("audit_ingest_account_probing"), at);
    assert_eq!(probing[0]["value"][1], "11", "bob and probe0..probe9: {probing:?}");

    // Every dashboard query returns series here, with the variables at "All".
    let dashboard = check_gen_json(&["dashboard"]);
    let mut queries = 0;
    for p in dashboard["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            let q = t["expr"]
                .as_str()
                .unwrap()
                .replace("$node_name", ".*")
                .replace("$service_name", ".*")
                .replace("$server", ".*")
                .replace("$__rate_interval", "1m")
                .replace("$__range", "10m");
            let got = if t["instant"].as_bool().unwrap() { vm.query(&q, at) } else { vm.range(&q, at - 120, at) };
            assert!(!got.is_empty(), "panel {:?}: no series for {q}", p["title"]);
            queries += 1;
        }
    }
    assert!(queries >= 15, "{queries} queries");
    // Its variables find this service.
    let vars = dashboard["templating"]["list"].as_array().unwrap();
    let node_var = vars.iter().find(|v| v["name"] == "node_name").unwrap()["definition"].as_str().unwrap().to_string();
    let metric = node_var.trim_start_matches("label_values(").split(',').next().unwrap().to_string();
    let found = vm.query(&metric, at);
    assert_eq!(found[0]["metric"]["node_name"], "e2e-node", "{found:?}");

    // The METRICS_INSTANT advisor check's query, as pmm-managed fills it for this node.
    let (status, q, err) = run(Command::new(bin("check-gen")).args(["sql", "mysql_audit_pipeline_stale_metrics"]));
    assert!(status.success(), "{err}");
    let q = q.trim().trim_end_matches(';').replace("{{.NodeName}}", "e2e-node");
    let fresh = vm.query(&q, at);
    assert_eq!(fresh.len(), 1, "{q}: {fresh:?}");
    assert_eq!(fresh[0]["metric"]["server"], server.as_str());
    let age: f64 = fresh[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(age < 60.0, "a running ingester heartbeats every second: {age}");

    // The ingester stops: the stalled template fires once max_age (300 s) has passed, and the
    // check's age keeps growing although no new sample arrives. Evaluated at a later time, which
    // VictoriaMetrics's API takes.
    assert_eq!(follower.stop().code(), Some(0));
    let stopped = now();
    assert!(!firing(&vm, &templates, stopped).contains("audit_ingest_stalled"));
    let later = stopped + 400;
    assert!(firing(&vm, &templates, later).contains("audit_ingest_stalled"), "400 s after the ingester stopped");
    let stale = vm.query(&q, stopped + 1200);
    let age: f64 = stale[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(age > 15.0 * 60.0, "the check's default is 15 minutes: {age}");
}
