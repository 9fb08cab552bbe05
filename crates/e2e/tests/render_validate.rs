//! `check-gen` renders the checks for every PMM target and table layout, and `check-gen validate`
//! accepts what it rendered.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{bin, run};

fn check_gen(args: &[&str]) -> String {
    let (status, stdout, stderr) = run(Command::new(bin("check-gen")).args(args));
    assert!(status.success(), "check-gen {args:?}: {status}\n{stderr}");
    assert!(
        !stdout.trim().is_empty() || args.contains(&"--out"),
        "check-gen {args:?} printed nothing"
    );
    stdout
}

fn validate(files: &[PathBuf]) {
    validate_for(files, &[]);
}

/// Validates for the PMM release `pmm_version` names (`--pmm-version`), or the newest when empty.
fn validate_for(files: &[PathBuf], pmm_version: &[&str]) {
    assert!(!files.is_empty());
    let mut cmd = Command::new(bin("check-gen"));
    cmd.arg("validate").args(pmm_version).args(files);
    let (status, stdout, stderr) = run(&mut cmd);
    assert_eq!(
        status.code(),
        Some(0),
        "check-gen validate {files:?}:\n{stdout}\n{stderr}"
    );
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

#[test]
fn every_target_renders_and_validates() {
    let dir = tempfile::tempdir().expect("tempdir");
    for layout in ["typed", "json"] {
        let layout_args = ["--table-layout", layout];
        // The default command: the dev-file target on stdout.
        let plain = check_gen(&layout_args);
        let path = dir.path().join(format!("default-{layout}.yml"));
        std::fs::write(&path, &plain).expect("write");
        validate(std::slice::from_ref(&path));

        for target in ["dev-file", "legacy"] {
            let text = check_gen(&[&layout_args[..], &["render", "--target", target]].concat());
            if target == "dev-file" {
                assert_eq!(
                    text, plain,
                    "render --target dev-file differs from the default command"
                );
            }
            let path = dir.path().join(format!("{target}-{layout}.yml"));
            std::fs::write(&path, &text).expect("write");
            // The legacy file (version 1, tiers) is what PMM 2.9 to 2.35 loads.
            let version: &[&str] = if target == "legacy" { &["--pmm-version", "2.35"] } else { &[] };
            validate_for(&[path], version);
        }

        let out = dir.path().join(format!("bundled-{layout}"));
        let out_s = out.to_str().expect("utf-8 path");
        check_gen(
            &[
                &layout_args[..],
                &["render", "--target", "bundled", "--out", out_s],
            ]
            .concat(),
        );
        let files = files_under(&out);
        assert!(
            files.iter().any(|f| f.starts_with(out.join("advisors")))
                && files.iter().any(|f| f.starts_with(out.join("checks"))),
            "bundled output lacks advisors/ or checks/: {files:?}"
        );
        // Checked together (with the cross-file rules: each check's advisor is defined), and each
        // file on its own (cross-file rules apply only when advisor files are given).
        validate(&files);
        for f in &files {
            validate(std::slice::from_ref(f));
        }
    }
}
