//! Loading speed and follow latency of the ingest library against the server's own bulk paths, all
//! measured in one run on one server (absolute figures drift between machines and runs; compare the
//! ratios).
//!
//!     cargo run --release -p ingest --example bench_ingest -- --records 1000000
//!
//! On the server of `--dsn` (default `mysql://root@127.0.0.1:3306`; it needs `local_infile=ON` for
//! the LOAD DATA rows) it:
//! 1. writes N synthetic Percona JSON records (75% Query, 10% Connect, 10% Quit, 5% failed Connect
//!    with 1045; about 27% with `'` or `\`, 8% non-ASCII; timestamps over 48 hours) to a temporary file;
//! 2. (a) backfills the file with the library (an `Ingester` in one pass, checkpoints
//!    committed with every batch, the full schema and its indexes) into a fresh database, once per
//!    load method, each in a child process whose peak resident memory (VmHWM) is reported;
//!    (b) `LOAD DATA LOCAL INFILE` of the same lines into a one-column table `(audit_record JSON)`;
//!    (c) 1,000-row multi-row INSERTs (parameters, one transaction each) into the same kind of table;
//! 3. (d) follows a live file with the library while a writer appends at 1,000 and 10,000 records/s,
//!    and reports the latency from append to committed row;
//! 4. (e) backfills a file of N/10 records in a child process, to compare its peak memory with (a)'s;
//! 5. prints a markdown table, and drops its databases (`bench_ingest_*`).
//!
//! Latency method: the writer puts the append time (Unix microseconds) in each record's
//! `connection_id`, which the sink stores in a typed column; a poller reads the rows committed since its
//! last look every 5 ms (`WHERE id > last`) and takes, for each new row, the time its query returned
//! minus the append time. That overstates the latency by at most the poll interval and the query's own
//! time (a few ms).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use audit_model::{Field, Format, Record};
use clap::Parser;
use ingest::sink::{LoadMethod, Sink, SinkOptions};
use ingest::Ingester;
use mysql_async::prelude::*;

#[derive(Debug, Parser)]
struct Args {
    /// Records in the backfill file.
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// The server (any database in the URL is ignored; databases `bench_ingest_*` are created and
    /// dropped).
    #[arg(long, default_value = "mysql://root@127.0.0.1:3306")]
    dsn: String,
    /// Seconds of appends at each follow rate (0 skips the follow part).
    #[arg(long, default_value_t = 10)]
    follow_secs: u64,
    /// Rows a batch for the library's backfill (the `--batch-rows` of audit-ingest).
    #[arg(long, default_value_t = 1000)]
    batch_rows: usize,
    /// Batches the library's reader may queue ahead of its committer (`IngesterBuilder::in_flight`;
    /// the library's default is 1).
    #[arg(long, default_value_t = 1)]
    in_flight: usize,
    /// Only these parts, comma-separated (`a,b,b2,c,d,e`; default: all).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Only write the N records to this file (for other tools) and exit.
    #[arg(long)]
    generate_only: Option<PathBuf>,
    /// Internal: run one backfill in this process and print its result.
    #[arg(long, hide = true)]
    child_backfill: Option<PathBuf>,
    /// Internal: the child's database.
    #[arg(long, hide = true)]
    child_db: Option<String>,
    /// Internal: the child's load method (`auto` for the default).
    #[arg(long, hide = true, default_value = "auto")]
    child_method: String,
}

fn server_url(dsn: &str) -> String {
    match dsn.rfind('/') {
        Some(i) if i > "mysql://".len() => dsn[..i].to_string(),
        _ => dsn.to_string(),
    }
}

fn new_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// A tiny deterministic generator.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pct(&mut self) -> u64 {
        self.next() % 100
    }
}

const START: i64 = 1_790_000_000;

/// Record `i` of `n` (timestamps spread over 48 hours); `conn_id` overrides the connection id.
fn record(i: u64, n: u64, rng: &mut Rng, conn_id: Option<u64>) -> Record {
    let kind = rng.pct();
    let quote = rng.pct() < 29;
    let non_ascii = rng.pct() < 8;
    let user = match (quote, non_ascii) {
        (_, true) => format!("jürgen🦀{}", i % 50),
        (true, false) if kind >= 75 => format!("o'brien\\{}", i % 50),
        _ => format!("app{}", i % 50),
    };
    let ip = format!("10.0.{}.{}", (i / 250) % 250, i % 250);
    let id = format!("{i}_2026-11-29T05:00:00");
    let ts = jiff::Timestamp::from_second(START + (i * 48 * 3600 / n.max(1)) as i64).unwrap() + jiff::SignedDuration::from_micros((i % 1_000_000) as i64);
    let mut b = Record::builder(Format::PerconaJson);
    b.set(Field::RecordId, &id).set(Field::Host, "localhost").set(Field::Ip, &ip).set(Field::OsUser, "").set(Field::ProxyUser, "");
    let (name, status) = match kind {
        0..75 => ("Query", 0),
        75..85 => ("Connect", 0),
        85..95 => ("Quit", 0),
        _ => ("Connect", 1045),
    };
    b.set(Field::Name, name);
    if name == "Query" {
        let mut sql = format!("SELECT id, total, status FROM shop.orders WHERE customer_id = {} AND created_at > NOW() - INTERVAL 1 DAY", i % 10_007);
        if quote {
            sql.push_str(" AND note LIKE 'it''s \\\\ done%'");
        }
        if non_ascii {
            sql.push_str(" AND city = CONCAT(city, SPACE(0)) -- Zürich 🦀");
        }
        b.set(Field::User, &format!("{user}[{user}] @ localhost [{ip}]")).set(Field::Db, "shop").set(Field::CommandClass, "select").set(Field::SqlText, &sql);
    } else {
        b.set(Field::User, &user).set(Field::PrivUser, &user).set(Field::Db, if quote && user.starts_with("app") { "sh'op\\x" } else { "shop" });
    }
    b.timestamp(ts).connection_id(Some(conn_id.unwrap_or(i / 10 + 1))).status(Some(status));
    b.build()
}

/// Writes `n` records to `path`; returns (bytes, share with `'` or `\`, share non-ASCII, kinds).
fn generate(path: &Path, n: u64) -> (u64, f64, f64, [u64; 4]) {
    let mut f = std::io::BufWriter::with_capacity(1 << 20, File::create(path).unwrap());
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut bytes, mut quoted, mut non_ascii) = (0u64, 0u64, 0u64);
    let mut kinds = [0u64; 4];
    let mut line = String::new();
    for i in 0..n {
        line.clear();
        let r = record(i, n, &mut rng, None);
        match (r.name(), r.status()) {
            ("Query", _) => kinds[0] += 1,
            ("Connect", Some(1045)) => kinds[3] += 1,
            ("Connect", _) => kinds[1] += 1,
            _ => kinds[2] += 1,
        }
        audit_model::write::write_record(Format::PerconaJson, &r, &mut line).unwrap();
        quoted += u64::from(line.contains('\'') || line.contains('\\'));
        non_ascii += u64::from(!line.is_ascii());
        bytes += line.len() as u64;
        f.write_all(line.as_bytes()).unwrap();
    }
    f.flush().unwrap();
    (bytes, quoted as f64 / n as f64, non_ascii as f64 / n as f64, kinds)
}

fn vm_hwm_kb() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// A fresh, empty database `db` (the DSN a sink gets names it, so it must exist before the sink connects).
async fn create_db(dsn: &str, db: &str) {
    let pool = mysql_async::Pool::new(mysql_async::Opts::from_url(&server_url(dsn)).unwrap());
    let mut c = pool.get_conn().await.unwrap();
    c.query_drop(format!("DROP DATABASE IF EXISTS {db}")).await.unwrap();
    c.query_drop(format!("CREATE DATABASE {db} CHARACTER SET utf8mb4")).await.unwrap();
    drop(c);
    pool.disconnect().await.unwrap();
}

/// The child: one backfill of `file` into `db` with the library; prints `RESULT records secs hwm_kb method`.
fn child_backfill(args: &Args, file: &Path) {
    let db = args.child_db.clone().unwrap();
    let method = match args.child_method.as_str() {
        "auto" => None,
        m => Some(m.parse::<LoadMethod>().unwrap()),
    };
    let opts = mysql_async::Opts::from_url(&format!("{}/{db}", server_url(&args.dsn))).unwrap();
    let names = audit_schema::TableNames::new(&db, "audit_data").unwrap();
    let sink = Sink::new(opts, SinkOptions::new(names, "bench", bench_server())).with_load_method(method);
    let ingester = Ingester::builder(file, sink.clone()).one_pass().batch_rows(args.batch_rows).in_flight(args.in_flight).build().unwrap();
    let rt = new_rt();
    let (summary, secs, used) = rt.block_on(async {
        create_db(&args.dsn, &db).await;
        sink.apply_schema().await.unwrap();
        let used = sink.load_method().await.unwrap();
        let t = Instant::now();
        let s = ingester.run(std::future::pending()).await.unwrap();
        let secs = t.elapsed().as_secs_f64();
        sink.clone().close().await.unwrap();
        (s, secs, used)
    });
    let cpu = cpu_secs("self").unwrap_or(f64::NAN);
    println!("RESULT {} {secs} {} {used} {} {cpu}", summary.records, vm_hwm_kb(), summary.batches);
}

struct ChildResult {
    records: u64,
    secs: f64,
    hwm_kb: u64,
    method: String,
    batches: u64,
    /// CPU seconds the child used (all its threads).
    cpu: f64,
}

fn run_child(args: &Args, file: &Path, db: &str, method: &str) -> ChildResult {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--dsn", &args.dsn, "--batch-rows", &args.batch_rows.to_string(), "--in-flight", &args.in_flight.to_string()])
        .args(["--child-db", db, "--child-method", method, "--child-backfill"])
        .arg(file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    let line = stdout.lines().find(|l| l.starts_with("RESULT ")).unwrap();
    let f: Vec<&str> = line.split_whitespace().collect();
    ChildResult { records: f[1].parse().unwrap(), secs: f[2].parse().unwrap(), hwm_kb: f[3].parse().unwrap(), method: f[4].to_string(), batches: f[5].parse().unwrap(), cpu: f[6].parse().unwrap() }
}

/// CPU seconds (user + system, all threads) process `pid` (or `self`) has used, from `/proc/<pid>/stat`.
fn cpu_secs(pid: &str) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name: state (3rd) first, utime the 14th, stime the 15th, in ticks.
    let f: Vec<&str> = s[s.rfind(')')? + 2..].split_whitespace().collect();
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / CLOCK_TICKS)
}

/// `sysconf(_SC_CLK_TCK)` on Linux.
const CLOCK_TICKS: f64 = 100.0;

/// Where a phase's time went: the server's CPU (its process, when it runs on this machine) and the
/// client's, each as a share of the phase's wall time. A share near 1.0 means that side is what limits
/// the figure (one core busy); both well under it means waiting (fsync, round trips).
#[derive(Clone, Copy)]
struct Usage {
    wall: f64,
    server_cpu: Option<f64>,
    client_cpu: f64,
}

impl Usage {
    fn shares(&self) -> String {
        let server = self.server_cpu.map_or("n/a".to_string(), |s| format!("{:.2}", s / self.wall));
        format!("server CPU {server} of wall, client CPU {:.2} of wall", self.client_cpu / self.wall)
    }
}

/// The server's process id, when its pid file is readable here (a local server).
fn server_pid(pid_file: &str) -> Option<String> {
    let pid = std::fs::read_to_string(pid_file).ok()?.trim().to_string();
    cpu_secs(&pid).map(|_| pid)
}

/// Measures a phase: `run` returns its wall seconds and, when it ran in a child, the child's CPU
/// seconds (`None`: it ran in this process).
fn measure<T>(server: Option<&str>, run: impl FnOnce() -> (T, f64, Option<f64>)) -> (T, Usage) {
    let (s0, c0) = (server.and_then(cpu_secs), cpu_secs("self").unwrap_or(0.0));
    let (out, wall, child_cpu) = run();
    let server_cpu = server.and_then(cpu_secs).zip(s0).map(|(s1, s0)| s1 - s0);
    let client_cpu = child_cpu.unwrap_or_else(|| cpu_secs("self").unwrap_or(0.0) - c0);
    (out, Usage { wall, server_cpu, client_cpu })
}

/// The file's bytes as LOCAL INFILE data, read 1 MiB at a time.
struct FileChunks(File);
impl futures_core::Stream for FileChunks {
    type Item = std::io::Result<bytes::Bytes>;
    fn poll_next(mut self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<Option<Self::Item>> {
        let mut buf = vec![0u8; 1 << 20];
        match self.0.read(&mut buf) {
            Ok(0) => std::task::Poll::Ready(None),
            Ok(n) => {
                buf.truncate(n);
                std::task::Poll::Ready(Some(Ok(bytes::Bytes::from(buf))))
            }
            Err(e) => std::task::Poll::Ready(Some(Err(e))),
        }
    }
}

async fn one_column_table(pool: &mysql_async::Pool, db: &str) {
    let mut c = pool.get_conn().await.unwrap();
    c.query_drop(format!("DROP DATABASE IF EXISTS {db}")).await.unwrap();
    c.query_drop(format!("CREATE DATABASE {db} CHARACTER SET utf8mb4")).await.unwrap();
    c.query_drop(format!("CREATE TABLE {db}.audit_data (audit_record JSON) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4")).await.unwrap();
}

async fn count(pool: &mysql_async::Pool, table: &str) -> u64 {
    pool.get_conn().await.unwrap().query_first(format!("SELECT COUNT(*) FROM {table}")).await.unwrap().unwrap()
}

/// (b): one LOAD DATA LOCAL INFILE of the whole file; returns (seconds, warnings).
async fn load_data(pool: &mysql_async::Pool, file: &Path) -> (f64, u16) {
    one_column_table(pool, "bench_ingest_b").await;
    let mut c = pool.get_conn().await.unwrap();
    let f = File::open(file).unwrap();
    c.set_infile_handler(async move { Ok(Box::pin(FileChunks(f)) as mysql_async::InfileData) });
    let t = Instant::now();
    // Each line is one JSON document: no escape character (JSON's own `\"` must reach the server).
    c.query_drop("LOAD DATA LOCAL INFILE 'bench' INTO TABLE bench_ingest_b.audit_data CHARACTER SET utf8mb4 FIELDS TERMINATED BY X'09' ESCAPED BY '' LINES TERMINATED BY X'0A' (audit_record)")
        .await
        .unwrap();
    (t.elapsed().as_secs_f64(), c.get_warnings())
}

/// (b2): the server's ceiling for the library's table: the TSV the infile method would send for the
/// whole file, made beforehand, loaded by ONE `LOAD DATA LOCAL INFILE` (no checkpoints, one commit)
/// into the full schema. Returns (seconds, warnings).
fn load_data_full_schema(args: &Args, file: &Path, dir: &Path) -> (f64, u16) {
    let tsv_path = dir.join("audit.tsv");
    {
        let mut out = std::io::BufWriter::with_capacity(1 << 20, File::create(&tsv_path).unwrap());
        let mut follower = ingest::follower::Follower::new(file, None, ingest::follower::FollowOptions::default()).unwrap();
        loop {
            let items = follower.poll(10_000).unwrap();
            if items.is_empty() {
                break;
            }
            let mut batch = ingest::sink::Batch::new("bench", "bench", usize::MAX, None);
            for item in &items {
                batch.push_item(item, |_| true);
            }
            out.write_all(&batch.records_tsv()).unwrap();
        }
        out.flush().unwrap();
    }
    let db = "bench_ingest_b2";
    let rt = new_rt();
    rt.block_on(async {
        create_db(&args.dsn, db).await;
        let opts = mysql_async::Opts::from_url(&format!("{}/{db}", server_url(&args.dsn))).unwrap();
        let sink = Sink::new(opts.clone(), SinkOptions::new(audit_schema::TableNames::new(db, "audit_data").unwrap(), "bench", bench_server()));
        sink.apply_schema().await.unwrap();
        let stmt = sink.load_statement("bench-tsv");
        sink.close().await.unwrap();
        let mut c = mysql_async::Conn::new(opts).await.unwrap();
        let f = File::open(&tsv_path).unwrap();
        c.set_infile_handler(async move { Ok(Box::pin(FileChunks(f)) as mysql_async::InfileData) });
        let t = Instant::now();
        c.query_drop(stmt).await.unwrap();
        let r = (t.elapsed().as_secs_f64(), c.get_warnings());
        c.disconnect().await.unwrap();
        std::fs::remove_file(&tsv_path).unwrap();
        r
    })
}

/// (c): multi-row INSERTs of 1,000 lines, a transaction each; returns seconds.
async fn multi_insert(pool: &mysql_async::Pool, file: &Path) -> f64 {
    one_column_table(pool, "bench_ingest_c").await;
    let mut c = pool.get_conn().await.unwrap();
    let mut lines = BufReader::with_capacity(1 << 20, File::open(file).unwrap()).lines();
    let sql = |n: usize| format!("INSERT INTO bench_ingest_c.audit_data (audit_record) VALUES {}", vec!["(?)"; n].join(","));
    let full = sql(1000);
    let t = Instant::now();
    loop {
        let chunk: Vec<mysql_async::Value> = lines.by_ref().take(1000).map(|l| mysql_async::Value::Bytes(l.unwrap().into_bytes())).collect();
        if chunk.is_empty() {
            break;
        }
        let stmt = if chunk.len() == 1000 { full.clone() } else { sql(chunk.len()) };
        let mut tx = c.start_transaction(mysql_async::TxOpts::default()).await.unwrap();
        tx.exec_drop(stmt, mysql_async::Params::Positional(chunk)).await.unwrap();
        tx.commit().await.unwrap();
    }
    t.elapsed().as_secs_f64()
}

struct Latency {
    rate: u64,
    written: u64,
    seen: u64,
    p50: f64,
    p99: f64,
    max: f64,
}

fn now_us() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as u64
}

/// (d): the library follows `dir/audit.log` while a writer appends at `rate` records/s for `secs`.
fn follow_latency(args: &Args, dir: &Path, rate: u64, secs: u64) -> Latency {
    let db = format!("bench_ingest_d{rate}");
    let server = server_url(&args.dsn);
    let log = dir.join(format!("follow-{rate}.log"));
    File::create(&log).unwrap();
    let rt = new_rt();
    let pool = mysql_async::Pool::new(mysql_async::Opts::from_url(&server).unwrap());
    rt.block_on(create_db(&args.dsn, &db));
    // The follower: the daemon's loop on its own thread and runtime (its connections belong to it).
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let follower = {
        let log = log.clone();
        let opts = mysql_async::Opts::from_url(&format!("{server}/{db}")).unwrap();
        let names = audit_schema::TableNames::new(&db, "audit_data").unwrap();
        std::thread::spawn(move || {
            new_rt().block_on(async move {
                let sink = Sink::new(opts, SinkOptions::new(names, "follow", bench_server()));
                sink.apply_schema().await.unwrap();
                ready_tx.send(()).unwrap();
                let stop = async move {
                    let _ = stop_rx.wait_for(|s| *s).await;
                };
                let s = Ingester::builder(log, sink.clone()).build().unwrap().run(stop).await.unwrap();
                sink.close().await.unwrap();
                s
            })
        })
    };
    ready_rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    // The writer: every millisecond, the records due by then, each stamped with its append time.
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (log, done) = (log.clone(), done.clone());
        std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
            let mut rng = Rng(42);
            let total = rate * secs;
            let t0 = Instant::now();
            let mut written = 0u64;
            let mut buf = String::new();
            while written < total {
                let due = ((t0.elapsed().as_secs_f64() * rate as f64) as u64).min(total);
                if due > written {
                    buf.clear();
                    let stamp = now_us();
                    for i in written..due {
                        audit_model::write::write_record(Format::PerconaJson, &record(i, total, &mut rng, Some(stamp)), &mut buf).unwrap();
                    }
                    f.write_all(buf.as_bytes()).unwrap();
                    written = due;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            done.store(true, Ordering::SeqCst);
            written
        })
    };
    // The poller.
    let mut lat: Vec<u64> = Vec::new();
    rt.block_on(async {
        let mut c = pool.get_conn().await.unwrap();
        // One live file, never rotated here: the offset orders the rows as they were appended.
        let mut last: i64 = -1;
        let mut quiet_since: Option<Instant> = None;
        let sql = format!("SELECT file_offset, connection_id FROM {db}.audit_data WHERE file_offset > ? ORDER BY file_offset");
        loop {
            let rows: Vec<(u64, u64)> = c.exec(&sql, (last,)).await.unwrap();
            let now = now_us();
            for (offset, stamp) in &rows {
                lat.push(now.saturating_sub(*stamp));
                last = last.max(*offset as i64);
            }
            if done.load(Ordering::SeqCst) {
                if lat.len() as u64 >= rate * secs {
                    break;
                }
                let q = quiet_since.get_or_insert_with(Instant::now);
                if !rows.is_empty() {
                    *q = Instant::now();
                }
                if q.elapsed() > Duration::from_secs(30) {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    let written = writer.join().unwrap();
    stop_tx.send(true).unwrap();
    follower.join().unwrap();
    rt.block_on(pool.disconnect()).unwrap();
    lat.sort_unstable();
    let q = |p: f64| if lat.is_empty() { f64::NAN } else { lat[((lat.len() - 1) as f64 * p) as usize] as f64 / 1000.0 };
    Latency { rate, written, seen: lat.len() as u64, p50: q(0.5), p99: q(0.99), max: q(1.0) }
}

fn main() {
    let args = Args::parse();
    if let Some(file) = &args.child_backfill {
        child_backfill(&args, file);
        return;
    }
    let n = args.records;
    if let Some(path) = &args.generate_only {
        let (bytes, quoted, non_ascii, kinds) = generate(path, n);
        println!("{n} records, {bytes} bytes, kinds {kinds:?}, {:.1}% with ' or \\, {:.1}% non-ASCII", quoted * 100.0, non_ascii * 100.0);
        return;
    }
    let part = |p: &str| args.only.is_empty() || args.only.iter().any(|o| o == p);
    let server = server_url(&args.dsn);
    let rt = new_rt();
    let pool = mysql_async::Pool::new(mysql_async::Opts::from_url(&server).unwrap());
    let dbs = ["bench_ingest_a_infile", "bench_ingest_a_insert", "bench_ingest_b", "bench_ingest_b2", "bench_ingest_c", "bench_ingest_d1000", "bench_ingest_d10000", "bench_ingest_e"];
    let drop_all = |pool: &mysql_async::Pool| {
        rt.block_on(async {
            let mut c = pool.get_conn().await.unwrap();
            for db in dbs {
                c.query_drop(format!("DROP DATABASE IF EXISTS {db}")).await.unwrap();
            }
        })
    };
    let (version, flush, local_infile, packet, pid_file): (String, u64, u64, u64, String) = rt.block_on(async {
        pool.get_conn().await.unwrap().query_first("SELECT @@version, @@innodb_flush_log_at_trx_commit, @@local_infile, @@max_allowed_packet, @@pid_file").await.unwrap().unwrap()
    });
    println!("server {version}: innodb_flush_log_at_trx_commit = {flush}, local_infile = {local_infile}, max_allowed_packet = {packet}");
    if flush != 1 {
        println!("WARNING: innodb_flush_log_at_trx_commit is {flush}, not 1: commits are not durable and the figures are not comparable");
    }
    let spid = server_pid(&pid_file);
    let spid = spid.as_deref();
    match spid {
        Some(pid) => println!("server process {pid}: its CPU time is measured around each part"),
        None => println!("server process not readable here ({pid_file}): no server CPU figures"),
    }
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("machine: {cpus} CPUs, load average {} at the start; pipeline: batches of {} rows, {} in flight", loadavg(), args.batch_rows, args.in_flight);
    drop_all(&pool);

    let dir = tempfile::Builder::new().prefix("bench-ingest-").tempdir().unwrap();
    let file = dir.path().join("audit.log");
    let t = Instant::now();
    let (bytes, quoted, non_ascii, kinds) = generate(&file, n);
    println!(
        "generated {n} records, {:.1} MiB, in {:.1?}: Query {} / Connect {} / Quit {} / failed Connect {}; {:.1}% with ' or \\, {:.1}% non-ASCII",
        bytes as f64 / 1048576.0,
        t.elapsed(),
        kinds[0],
        kinds[1],
        kinds[2],
        kinds[3],
        quoted * 100.0,
        non_ascii * 100.0
    );

    // (a) The library, each method, in child processes.
    let methods: Vec<&str> = match (part("a"), local_infile == 1) {
        (false, _) => vec![],
        (true, true) => vec!["infile", "insert"],
        (true, false) => vec!["insert"],
    };
    let mut a = Vec::new();
    for m in &methods {
        let db = format!("bench_ingest_a_{m}");
        let (r, u) = measure(spid, || {
            let r = run_child(&args, &file, &db, m);
            let (secs, cpu) = (r.secs, r.cpu);
            (r, secs, Some(cpu))
        });
        let stored = rt.block_on(count(&pool, &format!("{db}.audit_data")));
        assert_eq!(stored, n, "(a) {m}: {stored} rows stored of {n}");
        println!("(a) library backfill, {m}: {} records in {:.2} s = {:.0} rows/s, {} batches, VmHWM {} KiB; {}", r.records, r.secs, n as f64 / r.secs, r.batches, r.hwm_kb, u.shares());
        drop_all_one(&rt, &pool, &db);
        a.push((m.to_string(), r, u));
    }
    // (b) LOAD DATA LOCAL INFILE, one column.
    let b = if local_infile == 1 && part("b") {
        let ((secs, warnings), u) = measure(spid, || {
            let (secs, warnings) = rt.block_on(load_data(&pool, &file));
            ((secs, warnings), secs, None)
        });
        let stored = rt.block_on(count(&pool, "bench_ingest_b.audit_data"));
        println!("(b) LOAD DATA LOCAL INFILE: {stored} rows in {secs:.2} s = {:.0} rows/s, {warnings} warnings; {}", n as f64 / secs, u.shares());
        assert_eq!(stored, n, "(b) stored {stored} of {n}");
        drop_all_one(&rt, &pool, "bench_ingest_b");
        Some((secs, u))
    } else {
        println!("(b) skipped: local_infile is OFF on the server, or not asked for");
        None
    };
    let b2 = if local_infile == 1 && part("b2") {
        let ((secs, warnings), u) = measure(spid, || {
            let (secs, warnings) = load_data_full_schema(&args, &file, dir.path());
            ((secs, warnings), secs, None)
        });
        let stored = rt.block_on(count(&pool, "bench_ingest_b2.audit_data"));
        println!("(b2) LOAD DATA LOCAL INFILE of the library's TSV into the full schema: {stored} rows in {secs:.2} s = {:.0} rows/s, {warnings} warnings; {}", n as f64 / secs, u.shares());
        assert_eq!(stored, n, "(b2) stored {stored} of {n}");
        drop_all_one(&rt, &pool, "bench_ingest_b2");
        Some((secs, u))
    } else {
        None
    };
    // (c) multi-row INSERT, one column.
    let c = if part("c") {
        let (c, u) = measure(spid, || {
            let c = rt.block_on(multi_insert(&pool, &file));
            (c, c, None)
        });
        let stored = rt.block_on(count(&pool, "bench_ingest_c.audit_data"));
        println!("(c) multi-row INSERT x1000: {stored} rows in {c:.2} s = {:.0} rows/s; {}", n as f64 / c, u.shares());
        assert_eq!(stored, n);
        drop_all_one(&rt, &pool, "bench_ingest_c");
        Some((c, u))
    } else {
        None
    };

    // (e) Memory: a file a tenth the size.
    let small = dir.path().join("small.log");
    let e_small = if part("e") {
        let mut out = std::io::BufWriter::new(File::create(&small).unwrap());
        for l in BufReader::new(File::open(&file).unwrap()).lines().take((n / 10) as usize) {
            writeln!(out, "{}", l.unwrap()).unwrap();
        }
        drop(out);
        let e = run_child(&args, &small, "bench_ingest_e", "auto");
        println!("(e) library backfill of {} records ({}): VmHWM {} KiB", e.records, e.method, e.hwm_kb);
        drop_all_one(&rt, &pool, "bench_ingest_e");
        Some(e)
    } else {
        None
    };

    // (d) Follow latency.
    let mut d = Vec::new();
    if args.follow_secs > 0 && part("d") {
        for rate in [1_000u64, 10_000] {
            let (l, u) = measure(spid, || {
                let t = Instant::now();
                let l = follow_latency(&args, dir.path(), rate, args.follow_secs);
                (l, t.elapsed().as_secs_f64(), None)
            });
            println!("(d) follow at {} records/s: {} written, {} seen, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} (writer and poller included)", l.rate, l.written, l.seen, l.p50, l.p99, l.max, u.shares());
            drop_all_one(&rt, &pool, &format!("bench_ingest_d{rate}"));
            d.push((l, u));
        }
    }
    let end_load = loadavg();
    drop_all(&pool);
    rt.block_on(pool.disconnect()).unwrap();

    // The tables.
    let rps = |secs: f64| n as f64 / secs;
    println!();
    println!("{n} records ({:.0} MiB), {version}, innodb_flush_log_at_trx_commit={flush}, {cpus} CPUs, load average at the end {end_load}", bytes as f64 / 1048576.0);
    println!();
    let others: Vec<(&str, Usage)> = [("(b)", &b), ("(b2)", &b2), ("(c)", &c)].into_iter().filter_map(|(l, x)| x.map(|x| (l, x.1))).collect();
    let (b, b2, c) = (b.map(|x| x.0), b2.map(|x| x.0), c.map(|x| x.0));
    let ratio = |x: f64, y: Option<f64>| y.map_or("n/a".to_string(), |y| format!("{:.2}x", rps(x) / rps(y)));
    println!("| method | rows/s | vs (b) | vs (b2) | vs (c) | note |");
    println!("|---|---:|---:|---:|---:|---|");
    for (m, r, _) in &a {
        println!(
            "| (a) library backfill, `--load-method {m}` | {:.0} | {} | {} | {} | full schema, checkpoint in each batch's transaction, {} batches |",
            rps(r.secs),
            ratio(r.secs, b),
            ratio(r.secs, b2),
            ratio(r.secs, c),
            r.batches
        );
    }
    if let Some(b) = b {
        println!("| (b) `LOAD DATA LOCAL INFILE`, one JSON column | {:.0} | 1.00x | {} | {} | one statement, one transaction, no index |", rps(b), ratio(b, b2), ratio(b, c));
    }
    if let Some(b2) = b2 {
        println!(
            "| (b2) `LOAD DATA LOCAL INFILE` of the library's TSV, full schema | {:.0} | {} | 1.00x | {} | the server's ceiling for the library's table: TSV made beforehand, one statement, one transaction |",
            rps(b2),
            ratio(b2, b),
            ratio(b2, c)
        );
    }
    if let Some(c) = c {
        println!("| (c) multi-row INSERT, 1,000 rows a statement, one JSON column | {:.0} | {} | {} | 1.00x | a transaction each, no index |", rps(c), ratio(c, b), ratio(c, b2));
    }
    println!();
    println!("| part | wall s | server CPU s | server CPU / wall | client CPU s | client CPU / wall |");
    println!("|---|---:|---:|---:|---:|---:|");
    let usage_row = |label: &str, u: &Usage| {
        let server = u.server_cpu.map_or(("n/a".to_string(), "n/a".to_string()), |s| (format!("{s:.1}"), format!("{:.2}", s / u.wall)));
        println!("| {label} | {:.1} | {} | {} | {:.1} | {:.2} |", u.wall, server.0, server.1, u.client_cpu, u.client_cpu / u.wall);
    };
    for (m, _, u) in &a {
        usage_row(&format!("(a) `{m}`"), u);
    }
    for (label, u) in &others {
        usage_row(label, u);
    }
    println!();
    if !d.is_empty() {
        println!("| follow mode, append to committed row | p50 | p99 | max | rows | server CPU / wall |");
        println!("|---|---:|---:|---:|---:|---:|");
        for (l, u) in &d {
            let share = u.server_cpu.map_or("n/a".to_string(), |s| format!("{:.2}", s / u.wall));
            println!("| {} records/s for {} s | {:.0} ms | {:.0} ms | {:.0} ms | {} of {} | {share} |", l.rate, args.follow_secs, l.p50, l.p99, l.max, l.seen, l.written);
        }
        println!();
    }
    println!("| peak resident memory (VmHWM) of a backfill process | records | file | VmHWM |");
    println!("|---|---:|---:|---:|");
    if let Some(e) = &e_small {
        let small_bytes = std::fs::metadata(&small).map_or(0, |m| m.len());
        println!("| small file, `{}` | {} | {:.0} MiB | {:.1} MiB |", e.method, e.records, small_bytes as f64 / 1048576.0, e.hwm_kb as f64 / 1024.0);
    }
    for (m, r, _) in &a {
        println!("| full file, `{m}` | {} | {:.0} MiB | {:.1} MiB |", r.records, bytes as f64 / 1048576.0, r.hwm_kb as f64 / 1024.0);
    }
}

fn drop_all_one(rt: &tokio::runtime::Runtime, pool: &mysql_async::Pool, db: &str) {
    rt.block_on(async { pool.get_conn().await.unwrap().query_drop(format!("DROP DATABASE IF EXISTS {db}")).await.unwrap() });
}

/// The server name every bench row carries.
fn bench_server() -> audit_schema::ServerName {
    audit_schema::ServerName::new("bench").expect("a valid server name")
}
