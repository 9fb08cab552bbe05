//! The `audit-ingest follow` daemon on real files and a real MariaDB: appends, rotation by rename
//! (running and stopped, several in a row), copytruncate, SIGTERM, and kill -9 at random points. After
//! each, the table holds exactly the records written, once each (compared as a multiset of record ids).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{append, ids, lines, rotate, spawn_follow, stop, TestDb};

const WAIT: Duration = Duration::from_secs(60);

fn wait(db: &TestDb, n: u64, dir: &std::path::Path) {
    let t = Instant::now();
    loop {
        let c = db.count();
        if c == n {
            return;
        }
        if t.elapsed() > WAIT {
            let got = db.record_ids();
            let missing: Vec<_> = ids(0..n).into_iter().filter(|i| got.binary_search(i).is_err()).collect();
            panic!("timed out: {c} rows, want {n}; missing {missing:?}\n{}", common::follow_logs(dir));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn updated_at(db: &TestDb) -> String {
    db.query::<String>(&format!("SELECT DATE_FORMAT(updated_at, '%Y-%m-%d %H:%i:%s.%f') FROM {}", db.checkpoint())).pop().unwrap()
}

#[test]
fn follow_appends_heartbeat_and_sigterm() {
    let db = TestDb::new("follow");
    let (dir, log) = common::log_dir();
    append(&log, &lines(0, 50));
    let t = Instant::now();
    let child = spawn_follow(&db.dsn(), dir.path(), &[], &log);
    wait(&db, 50, dir.path());
    eprintln!("first 50 records stored after {:?}", t.elapsed());
    let mut n = 50;
    for step in [1u64, 30, 7, 100] {
        let t = Instant::now();
        append(&log, &lines(n, n + step));
        n += step;
        wait(&db, n, dir.path());
        eprintln!("+{step} stored after {:?}", t.elapsed());
    }
    // Idle: the heartbeat (the checkpoint row's updated_at) keeps moving.
    let before = updated_at(&db);
    std::thread::sleep(Duration::from_millis(2600));
    let after = updated_at(&db);
    assert!(after > before, "heartbeat not refreshed while idle: {before} then {after}");
    // Records appended just before SIGTERM are committed before the exit.
    append(&log, &lines(n, n + 5));
    n += 5;
    std::thread::sleep(Duration::from_millis(300));
    let st = stop(child);
    assert_eq!(st.code(), Some(0), "exit status {st:?}\n{}", common::follow_logs(dir.path()));
    assert_eq!(db.record_ids(), ids(0..n));
}

#[test]
fn rotation_running_stopped_and_copytruncate() {
    let db = TestDb::new("rotate");
    let (dir, log) = common::log_dir();
    let mut n = 0u64;
    let mut add = |k: u64| {
        append(&log, &lines(n, n + k));
        n += k;
        n
    };
    add(20);
    let child = spawn_follow(&db.dsn(), dir.path(), &["--batch-rows", "7"], &log);
    wait(&db, 20, dir.path());
    // Renames while running, several in a row: some with unread records left in the renamed file.
    for round in 0..3 {
        add(5);
        rotate(&log);
        if round == 1 {
            rotate(&log); // a second rename before the first new file was even written
        }
        let want = add(9);
        wait(&db, want, dir.path());
        assert_eq!(db.record_ids(), ids(0..want), "after running rotation {round}");
    }
    assert_eq!(stop(child).code(), Some(0));
    // Renames while stopped, several in a row, with records in every file.
    for _ in 0..3 {
        add(4);
        rotate(&log);
    }
    let want = add(6);
    let child = spawn_follow(&db.dsn(), dir.path(), &["--batch-rows", "7"], &log);
    wait(&db, want, dir.path());
    assert_eq!(db.record_ids(), ids(0..want), "after stopped rotations");
    // copytruncate while running, twice, with records unread at the moment of the copy.
    for _ in 0..2 {
        add(11);
        common::copytruncate(&log);
        let want = add(3);
        wait(&db, want, dir.path());
        assert_eq!(db.record_ids(), ids(0..want), "after copytruncate");
    }
    assert_eq!(stop(child).code(), Some(0));
    // copytruncate while stopped.
    add(8);
    common::copytruncate(&log);
    let want = add(2);
    let child = spawn_follow(&db.dsn(), dir.path(), &[], &log);
    wait(&db, want, dir.path());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(stop(child).code(), Some(0));
    assert_eq!(db.record_ids(), ids(0..want), "at the end\n{}", common::follow_logs(dir.path()));
    assert_eq!(db.dead_count(), 0);
}

/// A tiny xorshift generator; the seed is printed so a failure can be replayed (`INGEST_TEST_SEED`).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn kill_9_cycles_store_each_record_once() {
    let cycles: u64 = std::env::var("INGEST_TEST_KILL_CYCLES").ok().and_then(|v| v.parse().ok()).unwrap_or(30);
    let seed = std::env::var("INGEST_TEST_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
    });
    eprintln!("kill -9 cycles: {cycles}, INGEST_TEST_SEED={seed}");
    let mut rng = Rng(seed);
    let db = TestDb::new("kill9");
    let (dir, log) = common::log_dir();
    let mut n = 0u64;
    let mut rotations = 0;
    let t0 = Instant::now();
    for _ in 0..cycles {
        let k = rng.below(40);
        append(&log, &lines(n, n + k));
        n += k;
        // A source without a checkpoint starts at the live file's beginning (`follow` does not read
        // files rotated before its first start: that is `backfill`'s job), so rotate only once a
        // checkpoint exists.
        let has_checkpoint = db.try_query::<u64>(&format!("SELECT COUNT(*) FROM {} WHERE state IS NOT NULL", db.checkpoint())).is_ok_and(|v| v == [1]);
        if has_checkpoint && rng.below(4) == 0 {
            rotate(&log);
            rotations += 1;
            let k = rng.below(10);
            append(&log, &lines(n, n + k));
            n += k;
        }
        let mut child = spawn_follow(&db.dsn(), dir.path(), &["--batch-rows", "7"], &log);
        std::thread::sleep(Duration::from_millis(50 + rng.below(400)));
        // Sometimes append while it runs, right before the kill.
        if rng.below(3) == 0 {
            let k = rng.below(15);
            append(&log, &lines(n, n + k));
            n += k;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Never a duplicate, whatever the moment of the kill.
        let got = db.record_ids();
        let mut dedup = got.clone();
        dedup.dedup();
        assert_eq!(dedup.len(), got.len(), "duplicates after a kill (seed {seed})");
    }
    let mid = db.count();
    let child = spawn_follow(&db.dsn(), dir.path(), &[], &log);
    wait(&db, n, dir.path());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(stop(child).code(), Some(0));
    assert_eq!(db.record_ids(), ids(0..n), "seed {seed}\n{}", common::follow_logs(dir.path()));
    assert_eq!(db.dead_count(), 0, "seed {seed}");
    eprintln!("{cycles} kill -9 cycles, {rotations} rotations, {n} records ({mid} stored before the final run) in {:?}", t0.elapsed());
}
