//! Encrypted audit logs made by the standard tools exactly as the manuals decrypt them (`openssl enc
//! -aes-256-cbc -md sha256 [-iter N]`, `gzip` before it for `.gz.enc`), read by `audit-ingest parse`
//! with the password from a file or the environment: the same records as the plaintext, and clear
//! errors (exit 2) for a wrong password or a cut file.
#![allow(clippy::unwrap_used)] // a test fails loudly

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/encrypted");
/// A password with the characters that break naive quoting.
const PASSWORD: &str = r#"p@ss w0rd!"{}\$`"#;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_audit-ingest"));
    c.env_remove("AUDIT_INGEST_ENCRYPTION_PASSWORD");
    c
}

/// Whether openssl can run here; the tests need it (`.ci/run` installs it).
fn have_openssl() -> bool {
    let ok = Command::new("openssl").arg("version").output().is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIPPED: openssl is not installed, so no encrypted file can be made (install the `openssl` package)");
    }
    ok
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// Encrypts `plain` into `out` as the server does: `-iter` for Percona's PBKDF2, none for MySQL's
/// EVP_BytesToKey; the password comes from a file, as `openssl -pass file:` reads it.
fn openssl_encrypt(plain: &Path, out: &Path, password_file: &Path, iterations: Option<u32>) {
    let mut c = Command::new("openssl");
    c.args(["enc", "-aes-256-cbc", "-md", "sha256", "-salt"]);
    if let Some(n) = iterations {
        c.args(["-iter", &n.to_string()]);
    }
    c.arg("-pass").arg(format!("file:{}", password_file.display())).arg("-in").arg(plain).arg("-out").arg(out);
    run(&mut c);
}

fn gzip(plain: &Path, out: &Path) {
    let o = run(Command::new("gzip").arg("-c").arg(plain));
    std::fs::write(out, o.stdout).unwrap();
}

/// The records `parse` prints, without the `file` key (the names differ).
fn records(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8(stdout.to_vec())
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("file");
            v
        })
        .collect()
}

fn plaintext_records(name: &str) -> Vec<Value> {
    let out = run(bin().args(["parse", &format!("{FIXTURES}/{name}")]));
    let r = records(&out.stdout);
    assert!(r.len() >= 5, "{name}: {} records", r.len());
    r
}

struct Setup {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    password_file: PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
    Setup { dir: dir.path().to_path_buf(), _dir: dir, password_file }
}

#[test]
fn percona_pbkdf2_files_parse_to_the_plaintexts_records() {
    if !have_openssl() {
        return;
    }
    let s = setup();
    for (name, iterations) in [("audit_filter.xml", 1000), ("audit_filter.json", 568_977)] {
        let enc = s.dir.join(format!("{name}.20261130T090000-1.enc"));
        openssl_encrypt(&Path::new(FIXTURES).join(name), &enc, &s.password_file, Some(iterations));
        // The JSON audit_log_encryption_password_get() returns, in a file.
        let json = s.dir.join("password.json");
        std::fs::write(&json, serde_json::json!({ "password": PASSWORD, "iterations": iterations }).to_string()).unwrap();
        let out = run(bin().args(["parse", "--encryption-password-file"]).arg(&json).arg(&enc));
        assert_eq!(records(&out.stdout), plaintext_records(name), "{name}");
        // The bare password and the count on the command line.
        let out = run(bin().args(["parse", "--encryption-iterations", &iterations.to_string(), "--encryption-password-file"]).arg(&s.password_file).arg(&enc));
        assert_eq!(records(&out.stdout), plaintext_records(name), "{name}");
    }
}

#[test]
fn compressed_then_encrypted_files_are_decrypted_then_decompressed() {
    if !have_openssl() {
        return;
    }
    let s = setup();
    let gz = s.dir.join("audit_filter.20261201T101500.log.gz");
    gzip(&Path::new(FIXTURES).join("audit_filter.xml"), &gz);
    let enc = s.dir.join("audit_filter.20261201T101500.log.gz.20261130T090000-1.enc");
    openssl_encrypt(&gz, &enc, &s.password_file, Some(1000));
    let json = serde_json::json!({ "password": PASSWORD, "iterations": 1000 }).to_string();
    let out = run(bin().args(["parse"]).arg(&enc).env("AUDIT_INGEST_ENCRYPTION_PASSWORD", json));
    assert_eq!(records(&out.stdout), plaintext_records("audit_filter.xml"));
}

#[test]
fn mysql_enterprise_files_use_the_manuals_key_derivation() {
    if !have_openssl() {
        return;
    }
    let s = setup();
    let enc = s.dir.join("audit.20261201T101500.log.20261130T090000-1.enc");
    openssl_encrypt(&Path::new(FIXTURES).join("audit_filter.xml"), &enc, &s.password_file, None);
    let out = run(bin().args(["parse"]).arg(&enc).env("AUDIT_INGEST_ENCRYPTION_PASSWORD", PASSWORD));
    assert_eq!(records(&out.stdout), plaintext_records("audit_filter.xml"));
}

#[test]
fn a_wrong_password_is_a_clear_error_and_no_records() {
    if !have_openssl() {
        return;
    }
    let s = setup();
    let enc = s.dir.join("audit_filter.log.20261130T090000-1.enc");
    openssl_encrypt(&Path::new(FIXTURES).join("audit_filter.xml"), &enc, &s.password_file, Some(1000));
    let plain = Path::new(FIXTURES).join("audit_filter.json");
    for (password, iterations) in [("wrong", "1000"), (PASSWORD, "1001")] {
        let out = bin().args(["parse", "--encryption-iterations", iterations]).arg(&enc).arg(&plain).env("AUDIT_INGEST_ENCRYPTION_PASSWORD", password).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.starts_with(&format!("{}: cannot decrypt: wrong password or not an encrypted audit log (", enc.display())), "{err}");
        assert_eq!(err.lines().count(), 1, "nothing parsed from it: {err}");
        // The run goes on with the next file.
        assert_eq!(records(&out.stdout), plaintext_records("audit_filter.json"));
    }
    // No password at all.
    let out = bin().arg("parse").arg(&enc).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("--encryption-password-file") && err.contains("AUDIT_INGEST_ENCRYPTION_PASSWORD"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn a_cut_file_gives_its_whole_records_then_an_error() {
    if !have_openssl() {
        return;
    }
    let s = setup();
    let enc = s.dir.join("audit_filter.log.20261130T090000-1.enc");
    openssl_encrypt(&Path::new(FIXTURES).join("audit_filter.xml"), &enc, &s.password_file, Some(1000));
    let whole = std::fs::read(&enc).unwrap();
    let all = plaintext_records("audit_filter.xml");
    for cut in [whole.len() - 7, whole.len() - 16, whole.len() / 2] {
        let part = s.dir.join("cut.enc");
        std::fs::write(&part, &whole[..cut]).unwrap();
        let out = bin().args(["parse", "--encryption-iterations", "1000", "--encryption-password-file"]).arg(&s.password_file).arg(&part).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "cut at {cut}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains("cannot decrypt the end:") && err.contains("the file is cut"), "cut at {cut}: {err}");
        let got = records(&out.stdout);
        assert!(!got.is_empty() && got.len() <= all.len() && (cut > whole.len() / 2 || got.len() < all.len()), "cut at {cut}: {} records", got.len());
        assert_eq!(got, all[..got.len()], "cut at {cut}: the records before the cut are exact");
    }
}

#[test]
fn follow_refuses_an_encrypted_live_log_and_says_what_to_do() {
    let enc = Path::new(FIXTURES).join("audit_filter.xml.pbkdf2-1000.enc");
    let out = bin().arg("follow").arg(&enc).env("AUDIT_INGEST_DSN", "mysql://nobody@127.0.0.1:9/x").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("follow does not read an encrypted live log") && err.contains("backfill"), "{err}");
}
