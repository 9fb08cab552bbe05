//! The follower against a model: random sequences of appends (whole and torn records), rotations by
//! rename under every naming scheme (shifting `.1`, growing numbers, logrotate `dateext`,
//! audit_log_filter timestamps), copytruncate, compression of rotated files (logrotate `compress`,
//! `delaycompress`), a live file written gzip-compressed (audit_log_filter `compression=GZIP`),
//! restarts from the last checkpoint and crashes (restarts that lose what was read but not committed).
//! Whatever the sequence, the records committed are exactly the records written, none lost, none twice.
#![allow(clippy::unwrap_used)] // a test fails loudly

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use flate2::write::GzEncoder;
use flate2::Compression;
use ingest::checkpoint::Checkpoint;
use ingest::follower::{Event, FollowOptions, Follower};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Action {
    /// Append this many whole records.
    Append(u8),
    /// Append the first part of a record; the rest comes with the next append.
    Torn,
    /// Rename the live log to its next rotated name and start a new one.
    Rotate,
    /// Copy the live log to its next rotated name and truncate it (logrotate's copytruncate).
    CopyTruncate,
    /// gzip the oldest rotated file not compressed yet (`delaycompress` leaves the newest alone).
    Compress { delay: bool },
    /// Read and commit.
    Poll,
    /// Read without committing, then crash: the next follower starts from the last commit.
    Crash,
    /// Stop cleanly and start again from the last commit.
    Restart,
}

/// How rotated files are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    /// `audit.log.1` is the newest; older ones shift up (the servers' and logrotate's default).
    Shifting,
    /// `audit.log.1`, then `audit.log.2` is newer.
    Growing,
    /// logrotate `dateext`: `audit.log-20261201` (one a "day").
    DateExt,
    /// `dateext` with `dateformat .%Y%m%d-%H%M%S`.
    DateTime,
    /// audit_log_filter: `audit_filter.log` → `audit_filter.20261201T120000-1.log`.
    Filter,
}

fn scheme() -> impl Strategy<Value = Scheme> {
    prop_oneof![Just(Scheme::Shifting), Just(Scheme::Growing), Just(Scheme::DateExt), Just(Scheme::DateTime), Just(Scheme::Filter)]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => (1u8..20).prop_map(Action::Append),
        1 => Just(Action::Torn),
        2 => Just(Action::Rotate),
        1 => Just(Action::CopyTruncate),
        1 => any::<bool>().prop_map(|delay| Action::Compress { delay }),
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
    scheme: Scheme,
    written: u64,
    /// The second half of a torn record, written with the next append.
    torn_rest: Option<String>,
    /// Rotated files, oldest first (their current names).
    rotated: Vec<PathBuf>,
    rotations: usize,
    /// The live file is written gzip-compressed, flushed after every write (audit_log_filter).
    live_gzip: Option<GzEncoder<File>>,
    gzip_live: bool,
    /// A clock for modification times: each write is a second after the last, as in real life
    /// (file systems' timestamps are too coarse for a test's pace).
    clock: SystemTime,
}

impl World {
    fn tick(&mut self) -> SystemTime {
        self.clock += Duration::from_secs(1);
        self.clock
    }

    fn append(&mut self, text: &str) {
        let t = self.tick();
        if self.gzip_live {
            if self.live_gzip.is_none() || !self.log.exists() {
                let f = OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
                self.live_gzip = Some(GzEncoder::new(f, Compression::fast()));
            }
            let enc = self.live_gzip.as_mut().unwrap();
            enc.write_all(text.as_bytes()).unwrap();
            enc.flush().unwrap();
        } else {
            let mut f = OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
            f.write_all(text.as_bytes()).unwrap();
        }
        File::options().write(true).open(&self.log).unwrap().set_modified(t).unwrap();
    }

    fn finish_torn(&mut self) {
        if let Some(rest) = self.torn_rest.take() {
            self.append(&rest);
        }
    }

    /// Ends the live gzip stream before the file is rotated away (the server closes it).
    fn close_live(&mut self) {
        if let Some(enc) = self.live_gzip.take() {
            let f = enc.finish().unwrap();
            let t = f.metadata().unwrap().modified().unwrap();
            drop(f);
            File::options().write(true).open(&self.log).unwrap().set_modified(t).unwrap();
        }
    }

    /// The name the live file gets at this rotation.
    fn next_name(&mut self) -> PathBuf {
        self.rotations += 1;
        let n = self.rotations;
        let gz = if self.gzip_live { ".gz" } else { "" };
        let name = match self.scheme {
            Scheme::Shifting => {
                // Shift older ones up, the oldest (highest number) first: audit.log.1 -> audit.log.2
                // ... (compressed ones keep `.gz`).
                for p in self.rotated.iter_mut() {
                    let name = p.file_name().unwrap().to_str().unwrap().to_string();
                    let (base, ext) = name.strip_suffix(".gz").map_or((name.as_str(), ""), |b| (b, ".gz"));
                    let (stem, i) = base.rsplit_once('.').unwrap();
                    let to = self.dir.join(format!("{stem}.{}{ext}", i.parse::<usize>().unwrap() + 1));
                    fs::rename(&*p, &to).unwrap();
                    *p = to;
                }
                format!("audit.log.1{gz}")
            }
            Scheme::Growing => format!("audit.log.{n}{gz}"),
            Scheme::DateExt => format!("audit.log-202612{n:02}{gz}"),
            Scheme::DateTime => format!("audit.log.20261201-1200{n:02}{gz}"),
            Scheme::Filter => format!("audit_filter.20261201T1200{n:02}-1.log{gz}"),
        };
        self.dir.join(name)
    }

    fn rotate(&mut self) {
        self.close_live();
        let to = self.next_name();
        fs::rename(&self.log, &to).unwrap();
        self.rotated.push(to);
    }

    fn copytruncate(&mut self) {
        let to = self.next_name();
        let t = fs::metadata(&self.log).unwrap().modified().unwrap();
        fs::copy(&self.log, &to).unwrap();
        File::options().write(true).open(&to).unwrap().set_modified(t).unwrap();
        OpenOptions::new().write(true).open(&self.log).unwrap().set_len(0).unwrap();
        self.rotated.push(to);
    }

    /// gzip's way: `name.gz` with the same content and modification time, then `name` removed.
    fn compress(&mut self, delay: bool) {
        let candidates = self.rotated.len().saturating_sub(usize::from(delay));
        let Some(i) = self.rotated[..candidates].iter().position(|p| p.extension().is_none_or(|e| e != "gz")) else { return };
        let from = self.rotated[i].clone();
        let to = PathBuf::from(format!("{}.gz", from.display()));
        let t = fs::metadata(&from).unwrap().modified().unwrap();
        let mut enc = GzEncoder::new(File::create(&to).unwrap(), Compression::default());
        enc.write_all(&fs::read(&from).unwrap()).unwrap();
        enc.finish().unwrap().set_modified(t).unwrap();
        fs::remove_file(&from).unwrap();
        self.rotated[i] = to;
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
    run_with(actions, Scheme::Shifting, false, true)
}

/// The log does not exist yet when the follower starts.
fn run_from_nothing(actions: &[Action]) -> Result<(), TestCaseError> {
    run_with(actions, Scheme::Shifting, false, false)
}

fn run_with(actions: &[Action], scheme: Scheme, gzip_live: bool, exists: bool) -> Result<(), TestCaseError> {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let log = dir.join(if scheme == Scheme::Filter { "audit_filter.log" } else { "audit.log" });
    let clock = SystemTime::now();
    let mut w = World { dir: dir.clone(), log: log.clone(), scheme, written: 0, torn_rest: None, rotated: Vec::new(), rotations: 0, live_gzip: None, gzip_live, clock };
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
                    w.rotate();
                }
            }
            Action::CopyTruncate => {
                w.finish_torn();
                // Never done to a compressed live file (the copy would end mid-stream).
                if w.log.exists() && !w.gzip_live {
                    w.copytruncate();
                }
            }
            Action::Compress { delay } => w.compress(*delay),
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
    let mut sorted = committed.clone();
    sorted.sort_unstable();
    sorted.dedup();
    prop_assert_eq!(sorted.len(), committed.len(), "records committed twice: {:?}; scheme {:?}, actions {:?}", committed, scheme, actions);
    match actions.iter().rposition(|a| matches!(a, Action::CopyTruncate)).filter(|_| !gzip_live) {
        // Without truncation: exactly the records written, in the order written.
        None => prop_assert_eq!(&committed, &want, "committed records differ from written ones; scheme {:?}, gzip live {}, actions {:?}", scheme, gzip_live, actions),
        // copytruncate can lose what was written between the last read and the copy when the file
        // shows no sign of it (as every shipper): then no duplicates, and nothing lost of what came
        // after the last truncation.
        Some(last) => {
            let written_before: u64 = actions[..last].iter().map(|a| match a { Action::Append(n) => u64::from(*n), Action::Torn => 1, _ => 0 }).sum();
            for n in written_before + 1..=w.written {
                prop_assert!(committed.contains(&n), "record {} written after the last truncation is missing: {:?}; scheme {:?}, actions {:?}", n, committed, scheme, actions);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
    #[test]
    fn committed_records_equal_written_records(actions in proptest::collection::vec(action(), 1..40), scheme in scheme()) {
        run_with(&actions, scheme, false, true)?;
    }

    /// audit_log_filter writing its live file compressed, rotated under every scheme.
    #[test]
    fn compressed_live_file_committed_records_equal_written_records(actions in proptest::collection::vec(action(), 1..30), scheme in scheme()) {
        run_with(&actions, scheme, true, true)?;
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
