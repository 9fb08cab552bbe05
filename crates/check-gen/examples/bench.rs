//! Fills a throwaway database with synthetic audit records (about 5% failed logins over 48 hours),
//! fills the login summary from them with the statement the schema upgrade uses, and times every
//! check's query as rendered for the typed layout (the login checks read the summary). With `--json`
//! it also times the same checks on the original recipe's JSON column (`--table-layout json`), on the
//! same rows in the same run, once each (they take seconds to minutes). Prints a markdown table: best
//! of 5 runs of each typed query, in milliseconds.
//!
//!   cargo run --release -p check-gen --example bench -- [ROWS] [DSN] [--servers N] [--variant V] [--json] [--keep]
//!
//! Defaults: 1000000 rows, mysql://root@127.0.0.1:3306/, one server, variant `base`. Variants:
//! - `base`: 50 user names, sources drawn from 10.0.0.0/14 (nearly every failure from its own IP);
//! - `bruteforce`: the same, plus one source failing 100,000 times in the last 2 hours (of the ROWS);
//! - `sources`: every login from one of 10,000 sources.
//!
//! `--servers N` spreads the rows over N audited servers (`db0`, `db1`, ...) in one table, as on a
//! central store, each with its own heartbeat; every check then reports per server. Rows are loaded
//! with LOAD DATA LOCAL INFILE (the server needs `local_infile=ON`) from temporary files of 250,000
//! rows. The database `checkgen_bench` is dropped at the end unless `--keep` is given (to look at
//! EXPLAIN by hand). Queries run as pmm-agent runs them (the `SELECT /* pmm-agent */ ` prefix, a
//! prepared statement), without pmm-agent's 20 s limit, so slow JSON forms are timed, not cut off.
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use audit_schema::TableNames;
use check_gen::file_version::FileVersion;
use check_gen::render::{Layout, Renderer, SqlOptions};
use check_gen::runner::AGENT_PREFIX;
use mysql_async::prelude::*;
use mysql_async::{Conn, Opts, OptsBuilder, WhiteListFsHandler};

const CHUNK: usize = 250_000;
const DATABASE: &str = "checkgen_bench";

/// A small deterministic generator, so runs are comparable.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// Year, month, day of a count of days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `YYYY-MM-DD HH:MM:SS` and `YYYY-MM-DDTHH:MM:SSZ` of a Unix time, UTC.
fn utc(secs: i64) -> (String, String) {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    let (h, mi, s) = (s / 3600, s / 60 % 60, s % 60);
    (format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}"), format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"))
}

/// The data shape (see the module's comment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Base,
    Bruteforce,
    Sources,
}

/// Rows of the brute-forcing source in [`Variant::Bruteforce`].
const BRUTE: u64 = 100_000;

/// Writes rows `first..first + n` as tab-separated lines in the column order of `LOAD DATA` below;
/// row `off` belongs to server `db{off % servers}`.
fn write_chunk(path: &Path, rng: &mut Lcg, now: i64, first: u64, n: usize, servers: u64, variant: Variant) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut line = String::with_capacity(512);
    for off in first..first + n as u64 {
        let brute = variant == Variant::Bruteforce && off < BRUTE;
        let ago = if brute { (rng.next() % 7200) as i64 } else { (rng.next() % (48 * 3600)) as i64 };
        let r = if brute { 0 } else { rng.next() % 100 };
        let (name, kind, status) = match r {
            0..=4 => ("Connect", "connect", 1045),
            5..=14 => ("Connect", "connect", 0),
            15..=24 => ("Quit", "disconnect", 0),
            _ => ("Query", "query", 0),
        };
        let user = format!("user{}", rng.next() % 50);
        let priv_user = if status != 0 && rng.next() % 2 == 0 { String::new() } else { user.clone() };
        let ip = match variant {
            _ if brute => "203.0.113.9".to_string(),
            Variant::Sources => {
                let s = rng.next() % 10_000;
                format!("10.1.{}.{}", s / 256, s % 256)
            }
            _ => format!("10.{}.{}.{}", rng.next() % 4, rng.next() % 256, rng.next() % 256),
        };
        let (event_time, json_time) = utc(now - ago);
        let json = serde_json::json!({"audit_record": {"name": name, "record": format!("{off}_2026-01-01T00:00:00"),
            "timestamp": json_time, "connection_id": off.to_string(), "status": status, "user": user,
            "priv_user": priv_user, "host": "", "ip": ip, "db": ""}});
        line.clear();
        // Nothing generated contains a tab, newline or backslash, so no escaping is needed.
        writeln!(
            line,
            "db{}\tbench\tfile1\t{off}\t{event_time}\t{name}\t{kind}\t{status}\t{}\t{user}\t{priv_user}\t\t{ip}\tpercona-json\t{json}",
            off % servers,
            i32::from(status != 0)
        )
        .expect("write to String");
        out.write_all(line.as_bytes())?;
    }
    out.flush()
}

async fn fill(
    conn: &mut Conn,
    names: &TableNames,
    rows: usize,
    servers: u64,
    variant: Variant,
    file: &Path,
) -> Result<Duration, Box<dyn std::error::Error>> {
    let start = Instant::now();
    let now: i64 = conn.query_first("SELECT UNIX_TIMESTAMP()").await?.ok_or("no time")?;
    conn.query_drop("SET time_zone = '+00:00'").await?;
    let mut rng = Lcg(42);
    let mut first = 0u64;
    while (first as usize) < rows {
        let n = CHUNK.min(rows - first as usize);
        write_chunk(file, &mut rng, now, first, n, servers, variant)?;
        let sql = format!(
            "LOAD DATA LOCAL INFILE '{}' INTO TABLE {} FIELDS TERMINATED BY '\\t' ESCAPED BY '' \
             (server, source, file_id, file_offset, event_time, name, kind, status, is_failed_login, user, priv_user, host, ip, format, audit_record)",
            file.display(),
            names.data()
        );
        conn.query_drop(sql).await?;
        first += n as u64;
        eprint!("\rloaded {first} rows");
    }
    eprintln!();
    std::fs::remove_file(file)?;
    // A fresh heartbeat a server, so the stale-pipeline check has rows to read.
    for server in 0..servers {
        let records = (rows as u64 + servers - 1 - server) / servers;
        conn.exec_drop(
            format!(
                "INSERT INTO {} (server, source, file_path, file_id, file_offset, records_total, updated_at) \
                 VALUES (?, 'bench', '/var/lib/mysql/audit.log', 'file1', ?, ?, UTC_TIMESTAMP(6))",
                names.checkpoint()
            ),
            (format!("db{server}"), rows as u64, records),
        )
        .await?;
    }
    Ok(start.elapsed())
}

/// Best of `reps` runs of the query as pmm-agent runs it; also returns the number of rows.
async fn time_query(conn: &mut Conn, query: &str, reps: usize) -> Result<(Duration, usize), mysql_async::Error> {
    let sql = format!("{AGENT_PREFIX}{query}");
    let mut best = Duration::MAX;
    let mut n = 0;
    for _ in 0..reps {
        let t = Instant::now();
        let stmt = conn.prep(&sql).await?;
        let rows: Vec<mysql_async::Row> = conn.exec(&stmt, ()).await?;
        conn.close(stmt).await?;
        best = best.min(t.elapsed());
        n = rows.len();
    }
    Ok((best, n))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let keep = args.iter().any(|a| a == "--keep");
    let with_json = args.iter().any(|a| a == "--json");
    let variant = match args.iter().position(|a| a == "--variant").map(|i| args.get(i + 1).map(String::as_str)) {
        None | Some(Some("base")) => Variant::Base,
        Some(Some("bruteforce")) => Variant::Bruteforce,
        Some(Some("sources")) => Variant::Sources,
        Some(other) => return Err(format!("--variant base|bruteforce|sources, not {other:?}").into()),
    };
    let servers: u64 = match args.iter().position(|a| a == "--servers") {
        Some(i) => args.get(i + 1).ok_or("--servers needs a number")?.parse()?,
        None => 1,
    };
    if servers == 0 {
        return Err("--servers must be at least 1".into());
    }
    let mut pos = args
        .iter()
        .enumerate()
        .filter(|(i, a)| !a.starts_with("--") && (*i == 0 || (args[i - 1] != "--servers" && args[i - 1] != "--variant")))
        .map(|(_, a)| a);
    let rows: usize = pos.next().map(|s| s.parse()).transpose()?.unwrap_or(1_000_000);
    let dsn = pos.next().cloned().unwrap_or_else(|| "mysql://root@127.0.0.1:3306/".into());
    let names = TableNames::new(DATABASE, "audit_data")?;
    let file = std::env::temp_dir().join(format!("checkgen_bench_{}.tsv", std::process::id()));
    let opts = OptsBuilder::from_opts(Opts::from_url(&dsn)?).local_infile_handler(Some(WhiteListFsHandler::new([file.clone()])));
    let mut conn = Conn::new(opts).await?;

    let local_infile: Option<i64> = conn.query_first("SELECT @@local_infile").await?;
    if local_infile != Some(1) {
        return Err("the server has local_infile=OFF: SET GLOBAL local_infile = ON".into());
    }
    conn.query_drop(format!("DROP DATABASE IF EXISTS `{DATABASE}`")).await?;
    for stmt in audit_schema::ddl_statements(&names)? {
        conn.query_drop(stmt).await?;
    }
    let load = fill(&mut conn, &names, rows, servers, variant, &file).await?;
    let t = Instant::now();
    conn.query_drop(audit_schema::summary::fill_sql(&names)).await?;
    let summarize = t.elapsed();
    let t = Instant::now();
    conn.query_drop(format!("ANALYZE TABLE {}, {}", names.data(), names.logins())).await?;
    let analyze = t.elapsed();
    let version: Option<String> = conn.query_first("SELECT VERSION()").await?;
    let summary_rows: Option<u64> = conn.query_first(format!("SELECT COUNT(*) FROM {}", names.logins())).await?;
    println!(
        "{rows} rows ({variant:?}) of {servers} server(s) loaded in {:.1} s ({:.0} rows/s); login summary of {} rows filled in {:.1} s; \
         ANALYZE TABLE {:.1} s; server {}",
        load.as_secs_f64(),
        rows as f64 / load.as_secs_f64(),
        summary_rows.unwrap_or(0),
        summarize.as_secs_f64(),
        analyze.as_secs_f64(),
        version.unwrap_or_default()
    );

    let renderer = Renderer::new(None)?;
    let specs = check_gen::spec::load_specs(None)?;
    if with_json {
        println!("\n| check | rows out | typed (summary) | JSON column | JSON/typed |");
        println!("|---|---:|---:|---:|---:|");
    } else {
        println!("\n| check | rows out | typed (summary) |");
        println!("|---|---:|---:|");
    }
    // METRICS_INSTANT checks query VictoriaMetrics, not this table.
    for spec in specs.iter().filter(|s| s.query_type == check_gen::spec::QueryType::MysqlSelect) {
        let typed = renderer.check(spec, &SqlOptions { names: names.clone(), layout: Layout::Typed }, FileVersion::V2)?;
        let (t, n) = time_query(&mut conn, &typed.query, 5).await?;
        if with_json {
            let json = renderer.check(spec, &SqlOptions { names: names.clone(), layout: Layout::Json }, FileVersion::V2)?;
            let (j, _) = time_query(&mut conn, &json.query, 1).await?;
            println!(
                "| `{}` | {n} | {:.1} ms | {:.1} ms | {:.0}x |",
                spec.name,
                t.as_secs_f64() * 1e3,
                j.as_secs_f64() * 1e3,
                j.as_secs_f64() / t.as_secs_f64()
            );
        } else {
            println!("| `{}` | {n} | {:.1} ms |", spec.name, t.as_secs_f64() * 1e3);
        }
    }
    if keep {
        eprintln!("kept database {DATABASE}");
    } else {
        conn.query_drop(format!("DROP DATABASE IF EXISTS `{DATABASE}`")).await?;
    }
    conn.disconnect().await?;
    Ok(())
}
