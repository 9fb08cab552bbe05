//! The CSV format, as the plugin writes it: every field double-quoted with `"` doubled, STATUS
//! unquoted, a newline after the record. Like the plugin, the `Audit` / `NoAudit` record is written
//! without escaping.

use crate::percona_json_out::{field_text, percona_name, Layout, Value};
use crate::record::Record;

pub(crate) fn write(rec: &Record, out: &mut String) {
    let layout = Layout::of(rec.kind());
    let escape = layout != Layout::Start;
    quoted(percona_name(rec), escape, out);
    out.push(',');
    quoted(rec.record_id().unwrap_or(""), escape, out);
    out.push(',');
    quoted(&super::timestamp_text(rec), escape, out);
    let mut value = String::new();
    for f in layout.fields() {
        out.push(',');
        value.clear();
        field_text(rec, f.value, &mut value);
        if f.value == Value::Status {
            out.push_str(&value);
        } else {
            quoted(&value, escape, out);
        }
    }
    out.push('\n');
}

fn quoted(s: &str, escape: bool, out: &mut String) {
    out.push('"');
    if escape {
        let mut rest = s;
        while let Some(i) = rest.find('"') {
            out.push_str(&rest[..=i]);
            out.push('"');
            rest = &rest[i + 1..];
        }
        out.push_str(rest);
    } else {
        out.push_str(s);
    }
    out.push('"');
}
