//! The audit log on this host: whether it is there, who may read it, and its largest record (for
//! `max_allowed_packet`).

use std::fs::File;
use std::io::BufReader;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use audit_model::{ReaderOptions, RecordReader};

use super::{Finding, Level, ServerFacts};

const TOPIC: &str = "log file";

/// What doctor learned from the log.
#[derive(Debug, Default)]
pub struct LogInspection {
    /// The largest record's size in bytes, when the log was read.
    pub largest_record: Option<u64>,
    /// The findings about the file.
    pub findings: Vec<Finding>,
}

/// Looks at the log at `path` (the one the server's settings name, or `--log`).
pub fn inspect(path: Option<&Path>, facts: &ServerFacts, service_user: Option<&str>) -> LogInspection {
    let mut out = LogInspection::default();
    let Some(path) = path else {
        out.findings.push(Finding::new(Level::Warning, TOPIC, "no audit log to look at: the server names none", "give the log with --log PATH"));
        return out;
    };
    let shown = path.display();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            out.findings.push(Finding::new(
                Level::Warning,
                TOPIC,
                format!("{shown} does not exist on this host"),
                "run doctor on the database host, or give the log with --log PATH (no record was logged yet if the path is right)",
            ));
            return out;
        }
        Err(e) => {
            out.findings.push(Finding::new(Level::Error, TOPIC, format!("{shown}: {e}"), "let this user reach the log's directory (see examples/audit-ingest.service, step 2)"));
            return out;
        }
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o004 != 0 {
        out.findings.push(Finding::new(
            Level::Warning,
            TOPIC,
            format!("{shown} is readable by every user of this host (mode {mode:04o}): it holds account names, hosts and statements"),
            format!("chmod o-r {shown}, and keep the server's UMASK at 0640"),
        ));
    }
    if let Some(dir) = facts.var("datadir").map(Path::new).filter(|d| path.starts_with(d)) {
        out.findings.push(Finding::new(
            Level::Warning,
            TOPIC,
            format!("{shown} is in the data directory {}: whoever may read it may read the tables' files too", dir.display()),
            "move the log to a directory of its own (e.g. /var/log/mysql-audit), as examples/audit-ingest.service step 2 shows",
        ));
    }
    if let Some(user) = service_user {
        out.findings.extend(service_access(path, &meta, user));
    }
    match File::open(path) {
        Ok(file) => {
            out.largest_record = largest_record(file);
            let largest = out.largest_record.map_or("none yet".to_string(), |n| format!("{n} bytes"));
            out.findings.push(Finding::ok(TOPIC, format!("{shown} is readable here; largest record: {largest}")));
        }
        Err(e) => out.findings.push(Finding::new(Level::Error, TOPIC, format!("{shown}: {e}"), "give the reading user the log's group or an ACL (examples/audit-ingest.service, step 2)")),
    }
    out
}

/// The largest record's size, reading the file to its end (malformed records are skipped: `parse`
/// reports them).
fn largest_record(file: File) -> Option<u64> {
    let mut reader = RecordReader::new(BufReader::new(file), ReaderOptions::new());
    let mut largest = None;
    while let Some(item) = reader.read_record() {
        match item {
            Ok(r) => {
                let span = r.span();
                let len = span.end - span.start;
                largest = Some(largest.map_or(len, |l: u64| l.max(len)));
            }
            Err(audit_model::Error::Malformed(_)) => {}
            Err(_) => break,
        }
    }
    largest
}

/// Whether `user` (the service's account) may read the file by its mode bits: as owner, through a
/// group, or as anyone. ACLs are not read: a `getfacl` grant shows as "cannot read" here.
fn service_access(path: &Path, meta: &std::fs::Metadata, user: &str) -> Option<Finding> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let (uid, gid) = passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.first() == Some(&user) && f.len() > 3).then(|| Some((f[2].parse::<u32>().ok()?, f[3].parse::<u32>().ok()?)))?
    })?;
    let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
    let in_group = |g: u32| {
        g == gid
            || groups.lines().any(|l| {
                let f: Vec<&str> = l.split(':').collect();
                f.len() > 3 && f[2].parse::<u32>().ok() == Some(g) && f[3].split(',').any(|m| m == user)
            })
    };
    let mode = meta.mode();
    let readable = if meta.uid() == uid { mode & 0o400 != 0 } else if in_group(meta.gid()) { mode & 0o040 != 0 } else { mode & 0o004 != 0 };
    Some(if readable {
        Finding::ok(TOPIC, format!("the service user {user} may read {}", path.display()))
    } else {
        Finding::new(
            Level::Error,
            TOPIC,
            format!("the service user {user} may not read {} (owner uid {}, group gid {}, mode {:04o}; ACLs not read)", path.display(), meta.uid(), meta.gid(), mode & 0o777),
            format!("usermod -aG <the log's group> {user}, or setfacl -m u:{user}:r (examples/audit-ingest.service, step 2)"),
        )
    })
}
