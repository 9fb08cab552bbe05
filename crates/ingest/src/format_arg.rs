//! The `--format` option of every command: `auto` or one of the formats audit-model reads, listed in
//! `--help` and checked by clap.

use audit_model::Format;
use clap::builder::{PossibleValuesParser, TypedValueParser};

/// `auto`, then every format's name.
fn names() -> Vec<&'static str> {
    std::iter::once("auto").chain(Format::ALL.iter().map(|f| f.name())).collect()
}

/// `--format`'s value: `None` for `auto` (a newtype, not an `Option`, which clap would take for an
/// optional argument).
#[derive(Debug, Clone, Copy)]
pub struct FormatArg(pub Option<Format>);

/// Parses `--format`.
pub fn parser() -> impl TypedValueParser<Value = FormatArg> {
    // Only the names above get here, and each parses.
    PossibleValuesParser::new(names()).map(|s| FormatArg(s.parse::<Format>().ok()))
}
