//! The login summary (`<table>_logins`): one row a minute, server, login outcome, account and source,
//! with its count and its first and last event. `audit-ingest` upserts it in the transaction of each
//! batch; every login check reads it instead of the raw rows, so a check's cost follows the variety
//! of accounts and sources, not the number of records.
//!
//! What a row's `account` says about the account a failed login named, decided per format from what
//! the log really writes:
//! - `absent`: the log says no such account exists. Percona audit_log (every layout, also through
//!   syslog or the journal) and audit_log_filter's XML write the server's `PRIV_USER`, empty when no
//!   account matched the login.
//! - `exists`: the log names the account matched (a non-empty `PRIV_USER`), or the login succeeded.
//! - `unknown`: the log cannot tell. MariaDB server_audit writes error 1045 for a wrong password and
//!   for an unknown user alike; audit_log_filter's JSON writes the login name as `account.user`;
//!   mysql-audit's failed-login record is not known to say.

use crate::TableNames;

/// Suffix of the login summary's table name.
pub const LOGINS_SUFFIX: &str = "_logins";

/// The account a failed login named exists (or the login succeeded).
pub const ACCOUNT_EXISTS: &str = "exists";
/// The log says the account does not exist.
pub const ACCOUNT_ABSENT: &str = "absent";
/// The log cannot tell whether the account exists.
pub const ACCOUNT_UNKNOWN: &str = "unknown";

/// Formats (as the raw table's `format` column names them) whose failed logins carry the server's
/// `PRIV_USER`: empty when no account matched.
pub const PRIV_USER_FORMATS: &[&str] = &[
    "percona-old",
    "percona-new",
    "percona-json",
    "percona-csv",
    "syslog+percona-old",
    "syslog+percona-new",
    "syslog+percona-json",
    "syslog+percona-csv",
    "journald+percona-old",
    "journald+percona-new",
    "journald+percona-json",
    "journald+percona-csv",
    "filter-xml-new",
    "filter-xml-old",
];

/// What a login record says about its account: [`ACCOUNT_EXISTS`], [`ACCOUNT_ABSENT`] or
/// [`ACCOUNT_UNKNOWN`]. `priv_user` is `None` when the record has no such field.
pub fn account_state(format: &str, failed: bool, priv_user: Option<&str>) -> &'static str {
    if !failed {
        return ACCOUNT_EXISTS;
    }
    match priv_user {
        Some(p) if PRIV_USER_FORMATS.contains(&format) => {
            if p.is_empty() {
                ACCOUNT_ABSENT
            } else {
                ACCOUNT_EXISTS
            }
        }
        _ => ACCOUNT_UNKNOWN,
    }
}

/// [`account_state`] as an SQL expression over the raw table's columns.
pub fn account_state_sql() -> String {
    let formats = PRIV_USER_FORMATS.iter().map(|f| format!("'{f}'")).collect::<Vec<_>>().join(", ");
    format!(
        "CASE WHEN is_failed_login = 0 THEN '{ACCOUNT_EXISTS}' \
         WHEN priv_user IS NULL OR format NOT IN ({formats}) THEN '{ACCOUNT_UNKNOWN}' \
         WHEN priv_user = '' THEN '{ACCOUNT_ABSENT}' ELSE '{ACCOUNT_EXISTS}' END"
    )
}

/// The summary's columns, in the order of [`upsert_prefix`]'s rows.
pub const LOGINS_COLUMNS: &[&str] = &[
    "failed",
    "bucket",
    "server",
    "user",
    "source",
    "via_ip",
    "account",
    "status",
    "logins",
    "first_time",
    "first_file_id",
    "first_offset",
    "last_time",
    "last_file_id",
    "last_offset",
];

/// `INSERT INTO <summary> (columns) VALUES `: rows of [`LOGINS_COLUMNS`] follow, then
/// [`UPSERT_SUFFIX`].
pub fn upsert_prefix(names: &TableNames) -> String {
    format!("INSERT INTO {} ({}) VALUES ", names.logins(), LOGINS_COLUMNS.join(", "))
}

/// Adds a row's count to the stored one and keeps the earlier first and the later last event,
/// ordered by (time, file, offset). MySQL assigns left to right, each assignment seeing the ones
/// before: the offset is compared on the stored time and file, the file on the stored time, and the
/// time last. (`VALUES()` is the form both MySQL 8 and MariaDB accept; MySQL 8.0.20+ deprecates it
/// with a note.)
pub const UPSERT_SUFFIX: &str = " ON DUPLICATE KEY UPDATE logins = logins + VALUES(logins), \
    first_offset = IF((VALUES(first_time), VALUES(first_file_id), VALUES(first_offset)) < (first_time, first_file_id, first_offset), VALUES(first_offset), first_offset), \
    first_file_id = IF((VALUES(first_time), VALUES(first_file_id)) < (first_time, first_file_id), VALUES(first_file_id), first_file_id), \
    first_time = LEAST(first_time, VALUES(first_time)), \
    last_offset = IF((VALUES(last_time), VALUES(last_file_id), VALUES(last_offset)) > (last_time, last_file_id, last_offset), VALUES(last_offset), last_offset), \
    last_file_id = IF((VALUES(last_time), VALUES(last_file_id)) > (last_time, last_file_id), VALUES(last_file_id), last_file_id), \
    last_time = GREATEST(last_time, VALUES(last_time))";

/// The one statement that fills the summary from the raw table's login records (the upgrade to
/// version 3 runs it; so can a bench or a test that wrote raw rows by hand). Adds to what the summary
/// holds: run it once, on an empty summary.
pub fn fill_sql(names: &TableNames) -> String {
    let key = "failed, bucket, server, user_name, source, via_ip, account, status";
    format!(
        "INSERT INTO {summary} ({cols}) \
         SELECT {key}, COUNT(*), MIN(event_time), MIN(ff), MIN(fo), MAX(event_time), MIN(lf), MIN(lo) \
         FROM (SELECT {key}, event_time, \
             FIRST_VALUE(file_id) OVER (PARTITION BY {key} ORDER BY event_time, file_id, file_offset) AS ff, \
             FIRST_VALUE(file_offset) OVER (PARTITION BY {key} ORDER BY event_time, file_id, file_offset) AS fo, \
             FIRST_VALUE(file_id) OVER (PARTITION BY {key} ORDER BY event_time DESC, file_id DESC, file_offset DESC) AS lf, \
             FIRST_VALUE(file_offset) OVER (PARTITION BY {key} ORDER BY event_time DESC, file_id DESC, file_offset DESC) AS lo \
           FROM (SELECT is_failed_login AS failed, CAST(DATE_FORMAT(event_time, '%Y-%m-%d %H:%i:00') AS DATETIME) AS bucket, server, \
               COALESCE(user, '') AS user_name, CAST(COALESCE(NULLIF(ip, ''), host, '') AS BINARY) AS source, \
               CASE WHEN COALESCE(ip, '') <> '' THEN 1 ELSE 0 END AS via_ip, {account} AS account, \
               COALESCE(status, 0) AS status, event_time, file_id, file_offset \
             FROM {data} WHERE kind = 'connect') k) w \
         GROUP BY {key}{suffix}",
        summary = names.logins(),
        cols = LOGINS_COLUMNS.join(", "),
        account = account_state_sql(),
        data = names.data(),
        suffix = UPSERT_SUFFIX,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_state_follows_what_each_format_writes() {
        assert_eq!(account_state("percona-json", true, Some("")), ACCOUNT_ABSENT);
        assert_eq!(account_state("syslog+percona-csv", true, Some("app")), ACCOUNT_EXISTS);
        assert_eq!(account_state("filter-xml-new", true, Some("")), ACCOUNT_ABSENT);
        assert_eq!(account_state("filter-xml-new", true, None), ACCOUNT_UNKNOWN);
        assert_eq!(account_state("mariadb", true, Some("")), ACCOUNT_UNKNOWN);
        assert_eq!(account_state("mariadb", true, None), ACCOUNT_UNKNOWN);
        assert_eq!(account_state("filter-json", true, Some("nosuchuser")), ACCOUNT_UNKNOWN);
        assert_eq!(account_state("mysql-audit-json", true, Some("")), ACCOUNT_UNKNOWN);
        assert_eq!(account_state("mariadb", false, None), ACCOUNT_EXISTS);
        let sql = account_state_sql();
        for f in PRIV_USER_FORMATS {
            assert!(sql.contains(&format!("'{f}'")), "{sql}");
        }
    }

    #[test]
    fn fill_and_upsert_name_every_column() {
        let names = TableNames::new("percona", "audit_data").unwrap();
        let fill = fill_sql(&names);
        assert!(fill.starts_with("INSERT INTO `percona`.`audit_data_logins` (failed, bucket,"), "{fill}");
        assert!(fill.contains("FROM `percona`.`audit_data` WHERE kind = 'connect'"), "{fill}");
        for c in LOGINS_COLUMNS.iter().filter(|c| !matches!(**c, "failed" | "bucket" | "server" | "user" | "source" | "via_ip" | "account" | "status")) {
            assert!(UPSERT_SUFFIX.contains(&format!("{c} = ")), "{c} not merged");
        }
    }
}
