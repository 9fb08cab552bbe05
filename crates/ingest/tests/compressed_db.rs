//! Compressed logs on a real MariaDB: `backfill` of files made by the real `gzip` (one member and
//! concatenated members), `follow` through the real `logrotate` with `compress` while running and
//! stopped, and `follow` of a live gzip-compressed file (audit_log_filter `compression=GZIP`) across a
//! kill -9. The table holds each record exactly once.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{append, ids, lines, spawn_follow, stop, TestDb};
use flate2::write::GzEncoder;
use flate2::Compression;

fn wait(db: &TestDb, n: u64, dir: &Path) {
    let t = Instant::now();
    while db.count() != n {
        if t.elapsed() > Duration::from_secs(60) {
            panic!("timed out: {} rows, want {n}\n{}", db.count(), common::follow_logs(dir));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn gzip(path: &Path) {
    run(Command::new("gzip").arg(path));
}

#[test]
fn backfill_reads_files_compressed_by_gzip_once() {
    let db = TestDb::new("gzbackfill");
    let (dir, log) = common::log_dir();
    let d = dir.path();
    append(&d.join("audit.log.3"), &lines(0, 30));
    append(&d.join("audit.log.2"), &lines(30, 60));
    append(&d.join("audit.log.1"), &lines(60, 90));
    append(&log, &lines(90, 100));
    gzip(&d.join("audit.log.3"));
    gzip(&d.join("audit.log.2"));
    // Two members in one file, as `cat a.gz b.gz` or a writer that restarted its stream makes.
    append(&d.join("part"), &lines(60, 75));
    gzip(&d.join("part"));
    let mut member2 = d.join("audit.log.1");
    fs::write(&member2, lines(75, 90)).unwrap();
    gzip(&member2);
    member2 = d.join("audit.log.1.gz");
    let mut both = fs::read(d.join("part.gz")).unwrap();
    both.extend(fs::read(&member2).unwrap());
    fs::write(&member2, both).unwrap();
    fs::remove_file(d.join("part.gz")).unwrap();
    let files = ["audit.log.3.gz", "audit.log.2.gz", "audit.log.1.gz", "audit.log"].map(|f| d.join(f).to_str().unwrap().to_string());
    let mut args = vec!["backfill"];
    args.extend(files.iter().map(String::as_str));
    for _ in 0..2 {
        let out = common::ingest_cmd(&db.dsn(), &args).output().unwrap();
        assert!(out.status.success(), "backfill failed: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(db.record_ids(), ids(0..100));
    assert_eq!(db.dead_count(), 0);
}

fn logrotate(log: &Path, options: &str) {
    let dir = log.parent().unwrap();
    let conf = dir.join("logrotate.conf");
    fs::write(&conf, format!("{} {{\n  rotate 50\n  create\n{options}\n}}\n", log.display())).unwrap();
    run(Command::new("logrotate").arg("-f").arg("-s").arg(dir.join("logrotate.state")).arg(&conf));
}

#[test]
fn follow_through_logrotate_compress_running_and_stopped() {
    let db = TestDb::new("gzfollow");
    let (dir, log) = common::log_dir();
    let mut n = 0;
    let mut add = |k: u64| {
        append(&log, &lines(n, n + k));
        n += k;
        n
    };
    add(30);
    let child = spawn_follow(&db.dsn(), dir.path(), &[], &log);
    wait(&db, 30, dir.path());
    for opts in ["  compress\n  delaycompress", "  compress"] {
        add(10);
        logrotate(&log, opts);
        let k = add(5);
        wait(&db, k, dir.path());
    }
    add(7);
    stop(child);
    // Stopped: rotated and compressed twice, the first time with records not read yet.
    logrotate(&log, "  compress");
    add(6);
    logrotate(&log, "  compress\n  delaycompress");
    let total = add(4);
    let child = spawn_follow(&db.dsn(), dir.path(), &[], &log);
    wait(&db, total, dir.path());
    // Let it run a little longer: nothing is read again.
    std::thread::sleep(Duration::from_millis(500));
    stop(child);
    assert_eq!(db.record_ids(), ids(0..total), "{}", common::follow_logs(dir.path()));
    assert_eq!(db.dead_count(), 0);
}

#[test]
fn follow_a_live_gzip_file_across_kill_9() {
    let db = TestDb::new("gzlive");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit_filter.log");
    let mut enc = GzEncoder::new(OpenOptions::new().create(true).append(true).open(&log).unwrap(), Compression::default());
    let mut n = 0;
    let mut add = |enc: &mut GzEncoder<File>, k: u64| {
        for i in n..n + k {
            enc.write_all(common::json_line(i).as_bytes()).unwrap();
            // audit_log_filter flushes the compressed stream after each event.
            enc.flush().unwrap();
        }
        n += k;
        n
    };
    let k = add(&mut enc, 40);
    let child = spawn_follow(&db.dsn(), dir.path(), &[], &log);
    wait(&db, k, dir.path());
    add(&mut enc, 25);
    std::thread::sleep(Duration::from_millis(30));
    common::signal(&child, "KILL");
    let mut child = child;
    child.wait().unwrap();
    let k = add(&mut enc, 15);
    let child = spawn_follow(&db.dsn(), dir.path(), &[], &log);
    wait(&db, k, dir.path());
    // Rotated by the component's naming, the new live file compressed too.
    enc.finish().unwrap();
    fs::rename(&log, dir.path().join("audit_filter.20261201T120000-1.log.gz")).unwrap();
    let mut enc = GzEncoder::new(File::create(&log).unwrap(), Compression::default());
    let total = add(&mut enc, 10);
    wait(&db, total, dir.path());
    stop(child);
    assert_eq!(db.record_ids(), ids(0..total));
    assert_eq!(db.dead_count(), 0);
}
