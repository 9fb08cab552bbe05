//! Which layout of the tables a database holds, and the statements that bring an older one up to date.
//!
//! The version in force is the highest row of the `<table>_schema` table. The first layout (before
//! versions were recorded: an `AUTO_INCREMENT` id, no `server` column) has no such table and counts as
//! version 1.

use crate::{ServerName, TableNames};

/// The layout this release writes and reads.
pub const SCHEMA_VERSION: u32 = 4;

/// What a database holds for one set of [`TableNames`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// None of the tables: the DDL creates them.
    Absent,
    /// This release's tables, but their version is not recorded yet (the DDL was cut short): running
    /// the DDL again completes it.
    Unrecorded,
    /// A recorded (or, for 1, recognised) version.
    Version(u32),
}

impl Layout {
    /// Decides from the data table's column names (empty when it does not exist) and the highest
    /// version recorded (`None` when the version table is missing or empty).
    pub fn classify(data_columns: &[String], recorded: Option<u32>) -> Layout {
        let has = |c: &str| data_columns.iter().any(|x| x.eq_ignore_ascii_case(c));
        match recorded {
            Some(v) => Layout::Version(v),
            None if data_columns.is_empty() => Layout::Absent,
            None if has("server") => Layout::Unrecorded,
            None => Layout::Version(1),
        }
    }
}

/// `SELECT TABLE_NAME, COLUMN_NAME` of the data and version tables; bind [`probe_params`].
pub const PROBE_SQL: &str =
    "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME IN (?, ?)";

/// The parameters of [`PROBE_SQL`]: database, data table, version table.
pub fn probe_params(names: &TableNames) -> [String; 3] {
    [names.database().to_string(), names.table().to_string(), format!("{}{}", names.table(), crate::SCHEMA_SUFFIX)]
}

/// The highest recorded version (run only when the version table exists).
pub fn recorded_version_sql(names: &TableNames) -> String {
    format!("SELECT MAX(version) FROM {}", names.schema())
}

/// An upgrade this release cannot make.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpgradeError {
    /// The database is newer than this release.
    #[error("the tables {names} are at schema version {found}, newer than this release's {SCHEMA_VERSION}: upgrade audit-ingest")]
    Newer {
        /// The tables.
        names: String,
        /// The version found.
        found: u32,
    },
    /// The schema template did not render (a broken build).
    #[error("the schema template did not render: {0}")]
    Template(String),
    /// A version this release does not know how to upgrade from.
    #[error("the tables {names} are at schema version {found}, which this release cannot upgrade")]
    Unknown {
        /// The tables.
        names: String,
        /// The version found.
        found: u32,
    },
}

/// The statements that bring `names` from version `from` to [`SCHEMA_VERSION`], in order; empty when
/// already there. Rows written before the upgrade are attributed to `server` (the server whose
/// ingester upgrades: under version 1 every server kept its own tables).
///
/// Each statement is safe to run once; the last records the new version.
pub fn upgrade_statements(names: &TableNames, from: u32, server: &ServerName) -> Result<Vec<String>, UpgradeError> {
    match from {
        SCHEMA_VERSION => Ok(Vec::new()),
        1 => Ok([from_v1(names, server), from_v2(names)?, from_v3(names)].concat()),
        2 => Ok([from_v2(names)?, from_v3(names)].concat()),
        3 => Ok(from_v3(names)),
        found if found > SCHEMA_VERSION => Err(UpgradeError::Newer { names: names.data(), found }),
        found => Err(UpgradeError::Unknown { names: names.data(), found }),
    }
}

/// Version 1 had `id BIGINT AUTO_INCREMENT` keys (which collide between servers), no server column,
/// and a `format` column too narrow for wrapped formats (`journald+percona-json`).
fn from_v1(names: &TableNames, server: &ServerName) -> Vec<String> {
    let (data, ck, dead) = (names.data(), names.checkpoint(), names.dead_letter());
    let server_col = |after: &str| format!("ADD COLUMN server VARCHAR(64) NOT NULL DEFAULT {} COMMENT 'the audited server' {after}", server.literal());
    vec![
        format!(
            "ALTER TABLE {data} DROP PRIMARY KEY, DROP COLUMN id, DROP INDEX record_identity, {}, \
             ADD COLUMN log_server_id INT UNSIGNED NULL COMMENT 'server_id the log itself states (its last startup record), if any' AFTER format, \
             MODIFY COLUMN format VARCHAR(32) NOT NULL COMMENT 'audit-log format of the source file (syslog+percona-json, ...)', \
             MODIFY COLUMN kind VARCHAR(16) NOT NULL COMMENT 'startup, shutdown, connect, proxy_connect, disconnect, change_user, query, table_access, other', \
             ADD PRIMARY KEY (server, file_id, file_offset)",
            server_col("FIRST")
        ),
        format!("ALTER TABLE {data} ALTER COLUMN server DROP DEFAULT"),
        format!(
            "ALTER TABLE {ck} DROP PRIMARY KEY, {}, \
             ADD COLUMN log_server_id INT UNSIGNED NULL COMMENT 'server_id of the log''s last startup record' AFTER state, \
             ADD PRIMARY KEY (server, source)",
            server_col("FIRST")
        ),
        format!("ALTER TABLE {ck} ALTER COLUMN server DROP DEFAULT"),
        format!("ALTER TABLE {dead} DROP PRIMARY KEY, DROP COLUMN id, DROP INDEX dead_letter_identity, {}, ADD PRIMARY KEY (server, file_id, file_offset)", server_col("FIRST")),
        format!("ALTER TABLE {dead} ALTER COLUMN server DROP DEFAULT"),
        format!(
            "CREATE TABLE IF NOT EXISTS {} (version INT UNSIGNED NOT NULL, applied_at DATETIME(6) NOT NULL, note VARCHAR(255) NOT NULL, \
             PRIMARY KEY (version)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
            names.schema()
        ),
        format!("INSERT IGNORE INTO {} (version, applied_at, note) VALUES (2, UTC_TIMESTAMP(6), 'upgraded from 1')", names.schema()),
    ]
}

/// Version 2 had no login summary, and two secondary indexes on the raw table for the login checks,
/// which now read the summary. The summary is created as a fresh install creates it (the template's
/// own statement) and filled from the raw login records.
fn from_v2(names: &TableNames) -> Result<Vec<String>, UpgradeError> {
    let create = format!("CREATE TABLE IF NOT EXISTS {} (", names.logins());
    let ddl = crate::ddl_statements(names).map_err(|e| UpgradeError::Template(e.to_string()))?;
    let summary = ddl.into_iter().find(|s| s.starts_with(&create)).ok_or_else(|| UpgradeError::Template("no login summary table".into()))?;
    Ok(vec![
        summary,
        format!("ALTER TABLE {} DROP INDEX failed_login_time, DROP INDEX kind_time", names.data()),
        crate::summary::fill_sql(names),
        format!("INSERT IGNORE INTO {} (version, applied_at, note) VALUES (3, UTC_TIMESTAMP(6), 'upgraded from 2')", names.schema()),
    ])
}

/// The columns and index version 4 added to the raw table, as the template declares them.
const V4_COLUMNS: [&str; 2] = [
    "statement_class VARCHAR(32) CHARACTER SET ascii NULL COMMENT 'what the statement does (grant, set_audit_variable, select_into_outfile, ...), decided from its whole text; NULL for records without a statement'",
    "statement VARCHAR(1024) NULL COMMENT 'the SQL text, its first 1024 characters (the whole text is in audit_record)'",
];
const V4_INDEX: &str = "KEY statement_class (server, statement_class, event_time)";

/// Version 3 had no statement class or text on the raw table, which the query checks read. Rows
/// stored before the upgrade keep both NULL: the class is decided from the whole SQL text when a
/// record is stored (see [`crate::statement`]), which SQL over `audit_record` cannot redo exactly,
/// so the query checks see the records stored from the upgrade on.
fn from_v3(names: &TableNames) -> Vec<String> {
    vec![
        format!("ALTER TABLE {} ADD COLUMN {} AFTER command_class, ADD COLUMN {} AFTER statement_class, ADD {V4_INDEX}", names.data(), V4_COLUMNS[0], V4_COLUMNS[1]),
        format!("INSERT IGNORE INTO {} (version, applied_at, note) VALUES (4, UTC_TIMESTAMP(6), 'upgraded from 3')", names.schema()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn layouts_are_told_apart() {
        assert_eq!(Layout::classify(&[], None), Layout::Absent);
        assert_eq!(Layout::classify(&cols(&["id", "source", "file_id"]), None), Layout::Version(1));
        assert_eq!(Layout::classify(&cols(&["SERVER", "file_id"]), None), Layout::Unrecorded);
        assert_eq!(Layout::classify(&cols(&["server"]), Some(2)), Layout::Version(2));
        assert_eq!(Layout::classify(&[], Some(7)), Layout::Version(7));
    }

    #[test]
    fn upgrades_only_what_it_knows() {
        let names = TableNames::new("percona", "audit_data").unwrap();
        let server = ServerName::new("db1").unwrap();
        assert!(upgrade_statements(&names, SCHEMA_VERSION, &server).unwrap().is_empty());
        let v1 = upgrade_statements(&names, 1, &server).unwrap();
        assert!(v1[0].contains("DEFAULT 'db1'") && v1.iter().any(|s| s.contains("upgraded from 1")));
        let v2 = upgrade_statements(&names, 2, &server).unwrap();
        assert!(v2[0].starts_with("CREATE TABLE IF NOT EXISTS `percona`.`audit_data_logins`"), "{}", v2[0]);
        assert!(v2[2].starts_with("INSERT INTO `percona`.`audit_data_logins`"), "{}", v2[2]);
        assert!(v2[3].contains("upgraded from 2"));
        let v3 = upgrade_statements(&names, 3, &server).unwrap();
        assert!(v3[0].starts_with("ALTER TABLE `percona`.`audit_data` ADD COLUMN statement_class"), "{}", v3[0]);
        assert_eq!(v1.last(), v3.last(), "version 1 goes on through versions 2 and 3");
        assert_eq!(v2.last(), v3.last(), "version 2 goes on through version 3");
        assert!(v3.last().unwrap().contains("upgraded from 3"));
        assert!(matches!(upgrade_statements(&names, 5, &server), Err(UpgradeError::Newer { found: 5, .. })));
        assert!(matches!(upgrade_statements(&names, 0, &server), Err(UpgradeError::Unknown { found: 0, .. })));
    }

    #[test]
    fn version_4_adds_what_a_fresh_install_declares() {
        let ddl = crate::render_ddl(&TableNames::new("percona", "audit_data").unwrap()).unwrap();
        for part in V4_COLUMNS.iter().chain([&V4_INDEX]) {
            assert!(ddl.contains(part), "the template does not declare {part}");
        }
        assert!(ddl.contains(&format!("VARCHAR({})", crate::statement::STATEMENT_CHARS)));
        assert!(ddl.contains(&format!("VARCHAR({}) CHARACTER SET ascii", crate::statement::MAX_CLASS_LEN)));
    }
}
