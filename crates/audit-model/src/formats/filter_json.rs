//! audit_log_filter / MySQL Enterprise Audit JSON: an array of objects (pretty-printed over many lines,
//! or one object a line followed by a comma), or JSONL. The closing `]` is absent while the file is
//! open. Fields nest by class; see the reference's table. Nested keys that no slot names are kept as
//! extras with `.`-joined paths (`connection_data.connection_attributes._pid`).

use memchr::memchr;

use super::json::{frame_object, int_text, Cursor, Frame};
use crate::parser::{FormatParser, ParseOptions, Step};
use crate::record::{Field, Format, Kind, Record, RecordBuilder};
use crate::time::parse_timestamp;

#[derive(Debug)]
pub(crate) struct FilterJsonParser {
    opts: ParseOptions,
    scratch: Scratch,
}

impl FilterJsonParser {
    pub(crate) fn new(opts: ParseOptions) -> Self {
        FilterJsonParser { opts, scratch: Scratch::default() }
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
        // The common case in one pass: a well-formed record parses straight off the front of the
        // buffer. It ends where framing would end it, so the outcome is the same as framing first.
        if let Ok((record, len)) = parse_front(buf, &self.opts, &mut self.scratch, false) {
            return Step::Record { len, record };
        }
        // A broken record (unbalanced quotes) must not swallow the records after it: the servers never
        // interleave records, so a new record's start inside this one's frame ends it.
        // Whether the frame completed or not, what is cut at the next record start is judged on the
        // same bytes, so the outcome does not depend on how the input was buffered.
        let (opts, scratch) = (&self.opts, &mut self.scratch);
        match frame_object(buf) {
            Frame::Incomplete => match next_record_start(buf) {
                Some(at) => cut_at(buf, at, opts, scratch),
                None => Step::NeedMore,
            },
            Frame::Complete(len) => match parse_record(&buf[..len], opts, scratch) {
                Ok(record) => Step::Record { len, record },
                Err(reason) => match next_record_start(&buf[..len]) {
                    Some(at) => cut_at(buf, at, opts, scratch),
                    None => Step::Malformed { len, reason },
                },
            },
        }
    }

    fn resync(&self, buf: &[u8]) -> Option<usize> {
        next_record_start(buf)
    }
}

/// The record cut at `at`, where the next record starts.
fn cut_at(buf: &[u8], at: usize, opts: &ParseOptions, scratch: &mut Scratch) -> Step {
    match parse_record(&buf[..at], opts, scratch) {
        Ok(record) => Step::Record { len: at, record },
        Err(reason) => Step::Malformed { len: at, reason: format!("{reason} (record cut at the next record: unbalanced quotes or braces)") },
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

/// Buffers one record's parse reuses, so a record costs no allocation beyond its own.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// The leaf path being walked (`connection_data.status`).
    path: String,
    /// An escaped string's unescaped text.
    text: String,
    class: Option<String>,
    event: Option<String>,
    args: Vec<String>,
}

/// What the leaves of a record set, as the walk meets them.
struct Leaves<'s> {
    b: RecordBuilder,
    class: &'s mut Option<String>,
    event: &'s mut Option<String>,
    args: &'s mut Vec<String>,
    /// The first leaf that did not fit its field: reported once the whole object has parsed, as
    /// structure errors come first.
    error: Option<String>,
}

impl Leaves<'_> {
    fn leaf(&mut self, path: &str, text: &str) {
        let b = &mut self.b;
        let field = match path {
            "timestamp" => Field::TimestampText,
            "id" => Field::RecordId,
            "class" => {
                let class = self.class.get_or_insert_with(String::new);
                class.clear();
                class.push_str(text);
                b.extra("class", text);
                return;
            }
            "event" => {
                let event = self.event.get_or_insert_with(String::new);
                event.clear();
                event.push_str(text);
                return;
            }
            "connection_id" => {
                match int_text(path, text) {
                    Ok(id) => {
                        b.connection_id(id);
                    }
                    Err(e) => {
                        self.error.get_or_insert(e);
                    }
                }
                return;
            }
            "connection_data.status" | "general_data.status" | "query_data.status" | "command_data.status" | "status" => {
                match int_text(path, text) {
                    Ok(st) => {
                        b.status(st);
                    }
                    Err(e) => {
                        self.error.get_or_insert(e);
                    }
                }
                return;
            }
            "login.user" => Field::User,
            "account.user" => Field::PrivUser,
            "account.host" => Field::Host,
            "login.os" => Field::OsUser,
            "login.ip" => Field::Ip,
            "login.proxy" => Field::ProxyUser,
            "connection_data.connection_type" => Field::ConnectionType,
            "connection_data.db" | "table_access_data.db" => Field::Db,
            "general_data.sql_command" | "query_data.sql_command" | "table_access_data.sql_command" => Field::CommandClass,
            "general_data.query" | "query_data.query" | "table_access_data.query" => Field::SqlText,
            "server_id" | "startup_data.server_id" | "shutdown_data.server_id" => Field::ServerId,
            "startup_data.os_version" => Field::OsVersion,
            "startup_data.mysql_version" => Field::MysqlVersion,
            p if p.starts_with("startup_data.args[") => {
                self.args.push(text.to_string());
                return;
            }
            _ => {
                b.extra(path, text);
                return;
            }
        };
        b.set(field, text);
    }
}

/// Parses the record object at the front of `bytes` in one pass (no value tree): the record and the
/// object's length. Only white space may follow it when `whole` is set.
pub(crate) fn parse_front(bytes: &[u8], opts: &ParseOptions, scratch: &mut Scratch, whole: bool) -> Result<(Record, usize), String> {
    let mut c = Cursor::new(bytes);
    let Scratch { path, text, class, event, args } = scratch;
    path.clear();
    *class = None;
    *event = None;
    args.clear();
    c.ws();
    if c.peek() != Some(b'{') {
        c.value(0)?;
        c.end()?;
        return Err("expected a JSON object".into());
    }
    let mut leaves = Leaves { b: Record::builder_with_capacity(Format::FilterJson, 256), class, event, args, error: None };
    c.walk(0, path, true, text, &mut |p, t| leaves.leaf(p, t))?;
    let len = c.pos;
    if whole {
        c.end()?;
    }
    let Leaves { mut b, class, event, args, error } = leaves;
    if let Some(e) = error {
        return Err(e);
    }
    if !args.is_empty() {
        b.set(Field::StartupOptions, &args.join(" "));
    }
    let class = class.as_deref().ok_or("record has no \"class\"")?;
    b.set(Field::Name, event.as_deref().unwrap_or(class));
    b.kind(kind_of(class, event.as_deref()));
    let text = b.get(Field::TimestampText).ok_or("record has no \"timestamp\"")?;
    let ts = parse_timestamp(text, &opts.time_zone)?;
    b.timestamp(ts);
    Ok((b.build(), len))
}

/// Parses one record object, all of `bytes`.
pub(crate) fn parse_record(bytes: &[u8], opts: &ParseOptions, scratch: &mut Scratch) -> Result<Record, String> {
    parse_front(bytes, opts, scratch, true).map(|(r, _)| r)
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
