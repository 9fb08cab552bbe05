//! Percona audit_log `JSON` format: one `{"audit_record":{...}}` object a line.
//!
//! Parsed by a typed scan straight into the record (no intermediate value tree). Accepts the plugin's
//! quirks: `connection_id` as a string, `\/`, raw control characters from old versions, the misspelled
//! `startup_optionsi`, and the never-escaped `Audit` record whose startup options may hold a `"`.

use memchr::{memchr, memmem};

use super::json::{frame_object, int_text, Cursor, Frame};
use crate::parser::{FormatParser, ParseOptions, Step};
use crate::record::{Field, Format, Record, RecordBuilder};
use crate::time::parse_timestamp;

const RECORD_START: &[u8] = b"{\"audit_record\":";

#[derive(Debug)]
pub(crate) struct PerconaJsonParser {
    opts: ParseOptions,
    /// Finds the start of the next record line, to keep one broken record from swallowing others.
    next_start: memmem::Finder<'static>,
}

impl PerconaJsonParser {
    pub(crate) fn new(opts: ParseOptions) -> Self {
        PerconaJsonParser { opts, next_start: memmem::Finder::new(b"\n{\"audit_record\":") }
    }

    fn parse(&self, bytes: &[u8]) -> Result<Record, String> {
        match parse_record(bytes, &self.opts) {
            Ok(r) => Ok(r),
            Err(e) => match repair_start_record(bytes) {
                Some(fixed) => parse_record(&fixed, &self.opts).map_err(|_| e),
                None => Err(e),
            },
        }
    }
}

fn is_start_record(buf: &[u8]) -> bool {
    let rest = &buf[RECORD_START.len().min(buf.len())..];
    rest.starts_with(b"{\"name\":\"Audit\"") || rest.starts_with(b"{\"name\":\"NoAudit\"")
}

impl FormatParser for PerconaJsonParser {
    fn format(&self) -> Format {
        Format::PerconaJson
    }

    fn step(&mut self, buf: &[u8]) -> Step {
        let ws = buf.iter().take_while(|b| b.is_ascii_whitespace()).count();
        if ws > 0 {
            return Step::Skip(ws);
        }
        if buf[0] != b'{' {
            // Not a record: skip to the next line.
            return match memchr(b'\n', buf) {
                Some(nl) => Step::Malformed { len: nl + 1, reason: "expected a JSON object".into() },
                None => Step::NeedMore,
            };
        }
        if buf.len() < RECORD_START.len() + 20 && memchr(b'\n', buf).is_none() {
            return Step::NeedMore;
        }
        // The start record is never escaped: frame it by its line, not by its (maybe broken) quotes.
        if buf.starts_with(RECORD_START) && is_start_record(buf) {
            let Some(nl) = memchr(b'\n', buf) else { return Step::NeedMore };
            let len = buf[..nl].iter().rposition(|&b| b == b'}').map_or(nl, |i| i + 1);
            return match self.parse(&buf[..len]) {
                Ok(record) => Step::Record { len, record },
                Err(reason) => Step::Malformed { len: nl + 1, reason },
            };
        }
        // The common case in one pass: a well-formed record of the plugin's flat shape.
        if let Some((record, len)) = parse_fast(buf, &self.opts) {
            return Step::Record { len, record };
        }
        let frame = frame_object(buf);
        let limit = match frame {
            Frame::Complete(n) => n,
            Frame::Incomplete => buf.len(),
        };
        // A record never spans a line that starts another record (quotes gone wrong in old versions).
        if memchr(b'\n', &buf[..limit]).is_some() {
            if let Some(at) = self.next_start.find(&buf[..limit]) {
                return Step::Malformed { len: at + 1, reason: "record interrupted by the next record (unbalanced quotes or braces)".into() };
            }
        }
        match frame {
            Frame::Incomplete => Step::NeedMore,
            Frame::Complete(len) => match self.parse(&buf[..len]) {
                Ok(record) => Step::Record { len, record },
                Err(reason) => Step::Malformed { len, reason },
            },
        }
    }

    fn resync(&self, buf: &[u8]) -> Option<usize> {
        self.next_start.find(&buf[1.min(buf.len())..]).map(|i| i + 2)
    }
}

/// Parses one `{"audit_record":{...}}` object.
pub(crate) fn parse_record(bytes: &[u8], opts: &ParseOptions) -> Result<Record, String> {
    let mut c = Cursor::new(bytes);
    c.expect(b'{')?;
    let key = c.string()?;
    if key != "audit_record" {
        return Err(format!("expected the key \"audit_record\", found {key:?}"));
    }
    c.expect(b':')?;
    c.expect(b'{')?;
    let mut b = Record::builder(Format::PerconaJson);
    c.ws();
    if c.peek() == Some(b'}') {
        c.pos += 1;
    } else {
        loop {
            let key = c.string()?;
            c.expect(b':')?;
            member(&mut c, &key, &mut b)?;
            c.ws();
            match c.peek() {
                Some(b',') => c.pos += 1,
                Some(b'}') => {
                    c.pos += 1;
                    break;
                }
                _ => return Err(c.err("expected ',' or '}'")),
            }
        }
    }
    c.expect(b'}')?;
    c.end()?;
    finish(b, opts)
}

fn member(c: &mut Cursor<'_>, key: &str, b: &mut RecordBuilder) -> Result<(), String> {
    let field = match key {
        "name" => Field::Name,
        "record" => Field::RecordId,
        "timestamp" => Field::TimestampText,
        "command_class" => Field::CommandClass,
        "sqltext" => Field::SqlText,
        "user" => Field::User,
        "priv_user" => Field::PrivUser,
        "os_login" | "os_user" => Field::OsUser,
        "proxy_user" => Field::ProxyUser,
        "host" => Field::Host,
        "ip" => Field::Ip,
        "db" => Field::Db,
        "mysql_version" => Field::MysqlVersion,
        "startup_optionsi" | "startup_options" => Field::StartupOptions,
        "os_version" => Field::OsVersion,
        "connection_type" => Field::ConnectionType,
        "server_id" => Field::ServerId,
        "connection_id" | "status" => {
            let v = c.value(0)?;
            let text = v.to_text();
            if key == "status" {
                b.status(int_text(key, &text)?);
            } else {
                b.connection_id(int_text(key, &text)?);
            }
            return Ok(());
        }
        _ => {
            let v = c.value(0)?;
            b.extra(key, v.to_text().into_owned());
            return Ok(());
        }
    };
    c.ws();
    if c.peek() == Some(b'"') {
        b.set_with(field, |out| c.string_into(out))?;
    } else {
        let v = c.value(0)?;
        b.set(field, &v.to_text());
    }
    Ok(())
}

fn finish(mut b: RecordBuilder, opts: &ParseOptions) -> Result<Record, String> {
    if !b.has(Field::Name) {
        return Err("record has no name".into());
    }
    let text = b.get(Field::TimestampText).ok_or("record has no timestamp")?;
    let ts = parse_timestamp(text, &opts.time_zone)?;
    b.timestamp(ts);
    Ok(b.build())
}

/// Escapes the `"` and `\` the plugin left raw inside an `Audit` record's startup options, so the line
/// parses. `None` when the line is not such a record.
fn repair_start_record(bytes: &[u8]) -> Option<Vec<u8>> {
    if !is_start_record(bytes) {
        return None;
    }
    let key = memmem::find(bytes, b"\"startup_optionsi\":\"").map(|i| i + 20)
        .or_else(|| memmem::find(bytes, b"\"startup_options\":\"").map(|i| i + 19))?;
    let end = memmem::rfind(&bytes[key..], b"\",\"os_version\":\"")? + key;
    let mut fixed = Vec::with_capacity(bytes.len() + 16);
    fixed.extend_from_slice(&bytes[..key]);
    for &ch in &bytes[key..end] {
        if ch == b'"' || ch == b'\\' {
            fixed.push(b'\\');
        }
        fixed.push(ch);
    }
    fixed.extend_from_slice(&bytes[end..]);
    Some(fixed)
}

/// One pass over a well-formed record of the plugin's shape (`{"audit_record":{` string or number
/// members `}}`), straight into the record; `None` for anything else (incomplete, nested values,
/// escaped keys, errors), which the general path then handles and explains.
fn parse_fast(buf: &[u8], opts: &ParseOptions) -> Option<(Record, usize)> {
    let rest = buf.strip_prefix(RECORD_START)?.strip_prefix(b"{")?;
    let mut c = Cursor::new(buf);
    c.pos = buf.len() - rest.len();
    let mut b = Record::builder_with_capacity(Format::PerconaJson, buf.len().min(4096));
    loop {
        if c.peek()? != b'"' {
            return None;
        }
        let key_start = c.pos + 1;
        let key_len = memchr::memchr2(b'"', b'\\', &buf[key_start..])?;
        if buf[key_start + key_len] != b'"' {
            return None;
        }
        let key = &buf[key_start..key_start + key_len];
        c.pos = key_start + key_len + 1;
        if c.peek()? != b':' {
            return None;
        }
        c.pos += 1;
        match c.peek()? {
            b'"' => {
                let field = match key {
                    b"name" => Field::Name,
                    b"record" => Field::RecordId,
                    b"timestamp" => Field::TimestampText,
                    b"command_class" => Field::CommandClass,
                    b"sqltext" => Field::SqlText,
                    b"user" => Field::User,
                    b"priv_user" => Field::PrivUser,
                    b"os_login" | b"os_user" => Field::OsUser,
                    b"proxy_user" => Field::ProxyUser,
                    b"host" => Field::Host,
                    b"ip" => Field::Ip,
                    b"db" => Field::Db,
                    b"mysql_version" => Field::MysqlVersion,
                    b"startup_optionsi" | b"startup_options" => Field::StartupOptions,
                    b"os_version" => Field::OsVersion,
                    b"connection_type" => Field::ConnectionType,
                    b"server_id" => Field::ServerId,
                    b"connection_id" => {
                        // Digits between quotes; anything else takes the general path.
                        let start = c.pos + 1;
                        let n = memchr::memchr(b'"', &buf[start..])?;
                        let digits = &buf[start..start + n];
                        let id = if digits.is_empty() { None } else { Some(super::num::parse_u64(digits)?) };
                        b.connection_id(id);
                        c.pos = start + n + 1;
                        if !next_member(&mut c)? {
                            break;
                        }
                        continue;
                    }
                    _ => return None,
                };
                b.set_with(field, |out| c.string_into(out)).ok()?;
            }
            b'-' | b'0'..=b'9' => {
                let n = c.number().ok()?;
                match key {
                    b"status" => b.status(Some(n.parse().ok()?)),
                    b"connection_id" => b.connection_id(Some(n.parse().ok()?)),
                    _ => return None,
                };
            }
            _ => return None,
        }
        if !next_member(&mut c)? {
            break;
        }
    }
    // `}}` closes the record.
    if c.peek()? != b'}' {
        return None;
    }
    c.pos += 1;
    let len = c.pos;
    finish(b, opts).ok().map(|r| (r, len))
}

/// After a member: `,` (another follows: true) or `}` (the inner object ends: false).
fn next_member(c: &mut Cursor<'_>) -> Option<bool> {
    let more = match c.peek()? {
        b',' => true,
        b'}' => false,
        _ => return None,
    };
    c.pos += 1;
    Some(more)
}
