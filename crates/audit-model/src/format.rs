//! The formats, and the log daemons that may carry them.

use std::fmt;

/// The audit-log format a record was read from.
///
/// The `Syslog*` and `Journald*` variants are a format carried by a log daemon: each record is the
/// message of a syslog line (as rsyslog, syslog-ng or `journalctl` write them) or of a `journalctl -o
/// json` line, interleaved with other programs' messages. Their names join the wrapper and the format:
/// `syslog+mariadb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Format {
    /// Percona audit_log, `audit_log_format=OLD`: XML, one attribute a line.
    PerconaOld,
    /// Percona audit_log, `audit_log_format=NEW`: XML, one element a field.
    PerconaNew,
    /// Percona audit_log, `audit_log_format=JSON`: one `{"audit_record":{...}}` object a line.
    PerconaJson,
    /// Percona audit_log, `audit_log_format=CSV`.
    PerconaCsv,
    /// audit_log_filter / MySQL Enterprise Audit, NEW XML (elements).
    FilterXmlNew,
    /// audit_log_filter / MySQL Enterprise Audit, OLD XML (attributes).
    FilterXmlOld,
    /// audit_log_filter / MySQL Enterprise Audit JSON: a (possibly pretty-printed) array, or JSONL.
    FilterJson,
    /// MariaDB server_audit plugin, file output.
    MariaDb,
    /// The McAfee / Trellix `mysql-audit` plugin's JSON (`"msg-type":"activity"`), one object a line.
    McAfeeJson,
    /// Percona audit_log OLD XML through syslog (`audit_log_handler=SYSLOG`).
    SyslogPerconaOld,
    /// Percona audit_log NEW XML through syslog.
    SyslogPerconaNew,
    /// Percona audit_log JSON through syslog.
    SyslogPerconaJson,
    /// Percona audit_log CSV through syslog.
    SyslogPerconaCsv,
    /// MariaDB server_audit through syslog (`server_audit_output_type=syslog`): no audit timestamp,
    /// the syslog line's is the record's.
    SyslogMariaDb,
    /// Percona audit_log OLD XML in `journalctl -o json` output.
    JournaldPerconaOld,
    /// Percona audit_log NEW XML in `journalctl -o json` output.
    JournaldPerconaNew,
    /// Percona audit_log JSON in `journalctl -o json` output.
    JournaldPerconaJson,
    /// Percona audit_log CSV in `journalctl -o json` output.
    JournaldPerconaCsv,
    /// MariaDB server_audit in `journalctl -o json` output.
    JournaldMariaDb,
}

/// How records reach a file when a log daemon carries them (see [`Format`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Wrapper {
    /// Syslog lines: `Mmm dd hh:mm:ss host tag[pid]: msg`, RFC 5424, or an ISO timestamp first.
    Syslog,
    /// `journalctl -o json`: one JSON object a line with `MESSAGE`, `__REALTIME_TIMESTAMP`, ...
    Journald,
}

impl Wrapper {
    /// The name before the `+` in a wrapped format's name.
    pub fn name(self) -> &'static str {
        match self {
            Wrapper::Syslog => "syslog",
            Wrapper::Journald => "journald",
        }
    }
}

/// The formats a log daemon can carry, in the order of their wrapped variants.
const WRAPPABLE: [Format; 5] = [Format::PerconaOld, Format::PerconaNew, Format::PerconaJson, Format::PerconaCsv, Format::MariaDb];

impl Format {
    /// Every format, in a stable order.
    pub const ALL: [Format; 19] = [
        Format::PerconaOld,
        Format::PerconaNew,
        Format::PerconaJson,
        Format::PerconaCsv,
        Format::FilterXmlNew,
        Format::FilterXmlOld,
        Format::FilterJson,
        Format::MariaDb,
        Format::McAfeeJson,
        Format::SyslogPerconaOld,
        Format::SyslogPerconaNew,
        Format::SyslogPerconaJson,
        Format::SyslogPerconaCsv,
        Format::SyslogMariaDb,
        Format::JournaldPerconaOld,
        Format::JournaldPerconaNew,
        Format::JournaldPerconaJson,
        Format::JournaldPerconaCsv,
        Format::JournaldMariaDb,
    ];

    /// The name used on command lines and in output, e.g. `percona-json`, `syslog+mariadb`.
    pub fn name(self) -> &'static str {
        match self {
            Format::PerconaOld => "percona-old",
            Format::PerconaNew => "percona-new",
            Format::PerconaJson => "percona-json",
            Format::PerconaCsv => "percona-csv",
            Format::FilterXmlNew => "filter-xml-new",
            Format::FilterXmlOld => "filter-xml-old",
            Format::FilterJson => "filter-json",
            Format::MariaDb => "mariadb",
            Format::McAfeeJson => "mysql-audit-json",
            Format::SyslogPerconaOld => "syslog+percona-old",
            Format::SyslogPerconaNew => "syslog+percona-new",
            Format::SyslogPerconaJson => "syslog+percona-json",
            Format::SyslogPerconaCsv => "syslog+percona-csv",
            Format::SyslogMariaDb => "syslog+mariadb",
            Format::JournaldPerconaOld => "journald+percona-old",
            Format::JournaldPerconaNew => "journald+percona-new",
            Format::JournaldPerconaJson => "journald+percona-json",
            Format::JournaldPerconaCsv => "journald+percona-csv",
            Format::JournaldMariaDb => "journald+mariadb",
        }
    }

    /// The log daemon's framing around the records, for a wrapped format.
    pub fn wrapper(self) -> Option<Wrapper> {
        match self {
            Format::SyslogPerconaOld | Format::SyslogPerconaNew | Format::SyslogPerconaJson | Format::SyslogPerconaCsv | Format::SyslogMariaDb => {
                Some(Wrapper::Syslog)
            }
            Format::JournaldPerconaOld
            | Format::JournaldPerconaNew
            | Format::JournaldPerconaJson
            | Format::JournaldPerconaCsv
            | Format::JournaldMariaDb => Some(Wrapper::Journald),
            _ => None,
        }
    }

    /// The format of the records themselves: the carried format of a wrapped one, else itself.
    pub fn inner(self) -> Format {
        let Some(wrapper) = self.wrapper() else { return self };
        let wrapped = |f: Format| Format::wrapped(wrapper, f) == Some(self);
        WRAPPABLE.into_iter().find(|&f| wrapped(f)).unwrap_or(self)
    }

    /// `inner` carried by `wrapper`; `None` when no server sends that format to a log daemon.
    pub fn wrapped(wrapper: Wrapper, inner: Format) -> Option<Format> {
        let i = WRAPPABLE.iter().position(|&f| f == inner)?;
        let syslog = [Format::SyslogPerconaOld, Format::SyslogPerconaNew, Format::SyslogPerconaJson, Format::SyslogPerconaCsv, Format::SyslogMariaDb];
        let journald = [Format::JournaldPerconaOld, Format::JournaldPerconaNew, Format::JournaldPerconaJson, Format::JournaldPerconaCsv, Format::JournaldMariaDb];
        Some(match wrapper {
            Wrapper::Syslog => syslog[i],
            Wrapper::Journald => journald[i],
        })
    }

    /// Whether the format writes timestamps without a zone, in the server's local time
    /// (so the reader's configured time zone applies). Traditional syslog timestamps have no zone.
    pub fn may_be_local_time(self) -> bool {
        match self.wrapper() {
            Some(Wrapper::Syslog) => true,
            // The journal's own timestamps are UTC instants, and the Percona formats write UTC.
            Some(Wrapper::Journald) => false,
            None => matches!(self, Format::FilterXmlNew | Format::FilterXmlOld | Format::FilterJson | Format::MariaDb),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Format::ALL.into_iter().find(|f| f.name() == s).ok_or_else(|| {
            let names: Vec<_> = Format::ALL.iter().map(|f| f.name()).collect();
            format!("unknown format {s:?} (expected one of: {})", names.join(", "))
        })
    }
}
