//! Parsing throughput of every format, against `serde_json::Value` and a memchr line count over the same
//! bytes, in the same run. Prints a table.
//!
//! `cargo bench -p audit-model --bench throughput` (about 100 MB a format; `BENCH_MB=20` for less;
//! `BENCH_RUNS=1` for one timing each; `BENCH_DUMP=DIR` writes each generated input there). Arguments pick formats: an exact format name, or a part of
//! names. Instructions a byte: run the bench binary under `valgrind --tool=callgrind
//! --toggle-collect='*parse_input*'` (see BENCHMARKS.md), which counts only the parse.
#![allow(clippy::unwrap_used)] // tests and benches fail loudly on purpose

use std::hint::black_box;
use std::time::{Duration, Instant};

use audit_model::write::{header, write_record};
use audit_model::{Field, Format, ReaderOptions, Record, RecordReader};

/// A small deterministic generator (xorshift64*), so every run parses the same bytes.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn pct(&mut self) -> u64 {
        self.next() % 100
    }
}

/// The baselines' mix: 75% Query, 10% Connect, 10% Quit, 5% failed Connect; 27% of records hold `'`
/// or `\`, 8% non-ASCII; timestamps over 48 hours.
fn synthetic(rng: &mut Rng, i: u64, format: Format) -> Record {
    let t0 = 1_780_000_000i64;
    let ts = jiff::Timestamp::from_second(t0 + (i as i64 * 7) % 172_800).unwrap();
    let p = rng.pct();
    let name = match p {
        0..=74 => "Query",
        75..=84 => "Connect",
        85..=94 => "Quit",
        _ => "Connect",
    };
    let status = if p >= 95 { 1045 } else { 0 };
    let user = match rng.pct() {
        0..=7 => "zoë_ünïcødé😀".to_string(),
        8..=34 => format!("o'brien\\{}", rng.next() % 50),
        n => format!("app_user_{}", n % 20),
    };
    let sql = match rng.pct() {
        0..=7 => format!("SELECT * FROM t WHERE name = 'Zoë 😀' AND id = {}", rng.next() % 10_000),
        8..=34 => format!("INSERT INTO notes VALUES ({}, 'it''s a \\'quoted\\' value', \"x\")", rng.next() % 10_000),
        _ => format!("SELECT id, holder, amount FROM accounts WHERE id = {} LIMIT 10", rng.next() % 10_000),
    };
    let mut b = Record::builder(format);
    b.set(Field::Name, name)
        .set(Field::RecordId, &format!("{i}_2026-11-29T05:00:00"))
        .set(Field::TimestampText, &ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .timestamp(ts)
        .connection_id(Some(i % 5000))
        .status(Some(status));
    if name == "Query" {
        b.set(Field::CommandClass, "select")
            .set(Field::SqlText, &sql)
            .set(Field::User, &format!("{user}[{user}] @ localhost [10.0.0.7]"))
            .set(Field::Host, "localhost")
            .set(Field::OsUser, "")
            .set(Field::Ip, "10.0.0.7")
            .set(Field::Db, "shop");
    } else {
        b.set(Field::User, &user)
            .set(Field::PrivUser, if status == 0 { &user } else { "" })
            .set(Field::OsUser, "")
            .set(Field::ProxyUser, "")
            .set(Field::Host, "app-7.example.com")
            .set(Field::Ip, "10.0.0.7")
            .set(Field::Db, "shop");
    }
    b.build()
}

fn mariadb_line(r: &Record, out: &mut String) {
    let op = match (r.name(), r.status()) {
        ("Query", _) => "QUERY",
        ("Connect", Some(0)) => "CONNECT",
        ("Connect", _) => "FAILED_CONNECT",
        _ => "DISCONNECT",
    };
    let mut object = String::new();
    if op == "QUERY" {
        object.push('\'');
        for c in r.sqltext().unwrap_or("").chars() {
            match c {
                '\'' => object.push_str("\\'"),
                '\\' => object.push_str("\\\\"),
                c => object.push(c),
            }
        }
        object.push('\'');
    }
    let user = r.user().unwrap_or("").split('[').next().unwrap_or("");
    let ts = r.timestamp().strftime("%Y%m%d %H:%M:%S");
    out.push_str(&format!("{ts},db1,{user},10.0.0.7,{},{},{op},shop,{object},{}\n", r.connection_id().unwrap_or(0), r.connection_id().unwrap_or(0) * 3, r.status().unwrap_or(0)));
}

fn filter_json_line(r: &Record, out: &mut String) {
    let v = serde_json::json!({
        "timestamp": r.timestamp().strftime("%Y-%m-%d %H:%M:%S").to_string(),
        "id": r.record_id().unwrap_or("").split('_').next().unwrap_or("0").parse::<u64>().unwrap_or(0),
        "class": if r.name() == "Query" { "general" } else { "connection" },
        "event": match r.name() { "Query" => "status", "Connect" => "connect", _ => "disconnect" },
        "connection_id": r.connection_id(),
        "account": { "user": r.priv_user().unwrap_or("app"), "host": "localhost" },
        "login": { "user": r.user(), "os": "", "ip": r.ip(), "proxy": "" },
        "general_data": { "command": "Query", "sql_command": "select", "query": r.sqltext().unwrap_or(""), "status": r.status() },
    });
    out.push_str(&v.to_string());
    out.push_str(",\n");
}

fn mcafee_line(r: &Record, out: &mut String) {
    let cmd = match (r.name(), r.status()) {
        ("Query", _) => "select",
        ("Connect", Some(0)) => "Connect",
        ("Connect", _) => "Failed Login",
        _ => "Quit",
    };
    let id = r.connection_id().unwrap_or(0).to_string();
    let mut v = serde_json::json!({
        "msg-type": "activity",
        "date": r.timestamp().as_millisecond().to_string(),
        "thread-id": id,
        "query-id": (r.connection_id().unwrap_or(0) * 3).to_string(),
        "user": r.user().unwrap_or("").split('[').next().unwrap_or(""),
        "priv_user": r.priv_user().unwrap_or(""),
        "ip": "10.0.0.7",
        "host": "app-7.example.com",
    });
    let o = v.as_object_mut().unwrap();
    if cmd == "select" {
        o.insert("rows".into(), "1".into());
        o.insert("status".into(), "0".into());
        o.insert("cmd".into(), cmd.into());
        o.insert("objects".into(), serde_json::json!([{"db": "shop", "name": "accounts", "obj_type": "TABLE"}]));
        o.insert("query".into(), r.sqltext().unwrap_or("").into());
    } else {
        if cmd == "Failed Login" {
            o.insert("status".into(), r.status().unwrap_or(0).to_string().into());
        }
        o.insert("cmd".into(), cmd.into());
        o.insert("query".into(), cmd.into());
    }
    out.push_str(&v.to_string());
    out.push('\n');
}

/// rsyslog's default (traditional) header before a MariaDB message: `server_audit_syslog_info` empty.
fn syslog_mariadb_line(r: &Record, out: &mut String) {
    let mut line = String::new();
    mariadb_line(r, &mut line);
    // The message is the record without its timestamp.
    let msg = &line[line.find(',').unwrap() + 1..];
    out.push_str(&r.timestamp().strftime("%b %e %H:%M:%S").to_string());
    out.push_str(" vm mysql-server_auditing:  ");
    out.push_str(msg);
}

/// rsyslog's `RSYSLOG_FileFormat` (ISO timestamps) before a Percona JSON line.
fn syslog_percona_json_line(r: &Record, out: &mut String) {
    out.push_str(&r.timestamp().strftime("%Y-%m-%dT%H:%M:%S.123456+00:00").to_string());
    out.push_str(" vm percona-audit[4242]: ");
    write_record(Format::PerconaJson, r, out).unwrap();
}

/// `journalctl -o json` of a MariaDB message, with the fields journald adds.
fn journald_mariadb_line(r: &Record, out: &mut String) {
    let mut line = String::new();
    mariadb_line(r, &mut line);
    let msg = format!(" {}", line[line.find(',').unwrap() + 1..].trim_end());
    let us = r.timestamp().as_microsecond();
    let v = serde_json::json!({
        "_PID": "29560", "PRIORITY": "6", "_COMM": "mariadbd", "MESSAGE": msg,
        "__REALTIME_TIMESTAMP": us.to_string(), "_UID": "0", "_EXE": "/usr/sbin/mariadbd",
        "_MACHINE_ID": "3d1219c7c4c5404aaa1f6d2a48adfda4", "_HOSTNAME": "vm", "_GID": "0",
        "_BOOT_ID": "e3c5d0b1c730484c9c61f6ecb1b6bd75", "__MONOTONIC_TIMESTAMP": "3248816759",
        "_TRANSPORT": "syslog", "SYSLOG_FACILITY": "1", "SYSLOG_IDENTIFIER": "mysql-server_auditing",
        "__CURSOR": format!("s=8b4b3d7e82574a9a9ca655e2724839ff;i={};b=e3c5d0b1c730484c9c61f6ecb1b6bd75", r.connection_id().unwrap_or(0)),
    });
    out.push_str(&v.to_string());
    out.push('\n');
}

fn generate(format: Format, target: usize) -> (Vec<u8>, u64) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut out = String::with_capacity(target + (1 << 20));
    let percona = match format {
        Format::FilterXmlNew => Format::PerconaNew,
        Format::FilterXmlOld => Format::PerconaOld,
        Format::PerconaOld | Format::PerconaNew | Format::PerconaJson | Format::PerconaCsv => format,
        _ => Format::PerconaJson,
    };
    if format.wrapper().is_none() && format != Format::McAfeeJson {
        out.push_str(header(percona));
    }
    if format == Format::FilterJson {
        out.push_str("[\n");
    }
    let mut n = 0u64;
    let mut one = String::new();
    while out.len() < target {
        let r = synthetic(&mut rng, n, percona);
        match format {
            Format::MariaDb => mariadb_line(&r, &mut out),
            Format::FilterJson => filter_json_line(&r, &mut out),
            Format::McAfeeJson => mcafee_line(&r, &mut out),
            Format::SyslogMariaDb => syslog_mariadb_line(&r, &mut out),
            Format::SyslogPerconaJson => syslog_percona_json_line(&r, &mut out),
            Format::JournaldMariaDb => journald_mariadb_line(&r, &mut out),
            Format::FilterXmlNew | Format::FilterXmlOld => {
                one.clear();
                write_record(percona, &r, &mut one).unwrap();
                out.push_str(&one.replacen("<RECORD>", "<RECORD_ID>", 1).replacen("</RECORD>", "</RECORD_ID>", 1).replacen("\n  RECORD=\"", "\n  RECORD_ID=\"", 1));
            }
            _ => write_record(format, &r, &mut out).unwrap(),
        }
        n += 1;
    }
    (out.into_bytes(), n)
}

/// The best of `runs` timings of `f`.
fn best<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let v = black_box(f());
        best = best.min(t.elapsed());
        last = Some(v);
    }
    (best, last.unwrap())
}

/// Parses all of `data`: the part `callgrind --toggle-collect='*parse_input*'` counts.
#[inline(never)]
fn parse_input(format: Format, data: &[u8]) -> u64 {
    let mut ok = 0u64;
    for r in RecordReader::new(data, ReaderOptions::new().format(format)) {
        black_box(r.expect("synthetic data parses"));
        ok += 1;
    }
    ok
}

fn mbs(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

fn main() {
    // `cargo bench` passes --bench; a filter argument picks formats by name.
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let mb: usize = std::env::var("BENCH_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let runs: usize = std::env::var("BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    println!("audit-model parse throughput, {mb} MB a format, best of {runs} runs, one core\n");
    println!("| input | MB | records | parse MB/s | records/s | vs memchr line count | vs serde_json::Value | vs typed JSON |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut json_mbs = None;
    let formats = [
        Format::PerconaJson,
        Format::PerconaOld,
        Format::PerconaNew,
        Format::PerconaCsv,
        Format::FilterXmlNew,
        Format::FilterXmlOld,
        Format::FilterJson,
        Format::MariaDb,
        Format::McAfeeJson,
        Format::SyslogMariaDb,
        Format::SyslogPerconaJson,
        Format::JournaldMariaDb,
    ];
    // An argument that names a format exactly picks that one; any other picks the names holding it.
    let picked = |format: Format| {
        filter.is_empty()
            || filter.iter().any(|f| if formats.iter().any(|g| g.name() == f) { format.name() == f } else { format.name().contains(f.as_str()) })
    };
    for format in formats {
        if !picked(format) {
            continue;
        }
        let (data, n) = generate(format, mb << 20);
        let (t_parse, count) = best(runs, || parse_input(format, &data));
        assert_eq!(count, n, "{format}: every generated record parses");
        eprintln!("{format}: {} bytes", data.len());
        if let Ok(dir) = std::env::var("BENCH_DUMP") {
            // The generated input, for other tools (a differential run of two versions).
            std::fs::write(std::path::Path::new(&dir).join(format.name()), &data).unwrap();
        }
        let baselines = std::env::var("BENCH_BASELINES").map_or(true, |v| v != "0");
        let (t_lines, _) = if baselines { best(runs, || memchr::memchr_iter(b'\n', &data).count()) } else { (t_parse, 0) };
        let serde = (baselines && format == Format::PerconaJson).then(|| {
            best(runs, || {
                let mut k = 0usize;
                for line in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                    let v: serde_json::Value = serde_json::from_slice(line).expect("valid JSON");
                    k += v.as_object().map_or(0, |o| o.len());
                }
                k
            })
            .0
        });
        let speed = mbs(data.len(), t_parse);
        if format == Format::PerconaJson {
            json_mbs = Some(speed);
        }
        println!(
            "| {format} | {:.1} | {n} | {speed:.0} | {:.2} M | {:.2}x slower | {} | {} |",
            data.len() as f64 / 1e6,
            n as f64 / t_parse.as_secs_f64() / 1e6,
            t_parse.as_secs_f64() / t_lines.as_secs_f64(),
            serde.map_or("".to_string(), |t| format!("{:.2}x faster ({:.0} MB/s)", t.as_secs_f64() / t_parse.as_secs_f64(), mbs(data.len(), t))),
            json_mbs.map_or("".to_string(), |j| format!("{:.2}x", j / speed)),
        );
    }
}
