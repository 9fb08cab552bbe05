//! Backfilling what was stored already stores nothing twice, whatever the file's name, inode or
//! compression: the followed log itself, a copy of it, its gzip; a copy that holds more than was
//! stored gives only the rest, keyed like the original's rows (so the follower's later reading of the
//! same bytes is a replay). The summary counts only rows really inserted. Each backfill's source is
//! finished; the follower's stays live.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{append, ingest_cmd, lines, spawn_follow, stop, TestDb};

fn backfill(db: &TestDb, file: &std::path::Path) -> (String, String) {
    let out = ingest_cmd(&db.dsn(), &["backfill", file.to_str().unwrap()]).env("NO_COLOR", "1").stdin(Stdio::null()).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert!(out.status.success(), "backfill {}: {stdout}{stderr}", file.display());
    (stdout, stderr)
}

fn wait_count(db: &TestDb, n: u64) {
    let t = Instant::now();
    while db.count() != n {
        assert!(t.elapsed() < Duration::from_secs(30), "{} rows, want {n}", db.count());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn copies_gzips_and_the_followed_log_itself_are_not_stored_twice() {
    let db = TestDb::new("copies");
    let (dir, log) = common::log_dir();
    append(&log, &lines(0, 40));
    // Rotated before the follower's first start: history it does not read, for backfill to import.
    let rotated = dir.path().join("audit.log.1");
    append(&rotated, &lines(200, 210));
    let old = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options().write(true).open(&rotated).unwrap().set_modified(old).unwrap();
    let child = spawn_follow(&db.dsn(), dir.path(), &[], &log);
    wait_count(&db, 40);
    // Let the checkpoint settle at the file's end, then stop.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(stop(child).code(), Some(0));

    let copy = dir.path().join("saved-copy.txt");
    std::fs::copy(&log, &copy).unwrap();
    let gz = dir.path().join("saved-copy.txt.gz");
    assert!(Command::new("sh").arg("-c").arg(format!("gzip -c {} > {}", copy.display(), gz.display())).status().unwrap().success());
    for file in [&log, &copy, &gz] {
        let (out, err) = backfill(&db, file);
        assert!(err.contains(&format!("{}: skipped: its content is stored already", file.display())), "{err}");
        assert!(out.contains("(1 skipped: stored already), 0 new records stored"), "{out}");
        assert!(!err.contains("LOAD DATA"), "{err}");
        assert_eq!(db.count(), 40, "backfill of {} stored duplicates", file.display());
    }

    // The log grew while nobody followed it; a copy taken now holds 10 records more: only they are
    // stored, and the follower, started again, finds them stored.
    append(&log, &lines(40, 50));
    std::fs::copy(&log, &copy).unwrap();
    let (out, err) = backfill(&db, &copy);
    assert!(err.contains("are stored already") && err.contains("reading the rest"), "{err}");
    assert!(out.contains("10 new records stored"), "{out}");
    assert_eq!(db.count(), 50);
    append(&log, &lines(50, 55));
    let child = spawn_follow(&db.dsn(), dir.path(), &[], &log);
    wait_count(&db, 55);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(stop(child).code(), Some(0));
    assert_eq!(db.record_ids(), common::ids(0..55), "{}", common::follow_logs(dir.path()));

    // The history the follower skipped is in its checkpoint's list of files, yet not stored: imported.
    let (out, err) = backfill(&db, &rotated);
    assert!(out.contains("10 new records stored"), "{out}{err}");
    assert!(!err.contains("stored already"), "{err}");
    assert_eq!(db.count(), 65);

    // A file of new content is stored; its source is finished, the follower's live.
    let other = dir.path().join("other.log");
    append(&other, &lines(100, 103));
    let (out, _) = backfill(&db, &other);
    assert!(out.contains("3 new records stored, 0 already stored"), "{out}");
    let out = ingest_cmd(&db.dsn(), &["sources"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let states: Vec<(&str, &str)> = text.lines().skip(1).map(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        (w[1], w[2])
    }).collect();
    assert_eq!(states.len(), 4, "the follower's, the copy's, audit.log.1's and other.log's backfill: {text}");
    assert_eq!(states.iter().filter(|(_, s)| *s == "finished").count(), 3, "{text}");
    assert!(states.iter().any(|(src, s)| *src == log.to_str().unwrap() && *s == "live"), "{text}");
}
