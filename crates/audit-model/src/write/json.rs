//! The JSON format: `{"audit_record":{...}}` a line.

use crate::record::Record;

pub(crate) fn write(rec: &Record, out: &mut String) {
    rec.write_percona_json(out, &super::timestamp_text(rec));
    out.push('\n');
}
