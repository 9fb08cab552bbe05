//! Recognising the format from a file's first bytes.
//!
//! Several formats share their first line (`<?xml ...?>`, `[`), so detection looks at the first record:
//! `<AUDIT_RECORD>` (NEW) or `<AUDIT_RECORD` + space (OLD), then `RECORD_ID` (audit_log_filter) or
//! `RECORD` (Percona); `{"audit_record"` (Percona JSON) or any other `{` / `[` (audit_log_filter JSON);
//! a leading `"` (Percona CSV); `YYYYMMDD hh:mm:ss,` (MariaDB); `{"msg-type"` (mysql-audit).
//! A syslog or journal line is classified by its message: the first audit message decides the
//! wrapped format; other programs' lines before it are [`Detection::Foreign`].

use memchr::memmem;

use crate::formats::mariadb::is_syslog_message;
use crate::formats::wrapped::{classify_line, LineKind};
use crate::record::Format;

/// Whether the first line decides: it may be a syslog line (a month name, an ISO date, `<PRI>`), a
/// journal entry (`journalctl -o json` writes its fields in no fixed order, all upper-case or
/// `_`-prefixed: `{"_HOSTNAME"`, `{"PRIORITY"`, `{"__CURSOR"`) or a server_audit line.
fn line_decides(b: &[u8]) -> bool {
    let journal_key = b.starts_with(b"{\"") && b.get(2).is_some_and(|c| *c == b'_' || c.is_ascii_uppercase());
    b[0].is_ascii_alphanumeric() || (b.len() >= 2 && b[0] == b'<' && b[1].is_ascii_digit()) || journal_key
}

/// The outcome of [`detect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detection {
    /// The format.
    Format(Format),
    /// Not enough bytes yet (an empty file, or a header with no record after it).
    NeedMore,
    /// No format this crate knows starts like this.
    Unknown,
    /// The first `n` bytes are another program's line in a shared log (syslog, the journal): skip and
    /// count them, and look at what follows.
    Foreign(usize),
}

/// How many bytes detection looks at before it gives up.
pub const DETECT_LIMIT: usize = 64 * 1024;

/// Recognises the format of `buf`, the first bytes of a log.
pub fn detect(buf: &[u8]) -> Detection {
    let buf = buf.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(buf);
    let start = buf.iter().position(|b| !b.is_ascii_whitespace());
    let Some(start) = start else { return Detection::NeedMore };
    let b = &buf[start..];
    let need_more = if buf.len() >= DETECT_LIMIT { Detection::Unknown } else { Detection::NeedMore };
    // Syslog and journal lines, and MariaDB lines (whatever their timestamp), are told by their line.
    if line_decides(b) {
        match memchr::memchr(b'\n', b) {
            Some(nl) => {
                let line = &b[..nl];
                match classify_line(line) {
                    Some(LineKind::Audit(f)) => return Detection::Format(f),
                    Some(LineKind::Foreign) => return Detection::Foreign(buf.len() - b.len() + nl + 1),
                    None => {}
                }
                if b[0].is_ascii_alphanumeric() && is_syslog_message(line) {
                    return Detection::Format(Format::MariaDb);
                }
            }
            None if buf.len() < DETECT_LIMIT => return Detection::NeedMore,
            None => {}
        }
    }
    match b[0] {
        b'<' => {
            let Some(at) = memmem::find(b, b"<AUDIT_RECORD") else {
                let prefix_of = |tag: &[u8]| tag.starts_with(&b[..b.len().min(tag.len())]);
                return if b.starts_with(b"<?xml") || b.starts_with(b"<AUDIT") || prefix_of(b"<?xml") || prefix_of(b"<AUDIT_RECORD") {
                    need_more
                } else {
                    Detection::Unknown
                };
            };
            let rec = &b[at + b"<AUDIT_RECORD".len()..];
            let Some(&next) = rec.first() else { return need_more };
            let new = match next {
                b'>' => true,
                c if c.is_ascii_whitespace() => false,
                _ => return Detection::Unknown,
            };
            let end_tag: &[u8] = if new { b"</AUDIT_RECORD>" } else { b"/>" };
            let end = memmem::find(rec, end_tag);
            let body = &rec[..end.unwrap_or(rec.len())];
            let filter = if new { memmem::find(body, b"<RECORD_ID>").is_some() } else { memmem::find(body, b"RECORD_ID=").is_some() };
            let percona = if new { memmem::find(body, b"<RECORD>").is_some() } else { memmem::find(body, b"RECORD=\"").is_some_and(|i| i == 0 || !body[i - 1].is_ascii_alphanumeric() && body[i - 1] != b'_') };
            match (filter, percona, new) {
                (true, _, true) => Detection::Format(Format::FilterXmlNew),
                (true, _, false) => Detection::Format(Format::FilterXmlOld),
                (false, true, true) => Detection::Format(Format::PerconaNew),
                (false, true, false) => Detection::Format(Format::PerconaOld),
                (false, false, _) if end.is_none() => need_more,
                // A complete first record with neither id: filter records may omit fields, Percona's never do.
                (false, false, true) => Detection::Format(Format::FilterXmlNew),
                (false, false, false) => Detection::Format(Format::FilterXmlOld),
            }
        }
        // audit_log_filter's JSON array: `[`, then its first object (or `]`: none). A `[section]` line
        // (TOML, INI: Cargo.toml, my.cnf) is no audit log.
        b'[' => match b[1..].iter().find(|c| !c.is_ascii_whitespace()) {
            None => need_more,
            Some(b'{' | b']') => Detection::Format(Format::FilterJson),
            Some(_) => Detection::Unknown,
        },
        b'{' => {
            let rest = b[1..].iter().position(|c| !c.is_ascii_whitespace()).map(|i| &b[1 + i..]);
            // The first key tells: Percona's, mysql-audit's, a journal entry's, else audit_log_filter's.
            let keys: [&[u8]; 3] = [b"\"audit_record\"", b"\"msg-type\"", b"\""];
            match rest {
                None => need_more,
                Some(r) if r.starts_with(keys[0]) => Detection::Format(Format::PerconaJson),
                Some(r) if r.starts_with(keys[1]) => Detection::Format(Format::McAfeeJson),
                Some(r) if keys.iter().any(|k| k.starts_with(r)) => need_more,
                Some(_) => Detection::Format(Format::FilterJson),
            }
        }
        b'"' => Detection::Format(Format::PerconaCsv),
        b'0'..=b'9' => {
            let shape = b"dddddddd dd:dd:dd,";
            for (i, &want) in shape.iter().enumerate() {
                let Some(&c) = b.get(i) else { return need_more };
                let ok = if want == b'd' { c.is_ascii_digit() } else { c == want };
                if !ok {
                    return Detection::Unknown;
                }
            }
            Detection::Format(Format::MariaDb)
        }
        _ => Detection::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_records_decide() {
        let cases: &[(&[u8], Detection)] = &[
            (b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<AUDIT>\n<AUDIT_RECORD\n  NAME=\"Audit\"\n  RECORD=\"1_x\"\n/>", Detection::Format(Format::PerconaOld)),
            (b"<AUDIT_RECORD>\n<NAME>Query</NAME>\n<RECORD>1_x</RECORD>", Detection::Format(Format::PerconaNew)),
            (b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<AUDIT>\n <AUDIT_RECORD>\n  <NAME>Audit</NAME>\n  <RECORD_ID>0_x</RECORD_ID>", Detection::Format(Format::FilterXmlNew)),
            (b"<AUDIT_RECORD TIMESTAMP=\"x\" RECORD_ID=\"1_x\" NAME=\"Connect\"/>", Detection::Format(Format::FilterXmlOld)),
            (b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<AUDIT>\n", Detection::NeedMore),
            (b"{\"audit_record\":{\"name\":\"Query\"", Detection::Format(Format::PerconaJson)),
            (b"[package]\nname = \"ingest\"\n", Detection::Unknown),
            (b"[\n  {\"timestamp\"", Detection::Format(Format::FilterJson)),
            (b"[ ", Detection::NeedMore),
            (b"{\"audit_rec", Detection::NeedMore),
            (b"[\n  {\n    \"timestamp\"", Detection::Format(Format::FilterJson)),
            (b"{ \"timestamp\": \"2019-10-03 14:21:56\",", Detection::Format(Format::FilterJson)),
            (b"\"Query\",\"1_x\",", Detection::Format(Format::PerconaCsv)),
            (b"20261129 05:02:38,vm,alice,localhost,1,0,CONNECT,,,0\n", Detection::Format(Format::MariaDb)),
            (b"2026112", Detection::NeedMore),
            (b"", Detection::NeedMore),
            (b"  \n", Detection::NeedMore),
            (b"hello world\n", Detection::Unknown),
            (b"hello world", Detection::NeedMore),
            (b"<", Detection::NeedMore),
            (b"<A", Detection::NeedMore),
            (b"<AUDIT_REC", Detection::NeedMore),
            (b"<?x", Detection::NeedMore),
            (b"<html>", Detection::Unknown),
        ];
        for (input, want) in cases {
            assert_eq!(detect(input), *want, "{}", String::from_utf8_lossy(input));
        }
    }
}
