//! `audit-ingest`: reads MySQL audit logs; a thin binary over the `audit-model` and `ingest` libraries.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod parse_cmd;

/// Reads MySQL audit logs (Percona audit_log, audit_log_filter / MySQL Enterprise Audit, MariaDB
/// server_audit) for PMM's advisor checks.
#[derive(Debug, Parser)]
#[command(name = "audit-ingest", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Parse(parse_cmd::ParseArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Parse(args) => parse_cmd::run(&args),
    }
}
