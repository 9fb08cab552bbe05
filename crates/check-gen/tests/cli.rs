//! The binary as users run it: every target snapshotted and validated, every check's fixtures through
//! Starlark, and one negative validation case for every PMM rule.
use std::path::Path;
use std::process::{Command, Output};

fn check_gen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_check-gen")).args(args).output().expect("run check-gen")
}

fn stdout(o: &Output) -> String {
    assert!(o.status.success(), "failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone()).expect("utf-8")
}

fn validate_ok(files: &[&Path]) {
    validate_ok_for(None, files);
}

fn validate_ok_for(pmm: Option<&str>, files: &[&Path]) {
    let mut args = vec!["validate"];
    if let Some(v) = pmm {
        args.extend(["--pmm-version", v]);
    }
    args.extend(files.iter().map(|p| p.to_str().expect("path")));
    let o = check_gen(&args);
    assert!(o.status.success(), "validate: {}", String::from_utf8_lossy(&o.stdout));
}

#[test]
fn dev_file_is_the_default_and_valid() {
    let out = stdout(&check_gen(&[]));
    assert_eq!(out, stdout(&check_gen(&["render", "--target", "dev-file"])));
    insta::assert_snapshot!("dev_file", out);
    let dir = tempdir("dev");
    let f = dir.join("custom-checks.yml");
    std::fs::write(&f, &out).expect("write");
    validate_ok(&[&f]);
}

#[test]
fn legacy_target_snapshot_and_valid() {
    let out = stdout(&check_gen(&["render", "--target", "legacy"]));
    insta::assert_snapshot!("legacy", out);
    let dir = tempdir("legacy");
    let f = dir.join("custom-checks.yml");
    std::fs::write(&f, &out).expect("write");
    validate_ok_for(Some("2.35"), &[&f]);
    validate_ok_for(Some("2.9"), &[&f]);
    // PMM 2.36+ wants advisor instead of tiers: the legacy file is not for it.
    let o = check_gen(&["validate", "--pmm-version", "2.36", f.to_str().expect("p")]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(out, stdout(&check_gen(&["render", "--pmm-version", "2.30"])), "2.30 gets the legacy file");
    assert!(!check_gen(&["render", "--pmm-version", "3.3", "--target", "bundled", "--out", "/nonexistent"]).status.success());
}

#[test]
fn json_layout_snapshot_and_valid() {
    let out = stdout(&check_gen(&["--table-layout", "json", "--database", "audit", "--table", "events"]));
    insta::assert_snapshot!("dev_file_json_layout", out);
    assert!(!out.contains("is_failed_login"), "json layout must not use typed columns");
    let dir = tempdir("json");
    let f = dir.join("custom-checks.yml");
    std::fs::write(&f, &out).expect("write");
    validate_ok(&[&f]);
}

#[test]
fn bundled_target_one_file_a_check_plus_advisor() {
    let dir = tempdir("bundled");
    stdout(&check_gen(&["render", "--target", "bundled", "--out", dir.to_str().expect("path")]));
    let mut files: Vec<_> = walk(&dir);
    files.sort();
    assert_eq!(files.len(), 12);
    for f in &files {
        let rel = f.strip_prefix(&dir).expect("prefix").display().to_string();
        insta::assert_snapshot!(format!("bundled__{}", rel.replace('/', "__")), std::fs::read_to_string(f).expect("read"));
    }
    let refs: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    validate_ok(&refs);
}

#[test]
fn only_limits_and_sql_is_standalone() {
    let out = stdout(&check_gen(&["--only", "mysql_audit_failed_logins_24h"]));
    assert_eq!(out.matches("- version: 2").count(), 1);
    let sql = stdout(&check_gen(&["sql", "mysql_audit_failed_logins_24h"]));
    insta::assert_snapshot!("sql_failed_logins", sql);
    assert!(sql.starts_with("SELECT "));
    let o = check_gen(&["--only", "no_such_check"]);
    assert!(!o.status.success());
    let o = check_gen(&["--table", "a`b"]);
    assert!(!o.status.success(), "a hostile identifier must be refused");
}

#[cfg(feature = "test")]
#[test]
fn fixtures_pass_through_starlark() {
    let out = stdout(&check_gen(&["test"]));
    assert!(out.contains("42 passed, 0 failed"), "{out}");
}

#[cfg(feature = "test")]
#[test]
fn a_failing_fixture_fails_test() {
    let dir = tempdir("badfixture");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../checks/mysql_audit_failed_logins_24h.yml");
    let text = std::fs::read_to_string(src).expect("spec").replace("labels: {server: db1, failed_logins: \"3\"}", "labels: {server: db1, failed_logins: \"4\"}");
    std::fs::write(dir.join("mysql_audit_failed_logins_24h.yml"), text).expect("write");
    let o = check_gen(&["test", "--checks", dir.to_str().expect("path")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("FAIL mysql_audit_failed_logins_24h"));
}

/// A subcommand left out of the build says which feature brings it, and fails (exit 2).
#[test]
fn a_subcommand_not_built_names_its_feature() {
    let built = [("test", cfg!(feature = "test")), ("run", cfg!(feature = "run")), ("deploy", cfg!(feature = "deploy"))];
    for (command, _) in built.iter().filter(|(_, on)| !on) {
        let args: &[&str] = match *command {
            "run" => &["run", "--dsn", "mysql://root@127.0.0.1:3306/"],
            "deploy" => &["deploy", "--pmm-url", "http://127.0.0.1:9"],
            _ => &["test"],
        };
        let o = check_gen(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{command}: {err}");
        assert!(err.contains(&format!("needs the `{command}` feature")), "{command}: {err}");
        assert!(err.contains(&format!("cargo run -p check-gen --features {command} -- {command}")), "{command}: {err}");
    }
    // Help lists every subcommand, built or not, and says which feature each optional one needs.
    let help = stdout(&check_gen(&["--help"]));
    for (command, _) in built {
        assert!(help.contains(&format!("  {command} ")), "{help}");
    }
    let help = stdout(&check_gen(&["run", "--help"]));
    assert!(help.contains("Needs the `run` feature"), "{help}");
}

/// A valid version 2 check; each negative case breaks one rule of it.
const GOOD: &str = r#"---
checks:
  - version: 2
    name: good_check
    summary: Good
    description: A valid check.
    advisor: dev
    family: MYSQL
    interval: standard
    queries:
      - type: MYSQL_SELECT
        query: 1 AS one
    script: |
      def check_context(docs, context):
          return [{"summary": "x", "severity": "warning"}]
"#;

fn validate_text(name: &str, text: &str) -> (bool, String) {
    let (code, out) = validate_code(name, text, None);
    (code == 0, out)
}

/// The exit status and stdout of `validate` on one file, for a PMM release or the newest.
fn validate_code(name: &str, text: &str, pmm: Option<&str>) -> (i32, String) {
    let dir = tempdir("validate");
    let f = dir.join(name);
    std::fs::write(&f, text).expect("write");
    let mut args = vec!["validate"];
    if let Some(v) = pmm {
        args.extend(["--pmm-version", v]);
    }
    args.push(f.to_str().expect("path"));
    let o = check_gen(&args);
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stdout).into_owned())
}

#[test]
fn validation_rejects_every_broken_rule() {
    assert!(validate_text("good.yml", GOOD).0, "the base case must be valid");
    let v1 = "---\nchecks:\n  - version: 1\n    name: old_check\n    summary: Old\n    description: Old.\n    tiers: [anonymous]\n    type: MYSQL_SELECT\n    query: 1 AS one\n    script: |\n      def check_context(rows, context):\n          return []\n";
    assert_eq!(validate_code("v1.yml", v1, Some("2.35")).0, 0, "the version 1 base case must be valid for 2.35");
    let cases: &[(&str, String, &str)] = &[
        ("unknown key", GOOD.replace("    interval: standard\n", "    interval: standard\n    severity: warning\n"), "unknown key \"severity\""),
        ("name pattern", GOOD.replace("name: good_check", "name: 1bad-name"), "does not match"),
        ("version", GOOD.replace("version: 2", "version: 3"), "version must be 1 or 2"),
        ("summary required", GOOD.replace("    summary: Good\n", ""), "summary is required"),
        ("description empty", GOOD.replace("description: A valid check.", "description: \"\""), "description must not be empty"),
        ("advisor or tiers", GOOD.replace("    advisor: dev\n", ""), "advisor is required"),
        ("tiers with advisor", GOOD.replace("    advisor: dev\n", "    advisor: dev\n    tiers: [anonymous]\n"), "unknown key \"tiers\""),
        ("v2 forbids type", GOOD.replace("    family: MYSQL\n", "    family: MYSQL\n    type: MYSQL_SELECT\n"), "type is not allowed in a version 2"),
        ("v2 needs family", GOOD.replace("    family: MYSQL\n", ""), "family is required"),
        ("family value", GOOD.replace("family: MYSQL", "family: ORACLE"), "family must be"),
        ("v2 needs queries", GOOD.replace("    queries:\n      - type: MYSQL_SELECT\n        query: 1 AS one\n", ""), "queries is required"),
        ("query type for family", GOOD.replace("- type: MYSQL_SELECT", "- type: POSTGRESQL_SELECT"), "not allowed for family MYSQL"),
        ("select takes no parameters", GOOD.replace("        query: 1 AS one\n", "        query: 1 AS one\n        parameters: {lookback: 5m}\n"), "takes no parameters"),
        ("metrics range", GOOD.replace("- type: MYSQL_SELECT\n        query: 1 AS one", "- type: METRICS_RANGE\n        query: up\n        parameters: {range: 1h}"), "needs the parameter step"),
        ("interval value", GOOD.replace("interval: standard", "interval: Daily"), "interval must be"),
        ("tab in script", GOOD.replace("          return [", "          \treturn ["), "TAB"),
        ("check_context defined", GOOD.replace("def check_context(docs, context):", "def check(rows):"), "no top-level check_context()"),
        ("severity", GOOD.replace("\"severity\": \"warning\"", "\"severity\": \"fatal\""), "severity \"fatal\""),
        ("query starts with SELECT", GOOD.replace("query: 1 AS one", "query: SELECT 1 AS one"), "starts with SELECT"),
        ("v1 needs type", v1.replace("    type: MYSQL_SELECT\n", ""), "type is required"),
        ("v1 forbids queries", v1.replace("    query: 1 AS one\n", "    query: 1 AS one\n    queries: []\n"), "queries is not allowed in a version 1"),
        ("v1 forbids family", v1.replace("    type: MYSQL_SELECT\n", "    type: MYSQL_SELECT\n    family: MYSQL\n"), "family is not allowed in a version 1"),
        ("v1 query required", v1.replace("    query: 1 AS one\n", ""), "needs a query"),
        ("tier value", v1.replace("[anonymous]", "[gold]"), "tier must be one of"),
        ("bad YAML", "checks: [\n".to_string(), "not valid YAML"),
        ("unknown top-level key", GOOD.replace("checks:", "chekcs:"), "unknown top-level key"),
        ("duplicate name", format!("{GOOD}{}", GOOD.replace("---\nchecks:\n", "")), "duplicate check name"),
    ];
    for (rule, text, want) in cases {
        let v1_case = text.contains("version: 1");
        let (code, out) = validate_code("custom.yml", text, v1_case.then_some("2.35"));
        let ok = code == 0;
        assert!(!ok, "{rule}: accepted:\n{text}");
        assert!(out.contains(want), "{rule}: expected {want:?} in:\n{out}");
        assert!(out.contains("custom.yml:"), "{rule}: no file:line in {out}");
    }
    // Messages name the check and the line.
    let (_, out) = validate_text("custom.yml", &GOOD.replace("interval: standard", "interval: Daily"));
    assert!(out.contains("custom.yml:9: error: check good_check: interval must be"), "{out}");
}

#[test]
fn validate_separates_load_errors_from_run_time_warnings() {
    // What PMM itself loads: a YAML integer as the query text, severity notice.
    assert_eq!(validate_code("ok.yml", &GOOD.replace("query: 1 AS one", "query: 1"), None).0, 0);
    assert_eq!(validate_code("ok.yml", &GOOD.replace("\"warning\"}]", "\"notice\"}]"), None).0, 0);
    // Multi-byte text where a keyword is looked for must not panic.
    let (code, out) = validate_code("ok.yml", &GOOD.replace("query: 1 AS one", "query: \"a\u{e9}\u{e9}\u{e9}x\""), None);
    assert_eq!(code, 0, "{out}");
    // Loads, fails when it runs: exit 3, a warning naming the releases.
    let (code, out) = validate_code("w.yml", &GOOD.replace("          return [", "          while True:\n              pass\n          return ["), None);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("warning: check good_check: `while`") && out.contains("PMM 2.9+"), "{out}");
    let set = GOOD.replace("          return [", "          s = set([1])\n          return [");
    assert_eq!(validate_code("w.yml", &set, Some("3.0")).0, 3);
    assert_eq!(validate_code("w.yml", &set.replace("advisor: dev\n", "tiers: [anonymous]\n"), Some("2.30")).0, 0, "PMM 2 allows set()");
    let info = GOOD.replace("\"warning\"}]", "\"info\"}]");
    assert_eq!(validate_code("w.yml", &info, Some("3.4")).0, 0);
    let (code, out) = validate_code("w.yml", &info, Some("2.40"));
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("severity \"info\": PMM 2.40 refuses it") && out.contains("[PMM 2.x"), "{out}");
    // Refused at load time beats any warning: exit 1.
    let both = GOOD.replace("query: 1 AS one", "query: SELECT 1").replace("interval: standard", "interval: Daily");
    let (code, out) = validate_code("e.yml", &both, None);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("error: ") && out.contains("warning: "), "{out}");
    // Version 2 needs 2.28; bundled files need 3.4 and the .yaml extension.
    assert_eq!(validate_code("e.yml", &GOOD.replace("advisor: dev\n", "tiers: [anonymous]\n"), Some("2.27")).0, 1);
    let bundled = GOOD.replace("advisor: dev", "advisor: my_advisor");
    let (code, out) = validate_code("good_check.yml", &bundled, None);
    assert!(code == 1 && out.contains("loads only *.yaml"), "{out}");
    let (code, out) = validate_code("good_check.yaml", &bundled, Some("3.3"));
    assert!(code == 1 && out.contains("bundled check files start with PMM 3.4"), "{out}");
}

#[test]
fn bundled_rules() {
    let bundled = GOOD.replace("advisor: dev", "advisor: my_advisor");
    let (ok, out) = validate_text("other_name.yml", &bundled);
    assert!(!ok && out.contains("named after its check"), "{out}");
    let two = format!("{bundled}{}", bundled.replace("---\nchecks:\n", "").replace("good_check", "second_check"));
    let (ok, out) = validate_text("good_check.yml", &two);
    assert!(!ok && out.contains("exactly one check"), "{out}");
    // An advisor file given together: the check's advisor must be defined there.
    let dir = tempdir("advisors");
    let adv = dir.join("adv.yml");
    std::fs::write(&adv, "advisors:\n  - version: 1\n    name: other_advisor\n    summary: S\n    description: D\n    category: security\n    tiers: [anonymous]\n").expect("write");
    let chk = dir.join("good_check.yml");
    std::fs::write(&chk, &bundled).expect("write");
    let o = check_gen(&["validate", adv.to_str().expect("p"), chk.to_str().expect("p")]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("advisor \"my_advisor\" is not defined"));
    let (ok, out) = validate_text("adv.yml", "advisors:\n  - version: 2\n    name: a\n    summary: S\n    description: D\n    category: security\n    tiers: [anonymous]\n    extra: 1\n");
    assert!(!ok && out.contains("advisor version must be 1") && out.contains("unknown key \"extra\""), "{out}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

fn tempdir(tag: &str) -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos();
    let d = std::env::temp_dir().join(format!("check-gen-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&d).expect("mkdir");
    d
}
