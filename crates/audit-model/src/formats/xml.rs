//! The XML formats: Percona audit_log OLD (attributes) and NEW (elements), and audit_log_filter /
//! MySQL Enterprise Audit NEW and OLD XML.
//!
//! A hand-written scanner, not an XML parser, because the plugins' output is not always XML:
//! - files hold several concatenated documents (a header at every plugin start and flush), or no header
//!   and no footer at all (size rotation), and the last record of a live file may be torn;
//! - the `Audit` record is never escaped: a `"` may sit inside an OLD attribute value (a value ends at a
//!   `"` followed by white space and `/>` or the next `NAME="`), and `<` or `&` inside a NEW element's
//!   text (the text runs up to the element's own `</TAG>`);
//! - older servers wrote control characters raw; newer ones as `&#N;`.
//!
//! Fields are mapped by name, so element and attribute order does not matter. Names no [`Field`] slot
//! takes go to the record's extras, in input order; nested containers are flattened with dotted keys:
//! `CONNECTION_ATTRIBUTES/ATTRIBUTE/{NAME,VALUE}` gives `CONNECTION_ATTRIBUTES.<name>` and
//! `MAP/ELEMENT/{KEY,VALUE}` gives `MAP.<key>`; any other nesting joins the tag names
//! (`OUTER.INNER`).

use std::borrow::Cow;

use memchr::{memchr, memmem};

use crate::names::{self, Value};
use crate::parser::{FormatParser, ParseOptions, Step};
use crate::record::{Field, Format, Record, RecordBuilder};
use crate::time::parse_timestamp;

const REC_OPEN: &[u8] = b"<AUDIT_RECORD";
const REC_CLOSE: &[u8] = b"</AUDIT_RECORD>";
const DOC_OPEN: &[u8] = b"<AUDIT>";
const DOC_CLOSE: &[u8] = b"</AUDIT>";
const DECL: &[u8] = b"<?xml";
const BOM: &[u8] = b"\xEF\xBB\xBF";
/// Deepest element nesting accepted inside a record (the formats nest three levels).
const MAX_DEPTH: usize = 16;

/// The parser of the four XML formats; see the module docs.
#[derive(Debug)]
pub(crate) struct XmlParser {
    opts: ParseOptions,
    format: Format,
    /// Scratch: the fields of the record being read, kept to save an allocation a record.
    items: Vec<Item>,
}

impl XmlParser {
    pub(crate) fn new(format: Format, opts: ParseOptions) -> Self {
        XmlParser { opts, format, items: Vec::new() }
    }
}

impl FormatParser for XmlParser {
    fn format(&self) -> Format {
        self.format
    }

    fn step(&mut self, buf: &[u8]) -> Step {
        let ws = buf.iter().take_while(|&&b| is_ws(b)).count();
        if ws > 0 {
            return Step::Skip(ws);
        }
        let Some(&first) = buf.first() else { return Step::NeedMore };
        if first == BOM[0] {
            return match at(buf, 0, BOM) {
                M::Yes => Step::Skip(BOM.len()),
                M::Partial => Step::NeedMore,
                M::No => garbage(buf),
            };
        }
        if first != b'<' {
            return garbage(buf);
        }
        let mut partial = false;
        match at(buf, 0, REC_OPEN) {
            M::Yes => {
                return match buf.get(REC_OPEN.len()) {
                    None => Step::NeedMore,
                    Some(b'>') => self.record(buf, Syntax::New),
                    Some(&b) if is_ws(b) || b == b'/' => self.record(buf, Syntax::Old),
                    Some(_) => garbage(buf),
                }
            }
            M::Partial => partial = true,
            M::No => {}
        }
        match at(buf, 0, DECL) {
            M::Yes => return declaration(buf),
            M::Partial => partial = true,
            M::No => {}
        }
        for tag in [DOC_OPEN, DOC_CLOSE] {
            match at(buf, 0, tag) {
                M::Yes => return Step::Skip(tag.len()),
                M::Partial => partial = true,
                M::No => {}
            }
        }
        if partial {
            Step::NeedMore
        } else {
            garbage(buf)
        }
    }

    fn resync(&self, buf: &[u8]) -> Option<usize> {
        match next_boundary(buf, 1) {
            Boundary::Found(i) => Some(i),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Syntax {
    /// `<AUDIT_RECORD NAME="..." ... />`
    Old,
    /// `<AUDIT_RECORD><NAME>...</NAME>...</AUDIT_RECORD>`
    New,
}

/// Why a record could not be read whole.
enum Fail {
    /// The buffer ends inside the record.
    NeedMore,
    /// Bytes that do not belong in a record at this offset.
    Structure(usize, String),
}

/// One element of a NEW record: text, or child elements.
enum Node<'a> {
    /// The text's byte range in the buffer.
    Leaf(usize, usize),
    Container(Vec<(&'a [u8], Node<'a>)>),
}

/// A field found by the structural pass: byte ranges in the record, or a flattened container entry.
#[derive(Debug)]
enum Item {
    Leaf { name: (usize, usize), value: (usize, usize) },
    Extra(String, String),
}

/// What a record's fields say besides their text.
#[derive(Default)]
struct Seen {
    name: bool,
    record: bool,
    record_id: bool,
    timestamp: bool,
    error: Option<String>,
}

impl XmlParser {
    fn record(&mut self, buf: &[u8], syntax: Syntax) -> Step {
        // Two passes: find the record's structure (and its end) first, then build it from one
        // UTF-8 check of the whole record.
        let mut items = std::mem::take(&mut self.items);
        items.clear();
        let parsed = match syntax {
            Syntax::Old => parse_old(buf, &mut items),
            Syntax::New => parse_new(buf, &mut items),
        };
        let step = match parsed {
            Ok(len) => self.build(&buf[..len], &mut items, syntax),
            Err(Fail::NeedMore) => Step::NeedMore,
            Err(Fail::Structure(at, reason)) => {
                let term: &[u8] = if syntax == Syntax::Old { b"/>" } else { REC_CLOSE };
                structure(buf, at, term, reason)
            }
        };
        self.items = items;
        step
    }

    fn build(&self, rec: &[u8], items: &mut [Item], syntax: Syntax) -> Step {
        let len = rec.len();
        let text = std::str::from_utf8(rec).ok();
        let has_amp = memchr(b'&', rec).is_some();
        let mut b = Record::builder(self.format);
        // One allocation for the record's text: reserve it through an empty first value.
        let _ = b.set_with(Field::Name, |s| {
            s.reserve(len);
            Ok::<(), std::convert::Infallible>(())
        });
        let mut seen = Seen::default();
        for item in items.iter_mut() {
            match item {
                Item::Leaf { name, value } => {
                    let name = &rec[name.0..name.1];
                    let value: Cow<'_, str> = match text.and_then(|t| t.get(value.0..value.1)) {
                        Some(v) => Cow::Borrowed(v),
                        None => String::from_utf8_lossy(&rec[value.0..value.1]),
                    };
                    field(&mut b, &mut seen, name, &value, has_amp);
                }
                Item::Extra(k, v) => {
                    b.extra(std::mem::take(k), std::mem::take(v));
                }
            }
        }
        if let Some(reason) = seen.error {
            return Step::Malformed { len, reason };
        }
        if !seen.name {
            return Step::Malformed { len, reason: "record has no NAME".into() };
        }
        if !seen.timestamp {
            return Step::Malformed { len, reason: format!("{} record has no TIMESTAMP", b.get(Field::Name).unwrap_or("")) };
        }
        let ts = match parse_timestamp(b.get(Field::TimestampText).unwrap_or(""), &self.opts.time_zone) {
            Ok(ts) => ts,
            Err(e) => return Step::Malformed { len, reason: format!("TIMESTAMP: {e}") },
        };
        b.timestamp(ts);
        let filter = if seen.record_id {
            true
        } else if seen.record {
            false
        } else {
            matches!(self.format, Format::FilterXmlNew | Format::FilterXmlOld)
        };
        let mut record = b.build();
        record.format = match (filter, syntax) {
            (false, Syntax::Old) => Format::PerconaOld,
            (false, Syntax::New) => Format::PerconaNew,
            (true, Syntax::Old) => Format::FilterXmlOld,
            (true, Syntax::New) => Format::FilterXmlNew,
        };
        Step::Record { len, record }
    }
}

/// The OLD syntax: one attribute a line, `/>` at the end. Returns the record's length.
fn parse_old(buf: &[u8], items: &mut Vec<Item>) -> Result<usize, Fail> {
    let mut p = REC_OPEN.len();
    // The next `<`: usually the next record's. Values are escaped but for the `Audit` record's, so
    // one inside a value is rare; if it starts a record, this record was cut and ran into the next.
    let mut next_lt = memchr(b'<', &buf[1..]).map_or(usize::MAX, |k| k + 1);
    loop {
        p = skip_ws(buf, p);
        let Some(&c) = buf.get(p) else { return Err(Fail::NeedMore) };
        if c == b'/' {
            return match at(buf, p, b"/>") {
                M::Yes => Ok(p + 2),
                M::Partial => Err(Fail::NeedMore),
                M::No => Err(Fail::Structure(p, "expected `/>`".into())),
            };
        }
        if !is_name_start(c) {
            return Err(unexpected(buf, p, "an attribute or `/>`"));
        }
        let name_end = scan_name(buf, p);
        let name = &buf[p..name_end];
        let mut q = skip_ws(buf, name_end);
        match buf.get(q) {
            None => return Err(Fail::NeedMore),
            Some(b'=') => q += 1,
            Some(_) => return Err(unexpected(buf, q, "`=`")),
        }
        q = skip_ws(buf, q);
        match buf.get(q) {
            None => return Err(Fail::NeedMore),
            Some(b'"') => q += 1,
            Some(_) => return Err(unexpected(buf, q, "`\"`")),
        }
        let start = q;
        // The value ends at the first `"` that is followed by `/>` or by white space and the next
        // attribute: the `Audit` record's values are not escaped and may hold quotes.
        let mut s = start;
        let close = loop {
            let Some(k) = memchr(b'"', &buf[s..]) else {
                // Unterminated so far: more bytes, unless the next record has already begun.
                return match next_boundary(buf, start) {
                    Boundary::Found(i) => Err(Fail::Structure(i, format!("unterminated value of {}", lossy(name)))),
                    _ => Err(Fail::NeedMore),
                };
            };
            let quote = s + k;
            match value_ends(buf, quote + 1) {
                M::Yes => break quote,
                // As above: waiting for more bytes only while no next record has begun, so the
                // outcome does not depend on how much was buffered.
                M::Partial => {
                    return match next_boundary(buf, start) {
                        Boundary::Found(i) => Err(Fail::Structure(i, format!("unterminated value of {}", lossy(name)))),
                        _ => Err(Fail::NeedMore),
                    };
                }
                M::No => s = quote + 1,
            }
        };
        if next_lt < close {
            if let Boundary::Found(i) = next_boundary(&buf[..close], start) {
                return Err(Fail::Structure(i, format!("unterminated value of {}", lossy(name))));
            }
            next_lt = memchr(b'<', &buf[close..]).map_or(usize::MAX, |k| close + k);
        }
        items.push(Item::Leaf { name: (p, name_end), value: (start, close) });
        p = close + 1;
    }
}

/// Whether a `"` just before `i` closes an OLD attribute value.
fn value_ends(buf: &[u8], i: usize) -> M {
    let j = skip_ws(buf, i);
    let Some(&c) = buf.get(j) else { return M::Partial };
    if c == b'/' {
        return at(buf, j, b"/>");
    }
    if j == i || !is_name_start(c) {
        return M::No;
    }
    let k = skip_ws(buf, scan_name(buf, j));
    match buf.get(k) {
        None => M::Partial,
        Some(b'=') => {
            let k = skip_ws(buf, k + 1);
            match buf.get(k) {
                None => M::Partial,
                Some(b'"') => M::Yes,
                Some(_) => M::No,
            }
        }
        Some(_) => M::No,
    }
}

/// The NEW syntax: one element a field, `</AUDIT_RECORD>` at the end. Returns the record's length.
fn parse_new(buf: &[u8], items: &mut Vec<Item>) -> Result<usize, Fail> {
    let mut p = REC_OPEN.len() + 1;
    loop {
        p = skip_ws(buf, p);
        let Some(&c) = buf.get(p) else { return Err(Fail::NeedMore) };
        if c != b'<' {
            return Err(unexpected(buf, p, "an element or `</AUDIT_RECORD>`"));
        }
        match at(buf, p, REC_CLOSE) {
            M::Yes => return Ok(p + REC_CLOSE.len()),
            M::Partial => return Err(Fail::NeedMore),
            M::No => {}
        }
        let (end, name, node) = element(buf, p, 0)?;
        match node {
            Node::Leaf(start, end) => {
                items.push(Item::Leaf { name: (p + 1, p + 1 + name.len()), value: (start, end) });
            }
            Node::Container(children) => {
                let mut prefix = String::from_utf8_lossy(name).into_owned();
                flatten(buf, &mut prefix, &children, items);
            }
        }
        p = end;
    }
}

/// Names that are always plain text in a record: their text runs up to their own end tag, whatever
/// it holds (the `Audit` record is not escaped).
fn is_text_field(name: &[u8]) -> bool {
    // Filter XML's names besides the plugin's.
    names::by_tag(name).is_some() || matches!(name, b"RECORD_ID" | b"STATUS_CODE" | b"VERSION" | b"TABLE")
}

/// One element starting at `p` (a `<`): its end, name and content.
fn element(buf: &[u8], p: usize, depth: usize) -> Result<(usize, &[u8], Node<'_>), Fail> {
    match buf.get(p + 1) {
        None => return Err(Fail::NeedMore),
        Some(&c) if is_name_start(c) => {}
        Some(_) => return Err(unexpected(buf, p, "an element")),
    }
    match boundary_at(buf, p) {
        // The next record or document begins: this record has no end tag.
        Boundary::Found(_) => return Err(Fail::Structure(p, "record has no `</AUDIT_RECORD>`".into())),
        Boundary::Partial(_) => return Err(Fail::NeedMore),
        Boundary::None => {}
    }
    if depth >= MAX_DEPTH {
        return Err(Fail::Structure(p, "elements nested too deep".into()));
    }
    let name_end = scan_name(buf, p + 1);
    let name = &buf[p + 1..name_end];
    let q = skip_ws(buf, name_end);
    let content = match buf.get(q) {
        None => return Err(Fail::NeedMore),
        Some(b'>') => q + 1,
        Some(b'/') => {
            return match at(buf, q, b"/>") {
                M::Yes => Ok((q + 2, name, Node::Leaf(q, q))),
                M::Partial => Err(Fail::NeedMore),
                M::No => Err(unexpected(buf, q, "`/>`")),
            }
        }
        Some(_) => return Err(unexpected(buf, q, "`>`")),
    };
    if !(depth == 0 && is_text_field(name)) {
        let j = skip_ws(buf, content);
        match (buf.get(j), buf.get(j + 1)) {
            (None, _) | (Some(b'<'), None) => return Err(Fail::NeedMore),
            (Some(b'<'), Some(&c)) if is_name_start(c) => return container(buf, j, name, depth),
            _ => {}
        }
    }
    // Text up to `</NAME>`; a `<` that starts no end tag is text (the `Audit` record is not escaped),
    // unless it starts the next record.
    let mut s = content;
    loop {
        let Some(k) = memchr(b'<', &buf[s..]) else { return Err(Fail::NeedMore) };
        let i = s + k;
        match close_tag_at(buf, i, name) {
            M::Yes => return Ok((i + name.len() + 3, name, Node::Leaf(content, i))),
            M::Partial => return Err(Fail::NeedMore),
            M::No => {}
        }
        match boundary_at(buf, i) {
            Boundary::Found(_) => return Err(Fail::Structure(i, format!("element {} has no end tag", lossy(name)))),
            Boundary::Partial(_) => return Err(Fail::NeedMore),
            Boundary::None => {}
        }
        match at(buf, i, REC_CLOSE) {
            M::Yes => return Err(Fail::Structure(i, format!("element {} has no end tag", lossy(name)))),
            M::Partial => return Err(Fail::NeedMore),
            M::No => {}
        }
        s = i + 1;
    }
}

/// The child elements of a container starting at `p` (its first child's `<`), up to `</NAME>`.
fn container<'a>(buf: &'a [u8], mut p: usize, name: &'a [u8], depth: usize) -> Result<(usize, &'a [u8], Node<'a>), Fail> {
    let mut children = Vec::new();
    loop {
        p = skip_ws(buf, p);
        let Some(&c) = buf.get(p) else { return Err(Fail::NeedMore) };
        if c != b'<' {
            return Err(unexpected(buf, p, &format!("an element or `</{}>`", lossy(name))));
        }
        match close_tag_at(buf, p, name) {
            M::Yes => return Ok((p + name.len() + 3, name, Node::Container(children))),
            M::Partial => return Err(Fail::NeedMore),
            M::No => {}
        }
        let (end, child, node) = element(buf, p, depth + 1)?;
        children.push((child, node));
        p = end;
    }
}

/// Flattens a container's children into extras: `PREFIX.CHILD`, or `PREFIX.<name>` for a child that
/// is a NAME/KEY and VALUE pair.
fn flatten(buf: &[u8], prefix: &mut String, children: &[(&[u8], Node<'_>)], items: &mut Vec<Item>) {
    let base = prefix.len();
    for (name, node) in children {
        prefix.truncate(base);
        prefix.push('.');
        match node {
            Node::Leaf(start, end) => {
                prefix.push_str(&String::from_utf8_lossy(name));
                items.push(Item::Extra(prefix.clone(), extra_text(&String::from_utf8_lossy(&buf[*start..*end]), true)));
            }
            Node::Container(grand) => {
                if let Some((key, value)) = pair(buf, grand) {
                    let mut k = String::new();
                    unescape_into(key, &mut k);
                    prefix.push_str(&k);
                    let mut v = String::new();
                    unescape_into(value, &mut v);
                    items.push(Item::Extra(prefix.clone(), v));
                } else {
                    prefix.push_str(&String::from_utf8_lossy(name));
                    flatten(buf, prefix, grand, items);
                }
            }
        }
    }
    prefix.truncate(base);
}

/// `(key, value)` of an `ATTRIBUTE{NAME,VALUE}` or `ELEMENT{KEY,VALUE}`-like pair.
fn pair<'a>(buf: &'a [u8], children: &[(&'a [u8], Node<'a>)]) -> Option<(&'a [u8], &'a [u8])> {
    let [(n1, Node::Leaf(s1, e1)), (n2, Node::Leaf(s2, e2))] = children else { return None };
    let (t1, t2) = (&buf[*s1..*e1], &buf[*s2..*e2]);
    let is_key = |n: &[u8]| n == b"NAME" || n == b"KEY";
    match (*n1, *n2) {
        (k, b"VALUE") if is_key(k) => Some((t1, t2)),
        (b"VALUE", k) if is_key(k) => Some((t2, t1)),
        _ => None,
    }
}

/// The value of an extra element: unescaped text, or empty for white space over lines (an empty
/// container's indentation).
fn extra_text(text: &str, has_amp: bool) -> String {
    if text.contains('\n') && text.bytes().all(is_ws) {
        return String::new();
    }
    let mut s = String::with_capacity(text.len());
    push_unescaped(text, &mut s, has_amp);
    s
}


/// Stores one field by name.
fn field(b: &mut RecordBuilder, seen: &mut Seen, name: &[u8], value: &str, has_amp: bool) {
    let raw = value.as_bytes();
    let slot = match name {
        b"NAME" => {
            seen.name = true;
            Field::Name
        }
        b"RECORD" => {
            seen.record = true;
            Field::RecordId
        }
        b"RECORD_ID" => {
            seen.record_id = true;
            Field::RecordId
        }
        b"TIMESTAMP" => {
            seen.timestamp = true;
            Field::TimestampText
        }
        // The rest of the plugin's names, from the one table readers and writers share.
        other => match names::by_tag(other) {
            Some(Value::Text(field)) => field,
            Some(Value::ConnectionId) => {
                match parse_u64(raw) {
                    Ok(id) => {
                        b.connection_id(id);
                    }
                    Err(()) => invalid(seen, "CONNECTION_ID", raw),
                }
                return;
            }
            Some(Value::Status) => {
                match parse_i64(raw) {
                    Ok(st) => {
                        b.status(st);
                    }
                    Err(()) => invalid(seen, "STATUS", raw),
                }
                return;
            }
            None => {
                b.extra(String::from_utf8_lossy(name), extra_text(value, has_amp));
                return;
            }
        },
    };
    let _ = b.set_with(slot, |s| {
        push_unescaped(value, s, has_amp);
        Ok::<(), std::convert::Infallible>(())
    });
}

fn invalid(seen: &mut Seen, what: &str, raw: &[u8]) {
    if seen.error.is_none() {
        let mut v = String::new();
        unescape_into(raw, &mut v);
        seen.error = Some(format!("invalid {what} {v:?}"));
    }
}

/// An empty value is absent; anything else must be a valid number.
fn parse_u64(raw: &[u8]) -> Result<Option<u64>, ()> {
    if raw.is_empty() {
        return Ok(None);
    }
    super::num::parse_u64(raw).map(Some).ok_or(())
}

fn parse_i64(raw: &[u8]) -> Result<Option<i64>, ()> {
    if raw.is_empty() {
        return Ok(None);
    }
    super::num::parse_i64(raw).map(Some).ok_or(())
}

/// Appends `raw` unescaped: the five named entities and `&#N;` / `&#xN;`; an unknown or invalid entity
/// is kept as written. Invalid UTF-8 becomes U+FFFD.
pub(crate) fn unescape_into(raw: &[u8], out: &mut String) {
    push_unescaped(&String::from_utf8_lossy(raw), out, true);
}

/// Appends `s` unescaped; `may_have_entities` false skips the search (no `&` in the record).
fn push_unescaped(s: &str, out: &mut String, may_have_entities: bool) {
    if !may_have_entities {
        out.push_str(s);
        return;
    }
    let bytes = s.as_bytes();
    let mut last = 0;
    let mut from = 0;
    while let Some(k) = memchr(b'&', &bytes[from..]) {
        let amp = from + k;
        from = amp + 1;
        let window = &bytes[amp + 1..bytes.len().min(amp + 12)];
        let Some(semi) = memchr(b';', window) else { continue };
        let Some(ch) = entity(&window[..semi]) else { continue };
        out.push_str(&s[last..amp]);
        out.push(ch);
        last = amp + semi + 2;
        from = last;
    }
    out.push_str(&s[last..]);
}

fn entity(e: &[u8]) -> Option<char> {
    match e {
        b"lt" => Some('<'),
        b"gt" => Some('>'),
        b"amp" => Some('&'),
        b"quot" => Some('"'),
        b"apos" => Some('\''),
        [b'#', b'x' | b'X', hex @ ..] if !hex.is_empty() && hex.len() <= 6 => {
            let n = hex.iter().try_fold(0u32, |n, &c| Some(n * 16 + (c as char).to_digit(16)?))?;
            char::from_u32(n)
        }
        [b'#', dec @ ..] if !dec.is_empty() && dec.len() <= 7 => {
            let n = dec.iter().try_fold(0u32, |n, &c| Some(n * 10 + (c as char).to_digit(10)?))?;
            char::from_u32(n)
        }
        _ => None,
    }
}

/// `<?xml ... ?>`: skipped; without its `?>` before the next `<` it is garbage.
fn declaration(buf: &[u8]) -> Step {
    let mut i = DECL.len();
    while let Some(k) = memchr(b'>', &buf[i..]) {
        let gt = i + k;
        if let Some(lt) = memchr(b'<', &buf[1..gt]) {
            return Step::Malformed { len: lt + 1, reason: "malformed XML declaration".into() };
        }
        if buf[gt - 1] == b'?' {
            return Step::Skip(gt + 1);
        }
        i = gt + 1;
    }
    match memchr(b'<', &buf[1..]) {
        Some(lt) => Step::Malformed { len: lt + 1, reason: "malformed XML declaration".into() },
        None => Step::NeedMore,
    }
}

/// Bytes that start no record: an error up to the next record, header or footer.
fn garbage(buf: &[u8]) -> Step {
    match next_boundary(buf, 1) {
        Boundary::Found(len) => Step::Malformed { len, reason: format!("unexpected {} outside a record", excerpt(buf, 0, len)) },
        _ => Step::NeedMore,
    }
}

/// A record broken at `at`: an error up to the next record start or past the record's own end,
/// whichever comes first.
fn structure(buf: &[u8], at: usize, term: &[u8], reason: String) -> Step {
    let end = memmem::find(&buf[at..], term).map(|k| at + k + term.len());
    let len = match (next_boundary(buf, 1), end) {
        (Boundary::Found(b), Some(e)) => b.min(e),
        (Boundary::Found(b), None) => b,
        (Boundary::Partial(b), Some(e)) if e <= b => e,
        (Boundary::None, Some(e)) => e,
        _ => return Step::NeedMore,
    };
    let reason = if reason.contains(FOUND) { reason.replace(FOUND, &excerpt(buf, at, len)) } else { reason };
    Step::Malformed { len, reason }
}

/// Something else than `expected` at `p`; the reason gets an excerpt once the error's length is known.
fn unexpected(_buf: &[u8], p: usize, expected: &str) -> Fail {
    Fail::Structure(p, format!("expected {expected}, found {FOUND} at offset {p} of the record"))
}

/// Placeholder in a reason for an excerpt of the error's own bytes.
const FOUND: &str = "\u{0}FOUND\u{0}";

/// Up to 24 bytes of `buf[p..end]`, quoted: only bytes inside the error, so the reason does not depend
/// on how much input happens to be buffered.
fn excerpt(buf: &[u8], p: usize, end: usize) -> String {
    let end = end.min(p + 24).min(buf.len());
    let s = String::from_utf8_lossy(buf.get(p..end).unwrap_or(b""));
    format!("{:?}", s.trim_end_matches('\u{FFFD}'))
}

fn lossy(b: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(b)
}

enum Boundary {
    /// A record, header or footer starts here.
    Found(usize),
    /// The buffer ends with what may become one, here.
    Partial(usize),
    None,
}

/// The first record start, XML declaration, `<AUDIT>` or `</AUDIT>` at or after `from`.
fn next_boundary(buf: &[u8], from: usize) -> Boundary {
    let mut s = from;
    while s < buf.len() {
        let Some(k) = memchr(b'<', &buf[s..]) else { break };
        let i = s + k;
        match boundary_at(buf, i) {
            Boundary::None => s = i + 1,
            found => return found,
        }
    }
    Boundary::None
}

fn boundary_at(buf: &[u8], i: usize) -> Boundary {
    let mut partial = false;
    match at(buf, i, REC_OPEN) {
        M::Yes => match buf.get(i + REC_OPEN.len()) {
            None => return Boundary::Partial(i),
            Some(&c) if c == b'>' || c == b'/' || is_ws(c) => return Boundary::Found(i),
            Some(_) => {}
        },
        M::Partial => partial = true,
        M::No => {}
    }
    for pat in [DECL, DOC_OPEN, DOC_CLOSE] {
        match at(buf, i, pat) {
            M::Yes => return Boundary::Found(i),
            M::Partial => partial = true,
            M::No => {}
        }
    }
    if partial {
        Boundary::Partial(i)
    } else {
        Boundary::None
    }
}

/// Match of a pattern at an offset: whole, cut by the end of the buffer, or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum M {
    Yes,
    No,
    Partial,
}

fn at(buf: &[u8], i: usize, pat: &[u8]) -> M {
    let rest = buf.get(i..).unwrap_or(b"");
    if rest.len() >= pat.len() {
        if &rest[..pat.len()] == pat {
            M::Yes
        } else {
            M::No
        }
    } else if pat.starts_with(rest) {
        M::Partial
    } else {
        M::No
    }
}

/// `</NAME>` at `i`.
fn close_tag_at(buf: &[u8], i: usize, name: &[u8]) -> M {
    let rest = buf.get(i..).unwrap_or(b"");
    let want = name.len() + 3;
    if rest.len() >= want {
        let ok = rest[0] == b'<' && rest[1] == b'/' && &rest[2..want - 1] == name && rest[want - 1] == b'>';
        return if ok { M::Yes } else { M::No };
    }
    let check = |k: usize, c: u8| -> bool {
        match k {
            0 => c == b'<',
            1 => c == b'/',
            k if k == want - 1 => c == b'>',
            k => c == name[k - 2],
        }
    };
    for (k, &c) in rest.iter().take(want).enumerate() {
        if !check(k, c) {
            return M::No;
        }
    }
    if rest.len() >= want {
        M::Yes
    } else {
        M::Partial
    }
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn skip_ws(buf: &[u8], mut i: usize) -> usize {
    while i < buf.len() && is_ws(buf[i]) {
        i += 1;
    }
    i
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':' || b >= 0x80
}

fn is_name_char(b: u8) -> bool {
    is_name_start(b) || b.is_ascii_digit() || b == b'-' || b == b'.'
}

fn scan_name(buf: &[u8], mut i: usize) -> usize {
    while i < buf.len() && is_name_char(buf[i]) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unescape(s: &str) -> String {
        let mut out = String::new();
        unescape_into(s.as_bytes(), &mut out);
        out
    }

    #[test]
    fn entities() {
        assert_eq!(unescape("a&lt;b&gt;c&amp;d&quot;e&apos;f"), "a<b>c&d\"e'f");
        assert_eq!(unescape("&#9;&#x41;&#10;&#X42;"), "\tA\nB");
        assert_eq!(unescape("&nbsp; & &; &#; &#xZZ; &#99999999; &#xD800; &amp"), "&nbsp; & &; &#; &#xZZ; &#99999999; &#xD800; &amp");
        assert_eq!(unescape("&&amp;&"), "&&&");
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_i64(b"-1045"), Ok(Some(-1045)));
        assert_eq!(parse_i64(b"-9223372036854775808"), Ok(Some(i64::MIN)));
        assert_eq!(parse_i64(b"9223372036854775808"), Err(()));
        assert_eq!(parse_i64(b"-"), Err(()));
        assert_eq!(parse_u64(b""), Ok(None));
        assert_eq!(parse_u64(b"18446744073709551616"), Err(()));
    }

    #[test]
    fn close_tags() {
        assert_eq!(close_tag_at(b"</DB>", 0, b"DB"), M::Yes);
        assert_eq!(close_tag_at(b"</D", 0, b"DB"), M::Partial);
        assert_eq!(close_tag_at(b"</DBX", 0, b"DB"), M::No);
        assert_eq!(close_tag_at(b"<DB>", 0, b"DB"), M::No);
    }
}
