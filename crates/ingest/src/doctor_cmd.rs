//! `audit-ingest doctor`: prints what ingest::doctor finds, one finding a line with its fix.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use crate::output::outln;
use crate::DbArgs;

/// Check the server's and the audit log's settings that keep audit-ingest from working, with fixes.
///
/// Run it before (or while) audit-ingest runs: the audit plugin or component and its format, policy
/// and rotation; local_infile; max_allowed_packet against the
/// largest record; the privileges the ingester needs (sql_log_bin, read_only, the tables);
/// binary log and replication role; the log file's permissions; clock and time zone. Each finding
/// comes with its fix. Run it on the database host, with the ingest account's credentials. It
/// writes nothing.
///
/// Exit status: 0 nothing to fix, 1 at least one error, 3 warnings only, 2 could not run.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  audit-ingest doctor --defaults-file /etc/audit-ingest/client.cnf\n  audit-ingest doctor --dsn mysql://audit_ingest:change-me@127.0.0.1:3306/percona --log /var/log/mysql-audit/audit.log")]
pub struct DoctorArgs {
    #[command(flatten)]
    db: DbArgs,
    /// The audit log to look at (default: the file the server's settings name).
    #[arg(long, value_name = "PATH")]
    log: Option<PathBuf>,
    /// The account the service runs as, whose read access to the log is checked.
    #[arg(long, value_name = "USER", default_value = "audit-ingest")]
    service_user: String,
}

pub async fn run(a: DoctorArgs) -> Result<ExitCode> {
    let db = a.db.resolve()?;
    let facts = ingest::doctor::gather(db.opts.clone())
        .await
        .map_err(|e| anyhow::anyhow!("{}: {}", ingest::config::describe(&db.opts), ingest::config::said_once(&e.to_string())))?;
    let options = ingest::doctor::DoctorOptions {
        log: a.log,
        mode: db.mode,
        database: db.names.database().to_string(),
        service_user: Some(a.service_user),
    };
    let findings = ingest::doctor::assess(&facts, &options);
    let clean = |s: String| s.chars().map(|c| if c.is_control() && c != '\n' { '?' } else { c }).collect::<String>();
    outln!("{} ({})", ingest::config::describe(&db.opts), clean(facts.version.clone()));
    for f in &findings {
        // Values come from the server and the file system: shown without control characters.
        outln!("{}", clean(f.to_string()));
    }
    Ok(ExitCode::from(ingest::doctor::exit_status(&findings)))
}
