//! The timestamp at the start of a server_audit line.
//!
//! The default is `YYYYMMDD hh:mm:ss` (local time). MariaDB 11.x/12.x lets
//! `server_audit_timestamp_format` change it; the documented default is `%Y%m%d %H:%i:%s`, MariaDB's
//! `DATE_FORMAT` syntax (`%i` minutes, `%s` seconds, `%M` month name). Without a configured format the
//! text before the first comma is read as the default or as an ISO shape (`2026-12-01 10:00:00`,
//! `2026-12-01T10:00:00.123456`, with `Z` or an offset). With one, it is parsed by that format: a
//! format holding `%i` in MariaDB's syntax, any other as strftime.

use jiff::fmt::strtime::BrokenDownTime;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use memchr::memchr;

use crate::parser::ParseOptions;
use crate::time::parse_timestamp;

/// `YYYYMMDD hh:mm:ss`.
const DEFAULT_LEN: usize = 17;

/// Reads the leading timestamp of lines, remembering the last one (lines share seconds, and a zone
/// lookup is not free).
#[derive(Debug)]
pub(crate) struct LineClock {
    /// The configured format, translated to strftime.
    format: Option<String>,
    last: Option<(Vec<u8>, Timestamp)>,
}

impl LineClock {
    pub(crate) fn new(opts: &ParseOptions) -> Self {
        LineClock { format: opts.mariadb_timestamp_format.as_deref().map(to_strftime), last: None }
    }

    /// The timestamp at the start of `line` and its length; a comma follows it.
    pub(crate) fn leading(&mut self, line: &[u8], tz: &TimeZone) -> Result<(Timestamp, usize), String> {
        let len = if self.format.is_none() && line.len() > DEFAULT_LEN && line[DEFAULT_LEN] == b',' && line[8] == b' ' {
            DEFAULT_LEN
        } else {
            match &self.format {
                // A custom format may hold commas: it says itself where the timestamp ends.
                Some(f) => {
                    let (_, n) = BrokenDownTime::parse_prefix(f, line).map_err(|e| format!("no timestamp in the format {f:?} ({e})"))?;
                    if line.get(n) != Some(&b',') {
                        return Err(format!("no comma after the timestamp in the format {f:?}"));
                    }
                    n
                }
                None => memchr(b',', line).ok_or("no `YYYYMMDD HH:MM:SS,` timestamp at the start")?,
            }
        };
        let text = &line[..len];
        if let Some((k, ts)) = &self.last {
            if k == text {
                return Ok((*ts, len));
            }
        }
        let ts = self.parse(text, tz)?;
        let key = self.last.get_or_insert_with(|| (Vec::new(), ts));
        key.0.clear();
        key.0.extend_from_slice(text);
        key.1 = ts;
        Ok((ts, len))
    }

    fn parse(&self, text: &[u8], tz: &TimeZone) -> Result<Timestamp, String> {
        let s = std::str::from_utf8(text).map_err(|_| format!("invalid timestamp {:?}", String::from_utf8_lossy(text)))?;
        let Some(f) = &self.format else { return parse_flexible(s, tz) };
        let tm = BrokenDownTime::parse(f, s).map_err(|e| format!("invalid timestamp {s:?} for the format {f:?}: {e}"))?;
        if tm.offset().is_some() {
            return tm.to_timestamp().map_err(|e| format!("invalid timestamp {s:?}: {e}"));
        }
        let dt = tm.to_datetime().map_err(|e| format!("invalid timestamp {s:?}: {e}"))?;
        tz.to_timestamp(dt).map_err(|e| format!("invalid timestamp {s:?}: {e}"))
    }
}

/// The default shape, the ISO shapes, and ISO with a numeric offset.
fn parse_flexible(s: &str, tz: &TimeZone) -> Result<Timestamp, String> {
    match parse_timestamp(s, tz) {
        Ok(ts) => Ok(ts),
        Err(e) => s.replace(' ', "T").parse::<Timestamp>().map_err(|_| e),
    }
}

/// MariaDB's `DATE_FORMAT` specifiers as strftime; a format without `%i` is strftime already.
fn to_strftime(format: &str) -> String {
    if !format.contains("%i") {
        return format.to_string();
    }
    let mut out = String::with_capacity(format.len() + 8);
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(spec) = chars.next() else {
            out.push('%');
            break;
        };
        let mapped = match spec {
            'i' => "%M",
            's' | 'S' => "%S",
            'M' => "%B",
            'W' => "%A",
            'c' => "%-m",
            'e' => "%-d",
            'h' => "%I",
            'k' => "%-H",
            'l' => "%-I",
            'f' => "%6f",
            'r' => "%I:%M:%S %p",
            'T' => "%H:%M:%S",
            'u' => "%U",
            other => {
                out.push('%');
                out.push(other);
                continue;
            }
        };
        out.push_str(mapped);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock(format: Option<&str>) -> LineClock {
        LineClock::new(&ParseOptions { mariadb_timestamp_format: format.map(str::to_string), ..ParseOptions::default() })
    }

    #[test]
    fn default_iso_and_custom_formats() {
        let want: Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
        let utc = TimeZone::UTC;
        for (format, line) in [
            (None, "20261201 10:00:00,vm,"),
            (None, "2026-12-01 10:00:00,vm,"),
            (None, "2026-12-01T10:00:00+00:00,vm,"),
            (Some("%Y%m%d %H:%i:%s"), "20261201 10:00:00,vm,"),
            (Some("%d %b %Y, %H:%i:%s"), "01 Dec 2026, 10:00:00,vm,"),
            (Some("%Y-%m-%dT%H:%M:%S%z"), "2026-12-01T11:00:00+0100,vm,"),
        ] {
            let (ts, len) = clock(format).leading(line.as_bytes(), &utc).unwrap();
            assert_eq!(ts, want, "{line}");
            assert_eq!(&line[len..], ",vm,", "{line}");
        }
        let (ts, _) = clock(Some("%Y-%m-%d %H:%i:%s.%f")).leading(b"2026-12-01 10:00:00.250000,vm,", &utc).unwrap();
        assert_eq!(ts, "2026-12-01T10:00:00.25Z".parse::<Timestamp>().unwrap());
    }

    #[test]
    fn a_line_that_does_not_fit_the_format_is_refused() {
        assert!(clock(Some("%Y-%m-%d %H:%i:%s")).leading(b"20261201 10:00:00,vm,", &TimeZone::UTC).is_err());
        assert!(clock(None).leading(b"yesterday,vm,", &TimeZone::UTC).is_err());
    }
}
