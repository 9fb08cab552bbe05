//! The pure core every format implements: bytes in, one step out. No I/O, no allocation beyond the
//! record itself; the reader (and a follower) are adapters over it. Which parser reads which format
//! is decided in [`crate::formats`] ([`crate::parser_for`]), which depends on this and not the other
//! way round.

use jiff::tz::TimeZone;
use jiff::Timestamp;

use crate::record::{Format, Record};

/// Options every parser takes.
#[derive(Debug, Clone)]
pub struct ParseOptions {
    /// The zone of timestamps written without one (MariaDB, audit_log_filter, traditional syslog).
    /// Default UTC.
    pub time_zone: TimeZone,
    /// A time no record is later than (a file's modification time), for the year that traditional
    /// syslog timestamps (`Dec  1 10:00:00`) leave out: the latest year that puts the line at most
    /// two days after it. `None`: the current time when the line is read.
    pub reference_time: Option<Timestamp>,
    /// MariaDB's `server_audit_timestamp_format` when it is not the default, in MariaDB's `DATE_FORMAT`
    /// syntax (`%Y-%m-%d %H:%i:%s`: `%i` minutes, `%s` seconds, `%M` month name, `%f` microseconds); a
    /// format without `%i` is read as strftime. `None`: the default `YYYYMMDD hh:mm:ss` and the ISO
    /// shapes (`2026-12-01 10:00:00`, `2026-12-01T10:00:00.5+01:00`) are recognised by themselves.
    pub mariadb_timestamp_format: Option<String>,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions { time_zone: TimeZone::UTC, reference_time: None, mariadb_timestamp_format: None }
    }
}

/// What a parser made of the front of its input.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // a record is moved once a step; boxing it cost an allocation a record
pub enum Step {
    /// No complete record, and nothing to skip, at the front: more bytes are needed. At the end of the
    /// input, what is left is an incomplete record (a writer mid-record, a torn buffer wrap).
    NeedMore,
    /// The first `n` bytes belong to no record (white space, XML header or footer, JSON array
    /// punctuation): skip them.
    Skip(usize),
    /// A record made of the first `len` bytes. Its span is `0..len`; the reader moves it to where the
    /// bytes were in the input.
    Record {
        /// Bytes the record occupies.
        len: usize,
        /// The record.
        record: Record,
    },
    /// The first `len` bytes are another program's line in a shared log (syslog, the journal): not
    /// audit data, skipped and counted ([`crate::RecordReader::foreign_lines`]), never an error.
    Foreign(usize),
    /// The first `len` bytes are a record that cannot be parsed.
    Malformed {
        /// Bytes to skip.
        len: usize,
        /// Why.
        reason: String,
    },
}

/// A format's parser: looks at the front of `buf` and says what is there.
///
/// `buf` always starts where the previous step ended. A parser decides only on bytes it has seen
/// whole: it returns [`Step::Record`] only once the record's terminator is in `buf`, so a partial last
/// record of a live file is never emitted.
pub trait FormatParser: Send + std::fmt::Debug {
    /// The format this parser reads.
    fn format(&self) -> Format;
    /// One step over the front of `buf` (never empty).
    fn step(&mut self, buf: &[u8]) -> Step;
    /// The offset (at least 1) of the next place a record could start in `buf`, used to get past bytes
    /// no record can be made of (such as a record larger than the reader's limit).
    fn resync(&self, buf: &[u8]) -> Option<usize>;
}
