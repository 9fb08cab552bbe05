//! Embedding the ingest library in another program.
//!
//! Without a database: follow a log with `Follower` and count failed logins by account, as the
//! ingester's metrics do.
//!
//!     cargo run -p ingest --example embed -- examples/logs/percona-json.log
//!
//! With `AUDIT_INGEST_DSN` set, the same file is also stored exactly once with an `Ingester` (one
//! pass, as `audit-ingest backfill` does).

use ingest::config::{connect_options, ConnectSettings};
use ingest::follower::{Event, FollowOptions, Follower};
use ingest::metrics::{LoginConfig, LoginStats};
use ingest::sink::{host_server_name, Login, Sink, SinkOptions};
use ingest::Ingester;

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
    let mut logins = LoginStats::default();
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
                    logins.observe(Login::of(&r).as_slice(), &LoginConfig::default());
                }
                Event::Malformed(m) => eprintln!("{path}:{}: {}", m.position.byte, m),
            }
        }
    }
    println!("{records} records, failed logins by account:");
    let mut failed: Vec<_> = logins.failed_by_account.series.iter().collect();
    failed.sort();
    for ((user, client), n) in failed {
        println!("  {user}@{client}: {n}");
    }

    // 2. Stored into MySQL, when a database is given.
    if let Ok(dsn) = std::env::var("AUDIT_INGEST_DSN") {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        rt.block_on(async {
            let (mysql, database) = connect_options(&ConnectSettings { dsn: Some(dsn), ..Default::default() })?;
            let names = audit_schema::TableNames::new(&database, "audit_data")?;
            let sink = Sink::new(mysql, SinkOptions::new(names, format!("embed:{path}"), host_server_name()?));
            let summary = Ingester::builder(&path, sink.clone()).one_pass().build()?.run(std::future::pending()).await?;
            println!("stored {} records ({} dead letters) in {}", summary.records, summary.dead_letters, sink.options().names);
            sink.close().await?;
            Ok::<_, Box<dyn std::error::Error>>(())
        })?;
    }
    Ok(())
}
