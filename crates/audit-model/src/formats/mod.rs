//! One module a format. Each exposes a [`crate::FormatParser`]; [`parser_for`] picks the one of a
//! format.

use crate::parser::{FormatParser, ParseOptions};
use crate::record::Format;

pub(crate) mod csv;
pub(crate) mod filter_json;
pub(crate) mod json;
pub(crate) mod mariadb;
pub(crate) mod mariadb_time;
pub(crate) mod mcafee;
pub(crate) mod num;
pub(crate) mod percona_json;
pub(crate) mod syslog;
pub(crate) mod wrapped;
pub(crate) mod xml;

/// The parser for a format.
pub fn parser_for(format: Format, opts: &ParseOptions) -> Box<dyn FormatParser> {
    match format {
        Format::PerconaJson => Box::new(percona_json::PerconaJsonParser::new(opts.clone())),
        Format::FilterJson => Box::new(filter_json::FilterJsonParser::new(opts.clone())),
        Format::PerconaOld | Format::PerconaNew | Format::FilterXmlNew | Format::FilterXmlOld => {
            Box::new(xml::XmlParser::new(format, opts.clone()))
        }
        Format::PerconaCsv => Box::new(csv::CsvParser::new(opts.clone())),
        Format::MariaDb => Box::new(mariadb::MariaDbParser::new(opts.clone())),
        Format::McAfeeJson => Box::new(mcafee::McAfeeParser),
        wrapped => Box::new(wrapped::WrappedParser::new(wrapped, opts)),
    }
}

/// One step of a format with one record a line: blank lines skipped, the line parsed by `parse`.
pub(crate) fn line_step(buf: &[u8], parse: impl FnOnce(&[u8]) -> Result<crate::Record, String>) -> crate::Step {
    use crate::Step;
    let Some(nl) = memchr::memchr(b'\n', buf) else { return Step::NeedMore };
    let line = &buf[..nl];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return Step::Skip(nl + 1);
    }
    match parse(line) {
        Ok(record) => Step::Record { len: nl + 1, record },
        Err(reason) => Step::Malformed { len: nl + 1, reason },
    }
}
