//! Writers for the Percona audit_log formats (feature `writers`), following the plugin's templates and
//! escaping (8.0.30+): for round-trip tests, fixtures and benchmarks.
//!
//! A record is written with the plugin's field list for its kind (start, connection or statement
//! record) and its timestamp text as read (the UTC `Z` form when it has none).

use crate::record::{Format, Record};

mod csv;
mod json;
mod xml;

/// A format these writers do not write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no writer for format {0}")]
pub struct Unsupported(pub Format);

/// What the plugin writes when it opens a file: the XML declaration and `<AUDIT>` for the XML formats.
pub fn header(format: Format) -> &'static str {
    match format {
        Format::PerconaOld | Format::PerconaNew => "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<AUDIT>\n",
        _ => "",
    }
}

/// What the plugin writes when it closes a file cleanly.
pub fn footer(format: Format) -> &'static str {
    match format {
        Format::PerconaOld | Format::PerconaNew => "</AUDIT>\n",
        _ => "",
    }
}

/// Appends one record, with its trailing newline.
pub fn write_record(format: Format, rec: &Record, out: &mut String) -> Result<(), Unsupported> {
    match format {
        Format::PerconaJson => json::write(rec, out),
        Format::PerconaOld => xml::write_old(rec, out),
        Format::PerconaNew => xml::write_new(rec, out),
        Format::PerconaCsv => csv::write(rec, out),
        other => return Err(Unsupported(other)),
    }
    Ok(())
}

/// The timestamp text a writer writes: as read, or the UTC `Z` form.
pub(crate) fn timestamp_text(rec: &Record) -> String {
    rec.timestamp_text().map_or_else(|| crate::percona_json_out::utc_text(rec), str::to_string)
}
