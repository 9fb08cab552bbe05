//! The rules on the server's settings: the audit plugin or component and its format, policy and
//! rotation; `local_infile` and `max_allowed_packet`; the privileges audit-ingest needs; binary log
//! and replication; clock and time zone.

use std::path::{Path, PathBuf};

use super::{DoctorOptions, Finding, Level, ServerFacts};
use crate::sink::WriteMode;

/// What a statement of audit-ingest needs beyond the record: the INSERT's or LOAD DATA's own bytes.
pub const STATEMENT_OVERHEAD: u64 = 64 << 10;

/// The audit log writers doctor knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auditor {
    /// Percona Server's `audit_log` plugin.
    PerconaAuditLog,
    /// `audit_log_filter`: MySQL Enterprise, Percona Server 8.0.34+ (plugin) and 8.4 (component).
    AuditLogFilter,
    /// MariaDB's `server_audit`.
    MariaDbServerAudit,
}

/// The active audit log writer, if any.
pub fn auditor(f: &ServerFacts) -> Option<Auditor> {
    let active = |name: &str| f.audit_plugins.iter().any(|(n, s)| n.eq_ignore_ascii_case(name) && s.eq_ignore_ascii_case("active"));
    if active("server_audit") {
        Some(Auditor::MariaDbServerAudit)
    } else if active("audit_log_filter") || f.components.iter().any(|c| c.contains("audit_log_filter")) {
        Some(Auditor::AuditLogFilter)
    } else if active("audit_log") {
        Some(Auditor::PerconaAuditLog)
    } else {
        None
    }
}

/// The audit log the server's settings name (relative names are in the data directory).
pub fn log_path(f: &ServerFacts) -> Option<PathBuf> {
    let name = match auditor(f)? {
        Auditor::PerconaAuditLog => f.var("audit_log_file").unwrap_or("audit.log"),
        Auditor::AuditLogFilter => f.var("audit_log_filter.file").or(f.var("audit_log_filter_file")).unwrap_or("audit_filter.log"),
        Auditor::MariaDbServerAudit => f.var("server_audit_file_path").filter(|p| !p.is_empty()).unwrap_or("server_audit.log"),
    };
    let path = Path::new(name);
    Some(match f.var("datadir") {
        Some(dir) if path.is_relative() => Path::new(dir).join(path),
        _ => path.to_path_buf(),
    })
}

/// Every rule on the server's settings except the packet size, which needs the log (see [`packet`]).
pub fn assess(f: &ServerFacts, o: &DoctorOptions) -> Vec<Finding> {
    let mut out = Vec::new();
    audit(f, &mut out);
    out.push(if f.is_on("local_infile") {
        Finding::ok("local_infile", "ON: records load with LOAD DATA LOCAL INFILE (the faster way)")
    } else {
        Finding::new(Level::Info, "local_infile", "OFF: records load with multi-row INSERTs, which is slower", "SET GLOBAL local_infile = ON (and local_infile = ON under [mysqld] in my.cnf)")
    });
    privileges(f, o, &mut out);
    replication(f, o, &mut out);
    clock(f, &mut out);
    out
}

fn audit(f: &ServerFacts, out: &mut Vec<Finding>) {
    const TOPIC: &str = "audit plugin";
    let Some(a) = auditor(f) else {
        let fix = if f.is_mariadb() {
            "INSTALL SONAME 'server_audit'; then server_audit_logging=ON, server_audit_events=CONNECT in my.cnf (examples/my.cnf)"
        } else {
            "Percona Server: INSTALL PLUGIN audit_log SONAME 'audit_log.so' with audit_log_format=JSON, audit_log_policy=LOGINS (examples/my.cnf); 8.4: the audit_log_filter component"
        };
        out.push(Finding::new(Level::Error, TOPIC, "no audit plugin or component is active: the server writes no audit log", fix));
        return;
    };
    match a {
        Auditor::PerconaAuditLog => {
            let format = f.var("audit_log_format").unwrap_or("?");
            out.push(Finding::ok(TOPIC, format!("audit_log is active, format {format} (every format is read; JSON is the fastest)")));
            match f.var("audit_log_policy").map(str::to_ascii_uppercase).as_deref() {
                Some("ALL" | "LOGINS") => out.push(Finding::ok("policy", "audit_log_policy logs logins")),
                other => out.push(Finding::new(
                    Level::Error,
                    "policy",
                    format!("audit_log_policy is {}: no login is logged, the checks see nothing", other.unwrap_or("unset")),
                    "SET GLOBAL audit_log_policy = 'LOGINS' (and in my.cnf)",
                )),
            }
            rotation(out, f.var("audit_log_rotate_on_size"), f.var("audit_log_rotations"), "audit_log_rotate_on_size", "audit_log_rotations");
        }
        Auditor::AuditLogFilter => {
            let format = f.var("audit_log_filter.format").or(f.var("audit_log_filter_format")).unwrap_or("?");
            out.push(Finding::ok(TOPIC, format!("audit_log_filter is active, format {format}")));
            out.push(Finding::new(
                Level::Info,
                "policy",
                "audit_log_filter logs what its filters say (not visible in variables)",
                "log the connection class for everyone: SELECT audit_log_filter_set_filter('logins', '{\"filter\": {\"class\": {\"name\": \"connection\"}}}'), audit_log_filter_set_user('%', 'logins')",
            ));
            rotation(out, f.var("audit_log_filter.rotate_on_size").or(f.var("audit_log_filter_rotate_on_size")), Some("1"), "audit_log_filter.rotate_on_size", "");
            out.push(timezone_finding(f, "audit_log_filter writes the server's local time"));
        }
        Auditor::MariaDbServerAudit => {
            out.push(Finding::ok(TOPIC, "server_audit is active"));
            if !f.is_on("server_audit_logging") {
                out.push(Finding::new(Level::Error, TOPIC, "server_audit_logging is OFF: nothing is written", "SET GLOBAL server_audit_logging = ON (and in my.cnf)"));
            }
            if f.var("server_audit_output_type").is_some_and(|t| !t.eq_ignore_ascii_case("file")) {
                out.push(Finding::new(
                    Level::Warning,
                    "format",
                    "server_audit_output_type is syslog: the records go wherever syslog puts them, mixed with other programs' lines",
                    "SET GLOBAL server_audit_output_type = 'file' with server_audit_file_path in a directory of its own",
                ));
            }
            match f.var("server_audit_events").map(str::to_ascii_uppercase) {
                Some(e) if !e.is_empty() && !e.split(',').any(|x| x.trim() == "CONNECT") => out.push(Finding::new(
                    Level::Error,
                    "policy",
                    format!("server_audit_events is {e}: no login is logged"),
                    "SET GLOBAL server_audit_events = 'CONNECT' (and in my.cnf)",
                )),
                _ => out.push(Finding::ok("policy", "server_audit_events logs logins")),
            }
            rotation(out, f.var("server_audit_file_rotate_size"), f.var("server_audit_file_rotations"), "server_audit_file_rotate_size", "server_audit_file_rotations");
            out.push(timezone_finding(f, "server_audit writes the server's local time"));
        }
    }
}

/// Rotation: a log that never rotates grows without end; one kept zero times loses records.
fn rotation(out: &mut Vec<Finding>, size: Option<&str>, keep: Option<&str>, size_var: &str, keep_var: &str) {
    let size: u64 = size.and_then(|s| s.parse().ok()).unwrap_or(0);
    let keep: u64 = keep.and_then(|s| s.parse().ok()).unwrap_or(0);
    if size == 0 {
        out.push(Finding::new(Level::Warning, "rotation", format!("{size_var} is 0: the log never rotates and grows without end"), format!("set {size_var} (e.g. 1G) and keep a few files; audit-ingest follows rotations")));
    } else if keep == 0 && !keep_var.is_empty() {
        out.push(Finding::new(
            Level::Warning,
            "rotation",
            format!("{keep_var} is 0 with {size_var} = {size}: rotated files are not kept, so records written while audit-ingest is down are lost"),
            format!("set {keep_var} to a few files (e.g. 5)"),
        ));
    } else {
        out.push(Finding::ok("rotation", format!("rotates at {size} bytes")));
    }
}

fn timezone_finding(f: &ServerFacts, what: &str) -> Finding {
    let zone = f.var("system_time_zone").unwrap_or("?");
    Finding::new(Level::Info, "time zone", format!("{what} (system_time_zone {zone:?}); read as UTC, every time would be off by the zone's offset"), "follow with --time-zone system on the server's host, or --time-zone with the zone's name")
}

fn privileges(f: &ServerFacts, o: &DoctorOptions, out: &mut Vec<Finding>) {
    const TOPIC: &str = "privileges";
    let grants = f.grants.join("\n").to_ascii_uppercase();
    let has = |p: &str| grants.contains(p) || grants.contains("ALL PRIVILEGES ON *.*") || grants.contains(", SUPER") || grants.contains("GRANT SUPER");
    match (&f.sql_log_bin_refused, o.mode) {
        (Some(why), WriteMode::Local) => out.push(Finding::new(
            Level::Error,
            TOPIC,
            format!("SET SESSION sql_log_bin = 0 is refused ({why}): in local mode audit-ingest will not write"),
            if f.is_mariadb() { "GRANT BINLOG ADMIN ON *.* TO the ingest account (examples/grant.sql)" } else { "GRANT SESSION_VARIABLES_ADMIN ON *.* TO the ingest account (examples/grant.sql)" },
        )),
        (None, WriteMode::Local) => out.push(Finding::ok(TOPIC, "the account may keep its writes out of the binary log (sql_log_bin = 0)")),
        (_, WriteMode::Central) => {}
    }
    let db = o.database.to_ascii_uppercase();
    let on_db = [format!("ON `{db}`.*"), format!("ON {db}.*"), "ON *.*".to_string()];
    let lines: Vec<&str> = grants.lines().filter(|l| on_db.iter().any(|d| l.contains(d.as_str()))).collect();
    let can = |p: &str| lines.iter().any(|l| l.contains(p) || l.contains("ALL PRIVILEGES"));
    let missing: Vec<&str> = ["SELECT", "INSERT", "UPDATE", "DELETE", "CREATE"].into_iter().filter(|p| !can(p)).collect();
    if missing.is_empty() {
        out.push(Finding::ok(TOPIC, format!("the account may read and write the tables in `{}`", o.database)));
    } else {
        out.push(Finding::new(
            Level::Error,
            TOPIC,
            format!("the grants give no {} on `{}`.*", missing.join(", "), o.database),
            format!("GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX ON `{}`.* TO the ingest account (examples/grant.sql)", o.database),
        ));
    }
    if f.is_on("super_read_only") {
        out.push(Finding::new(Level::Error, "read_only", "super_read_only is ON: no account may write, audit-ingest included", "in local mode audit-ingest needs a server it may write: turn super_read_only off, or use central mode on a writable store"));
    } else if f.is_on("read_only") {
        let admin = if f.is_mariadb() { "READ_ONLY ADMIN" } else { "CONNECTION_ADMIN" };
        if has(admin) {
            out.push(Finding::ok("read_only", format!("read_only is ON and the account has {admin}: it may write its own tables")));
        } else {
            out.push(Finding::new(Level::Error, "read_only", format!("read_only is ON and the account lacks {admin}: its writes are refused"), format!("GRANT {admin} ON *.* TO the ingest account (examples/grant.sql)")));
        }
    }
}

fn replication(f: &ServerFacts, o: &DoctorOptions, out: &mut Vec<Finding>) {
    const TOPIC: &str = "replication";
    let binlog = f.is_on("log_bin");
    let role = match f.is_replica {
        Some(true) => "a replica",
        Some(false) => "not a replica",
        None => "replica or not (the account may not run SHOW REPLICA STATUS)",
    };
    let message = format!("binary log {}, {role}", if binlog { "ON" } else { "OFF" });
    out.push(match o.mode {
        WriteMode::Local => Finding::ok(TOPIC, format!("{message}: local mode keeps audit-ingest's rows out of the binary log, so each server keeps its own")),
        WriteMode::Central if f.is_replica == Some(true) => Finding::new(
            Level::Warning,
            TOPIC,
            format!("{message}: central mode writes through the binary log, but a replica's own writes do not reach its primary"),
            "point central mode at the store's primary, or use local mode on each server",
        ),
        WriteMode::Central => Finding::ok(TOPIC, format!("{message}: central mode writes through the binary log")),
    });
}

fn clock(f: &ServerFacts, out: &mut Vec<Finding>) {
    let skew = f.clock_skew_s;
    out.push(if skew.abs() > 2.0 {
        Finding::new(
            Level::Warning,
            "clock",
            format!("the server's clock is {skew:+.1} s from this host's: the checks compare record times with the server's NOW()"),
            "run NTP (chrony, systemd-timesyncd) on both hosts",
        )
    } else {
        Finding::ok("clock", format!("the server's clock is within {:.1} s of this host's", skew.abs()))
    });
}

/// `max_allowed_packet` against the largest record in the log (or, unread, the reader's limit).
pub fn packet(f: &ServerFacts, largest_record: Option<u64>) -> Finding {
    const TOPIC: &str = "max_allowed_packet";
    let Some(packet) = f.var("max_allowed_packet").and_then(|v| v.parse::<u64>().ok()) else {
        return Finding::new(Level::Warning, TOPIC, "the server did not say", "SHOW GLOBAL VARIABLES LIKE 'max_allowed_packet'");
    };
    let (largest, of) = match largest_record {
        Some(n) => (n, "the largest record in the log"),
        None => (audit_model::DEFAULT_MAX_RECORD as u64, "the largest record audit-ingest reads (the log was not read)"),
    };
    let need = largest + STATEMENT_OVERHEAD;
    if packet >= need {
        Finding::ok(TOPIC, format!("{packet} bytes: room for {of} ({largest} bytes)"))
    } else {
        let mib = need.div_ceil(1 << 20);
        let level = if largest_record.is_some() { Level::Error } else { Level::Warning };
        Finding::new(
            level,
            TOPIC,
            format!("{packet} bytes leaves no room for {of} ({largest} bytes, plus {STATEMENT_OVERHEAD} for the statement): such a record goes to the dead-letter table"),
            format!("SET GLOBAL max_allowed_packet = {}; and max_allowed_packet = {mib}M under [mysqld] in my.cnf", mib << 20),
        )
    }
}
