//! Any record in the Percona audit_log plugin's shapes: the field layouts the plugin writes, and the
//! JSON line (`{"audit_record":{...}}`) with the plugin's key order and escaping.

use std::fmt::Write as _;

use crate::record::{Kind, Record};

/// Which of the plugin's three field lists a record uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// `Audit` / `NoAudit`: MYSQL_VERSION, STARTUP_OPTIONS, OS_VERSION.
    Start,
    /// `Connect`, `Quit`, `Change user`.
    Connection,
    /// Everything else: statements and commands.
    Statement,
}

pub(crate) use crate::names::{Name as PerconaField, Value};
use crate::names::{
    COMMAND_CLASS, CONNECTION_ID, DB, HOST, IP, MYSQL_VERSION, NAME, OS_LOGIN, OS_USER, OS_VERSION, PRIV_USER, PROXY_USER, RECORD, SQLTEXT,
    STARTUP_OPTIONS, STATUS, TIMESTAMP, USER,
};

/// The fields after NAME, RECORD and TIMESTAMP, in the plugin's order.
pub(crate) const START_FIELDS: &[PerconaField] = &[MYSQL_VERSION, STARTUP_OPTIONS, OS_VERSION];
pub(crate) const CONNECTION_FIELDS: &[PerconaField] = &[CONNECTION_ID, STATUS, USER, PRIV_USER, OS_LOGIN, PROXY_USER, HOST, IP, DB];
pub(crate) const STATEMENT_FIELDS: &[PerconaField] = &[COMMAND_CLASS, CONNECTION_ID, STATUS, SQLTEXT, USER, HOST, OS_USER, IP, DB];

impl Layout {
    pub(crate) fn of(kind: Kind) -> Layout {
        match kind {
            Kind::Startup | Kind::Shutdown => Layout::Start,
            Kind::Connect | Kind::ProxyConnect | Kind::Disconnect | Kind::ChangeUser => Layout::Connection,
            _ => Layout::Statement,
        }
    }
    pub(crate) fn fields(self) -> &'static [PerconaField] {
        match self {
            Layout::Start => START_FIELDS,
            Layout::Connection => CONNECTION_FIELDS,
            Layout::Statement => STATEMENT_FIELDS,
        }
    }
}

/// The NAME the Percona plugin would write for this record: Percona records keep theirs; other formats'
/// names map by kind (`FAILED_CONNECT` is a `Connect` with its status), so the recipe's queries
/// (`name = 'Connect' AND status <> 0`) find every format's failed logins.
pub(crate) fn percona_name(rec: &Record) -> &str {
    use crate::record::Format::*;
    if matches!(rec.format().inner(), PerconaOld | PerconaNew | PerconaJson | PerconaCsv) {
        return rec.name();
    }
    match rec.kind() {
        Kind::Startup => "Audit",
        Kind::Shutdown => "NoAudit",
        Kind::Connect => "Connect",
        Kind::Disconnect => "Quit",
        Kind::ChangeUser => "Change user",
        Kind::Query if rec.name() == "QUERY" => "Query",
        _ => rec.name(),
    }
}

/// The value of one Percona field as text (absent fields are empty, as the plugin never omits one).
pub(crate) fn field_text(rec: &Record, value: Value, out: &mut String) {
    match value {
        Value::Text(f) => out.push_str(rec.get(f).unwrap_or("")),
        Value::ConnectionId => {
            if let Some(id) = rec.connection_id() {
                let _ = write!(out, "{id}");
            }
        }
        Value::Status => {
            let _ = write!(out, "{}", rec.status().unwrap_or(0));
        }
    }
}

/// The event time as the plugin writes it since 8.0.15: `2021-06-29T19:34:38Z`.
pub(crate) fn utc_text(rec: &Record) -> String {
    rec.timestamp().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Escapes a string the way the plugin's JSON writer does: `\\`, `\"`, `\/`, `\b \t \n \f \r`, other
/// control characters as `\u00XX` with upper-case hex.
pub(crate) fn escape_json_into(s: &str, out: &mut String) {
    let bytes = s.as_bytes();
    let mut last = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &str = match b {
            b'\\' => "\\\\",
            b'"' => "\\\"",
            b'/' => "\\/",
            0x08 => "\\b",
            b'\t' => "\\t",
            b'\n' => "\\n",
            0x0c => "\\f",
            b'\r' => "\\r",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[last..i]);
        if esc.is_empty() {
            let _ = write!(out, "\\u{:04X}", b);
        } else {
            out.push_str(esc);
        }
        last = i + 1;
    }
    out.push_str(&s[last..]);
}

impl Record {
    /// The record as the Percona audit_log plugin's JSON line (without the newline), in the plugin's key
    /// order and escaping: `{"audit_record":{"name":"Connect","record":"...","timestamp":"...Z",...}}`.
    ///
    /// Records of other formats map onto the plugin's fields (see the crate docs), so a table filled
    /// from any format answers the original recipe's JSON queries. The timestamp is always written in
    /// UTC with a `Z`.
    pub fn to_percona_json(&self) -> String {
        let mut out = String::with_capacity(self.text.len() + 256);
        self.write_percona_json(&mut out, &utc_text(self));
        out
    }

    /// Writes the JSON line with the given timestamp text (writers keep the text as read).
    pub(crate) fn write_percona_json(&self, out: &mut String, timestamp: &str) {
        out.push_str("{\"audit_record\":{");
        for (i, (name, value)) in [(NAME, percona_name(self)), (RECORD, self.record_id().unwrap_or("")), (TIMESTAMP, timestamp)].into_iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('"');
            out.push_str(name.key);
            out.push_str("\":\"");
            escape_json_into(value, out);
            out.push('"');
        }
        let mut value = String::new();
        for f in Layout::of(self.kind()).fields() {
            out.push_str(",\"");
            out.push_str(f.key);
            out.push_str("\":");
            value.clear();
            field_text(self, f.value, &mut value);
            if f.value == Value::Status {
                out.push_str(&value);
            } else {
                out.push('"');
                escape_json_into(&value, out);
                out.push('"');
            }
        }
        out.push_str("}}");
    }
}

/// The event time in RFC 3339, UTC, with `Z`; fractional seconds only when there are any.
pub(crate) fn rfc3339(rec: &Record) -> String {
    if rec.timestamp().subsec_nanosecond() == 0 {
        utc_text(rec)
    } else {
        rec.timestamp().strftime("%Y-%m-%dT%H:%M:%S%.fZ").to_string()
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_the_plugin() {
        let mut out = String::new();
        escape_json_into("a\"b\\c/d\u{8}\t\n\u{c}\r\u{1}\u{1f}é😀", &mut out);
        assert_eq!(out, r#"a\"b\\c\/d\b\t\n\f\r\u0001\u001Fé😀"#);
    }
}
