//! The pipelined loop (a reader thread ahead of the committer, batches queued between them) keeps
//! exactly-once and strict checkpoint order when its connections are killed in the middle of a run:
//! the batches in flight are dropped and the reader starts again from the committed checkpoint.
//!
//! A trigger on the checkpoint table records, inside every checkpoint commit's own transaction, the
//! offset committed and how many data rows lie before and after it at that moment. Every committed
//! checkpoint must then cover exactly the records before its offset and nothing after it, and the
//! offsets must never go back: a batch committed before the one read ahead of it, a batch lost
//! with a reconnect, or a batch stored twice would each show in that history.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{ids, json_line, TestDb};
use ingest::config::{connect_options, ConnectSettings};
use ingest::metrics::Metrics;
use ingest::sink::{Sink, SinkOptions};
use ingest::{IngesterBuilder, Summary};

/// Offsets where each line of `text` starts.
fn line_starts(text: &str) -> Vec<u64> {
    let mut v = vec![0u64];
    v.extend(text.match_indices('\n').map(|(i, _)| i as u64 + 1));
    v.pop();
    v
}

/// The history table and its triggers (on insert: a new source's first commit; on update: the rest).
fn record_checkpoint_history(db: &TestDb) {
    let (ck, data, hist) = (db.checkpoint(), db.data(), format!("`{}`.`ck_history`", db.name));
    db.exec(&format!(
        "CREATE TABLE {hist} (seq INT AUTO_INCREMENT PRIMARY KEY, file_offset BIGINT UNSIGNED NOT NULL, has_state TINYINT NOT NULL, rows_before BIGINT NOT NULL, rows_after BIGINT NOT NULL)"
    ));
    for (name, event) in [("ck_history_ins", "INSERT"), ("ck_history_upd", "UPDATE")] {
        db.exec(&format!(
            "CREATE TRIGGER `{}`.`{name}` AFTER {event} ON {ck} FOR EACH ROW INSERT INTO {hist} (file_offset, has_state, rows_before, rows_after) VALUES \
             (NEW.file_offset, NEW.state IS NOT NULL, (SELECT COUNT(*) FROM {data} WHERE file_offset < NEW.file_offset), (SELECT COUNT(*) FROM {data} WHERE file_offset >= NEW.file_offset))",
            db.name
        ));
    }
}

/// Kills every connection using the test's database (the sink's pool and its lock), now.
fn kill_sink_connections(db: &TestDb) -> usize {
    let ids: Vec<u64> = db.query(&format!("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = '{}' AND ID <> CONNECTION_ID()", db.name));
    for id in &ids {
        // Gone already (it ended by itself) is fine.
        let _ = db.try_query::<u64>(&format!("KILL CONNECTION {id}"));
    }
    ids.len()
}

fn sink_for(db: &TestDb) -> Sink {
    let (opts, database) = connect_options(&ConnectSettings { dsn: Some(db.dsn()), ..Default::default() }).unwrap();
    let names = audit_schema::TableNames::new(&database, "audit_data").unwrap();
    Sink::new(opts, SinkOptions::new(names, "pipeline-test", common::server())).with_load_method(common::load_method())
}

/// Runs an ingester set up by `settings` on its own thread and runtime (the sink's pool lives there:
/// mysql_async runs a pool's recycler on the runtime that first used it), after the schema and the
/// history triggers are in place, until caught up or `stop` turns true; the thread returns its summary.
fn spawn_pipeline(
    db: &TestDb,
    log: &Path,
    settings: impl FnOnce(IngesterBuilder) -> IngesterBuilder + Send + 'static,
    metrics: Arc<Metrics>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> std::thread::JoinHandle<Summary> {
    let sink = sink_for(db);
    let log = log.to_path_buf();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let handle = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            sink.apply_schema().await.unwrap();
            ready_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            let ingester = settings(ingest::Ingester::builder(log, sink.clone()).metrics(metrics)).build().unwrap();
            let run = ingester.run(async move {
                let _ = stop.wait_for(|s| *s).await;
            });
            let s = tokio::time::timeout(Duration::from_secs(300), run).await.expect("the pipeline stalled").unwrap();
            sink.close().await.unwrap();
            s
        })
    });
    ready_rx.recv().unwrap();
    record_checkpoint_history(db);
    go_tx.send(()).unwrap();
    handle
}

/// Kills the sink's connections each time the table has grown by `every` rows, `times` times.
fn kill_while_loading(db: &TestDb, every: u64, times: usize, done: impl Fn() -> bool) -> usize {
    let mut kills = 0;
    let mut next_at = every;
    while kills < times && !done() {
        // No connection to kill (the sink is between connections, reconnecting): try again at the
        // next look instead of waiting for `every` more rows.
        if db.count() >= next_at && kill_sink_connections(db) > 0 {
            kills += 1;
            next_at = db.count() + every;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    kills
}

/// Every committed checkpoint covered exactly the records before it, and none went back.
fn assert_history(db: &TestDb, starts: &[u64], end: u64) {
    let hist: Vec<(u64, u64, u64)> = db.query(&format!("SELECT file_offset, rows_before, rows_after FROM `{}`.`ck_history` WHERE has_state = 1 ORDER BY seq", db.name));
    assert!(hist.len() > 10, "too few commits to test anything: {hist:?}");
    let mut last = 0;
    for (i, &(offset, before, after)) in hist.iter().enumerate() {
        assert!(offset >= last, "commit {i}: checkpoint went back from {last} to {offset}");
        let expected = starts.partition_point(|&s| s < offset) as u64;
        assert_eq!((before, after), (expected, 0), "commit {i} at offset {offset}: rows before/after it when it committed");
        last = offset;
    }
    // The end of the last record (its line's newline may stay unread).
    assert!(last + 1 >= end, "the last checkpoint {last} is not the end of the file ({end})");
}

#[test]
fn killed_connections_mid_backfill_lose_and_repeat_nothing() {
    let db = TestDb::new("pipe_backfill");
    let (_dir, log) = common::log_dir();
    let n = 12_000u64;
    let text: String = (0..n).map(json_line).collect();
    std::fs::write(&log, &text).unwrap();

    let metrics = Arc::new(Metrics::default());
    // Small batches and a deep queue: many batches are in flight whenever a kill lands.
    let popts = |b: IngesterBuilder| b.one_pass().batch_rows(100).in_flight(4).max_backoff(Duration::from_millis(200));
    let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let t = Instant::now();
    let run = spawn_pipeline(&db, &log, popts, metrics.clone(), stop_rx);
    let kills = kill_while_loading(&db, 1_000, 4, || run.is_finished());
    let summary = run.join().unwrap();
    eprintln!("{n} records in {:?} with {kills} kills: {summary:?}, {} reconnects", t.elapsed(), metrics.reconnects.load(Relaxed));

    assert!(kills >= 2, "the run ended before the connections could be killed twice ({kills})");
    assert!(metrics.reconnects.load(Relaxed) >= 2, "the kills did not make the pipeline reconnect");
    assert_eq!(db.record_ids(), ids(0..n), "records lost or stored twice");
    assert_history(&db, &line_starts(&text), text.len() as u64);
    let total: Vec<u64> = db.query(&format!("SELECT records_total FROM {}", db.checkpoint()));
    assert_eq!(total, vec![n], "records_total counts every record once");
}

#[test]
fn killed_connections_while_following_appends_lose_and_repeat_nothing() {
    let db = TestDb::new("pipe_follow");
    let (_dir, log) = common::log_dir();
    std::fs::write(&log, "").unwrap();

    let metrics = Arc::new(Metrics::default());
    let popts = |b: IngesterBuilder| b.batch_rows(50).batch_wait(Duration::from_millis(5)).in_flight(2).max_backoff(Duration::from_millis(200));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let run = spawn_pipeline(&db, &log, popts, metrics.clone(), stop_rx);
    // A writer appends 6,000 records in bursts of 20 every 4 ms while the connections are killed.
    let n = 6_000u64;
    let writer = {
        let log = log.clone();
        std::thread::spawn(move || {
            for burst in 0..n / 20 {
                common::append(&log, &common::lines(burst * 20, burst * 20 + 20));
                std::thread::sleep(Duration::from_millis(4));
            }
        })
    };
    let kills = kill_while_loading(&db, 500, 4, || db.count() >= n);
    writer.join().unwrap();
    db.wait_count(n, Duration::from_secs(120));
    stop_tx.send(true).unwrap();
    let summary = run.join().unwrap();
    eprintln!("followed {n} records with {kills} kills: {summary:?}, {} reconnects", metrics.reconnects.load(Relaxed));

    assert!(kills >= 2, "the writer finished before the connections could be killed twice ({kills})");
    assert!(metrics.reconnects.load(Relaxed) >= 2, "the kills did not make the pipeline reconnect");
    assert_eq!(db.record_ids(), ids(0..n), "records lost or stored twice");
    let text = std::fs::read_to_string(&log).unwrap();
    assert_history(&db, &line_starts(&text), text.len() as u64);
}
