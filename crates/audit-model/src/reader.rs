//! A streaming reader over `BufRead`: the parsers' core driven over a growing buffer.

use std::io::{BufRead, ErrorKind};

use crate::detect::{detect, Detection, DETECT_LIMIT};
use crate::error::{Error, MalformedRecord, Position};
use crate::formats::parser_for;
use crate::parser::{FormatParser, ParseOptions, Step};
use crate::record::{Format, Record};

/// The default largest record accepted: 64 MiB (the Percona plugin writes records of 16 MiB and more for
/// large statements). The reader's memory is bounded by this, not by the file.
pub const DEFAULT_MAX_RECORD: usize = 64 << 20;
const CHUNK: usize = 256 << 10;
/// While skipping an oversized record, this many trailing bytes stay buffered so a record start that
/// straddles two reads is still seen.
const RESYNC_KEEP: usize = 64;

/// How a [`RecordReader`] reads.
#[derive(Debug, Clone)]
pub struct ReaderOptions {
    format: Option<Format>,
    parse: ParseOptions,
    max_record: usize,
    start_offset: u64,
}

impl Default for ReaderOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl ReaderOptions {
    /// Detect the format, UTC for zone-less timestamps, 64 MiB records at most, offsets from 0.
    pub fn new() -> Self {
        ReaderOptions { format: None, parse: ParseOptions::default(), max_record: DEFAULT_MAX_RECORD, start_offset: 0 }
    }
    /// Reads this format instead of detecting it.
    pub fn format(mut self, format: Format) -> Self {
        self.format = Some(format);
        self
    }
    /// Detects the format when `None`.
    pub fn format_opt(mut self, format: Option<Format>) -> Self {
        self.format = format;
        self
    }
    /// The time zone of zone-less timestamps.
    pub fn time_zone(mut self, tz: jiff::tz::TimeZone) -> Self {
        self.parse.time_zone = tz;
        self
    }
    /// A time no record is later than (a file's modification time): the year of traditional syslog
    /// timestamps, which have none, is taken from it. Default: the time each line is read.
    pub fn reference_time(mut self, at: jiff::Timestamp) -> Self {
        self.parse.reference_time = Some(at);
        self
    }
    /// MariaDB's `server_audit_timestamp_format`, when it is not the default.
    pub fn mariadb_timestamp_format(mut self, format: impl Into<String>) -> Self {
        self.parse.mariadb_timestamp_format = Some(format.into());
        self
    }
    /// All parse options at once.
    pub fn parse_options(mut self, parse: ParseOptions) -> Self {
        self.parse = parse;
        self
    }
    /// The largest record accepted; a larger one is reported malformed and skipped.
    pub fn max_record(mut self, bytes: usize) -> Self {
        self.max_record = bytes.max(1024);
        self
    }
    /// The offset of the input's first byte in its file, for a follower that resumes mid-file: spans and
    /// error positions are then file offsets.
    pub fn start_offset(mut self, offset: u64) -> Self {
        self.start_offset = offset;
        self
    }
}

/// Reads records from a `BufRead`, in order.
///
/// A malformed record yields an [`Error::Malformed`] and reading goes on after it. A trailing
/// incomplete record is never yielded: the iterator ends, [`RecordReader::complete_offset`] says where
/// the complete part ends and [`RecordReader::pending`] how many bytes wait. Calling `next` again after
/// the input grew (a live file) goes on from there.
///
/// ```
/// use audit_model::{RecordReader, ReaderOptions, Kind};
///
/// let log = br#"{"audit_record":{"name":"Connect","record":"1_2021-06-30T15:03:11","timestamp":"2021-06-30T15:07:58Z","connection_id":"7","status":1045,"user":"alice","priv_user":"","os_login":"","proxy_user":"","host":"localhost","ip":"","db":""}}
/// {"audit_record":{"name":"Query","record":"2_2021-06-30T15:03:11","timestamp":"2021-06-30T15:07:59Z","command_class":"select","connection_id":"8","status":0,"sqltext":"select 1","user":"root[root] @ localhost []","host":"localhost","os_user":"","ip":"","db":""}}
/// {"audit_record":{"name":"Qu"#;
/// let mut reader = RecordReader::new(&log[..], ReaderOptions::new());
/// let first = reader.next().unwrap().unwrap();
/// assert_eq!(first.kind(), Kind::Connect);
/// assert!(first.is_failed_login());
/// assert_eq!(first.user(), Some("alice"));
/// let second = reader.next().unwrap().unwrap();
/// assert_eq!(second.sqltext(), Some("select 1"));
/// assert!(reader.next().is_none()); // the torn last record is not yielded
/// assert_eq!(reader.complete_offset(), second.span().end + 1);
/// assert_eq!(reader.pending(), r#"{"audit_record":{"name":"Qu"#.len());
/// ```
#[derive(Debug)]
pub struct RecordReader<R> {
    inner: R,
    opts: ReaderOptions,
    parser: Option<Box<dyn FormatParser>>,
    buf: Vec<u8>,
    /// `buf[pos..end]` is unconsumed input.
    pos: usize,
    end: usize,
    /// Input offset of `buf[pos]`.
    offset: u64,
    /// 1-based line of `buf[counted]`: newlines are counted only when a position is reported or bytes
    /// leave the buffer, in long runs (one count a record cost as much as parsing a short field).
    line: u64,
    counted: usize,
    /// The next read must bring at least this many bytes before the parser is asked again.
    want: usize,
    /// Skipping a record larger than the limit whose end is not in the buffer yet: the error to report
    /// once the next record start is found.
    skipping: Option<MalformedRecord>,
    /// Other programs' lines skipped in a shared log (syslog, the journal).
    foreign: u64,
    /// Bytes at the front of the input's buffer parsed in place but not consumed yet (consumed in
    /// one go, with their lines counted, when that buffer is used up or the copying path is taken).
    used: usize,
    /// The input gave an empty buffer and then bytes when read (a `BufReader` of capacity 0): it has
    /// no buffer to parse in place, and is not asked for one again.
    no_window: bool,
    /// The last look at the input's buffer found it empty.
    probed_empty: bool,
}

impl<R: BufRead> RecordReader<R> {
    /// A reader over `inner`.
    pub fn new(inner: R, opts: ReaderOptions) -> Self {
        let parser = opts.format.map(|f| parser_for(f, &opts.parse));
        RecordReader {
            inner,
            offset: opts.start_offset,
            opts,
            parser,
            buf: Vec::new(),
            pos: 0,
            end: 0,
            line: 1,
            counted: 0,
            want: 0,
            skipping: None,
            foreign: 0,
            used: 0,
            no_window: false,
            probed_empty: false,
        }
    }

    /// The format read: the one given, or the one detected (`None` until enough bytes were seen).
    pub fn format(&self) -> Option<Format> {
        self.parser.as_ref().map(|p| p.format())
    }

    /// The input offset just past the last complete record, error or skipped bytes: where a follower
    /// resumes.
    pub fn complete_offset(&self) -> u64 {
        self.offset
    }

    /// How many lines of other programs a shared log (syslog, the journal) held so far: skipped, as they
    /// are not audit records, and counted here rather than reported as errors.
    pub fn foreign_lines(&self) -> u64 {
        self.foreign
    }

    /// Bytes read but not yet part of a complete record (an incomplete last record at the end).
    pub fn pending(&self) -> usize {
        self.end - self.pos
    }

    /// The pending bytes themselves.
    pub fn pending_bytes(&self) -> &[u8] {
        &self.buf[self.pos..self.end]
    }

    /// Bytes the reader holds in memory: bounded by the largest record (and the read size), not by the
    /// input.
    pub fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// The underlying reader.
    ///
    /// Bytes parsed in place from its buffer may not be consumed from it yet.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The underlying reader, mutably (a follower reopens or seeks it).
    pub fn get_mut(&mut self) -> &mut R {
        self.release();
        &mut self.inner
    }

    /// Gives up the underlying reader.
    pub fn into_inner(mut self) -> R {
        self.release();
        self.inner
    }

    fn here(&mut self) -> Position {
        self.count_lines();
        Position { byte: self.offset, line: self.line }
    }

    /// Brings `line` up to `pos`.
    fn count_lines(&mut self) {
        self.line += memchr::memchr_iter(b'\n', &self.buf[self.counted..self.pos]).count() as u64;
        self.counted = self.pos;
    }

    fn advance(&mut self, n: usize) {
        self.pos += n;
        self.offset += n as u64;
        self.want = 0;
    }

    fn malformed(&mut self, len: usize, reason: String) -> Error {
        let len = len.clamp(1, self.end - self.pos);
        let raw = self.buf[self.pos..self.pos + len.min(MalformedRecord::MAX_RAW)].to_vec();
        let err = MalformedRecord { position: self.here(), len: len as u64, reason, raw };
        self.advance(len);
        Error::Malformed(Box::new(err))
    }

    /// Reads more input; `Ok(false)` at the (current) end of the input.
    fn fill(&mut self) -> std::io::Result<bool> {
        if self.pos > 0 && (self.pos == self.end || self.end + CHUNK > self.buf.len()) {
            self.count_lines();
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
            self.counted = 0;
        }
        // Grow geometrically while one record is incomplete, so a 16 MiB record is scanned O(n) times.
        let avail = self.end - self.pos;
        let read_size = CHUNK.max(avail);
        if self.buf.len() < self.end + read_size {
            self.buf.resize(self.end + read_size, 0);
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.probed_empty = false;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end += n;
                    self.no_window |= std::mem::take(&mut self.probed_empty);
                    return Ok(true);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// One step of the parser over the input's own buffer ([`BufRead::fill_buf`]), with no copy into
    /// this reader's: taken while this reader holds nothing and the format is known, for the
    /// records that lie whole in the input's buffer. Whatever else (a record cut by the end of that
    /// buffer, one over the limit, the end of the input, an input whose buffer is empty such as a
    /// `BufReader` of capacity 0) goes through the copying path below, which decides it as before.
    fn step_in_place(&mut self) -> InPlace {
        if self.no_window || self.pos != self.end || self.skipping.is_some() || self.want != 0 {
            self.release();
            return InPlace::Buffer;
        }
        let Some(parser) = self.parser.as_mut() else {
            self.release();
            return InPlace::Buffer;
        };
        let window = match self.inner.fill_buf() {
            Ok(w) if w.len() > self.used => w,
            // Used up: consumed, and a new look.
            Ok(w) if self.used > 0 && w.len() == self.used => {
                self.release();
                return InPlace::Again;
            }
            // The end, or an input whose buffer is empty: the copying path reads and says which.
            Ok(_) => {
                self.probed_empty = true;
                return InPlace::Buffer;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => return InPlace::Again,
            // Reported as the copying path would (a corrupt compressed stream is one).
            Err(source) => return InPlace::Done(Err(Error::Io { offset: self.offset, source })),
        };
        let front = &window[self.used..];
        let avail = front.len();
        let (n, out) = match parser.step(front) {
            Step::Skip(n) => (n.clamp(1, avail), InPlace::Again),
            Step::Foreign(n) => {
                self.foreign += 1;
                (n.clamp(1, avail), InPlace::Again)
            }
            Step::Record { len, .. } | Step::Malformed { len, .. } if len > self.opts.max_record => {
                self.release();
                return InPlace::Buffer;
            }
            Step::Record { len, mut record } => {
                let len = len.clamp(1, avail);
                record.span = self.offset..self.offset + len as u64;
                (len, InPlace::Done(Ok(record)))
            }
            Step::Malformed { len, reason } => {
                let len = len.clamp(1, avail);
                let raw = front[..len.min(MalformedRecord::MAX_RAW)].to_vec();
                // Lines of this reader's buffer, then of the input's up to here.
                self.line += memchr::memchr_iter(b'\n', &self.buf[self.counted..self.pos]).count() as u64;
                self.counted = self.pos;
                let line = self.line + memchr::memchr_iter(b'\n', &window[..self.used]).count() as u64;
                let err = MalformedRecord { position: Position { byte: self.offset, line }, len: len as u64, reason, raw };
                (len, InPlace::Done(Err(Error::Malformed(Box::new(err)))))
            }
            Step::NeedMore => {
                self.release();
                return InPlace::Buffer;
            }
        };
        self.offset += n as u64;
        self.used += n;
        out
    }

    /// Consumes what was parsed in place from the input's buffer, counting its lines.
    fn release(&mut self) {
        if self.used == 0 {
            return;
        }
        if let Ok(w) = self.inner.fill_buf() {
            self.line += memchr::memchr_iter(b'\n', &w[..self.used.min(w.len())]).count() as u64;
        }
        self.inner.consume(self.used);
        self.used = 0;
    }

    /// The next record or error; `None` at the (current) end of the input.
    pub fn read_record(&mut self) -> Option<Result<Record, Error>> {
        loop {
            match self.step_in_place() {
                InPlace::Done(item) => return Some(item),
                InPlace::Again => continue,
                InPlace::Buffer => {}
            }
            let avail = self.end - self.pos;
            if avail > 0 && avail >= self.want {
                if self.parser.is_none() {
                    match detect(&self.buf[self.pos..self.end]) {
                        Detection::Format(f) => self.parser = Some(parser_for(f, &self.opts.parse)),
                        Detection::Foreign(n) => {
                            self.advance(n.clamp(1, avail));
                            self.foreign += 1;
                            continue;
                        }
                        Detection::Unknown => {
                            // Skip a line (a content-defined unit, so the outcome does not depend on
                            // buffering) and try again on the next: a log may start with a stray line.
                            let bytes = &self.buf[self.pos..self.end];
                            let len = match memchr::memchr(b'\n', bytes) {
                                Some(nl) => Some(nl + 1),
                                None if avail >= DETECT_LIMIT => Some(DETECT_LIMIT),
                                // The line is not complete yet: read more.
                                None => None,
                            };
                            if let Some(len) = len {
                                let reason = "not the start of any known audit-log format (give the format explicitly)".to_string();
                                return Some(Err(self.malformed(len, reason)));
                            }
                        }
                        Detection::NeedMore => {}
                    }
                }
                if let Some(mut skip) = self.skipping.take() {
                    let found = self.parser.as_ref().and_then(|p| p.resync(&self.buf[self.pos..self.end]));
                    // Keep the last bytes: a record start may begin in them.
                    let n = found.unwrap_or(avail.saturating_sub(RESYNC_KEEP));
                    let room = MalformedRecord::MAX_RAW.saturating_sub(skip.raw.len());
                    skip.raw.extend_from_slice(&self.buf[self.pos..self.pos + n.min(room)]);
                    skip.len += n as u64;
                    self.advance(n);
                    if found.is_some() {
                        return Some(Err(Error::Malformed(Box::new(skip))));
                    }
                    self.skipping = Some(skip);
                    self.want = avail - n + 1;
                } else if let Some(parser) = self.parser.as_mut() {
                    match parser.step(&self.buf[self.pos..self.end]) {
                        Step::Skip(n) => {
                            self.advance(n.clamp(1, avail));
                            continue;
                        }
                        Step::Foreign(n) => {
                            self.advance(n.clamp(1, avail));
                            self.foreign += 1;
                            continue;
                        }
                        // Over the limit is over the limit whether the end was in the buffer or not: the
                        // outcome must not depend on how much was buffered.
                        Step::Record { len, .. } | Step::Malformed { len, .. } if len > self.opts.max_record => {
                            let reason = format!("record larger than the limit of {} bytes", self.opts.max_record);
                            return Some(Err(self.malformed(len, reason)));
                        }
                        Step::Record { len, mut record } => {
                            let len = len.clamp(1, avail);
                            record.span = self.offset..self.offset + len as u64;
                            self.advance(len);
                            return Some(Ok(record));
                        }
                        Step::Malformed { len, reason } => return Some(Err(self.malformed(len, reason))),
                        Step::NeedMore => {}
                    }
                    if avail >= self.opts.max_record {
                        let reason = format!("record larger than the limit of {} bytes", self.opts.max_record);
                        match parser.resync(&self.buf[self.pos..self.end]) {
                            Some(n) => return Some(Err(self.malformed(n, reason))),
                            None => {
                                // Its end is not in the buffer: skip until the next record start, then
                                // report the whole record as one error.
                                let n = avail.saturating_sub(RESYNC_KEEP);
                                let raw = self.buf[self.pos..self.pos + n.min(MalformedRecord::MAX_RAW)].to_vec();
                                self.skipping = Some(MalformedRecord { position: self.here(), len: n as u64, reason, raw });
                                self.advance(n);
                                self.want = avail - n + 1;
                                continue;
                            }
                        }
                    }
                    self.want = avail + 1;
                } else {
                    self.want = avail + 1;
                }
            }
            match self.fill() {
                Ok(true) => {}
                Ok(false) => {
                    self.want = 0;
                    return None;
                }
                Err(source) => return Some(Err(Error::Io { offset: self.offset + (self.end - self.pos) as u64, source })),
            }
        }
    }
}

/// What [`RecordReader::step_in_place`] did.
#[allow(clippy::large_enum_variant)] // as `Step`: the record is moved once, boxing it would allocate a record
enum InPlace {
    /// A record or an error, its bytes consumed from the input.
    Done(Result<Record, Error>),
    /// Bytes skipped: look again.
    Again,
    /// Nothing: take the copying path.
    Buffer,
}

impl<R: BufRead> Iterator for RecordReader<R> {
    type Item = Result<Record, Error>;
    fn next(&mut self) -> Option<Self::Item> {
        self.read_record()
    }
}

/// Parses a whole in-memory input: every record and every error, in order, plus the offset where the
/// complete part ends. Convenient for tests and small inputs; use [`crate::RecordReader`] for streams.
pub fn parse_all(
    format: Format,
    opts: &ParseOptions,
    input: &[u8],
) -> (Vec<Result<Record, MalformedRecord>>, u64) {
    let mut rdr = RecordReader::new(input, ReaderOptions::new().format(format).parse_options(opts.clone()));
    let mut out = Vec::new();
    for item in rdr.by_ref() {
        match item {
            Ok(r) => out.push(Ok(r)),
            Err(Error::Malformed(m)) => out.push(Err(*m)),
            Err(e) => unreachable!("reading a slice cannot fail: {e}"),
        }
    }
    (out, rdr.complete_offset())
}
