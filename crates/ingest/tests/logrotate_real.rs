//! The follower against the real `logrotate` (and `gzip`): the schemes users configure, run while
//! the follower reads and while it is stopped, with crashes in between. Every record exactly once.
//! Needs `logrotate` and `gzip` on the PATH (`.ci/run` installs them).
#![allow(clippy::unwrap_used)] // a test fails loudly

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ingest::checkpoint::Checkpoint;
use ingest::follower::{Event, FollowOptions, Follower};

fn record(n: u64) -> String {
    format!(
        r#"{{"audit_record":{{"name":"Connect","record":"{n}_2026-11-29T05:00:00","timestamp":"2026-11-29T05:00:00Z","connection_id":"{n}","status":0,"user":"u{n}","priv_user":"","os_login":"","proxy_user":"","host":"h","ip":"10.0.0.1","db":""}}}}"#
    ) + "\n"
}

fn append(log: &Path, from: u64, to: u64) {
    let mut f = OpenOptions::new().create(true).append(true).open(log).unwrap();
    for n in from..to {
        f.write_all(record(n).as_bytes()).unwrap();
    }
}

/// Runs logrotate once, forced, with `options` for `log`.
fn logrotate(log: &Path, options: &str) {
    let dir = log.parent().unwrap();
    let conf = dir.join("logrotate.conf");
    // `create` makes the new live file as the server would on its next write.
    fs::write(&conf, format!("{} {{\n  rotate 50\n  missingok\n{options}\n}}\n", log.display())).unwrap();
    let out = Command::new("logrotate").arg("-f").arg("-s").arg(dir.join("logrotate.state")).arg(&conf).output().expect("logrotate must be installed");
    assert!(out.status.success(), "logrotate failed: {}", String::from_utf8_lossy(&out.stderr));
}

fn poll_all(f: &mut Follower, into: &mut Vec<u64>) -> Option<Checkpoint> {
    loop {
        let items = f.poll(97).unwrap();
        if items.is_empty() {
            return f.checkpoint();
        }
        for it in items {
            match it.event {
                Event::Record(r) => into.push(r.connection_id().unwrap()),
                Event::Malformed(m) => panic!("{}: {} at {}", it.path.display(), m.reason, m.position.byte),
            }
        }
    }
}

/// Rotations alternate between a running follower and a stopped one (restarted from its
/// checkpoint), with a crash (what was read but not committed is read again) in between.
fn exercise(options: &str, pause: Duration) {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("audit.log");
    append(&log, 0, 5);
    let mut f = Follower::new(&log, None, FollowOptions::default()).unwrap();
    let mut got = Vec::new();
    let mut ck = poll_all(&mut f, &mut got);
    let mut n = 5;
    for round in 0..6u64 {
        append(&log, n, n + 7);
        n += 7;
        match round % 3 {
            // Running: read some, rotate, read on.
            0 => {
                ck = poll_all(&mut f, &mut got);
                append(&log, n, n + 3);
                n += 3;
                logrotate(&log, options);
                append(&log, n, n + 2);
                n += 2;
                ck = poll_all(&mut f, &mut got).or(ck);
            }
            // Stopped: rotated twice before the restart.
            1 => {
                drop(f);
                logrotate(&log, options);
                std::thread::sleep(pause);
                append(&log, n, n + 4);
                n += 4;
                logrotate(&log, options);
                append(&log, n, n + 1);
                n += 1;
                f = Follower::new(&log, ck.as_ref(), FollowOptions::default()).unwrap();
                ck = poll_all(&mut f, &mut got).or(ck);
            }
            // Crash: read without committing, rotated, restarted from the last commit.
            _ => {
                let mut lost = Vec::new();
                poll_all(&mut f, &mut lost);
                drop(f);
                logrotate(&log, options);
                f = Follower::new(&log, ck.as_ref(), FollowOptions::default()).unwrap();
                ck = poll_all(&mut f, &mut got).or(ck);
            }
        }
        std::thread::sleep(pause);
    }
    let names: Vec<_> = fs::read_dir(tmp.path()).unwrap().flatten().map(|e| e.file_name().into_string().unwrap()).collect();
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..n).collect::<Vec<_>>(), "every record exactly once with `{options}`; files {names:?}");
}

#[test]
fn logrotate_default_shifting_rotation() {
    exercise("  create", Duration::from_millis(20));
}

#[test]
fn logrotate_compress() {
    exercise("  create\n  compress", Duration::from_millis(20));
}

#[test]
fn logrotate_compress_delaycompress() {
    exercise("  create\n  compress\n  delaycompress", Duration::from_millis(20));
}

#[test]
fn logrotate_copytruncate_compress() {
    exercise("  copytruncate\n  compress", Duration::from_millis(20));
}

/// `dateext` names grow (`audit.log-20261201-1764590000`): a new name a second.
#[test]
fn logrotate_dateext_compress() {
    exercise("  create\n  dateext\n  dateformat -%Y%m%d-%s\n  compress\n  delaycompress", Duration::from_millis(1100));
}

#[test]
fn logrotate_dateext_copytruncate() {
    exercise("  copytruncate\n  dateext\n  dateformat .%Y%m%d-%s", Duration::from_millis(1100));
}
