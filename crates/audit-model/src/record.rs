//! The one record type every format parses into.

use std::fmt;
use std::ops::Range;

use jiff::Timestamp;

pub use crate::format::{Format, Wrapper};

/// What a record is about, the same across formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// The audit plugin or server started (`Audit`, `startup`, `Startup`).
    Startup,
    /// The audit plugin or server stopped (`NoAudit`, `shutdown`, `Shutdown`).
    Shutdown,
    /// A login, successful or failed (`Connect`, `connect`, `CONNECT`, `FAILED_CONNECT`).
    Connect,
    /// A proxied login: MariaDB's `PROXY_CONNECT`, written after the `CONNECT` of a login through a
    /// proxy account; the proxied account is in `priv_user`. Not a second login.
    ProxyConnect,
    /// A session ended (`Quit`, `disconnect`, `DISCONNECT`).
    Disconnect,
    /// `COM_CHANGE_USER` (`Change user`, `change_user`, `CHANGEUSER`).
    ChangeUser,
    /// A statement or command (`Query`, `Execute`, `Init DB`, `general`/`query`/`command` classes, `QUERY`).
    Query,
    /// A table access (`TableRead`, `table_access`, MariaDB's `READ`/`WRITE`/...).
    TableAccess,
    /// Anything else (`Message`, `pre_authenticate`, ...).
    Other,
}

impl Kind {
    /// Every kind, in a stable order.
    pub const ALL: [Kind; 9] = [
        Kind::Startup,
        Kind::Shutdown,
        Kind::Connect,
        Kind::ProxyConnect,
        Kind::Disconnect,
        Kind::ChangeUser,
        Kind::Query,
        Kind::TableAccess,
        Kind::Other,
    ];

    /// The lower-case name stored in the table's `kind` column.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Startup => "startup",
            Kind::Shutdown => "shutdown",
            Kind::Connect => "connect",
            Kind::ProxyConnect => "proxy_connect",
            Kind::Disconnect => "disconnect",
            Kind::ChangeUser => "change_user",
            Kind::Query => "query",
            Kind::TableAccess => "table_access",
            Kind::Other => "other",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is no [`Kind`]'s (see [`Kind::name`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown kind {0:?} (one of: startup, shutdown, connect, proxy_connect, disconnect, change_user, query, table_access, other)")]
pub struct UnknownKind(pub String);

impl std::str::FromStr for Kind {
    type Err = UnknownKind;

    /// The inverse of [`Kind::name`]: the lower-case name stored in the `kind` column.
    fn from_str(s: &str) -> Result<Kind, UnknownKind> {
        Kind::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| UnknownKind(s.to_string()))
    }
}

/// The text fields every format may carry. Each is absent (`None`) when the format or record has no such
/// field, and `Some("")` when it has it empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Field {
    /// The record name as written: `Connect`, `Query`, `FAILED_CONNECT`, ...
    Name,
    /// Record id as written (`RECORD`, `RECORD_ID`, `id`).
    RecordId,
    /// The timestamp as written.
    TimestampText,
    /// `USER`: the login name on connection records, `priv[user] @ host [ip]` on Percona statement records.
    User,
    /// `PRIV_USER`: the account matched; empty for an unknown user.
    PrivUser,
    /// `OS_LOGIN` / `OS_USER`.
    OsUser,
    /// `PROXY_USER`.
    ProxyUser,
    /// `HOST`.
    Host,
    /// `IP`.
    Ip,
    /// `DB`.
    Db,
    /// `COMMAND_CLASS` (`select`, `change_db`, ...; `sql_command` in filter JSON).
    CommandClass,
    /// `SQLTEXT` (the query).
    SqlText,
    /// `CONNECTION_TYPE` (`ssl`, `tcp/ip`, `socket`, ...).
    ConnectionType,
    /// `SERVER_ID` of start records.
    ServerId,
    /// `MYSQL_VERSION` of start records.
    MysqlVersion,
    /// `STARTUP_OPTIONS` of start records.
    StartupOptions,
    /// `OS_VERSION` of start records.
    OsVersion,
}

pub(crate) const FIELD_COUNT: usize = 17;

impl Field {
    /// Every field, in slot order.
    pub const ALL: [Field; FIELD_COUNT] = [
        Field::Name,
        Field::RecordId,
        Field::TimestampText,
        Field::User,
        Field::PrivUser,
        Field::OsUser,
        Field::ProxyUser,
        Field::Host,
        Field::Ip,
        Field::Db,
        Field::CommandClass,
        Field::SqlText,
        Field::ConnectionType,
        Field::ServerId,
        Field::MysqlVersion,
        Field::StartupOptions,
        Field::OsVersion,
    ];

    /// The snake-case key used in NDJSON output.
    pub fn key(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::RecordId => "record_id",
            Field::TimestampText => "timestamp_text",
            Field::User => "user",
            Field::PrivUser => "priv_user",
            Field::OsUser => "os_user",
            Field::ProxyUser => "proxy_user",
            Field::Host => "host",
            Field::Ip => "ip",
            Field::Db => "db",
            Field::CommandClass => "command_class",
            Field::SqlText => "sqltext",
            Field::ConnectionType => "connection_type",
            Field::ServerId => "server_id",
            Field::MysqlVersion => "mysql_version",
            Field::StartupOptions => "startup_options",
            Field::OsVersion => "os_version",
        }
    }
}

const ABSENT: (u32, u32) = (u32::MAX, 0);

/// Where one extra field's key and value lie in a record's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ExtraSlot {
    key: (u32, u32),
    value: (u32, u32),
}

/// One audit record, from any format.
///
/// Text fields live in one buffer (one allocation a record, as `csv::StringRecord` does), the extra
/// fields' keys and values too; read them with [`Record::get`] or the named getters. Fields that no slot
/// names go to [`Record::extra`], in input order, with nested keys joined by `.`
/// (`connection_attributes._pid`), so nothing in the input is lost.
#[derive(Clone)]
pub struct Record {
    pub(crate) format: Format,
    pub(crate) kind: Kind,
    pub(crate) timestamp: Timestamp,
    pub(crate) connection_id: Option<u64>,
    pub(crate) status: Option<i64>,
    pub(crate) span: Range<u64>,
    pub(crate) text: String,
    pub(crate) slots: [(u32, u32); FIELD_COUNT],
    pub(crate) extra: Vec<ExtraSlot>,
}

impl Record {
    /// Starts a record. Parsers and writers' tests use this; `kind` defaults from the name via
    /// [`Record::classify`] when [`RecordBuilder::kind`] is not called.
    pub fn builder(format: Format) -> RecordBuilder {
        Self::builder_with_capacity(format, 0)
    }

    /// Starts a record whose text fields will take about `bytes` bytes (one allocation).
    pub fn builder_with_capacity(format: Format, bytes: usize) -> RecordBuilder {
        RecordBuilder {
            rec: Record {
                format,
                kind: Kind::Other,
                timestamp: Timestamp::UNIX_EPOCH,
                connection_id: None,
                status: None,
                span: 0..0,
                text: String::with_capacity(bytes),
                slots: [ABSENT; FIELD_COUNT],
                extra: Vec::new(),
            },
            kind_set: false,
        }
    }

    /// The format it was read from.
    pub fn format(&self) -> Format {
        self.format
    }
    /// The normalized kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }
    /// The event time as a UTC instant.
    pub fn timestamp(&self) -> Timestamp {
        self.timestamp
    }
    /// The connection (thread) id.
    pub fn connection_id(&self) -> Option<u64> {
        self.connection_id
    }
    /// The MySQL error number: 0 for success, 1045 access denied, ...
    pub fn status(&self) -> Option<i64> {
        self.status
    }
    /// The bytes of the input this record came from (start inclusive, end exclusive), counted from the
    /// reader's start offset. A follower checkpoints at `span().end`.
    pub fn span(&self) -> Range<u64> {
        self.span.clone()
    }
    /// A text field, `None` when absent.
    pub fn get(&self, field: Field) -> Option<&str> {
        let (start, len) = self.slots[field as usize];
        if start == u32::MAX {
            None
        } else {
            Some(&self.text[start as usize..start as usize + len as usize])
        }
    }
    /// Adds an extra field (the reader's wrappers add their envelope this way).
    pub(crate) fn push_extra(&mut self, key: &str, value: &str) {
        let k = self.text.len();
        self.text.push_str(key);
        let v = self.text.len();
        self.text.push_str(value);
        self.extra.push(ExtraSlot { key: (k as u32, key.len() as u32), value: (v as u32, value.len() as u32) });
    }
    /// The record name as written (`Connect`, `Query`, `FAILED_CONNECT`, ...).
    pub fn name(&self) -> &str {
        self.get(Field::Name).unwrap_or("")
    }
    /// The record id as written.
    pub fn record_id(&self) -> Option<&str> {
        self.get(Field::RecordId)
    }
    /// The timestamp as written.
    pub fn timestamp_text(&self) -> Option<&str> {
        self.get(Field::TimestampText)
    }
    /// `USER`.
    pub fn user(&self) -> Option<&str> {
        self.get(Field::User)
    }
    /// `PRIV_USER`.
    pub fn priv_user(&self) -> Option<&str> {
        self.get(Field::PrivUser)
    }
    /// `OS_LOGIN` / `OS_USER`.
    pub fn os_user(&self) -> Option<&str> {
        self.get(Field::OsUser)
    }
    /// `PROXY_USER`.
    pub fn proxy_user(&self) -> Option<&str> {
        self.get(Field::ProxyUser)
    }
    /// `HOST`.
    pub fn host(&self) -> Option<&str> {
        self.get(Field::Host)
    }
    /// `IP`.
    pub fn ip(&self) -> Option<&str> {
        self.get(Field::Ip)
    }
    /// `DB`.
    pub fn db(&self) -> Option<&str> {
        self.get(Field::Db)
    }
    /// `COMMAND_CLASS`.
    pub fn command_class(&self) -> Option<&str> {
        self.get(Field::CommandClass)
    }
    /// `SQLTEXT`.
    pub fn sqltext(&self) -> Option<&str> {
        self.get(Field::SqlText)
    }
    /// Every field no slot names, in input order, as `(key, value)` pairs.
    pub fn extra(&self) -> Extras<'_> {
        Extras { text: &self.text, slots: &self.extra }
    }
    /// One extra field by key (the first of that key).
    pub fn extra_get(&self, key: &str) -> Option<&str> {
        self.extra().get(key)
    }

    /// The question the checks ask: is this a login that failed? True for a connect record whose status
    /// is not 0 (Percona `Connect` with STATUS != 0, filter `connect` with a non-zero status, MariaDB
    /// `FAILED_CONNECT`, mysql-audit's `Failed Login`), in every format.
    pub fn is_failed_login(&self) -> bool {
        // mysql-audit names its failed logins; the status it adds is the error number, never 0.
        self.kind == Kind::Connect && (self.status.is_some_and(|s| s != 0) || self.format == Format::McAfeeJson && self.name() == "Failed Login")
    }

    /// The normalized kind of a record name, as the formats write them.
    pub fn classify(name: &str) -> Kind {
        match name {
            "Audit" | "startup" | "Startup" => Kind::Startup,
            "NoAudit" | "shutdown" | "Shutdown" => Kind::Shutdown,
            "Connect" | "connect" | "CONNECT" | "FAILED_CONNECT" | "Failed Login" => Kind::Connect,
            "PROXY_CONNECT" => Kind::ProxyConnect,
            "Quit" | "disconnect" | "Disconnect" | "DISCONNECT" => Kind::Disconnect,
            "Change user" | "change_user" | "CHANGEUSER" => Kind::ChangeUser,
            "TableRead" | "TableInsert" | "TableUpdate" | "TableDelete" | "READ" | "WRITE" | "CREATE"
            | "ALTER" | "DROP" | "RENAME" | "read" | "insert" | "update" | "delete" => Kind::TableAccess,
            "Message" | "pre_authenticate" => Kind::Other,
            _ => Kind::Query,
        }
    }
}

impl PartialEq for Record {
    fn eq(&self, other: &Self) -> bool {
        self.format == other.format
            && self.kind == other.kind
            && self.timestamp == other.timestamp
            && self.connection_id == other.connection_id
            && self.status == other.status
            && self.span == other.span
            && Field::ALL.iter().all(|&f| self.get(f) == other.get(f))
            && self.extra() == other.extra()
    }
}
impl Eq for Record {}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Record");
        d.field("format", &self.format)
            .field("kind", &self.kind)
            .field("timestamp", &self.timestamp)
            .field("connection_id", &self.connection_id)
            .field("status", &self.status)
            .field("span", &self.span);
        for field in Field::ALL {
            if let Some(v) = self.get(field) {
                d.field(field.key(), &v);
            }
        }
        if !self.extra.is_empty() {
            d.field("extra", &self.extra());
        }
        d.finish()
    }
}

/// The extra fields of a [`Record`] ([`Record::extra`]): `(key, value)` pairs in input order, borrowed
/// from the record.
#[derive(Clone, Copy)]
pub struct Extras<'a> {
    text: &'a str,
    slots: &'a [ExtraSlot],
}

impl<'a> Extras<'a> {
    /// How many there are.
    pub fn len(&self) -> usize {
        self.slots.len()
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
    /// The pairs, in input order.
    pub fn iter(&self) -> ExtrasIter<'a> {
        ExtrasIter { text: self.text, slots: self.slots.iter() }
    }
    /// The value of the first pair with this key.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

impl<'a> IntoIterator for Extras<'a> {
    type Item = (&'a str, &'a str);
    type IntoIter = ExtrasIter<'a>;
    fn into_iter(self) -> ExtrasIter<'a> {
        self.iter()
    }
}

impl PartialEq for Extras<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}
impl Eq for Extras<'_> {}

impl<K: AsRef<str>, V: AsRef<str>> PartialEq<[(K, V)]> for Extras<'_> {
    fn eq(&self, other: &[(K, V)]) -> bool {
        self.len() == other.len() && self.iter().zip(other).all(|((k, v), (ok, ov))| k == ok.as_ref() && v == ov.as_ref())
    }
}
impl<K: AsRef<str>, V: AsRef<str>, const N: usize> PartialEq<[(K, V); N]> for Extras<'_> {
    fn eq(&self, other: &[(K, V); N]) -> bool {
        *self == other[..]
    }
}

impl fmt::Debug for Extras<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// The iterator of [`Extras`].
#[derive(Debug, Clone)]
pub struct ExtrasIter<'a> {
    text: &'a str,
    slots: std::slice::Iter<'a, ExtraSlot>,
}

impl<'a> Iterator for ExtrasIter<'a> {
    type Item = (&'a str, &'a str);
    fn next(&mut self) -> Option<Self::Item> {
        let s = self.slots.next()?;
        let at = |(start, len): (u32, u32)| &self.text[start as usize..(start + len) as usize];
        Some((at(s.key), at(s.value)))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.slots.size_hint()
    }
}

impl ExactSizeIterator for ExtrasIter<'_> {}

/// Builds a [`Record`]; see [`Record::builder`].
#[derive(Debug)]
pub struct RecordBuilder {
    rec: Record,
    kind_set: bool,
}

impl RecordBuilder {
    /// Sets a text field (the last value wins).
    pub fn set(&mut self, field: Field, value: &str) -> &mut Self {
        let start = self.rec.text.len();
        self.rec.text.push_str(value);
        self.rec.slots[field as usize] = (start as u32, value.len() as u32);
        self
    }
    /// Makes the text buffer `text` (a parser's copy of the record's bytes), for fields set as ranges
    /// of it with [`RecordBuilder::set_range`]; only before any other field is set.
    pub(crate) fn text(&mut self, text: String) -> &mut Self {
        debug_assert!(self.rec.text.is_empty());
        self.rec.text = text;
        self
    }
    /// Makes `len` bytes of the text buffer from `start` a field's value: a range of whole characters
    /// of the text given to [`RecordBuilder::text`] (maybe later).
    #[inline]
    pub(crate) fn set_range(&mut self, field: Field, start: usize, len: usize) -> &mut Self {
        self.rec.slots[field as usize] = (start as u32, len as u32);
        self
    }
    /// Appends to the text buffer through `f` and makes what it wrote the field's value; lets a parser
    /// unescape straight into the record.
    pub fn set_with<E>(
        &mut self,
        field: Field,
        f: impl FnOnce(&mut String) -> Result<(), E>,
    ) -> Result<&mut Self, E> {
        let start = self.rec.text.len();
        f(&mut self.rec.text)?;
        let len = self.rec.text.len() - start;
        self.rec.slots[field as usize] = (start as u32, len as u32);
        Ok(self)
    }
    /// Whether a field has been set.
    pub fn has(&self, field: Field) -> bool {
        self.rec.slots[field as usize].0 != u32::MAX
    }
    /// A field set so far.
    pub fn get(&self, field: Field) -> Option<&str> {
        self.rec.get(field)
    }
    /// Sets the kind explicitly.
    pub fn kind(&mut self, kind: Kind) -> &mut Self {
        self.rec.kind = kind;
        self.kind_set = true;
        self
    }
    /// Sets the event time.
    pub fn timestamp(&mut self, ts: Timestamp) -> &mut Self {
        self.rec.timestamp = ts;
        self
    }
    /// Sets the connection id.
    pub fn connection_id(&mut self, id: Option<u64>) -> &mut Self {
        self.rec.connection_id = id;
        self
    }
    /// Sets the status.
    pub fn status(&mut self, status: Option<i64>) -> &mut Self {
        self.rec.status = status;
        self
    }
    /// Sets the byte range.
    pub fn span(&mut self, span: Range<u64>) -> &mut Self {
        self.rec.span = span;
        self
    }
    /// Adds a field that no slot names (kept in the record's one text buffer: no allocation of its own).
    pub fn extra(&mut self, key: impl AsRef<str>, value: impl AsRef<str>) -> &mut Self {
        self.rec.push_extra(key.as_ref(), value.as_ref());
        self
    }
    /// Finishes the record.
    #[inline]
    pub fn build(mut self) -> Record {
        if !self.kind_set {
            self.rec.kind = Record::classify(self.rec.name());
        }
        self.rec
    }
}

#[cfg(test)]
mod kind_tests {
    use super::Kind;

    #[test]
    fn every_kind_parses_back_from_its_name_and_nothing_else_does() {
        for k in Kind::ALL {
            assert_eq!(k.name().parse::<Kind>(), Ok(k));
        }
        let e = "Connect".parse::<Kind>().unwrap_err();
        assert!(e.to_string().contains("unknown kind \"Connect\""), "{e}");
        assert!("".parse::<Kind>().is_err());
    }
}
