//! The Percona plugin's OLD and NEW XML layouts, with its 8.0.30+ escaping.
//!
//! One deviation: the plugin writes the `Audit` record's values unescaped (a quote in the startup
//! options breaks the record); these writers escape every record, so what they write reads back equal.

use std::fmt::Write as _;

use crate::names::{NAME, RECORD, TIMESTAMP};
use crate::percona_json_out::{field_text, percona_name, Layout};
use crate::record::Record;

/// `<AUDIT_RECORD\n  NAME="..."\n ... />\n`, one attribute a line.
pub(crate) fn write_old(rec: &Record, out: &mut String) {
    out.push_str("<AUDIT_RECORD\n");
    write_fields(rec, out, |out, tag, value| {
        out.push_str("  ");
        out.push_str(tag);
        out.push_str("=\"");
        escape_into(value, out);
        out.push_str("\"\n");
    });
    out.push_str("/>\n");
}

/// `<AUDIT_RECORD>\n  <NAME>...</NAME>\n ... </AUDIT_RECORD>\n`, one element a line.
pub(crate) fn write_new(rec: &Record, out: &mut String) {
    out.push_str("<AUDIT_RECORD>\n");
    write_fields(rec, out, |out, tag, value| {
        out.push_str("  <");
        out.push_str(tag);
        out.push('>');
        escape_into(value, out);
        out.push_str("</");
        out.push_str(tag);
        out.push_str(">\n");
    });
    out.push_str("</AUDIT_RECORD>\n");
}

/// NAME, RECORD, TIMESTAMP, then the fields of the record's layout, in the plugin's order.
fn write_fields(rec: &Record, out: &mut String, mut put: impl FnMut(&mut String, &str, &str)) {
    put(out, NAME.tag, percona_name(rec));
    put(out, RECORD.tag, rec.record_id().unwrap_or(""));
    put(out, TIMESTAMP.tag, &super::timestamp_text(rec));
    let mut value = String::new();
    for f in Layout::of(rec.kind()).fields() {
        value.clear();
        field_text(rec, f.value, &mut value);
        put(out, f.tag, &value);
    }
}

/// The plugin's XML escaping since 8.0.30 / 5.7.38: `< > & "` as entities, control characters 1-31 as
/// `&#N;`, NUL as `?`.
pub(crate) fn escape_into(s: &str, out: &mut String) {
    let mut last = 0;
    for (i, &b) in s.as_bytes().iter().enumerate() {
        let esc = match b {
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'&' => "&amp;",
            b'"' => "&quot;",
            0 => "?",
            1..=31 => "",
            _ => continue,
        };
        out.push_str(&s[last..i]);
        if esc.is_empty() {
            let _ = write!(out, "&#{b};");
        } else {
            out.push_str(esc);
        }
        last = i + 1;
    }
    out.push_str(&s[last..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_the_plugin() {
        let mut out = String::new();
        escape_into("a<b>c&d\"e'f\0g\u{1}\t\n\r\u{1f}é😀", &mut out);
        assert_eq!(out, "a&lt;b&gt;c&amp;d&quot;e'f?g&#1;&#9;&#10;&#13;&#31;é😀");
    }
}
