//! `audit-ingest backfill` of encrypted rotated files on a real MariaDB: `.enc` and `.gz.enc` made by
//! `gzip` and `openssl` as the servers write them store every record once, a second run stores
//! nothing again, and a wrong password stops with exit 2 and stores nothing.
#![allow(clippy::unwrap_used)] // a test fails loudly

mod common;

use std::path::Path;
use std::process::Command;

use common::TestDb;

fn have_tools() -> bool {
    let ok = ["openssl", "gzip"].iter().all(|t| Command::new(t).arg("--version").output().is_ok_and(|o| o.status.success()) || Command::new(t).arg("version").output().is_ok_and(|o| o.status.success()));
    if !ok {
        eprintln!("SKIPPED: openssl or gzip is not installed, so no encrypted file can be made (install the `openssl` and `gzip` packages)");
    }
    ok
}

fn encrypt(plain: &Path, out: &Path, password_file: &Path, iterations: u32) {
    let st = Command::new("openssl")
        .args(["enc", "-aes-256-cbc", "-md", "sha256", "-salt", "-iter", &iterations.to_string()])
        .arg("-pass")
        .arg(format!("file:{}", password_file.display()))
        .arg("-in")
        .arg(plain)
        .arg("-out")
        .arg(out)
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn encrypted_rotated_files_are_stored_once() {
    if !have_tools() {
        return;
    }
    let db = TestDb::new("encbackfill");
    let (dir, _) = common::log_dir();
    let d = dir.path();
    let password = d.join("password");
    std::fs::write(&password, "Ab3$ x\n").unwrap();
    // Rotated audit_log_filter files: one encrypted, one compressed then encrypted.
    let first = d.join("audit_filter.20261201T101500.log.20261130T090000-1.enc");
    std::fs::write(d.join("p1"), common::lines(0, 300)).unwrap();
    encrypt(&d.join("p1"), &first, &password, 2000);
    std::fs::write(d.join("p2"), common::lines(300, 700)).unwrap();
    let gz = Command::new("gzip").arg("-c").arg(d.join("p2")).output().unwrap();
    std::fs::write(d.join("p2.gz"), gz.stdout).unwrap();
    let second = d.join("audit_filter.20261202T101500.log.gz.20261130T090000-1.enc");
    encrypt(&d.join("p2.gz"), &second, &password, 2000);
    let json = d.join("password.json");
    std::fs::write(&json, r#"{"password":"Ab3$ x","iterations":2000}"#).unwrap();

    let backfill = |password_file: &Path| {
        common::ingest_cmd(&db.dsn(), &["backfill", "--include-self", "--encryption-password-file", password_file.to_str().unwrap(), first.to_str().unwrap(), second.to_str().unwrap()]).output().unwrap()
    };
    let out = backfill(&json);
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("700 new records stored"), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(db.record_ids(), common::ids(0..700));
    assert_eq!(db.dead_count(), 0);

    // Again: both files are committed to their ends.
    let out = backfill(&json);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(" 0 new records stored"), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(db.count(), 700);

    // A wrong password: exit 2, a clear message, nothing stored.
    let db2 = TestDb::new("encbackfill_wrong");
    std::fs::write(&json, r#"{"password":"Ab3$ y","iterations":2000}"#).unwrap();
    let out = common::ingest_cmd(&db2.dsn(), &["backfill", "--include-self", "--encryption-password-file", json.to_str().unwrap(), first.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}: cannot decrypt: wrong password or not an encrypted audit log (", first.display())), "{err}");
    assert_eq!(db2.count(), 0);
    assert_eq!(db2.dead_count(), 0);
}
