//! Telling a file that is no audit log (or one read with the wrong `--format`) from an audit log with
//! a few bad records: [`NOT_AUDIT_AFTER`] malformed records in a row before any good one, and saying
//! what the file looks like instead.

use audit_model::{detect, Detection, Format};

/// Malformed records in a row, with no good record before them in the file, after which a file is
/// taken for something other than an audit log of the format read: `follow` stops reading it and
/// `parse` stops with exit status 2. A real log's first records are never all broken.
pub const NOT_AUDIT_AFTER: u64 = 20;

/// Counts malformed records in a row until the first good one.
#[derive(Debug, Clone, Copy, Default)]
pub struct BadStart {
    good: bool,
    bad_in_a_row: u64,
}

impl BadStart {
    /// Notes a good record.
    pub fn good(&mut self) {
        self.good = true;
        self.bad_in_a_row = 0;
    }

    /// Notes a malformed record; true when the file is now taken for no audit log.
    pub fn bad(&mut self) -> bool {
        self.bad_in_a_row += 1;
        !self.good && self.bad_in_a_row == NOT_AUDIT_AFTER
    }
}

/// What a file's first bytes look like, for a message: the audit format they are in (when it is not
/// the one read), or what else they seem to be.
pub fn looks_like(prefix: &[u8], read_as: Option<Format>) -> String {
    match detect(prefix) {
        Detection::Format(f) if Some(f) != read_as => return format!("it looks like {} (give --format {} or auto)", f.name(), f.name()),
        Detection::Format(f) => return format!("it starts like {} but its records do not parse", f.name()),
        _ => {}
    }
    let text = prefix.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(prefix);
    if text.is_empty() {
        return "it is empty".into();
    }
    let binary = text.iter().filter(|&&b| b == 0 || (b < 0x20 && !b"\t\r\n".contains(&b))).count();
    if binary * 20 > text.len() || std::str::from_utf8(&text[..text.len().min(512)]).is_err_and(|e| e.error_len().is_some()) {
        return "it looks like binary data, not text".into();
    }
    let first = String::from_utf8_lossy(text);
    let line = first.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default();
    let kind = if line.starts_with('[') && line.ends_with(']') {
        "an INI or TOML file"
    } else if line.starts_with('{') || line.starts_with('[') {
        "JSON that is no audit record"
    } else if line.starts_with('<') {
        "XML that is no audit log"
    } else {
        "text that is no audit log"
    };
    let shown: String = line.chars().take(60).flat_map(char::escape_default).collect();
    format!("it looks like {kind} (first line: \"{shown}\")")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_what_a_file_looks_like() {
        assert_eq!(looks_like(b"[package]\nname = \"ingest\"\n", None), "it looks like an INI or TOML file (first line: \"[package]\")");
        let json = b"{\"audit_record\":{\"name\":\"Connect\"}}\n";
        assert_eq!(looks_like(json, Some(Format::MariaDb)), "it looks like percona-json (give --format percona-json or auto)");
        assert!(looks_like(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x03\0>\0", None).contains("binary"));
        let text = looks_like(b"hello \x1b[31m world, a line of plain text\n", None);
        assert_eq!(text, "it looks like text that is no audit log (first line: \"hello \\u{1b}[31m world, a line of plain text\")");
    }

    #[test]
    fn a_bad_start_is_told_from_bad_records_later() {
        let mut s = BadStart::default();
        assert!((1..NOT_AUDIT_AFTER).all(|_| !s.bad()));
        assert!(s.bad(), "the {NOT_AUDIT_AFTER}th in a row, none good");
        let mut s = BadStart::default();
        s.good();
        assert!((0..2 * NOT_AUDIT_AFTER).all(|_| !s.bad()), "a log with good records is an audit log");
    }
}
