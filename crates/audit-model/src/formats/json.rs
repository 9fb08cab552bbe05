//! JSON pieces shared by the Percona and audit_log_filter JSON formats: framing an object out of a
//! stream, and a lenient value parser.
//!
//! Lenient because the servers' JSON is not always JSON: Percona before 5.7.21-20 wrote control
//! characters raw, and the plugin escapes `/` as `\/` (valid, but worth a test). serde_json refuses raw
//! control characters, and a typed scan straight into the record is also faster than building a
//! `serde_json::Value` first.

use std::borrow::Cow;

use memchr::{memchr2, memchr3};

/// The outcome of framing an object at the front of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Frame {
    /// The object ends at this length (its closing `}` included).
    Complete(usize),
    /// The buffer ends inside the object.
    Incomplete,
}

/// Finds the end of the object that `buf` starts with (`buf[0] == b'{'`), string- and escape-aware.
pub(crate) fn frame_object(buf: &[u8]) -> Frame {
    debug_assert_eq!(buf.first(), Some(&b'{'));
    let mut depth = 0usize;
    let mut i = 0;
    while i < buf.len() {
        // Outside strings only quotes and braces matter.
        let Some(j) = memchr3(b'"', b'{', b'}', &buf[i..]) else { return Frame::Incomplete };
        i += j;
        match buf[i] {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Frame::Complete(i + 1);
                }
            }
            _ => {
                // Inside a string: find its closing quote, stepping over escapes.
                i += 1;
                loop {
                    let Some(k) = memchr2(b'"', b'\\', &buf[i..]) else { return Frame::Incomplete };
                    i += k;
                    if buf[i] == b'\\' {
                        i += 2;
                        if i > buf.len() {
                            return Frame::Incomplete;
                        }
                    } else {
                        break;
                    }
                }
            }
        }
        i += 1;
    }
    Frame::Incomplete
}

/// A parsed JSON value that borrows from the input where it can.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum JVal<'a> {
    Null,
    Bool(bool),
    /// A number, as written.
    Num(&'a str),
    Str(Cow<'a, str>),
    Arr(Vec<JVal<'a>>),
    Obj(Vec<(Cow<'a, str>, JVal<'a>)>),
}

impl JVal<'_> {
    /// The value as record text: strings as they are, numbers as written, others as JSON.
    pub(crate) fn to_text(&self) -> Cow<'_, str> {
        match self {
            JVal::Null => Cow::Borrowed("null"),
            JVal::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            JVal::Num(n) => Cow::Borrowed(n),
            JVal::Str(s) => Cow::Borrowed(s),
            JVal::Arr(_) | JVal::Obj(_) => Cow::Owned(self.to_json()),
        }
    }

    fn to_json(&self) -> String {
        let mut out = String::new();
        self.write_json(&mut out);
        out
    }

    fn write_json(&self, out: &mut String) {
        match self {
            JVal::Str(s) => {
                out.push('"');
                crate::percona_json_out::escape_json_into(s, out);
                out.push('"');
            }
            JVal::Arr(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write_json(out);
                }
                out.push(']');
            }
            JVal::Obj(members) => {
                out.push('{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push('"');
                    crate::percona_json_out::escape_json_into(k, out);
                    out.push_str("\":");
                    v.write_json(out);
                }
                out.push('}');
            }
            other => out.push_str(&other.to_text()),
        }
    }
}

/// A cursor over JSON bytes.
#[derive(Debug)]
pub(crate) struct Cursor<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) pos: usize,
}

const MAX_DEPTH: usize = 64;

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    pub(crate) fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.buf.get(self.pos) {
            self.pos += 1;
        }
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    pub(crate) fn err(&self, what: &str) -> String {
        match self.peek() {
            Some(c) if c.is_ascii_graphic() => format!("{what} at byte {} of the record, found {:?}", self.pos, c as char),
            Some(c) => format!("{what} at byte {} of the record, found byte 0x{c:02x}", self.pos),
            None => format!("{what} at byte {} of the record, found the end", self.pos),
        }
    }

    pub(crate) fn expect(&mut self, c: u8) -> Result<(), String> {
        self.ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(&format!("expected {:?}", c as char)))
        }
    }

    /// A string at the cursor (after its opening quote has been checked), unescaped into `out`.
    pub(crate) fn string_into(&mut self, out: &mut String) -> Result<(), String> {
        self.unescape_into(out, None)
    }

    /// [`Cursor::string_into`] when the cursor's bytes are known to be the UTF-8 `text`: the runs
    /// between escapes are pushed as they are, without checking them again.
    pub(crate) fn string_into_valid(&mut self, out: &mut String, text: &str) -> Result<(), String> {
        debug_assert_eq!(text.as_bytes(), self.buf);
        self.unescape_into(out, Some(text))
    }

    fn unescape_into(&mut self, out: &mut String, valid: Option<&str>) -> Result<(), String> {
        self.ws();
        if self.peek() != Some(b'"') {
            return Err(self.err("expected a string"));
        }
        self.pos += 1;
        loop {
            let rest = &self.buf[self.pos..];
            let Some(j) = memchr2(b'"', b'\\', rest) else { return Err("unterminated string".into()) };
            // A run between escapes is whole characters of `text` (unless a byte of a character was
            // escaped: then it is replaced, as unchecked bytes are).
            match valid.and_then(|t| t.get(self.pos..self.pos + j)) {
                Some(run) => out.push_str(run),
                None => push_utf8(out, &rest[..j]),
            }
            self.pos += j + 1;
            if rest[j] == b'"' {
                return Ok(());
            }
            let Some(&e) = self.buf.get(self.pos) else { return Err("unterminated string".into()) };
            self.pos += 1;
            match e {
                b'"' => out.push('"'),
                b'\\' => out.push('\\'),
                b'/' => out.push('/'),
                b'b' => out.push('\u{8}'),
                b'f' => out.push('\u{c}'),
                b'n' => out.push('\n'),
                b'r' => out.push('\r'),
                b't' => out.push('\t'),
                b'u' => {
                    let hi = self.hex4()?;
                    let c = if (0xD800..0xDC00).contains(&hi) && self.buf[self.pos..].starts_with(b"\\u") {
                        let save = self.pos;
                        self.pos += 2;
                        let lo = self.hex4()?;
                        if (0xDC00..0xE000).contains(&lo) {
                            char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                        } else {
                            self.pos = save;
                            None
                        }
                    } else {
                        char::from_u32(hi)
                    };
                    out.push(c.unwrap_or('\u{FFFD}'));
                }
                // Not JSON, but keep what was written rather than refuse the record.
                other => {
                    out.push('\\');
                    push_utf8(out, &[other]);
                }
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let h = self.buf.get(self.pos..self.pos + 4).ok_or("truncated \\u escape")?;
        let s = std::str::from_utf8(h).map_err(|_| "invalid \\u escape")?;
        let v = u32::from_str_radix(s, 16).map_err(|_| format!("invalid \\u escape {s:?}"))?;
        self.pos += 4;
        Ok(v)
    }

    /// A string value, borrowed when it has no escapes and is valid UTF-8.
    pub(crate) fn string(&mut self) -> Result<Cow<'a, str>, String> {
        self.ws();
        if self.peek() == Some(b'"') {
            let rest = &self.buf[self.pos + 1..];
            if let Some(j) = memchr2(b'"', b'\\', rest) {
                if rest[j] == b'"' {
                    if let Ok(s) = std::str::from_utf8(&rest[..j]) {
                        self.pos += j + 2;
                        return Ok(Cow::Borrowed(s));
                    }
                }
            }
        }
        let mut s = String::new();
        self.string_into(&mut s)?;
        Ok(Cow::Owned(s))
    }

    /// A string value, borrowed when it has no escapes and is valid UTF-8, else unescaped into
    /// `scratch` (reused: no allocation a string).
    pub(crate) fn string_in<'s>(&mut self, scratch: &'s mut String) -> Result<&'s str, String>
    where
        'a: 's,
    {
        self.ws();
        if self.peek() == Some(b'"') {
            let rest = &self.buf[self.pos + 1..];
            if let Some(j) = memchr2(b'"', b'\\', rest) {
                if rest[j] == b'"' {
                    if let Ok(s) = std::str::from_utf8(&rest[..j]) {
                        self.pos += j + 2;
                        return Ok(s);
                    }
                }
            }
        }
        scratch.clear();
        self.string_into(scratch)?;
        Ok(scratch.as_str())
    }

    /// Walks the value at the cursor in one pass, as [`Cursor::value`] parses it (same errors at the
    /// same places), without building it: calls `leaf(path, text)` for every leaf in input order, the
    /// path of an object member `path.key` (just `key` at the top, `top` true), of an array item
    /// `path[i]`; a leaf's text is what [`JVal::to_text`] gives (`{}` and `[]` for empty containers).
    pub(crate) fn walk(
        &mut self,
        depth: usize,
        path: &mut String,
        top: bool,
        scratch: &mut String,
        leaf: &mut impl FnMut(&str, &str),
    ) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err("values nested too deeply".into());
        }
        self.ws();
        let base = path.len();
        match self.peek() {
            Some(b'"') => {
                let s = self.string_in(scratch)?;
                leaf(path, s);
                Ok(())
            }
            Some(b'{') => {
                self.pos += 1;
                self.ws();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    if !top {
                        leaf(path, "{}");
                    }
                    return Ok(());
                }
                loop {
                    let k = self.string()?;
                    if !top {
                        path.push('.');
                    }
                    path.push_str(&k);
                    self.expect(b':')?;
                    self.walk(depth + 1, path, false, scratch, leaf)?;
                    path.truncate(base);
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            return Ok(());
                        }
                        _ => return Err(self.err("expected ',' or '}'")),
                    }
                }
            }
            Some(b'[') => {
                self.pos += 1;
                self.ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    leaf(path, "[]");
                    return Ok(());
                }
                let mut i = 0usize;
                loop {
                    use std::fmt::Write as _;
                    let _ = write!(path, "[{i}]");
                    self.walk(depth + 1, path, false, scratch, leaf)?;
                    path.truncate(base);
                    i += 1;
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(());
                        }
                        _ => return Err(self.err("expected ',' or ']'")),
                    }
                }
            }
            Some(b't') if self.buf[self.pos..].starts_with(b"true") => {
                self.pos += 4;
                leaf(path, "true");
                Ok(())
            }
            Some(b'f') if self.buf[self.pos..].starts_with(b"false") => {
                self.pos += 5;
                leaf(path, "false");
                Ok(())
            }
            Some(b'n') if self.buf[self.pos..].starts_with(b"null") => {
                self.pos += 4;
                leaf(path, "null");
                Ok(())
            }
            _ => {
                let n = self.number()?;
                leaf(path, n);
                Ok(())
            }
        }
    }

    /// A number as written.
    pub(crate) fn number(&mut self) -> Result<&'a str, String> {
        self.ws();
        let start = self.pos;
        while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = self.peek() {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.err("expected a value"));
        }
        // Only ASCII was consumed.
        std::str::from_utf8(&self.buf[start..self.pos]).map_err(|_| self.err("invalid number"))
    }

    /// Any value.
    pub(crate) fn value(&mut self, depth: usize) -> Result<JVal<'a>, String> {
        if depth > MAX_DEPTH {
            return Err("values nested too deeply".into());
        }
        self.ws();
        match self.peek() {
            Some(b'"') => Ok(JVal::Str(self.string()?)),
            Some(b'{') => {
                self.pos += 1;
                let mut members = Vec::new();
                self.ws();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    return Ok(JVal::Obj(members));
                }
                loop {
                    let k = self.string()?;
                    self.expect(b':')?;
                    let v = self.value(depth + 1)?;
                    members.push((k, v));
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            return Ok(JVal::Obj(members));
                        }
                        _ => return Err(self.err("expected ',' or '}'")),
                    }
                }
            }
            Some(b'[') => {
                self.pos += 1;
                let mut items = Vec::new();
                self.ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(JVal::Arr(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(JVal::Arr(items));
                        }
                        _ => return Err(self.err("expected ',' or ']'")),
                    }
                }
            }
            Some(b't') if self.buf[self.pos..].starts_with(b"true") => {
                self.pos += 4;
                Ok(JVal::Bool(true))
            }
            Some(b'f') if self.buf[self.pos..].starts_with(b"false") => {
                self.pos += 5;
                Ok(JVal::Bool(false))
            }
            Some(b'n') if self.buf[self.pos..].starts_with(b"null") => {
                self.pos += 4;
                Ok(JVal::Null)
            }
            _ => Ok(JVal::Num(self.number()?)),
        }
    }

    /// Checks nothing but white space follows.
    pub(crate) fn end(&mut self) -> Result<(), String> {
        self.ws();
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(self.err("unexpected bytes after the record"))
        }
    }
}

/// Appends bytes as UTF-8, replacing invalid sequences (SQL text may hold binary literals).
pub(crate) fn push_utf8(out: &mut String, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(s) => out.push_str(s),
        Err(_) => out.push_str(&String::from_utf8_lossy(bytes)),
    }
}

/// Parses an integer field that may be written as a number or a string (`"connection_id":"2"`).
pub(crate) fn int_text<T: std::str::FromStr>(key: &str, text: &str) -> Result<Option<T>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| format!("{key} is not an integer: {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_objects_with_tricky_strings() {
        assert_eq!(frame_object(br#"{"a":"}\"{"} tail"#), Frame::Complete(12));
        assert_eq!(frame_object(br#"{"a":{"b":1}}"#), Frame::Complete(13));
        assert_eq!(frame_object(br#"{"a":"x\"#), Frame::Incomplete);
        assert_eq!(frame_object(br#"{"a":{"b":1}"#), Frame::Incomplete);
    }

    #[test]
    fn lenient_strings() {
        let mut c = Cursor::new(b"\"a\\/b\\u00e9\\ud83d\\ude00 raw\ttab\x01\"");
        let mut s = String::new();
        c.string_into(&mut s).unwrap();
        assert_eq!(s, "a/bé😀 raw\ttab\u{1}");
        let mut c = Cursor::new(b"\"\\ud800x\"");
        assert_eq!(c.string().unwrap(), "\u{FFFD}x");
    }

    #[test]
    fn values() {
        let mut c = Cursor::new(br#"{"a":[1,true,null,"x"],"b":{"c":-1.5e3}}"#);
        let v = c.value(0).unwrap();
        assert_eq!(v.to_text(), r#"{"a":[1,true,null,"x"],"b":{"c":-1.5e3}}"#);
        assert!(Cursor::new(b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[").value(0).is_err());
    }
}
