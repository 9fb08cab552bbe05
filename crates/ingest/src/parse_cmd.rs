//! `audit-ingest parse`: audit-log files to NDJSON, one object a record.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use audit_model::{Error, ReaderOptions, Record, RecordReader};
use clap::Args;
use ingest::decode::{self, Decoder};
use ingest::sniff::{looks_like, BadStart, NOT_AUDIT_AFTER};
use jiff::tz::TimeZone;

use crate::decrypt_args::{self, DecryptArgs};

/// Parse audit-log files and print one JSON object a record (NDJSON).
///
/// Each object has the keys format, name, kind, record_id, timestamp (RFC 3339, UTC), connection_id,
/// status, user, priv_user, os_user, proxy_user, host, ip, db, command_class, sqltext, file and offset
/// (the byte offset of the record's first byte), null when the format has no such field, and more.
/// Malformed records are reported on standard error as FILE:OFFSET: reason, and the run goes on.
///
/// After the first 10 malformed records of a file the rest are only counted. A file whose first 20
/// records are all malformed is not an audit log (of the format given): it is named with what it
/// looks like instead, and not read further.
///
/// Exit status: 0 when every record parsed, 1 when some were malformed or the input ends in an
/// incomplete record, 2 for usage or I/O errors and for a file that is not an audit log.
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "Examples:\n  audit-ingest parse /var/lib/mysql/audit.log\n  audit-ingest parse --format mariadb --time-zone Europe/Berlin server_audit.log.1 server_audit.log\n  audit-ingest parse --format syslog+mariadb --time-zone system /var/log/syslog\n  journalctl -o json -t percona-audit | audit-ingest parse --format journald+percona-json -\n  tail -c 1000000 audit.log | audit-ingest parse --format percona-json -\n  audit-ingest parse --encryption-password-file pw.json audit_filter.20261201T101500.log.20261130T090000-1.enc\n\n",
    decrypt_args::help!()
))]
pub struct ParseArgs {
    /// The format, or `auto` to recognise it from each file's first record. A format carried by a log
    /// daemon joins the wrapper and the format: syslog+mariadb, syslog+percona-json, journald+mariadb
    /// (`journalctl -o json` output), ...; other programs' lines are skipped and counted.
    #[arg(long, default_value = "auto", value_parser = crate::format_arg::parser())]
    format: crate::format_arg::FormatArg,
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
    /// A file taken for no audit log (of the format asked for).
    not_audit: bool,
}

/// Malformed records reported one by one in a file; the rest are counted in its summary.
const SHOWN_ERRORS: u64 = 10;

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
            (File::open(path).map_err(|e| match e.kind() {
                io::ErrorKind::PermissionDenied => format!("cannot open: {e} ({})", ingest::follower::PERMISSION_HINT),
                _ => format!("cannot open: {e}"),
            }).and_then(|f| decode::decode_file(f, path, &decoder).map_err(|e| e.to_string())), reference_time(path))
        };
        let result = match input {
            Ok(input) => {
                let input = BufReader::with_capacity(256 << 10, input);
                // What the file looks like, should it prove no audit log.
                let prefix = || if name == "-" { Vec::new() } else { decode::decoded_prefix(path, 4096, &decoder).unwrap_or_default() };
                parse_one(input, &name, reference, args, &mut out, &mut tally, prefix)
            }
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
    if tally.io_error || tally.not_audit {
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
    prefix: impl FnOnce() -> Vec<u8>,
) -> io::Result<()> {
    let mut opts = ReaderOptions::new().format_opt(args.format.0).time_zone(args.time_zone.clone());
    if let Some(at) = reference {
        opts = opts.reference_time(at);
    }
    if let Some(f) = &args.mariadb_timestamp_format {
        opts = opts.mariadb_timestamp_format(f.clone());
    }
    let mut reader = RecordReader::new(input, opts);
    let (mut start, mut bad) = (BadStart::default(), 0u64);
    while let Some(item) = reader.next() {
        let (at, why) = match item {
            Ok(record) => {
                start.good();
                let line = Line { offset: record.span().start, record: &record, file: name };
                serde_json::to_writer(&mut *out, &line).map_err(io::Error::other)?;
                out.write_all(b"\n")?;
                continue;
            }
            Err(Error::Io { offset, source }) => {
                tally.io_error = true;
                eprintln!("{name}:{offset}: read error: {source}");
                return Ok(());
            }
            Err(Error::Malformed(m)) => (m.position.byte, m.to_string()),
            Err(e) => (e.position().map_or(0, |p| p.byte), e.to_string()),
        };
        tally.malformed = true;
        bad += 1;
        if bad <= SHOWN_ERRORS {
            eprintln!("{name}:{at}: {why}");
        }
        if start.bad() {
            tally.not_audit = true;
            let read_as = args.format.0.or(reader.format());
            let what = read_as.map_or(String::new(), |f| format!(" of format {}", f.name()));
            eprintln!("{name}: not an audit log{what}: its first {NOT_AUDIT_AFTER} records are all malformed; {}", looks_like(&prefix(), read_as));
            return Ok(());
        }
    }
    if bad > SHOWN_ERRORS {
        eprintln!("{name}: {bad} malformed records in all ({SHOWN_ERRORS} shown)");
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
