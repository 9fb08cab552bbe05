//! The one contract of the audit tables: their DDL, the rules for the names that name them, the
//! audited server's name, and the schema versions with their upgrades.
//!
//! Both `audit-ingest` (which creates and fills the tables) and `check-gen` (whose checks query them)
//! take the table layout from here, so the two can never drift apart. The DDL itself lives in
//! `templates/schema.sql.j2` at the top of the workspace and is embedded at build time.
//!
//! ```
//! let names = audit_schema::TableNames::new("percona", "audit_data").unwrap();
//! assert_eq!(names.data(), "`percona`.`audit_data`");
//! assert_eq!(names.checkpoint(), "`percona`.`audit_data_checkpoint`");
//! let ddl = audit_schema::render_ddl(&names).unwrap();
//! assert!(ddl.contains("CREATE TABLE IF NOT EXISTS `percona`.`audit_data`"));
//! assert!(ddl.contains("PRIMARY KEY (server, file_id, file_offset)"));
//! ```
#![deny(missing_docs)]

use std::fmt;

mod ident;
mod server;
pub mod statement;
pub mod summary;
mod version;

pub use ident::{add_ident_filter, quote_ident, quote_ident_literal, validate_ident, IdentError};
pub use server::{ServerName, MAX_SERVER_LEN};
pub use version::{probe_params, recorded_version_sql, upgrade_statements, Layout, UpgradeError, PROBE_SQL, SCHEMA_VERSION};

/// The schema template, as shipped in `templates/schema.sql.j2`.
pub const SCHEMA_TEMPLATE: &str = include_str!("../../../templates/schema.sql.j2");

/// Suffix of the checkpoint (heartbeat) table's name.
pub const CHECKPOINT_SUFFIX: &str = "_checkpoint";
/// Suffix of the dead-letter table's name.
pub const DEAD_LETTER_SUFFIX: &str = "_dead_letter";
/// Suffix of the schema-version table's name.
pub const SCHEMA_SUFFIX: &str = "_schema";
pub use summary::LOGINS_SUFFIX;

/// The longest table name we accept, leaving room for the `_dead_letter` suffix within MySQL's 64.
pub const MAX_TABLE_LEN: usize = 64 - DEAD_LETTER_SUFFIX.len();

/// The validated database and table names of one deployment, and the quoted names of its tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNames {
    database: String,
    table: String,
}

impl TableNames {
    /// Validates both names.
    pub fn new(database: &str, table: &str) -> Result<Self, IdentError> {
        validate_ident(database, 64)?;
        validate_ident(table, MAX_TABLE_LEN)?;
        Ok(TableNames { database: database.to_string(), table: table.to_string() })
    }
    /// The database name, unquoted.
    pub fn database(&self) -> &str {
        &self.database
    }
    /// The data table's name, unquoted.
    pub fn table(&self) -> &str {
        &self.table
    }
    /// `` `db`.`table` ``: the data table.
    pub fn data(&self) -> String {
        format!("`{}`.`{}`", self.database, self.table)
    }
    /// `` `db`.`table_checkpoint` ``: checkpoints and the ingester's heartbeat.
    pub fn checkpoint(&self) -> String {
        self.suffixed(CHECKPOINT_SUFFIX)
    }
    /// `` `db`.`table_dead_letter` ``: records that could not be parsed.
    pub fn dead_letter(&self) -> String {
        self.suffixed(DEAD_LETTER_SUFFIX)
    }
    /// `` `db`.`table_schema` ``: the layout versions applied.
    pub fn schema(&self) -> String {
        self.suffixed(SCHEMA_SUFFIX)
    }
    /// `` `db`.`table_logins` ``: the login summary the login checks read (see [`summary`]).
    pub fn logins(&self) -> String {
        self.suffixed(LOGINS_SUFFIX)
    }
    fn suffixed(&self, suffix: &str) -> String {
        format!("`{}`.`{}{suffix}`", self.database, self.table)
    }
}

impl fmt::Display for TableNames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.data())
    }
}

/// The schema's DDL for these names: `CREATE DATABASE`, the five `CREATE TABLE IF NOT EXISTS`
/// statements and the statement that records [`SCHEMA_VERSION`], separated by `;` and blank lines.
///
/// Over an older layout it creates nothing that is there and records no version: upgrade such tables
/// with [`upgrade_statements`].
pub fn render_ddl(names: &TableNames) -> Result<String, minijinja::Error> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    add_ident_filter(&mut env);
    env.add_template("schema.sql", SCHEMA_TEMPLATE)?;
    let tmpl = env.get_template("schema.sql")?;
    tmpl.render(minijinja::context! { database => names.database(), table => names.table(), version => SCHEMA_VERSION })
}

/// The DDL split into single statements, for clients that run one statement at a time.
pub fn ddl_statements(names: &TableNames) -> Result<Vec<String>, minijinja::Error> {
    Ok(render_ddl(names)?
        .split(";\n")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches(';').to_string())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_hostile_identifiers() {
        for bad in ["", "a`b", "a b", "x;drop", "123", "a.b", "é", &"x".repeat(65), "a'b"] {
            assert!(validate_ident(bad, 64).is_err(), "{bad:?} accepted");
        }
        assert!(TableNames::new("percona", &"t".repeat(MAX_TABLE_LEN + 1)).is_err());
        assert!(TableNames::new("percona", "audit_data").is_ok());
    }

    #[test]
    fn ddl_has_five_tables_with_quoted_names_and_records_its_version() {
        let names = TableNames::new("audit_db", "events").unwrap();
        let stmts = ddl_statements(&names).unwrap();
        assert_eq!(stmts.len(), 7);
        assert!(stmts[1].starts_with("CREATE TABLE IF NOT EXISTS `audit_db`.`events` ("));
        assert!(stmts[2].starts_with("CREATE TABLE IF NOT EXISTS `audit_db`.`events_checkpoint` ("));
        assert!(stmts[3].starts_with("CREATE TABLE IF NOT EXISTS `audit_db`.`events_dead_letter` ("));
        assert!(stmts[4].starts_with("CREATE TABLE IF NOT EXISTS `audit_db`.`events_logins` ("));
        assert!(stmts[5].starts_with("CREATE TABLE IF NOT EXISTS `audit_db`.`events_schema` ("));
        assert!(stmts[6].contains(&format!("SELECT {SCHEMA_VERSION}, UTC_TIMESTAMP(6)")), "{}", stmts[6]);
        assert!(stmts[6].contains("TABLE_SCHEMA = 'audit_db' AND TABLE_NAME = 'events'"), "{}", stmts[6]);
        assert!(!stmts.iter().any(|s| s.contains("AUTO_INCREMENT")), "no server-local counters in keys");
    }
}
