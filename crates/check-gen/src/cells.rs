//! Values of result rows as a check script sees them, and the alerts a script returns.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One column value, already mapped to the Starlark type PMM hands to scripts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Cell {
    /// SQL NULL: `None`.
    Null,
    /// Integer types (and DATETIME as Unix nanoseconds when time parsing is on).
    Int(i64),
    /// DOUBLE and FLOAT.
    Float(f64),
    /// Strings, DECIMAL, JSON, TIME, BLOB, big unsigned integers, DATETIME without time parsing.
    Str(String),
    /// A list: a METRICS_* sample's `value` (`[timestamp, "value"]`).
    List(Vec<Cell>),
    /// A mapping: a METRICS_* sample's `metric` (its labels).
    Map(std::collections::BTreeMap<String, Cell>),
}

/// One result row: column name (or alias) to value, in column order.
pub type Row = Vec<(String, Cell)>;

/// An alert returned by a check script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alert {
    /// The check that raised it (filled by the caller, not by the script).
    #[serde(default)]
    pub check: String,
    /// One line.
    pub summary: String,
    /// Details; empty if the script gave none.
    #[serde(default)]
    pub description: String,
    /// `error` or `warning` for the shipped checks.
    pub severity: String,
    /// Label name to value, both strings.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// A link to documentation; empty if none.
    #[serde(default)]
    pub read_more_url: String,
}
