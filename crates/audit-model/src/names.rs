//! The one table of the Percona plugin's field names: each field's XML tag, its JSON key (and the
//! spellings readers also accept), and where its value lives in a [`Record`](crate::Record). The XML
//! and JSON readers look names up here and the writers write the layouts made of these entries, so a
//! name is written once.

use crate::record::Field;

/// Where a field's value lives in a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Value {
    /// A text slot.
    Text(Field),
    /// The typed connection id.
    ConnectionId,
    /// The typed status.
    Status,
}

/// One field as the plugin names it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Name {
    /// The XML element (NEW) or attribute (OLD) name.
    #[cfg_attr(not(feature = "writers"), allow(dead_code))]
    pub(crate) tag: &'static str,
    /// The JSON key the plugin writes.
    pub(crate) key: &'static str,
    /// Its value.
    pub(crate) value: Value,
}

/// `b"..."` as the `&str` it is (all names are ASCII), at compile time.
const fn ascii(b: &'static [u8]) -> &'static str {
    match std::str::from_utf8(b) {
        Ok(s) => s,
        Err(_) => panic!("field names are ASCII"),
    }
}

/// Declares each name once: a constant for the writers' layouts, and the readers' lookups by tag and
/// by key as `match`es (the compiler's comparison of fixed byte strings, as fast as the hand-written
/// ones they replace). A key's further spellings follow the written one after `|`.
macro_rules! names {
    ($($id:ident: $tag:literal, $key:literal $(| $alias:literal)*, $value:expr;)+) => {
        // Not every name is in a writer's layout (CONNECTION_TYPE, SERVER_ID are read only).
        $(#[allow(dead_code)]
        pub(crate) const $id: Name = Name { tag: ascii($tag), key: ascii($key), value: $value };)+

        /// Every name, in declaration order.
        #[cfg(test)]
        pub(crate) const ALL: &[Name] = &[$($id),+];

        /// The field an XML tag names.
        #[inline]
        pub(crate) fn by_tag(tag: &[u8]) -> Option<Value> {
            match tag {
                $($tag => Some($value),)+
                _ => None,
            }
        }

        /// The field a JSON key names.
        #[inline]
        pub(crate) fn by_key(key: &[u8]) -> Option<Value> {
            match key {
                $($key $(| $alias)* => Some($value),)+
                _ => None,
            }
        }
    };
}

names! {
    NAME: b"NAME", b"name", Value::Text(Field::Name);
    RECORD: b"RECORD", b"record", Value::Text(Field::RecordId);
    TIMESTAMP: b"TIMESTAMP", b"timestamp", Value::Text(Field::TimestampText);
    COMMAND_CLASS: b"COMMAND_CLASS", b"command_class", Value::Text(Field::CommandClass);
    CONNECTION_ID: b"CONNECTION_ID", b"connection_id", Value::ConnectionId;
    STATUS: b"STATUS", b"status", Value::Status;
    SQLTEXT: b"SQLTEXT", b"sqltext", Value::Text(Field::SqlText);
    USER: b"USER", b"user", Value::Text(Field::User);
    PRIV_USER: b"PRIV_USER", b"priv_user", Value::Text(Field::PrivUser);
    OS_LOGIN: b"OS_LOGIN", b"os_login", Value::Text(Field::OsUser);
    OS_USER: b"OS_USER", b"os_user", Value::Text(Field::OsUser);
    PROXY_USER: b"PROXY_USER", b"proxy_user", Value::Text(Field::ProxyUser);
    HOST: b"HOST", b"host", Value::Text(Field::Host);
    IP: b"IP", b"ip", Value::Text(Field::Ip);
    DB: b"DB", b"db", Value::Text(Field::Db);
    MYSQL_VERSION: b"MYSQL_VERSION", b"mysql_version", Value::Text(Field::MysqlVersion);
    // The plugin's JSON key is misspelled; readers accept both, writers write what the plugin writes.
    STARTUP_OPTIONS: b"STARTUP_OPTIONS", b"startup_optionsi" | b"startup_options", Value::Text(Field::StartupOptions);
    OS_VERSION: b"OS_VERSION", b"os_version", Value::Text(Field::OsVersion);
    CONNECTION_TYPE: b"CONNECTION_TYPE", b"connection_type", Value::Text(Field::ConnectionType);
    SERVER_ID: b"SERVER_ID", b"server_id", Value::Text(Field::ServerId);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_found_by_its_tag_and_key_and_the_lookups_know_nothing_else() {
        for n in ALL {
            assert_eq!(by_tag(n.tag.as_bytes()), Some(n.value), "{}", n.tag);
            assert_eq!(by_key(n.key.as_bytes()), Some(n.value), "{}", n.key);
            assert_eq!(by_key(n.tag.as_bytes()), None, "tags are no keys: {}", n.tag);
        }
        assert_eq!(by_key(b"startup_options"), Some(Value::Text(Field::StartupOptions)));
        assert_eq!(by_tag(b"TABLE"), None);
        assert_eq!(by_key(b"Name"), None);
    }
}
