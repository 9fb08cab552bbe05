//! Embedding the ingest library in another program.
//!
//! Without a database: follow a log with `Follower` and count failed logins by account.
//!
//!     cargo run -p ingest --example embed -- examples/logs/percona-json.log
//!
//! With `AUDIT_INGEST_DSN` set, the same file is also stored exactly once through `pipeline::run`
//! (one pass, as `audit-ingest backfill` does).

use std::collections::BTreeMap;
use std::sync::Arc;

use ingest::follower::{Event, FollowOptions, Follower};
use ingest::metrics::Metrics;
use ingest::pipeline::{self, PipelineOptions};
use ingest::sink::{Sink, SinkOptions};

fn main() -> std::process::ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: cargo run -p ingest --example embed -- AUDIT_LOG   (with AUDIT_INGEST_DSN set, also stores it)");
        return std::process::ExitCode::from(2);
    };
    match run(path) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("embed: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(path: String) -> Result<(), Box<dyn std::error::Error>> {

    // 1. The follower alone: records out of a file, through rotation and truncation.
    let mut follower = Follower::new(&path, None, FollowOptions::default())?;
    let mut failed: BTreeMap<String, u64> = BTreeMap::new();
    let mut records = 0;
    loop {
        let items = follower.poll(1000)?;
        if items.is_empty() {
            break; // caught up; a daemon would sleep and poll again
        }
        for item in items {
            match item.event {
                Event::Record(r) => {
                    records += 1;
                    if r.is_failed_login() {
                        let source = r.ip().filter(|s| !s.is_empty()).or(r.host()).unwrap_or("?");
                        *failed.entry(format!("{}@{source}", r.user().unwrap_or(""))).or_default() += 1;
                    }
                }
                Event::Malformed(m) => eprintln!("{path}:{}: {}", m.position.byte, m),
            }
        }
    }
    println!("{records} records, failed logins by account:");
    for (account, n) in &failed {
        println!("  {account}: {n}");
    }

    // 2. The whole pipeline into MySQL, when a database is given.
    if let Ok(dsn) = std::env::var("AUDIT_INGEST_DSN") {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        rt.block_on(async {
            let (opts, database) = ingest::config::connect_options(&ingest::config::ConnectSettings { dsn: Some(dsn), ..Default::default() })?;
            let names = audit_schema::TableNames::new(&database, "audit_data")?;
            let sink = Sink::new(opts, SinkOptions::new(names, format!("embed:{path}"), ingest::sink::host_server_name()?));
            sink.ensure_schema(true).await?;
            let options = PipelineOptions { exit_when_caught_up: true, ..PipelineOptions::default() };
            let (_stop, stop_rx) = tokio::sync::watch::channel(false);
            let summary = pipeline::run(&sink, path.clone().into(), FollowOptions::default(), &options, Arc::new(Metrics::default()), stop_rx).await?;
            // A one-pass run is finished once caught up: the staleness check does not wait for it.
            sink.set_finished(true).await?;
            println!("stored {} records ({} dead letters) in {}", summary.records, summary.dead_letters, sink.options().names);
            sink.close().await?;
            Ok::<_, Box<dyn std::error::Error>>(())
        })?;
    }
    Ok(())
}
