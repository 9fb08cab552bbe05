//! The schema of the audit tables and the rules for the identifiers that name them.
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
//! ```
#![deny(missing_docs)]

use std::fmt;

/// The schema template, as shipped in `templates/schema.sql.j2`.
pub const SCHEMA_TEMPLATE: &str = include_str!("../../../templates/schema.sql.j2");

/// Suffix of the checkpoint (heartbeat) table's name.
pub const CHECKPOINT_SUFFIX: &str = "_checkpoint";
/// Suffix of the dead-letter table's name.
pub const DEAD_LETTER_SUFFIX: &str = "_dead_letter";

/// An identifier that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid identifier {name:?}: {reason}")]
pub struct IdentError {
    /// The identifier as given.
    pub name: String,
    /// Why it was refused.
    pub reason: &'static str,
}

/// The longest table name we accept, leaving room for the `_dead_letter` suffix within MySQL's 64.
pub const MAX_TABLE_LEN: usize = 64 - DEAD_LETTER_SUFFIX.len();

/// Checks an identifier from configuration: 1 to `max` characters of `[A-Za-z0-9_$]`, not all digits.
///
/// Stricter than MySQL, on purpose: such a name never needs escaping inside backquotes and reads the
/// same on every server and in every shell.
pub fn validate_ident(name: &str, max: usize) -> Result<(), IdentError> {
    let err = |reason| Err(IdentError { name: name.to_string(), reason });
    if name.is_empty() {
        return err("empty");
    }
    if name.len() > max {
        return err("too long");
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$') {
        return err("only letters, digits, '_' and '$' are allowed");
    }
    if name.bytes().all(|b| b.is_ascii_digit()) {
        return err("must not be all digits");
    }
    Ok(())
}

/// Quotes a validated identifier with backquotes.
pub fn quote_ident(name: &str) -> Result<String, IdentError> {
    validate_ident(name, 64)?;
    Ok(format!("`{name}`"))
}

/// The validated database and table names of one deployment, and the quoted names of its three tables.
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
        format!("`{}`.`{}{}`", self.database, self.table, CHECKPOINT_SUFFIX)
    }
    /// `` `db`.`table_dead_letter` ``: records that could not be parsed.
    pub fn dead_letter(&self) -> String {
        format!("`{}`.`{}{}`", self.database, self.table, DEAD_LETTER_SUFFIX)
    }
}

impl fmt::Display for TableNames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.data())
    }
}

/// Adds the `ident` filter (validate, then backquote) to a template environment.
///
/// An invalid identifier makes rendering fail instead of producing SQL.
pub fn add_ident_filter(env: &mut minijinja::Environment<'_>) {
    env.add_filter("ident", |name: String| -> Result<String, minijinja::Error> {
        quote_ident(&name)
            .map_err(|e| minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string()))
    });
}

/// The schema's DDL for these names: `CREATE DATABASE` and the three `CREATE TABLE IF NOT EXISTS`
/// statements, separated by `;` and blank lines.
pub fn render_ddl(names: &TableNames) -> Result<String, minijinja::Error> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    add_ident_filter(&mut env);
    env.add_template("schema.sql", SCHEMA_TEMPLATE)?;
    let tmpl = env.get_template("schema.sql")?;
    tmpl.render(minijinja::context! { database => names.database(), table => names.table() })
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
        for bad in ["", "a`b", "a b", "x;drop", "123", "a.b", "é", &"x".repeat(65)] {
            assert!(validate_ident(bad, 64).is_err(), "{bad:?} accepted");
        }
        assert!(TableNames::new("percona", &"t".repeat(MAX_TABLE_LEN + 1)).is_err());
        assert!(TableNames::new("percona", "audit_data").is_ok());
    }

    #[test]
    fn ddl_has_three_tables_with_quoted_names() {
        let names = TableNames::new("audit_db", "events").unwrap();
        let stmts = ddl_statements(&names).unwrap();
        assert_eq!(stmts.len(), 4);
        assert!(stmts[1].starts_with("CREATE TABLE IF NOT EXISTS `audit_db`.`events` ("));
        assert!(stmts[2].starts_with("CREATE TABLE IF NOT EXISTS `audit_db`.`events_checkpoint` ("));
        assert!(stmts[3].starts_with("CREATE TABLE IF NOT EXISTS `audit_db`.`events_dead_letter` ("));
    }
}
