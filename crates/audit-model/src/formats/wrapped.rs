//! Audit records carried by a log daemon: each syslog line (see [`super::syslog`]) or `journalctl -o
//! json` line holds one message, and the messages of the audit plugin hold one record each, in the
//! plugin's own format. Other programs' lines are skipped and counted ([`Step::Foreign`]).
//!
//! A message is the plugin's when its tag is the plugin's default ident (`mysql-server_auditing`,
//! `percona-audit`) or when it looks like a record of the format (a renamed ident). MariaDB's records
//! have no timestamp there: the syslog line's (or the journal's) is the record's. Every record keeps
//! the envelope in [`crate::Record::extra`]: `syslog_timestamp`, `syslog_host`, `syslog_tag`,
//! `syslog_pid` (absent parts are left out).
//!
//! Multi-line records (Percona's XML and CSV): rsyslog escapes newlines as `#012`, which is undone;
//! syslog-ng writes them raw, so lines without a syslog header continue a record the format says is
//! not complete yet. The journal keeps them inside `MESSAGE`.

use jiff::Timestamp;
use memchr::{memchr, memmem};

use super::json::{Cursor, JVal};
use super::mariadb;
use super::syslog::{self, Stamp};
use super::parser_for;
use crate::parser::{FormatParser, ParseOptions, Step};
use crate::record::{Field, Format, Record, Wrapper};

#[derive(Debug)]
pub(crate) struct WrappedParser {
    format: Format,
    wrapper: Wrapper,
    inner_format: Format,
    /// The carried format's parser; MariaDB's messages are parsed directly (they have no timestamp).
    inner: Option<Box<dyn FormatParser>>,
    opts: ParseOptions,
    scratch: Vec<u8>,
}

/// One line's envelope.
struct Envelope {
    stamp_text: String,
    stamp: EnvStamp,
    host: Option<String>,
    tag: Option<String>,
    pid: Option<String>,
    message: Vec<u8>,
}

enum EnvStamp {
    Syslog { iso: bool, nil: bool },
    /// `__REALTIME_TIMESTAMP`: microseconds since the epoch.
    Micros(Option<i64>),
}

/// What a message held.
enum Parsed {
    Record(Box<Record>),
    /// Only structure (an XML header): nothing to report.
    Nothing,
    /// The format says the record goes on past the message.
    Incomplete,
    Malformed(String),
}

impl WrappedParser {
    pub(crate) fn new(format: Format, opts: &ParseOptions) -> Self {
        let wrapper = format.wrapper().unwrap_or(Wrapper::Syslog);
        let inner_format = format.inner();
        let inner = (inner_format != Format::MariaDb).then(|| parser_for(inner_format, opts));
        WrappedParser { format, wrapper, inner_format, inner, opts: opts.clone(), scratch: Vec::new() }
    }

    fn timestamp(&self, env: &Envelope) -> Result<Timestamp, String> {
        match env.stamp {
            EnvStamp::Micros(Some(us)) => Timestamp::from_microsecond(us).map_err(|e| format!("invalid __REALTIME_TIMESTAMP: {e}")),
            EnvStamp::Micros(None) => Err("the journal entry has no __REALTIME_TIMESTAMP".into()),
            EnvStamp::Syslog { iso, nil } => {
                let b = env.stamp_text.as_bytes();
                let stamp = if nil { Stamp::Nil } else if iso { Stamp::Iso(b) } else { Stamp::Traditional(b) };
                stamp.resolve(&self.opts.time_zone, self.opts.reference_time.unwrap_or_else(Timestamp::now))
            }
        }
    }

    fn parse_message(&mut self, msg: &[u8], env: &Envelope) -> Parsed {
        let mut record = match self.inner.as_mut() {
            None => {
                let ts = match self.timestamp(env) {
                    Ok(ts) => ts,
                    Err(e) => return Parsed::Malformed(e),
                };
                match mariadb::parse_syslog_message(msg, self.format) {
                    Ok(mut b) => {
                        b.timestamp(ts).set(Field::TimestampText, &env.stamp_text);
                        b.build()
                    }
                    Err(e) => return Parsed::Malformed(e),
                }
            }
            Some(inner) => {
                self.scratch.clear();
                self.scratch.extend_from_slice(msg);
                self.scratch.push(b'\n');
                let mut pos = 0;
                let mut found = None;
                while pos < self.scratch.len() {
                    match inner.step(&self.scratch[pos..]) {
                        Step::Skip(n) | Step::Foreign(n) => pos += n.max(1),
                        Step::Record { len, record } => {
                            if found.is_some() {
                                return Parsed::Malformed("more than one audit record in one message".into());
                            }
                            found = Some(record);
                            pos += len.max(1);
                        }
                        Step::Malformed { reason, .. } => return Parsed::Malformed(reason),
                        Step::NeedMore if self.scratch[pos..].iter().all(u8::is_ascii_whitespace) => break,
                        Step::NeedMore => return Parsed::Incomplete,
                    }
                }
                let Some(mut record) = found else { return Parsed::Nothing };
                record.format = self.format;
                record
            }
        };
        let extras = [("syslog_timestamp", Some(&env.stamp_text)), ("syslog_host", env.host.as_ref()), ("syslog_tag", env.tag.as_ref()), ("syslog_pid", env.pid.as_ref())];
        for (k, v) in extras {
            if let Some(v) = v {
                record.push_extra(k, v);
            }
        }
        Parsed::Record(Box::new(record))
    }
}

impl FormatParser for WrappedParser {
    fn format(&self) -> Format {
        self.format
    }

    fn step(&mut self, buf: &[u8]) -> Step {
        let Some(nl) = memchr(b'\n', buf) else { return Step::NeedMore };
        let line = trim_cr(&buf[..nl]);
        if line.iter().all(u8::is_ascii_whitespace) {
            return Step::Skip(nl + 1);
        }
        let mut env = match envelope(self.wrapper, line) {
            Ok(env) => env,
            Err(reason) => return Step::Malformed { len: nl + 1, reason },
        };
        if !is_audit(self.inner_format, &env) {
            return Step::Foreign(nl + 1);
        }
        let mut len = nl + 1;
        let mut message = std::mem::take(&mut env.message);
        loop {
            match self.parse_message(&message, &env) {
                Parsed::Record(record) => return Step::Record { len, record: *record },
                Parsed::Nothing => return Step::Skip(len),
                Parsed::Malformed(reason) => return Step::Malformed { len, reason },
                Parsed::Incomplete => {
                    let cut = || format!("the {} record is incomplete in its message (cut at the log daemon's message size limit?)", self.inner_format);
                    if self.wrapper == Wrapper::Journald {
                        return Step::Malformed { len, reason: cut() };
                    }
                    // A line without a syslog header continues the message (syslog-ng writes newlines raw).
                    let rest = &buf[len..];
                    let Some(nl) = memchr(b'\n', rest) else { return Step::NeedMore };
                    let next = trim_cr(&rest[..nl]);
                    if syslog::header(next).is_some() {
                        return Step::Malformed { len, reason: cut() };
                    }
                    message.push(b'\n');
                    syslog::unescape(next, &mut message);
                    len += nl + 1;
                }
            }
        }
    }

    fn resync(&self, buf: &[u8]) -> Option<usize> {
        memchr(b'\n', buf).map(|i| i + 1)
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The default ident of the plugin writing `inner` to syslog.
fn default_ident(inner: Format) -> &'static str {
    if inner == Format::MariaDb {
        "mysql-server_auditing"
    } else {
        "percona-audit"
    }
}

/// A message of an audit plugin's default ident is audit data even when it is not of `inner` (the
/// wrong format was given): reported as malformed, not skipped as another program's.
fn is_audit(inner: Format, env: &Envelope) -> bool {
    let idents = [default_ident(Format::MariaDb), default_ident(Format::PerconaJson)];
    env.tag.as_deref().is_some_and(|t| idents.contains(&t)) || looks_like(inner, &env.message)
}

/// Whether a message looks like a record of `inner`.
fn looks_like(inner: Format, msg: &[u8]) -> bool {
    let m = &msg[msg.iter().take_while(|c| c.is_ascii_whitespace()).count()..];
    match inner {
        Format::MariaDb => mariadb::is_syslog_message(m),
        Format::PerconaJson => m.starts_with(b"{\"audit_record\""),
        Format::PerconaOld | Format::PerconaNew => {
            // OLD: `<AUDIT_RECORD` then white space (a syslog-ng message may end right there); NEW: `>`.
            let next = m.strip_prefix(b"<AUDIT_RECORD").map(|r| r.first().copied());
            let record = match next {
                Some(None) => inner == Format::PerconaOld,
                Some(Some(c)) => (c == b'>') == (inner == Format::PerconaNew) && (c == b'>' || c.is_ascii_whitespace()),
                None => false,
            };
            record || m.starts_with(b"<?xml") || m.starts_with(b"<AUDIT>") || m.starts_with(b"</AUDIT>")
        }
        Format::PerconaCsv => {
            let name = m.strip_prefix(b"\"").map(|r| r.iter().take_while(|c| c.is_ascii_alphabetic() || **c == b' ').count());
            name.is_some_and(|n| n > 0 && m[1 + n..].starts_with(b"\",\""))
        }
        _ => false,
    }
}

/// The envelope of a line: its syslog header, or its journal entry.
fn envelope(wrapper: Wrapper, line: &[u8]) -> Result<Envelope, String> {
    match wrapper {
        Wrapper::Syslog => {
            let h = syslog::header(line).ok_or("not a syslog line (no `Mmm dd hh:mm:ss host tag:`, ISO or RFC 5424 header)")?;
            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            let mut message = Vec::with_capacity(line.len() - h.msg_start);
            syslog::unescape(&line[h.msg_start..], &mut message);
            Ok(Envelope {
                stamp_text: text(h.timestamp.text()),
                stamp: EnvStamp::Syslog { iso: matches!(h.timestamp, Stamp::Iso(_)), nil: matches!(h.timestamp, Stamp::Nil) },
                host: (!h.host.is_empty()).then(|| text(h.host)),
                tag: (!h.tag.is_empty()).then(|| text(h.tag)),
                pid: h.pid.map(text),
                message,
            })
        }
        Wrapper::Journald => journal_entry(line),
    }
}

/// A `journalctl -o json` line. `MESSAGE` is a string, an array of bytes (not UTF-8 or not
/// printable), or `null` (over 4096 bytes, which `journalctl` leaves out without `--all`).
fn journal_entry(line: &[u8]) -> Result<Envelope, String> {
    let mut c = Cursor::new(line);
    let value = c.value(0).map_err(|e| format!("not a journal entry: {e}"))?;
    c.end().map_err(|e| format!("not a journal entry: {e}"))?;
    let JVal::Obj(members) = value else { return Err("not a journal entry: expected a JSON object".into()) };
    let get = |key: &str| members.iter().find(|(k, _)| k == key).map(|(_, v)| v);
    let text = |key: &str| match get(key) {
        Some(JVal::Str(s)) => Some(s.to_string()),
        Some(JVal::Num(n)) => Some(n.to_string()),
        _ => None,
    };
    let message = match get("MESSAGE") {
        Some(JVal::Str(s)) => s.as_bytes().to_vec(),
        Some(JVal::Arr(items)) => items
            .iter()
            .map(|v| match v {
                JVal::Num(n) => n.parse::<u8>().map_err(|_| format!("MESSAGE byte {n:?} out of range")),
                _ => Err("MESSAGE array holds a non-number".to_string()),
            })
            .collect::<Result<_, _>>()?,
        Some(JVal::Null) => return Err("MESSAGE is null: journalctl leaves out fields over 4096 bytes unless run with --all".into()),
        _ => return Err("the journal entry has no MESSAGE".into()),
    };
    let micros = text("__REALTIME_TIMESTAMP");
    Ok(Envelope {
        stamp: EnvStamp::Micros(micros.as_deref().and_then(|m| m.parse().ok())),
        stamp_text: micros.unwrap_or_default(),
        host: text("_HOSTNAME"),
        tag: text("SYSLOG_IDENTIFIER"),
        pid: text("SYSLOG_PID").or_else(|| text("_PID")),
        message,
    })
}

/// What the first line of a log says, for detection: a wrapped format, another program's line, or
/// neither (`None`: not a syslog or journal line).
pub(crate) enum LineKind {
    Audit(Format),
    Foreign,
}

pub(crate) fn classify_line(line: &[u8]) -> Option<LineKind> {
    let line = trim_cr(line);
    let wrapper = if line.starts_with(b"{") {
        memmem::find(line, b"\"__REALTIME_TIMESTAMP\"")?;
        Wrapper::Journald
    } else {
        syslog::header(line)?;
        Wrapper::Syslog
    };
    let env = envelope(wrapper, line).ok()?;
    let inners = [Format::MariaDb, Format::PerconaJson, Format::PerconaOld, Format::PerconaNew, Format::PerconaCsv];
    let found = inners.into_iter().find(|&f| looks_like(f, &env.message));
    let found = found.or_else(|| (env.tag.as_deref() == Some(default_ident(Format::MariaDb))).then_some(Format::MariaDb));
    Some(match found.and_then(|f| Format::wrapped(wrapper, f)) {
        Some(f) => LineKind::Audit(f),
        None => LineKind::Foreign,
    })
}
