//! The follower against a model: random sequences of appends (whole and torn records), rotations by
//! rename, copytruncate, restarts from the last checkpoint and crashes (restarts that lose what was read
//! but not committed). Whatever the sequence, the records committed are exactly the records written,
//! in order, none lost, none twice.
#![allow(clippy::unwrap_used)] // a test fails loudly

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::PathBuf;

use ingest::checkpoint::Checkpoint;
use ingest::follower::{Event, FollowOptions, Follower};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Action {
    /// Append this many whole records.
    Append(u8),
    /// Append the first part of a record; the rest comes with the next append.
    Torn,
    /// Rename audit.log to audit.log.1 (shifting older ones up) and start a new audit.log.
    Rotate,
    /// Copy audit.log to audit.log.1 and truncate it (logrotate's copytruncate).
    CopyTruncate,
    /// Read and commit.
    Poll,
    /// Read without committing, then crash: the next follower starts from the last commit.
    Crash,
    /// Stop cleanly and start again from the last commit.
    Restart,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => (1u8..20).prop_map(Action::Append),
        1 => Just(Action::Torn),
        1 => Just(Action::Rotate),
        1 => Just(Action::CopyTruncate),
        4 => Just(Action::Poll),
        1 => Just(Action::Crash),
        1 => Just(Action::Restart),
    ]
}

fn record(n: u64) -> String {
    format!(
        r#"{{"audit_record":{{"name":"Connect","record":"{n}_2026-11-29T05:00:00","timestamp":"2026-11-29T05:00:00Z","connection_id":"{n}","status":1045,"user":"u'\\\"{n}","priv_user":"","os_login":"","proxy_user":"","host":"h","ip":"10.0.0.1","db":""}}}}"#
    ) + "\n"
}

struct World {
    dir: PathBuf,
    log: PathBuf,
    written: u64,
    /// The second half of a torn record, written with the next append.
    torn_rest: Option<String>,
    rotations: usize,
}

impl World {
    fn append(&mut self, text: &str) {
        let mut f = OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    fn finish_torn(&mut self) {
        if let Some(rest) = self.torn_rest.take() {
            self.append(&rest);
        }
    }

    fn rotated(&self, i: usize) -> PathBuf {
        self.dir.join(format!("audit.log.{i}"))
    }

    fn shift(&mut self) {
        for i in (1..=self.rotations).rev() {
            if self.rotated(i).exists() {
                fs::rename(self.rotated(i), self.rotated(i + 1)).unwrap();
            }
        }
        self.rotations += 1;
    }
}

fn read_committed(f: &mut Follower, committed: &mut Vec<u64>, commit: bool) -> Option<Checkpoint> {
    let mut got = Vec::new();
    loop {
        let items = f.poll(7).unwrap();
        if items.is_empty() {
            break;
        }
        for it in items {
            match it.event {
                Event::Record(r) => got.push(r.connection_id().unwrap()),
                Event::Malformed(m) => panic!("no malformed records are written: {} at {} in {}", m.reason, m.position.byte, it.path.display()),
            }
        }
    }
    if commit {
        committed.extend(got);
        f.checkpoint()
    } else {
        None
    }
}

fn run(actions: &[Action]) -> Result<(), TestCaseError> {
    run_with(actions, true)
}

/// The log does not exist yet when the follower starts.
fn run_from_nothing(actions: &[Action]) -> Result<(), TestCaseError> {
    run_with(actions, false)
}

fn run_with(actions: &[Action], exists: bool) -> Result<(), TestCaseError> {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let log = dir.join("audit.log");
    let mut w = World { dir: dir.clone(), log: log.clone(), written: 0, torn_rest: None, rotations: 0 };
    let mut committed: Vec<u64> = Vec::new();
    // The server is running with the plugin: the log exists (maybe empty) when the follower starts.
    if exists {
        fs::write(&log, "").unwrap();
    }
    let mut follower = Follower::new(&log, None, FollowOptions::default()).unwrap();
    // A new source's first position is committed before anything is read (as the pipeline does).
    let mut ck: Option<Checkpoint> = follower.checkpoint();
    for a in actions {
        match a {
            Action::Append(n) => {
                w.finish_torn();
                for _ in 0..*n {
                    w.written += 1;
                    let r = record(w.written);
                    w.append(&r);
                }
            }
            Action::Torn => {
                w.finish_torn();
                w.written += 1;
                let r = record(w.written);
                let cut = r.len() / 2;
                w.append(&r[..cut]);
                w.torn_rest = Some(r[cut..].to_string());
            }
            Action::Rotate => {
                // The server finishes the record it was writing before it rotates.
                w.finish_torn();
                if w.log.exists() {
                    w.shift();
                    fs::rename(&w.log, w.rotated(1)).unwrap();
                }
            }
            Action::CopyTruncate => {
                w.finish_torn();
                if w.log.exists() {
                    w.shift();
                    fs::copy(&w.log, w.rotated(1)).unwrap();
                    OpenOptions::new().write(true).open(&w.log).unwrap().set_len(0).unwrap();
                }
            }
            Action::Poll => {
                if let Some(c) = read_committed(&mut follower, &mut committed, true) {
                    ck = Some(c);
                }
            }
            Action::Crash => {
                read_committed(&mut follower, &mut committed, false);
                follower = Follower::new(&log, ck.as_ref(), FollowOptions::default()).unwrap();
                ck = ck.or_else(|| follower.checkpoint());
            }
            Action::Restart => {
                follower = Follower::new(&log, ck.as_ref(), FollowOptions::default()).unwrap();
                ck = ck.or_else(|| follower.checkpoint());
            }
        }
    }
    w.finish_torn();
    // Catch up: poll until nothing more comes.
    for _ in 0..3 {
        if let Some(c) = read_committed(&mut follower, &mut committed, true) {
            ck = Some(c);
        }
    }
    let _ = ck;
    let want: Vec<u64> = (1..=w.written).collect();
    match actions.iter().rposition(|a| matches!(a, Action::CopyTruncate)) {
        // Without truncation: exactly the records written.
        None => prop_assert_eq!(&committed, &want, "committed records differ from written ones; actions {:?}", actions),
        // copytruncate can lose what was written between the last read and the copy when the file
        // shows no sign of it (as every shipper): then no duplicates, in order, and nothing lost
        // of what came after the last truncation.
        Some(last) => {
            prop_assert!(committed.windows(2).all(|w| w[0] < w[1]), "duplicates or disorder: {:?}; actions {:?}", committed, actions);
            let written_before: u64 = actions[..last].iter().map(|a| match a { Action::Append(n) => u64::from(*n), Action::Torn => 1, _ => 0 }).sum();
            for n in written_before + 1..=w.written {
                prop_assert!(committed.contains(&n), "record {} written after the last truncation is missing: {:?}; actions {:?}", n, committed, actions);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
    #[test]
    fn committed_records_equal_written_records(actions in proptest::collection::vec(action(), 1..40)) {
        run(&actions)?;
    }
}

#[test]
fn rotation_while_stopped_reads_the_rest_of_the_old_file_then_the_new_ones() {
    run(&[Action::Append(3), Action::Poll, Action::Append(2), Action::Rotate, Action::Append(2), Action::Rotate, Action::Append(1), Action::Restart]).unwrap();
}

#[test]
fn copytruncate_while_stopped() {
    run(&[Action::Append(3), Action::Poll, Action::Append(2), Action::CopyTruncate, Action::Append(2), Action::Restart]).unwrap();
}

#[test]
fn torn_record_then_crash() {
    run(&[Action::Append(1), Action::Torn, Action::Poll, Action::Crash, Action::Append(1), Action::Poll]).unwrap();
}

/// The file at a checkpoint's path was deleted and replaced: the follower warns and reads the new one.
#[test]
fn deleted_and_recreated_file_warns_and_reads_the_new_one() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("audit.log");
    fs::write(&log, record(1) + &record(2)).unwrap();
    let mut f = Follower::new(&log, None, FollowOptions::default()).unwrap();
    assert_eq!(f.poll(10).unwrap().len(), 2);
    let ck = f.checkpoint().unwrap();
    fs::remove_file(&log).unwrap();
    fs::write(&log, record(3)).unwrap();
    let mut f = Follower::new(&log, Some(&ck), FollowOptions::default()).unwrap();
    let items = f.poll(10).unwrap();
    assert_eq!(items.len(), 1);
    // A new file may reuse the inode; either way the follower says what it did.
    assert!(!f.take_warnings().is_empty());
}


#[test]
fn rotation_before_the_first_look_then_crash() {
    run_from_nothing(&[Action::Append(1), Action::Rotate, Action::Crash, Action::Append(1), Action::Append(1), Action::Rotate]).unwrap();
}
