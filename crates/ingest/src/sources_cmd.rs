//! `audit-ingest sources`: the checkpoint table's sources, live or finished, and forgetting one that
//! is gone for good (a mistyped path followed once, a test run) so the staleness check stops waiting
//! for it.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::{Args, Subcommand};

use crate::{parse_duration, DbArgs};

/// List every source (server, source, live or finished, last update, records, file), or remove some.
///
/// A source is live while an `audit-ingest follow` is meant to check in for it: the
/// mysql_audit_pipeline_stale check alerts when it stops. A backfill's source is finished once its
/// file was read to its end, and never counts as stale.
#[derive(Debug, Args)]
pub struct SourcesArgs {
    #[command(flatten)]
    db: DbArgs,
    #[command(subcommand)]
    action: Option<Action>,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Forget sources of --server (the host name by default): their checkpoint rows go, their records
    /// and dead letters stay. A source an ingester is running for is refused. A later backfill of a
    /// forgotten file stores nothing twice (rows are keyed by file and offset).
    Remove(RemoveArgs),
}

#[derive(Debug, Args)]
struct RemoveArgs {
    /// The sources' names, as `audit-ingest sources` lists them.
    #[arg(required_unless_present = "idle_for")]
    names: Vec<String>,
    /// Also every source of the server whose last heartbeat is older than this (e.g. 7d, 12h):
    /// followers that have not run for that long.
    #[arg(long, value_parser = parse_duration)]
    idle_for: Option<Duration>,
}

pub async fn run(a: SourcesArgs) -> Result<ExitCode> {
    let db = a.db.resolve()?;
    let sink = db.sink(String::new());
    let result = match a.action {
        None => list(&sink).await,
        Some(Action::Remove(r)) => remove(&sink, db.server.as_str(), r).await,
    };
    sink.close().await?;
    result
}

async fn list(sink: &ingest::sink::Sink) -> Result<ExitCode> {
    let rows = sink.list_sources().await?;
    crate::output::outln!("{:<20} {:<44} {:<8} {:<36} {:>12}  file", "server", "source", "state", "last update", "records");
    for r in rows {
        let state = if r.finished_at.is_some() { "finished" } else { "live" };
        let updated = format!("{} ({})", r.updated_at, ago(r.age_secs));
        crate::output::outln!("{:<20} {:<44} {state:<8} {updated:<36} {:>12}  {}", r.server, r.source, r.records, r.path);
    }
    Ok(ExitCode::SUCCESS)
}

async fn remove(sink: &ingest::sink::Sink, server: &str, r: RemoveArgs) -> Result<ExitCode> {
    let mut names = r.names;
    if let Some(idle) = r.idle_for {
        let secs = i64::try_from(idle.as_secs()).unwrap_or(i64::MAX);
        for row in sink.list_sources().await? {
            if row.server == server && row.age_secs >= secs && !names.contains(&row.source) {
                names.push(row.source);
            }
        }
    }
    let mut missing = Vec::new();
    for name in &names {
        if sink.remove_source(server, name).await? {
            crate::output::outln!("removed source {name:?} of server {server}");
        } else {
            missing.push(name.as_str());
        }
    }
    if !missing.is_empty() {
        bail!("no source {} of server {server} (see `audit-ingest sources`; --server names another server)", missing.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", "));
    }
    if names.is_empty() {
        crate::output::outln!("no source of server {server} is idle that long");
    }
    Ok(ExitCode::SUCCESS)
}

/// `42s ago`, `5m ago`, `3h ago`, `2d ago`.
fn ago(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s}s ago"),
        s if s < 7_200 => format!("{}m ago", s / 60),
        s if s < 172_800 => format!("{}h ago", s / 3_600),
        s => format!("{}d ago", s / 86_400),
    }
}
