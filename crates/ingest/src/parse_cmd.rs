//! `audit-ingest parse`: audit-log files to NDJSON, one object a record.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use audit_model::{Error, Format, ReaderOptions, Record, RecordReader};
use clap::Args;
use ingest::decode::{self, Decoder};
use jiff::tz::TimeZone;

use crate::decrypt_args::{self, DecryptArgs};

/// Parse audit-log files and print one JSON object a record (NDJSON).
///
/// Each object has the keys format, name, kind, record_id, timestamp (RFC 3339, UTC), connection_id,
/// status, user, priv_user, os_user, proxy_user, host, ip, db, command_class, sqltext, file and offset
/// (the byte offset of the record's first byte), null when the format has no such field, and more.
/// Malformed records are reported on standard error as FILE:OFFSET: reason, and the run goes on.
///
/// Exit status: 0 when every record parsed, 1 when some were malformed or the input ends in an
/// incomplete record, 2 for usage or I/O errors.
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "Examples:\n  audit-ingest parse /var/lib/mysql/audit.log\n  audit-ingest parse --format mariadb --time-zone Europe/Berlin server_audit.log.1 server_audit.log\n  audit-ingest parse --format syslog+mariadb --time-zone system /var/log/syslog\n  journalctl -o json -t percona-audit | audit-ingest parse --format journald+percona-json -\n  tail -c 1000000 audit.log | audit-ingest parse --format percona-json -\n  audit-ingest parse --encryption-password-file pw.json audit_filter.20261201T101500.log.20261130T090000-1.enc\n\n",
    decrypt_args::help!()
))]
pub struct ParseArgs {
    /// The format, or `auto` to recognise it from each file's first record. A format carried by a log
    /// daemon joins the wrapper and the format: syslog+mariadb, syslog+percona-json, journald+mariadb
    /// (`journalctl -o json` output), ...; other programs' lines are skipped and counted.
    #[arg(long, default_value = "auto", value_parser = parse_format)]
    format: FormatArg,
    /// MariaDB's server_audit_timestamp_format when it is not the default, in MariaDB's syntax
    /// (e.g. `%Y-%m-%d %H:%i:%s`); a format without `%i` is read as strftime.
    #[arg(long)]
    mariadb_timestamp_format: Option<String>,
    /// The time zone of timestamps written without one (MariaDB server_audit, audit_log_filter):
    /// an IANA name such as Europe/Berlin, UTC, or `system` for this machine's zone.
    #[arg(long, default_value = "UTC", value_parser = parse_tz)]
    time_zone: TimeZone,
    #[command(flatten)]
    decrypt: DecryptArgs,
    /// Files to read; `-` reads standard input.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy)]
struct FormatArg(Option<Format>);

fn parse_format(s: &str) -> Result<FormatArg, String> {
    if s == "auto" {
        Ok(FormatArg(None))
    } else {
        s.parse().map(|f| FormatArg(Some(f)))
    }
}

/// The latest a record in `path` can be: the year of traditional syslog timestamps comes from it.
fn reference_time(path: &std::path::Path) -> Option<jiff::Timestamp> {
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok()?;
    jiff::Timestamp::try_from(modified).ok()
}

fn parse_tz(s: &str) -> Result<TimeZone, String> {
    match s {
        "system" | "local" => TimeZone::try_system().map_err(|e| format!("cannot find this machine's time zone: {e}")),
        "UTC" | "utc" => Ok(TimeZone::UTC),
        _ => TimeZone::get(s).map_err(|e| format!("unknown time zone {s:?}: {e}")),
    }
}

#[derive(serde::Serialize)]
struct Line<'a> {
    #[serde(flatten)]
    record: &'a Record,
    file: &'a str,
    offset: u64,
}

/// What one file's run found.
#[derive(Debug, Default)]
struct Tally {
    malformed: bool,
    io_error: bool,
}

pub fn run(args: &ParseArgs) -> ExitCode {
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(256 << 10, stdout.lock());
    let mut tally = Tally::default();
    let decoder = match args.decrypt.key() {
        Ok(k) => Decoder::with_key(k),
        Err(e) => {
            eprintln!("audit-ingest: {e}");
            return ExitCode::from(2);
        }
    };
    for path in &args.files {
        let name = path.display().to_string();
        // Compressed and encrypted files are decoded here; offsets are in the decoded bytes.
        let (input, reference) = if name == "-" {
            (decode::decode_stream(io::stdin(), &decoder).map_err(|e| e.to_string()), None)
        } else {
            (File::open(path).map_err(|e| format!("cannot open: {e}")).and_then(|f| decode::decode_file(f, path, &decoder).map_err(|e| e.to_string())), reference_time(path))
        };
        let result = match input {
            Ok(input) => parse_one(BufReader::with_capacity(256 << 10, input), &name, reference, args, &mut out, &mut tally),
            Err(e) => {
                eprintln!("{name}: {e}");
                tally.io_error = true;
                continue;
            }
        };
        if let Err(e) = result {
            if e.kind() == io::ErrorKind::BrokenPipe {
                return ExitCode::SUCCESS;
            }
            eprintln!("audit-ingest: writing output: {e}");
            return ExitCode::from(2);
        }
    }
    if let Err(e) = out.flush() {
        if e.kind() != io::ErrorKind::BrokenPipe {
            eprintln!("audit-ingest: writing output: {e}");
            return ExitCode::from(2);
        }
    }
    if tally.io_error {
        ExitCode::from(2)
    } else if tally.malformed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Parses one input; `Err` only for failures to write the output.
fn parse_one<R: io::BufRead>(
    input: R,
    name: &str,
    reference: Option<jiff::Timestamp>,
    args: &ParseArgs,
    out: &mut impl Write,
    tally: &mut Tally,
) -> io::Result<()> {
    let mut opts = ReaderOptions::new().format_opt(args.format.0).time_zone(args.time_zone.clone());
    if let Some(at) = reference {
        opts = opts.reference_time(at);
    }
    if let Some(f) = &args.mariadb_timestamp_format {
        opts = opts.mariadb_timestamp_format(f.clone());
    }
    let mut reader = RecordReader::new(input, opts);
    for item in reader.by_ref() {
        match item {
            Ok(record) => {
                let line = Line { offset: record.span().start, record: &record, file: name };
                serde_json::to_writer(&mut *out, &line).map_err(io::Error::other)?;
                out.write_all(b"\n")?;
            }
            Err(Error::Malformed(m)) => {
                tally.malformed = true;
                eprintln!("{name}:{}: {}", m.position.byte, m);
            }
            Err(Error::Io { offset, source }) => {
                tally.io_error = true;
                eprintln!("{name}:{offset}: read error: {source}");
                return Ok(());
            }
            Err(e) => {
                tally.malformed = true;
                eprintln!("{name}:{}: {e}", e.position().map_or(0, |p| p.byte));
            }
        }
    }
    if reader.foreign_lines() > 0 {
        eprintln!("{name}: {} lines of other programs skipped (not audit records)", reader.foreign_lines());
    }
    if reader.pending() > 0 {
        tally.malformed = true;
        eprintln!(
            "{name}:{}: incomplete record at the end of the input ({} bytes; a live file may still be writing it)",
            reader.complete_offset(),
            reader.pending()
        );
    }
    Ok(())
}
