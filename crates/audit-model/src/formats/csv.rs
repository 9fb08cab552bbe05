//! Percona audit_log, `audit_log_format=CSV`.
//!
//! No header; every field double-quoted except STATUS; only `"` is escaped (doubled), so newlines and
//! TABs pass raw and one record can span physical lines. Records are framed quote-aware (a memchr
//! scanner: one `memchr` a field) and complete only with their terminating newline.
//!
//! The `Audit` / `NoAudit` record is never escaped by the plugin: a `"` in the startup options
//! unbalances the quotes. Those records are framed by line (MYSQL_VERSION is field 4, OS_VERSION the
//! last field, STARTUP_OPTIONS everything between), so a stray quote cannot swallow what follows. More
//! generally, a broken frame is cut at the first line inside it that clearly starts a new record.

use super::num::{parse_i64, parse_u64};
use std::borrow::Cow;

use jiff::Timestamp;
use memchr::{memchr, memchr3, memmem};

use crate::parser::{FormatParser, ParseOptions, Step};
use crate::percona_json_out::{Layout, Value};
use crate::record::{Field, Format, Record};
use crate::time::parse_timestamp;

/// The widest record the plugin writes has 12 fields; anything far beyond is not a record.
const MAX_FIELDS: usize = 64;

/// One field of a framed record: `buf[start..end]` is its content (without the quotes).
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    /// Whether the content holds a doubled `""` to unescape.
    escaped: bool,
}

/// The result of framing the front of the buffer.
enum Frame {
    /// A structurally complete record of this many bytes (terminating newline included).
    Complete(usize),
    /// The record's terminator is not in the buffer yet.
    NeedMore,
    /// The bytes are not CSV: the first offending byte, and why.
    Broken(usize, &'static str),
}

#[derive(Debug)]
pub(crate) struct CsvParser {
    opts: ParseOptions,
    /// Scratch for the fields of the record being parsed (reused: no allocation a record).
    fields: Vec<Span>,
    /// The last timestamp parsed, as written (records share seconds).
    last_ts: (String, Timestamp),
}

impl CsvParser {
    pub(crate) fn new(opts: ParseOptions) -> Self {
        CsvParser { opts, fields: Vec::with_capacity(16), last_ts: (String::new(), Timestamp::UNIX_EPOCH) }
    }

    /// Builds the record from the fields `f` over `buf`.
    fn build(&mut self, buf: &[u8], f: &[Span]) -> Result<Record, String> {
        // Validate the record's UTF-8 once; fields then are plain slices of it.
        let valid = std::str::from_utf8(&buf[..f.last().map_or(0, |s| s.end)]).ok();
        let text = |span: Span| text(valid, buf, span);
        let name = text(f[0]);
        let kind = Record::classify(&name);
        let layout = Layout::of(kind);
        let expected = 3 + layout.fields().len();
        if f.len() != expected {
            return Err(format!("expected {expected} fields for {} record, found {}", article(&name), f.len()));
        }
        let ts_text = text(f[2]);
        let (cached_text, cached_ts) = &mut self.last_ts;
        let ts = if *cached_text == ts_text && !cached_text.is_empty() {
            *cached_ts
        } else {
            let ts = parse_timestamp(&ts_text, &self.opts.time_zone)?;
            cached_text.clear();
            cached_text.push_str(&ts_text);
            *cached_ts = ts;
            ts
        };
        let total: usize = f.iter().map(|s| s.end - s.start).sum();
        let mut b = Record::builder(Format::PerconaCsv);
        let _ = b.set_with(Field::Name, |s| {
            s.reserve(total);
            s.push_str(&name);
            Ok::<(), ()>(())
        });
        b.set(Field::RecordId, &text(f[1])).set(Field::TimestampText, &ts_text).timestamp(ts).kind(kind);
        for (pf, &span) in layout.fields().iter().zip(&f[3..]) {
            match pf.value {
                Value::Text(field) => {
                    b.set(field, &text(span));
                }
                Value::ConnectionId => {
                    let t = text(span);
                    if t.is_empty() {
                        b.connection_id(None);
                    } else {
                        let id = parse_u64(t.as_bytes())
                            .ok_or_else(|| format!("invalid CONNECTION_ID {:?}", clip(&t)))?;
                        b.connection_id(Some(id));
                    }
                }
                Value::Status => {
                    let t = text(span);
                    let status =
                        parse_i64(t.as_bytes()).ok_or_else(|| format!("invalid STATUS {:?}", clip(&t)))?;
                    b.status(Some(status));
                }
            }
        }
        Ok(b.build())
    }

    /// A broken or unparseable frame of (at least) `upto` bytes: cut it at the first line inside it that
    /// starts a record, else at the end of the line holding byte `fail`.
    fn cut(&self, buf: &[u8], upto: usize, fail: usize, reason: String) -> Step {
        let mut from = 0;
        while let Some(k) = memchr(b'\n', &buf[from..upto.min(buf.len())]) {
            let at = from + k + 1;
            if at >= upto {
                break;
            }
            match looks_like_start(buf, at) {
                Some(true) => return Step::Malformed { len: at, reason },
                Some(false) => {}
                None => return Step::NeedMore,
            }
            from = at;
        }
        if fail < upto {
            // A complete frame that did not parse: all of it.
            return Step::Malformed { len: upto, reason };
        }
        match memchr(b'\n', &buf[fail.min(buf.len())..]) {
            Some(k) => Step::Malformed { len: fail + k + 1, reason },
            None => Step::NeedMore,
        }
    }

    /// The `Audit` / `NoAudit` record framed by line; `None` when the line does not have that shape
    /// (then the quote-aware framing applies).
    fn audit_line(&mut self, buf: &[u8]) -> Option<Step> {
        let Some(nl) = memchr(b'\n', buf) else { return Some(Step::NeedMore) };
        let line = &buf[..nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() < 2 || line[line.len() - 1] != b'"' {
            return None;
        }
        let mut seps = [0usize; 4];
        let mut count = 0;
        let mut last = 0;
        for s in memmem::find_iter(line, b"\",\"") {
            if count < 4 {
                seps[count] = s;
            }
            count += 1;
            last = s;
        }
        if count < 5 || last + 3 > line.len() - 1 {
            return None;
        }
        let span = |start: usize, end: usize| Span { start, end, escaped: false };
        let fields = [
            span(1, seps[0]),
            span(seps[0] + 3, seps[1]),
            span(seps[1] + 3, seps[2]),
            span(seps[2] + 3, seps[3]),
            span(seps[3] + 3, last),
            span(last + 3, line.len() - 1),
        ];
        Some(match self.build(buf, &fields) {
            Ok(record) => Step::Record { len: nl + 1, record },
            Err(reason) => Step::Malformed { len: nl + 1, reason },
        })
    }
}

impl FormatParser for CsvParser {
    fn format(&self) -> Format {
        Format::PerconaCsv
    }

    fn step(&mut self, buf: &[u8]) -> Step {
        match buf[0] {
            b'\n' => return Step::Skip(1),
            b'\r' => {
                return match buf.get(1) {
                    None => Step::NeedMore,
                    Some(b'\n') => Step::Skip(2),
                    Some(_) => self.cut(buf, 0, 0, "a line starting with a carriage return".into()),
                }
            }
            0xEF if b"\xEF\xBB\xBF".starts_with(&buf[..buf.len().min(3)]) => {
                return if buf.len() < 3 { Step::NeedMore } else { Step::Skip(3) };
            }
            _ => {}
        }
        if buf.starts_with(b"\"Audit\",") || buf.starts_with(b"\"NoAudit\",") {
            if let Some(step) = self.audit_line(buf) {
                return step;
            }
        }
        match frame(buf, &mut self.fields) {
            Frame::NeedMore => Step::NeedMore,
            Frame::Broken(at, why) => self.cut(buf, at, at, format!("not a CSV record: {why} at byte {at}")),
            Frame::Complete(len) => {
                let fields = std::mem::take(&mut self.fields);
                let built = self.build(buf, &fields);
                self.fields = fields;
                match built {
                    Ok(record) => Step::Record { len, record },
                    Err(reason) => self.cut(buf, len, 0, reason),
                }
            }
        }
    }

    fn resync(&self, buf: &[u8]) -> Option<usize> {
        let mut from = 0;
        while let Some(k) = memchr(b'\n', &buf[from..]) {
            let at = from + k + 1;
            if looks_like_start(buf, at) == Some(true) {
                return Some(at);
            }
            from = at;
        }
        None
    }
}

/// Frames one record quote-aware into `fields`.
fn frame(buf: &[u8], fields: &mut Vec<Span>) -> Frame {
    fields.clear();
    let mut pos = 0;
    loop {
        if fields.len() >= MAX_FIELDS {
            return Frame::Broken(pos, "too many fields");
        }
        let Some(&first) = buf.get(pos) else { return Frame::NeedMore };
        if first == b'"' {
            let start = pos + 1;
            let mut i = start;
            let mut escaped = false;
            let close = loop {
                let Some(k) = memchr(b'"', &buf[i..]) else { return Frame::NeedMore };
                let q = i + k;
                match buf.get(q + 1) {
                    None => return Frame::NeedMore,
                    Some(b'"') => {
                        escaped = true;
                        i = q + 2;
                    }
                    Some(_) => break q,
                }
            };
            fields.push(Span { start, end: close, escaped });
            pos = close + 1;
            match buf[pos] {
                b',' => pos += 1,
                b'\n' => return Frame::Complete(pos + 1),
                b'\r' => match buf.get(pos + 1) {
                    None => return Frame::NeedMore,
                    Some(b'\n') => return Frame::Complete(pos + 2),
                    Some(_) => return Frame::Broken(pos, "a carriage return after a closing quote"),
                },
                _ => return Frame::Broken(pos, "text after a closing quote"),
            }
        } else {
            let Some(k) = memchr3(b',', b'\n', b'"', &buf[pos..]) else { return Frame::NeedMore };
            let e = pos + k;
            match buf[e] {
                b'"' => return Frame::Broken(e, "a quote inside an unquoted field"),
                b',' => {
                    fields.push(Span { start: pos, end: e, escaped: false });
                    pos = e + 1;
                }
                _ => {
                    let end = if e > pos && buf[e - 1] == b'\r' { e - 1 } else { e };
                    fields.push(Span { start: pos, end, escaped: false });
                    return Frame::Complete(e + 1);
                }
            }
        }
    }
}

/// Whether a record starts at `buf[at]`: `"Name","<digits>_`. `None` when the buffer ends first.
fn looks_like_start(buf: &[u8], at: usize) -> Option<bool> {
    let b = buf.get(at..).unwrap_or(&[]);
    let mut i = 0;
    macro_rules! next {
        () => {{
            let &c = b.get(i)?;
            i += 1;
            c
        }};
    }
    if next!() != b'"' {
        return Some(false);
    }
    let mut name_len = 0;
    loop {
        let c = next!();
        if c.is_ascii_alphabetic() || c == b' ' || c == b'_' {
            name_len += 1;
            if name_len > 40 {
                return Some(false);
            }
        } else if c == b'"' && name_len > 0 {
            break;
        } else {
            return Some(false);
        }
    }
    if next!() != b',' || next!() != b'"' {
        return Some(false);
    }
    let mut digits = 0;
    loop {
        let c = next!();
        if c.is_ascii_digit() {
            digits += 1;
            if digits > 20 {
                return Some(false);
            }
        } else {
            return Some(c == b'_' && digits > 0);
        }
    }
}

/// A field's text: `""` unescaped, invalid UTF-8 replaced. `valid` is the record's bytes when they
/// are valid UTF-8.
#[inline]
fn text<'a>(valid: Option<&'a str>, buf: &'a [u8], span: Span) -> Cow<'a, str> {
    if !span.escaped {
        if let Some(s) = valid.and_then(|v| v.get(span.start..span.end)) {
            return Cow::Borrowed(s);
        }
    }
    text_slow(buf, span)
}

#[cold]
fn text_slow(buf: &[u8], span: Span) -> Cow<'_, str> {
    let raw = String::from_utf8_lossy(&buf[span.start..span.end]);
    if span.escaped {
        Cow::Owned(raw.replace("\"\"", "\""))
    } else {
        raw
    }
}


/// `a Connect`, `an Audit`: for error messages.
fn article(name: &str) -> String {
    let name = clip(name);
    match name.chars().next() {
        Some(c) if "AEIOUaeiou".contains(c) => format!("an {name}"),
        _ => format!("a {name}"),
    }
}

/// At most 40 characters of a value, for error messages.
fn clip(s: &str) -> &str {
    match s.char_indices().nth(40) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
