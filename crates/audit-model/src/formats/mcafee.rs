//! The McAfee / Trellix `mysql-audit` plugin's JSON (github.com/trellix-enterprise/mysql-audit,
//! `Audit_json_formatter` in `src/audit_handler.cc`): one object a line, written by yajl.
//!
//! `"msg-type":"activity"` records carry `date` (epoch milliseconds), `thread-id`, `query-id`,
//! `user`, `priv_user`, `ip`, `host`, `os_user`, `cmd`, `objects`, `query`, `status`, `rows`, ...; every
//! number is written as a string. `"msg-type":"header"` is written when the plugin opens its log
//! (`audit-version`, `hostname`, `mysql-version`, `mysql-port`, `server_pid`, ...): kind `startup`.
//!
//! Logins: a successful one is `cmd` `Connect`; a failed one is `cmd` `Failed Login` with `status` the
//! error number (1045 access denied, 1698, 3118 locked account: `audit_plugin.cc` builds it from the
//! general class's error event); `Quit` ends a session and `Change user` is `COM_CHANGE_USER`. Other
//! `cmd` values are the server's statement names (`select`, `insert`, `show_databases`, `Init DB`),
//! which go to `command_class` as in Percona's formats.

use memchr::memchr;

use super::json::{int_text, Cursor, JVal};
use crate::parser::{FormatParser, Step};
use crate::record::{Field, Format, Kind, Record};

/// Its timestamps are UTC instants: no option applies.
#[derive(Debug, Default)]
pub(crate) struct McAfeeParser;

impl FormatParser for McAfeeParser {
    fn format(&self) -> Format {
        Format::McAfeeJson
    }

    fn step(&mut self, buf: &[u8]) -> Step {
        super::line_step(buf, parse_record)
    }

    fn resync(&self, buf: &[u8]) -> Option<usize> {
        memchr(b'\n', buf).map(|i| i + 1)
    }
}

fn parse_record(line: &[u8]) -> Result<Record, String> {
    let mut c = Cursor::new(line);
    let value = c.value(0)?;
    c.end()?;
    let JVal::Obj(members) = value else { return Err("expected a JSON object".into()) };
    let mut b = Record::builder(Format::McAfeeJson);
    let (mut msg_type, mut cmd, mut date) = (None, None, None);
    for (key, v) in &members {
        let text = v.to_text();
        let field = match key.as_ref() {
            "msg-type" => {
                msg_type = Some(text.to_string());
                None
            }
            "date" => {
                date = Some(text.to_string());
                Some(Field::TimestampText)
            }
            "cmd" => {
                cmd = Some(text.to_string());
                None
            }
            "thread-id" => {
                b.connection_id(int_text(key, &text)?);
                None
            }
            "status" => {
                b.status(int_text(key, &text)?);
                None
            }
            "user" => Some(Field::User),
            "priv_user" => Some(Field::PrivUser),
            "os_user" => Some(Field::OsUser),
            "host" => Some(Field::Host),
            "ip" => Some(Field::Ip),
            "query" => Some(Field::SqlText),
            "mysql-version" => Some(Field::MysqlVersion),
            _ => {
                flatten(key, v, &mut |k, v| {
                    b.extra(k, v);
                });
                None
            }
        };
        if let Some(f) = field {
            b.set(f, &text);
        }
    }
    let date = date.ok_or("record has no \"date\"")?;
    let millis: i64 = date.parse().map_err(|_| format!("invalid date {date:?} (epoch milliseconds expected)"))?;
    b.timestamp(jiff::Timestamp::from_millisecond(millis).map_err(|e| format!("invalid date {date:?}: {e}"))?);
    match msg_type.as_deref() {
        Some("header") => {
            b.set(Field::Name, "header").kind(Kind::Startup);
        }
        Some("activity") => {
            let cmd = cmd.ok_or("activity record has no \"cmd\"")?;
            let kind = match Record::classify(&cmd) {
                k @ (Kind::Connect | Kind::Disconnect | Kind::ChangeUser) => k,
                _ => {
                    b.set(Field::CommandClass, &cmd);
                    Kind::Query
                }
            };
            b.set(Field::Name, &cmd).kind(kind);
        }
        Some(other) => {
            b.set(Field::Name, other).kind(Kind::Other);
            if let Some(cmd) = cmd {
                b.extra("cmd", cmd);
            }
        }
        None => return Err("record has no \"msg-type\"".into()),
    }
    Ok(b.build())
}

/// Nested values (`objects`, `connect_attrs`) as `.`-joined paths, arrays indexed: `objects[0].name`.
fn flatten(path: &str, v: &JVal<'_>, out: &mut impl FnMut(String, String)) {
    match v {
        JVal::Obj(members) if !members.is_empty() => {
            for (k, child) in members {
                flatten(&format!("{path}.{k}"), child, out);
            }
        }
        JVal::Arr(items) if !items.is_empty() => {
            for (i, child) in items.iter().enumerate() {
                flatten(&format!("{path}[{i}]"), child, out);
            }
        }
        _ => out(path.to_string(), v.to_text().into_owned()),
    }
}
