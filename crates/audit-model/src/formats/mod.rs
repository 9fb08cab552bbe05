//! One module a format. Each exposes a [`crate::FormatParser`].

pub(crate) mod csv;
pub(crate) mod filter_json;
pub(crate) mod json;
pub(crate) mod mariadb;
pub(crate) mod mariadb_time;
pub(crate) mod mcafee;
pub(crate) mod num;
pub(crate) mod percona_json;
pub(crate) mod syslog;
pub(crate) mod wrapped;
pub(crate) mod xml;
