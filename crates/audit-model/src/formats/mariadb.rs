//! MariaDB server_audit, file output: one line a record,
//! `timestamp,serverhost,username,host,connectionid,queryid,operation,database,object,retcode`.
//!
//! The timestamp (`YYYYMMDD HH:MM:SS`) is the server's local time. Only the QUERY object is quoted
//! (`'...'`, with `\'`, `\\`, `\b \t \n \f \r` escaped); no other field is escaped, so a comma inside a
//! user or database name shifts naive splitting. The parser anchors on the fixed-shape run
//! `,connectionid,queryid,OPERATION,` instead: the host is the last piece before it and the user
//! everything between serverhost and host; after it, the retcode follows the last comma, a QUERY's
//! text is the quoted string right before it (its opening quote found by an escape-aware scan) and the
//! database is what precedes that.
//!
//! Mapping: serverhost, the port of a 12.0.1+ `host:port` (`unavailable` for a Unix socket), queryid
//! and (table or connection events) the object go to [`Record::extra`] as `serverhost`, `port`,
//! `query_id`, `object`. `PROXY_CONNECT` (kind `proxy_connect`) names the proxied account
//! `` `user`@`host` `` in its object: its user goes to `priv_user`, its host to `priv_host`.
//!
//! The timestamp is `server_audit_timestamp_format` (MariaDB 11.x/12.x; see
//! [`super::mariadb_time`]); with syslog output there is none, and the syslog line's is used.

use super::num::{parse_i64, parse_u64};
use memchr::{memchr, memchr_iter, memmem, memrchr};

use super::mariadb_time::LineClock;
use crate::parser::{FormatParser, ParseOptions, Step};
use crate::record::{Field, Format, Kind, Record, RecordBuilder};

const OPERATIONS: [&[u8]; 12] = [
    b"CONNECT",
    b"DISCONNECT",
    b"FAILED_CONNECT",
    b"CHANGEUSER",
    b"PROXY_CONNECT",
    b"QUERY",
    b"READ",
    b"WRITE",
    b"CREATE",
    b"ALTER",
    b"DROP",
    b"RENAME",
];

#[derive(Debug)]
pub(crate) struct MariaDbParser {
    opts: ParseOptions,
    clock: LineClock,
}

impl MariaDbParser {
    pub(crate) fn new(opts: ParseOptions) -> Self {
        let clock = LineClock::new(&opts);
        MariaDbParser { opts, clock }
    }

    fn parse(&mut self, line: &[u8]) -> Result<Record, String> {
        let (ts, ts_len) = self.clock.leading(line, &self.opts.time_zone).map_err(|e| format!("not a server_audit line: {e} in {:?}", clip(line)))?;
        // Validate the line's UTF-8 once; fields then are plain slices of it.
        let l = Line { raw: line, valid: std::str::from_utf8(line).ok() };
        let mut b = fields(&line[ts_len + 1..], &l, Format::MariaDb, false)?;
        b.set(Field::TimestampText, &l.text(&line[..ts_len])).timestamp(ts);
        Ok(b.build())
    }
}

/// Whether a syslog message is a server_audit record: `[info ]serverhost,user,host,` then the
/// `,connectionid,queryid,OPERATION,` run with an operation the plugin writes.
pub(crate) fn is_syslog_message(msg: &[u8]) -> bool {
    find_anchor(msg).is_some_and(|a| OPERATIONS.contains(&&msg[a.op_start..a.op_end]))
}

/// A server_audit record sent to syslog: `syslog_info serverhost,username,host,connectionid,...`
/// (`server_audit_syslog_info` and a space first; no timestamp, the syslog line has it). The record's
/// format is `format`; the caller sets the timestamp.
pub(crate) fn parse_syslog_message(msg: &[u8], format: Format) -> Result<RecordBuilder, String> {
    let l = Line { raw: msg, valid: std::str::from_utf8(msg).ok() };
    fields(msg, &l, format, true)
}

/// Everything after the timestamp: `serverhost,username,host,connectionid,queryid,operation,database,
/// object,retcode`. With `syslog_info`, the serverhost may follow `server_audit_syslog_info` and a
/// space.
fn fields(rest: &[u8], l: &Line<'_>, format: Format, syslog_info: bool) -> Result<RecordBuilder, String> {
    let line = l.raw;
    let Some(anchor) = find_anchor(rest) else {
        return Err(format!("not a server_audit line: no `,connectionid,queryid,OPERATION,` run in {:?}", clip(line)));
    };
    // serverhost,username,host
    let who = &rest[..anchor.comma];
    let (Some(first), Some(last)) = (memchr(b',', who), memrchr(b',', who)) else {
        return Err(format!("expected serverhost,username,host before the connection id in {:?}", clip(line)));
    };
    if first == last {
        return Err(format!("expected serverhost,username,host before the connection id in {:?}", clip(line)));
    }
    let mut serverhost = &who[..first];
    let mut info = None;
    if syslog_info {
        let trimmed = &serverhost[serverhost.iter().take_while(|c| **c == b' ').count()..];
        serverhost = trimmed;
        if let Some(sp) = memrchr(b' ', trimmed) {
            info = Some(&trimmed[..sp]);
            serverhost = &trimmed[sp + 1..];
        }
    }
    let user = &who[first + 1..last];
    let host_port = &who[last + 1..];
    let (host, port) = split_port(host_port);

    let conn = &rest[anchor.comma + 1..anchor.conn_end];
    let connection_id = parse_u64(conn).ok_or_else(|| format!("connection id {:?} out of range", l.text(conn)))?;
    let query_id = &rest[anchor.conn_end + 1..anchor.query_end];
    let op = &rest[anchor.op_start..anchor.op_end];
    let tail = &rest[anchor.op_end + 1..];

    // database,object,retcode
    let Some(rc_comma) = memrchr(b',', tail) else {
        return Err(format!("expected database,object,retcode after {} in {:?}", l.text(op), clip(line)));
    };
    let retcode = &tail[rc_comma + 1..];
    let status = if retcode.is_empty() {
        None
    } else {
        Some(parse_i64(retcode).ok_or_else(|| format!("invalid retcode {:?}", l.text(retcode)))?)
    };
    let mid = &tail[..rc_comma];
    let is_query = op == b"QUERY";
    let (db, object, quoted) = match quoted_object(mid).filter(|_| is_query) {
        Some((open, close)) => (&mid[..open - 1], &mid[open + 1..close], true),
        None => {
            let Some(c) = memrchr(b',', mid) else {
                return Err(format!("expected database,object,retcode after {} in {:?}", l.text(op), clip(line)));
            };
            (&mid[..c], &mid[c + 1..], false)
        }
    };

    let name = l.text(op);
    let kind = Record::classify(&name);
    let mut b = Record::builder(format);
    let _ = b.set_with(Field::Name, |s| {
        // The fields, and the extras' keys beside their values.
        s.reserve(line.len() + 64);
        s.push_str(&name);
        Ok::<(), ()>(())
    });
    b.set(Field::User, &l.text(user))
        .set(Field::Host, &l.text(host))
        .set(Field::Db, &l.text(db))
        .connection_id(Some(connection_id))
        .status(status)
        .kind(kind);
    if let Some(info) = info {
        b.extra("syslog_info", l.text(info));
    }
    b.extra("serverhost", l.text(serverhost));
    if let Some(port) = port {
        b.extra("port", l.text(port));
    }
    b.extra("query_id", l.text(query_id));
    if is_query {
        let _ = b.set_with(Field::SqlText, |s| {
            if quoted {
                unescape_into(object, s, l.valid_text(object));
            } else {
                s.push_str(&l.text(object));
            }
            Ok::<(), ()>(())
        });
    } else if kind == Kind::ProxyConnect {
        // `proxied_user`@`proxied_host`: the account whose privileges the session has.
        if let Some((user, host)) = proxied_account(object) {
            b.set(Field::PrivUser, &l.text(user));
            b.extra("priv_host", l.text(host));
        }
        b.extra("object", l.text(object));
    } else if kind == Kind::TableAccess || !object.is_empty() {
        b.extra("object", l.text(object));
    }
    Ok(b)
}

/// `` `user`@`host` `` into user and host.
fn proxied_account(object: &[u8]) -> Option<(&[u8], &[u8])> {
    let inner = object.strip_prefix(b"`")?.strip_suffix(b"`")?;
    let at = memmem::find(inner, b"`@`")?;
    Some((&inner[..at], &inner[at + 3..]))
}

impl FormatParser for MariaDbParser {
    fn format(&self) -> Format {
        Format::MariaDb
    }

    fn step(&mut self, buf: &[u8]) -> Step {
        super::line_step(buf, |line| self.parse(line))
    }

    fn resync(&self, buf: &[u8]) -> Option<usize> {
        memchr(b'\n', buf).map(|i| i + 1)
    }
}

/// Offsets in the line after the timestamp of `,connectionid,queryid,OPERATION,`.
#[derive(Debug, Clone, Copy)]
struct Anchor {
    /// The comma before the connection id.
    comma: usize,
    /// The comma after the connection id.
    conn_end: usize,
    /// The comma after the query id.
    query_end: usize,
    op_start: usize,
    /// The comma after the operation.
    op_end: usize,
}

/// The first `,digits,digits,OPERATION,` run with a known operation; failing that, the first with any
/// upper-case operation name (a newer server's).
fn find_anchor(rest: &[u8]) -> Option<Anchor> {
    let mut fallback = None;
    for comma in memchr_iter(b',', rest) {
        let Some(a) = anchor_at(rest, comma) else { continue };
        if OPERATIONS.contains(&&rest[a.op_start..a.op_end]) {
            return Some(a);
        }
        fallback = fallback.or(Some(a));
    }
    fallback
}

fn anchor_at(rest: &[u8], comma: usize) -> Option<Anchor> {
    let digits = |from: usize| -> Option<usize> {
        let n = rest.get(from..)?.iter().take_while(|c| c.is_ascii_digit()).count();
        (n > 0 && rest.get(from + n) == Some(&b',')).then_some(from + n)
    };
    let conn_end = digits(comma + 1)?;
    let query_end = digits(conn_end + 1)?;
    let op_start = query_end + 1;
    let n = rest.get(op_start..)?.iter().take_while(|c| c.is_ascii_uppercase() || **c == b'_').count();
    let op_end = op_start + n;
    (n >= 2 && rest.get(op_end) == Some(&b',')).then_some(Anchor { comma, conn_end, query_end, op_start, op_end })
}

/// In `database,'text'`: the offsets of the opening and closing quotes of the text, or `None` when
/// `mid` does not end with a quoted string preceded by a comma. The opening quote is the last quote
/// before the closing one not escaped by an odd run of backslashes.
fn quoted_object(mid: &[u8]) -> Option<(usize, usize)> {
    let close = mid.len().checked_sub(1)?;
    if mid[close] != b'\'' {
        return None;
    }
    let mut end = close;
    while let Some(q) = memrchr(b'\'', &mid[..end]) {
        let backslashes = mid[..q].iter().rev().take_while(|&&c| c == b'\\').count();
        if backslashes % 2 == 0 && q > 0 && mid[q - 1] == b',' {
            return Some((q, close));
        }
        end = q;
    }
    None
}

/// Appends the QUERY text with `\'`, `\\`, `\b \t \n \f \r` unescaped (other escapes kept as
/// written). `valid` is the same bytes as text when the line is valid UTF-8: runs between escapes are
/// then pushed without another check.
fn unescape_into(s: &[u8], out: &mut String, valid: Option<&str>) {
    let mut rest = s;
    // Where `rest` starts in `s`.
    let mut at = 0;
    let push = |out: &mut String, from: usize, run: &[u8]| match valid.and_then(|v| v.get(from..from + run.len())) {
        Some(t) => out.push_str(t),
        None => push_lossy(run, out),
    };
    while let Some(i) = memchr(b'\\', rest) {
        push(out, at, &rest[..i]);
        let Some(&c) = rest.get(i + 1) else {
            out.push('\\');
            return;
        };
        match c {
            b'\'' => out.push('\''),
            b'\\' => out.push('\\'),
            b'b' => out.push('\u{8}'),
            b't' => out.push('\t'),
            b'n' => out.push('\n'),
            b'f' => out.push('\u{c}'),
            b'r' => out.push('\r'),
            _ => {
                // Not an escape the server writes: keep the backslash, the next byte follows as text.
                out.push('\\');
                rest = &rest[i + 1..];
                at += i + 1;
                continue;
            }
        }
        rest = &rest[i + 2..];
        at += i + 2;
    }
    push(out, at, rest);
}

fn push_lossy(b: &[u8], out: &mut String) {
    match std::str::from_utf8(b) {
        Ok(s) => out.push_str(s),
        Err(_) => out.push_str(&String::from_utf8_lossy(b)),
    }
}

/// `host:port` (MariaDB 12.0.1+) into host and port. An IPv6 address without brackets keeps its last
/// group unless that cannot be a hex group (five digits); `[addr]:port` loses the brackets' port.
/// A Unix-socket login has the port `unavailable` (`localhost:unavailable`).
fn split_port(hp: &[u8]) -> (&[u8], Option<&[u8]>) {
    let Some(c) = memrchr(b':', hp) else { return (hp, None) };
    let (host, port) = (&hp[..c], &hp[c + 1..]);
    if port == b"unavailable" && !host.is_empty() {
        return (host, Some(port));
    }
    let is_port = !port.is_empty() && port.len() <= 5 && port.iter().all(u8::is_ascii_digit) && parse_u64(port).is_some_and(|p| p <= 65535);
    if !is_port || host.is_empty() {
        return (hp, None);
    }
    if let Some(inner) = host.strip_prefix(b"[").and_then(|h| h.strip_suffix(b"]")) {
        return (inner, Some(port));
    }
    if memchr(b':', host).is_none() || port.len() == 5 {
        (host, Some(port))
    } else {
        (hp, None)
    }
}

/// A line and, when it is valid UTF-8, its text.
struct Line<'a> {
    raw: &'a [u8],
    valid: Option<&'a str>,
}

impl<'a> Line<'a> {
    /// The text of `b`, a part of the line (invalid UTF-8 replaced).
    fn text(&self, b: &'a [u8]) -> std::borrow::Cow<'a, str> {
        match self.valid_text(b) {
            Some(s) => std::borrow::Cow::Borrowed(s),
            None => String::from_utf8_lossy(b),
        }
    }

    /// The text of `b`, a part of the line, when it is whole characters of a valid line.
    fn valid_text(&self, b: &'a [u8]) -> Option<&'a str> {
        let start = (b.as_ptr() as usize).wrapping_sub(self.raw.as_ptr() as usize);
        self.valid.and_then(|v| v.get(start..)).and_then(|t| t.get(..b.len()))
    }
}

fn lossy(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
}

fn clip(b: &[u8]) -> std::borrow::Cow<'_, str> {
    lossy(&b[..b.len().min(120)])
}

