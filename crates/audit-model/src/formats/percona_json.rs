//! Percona audit_log `JSON` format: one `{"audit_record":{...}}` object a line.
//!
//! Parsed by a typed scan straight into the record (no intermediate value tree). Accepts the plugin's
//! quirks: `connection_id` as a string, `\/`, raw control characters from old versions, the misspelled
//! `startup_optionsi`, and the never-escaped `Audit` record whose startup options may hold a `"`.

use memchr::{memchr, memmem};

use super::json::{frame_object, int_text, Cursor, Frame};
use crate::parser::{FormatParser, ParseOptions, Step};
use crate::names::{self, Value};
use crate::record::{Field, Format, Record, RecordBuilder};
use crate::time::parse_timestamp;

const RECORD_START: &[u8] = b"{\"audit_record\":";

#[derive(Debug)]
pub(crate) struct PerconaJsonParser {
    opts: ParseOptions,
    /// Scratch for the fast path's escaped values (reused: no allocation a record).
    escaped: Vec<Span>,
    /// Finds the start of the next record line, to keep one broken record from swallowing others.
    next_start: memmem::Finder<'static>,
}

impl PerconaJsonParser {
    pub(crate) fn new(opts: ParseOptions) -> Self {
        PerconaJsonParser { opts, escaped: Vec::with_capacity(4), next_start: memmem::Finder::new(b"\n{\"audit_record\":") }
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
        if let Some((record, len)) = parse_fast(buf, &self.opts, &mut self.escaped) {
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
    let field = match names::by_key(key.as_bytes()) {
        Some(Value::Text(field)) => field,
        Some(number) => {
            let v = c.value(0)?;
            let text = v.to_text();
            if number == Value::Status {
                b.status(int_text(key, &text)?);
            } else {
                b.connection_id(int_text(key, &text)?);
            }
            return Ok(());
        }
        None => {
            let v = c.value(0)?;
            b.extra(key, v.to_text());
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

#[inline]
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

/// Where one string member's value lies in the record, and its field.
#[derive(Debug, Clone, Copy)]
struct Span {
    field: Field,
    /// The value's bytes, between its quotes.
    start: usize,
    end: usize,
    /// Whether it holds a `\` escape.
    escaped: bool,
}

/// What a member's key is to the fast path: the field table's value.
type Key = Value;

/// The key whose text starts at `buf[at]` (the byte after its opening quote) and the offset just past
/// its closing quote; `None` for a key the fast path leaves to the general one. The plugin's keys are
/// few and fixed: they are told apart by their first byte and compared whole with their quote, with no
/// search for the quote. A hand-made copy of the keys of [`names`] for speed (a lookup there costs 12%
/// more instructions a byte): the test below holds it to that table.
fn key_at(buf: &[u8], at: usize) -> Option<(Key, usize)> {
    let rest = buf.get(at..)?;
    // Literal patterns, so each comparison is a few word compares rather than a call.
    macro_rules! first {
        ($($pat:literal => $key:expr),+) => {{
            $(if rest.starts_with($pat) { return Some(($key, at + $pat.len())); })+
            None
        }};
    }
    match rest.first()? {
        b'n' => first!(b"name\"" => Key::Text(Field::Name)),
        b'r' => first!(b"record\"" => Key::Text(Field::RecordId)),
        b't' => first!(b"timestamp\"" => Key::Text(Field::TimestampText)),
        b'c' => first!(
            b"command_class\"" => Key::Text(Field::CommandClass),
            b"connection_id\"" => Key::ConnectionId,
            b"connection_type\"" => Key::Text(Field::ConnectionType)
        ),
        b's' => first!(
            b"status\"" => Key::Status,
            b"sqltext\"" => Key::Text(Field::SqlText),
            b"server_id\"" => Key::Text(Field::ServerId),
            b"startup_optionsi\"" => Key::Text(Field::StartupOptions),
            b"startup_options\"" => Key::Text(Field::StartupOptions)
        ),
        b'u' => first!(b"user\"" => Key::Text(Field::User)),
        b'p' => first!(b"priv_user\"" => Key::Text(Field::PrivUser), b"proxy_user\"" => Key::Text(Field::ProxyUser)),
        b'o' => first!(
            b"os_login\"" => Key::Text(Field::OsUser),
            b"os_user\"" => Key::Text(Field::OsUser),
            b"os_version\"" => Key::Text(Field::OsVersion)
        ),
        b'h' => first!(b"host\"" => Key::Text(Field::Host)),
        b'i' => first!(b"ip\"" => Key::Text(Field::Ip)),
        b'd' => first!(b"db\"" => Key::Text(Field::Db)),
        b'm' => first!(b"mysql_version\"" => Key::Text(Field::MysqlVersion)),
        _ => None,
    }
}

/// The closing quote of the string whose text starts at `from`, and whether an escape came first.
fn string_end(buf: &[u8], from: usize) -> Option<(usize, bool)> {
    let mut i = from;
    let mut escaped = false;
    loop {
        i += memchr::memchr2(b'"', b'\\', buf.get(i..)?)?;
        if buf[i] == b'"' {
            return Some((i, escaped));
        }
        escaped = true;
        // The escaped byte cannot close the string.
        i += 2;
    }
}

/// One pass over a well-formed record of the plugin's shape (`{"audit_record":{` string or number
/// members `}}`), straight into the record; `None` for anything else (incomplete, nested values,
/// escaped keys, errors), which the general path then handles and explains.
///
/// The scan only finds where the values lie (memchr from quote to quote) and makes each field a range
/// of the record's bytes; then those bytes are checked as UTF-8 once and copied into the record's text
/// in one piece: no copy a field, one allocation a record. Escaped values are unescaped after that
/// copy. A record with invalid UTF-8 or a key twice is built value by value in input order instead, as
/// the general path would.
fn parse_fast(buf: &[u8], opts: &ParseOptions, escaped: &mut Vec<Span>) -> Option<(Record, usize)> {
    let mut b = Record::builder(Format::PerconaJson);
    escaped.clear();
    let mut seen = 0u32;
    let mut repeated = false;
    let (len, connection_id, status) = scan(buf, |s| {
        let bit = 1u32 << s.field as u32;
        repeated |= seen & bit != 0;
        seen |= bit;
        if s.escaped {
            escaped.push(s);
        } else {
            b.set_range(s.field, s.start, s.end - s.start);
        }
    })?;
    let bytes = &buf[..len];
    let b = match std::str::from_utf8(bytes) {
        Ok(text) if !repeated => {
            let unescaped: usize = escaped.iter().map(|s| s.end - s.start).sum();
            let mut owned = String::with_capacity(len + unescaped);
            owned.push_str(text);
            b.text(owned);
            for s in escaped.iter() {
                let mut c = Cursor::new(bytes);
                c.pos = s.start - 1;
                b.set_with(s.field, |out| c.string_into_valid(out, text)).ok()?;
            }
            b
        }
        valid => {
            let mut b = Record::builder_with_capacity(Format::PerconaJson, len);
            let mut failed = false;
            scan(buf, |s| {
                let mut c = Cursor::new(bytes);
                c.pos = s.start - 1;
                let set = match valid {
                    Ok(text) => b.set_with(s.field, |out| c.string_into_valid(out, text)),
                    // Invalid UTF-8 (binary SQL text): each value replaced on its own.
                    Err(_) => b.set_with(s.field, |out| c.string_into(out)),
                };
                failed |= set.is_err();
            })?;
            if failed {
                return None;
            }
            b
        }
    };
    let mut b = b;
    b.connection_id(connection_id).status(status);
    finish(b, opts).ok().map(|r| (r, len))
}

/// The scan of [`parse_fast`]: every string member's span to `string` in input order; the record's
/// length, connection id and status.
#[inline(always)]
fn scan(buf: &[u8], mut string: impl FnMut(Span)) -> Option<(usize, Option<u64>, Option<i64>)> {
    if !buf.starts_with(RECORD_START) || buf.get(RECORD_START.len()) != Some(&b'{') {
        return None;
    }
    let mut pos = RECORD_START.len() + 1;
    let (mut connection_id, mut status) = (None, None);
    loop {
        if *buf.get(pos)? != b'"' {
            return None;
        }
        let (key, after) = key_at(buf, pos + 1)?;
        pos = after;
        if *buf.get(pos)? != b':' {
            return None;
        }
        pos += 1;
        match (*buf.get(pos)?, key) {
            (b'"', Key::ConnectionId) => {
                // Digits between quotes; anything else takes the general path.
                let start = pos + 1;
                let n = memchr(b'"', &buf[start..])?;
                let digits = &buf[start..start + n];
                connection_id = if digits.is_empty() { None } else { Some(super::num::parse_u64(digits)?) };
                pos = start + n + 1;
            }
            (b'"', Key::Text(field)) => {
                let (end, escaped) = string_end(buf, pos + 1)?;
                string(Span { field, start: pos + 1, end, escaped });
                pos = end + 1;
            }
            (b'-' | b'0'..=b'9', Key::Status | Key::ConnectionId) => {
                let mut c = Cursor::new(buf);
                c.pos = pos;
                let n = c.number().ok()?;
                pos = c.pos;
                if key == Key::Status {
                    status = Some(n.parse().ok()?);
                } else {
                    connection_id = Some(n.parse().ok()?);
                }
            }
            _ => return None,
        }
        match *buf.get(pos)? {
            b',' => pos += 1,
            b'}' => {
                pos += 1;
                break;
            }
            _ => return None,
        }
    }
    // `}}` closes the record.
    if *buf.get(pos)? != b'}' {
        return None;
    }
    Some((pos + 1, connection_id, status))
}

#[cfg(test)]
mod key_tests {
    use super::key_at;
    use crate::names;

    #[test]
    fn the_fast_key_path_knows_exactly_the_field_tables_keys() {
        let mut keys: Vec<&str> = names::ALL.iter().map(|n| n.key).collect();
        keys.push("startup_options");
        for key in keys {
            let quoted = format!("{key}\"");
            assert_eq!(key_at(quoted.as_bytes(), 0), Some((names::by_key(key.as_bytes()).unwrap(), quoted.len())), "{key}");
        }
        for other in ["nam\"", "users\"", "connection\"", "Name\"", "general_data\""] {
            assert_eq!(key_at(other.as_bytes(), 0), None, "{other}");
        }
    }
}
