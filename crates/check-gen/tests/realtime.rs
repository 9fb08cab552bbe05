//! `check-gen alerts` and `check-gen dashboard` as users run them: the templates pass PMM's rules and
//! promtool's unit tests on synthetic series (tests/fixtures/promtool), a broken templates file is
//! refused with the rule it breaks, and the dashboard is structurally what Grafana loads. (Evaluation
//! on a real VictoriaMetrics scraping a real ingester: crates/e2e/tests/realtime_alerts.rs.)
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn check_gen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_check-gen")).args(args).output().expect("run check-gen")
}

fn stdout(o: &Output) -> String {
    assert!(o.status.success(), "failed: {}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone()).expect("utf-8")
}

fn tempdir(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos();
    let d = std::env::temp_dir().join(format!("check-gen-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&d).expect("mkdir");
    d
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join(name)).find(|p| p.is_file()))
}

#[test]
fn alert_rules_pass_promtool_unit_tests() {
    let promtool = which("promtool").expect("promtool not found: apt-get install prometheus (.ci/run does)");
    let dir = tempdir("promtool");
    std::fs::write(dir.join("rules.yml"), stdout(&check_gen(&["alerts", "--format", "rules"]))).expect("write rules");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/promtool/audit_ingest_test.yml");
    std::fs::copy(&fixture, dir.join("audit_ingest_test.yml")).expect("copy the promtool test");
    let check = Command::new(&promtool).args(["check", "rules", "rules.yml"]).current_dir(&dir).output().expect("run promtool");
    assert!(check.status.success(), "promtool check rules: {}{}", String::from_utf8_lossy(&check.stdout), String::from_utf8_lossy(&check.stderr));
    let test = Command::new(&promtool).args(["test", "rules", "audit_ingest_test.yml"]).current_dir(&dir).output().expect("run promtool");
    let out = format!("{}{}", String::from_utf8_lossy(&test.stdout), String::from_utf8_lossy(&test.stderr));
    assert!(test.status.success() && out.contains("SUCCESS"), "promtool test rules:\n{out}");
    // Every template has a case that fires and one that does not.
    let tests = std::fs::read_to_string(&fixture).expect("read");
    let json: serde_json::Value = serde_json::from_str(&stdout(&check_gen(&["alerts", "--format", "json"]))).expect("json");
    for t in json.as_array().expect("array") {
        let name = t["name"].as_str().expect("name");
        let cases = tests.matches(&format!("alertname: {name}\n")).count();
        assert!(cases >= 2, "{name}: {cases} promtool case(s)");
    }
}

#[test]
fn pmm_templates_are_printed_checked_and_filled() {
    let pmm = stdout(&check_gen(&["alerts"]));
    assert!(pmm.starts_with("---\n") && pmm.contains("\ntemplates:\n"), "{pmm}");
    let json: serde_json::Value = serde_json::from_str(&stdout(&check_gen(&["alerts", "--format", "json"]))).expect("json");
    let names: BTreeSet<&str> = json.as_array().expect("array").iter().map(|t| t["name"].as_str().expect("name")).collect();
    let want: BTreeSet<&str> = [
        "audit_ingest_account_probing",
        "audit_ingest_bruteforce_source",
        "audit_ingest_dead_letters",
        "audit_ingest_failed_login_spike",
        "audit_ingest_login_after_failures",
        "audit_ingest_privileged_public_login",
        "audit_ingest_stalled",
    ]
    .into();
    assert_eq!(names, want);
    for t in json.as_array().expect("array") {
        let expr = t["expr"].as_str().expect("expr");
        assert!(!expr.contains("[["), "{expr}");
        assert!(!t["annotations"]["description"].as_str().expect("description").contains("[["), "{t}");
    }
    let brute = json.as_array().expect("array").iter().find(|t| t["name"] == "audit_ingest_bruteforce_source").expect("bruteforce");
    assert!(brute["expr"].as_str().expect("expr").contains("[ 300s ]") && brute["expr"].as_str().expect("expr").ends_with(">= 10"), "{brute}");
    assert_eq!(brute["params"]["threshold"], "10");
}

#[test]
fn a_templates_file_that_breaks_pmm_rules_is_refused() {
    let dir = tempdir("alerts");
    let good = stdout(&check_gen(&["alerts"]));
    let cases = [
        (good.replacen("version: 1", "version: 2", 1), "unexpected version 2"),
        (good.replacen("name: audit_ingest_bruteforce_source", "name: pmm_bruteforce", 1), "pmm_"),
        (good.replacen("severity: error", "severity: page", 1), "unknown severity"),
        (good.replacen("[[ .threshold ]]", "[[ .treshold ]]", 1), "no parameter named \"treshold\""),
        (good.replacen("unit: s", "unit: seconds", 1), "unhandled unit"),
        (good.replacen("for: 0s", "for: soon", 1), "not a Prometheus duration"),
        (good.replacen("    for: 0s", "    category: mysql\n    for: 0s", 1), "category"),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        assert_ne!(text, &good, "case {i} changed nothing");
        let f = dir.join(format!("t{i}.yml"));
        std::fs::write(&f, text).expect("write");
        let o = check_gen(&["alerts", "--file", f.to_str().expect("path")]);
        let out = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(!o.status.success() && out.contains(want), "case {i} ({want}): {out}");
    }
    let f = dir.join("good.yml");
    std::fs::write(&f, &good).expect("write");
    assert_eq!(stdout(&check_gen(&["alerts", "--file", f.to_str().expect("path")])), good);
}

#[test]
fn dashboard_is_grafana_dashboard_json() {
    let d: serde_json::Value = serde_json::from_str(&stdout(&check_gen(&["dashboard"]))).expect("JSON");
    for key in ["title", "uid", "schemaVersion", "panels", "templating", "time", "refresh"] {
        assert!(!d[key].is_null(), "missing {key}");
    }
    let schema = d["schemaVersion"].as_u64().expect("schemaVersion");
    assert!((36..=39).contains(&schema), "{schema}: Grafana 9 writes 36-37, 10 38, 11 39");
    let vars = d["templating"]["list"].as_array().expect("variables");
    let var_names: BTreeSet<&str> = vars.iter().map(|v| v["name"].as_str().expect("name")).collect();
    assert_eq!(var_names, ["datasource", "node_name", "server", "service_name"].into());
    let ds = vars.iter().find(|v| v["name"] == "datasource").expect("datasource");
    assert_eq!((ds["type"].as_str(), ds["query"].as_str(), ds["current"]["value"].as_str()), (Some("datasource"), Some("prometheus"), Some("Metrics")));
    let panels = d["panels"].as_array().expect("panels");
    assert!(panels.len() >= 10);
    let mut ids = BTreeSet::new();
    let mut cells = BTreeSet::new();
    let mut exprs = 0;
    for p in panels {
        assert!(ids.insert(p["id"].as_u64().expect("id")), "duplicate id {}", p["id"]);
        assert!(["timeseries", "stat", "table"].contains(&p["type"].as_str().expect("type")), "{}", p["type"]);
        assert!(!p["title"].as_str().expect("title").is_empty());
        assert_eq!(p["datasource"]["uid"], "${datasource}");
        let g = &p["gridPos"];
        let (x, y, w, h) = (g["x"].as_u64().expect("x"), g["y"].as_u64().expect("y"), g["w"].as_u64().expect("w"), g["h"].as_u64().expect("h"));
        assert!(x + w <= 24 && w > 0 && h > 0, "{g}");
        for cx in x..x + w {
            for cy in y..y + h {
                assert!(cells.insert((cx, cy)), "panels overlap at {cx},{cy}");
            }
        }
        let mut refs = BTreeSet::new();
        for t in p["targets"].as_array().expect("targets") {
            assert!(refs.insert(t["refId"].as_str().expect("refId").to_string()), "duplicate refId in {}", p["title"]);
            let expr = t["expr"].as_str().expect("expr");
            assert!(expr.contains("node_name=~\"$node_name\"") && expr.contains("server=~\"$server\""), "{expr}");
            assert!(!expr.contains("{SEL}"), "{expr}");
            for var in expr.split('$').skip(1) {
                let name: String = var.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                assert!(var_names.contains(name.as_str()) || name.starts_with("__"), "undefined variable ${name} in {expr}");
            }
            assert_eq!(t["instant"].as_bool().expect("instant"), p["type"] != "timeseries", "{}", p["title"]);
            exprs += 1;
        }
    }
    assert!(exprs >= 15, "{exprs}");
    // The import API's body wraps it.
    let api: serde_json::Value = serde_json::from_str(&stdout(&check_gen(&["dashboard", "--api-payload"]))).expect("JSON");
    assert_eq!((api["dashboard"]["uid"].clone(), api["overwrite"].clone()), (d["uid"].clone(), serde_json::json!(true)));
}

#[test]
fn metrics_checks_follow_pmm_rules_for_metrics_queries() {
    let dir = tempdir("metrics-check");
    let out = stdout(&check_gen(&["render", "--only", "mysql_audit_pipeline_stale_metrics"]));
    assert!(out.contains("type: METRICS_INSTANT") && out.contains("{{.NodeName}}"), "{out}");
    let f = dir.join("custom-checks.yml");
    std::fs::write(&f, &out).expect("write");
    stdout(&check_gen(&["validate", f.to_str().expect("path")]));
    // lookback must be a Go duration: days are not.
    let bad = out.replace("type: METRICS_INSTANT", "type: METRICS_INSTANT\n        parameters:\n          lookback: 1d");
    std::fs::write(&f, &bad).expect("write");
    let o = check_gen(&["validate", f.to_str().expect("path")]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stdout).contains("Go duration"), "{}", String::from_utf8_lossy(&o.stdout));
    let other = out.replace("type: METRICS_INSTANT", "type: METRICS_INSTANT\n        parameters:\n          step: 5m");
    std::fs::write(&f, &other).expect("write");
    let o = check_gen(&["validate", f.to_str().expect("path")]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stdout).contains("takes only lookback"), "{}", String::from_utf8_lossy(&o.stdout));
    // The legacy (version 1) target cannot hold it.
    assert!(!stdout(&check_gen(&["render", "--target", "legacy"])).contains("pipeline_stale_metrics"));
    // `check-gen sql` prints its MetricsQL for PMM's Explore; `run` skips it.
    let q = stdout(&check_gen(&["sql", "mysql_audit_pipeline_stale_metrics"]));
    assert!(q.starts_with("time() - max_over_time(audit_ingest_last_commit_timestamp_seconds{node_name=\"{{.NodeName}}\"}[1d])"), "{q}");
}
