//! The header of a syslog line as rsyslog, syslog-ng and `journalctl` write files:
//!
//! - traditional (RFC 3164, rsyslog's default file format, syslog-ng, `journalctl`'s `short`):
//!   `Mmm dd hh:mm:ss host tag[pid]: msg`, the day space- or zero-padded, seconds maybe fractional;
//! - ISO timestamp first (rsyslog's `RSYSLOG_FileFormat`, syslog-ng's ISO dates, `short-iso`):
//!   `2026-12-01T10:00:00.123456+00:00 host tag[pid]: msg`;
//! - RFC 5424 (`RSYSLOG_SyslogProtocol23Format`): `<PRI>1 timestamp host app procid msgid sd msg`.
//!
//! Any of them may start with `<PRI>`, as files written straight from the network do. rsyslog escapes
//! control characters on receipt as `#` and three octal digits (`#012` for a newline); [`unescape`]
//! undoes that for control characters only.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use memchr::memchr;

/// The parts of a syslog line before its message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Header<'a> {
    pub(crate) timestamp: Stamp<'a>,
    pub(crate) host: &'a [u8],
    /// The tag (ident, program name, APP-NAME), without `[pid]` and `:`.
    pub(crate) tag: &'a [u8],
    pub(crate) pid: Option<&'a [u8]>,
    /// Offset of the message in the line.
    pub(crate) msg_start: usize,
}

/// A header's timestamp as written.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stamp<'a> {
    /// With a date and zone (ISO, RFC 5424).
    Iso(&'a [u8]),
    /// `Mmm dd hh:mm:ss[.f]`: no year, no zone.
    Traditional(&'a [u8]),
    /// RFC 5424's NILVALUE `-`.
    Nil,
}

impl Stamp<'_> {
    /// The text as written (`-` for none).
    pub(crate) fn text(&self) -> &[u8] {
        match self {
            Stamp::Iso(t) | Stamp::Traditional(t) => t,
            Stamp::Nil => b"-",
        }
    }

    /// The instant: traditional timestamps are in `tz`, in the latest year that puts them at most two
    /// days after `reference` (clocks and zones differ; a log is not read before it is written).
    pub(crate) fn resolve(&self, tz: &TimeZone, reference: Timestamp) -> Result<Timestamp, String> {
        let text = String::from_utf8_lossy(self.text());
        let bad = |e: &dyn std::fmt::Display| format!("invalid syslog timestamp {text:?}: {e}");
        match self {
            Stamp::Nil => Err("the syslog line has no timestamp (`-`)".into()),
            Stamp::Iso(t) => {
                let s = std::str::from_utf8(t).map_err(|e| bad(&e))?;
                iso_with_colon(s).parse::<Timestamp>().map_err(|e| bad(&e))
            }
            Stamp::Traditional(t) => {
                let (month, day, rest) = traditional_parts(t).ok_or_else(|| bad(&"not Mmm dd hh:mm:ss"))?;
                let time: jiff::civil::Time = std::str::from_utf8(rest).map_err(|e| bad(&e))?.parse().map_err(|e| bad(&e))?;
                let latest = reference.checked_add(48.hours()).map_err(|e| bad(&e))?;
                let year = latest.to_zoned(tz.clone()).year();
                // Feb 29 exists only in leap years: look back far enough for one.
                for y in (year - 8..=year).rev() {
                    let Ok(date) = jiff::civil::Date::new(y, month, day) else { continue };
                    let ts = tz.to_timestamp(DateTime::from_parts(date, time)).map_err(|e| bad(&e))?;
                    if ts <= latest {
                        return Ok(ts);
                    }
                }
                Err(bad(&"no year makes this date valid"))
            }
        }
    }
}

/// `+0000` (journalctl's `short-iso`) as `+00:00`, which RFC 3339 parsers take.
fn iso_with_colon(s: &str) -> std::borrow::Cow<'_, str> {
    let b = s.as_bytes();
    let n = b.len();
    if n > 5 && matches!(b[n - 5], b'+' | b'-') && b[n - 4..].iter().all(u8::is_ascii_digit) {
        return format!("{}:{}", &s[..n - 2], &s[n - 2..]).into();
    }
    s.into()
}

const MONTHS: [&[u8; 3]; 12] = [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];

/// `Mmm dd hh:mm:ss[.f]` into month, day and the time text.
fn traditional_parts(t: &[u8]) -> Option<(i8, i8, &[u8])> {
    let month = MONTHS.iter().position(|m| t.starts_with(*m))? as i8 + 1;
    let (d1, d2) = (*t.get(4)?, *t.get(5)?);
    let tens = if d1 == b' ' { 0 } else if d1.is_ascii_digit() { d1 - b'0' } else { return None };
    if t.get(3) != Some(&b' ') || !d2.is_ascii_digit() || t.get(6) != Some(&b' ') {
        return None;
    }
    Some((month, (tens * 10 + d2 - b'0') as i8, &t[7..]))
}

/// The length of a traditional timestamp at the front of `b`.
fn traditional_len(b: &[u8]) -> Option<usize> {
    traditional_parts(b.get(..15)?)?;
    let clock = &b[7..15];
    let shape = clock.iter().enumerate().all(|(i, c)| if i == 2 || i == 5 { *c == b':' } else { c.is_ascii_digit() });
    shape.then(|| 15 + fraction_len(&b[15..]))
}

/// `.digits` at the front of `b`.
fn fraction_len(b: &[u8]) -> usize {
    match b.first() {
        Some(b'.') => {
            let n = b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if n > 0 { n + 1 } else { 0 }
        }
        _ => 0,
    }
}

/// The length of an ISO timestamp with a zone at the front of `b`: `YYYY-MM-DDThh:mm:ss[.f]` then
/// `Z`, `+hh:mm` or `+hhmm`.
fn iso_len(b: &[u8]) -> Option<usize> {
    let shape = b"dddd-dd-ddTdd:dd:dd";
    if b.len() < shape.len() {
        return None;
    }
    for (i, &want) in shape.iter().enumerate() {
        let ok = if want == b'd' { b[i].is_ascii_digit() } else { b[i] == want };
        if !ok {
            return None;
        }
    }
    let mut n = shape.len() + fraction_len(&b[shape.len()..]);
    match b.get(n) {
        Some(b'Z') => n += 1,
        Some(b'+' | b'-') => {
            let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
            if digits(n + 1..n + 3) && b.get(n + 3) == Some(&b':') && digits(n + 4..n + 6) {
                n += 6;
            } else if digits(n + 1..n + 5) {
                n += 5;
            } else {
                return None;
            }
        }
        _ => return None,
    }
    Some(n)
}

/// `<digits>` at the front: its length.
fn pri_len(b: &[u8]) -> usize {
    if b.first() != Some(&b'<') {
        return 0;
    }
    let n = b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
    if (1..=3).contains(&n) && b.get(n + 1) == Some(&b'>') {
        n + 2
    } else {
        0
    }
}

/// A token ending at a space: its end.
fn token(b: &[u8], from: usize) -> Option<usize> {
    let n = b.get(from..)?.iter().position(|&c| c == b' ')?;
    (n > 0).then_some(from + n)
}

/// Parses the header of `line`; `None` when it does not start like a syslog line.
pub(crate) fn header(line: &[u8]) -> Option<Header<'_>> {
    let start = pri_len(line);
    let b = &line[start..];
    if start > 0 && b.starts_with(b"1 ") {
        return rfc5424(line, start + 2);
    }
    let (stamp, len) = if let Some(n) = iso_len(b) {
        (Stamp::Iso(&b[..n]), n)
    } else if let Some(n) = traditional_len(b) {
        (Stamp::Traditional(&b[..n]), n)
    } else {
        return None;
    };
    let host_start = start + len + 1;
    if line.get(start + len) != Some(&b' ') {
        return None;
    }
    let host_end = token(line, host_start)?;
    let host = &line[host_start..host_end];
    // `tag[pid]: ` or `tag: `; a line without one (`-- MARK --`) has an empty tag.
    let rest = &line[host_end + 1..];
    let word = rest.iter().position(|&c| c == b' ').unwrap_or(rest.len());
    let (tag, pid, msg_start) = match rest[..word].strip_suffix(b":") {
        // One space separates the tag from the message; more belong to the message.
        Some(t) => {
            let msg_start = (host_end + 1 + word + 1).min(line.len());
            match t.strip_suffix(b"]").and_then(|t| memchr(b'[', t).map(|i| (&t[..i], &t[i + 1..]))) {
                Some((tag, pid)) => (tag, Some(pid), msg_start),
                None => (t, None, msg_start),
            }
        }
        None => (&rest[..0], None, host_end + 1),
    };
    Some(Header { timestamp: stamp, host, tag, pid, msg_start })
}

/// `1 timestamp host app procid msgid sd msg`, from `at` (just after the version).
fn rfc5424(line: &[u8], at: usize) -> Option<Header<'_>> {
    let ts_end = token(line, at)?;
    let ts = &line[at..ts_end];
    let stamp = if ts == b"-" { Stamp::Nil } else if iso_len(ts) == Some(ts.len()) { Stamp::Iso(ts) } else { return None };
    let host_end = token(line, ts_end + 1)?;
    let app_end = token(line, host_end + 1)?;
    let pid_end = token(line, app_end + 1)?;
    let msgid_end = token(line, pid_end + 1)?;
    let nil = |v: &[u8]| v != b"-";
    let host = &line[ts_end + 1..host_end];
    let app = &line[host_end + 1..app_end];
    let pid = &line[app_end + 1..pid_end];
    let sd_end = structured_data_end(line, msgid_end + 1)?;
    let msg_start = (sd_end + 1).min(line.len());
    let msg_start = if line.get(sd_end) == Some(&b' ') { msg_start } else { sd_end };
    Some(Header {
        timestamp: stamp,
        host: if nil(host) { host } else { &host[..0] },
        tag: if nil(app) { app } else { &app[..0] },
        pid: nil(pid).then_some(pid),
        msg_start,
    })
}

/// The end of RFC 5424 STRUCTURED-DATA (`-` or `[id k="v" ...]...`, `\]` escaped in values).
fn structured_data_end(line: &[u8], at: usize) -> Option<usize> {
    match line.get(at)? {
        b'-' => Some(at + 1),
        b'[' => {
            let mut i = at;
            while line.get(i) == Some(&b'[') {
                let mut in_value = false;
                i += 1;
                loop {
                    match *line.get(i)? {
                        b'\\' if in_value => i += 1,
                        b'"' => in_value = !in_value,
                        b']' if !in_value => break,
                        _ => {}
                    }
                    i += 1;
                }
                i += 1;
            }
            Some(i)
        }
        _ => None,
    }
}

/// Undoes rsyslog's escaping of control characters (`#012` for a newline, `#011` for a TAB): `#` and
/// three octal digits whose value is below 32 or 127. Other `#` sequences are text.
pub(crate) fn unescape(msg: &[u8], out: &mut Vec<u8>) {
    let mut rest = msg;
    while let Some(i) = memchr(b'#', rest) {
        out.extend_from_slice(&rest[..i]);
        let code = rest.get(i + 1..i + 4).filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match code.map(|d| (d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0')) {
            Some(c) if c < 32 || c == 127 => {
                out.push(c);
                rest = &rest[i + 4..];
            }
            _ => {
                out.push(b'#');
                rest = &rest[i + 1..];
            }
        }
    }
    out.extend_from_slice(rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(line: &str) -> (String, String, String, Option<String>, String) {
        let h = header(line.as_bytes()).unwrap();
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (s(h.timestamp.text()), s(h.host), s(h.tag), h.pid.map(s), line[h.msg_start..].to_string())
    }

    #[test]
    fn the_three_rsyslog_layouts() {
        assert_eq!(
            parts("Dec  2 00:58:14 vm mysql-server_auditing:  vm,root,localhost,3,0,CONNECT,,,0"),
            ("Dec  2 00:58:14".into(), "vm".into(), "mysql-server_auditing".into(), None, " vm,root,localhost,3,0,CONNECT,,,0".into())
        );
        assert_eq!(
            parts("2026-12-02T00:58:14.783156+00:00 vm sshd[13643]: Accepted publickey"),
            ("2026-12-02T00:58:14.783156+00:00".into(), "vm".into(), "sshd".into(), Some("13643".into()), "Accepted publickey".into())
        );
        assert_eq!(
            parts("<14>1 2026-12-02T00:58:14.761093+00:00 vm mysql-server_auditing - - -   vm,root"),
            ("2026-12-02T00:58:14.761093+00:00".into(), "vm".into(), "mysql-server_auditing".into(), None, "  vm,root".into())
        );
        assert_eq!(
            parts("<13>1 2026-12-02T00:58:14Z vm app 12 ID47 [ex@1 a=\"x\\]y\"][b@2 c=\"d\"] msg"),
            ("2026-12-02T00:58:14Z".into(), "vm".into(), "app".into(), Some("12".into()), "msg".into())
        );
        assert_eq!(parts("Dec 01 10:00:00 vm -- MARK --").4, "-- MARK --");
        assert_eq!(parts("2026-12-01T10:00:00+0000 vm app: m").0, "2026-12-01T10:00:00+0000");
    }

    #[test]
    fn not_syslog() {
        for line in ["20261129 05:02:38,vm,root,localhost,1,0,CONNECT,,,0", "{\"audit_record\":{}}", "<AUDIT_RECORD", "Dec 01 10:00:00,vm,root", ""] {
            assert!(header(line.as_bytes()).is_none(), "{line}");
        }
    }

    #[test]
    fn traditional_years_come_from_the_reference() {
        let reference: Timestamp = "2027-01-03T00:00:00Z".parse().unwrap();
        let at = |t: &str| Stamp::Traditional(t.as_bytes()).resolve(&TimeZone::UTC, reference).unwrap();
        assert_eq!(at("Dec 31 23:59:59"), "2026-12-31T23:59:59Z".parse::<Timestamp>().unwrap());
        assert_eq!(at("Jan  2 10:00:00.5"), "2027-01-02T10:00:00.5Z".parse::<Timestamp>().unwrap());
        assert_eq!(at("Jan  4 10:00:00"), "2027-01-04T10:00:00Z".parse::<Timestamp>().unwrap());
        assert_eq!(at("Feb 29 10:00:00"), "2024-02-29T10:00:00Z".parse::<Timestamp>().unwrap());
    }

    #[test]
    fn rsyslog_control_escapes() {
        let mut out = Vec::new();
        unescape(b"<A#012 B=\"#1#123#011\"#", &mut out);
        assert_eq!(out, b"<A\n B=\"#1#123\t\"#");
    }
}
