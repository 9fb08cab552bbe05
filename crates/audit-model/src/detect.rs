//! Recognising the format from a file's first bytes.
//!
//! Several formats share their first line (`<?xml ...?>`, `[`), so detection looks at the first record:
//! `<AUDIT_RECORD>` (NEW) or `<AUDIT_RECORD` + space (OLD), then `RECORD_ID` (audit_log_filter) or
//! `RECORD` (Percona); `{"audit_record"` (Percona JSON) or any other `{` / `[` (audit_log_filter JSON);
//! a leading `"` (Percona CSV); `YYYYMMDD hh:mm:ss,` (MariaDB).

use memchr::memmem;

use crate::record::Format;

/// The outcome of [`detect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detection {
    /// The format.
    Format(Format),
    /// Not enough bytes yet (an empty file, or a header with no record after it).
    NeedMore,
    /// No format this crate knows starts like this.
    Unknown,
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
        b'[' => Detection::Format(Format::FilterJson),
        b'{' => {
            let rest = b[1..].iter().position(|c| !c.is_ascii_whitespace()).map(|i| &b[1 + i..]);
            match rest {
                None => need_more,
                Some(r) if r.len() < b"\"audit_record\"".len() => {
                    if b"\"audit_record\"".starts_with(r) { need_more } else { Detection::Format(Format::FilterJson) }
                }
                Some(r) if r.starts_with(b"\"audit_record\"") => Detection::Format(Format::PerconaJson),
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
            (b"{\"audit_rec", Detection::NeedMore),
            (b"[\n  {\n    \"timestamp\"", Detection::Format(Format::FilterJson)),
            (b"{ \"timestamp\": \"2019-10-03 14:21:56\",", Detection::Format(Format::FilterJson)),
            (b"\"Query\",\"1_x\",", Detection::Format(Format::PerconaCsv)),
            (b"20261129 05:02:38,vm,alice,localhost,1,0,CONNECT,,,0\n", Detection::Format(Format::MariaDb)),
            (b"2026112", Detection::NeedMore),
            (b"", Detection::NeedMore),
            (b"  \n", Detection::NeedMore),
            (b"hello world", Detection::Unknown),
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
