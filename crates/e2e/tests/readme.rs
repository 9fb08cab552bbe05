//! Every command in the README's indented code blocks is run here (or, for the test command, by CI),
//! so the README cannot rot: a new command that this test does not know fails it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

const README: &str = include_str!("../../../README.md");

/// The commands of the README's indented blocks (4 or more spaces, starting with a program name).
fn commands() -> Vec<String> {
    README
        .lines()
        .filter(|l| l.starts_with("    "))
        .map(str::trim)
        .filter(|l| l.starts_with("cargo ") || l.starts_with("docker "))
        .map(|l| l.split("   #").next().unwrap_or(l).trim().to_string())
        .collect()
}

#[test]
fn every_readme_command_runs() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(workspace.join("examples"), dir.path().join("examples")).unwrap();
    let server = common::start_server(test_harness::MariaDb::builder());
    // The tables `check-gen run` queries exist once audit-ingest created them.
    let (status, _, err) = common::run(Command::new(common::bin("audit-ingest")).args([
        "schema",
        "--apply",
        "--dsn",
        &common::percona_dsn(&server),
    ]));
    assert!(status.success(), "{err}");
    let cmds = commands();
    assert!(cmds.len() >= 6, "README commands not found: {cmds:?}");
    let mut ran = 0;
    for cmd in &cmds {
        if cmd.starts_with("cargo test ") {
            // .ci/run runs exactly this line of the README.
            let ci = std::fs::read_to_string(workspace.join(".ci/run")).unwrap();
            assert!(
                ci.contains("README.md"),
                ".ci/run must take its test command from the README"
            );
            continue;
        }
        if cmd.starts_with("docker cp ") {
            // Copies into a pmm-server container; no container engine runs on the test machines.
            continue;
        }
        let rest = cmd
            .strip_prefix("cargo run -p ")
            .unwrap_or_else(|| panic!("README command not covered by a test: {cmd}"));
        let (rest, redirect) = match rest.split_once(" > ") {
            Some((r, file)) => (r, Some(file.trim())),
            None => (rest, None),
        };
        let mut words: Vec<&str> = rest.split_whitespace().collect();
        let package = words.remove(0);
        let binary = match (package, words.first()) {
            ("ingest", Some(&"--bin")) => {
                words.remove(0);
                words.remove(0)
            }
            ("check-gen", _) => "check-gen",
            _ => panic!("README command not covered by a test: {cmd}"),
        };
        // `--features F` picks what cargo builds; the binary of this build has every feature.
        while words.first() == Some(&"--features") {
            words.drain(..2.min(words.len()));
        }
        if words.first() == Some(&"--") {
            words.remove(0);
        }
        let args: Vec<String> = words
            .iter()
            .map(|w| {
                if w.starts_with("mysql://") {
                    common::server_dsn(&server)
                } else {
                    (*w).to_string()
                }
            })
            .collect();
        let out = Command::new(common::bin(binary))
            .args(&args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "README command failed: {cmd}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if redirect.is_some() || binary == "audit-ingest" {
            assert!(!out.stdout.is_empty(), "README command printed nothing: {cmd}");
        }
        if let Some(file) = redirect {
            std::fs::write(dir.path().join(file), &out.stdout).unwrap();
        }
        ran += 1;
    }
    assert!(ran >= 5, "only {ran} README commands ran");
}
