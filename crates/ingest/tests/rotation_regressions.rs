//! Regressions of issue 9, each named after what went wrong: a follower stopped across rotations with
//! growing suffixes lost a whole file; copytruncate copies were stored again; a rotated file compressed
//! after it was read was read again; a file deleted before it was read vanished without a word.
#![allow(clippy::unwrap_used)] // a test fails loudly

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime};

use flate2::write::GzEncoder;
use flate2::Compression;
use ingest::checkpoint::Checkpoint;
use ingest::follower::{Event, FollowOptions, Follower, Item};

fn record(n: u64) -> String {
    format!(
        r#"{{"audit_record":{{"name":"Connect","record":"{n}_2026-11-29T05:00:00","timestamp":"2026-11-29T05:00:00Z","connection_id":"{n}","status":0,"user":"u{n}","priv_user":"","os_login":"","proxy_user":"","host":"h","ip":"10.0.0.1","db":""}}}}"#
    ) + "\n"
}

/// Appends records `from..to` and dates the file `at` seconds from now (rotations are hours apart in
/// life; file system timestamps are too coarse for a test's pace).
fn write(path: &Path, from: u64, to: u64, at: u64) {
    let mut f = OpenOptions::new().create(true).append(true).open(path).unwrap();
    for n in from..to {
        f.write_all(record(n).as_bytes()).unwrap();
    }
    f.set_modified(SystemTime::now() + Duration::from_secs(at)).unwrap();
}

/// gzip's way: same content and modification time, the original removed.
fn gzip(path: &Path) -> std::path::PathBuf {
    let to = std::path::PathBuf::from(format!("{}.gz", path.display()));
    let t = fs::metadata(path).unwrap().modified().unwrap();
    let mut enc = GzEncoder::new(File::create(&to).unwrap(), Compression::default());
    enc.write_all(&fs::read(path).unwrap()).unwrap();
    enc.finish().unwrap().set_modified(t).unwrap();
    fs::remove_file(path).unwrap();
    to
}

/// Polls until caught up; the items and the checkpoint after them.
fn drain(f: &mut Follower) -> (Vec<Item>, Option<Checkpoint>) {
    let mut all = Vec::new();
    loop {
        let items = f.poll(1000).unwrap();
        if items.is_empty() {
            return (all, f.checkpoint());
        }
        all.extend(items);
    }
}

fn ids(items: &[Item]) -> Vec<u64> {
    items
        .iter()
        .map(|i| match &i.event {
            Event::Record(r) => r.connection_id().unwrap(),
            Event::Malformed(m) => panic!("malformed at {} of {}: {}", m.position.byte, i.path.display(), m.reason),
        })
        .collect()
}

#[test]
fn stopped_across_two_rotations_with_growing_suffixes_loses_no_file() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("audit.log");
    write(&log, 0, 100, 0);
    let mut f = Follower::new(&log, None, FollowOptions::default()).unwrap();
    let (items, ck) = drain(&mut f);
    assert_eq!(ids(&items), (0..100).collect::<Vec<_>>());
    drop(f);
    // Stopped: the server goes on, and the log is rotated twice, `.1` then `.2` (growing numbers).
    write(&log, 100, 200, 10);
    fs::rename(&log, tmp.path().join("audit.log.1")).unwrap();
    write(&log, 200, 300, 20);
    fs::rename(&log, tmp.path().join("audit.log.2")).unwrap();
    write(&log, 300, 400, 30);
    let mut f = Follower::new(&log, ck.as_ref(), FollowOptions::default()).unwrap();
    let (items, _) = drain(&mut f);
    assert_eq!(ids(&items), (100..400).collect::<Vec<_>>());
}

#[test]
fn stopped_across_dateext_rotations_reads_every_file_once_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("audit.log");
    write(&log, 0, 10, 0);
    let mut f = Follower::new(&log, None, FollowOptions::default()).unwrap();
    let (_, ck) = drain(&mut f);
    drop(f);
    write(&log, 10, 20, 10);
    fs::rename(&log, tmp.path().join("audit.log-20261201")).unwrap();
    write(&log, 20, 30, 20);
    fs::rename(&log, tmp.path().join("audit.log-20261202")).unwrap();
    gzip(&tmp.path().join("audit.log-20261201"));
    write(&log, 30, 40, 30);
    let mut f = Follower::new(&log, ck.as_ref(), FollowOptions::default()).unwrap();
    let (items, _) = drain(&mut f);
    assert_eq!(ids(&items), (10..40).collect::<Vec<_>>());
}

#[test]
fn copytruncate_copies_with_growing_suffixes_are_not_stored_again() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("audit.log");
    write(&log, 0, 10, 0);
    let mut f = Follower::new(&log, None, FollowOptions::default()).unwrap();
    let mut got = ids(&drain(&mut f).0);
    let mut ck = f.checkpoint();
    for round in 1..=4u64 {
        let copy = tmp.path().join(format!("audit.log.{round}"));
        fs::copy(&log, &copy).unwrap();
        File::options().write(true).open(&copy).unwrap().set_modified(SystemTime::now() + Duration::from_secs(round * 10)).unwrap();
        OpenOptions::new().write(true).open(&log).unwrap().set_len(0).unwrap();
        write(&log, round * 10, round * 10 + 10, round * 10 + 5);
        // Every other round while stopped: a restart from the checkpoint.
        if round % 2 == 0 {
            f = Follower::new(&log, ck.as_ref(), FollowOptions::default()).unwrap();
        }
        got.extend(ids(&drain(&mut f).0));
        ck = f.checkpoint();
    }
    // And once more from the last checkpoint, with every copy still there.
    let mut f = Follower::new(&log, ck.as_ref(), FollowOptions::default()).unwrap();
    got.extend(ids(&drain(&mut f).0));
    assert_eq!(got, (0..50).collect::<Vec<_>>());
}

#[test]
fn a_rotated_file_compressed_after_it_was_read_is_not_read_again() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("audit.log");
    write(&log, 0, 10, 0);
    let mut f = Follower::new(&log, None, FollowOptions::default()).unwrap();
    drain(&mut f);
    fs::rename(&log, tmp.path().join("audit.log.1")).unwrap();
    write(&log, 10, 20, 10);
    let (items, ck) = drain(&mut f);
    assert_eq!(ids(&items), (10..20).collect::<Vec<_>>());
    drop(f);
    gzip(&tmp.path().join("audit.log.1"));
    let mut f = Follower::new(&log, ck.as_ref(), FollowOptions::default()).unwrap();
    assert_eq!(ids(&drain(&mut f).0), Vec::<u64>::new());
    // Running, too: the file rotated and compressed while followed.
    fs::rename(&log, tmp.path().join("audit.log.2")).unwrap();
    write(&log, 20, 30, 20);
    assert_eq!(ids(&drain(&mut f).0), (20..30).collect::<Vec<_>>());
    gzip(&tmp.path().join("audit.log.2"));
    write(&log, 30, 31, 30);
    assert_eq!(ids(&drain(&mut f).0), vec![30]);
}

/// Stopped in the middle of a file that is then rotated and compressed: the rest is read from inside
/// the `.gz`, under the original file's identity and offsets (row identity is `(file_id, offset)`).
#[test]
fn the_rest_of_a_file_compressed_while_stopped_keeps_its_identity_and_offsets() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("audit.log");
    write(&log, 0, 10, 0);
    let mut f = Follower::new(&log, None, FollowOptions::default()).unwrap();
    let (first, ck) = drain(&mut f);
    drop(f);
    write(&log, 10, 20, 10);
    let plain: Vec<(String, u64)> = {
        let mut g = Follower::new(&log, ck.as_ref(), FollowOptions::default()).unwrap();
        drain(&mut g).0.iter().map(|i| (i.file_key.clone(), i.event.offset())).collect()
    };
    fs::rename(&log, tmp.path().join("audit.log.1")).unwrap();
    gzip(&tmp.path().join("audit.log.1"));
    write(&log, 20, 25, 20);
    let mut f = Follower::new(&log, ck.as_ref(), FollowOptions::default()).unwrap();
    let (items, _) = drain(&mut f);
    assert_eq!(ids(&items), (10..25).collect::<Vec<_>>());
    let from_gz: Vec<(String, u64)> = items[..10].iter().map(|i| (i.file_key.clone(), i.event.offset())).collect();
    assert_eq!(from_gz, plain);
    assert_eq!(items[0].file_key, first[0].file_key);
    assert!(items[0].path.to_str().unwrap().ends_with("audit.log.1.gz"));
}

/// The checkpoint's file had a record in progress when it was deleted: the bytes known to be lost
/// are reported as a gap item (dead-lettered, counted), with where and how many.
#[test]
fn a_file_deleted_before_it_was_read_is_reported_as_a_gap() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("audit.log");
    write(&log, 0, 2, 0);
    let half = &record(2)[..40];
    OpenOptions::new().append(true).open(&log).unwrap().write_all(half.as_bytes()).unwrap();
    let mut f = Follower::new(&log, None, FollowOptions::default()).unwrap();
    let (items, ck) = drain(&mut f);
    assert_eq!(ids(&items), vec![0, 1]);
    let ck = ck.unwrap();
    drop(f);
    fs::remove_file(&log).unwrap();
    write(&log, 10, 11, 10);
    let mut f = Follower::new(&log, Some(&ck), FollowOptions::default()).unwrap();
    let items = f.poll(100).unwrap();
    assert_eq!(items.len(), 2, "{items:?}");
    assert!(items[0].gap);
    let Event::Malformed(m) = &items[0].event else { panic!("a gap is dead-lettered as malformed") };
    assert_eq!((m.position.byte, m.len), (ck.offset, 40));
    assert!(m.reason.starts_with("gap: 40 bytes from offset"), "{}", m.reason);
    assert_eq!(items[0].file_key, ck.file.key());
    assert_eq!(ids(&items[1..]), vec![10]);
    // Committed with the gap, a restart does not report it again.
    let ck = f.checkpoint();
    let mut f = Follower::new(&log, ck.as_ref(), FollowOptions::default()).unwrap();
    assert!(f.poll(100).unwrap().is_empty());
}

/// audit_log_filter's live file written compressed, flushed after each event: followed as it grows,
/// a record split across flushes is not handed out half, and a restart resumes inside the stream.
#[test]
fn a_compressed_live_file_is_followed_and_resumed_inside_the_stream() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("audit_filter.log");
    let mut enc = GzEncoder::new(OpenOptions::new().create(true).append(true).open(&log).unwrap(), Compression::default());
    let mut f = Follower::new(&log, None, FollowOptions::default()).unwrap();
    for n in 0..5 {
        enc.write_all(record(n).as_bytes()).unwrap();
        enc.flush().unwrap();
    }
    let r5 = record(5);
    enc.write_all(&r5.as_bytes()[..30]).unwrap();
    enc.flush().unwrap();
    let (items, ck) = drain(&mut f);
    assert_eq!(ids(&items), (0..5).collect::<Vec<_>>());
    enc.write_all(&r5.as_bytes()[30..]).unwrap();
    enc.flush().unwrap();
    assert_eq!(ids(&drain(&mut f).0), vec![5]);
    drop(f);
    for n in 6..9 {
        enc.write_all(record(n).as_bytes()).unwrap();
        enc.flush().unwrap();
    }
    // Restarted from the checkpoint before record 5: 5 again (it was not committed), then the rest.
    let mut f = Follower::new(&log, ck.as_ref(), FollowOptions::default()).unwrap();
    let (items, _) = drain(&mut f);
    assert_eq!(ids(&items), (5..9).collect::<Vec<_>>());
    // Rotated by audit_log_filter's naming; the new live file is compressed too.
    enc.finish().unwrap();
    fs::rename(&log, tmp.path().join("audit_filter.20261201T120000-1.log.gz")).unwrap();
    let mut enc = GzEncoder::new(File::create(&log).unwrap(), Compression::default());
    enc.write_all(record(9).as_bytes()).unwrap();
    enc.flush().unwrap();
    assert_eq!(ids(&drain(&mut f).0), vec![9]);
}

/// `--start-at end` on a compressed live file starts at the end of its decoded bytes (not at its
/// compressed length taken for a decoded offset).
#[test]
fn start_at_end_of_a_compressed_live_file() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("audit_filter.log");
    let mut enc = GzEncoder::new(File::create(&log).unwrap(), Compression::default());
    for n in 0..50 {
        enc.write_all(record(n).as_bytes()).unwrap();
    }
    enc.flush().unwrap();
    let opts = FollowOptions { start_at: ingest::follower::StartAt::End, ..FollowOptions::default() };
    let mut f = Follower::new(&log, None, opts).unwrap();
    assert!(drain(&mut f).0.is_empty());
    enc.write_all(record(50).as_bytes()).unwrap();
    enc.flush().unwrap();
    let (items, ck) = drain(&mut f);
    assert_eq!(ids(&items), vec![50]);
    assert_eq!(items[0].event.offset(), (0..50).map(|n| record(n).len() as u64).sum::<u64>());
    assert!(ck.unwrap().offset > fs::metadata(&log).unwrap().len(), "a decoded offset, past the compressed size");
}

/// A rotated `.gz` whose gzip member is followed by garbage (no gzip header): what decodes is read,
/// the rest is one dead letter saying where, and the follower goes on with the next file (never stuck, never
/// reading the broken file again).
#[test]
fn a_corrupt_gzip_file_is_reported_and_the_next_file_read() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("audit.log");
    write(&log, 0, 1, 0);
    let mut f = Follower::new(&log, None, FollowOptions::default()).unwrap();
    drain(&mut f);
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    for n in 1..20 {
        enc.write_all(record(n).as_bytes()).unwrap();
    }
    let mut bytes = enc.finish().unwrap();
    bytes.extend_from_slice(&[0x55; 300]);
    let gz = tmp.path().join("audit.log.1.gz");
    fs::write(&gz, &bytes).unwrap();
    File::options().write(true).open(&gz).unwrap().set_modified(SystemTime::now() + Duration::from_secs(5)).unwrap();
    fs::rename(&log, tmp.path().join("audit.log.0")).unwrap();
    write(&log, 100, 103, 10);
    let (items, ck) = drain(&mut f);
    let malformed: Vec<_> = items.iter().filter_map(|i| if let Event::Malformed(m) = &i.event { Some((i.path.clone(), m.reason.clone())) } else { None }).collect();
    assert_eq!(malformed.len(), 1, "{malformed:?}");
    assert!(malformed[0].0.ends_with("audit.log.1.gz") && malformed[0].1.starts_with("corrupt gzip stream: decoded up to offset"), "{malformed:?}");
    let good: Vec<u64> = items.iter().filter_map(|i| if let Event::Record(r) = &i.event { r.connection_id() } else { None }).collect();
    assert_eq!(good, (1..20).chain(100..103).collect::<Vec<_>>());
    let mut f = Follower::new(&log, ck.as_ref(), FollowOptions::default()).unwrap();
    assert!(drain(&mut f).0.is_empty());
}
