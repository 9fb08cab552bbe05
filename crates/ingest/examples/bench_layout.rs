//! What each secondary index and the typed columns of the raw table cost to write, measured in one
//! run on one server: the same records, as the sink's `LOAD DATA` TSV (or, for the one-column
//! baseline, as Percona JSON lines), loaded by one `LOAD DATA LOCAL INFILE` into each variant of the
//! table, in rounds that alternate the variants (so drift hits each alike); best round each.
//!
//!     cargo run --release -p ingest --example bench_layout -- [RECORDS] [DSN] [ROUNDS]
//!
//! Defaults: 500000 records, mysql://root@127.0.0.1:3306, 2 rounds. The server needs
//! `local_infile=ON`. Variants:
//! - `json column`: one `audit_record JSON` column, no key (the original recipe's table);
//! - `v3 (shipped)`: the schema as shipped, primary key (server, file_id, file_offset) and `event_time`;
//! - `v3 without event_time`: the primary key alone;
//! - `v3 + kind_time`, `v2 (+ kind_time + failed_login_time)`: version 2's indexes put back;
//! - `keys + JSON only`: the primary key's columns, source, event_time and the JSON, no typed login
//!   columns (what generated columns would start from).
//!
//! Databases `bench_layout_*` are created and dropped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use audit_model::{Field, Format, Record};
use mysql_async::prelude::*;

/// A tiny deterministic generator.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Record `i` of `n`: 75% Query, 10% Connect, 10% Quit, 5% failed Connect, over 48 hours.
fn record(i: u64, n: u64, rng: &mut Rng) -> Record {
    let kind = rng.next() % 100;
    let user = format!("app{}", rng.next() % 50);
    let ip = format!("10.{}.{}.{}", rng.next() % 4, rng.next() % 256, rng.next() % 256);
    let ts = jiff::Timestamp::from_second(1_790_000_000 + (i * 48 * 3600 / n.max(1)) as i64).unwrap();
    let mut b = Record::builder(Format::PerconaJson);
    b.set(Field::RecordId, &format!("{i}_2026-11-29T05:00:00")).set(Field::Host, "localhost").set(Field::Ip, &ip);
    let (name, status) = match kind {
        0..75 => ("Query", 0),
        75..85 => ("Connect", 0),
        85..95 => ("Quit", 0),
        _ => ("Connect", 1045),
    };
    b.set(Field::Name, name);
    if name == "Query" {
        let sql = format!("SELECT id, total, status FROM shop.orders WHERE customer_id = {} AND created_at > NOW() - INTERVAL 1 DAY", i % 10_007);
        b.set(Field::User, &format!("{user}[{user}] @ localhost [{ip}]")).set(Field::Db, "shop").set(Field::CommandClass, "select").set(Field::SqlText, &sql);
    } else {
        b.set(Field::User, &user).set(Field::PrivUser, &user).set(Field::Db, "shop");
    }
    b.timestamp(ts).connection_id(Some(i / 10 + 1)).status(Some(status)).span(i * 300..i * 300 + 300);
    b.build()
}

struct Variant {
    name: &'static str,
    ddl: String,
    load: String,
    json_lines: bool,
}

fn variants(db: &str) -> Vec<Variant> {
    let names = audit_schema::TableNames::new(db, "audit_data").unwrap();
    let raw = audit_schema::ddl_statements(&names).unwrap().into_iter().find(|s| s.starts_with(&format!("CREATE TABLE IF NOT EXISTS {} (", names.data()))).unwrap();
    let raw = clean(&raw);
    let sink = ingest::sink::Sink::new(mysql_async::Opts::from_url("mysql://127.0.0.1/x").unwrap(), ingest::sink::SinkOptions::new(names.clone(), "bench", audit_schema::ServerName::new("bench").unwrap()));
    let load = sink.load_statement("bench");
    let event_time = "KEY event_time (event_time)";
    assert!(raw.contains(event_time), "{raw}");
    let with = |keys: &str| raw.replace(event_time, keys);
    let data = names.data();
    let minimal_cols = "(server, file_id, file_offset, source, event_time, @name, @kind, @status, @failed, @user, @priv_user, @host, @ip, @db, @conn, @class, format, @log_server_id, audit_record)";
    let minimal_load = format!("{}{minimal_cols}", &load[..load.rfind('(').unwrap()]);
    vec![
        Variant {
            name: "json column",
            ddl: format!("CREATE TABLE {data} (audit_record JSON) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"),
            load: format!("LOAD DATA LOCAL INFILE 'bench' INTO TABLE {data} CHARACTER SET utf8mb4 FIELDS TERMINATED BY X'09' ESCAPED BY '' LINES TERMINATED BY X'0A' (audit_record)"),
            json_lines: true,
        },
        Variant { name: "v3 (shipped)", ddl: raw.clone(), load: load.clone(), json_lines: false },
        Variant { name: "v3 without event_time", ddl: raw.replace(&format!(",\n  {event_time}"), ""), load: load.clone(), json_lines: false },
        Variant { name: "v3 + kind_time", ddl: with("KEY kind_time (kind, event_time),\n  KEY event_time (event_time)"), load: load.clone(), json_lines: false },
        Variant {
            name: "v2 (+ kind_time + failed_login_time)",
            ddl: with("KEY failed_login_time (is_failed_login, event_time, user, ip, host),\n  KEY kind_time (kind, event_time),\n  KEY event_time (event_time)"),
            load: load.clone(),
            json_lines: false,
        },
        Variant {
            name: "keys + JSON only",
            ddl: format!(
                "CREATE TABLE {data} (server VARCHAR(64) NOT NULL, file_id VARCHAR(64) NOT NULL, file_offset BIGINT UNSIGNED NOT NULL, source VARCHAR(128) NOT NULL, \
                 event_time DATETIME(6) NOT NULL, format VARCHAR(32) NOT NULL, audit_record JSON NOT NULL, PRIMARY KEY (server, file_id, file_offset), KEY event_time (event_time)) \
                 ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
            ),
            load: minimal_load,
            json_lines: false,
        },
    ]
}

/// Strips the comment lines a variant's DDL kept from the template (a statement may not end in one).
fn clean(ddl: &str) -> String {
    ddl.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n")
}

async fn load_one(server: &str, db: &str, v: &Variant, data: &bytes::Bytes) -> Duration {
    let mut c = mysql_async::Conn::new(mysql_async::Opts::from_url(server).unwrap()).await.unwrap();
    c.query_drop(format!("DROP DATABASE IF EXISTS `{db}`")).await.unwrap();
    c.query_drop(format!("CREATE DATABASE `{db}` CHARACTER SET utf8mb4")).await.unwrap();
    c.query_drop(clean(&v.ddl)).await.unwrap();
    let data = data.clone();
    c.set_infile_handler(async move { Ok(Box::pin(futures_util_stream(data)) as mysql_async::InfileData) });
    let t = Instant::now();
    c.query_drop(&v.load).await.unwrap();
    let took = t.elapsed();
    assert_eq!(c.get_warnings(), 0, "{}: LOAD DATA warnings", v.name);
    c.query_drop(format!("DROP DATABASE `{db}`")).await.unwrap();
    c.disconnect().await.unwrap();
    took
}

/// The data as a stream of 1 MiB chunks.
fn futures_util_stream(data: bytes::Bytes) -> impl futures_core::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static {
    struct Chunks(bytes::Bytes);
    impl futures_core::Stream for Chunks {
        type Item = std::io::Result<bytes::Bytes>;
        fn poll_next(mut self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<Option<Self::Item>> {
            if self.0.is_empty() {
                return std::task::Poll::Ready(None);
            }
            let n = self.0.len().min(1 << 20);
            std::task::Poll::Ready(Some(Ok(self.0.split_to(n))))
        }
    }
    Chunks(data)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: u64 = args.first().map_or(500_000, |s| s.parse().expect("RECORDS"));
    let server = args.get(1).cloned().unwrap_or_else(|| "mysql://root@127.0.0.1:3306".into());
    let rounds: usize = args.get(2).map_or(2, |s| s.parse().expect("ROUNDS"));
    let db = "bench_layout_t";

    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut batch = ingest::sink::Batch::new("bench", "bench", usize::MAX, None);
    let mut json = Vec::new();
    for i in 0..n {
        let r = record(i, n, &mut rng);
        let mut line = String::new();
        audit_model::write::write_record(Format::PerconaJson, &r, &mut line).unwrap();
        json.extend_from_slice(line.as_bytes());
        batch.push_record("f-1", &r);
    }
    let tsv = bytes::Bytes::from(batch.records_tsv());
    let json = bytes::Bytes::from(json);
    let vs = variants(db);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut best = vec![Duration::MAX; vs.len()];
    for round in 0..rounds {
        for (i, v) in vs.iter().enumerate() {
            let t = rt.block_on(load_one(&server, db, v, if v.json_lines { &json } else { &tsv }));
            eprintln!("round {round}: {}: {:.2} s", v.name, t.as_secs_f64());
            best[i] = best[i].min(t);
        }
    }
    let base = best[0].as_secs_f64();
    println!("{n} records, TSV {} MB, JSON lines {} MB, best of {rounds} rounds\n", tsv.len() >> 20, json.len() >> 20);
    println!("| raw table variant | rows/s | time vs json column | time vs v3 (shipped) |");
    println!("|---|---:|---:|---:|");
    for (v, t) in vs.iter().zip(&best) {
        let s = t.as_secs_f64();
        println!("| {} | {:.0} | {:.2}x | {:.2}x |", v.name, n as f64 / s, s / base, s / best[1].as_secs_f64());
    }
}
