//! Timestamps as the formats write them.
//!
//! Accepted: `2021-06-30T11:57:14 UTC`, `2021-06-29T19:34:38Z`, `2023-03-29T11:11:43` and
//! `2019-10-03 14:21:56` (zone-less: the configured time zone), and MariaDB's `20261129 05:02:38`
//! (local time). Fractional seconds (`.123456`) are accepted after the seconds. A `Z` or ` UTC` suffix
//! always means UTC, whatever zone is configured.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// Parses a timestamp; `tz` applies to zone-less text. Returns the reason on failure.
pub fn parse_timestamp(text: &str, tz: &TimeZone) -> Result<Timestamp, String> {
    if let Some(ts) = utc_fast(text.as_bytes(), tz) {
        return Ok(ts);
    }
    parse_general(text, tz)
}

/// The shape Percona's formats write, `YYYY-MM-DDThh:mm:ss` and `Z` or ` UTC` (or any zone-less
/// shape when the zone is UTC), read without building a civil date first: `None` for anything else,
/// which [`parse_general`] reads (or refuses with its reason).
fn utc_fast(b: &[u8], tz: &TimeZone) -> Option<Timestamp> {
    let d = |i: usize| -> Option<i64> {
        let (hi, lo) = (b[i].wrapping_sub(b'0'), b[i + 1].wrapping_sub(b'0'));
        (hi < 10 && lo < 10).then(|| i64::from(hi * 10 + lo))
    };
    // `YYYY-MM-DD` or MariaDB's `YYYYMMDD`, then `T` or a space and `hh:mm:ss`.
    let (year, month, day, t) = if b.len() >= 19 && b[4] == b'-' && b[7] == b'-' {
        (d(0)? * 100 + d(2)?, d(5)?, d(8)?, 10)
    } else if b.len() >= 17 && b[8] == b' ' {
        (d(0)? * 100 + d(2)?, d(4)?, d(6)?, 8)
    } else {
        return None;
    };
    if !(b[t] == b'T' || b[t] == b' ') || b[t + 3] != b':' || b[t + 6] != b':' {
        return None;
    }
    match &b[t + 9..] {
        b"Z" | b" UTC" | b"UTC" => {}
        b"" if tz == &TimeZone::UTC => {}
        _ => return None,
    }
    let (hour, minute, second) = (d(t + 1)?, d(t + 4)?, d(t + 7)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&month) || day < 1 || day > month_days[month as usize - 1] || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    // Days from civil, Howard Hinnant's algorithm.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Timestamp::new(days * 86_400 + hour * 3600 + minute * 60 + second, 0).ok()
}

fn parse_general(text: &str, tz: &TimeZone) -> Result<Timestamp, String> {
    let b = text.as_bytes();
    let bad = || format!("invalid timestamp {text:?}");
    // Date part: YYYY-MM-DD or YYYYMMDD.
    let (year, month, day, rest) = if b.len() >= 10 && b[4] == b'-' && b[7] == b'-' {
        (num(&b[0..4]), num(&b[5..7]), num(&b[8..10]), &b[10..])
    } else if b.len() >= 8 && b[..8].iter().all(u8::is_ascii_digit) {
        (num(&b[0..4]), num(&b[4..6]), num(&b[6..8]), &b[8..])
    } else {
        return Err(bad());
    };
    if rest.len() < 9 || !(rest[0] == b'T' || rest[0] == b' ') || rest[3] != b':' || rest[6] != b':' {
        return Err(bad());
    }
    let (hour, minute, second) = (num(&rest[1..3]), num(&rest[4..6]), num(&rest[7..9]));
    let mut rest = &rest[9..];
    let mut nanos: i64 = 0;
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return Err(bad());
        }
        nanos = num(&frac[..n]).ok_or_else(bad)? * 10_i64.pow(9 - n as u32);
        rest = &frac[n..];
    }
    let utc = match rest {
        b"" => false,
        b"Z" | b" UTC" | b"UTC" => true,
        _ => return Err(bad()),
    };
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) =
        (year, month, day, hour, minute, second)
    else {
        return Err(bad());
    };
    let dt = DateTime::new(
        year as i16,
        month as i8,
        day as i8,
        hour as i8,
        minute as i8,
        second as i8,
        nanos as i32,
    )
    .map_err(|e| format!("invalid timestamp {text:?}: {e}"))?;
    if utc || tz == &TimeZone::UTC {
        utc_timestamp(dt).ok_or_else(bad)
    } else {
        tz.to_timestamp(dt).map_err(|e| format!("invalid timestamp {text:?}: {e}"))
    }
}

fn num(digits: &[u8]) -> Option<i64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
}

/// UTC civil time to an instant without a time-zone lookup (the hot path for Percona's formats).
fn utc_timestamp(dt: DateTime) -> Option<Timestamp> {
    // Days from civil, Howard Hinnant's algorithm.
    let (y, m, d) = (i64::from(dt.year()), i64::from(dt.month()), i64::from(dt.day()));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400
        + i64::from(dt.hour()) * 3600
        + i64::from(dt.minute()) * 60
        + i64::from(dt.second());
    Timestamp::new(secs, dt.subsec_nanosecond()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_written_form() {
        let utc = TimeZone::UTC;
        let want: Timestamp = "2021-06-30T11:57:14Z".parse().unwrap();
        for text in ["2021-06-30T11:57:14 UTC", "2021-06-30T11:57:14Z", "2021-06-30T11:57:14", "2021-06-30 11:57:14", "20210630 11:57:14"] {
            assert_eq!(parse_timestamp(text, &utc).unwrap(), want, "{text}");
        }
        assert_eq!(
            parse_timestamp("2021-06-30T11:57:14.250Z", &utc).unwrap(),
            "2021-06-30T11:57:14.25Z".parse::<Timestamp>().unwrap()
        );
    }

    #[test]
    fn local_time_uses_the_zone_but_suffix_wins() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        assert_eq!(
            parse_timestamp("20261129 05:02:38", &berlin).unwrap(),
            "2026-11-29T04:02:38Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(
            parse_timestamp("2026-11-29T05:02:38Z", &berlin).unwrap(),
            "2026-11-29T05:02:38Z".parse::<Timestamp>().unwrap()
        );
    }

    #[test]
    fn refuses_garbage() {
        for text in ["", "<DATETIME>", "2021-13-01T00:00:00Z", "2021-06-30T11:57", "2021-06-30T11:57:14 CET", "2021-02-30 00:00:00"] {
            assert!(parse_timestamp(text, &TimeZone::UTC).is_err(), "{text}");
        }
    }

    #[test]
    fn shortcut_agrees_with_the_general_parse() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        for text in [
            "2021-06-30T11:57:14Z",
            "2021-06-30T11:57:14 UTC",
            "2021-06-30 11:57:14UTC",
            "2000-02-29T23:59:59Z",
            "1900-02-28T00:00:00Z",
            "0000-01-01T00:00:00Z",
            "9999-12-30T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "2024-12-31T00:00:00",
            "20261129 05:02:38",
            "20240229 23:59:59Z",
        ] {
            assert_eq!(utc_fast(text.as_bytes(), &TimeZone::UTC).map(Ok), Some(parse_general(text, &TimeZone::UTC)), "{text}");
        }
        // Beyond jiff's range: left to the general parse, which refuses it.
        assert_eq!(utc_fast(b"9999-12-31T23:59:59Z", &TimeZone::UTC), None);
        assert!(parse_general("9999-12-31T23:59:59Z", &TimeZone::UTC).is_err());
        for text in ["2021-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2021-06-30T24:00:00Z", "2021-06-30T11:60:00Z", "2021-06-30T11:00:60Z", "2021-00-30T11:00:00Z", "2021-06-00T11:00:00Z", "2021-06-3xT11:00:00Z", "2021-06-30T11:00:00.5Z", "2024-12-31T00:00:00", "20261129 05:02:38", "20230229 05:02:38Z", "2026112 05:02:38"] {
            assert_eq!(utc_fast(text.as_bytes(), &berlin), None, "{text}");
        }
    }

    #[test]
    fn utc_fast_path_agrees_with_jiff() {
        for s in ["1970-01-01T00:00:00", "2000-02-29T23:59:59", "2038-01-19T03:14:08", "1969-12-31T23:59:59", "9999-12-30T12:00:00"] {
            let dt: DateTime = s.parse().unwrap();
            assert_eq!(utc_timestamp(dt).unwrap(), dt.to_zoned(TimeZone::UTC).unwrap().timestamp(), "{s}");
        }
    }
}
