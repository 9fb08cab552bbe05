//! audit_log_filter / MySQL Enterprise Audit JSON: an array of objects (pretty-printed over many lines,
//! or one object a line followed by a comma), or JSONL. The closing `]` is absent while the file is
//! open. Fields nest by class; see the reference's table. Nested keys that no slot names are kept as
//! extras with `.`-joined paths (`connection_data.connection_attributes._pid`).

use memchr::memchr;

use super::json::{frame_object, int_text, Cursor, Frame, JVal};
use crate::parser::{FormatParser, ParseOptions, Step};
use crate::record::{Field, Format, Kind, Record};
use crate::time::parse_timestamp;

#[derive(Debug)]
pub(crate) struct FilterJsonParser {
    opts: ParseOptions,
}

impl FilterJsonParser {
    pub(crate) fn new(opts: ParseOptions) -> Self {
        FilterJsonParser { opts }
    }
}

impl FormatParser for FilterJsonParser {
    fn format(&self) -> Format {
        Format::FilterJson
    }

    fn step(&mut self, buf: &[u8]) -> Step {
        // Array punctuation between records is not part of any record.
        let skip = buf.iter().take_while(|b| b.is_ascii_whitespace() || matches!(b, b'[' | b']' | b',')).count();
        if skip > 0 {
            return Step::Skip(skip);
        }
        if buf[0] != b'{' {
            return match memchr(b'\n', buf) {
                Some(nl) => Step::Malformed { len: nl + 1, reason: "expected a JSON object".into() },
                None => Step::NeedMore,
            };
        }
        // A broken record (unbalanced quotes) must not swallow the records after it: the servers never
        // interleave records, so a new record's start inside this one's frame ends it.
        // Whether the frame completed or not, what is cut at the next record start is judged on the
        // same bytes, so the outcome does not depend on how the input was buffered.
        let cut_at = |at: usize| match parse_record(&buf[..at], &self.opts) {
            Ok(record) => Step::Record { len: at, record },
            Err(reason) => Step::Malformed { len: at, reason: format!("{reason} (record cut at the next record: unbalanced quotes or braces)") },
        };
        match frame_object(buf) {
            Frame::Incomplete => match next_record_start(buf) {
                Some(at) => cut_at(at),
                None => Step::NeedMore,
            },
            Frame::Complete(len) => match parse_record(&buf[..len], &self.opts) {
                Ok(record) => Step::Record { len, record },
                Err(reason) => match next_record_start(&buf[..len]) {
                    Some(at) => cut_at(at),
                    None => Step::Malformed { len, reason },
                },
            },
        }
    }

    fn resync(&self, buf: &[u8]) -> Option<usize> {
        next_record_start(buf)
    }
}

/// The offset (>= 1) of the next line that starts a record: `{` then `"timestamp"`, white space
/// (newlines too) allowed between them.
fn next_record_start(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(nl) = memchr(b'\n', &buf[i..]) {
        i += nl + 1;
        let ws = buf[i..].iter().take_while(|b| b.is_ascii_whitespace() && **b != b'\n').count();
        let at = i + ws;
        if buf.get(at) == Some(&b'{') {
            let rest = &buf[at + 1..];
            let ws2 = rest.iter().take_while(|b| b.is_ascii_whitespace()).count();
            if rest[ws2..].starts_with(b"\"timestamp\"") {
                return Some(at);
            }
        }
    }
    None
}

/// Parses one record object.
pub(crate) fn parse_record(bytes: &[u8], opts: &ParseOptions) -> Result<Record, String> {
    let mut c = Cursor::new(bytes);
    let value = c.value(0)?;
    c.end()?;
    let JVal::Obj(members) = value else { return Err("expected a JSON object".into()) };
    // Leaf paths (`connection_data.status`) live in one arena string, built with one scratch buffer.
    let mut arena = String::with_capacity(256);
    let mut ranges = Vec::with_capacity(24);
    let mut scratch = String::with_capacity(64);
    for (k, v) in &members {
        scratch.clear();
        scratch.push_str(k);
        flatten(&mut scratch, v, &mut arena, &mut ranges);
    }
    let flat = ranges.iter().map(|&(start, end, v)| (&arena[start..end], v));
    let mut b = Record::builder(Format::FilterJson);
    let (mut class, mut event) = (None, None);
    let mut args = Vec::new();
    for (path, v) in flat {
        let text = v.to_text();
        let field = match path {
            "timestamp" => Some(Field::TimestampText),
            "id" => Some(Field::RecordId),
            "class" => {
                class = Some(text.to_string());
                b.extra("class", text.as_ref());
                None
            }
            "event" => {
                event = Some(text.to_string());
                None
            }
            "connection_id" => {
                b.connection_id(int_text(path, &text)?);
                None
            }
            "connection_data.status" | "general_data.status" | "query_data.status" | "command_data.status" | "status" => {
                b.status(int_text(path, &text)?);
                None
            }
            "login.user" => Some(Field::User),
            "account.user" => Some(Field::PrivUser),
            "account.host" => Some(Field::Host),
            "login.os" => Some(Field::OsUser),
            "login.ip" => Some(Field::Ip),
            "login.proxy" => Some(Field::ProxyUser),
            "connection_data.connection_type" => Some(Field::ConnectionType),
            "connection_data.db" | "table_access_data.db" => Some(Field::Db),
            "general_data.sql_command" | "query_data.sql_command" | "table_access_data.sql_command" => Some(Field::CommandClass),
            "general_data.query" | "query_data.query" | "table_access_data.query" => Some(Field::SqlText),
            "server_id" | "startup_data.server_id" | "shutdown_data.server_id" => Some(Field::ServerId),
            "startup_data.os_version" => Some(Field::OsVersion),
            "startup_data.mysql_version" => Some(Field::MysqlVersion),
            p if p.starts_with("startup_data.args[") => {
                args.push(text.to_string());
                None
            }
            _ => {
                b.extra(path, text.as_ref());
                None
            }
        };
        if let Some(f) = field {
            b.set(f, &text);
        }
    }
    if !args.is_empty() {
        b.set(Field::StartupOptions, &args.join(" "));
    }
    let class = class.ok_or("record has no \"class\"")?;
    let name = event.clone().unwrap_or_else(|| class.clone());
    b.set(Field::Name, &name);
    b.kind(kind_of(&class, event.as_deref()));
    let text = b.get(Field::TimestampText).ok_or("record has no \"timestamp\"")?;
    let ts = parse_timestamp(text, &opts.time_zone)?;
    b.timestamp(ts);
    Ok(b.build())
}

fn kind_of(class: &str, event: Option<&str>) -> Kind {
    match (class, event) {
        ("audit", Some("shutdown" | "noaudit")) => Kind::Shutdown,
        // Percona's component writes a class-only `audit` record when it opens a file.
        ("audit", Some("startup") | None) => Kind::Startup,
        // Other events of the class are not the server starting: keep their own name, kind other.
        ("audit", Some(_)) => Kind::Other,
        ("connection", Some("connect")) => Kind::Connect,
        ("connection", Some("change_user")) => Kind::ChangeUser,
        ("connection", Some("disconnect")) => Kind::Disconnect,
        ("general" | "query" | "command", _) => Kind::Query,
        ("table_access", _) => Kind::TableAccess,
        _ => Kind::Other,
    }
}

/// Walks `v` under the path in `path` (restored on return), appending each leaf's path to `arena`.
fn flatten<'v, 'a>(path: &mut String, v: &'v JVal<'a>, arena: &mut String, out: &mut Vec<(usize, usize, &'v JVal<'a>)>) {
    let len = path.len();
    match v {
        JVal::Obj(members) if !members.is_empty() => {
            for (k, child) in members {
                path.push('.');
                path.push_str(k);
                flatten(path, child, arena, out);
                path.truncate(len);
            }
        }
        JVal::Arr(items) if !items.is_empty() => {
            for (i, child) in items.iter().enumerate() {
                use std::fmt::Write as _;
                let _ = write!(path, "[{i}]");
                flatten(path, child, arena, out);
                path.truncate(len);
            }
        }
        _ => {
            let start = arena.len();
            arena.push_str(path);
            out.push((start, arena.len(), v));
        }
    }
}
