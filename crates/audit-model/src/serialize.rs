//! Records as JSON objects (the `audit-ingest parse` output): every slot by its key, `null` when absent.

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::record::{Extras, Field, Record};

impl Serialize for Record {
    /// Keys: `format`, `name`, `kind`, `record_id`, `timestamp` (RFC 3339 UTC with `Z`),
    /// `timestamp_text`, `connection_id` (number), `status` (number), `user`, `priv_user`, `os_user`,
    /// `proxy_user`, `host`, `ip`, `db`, `command_class`, `sqltext`, `connection_type`, `server_id`,
    /// `mysql_version`, `startup_options`, `os_version`, `failed_login`, `extra` (object of the other
    /// fields, in input order).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("format", self.format().name())?;
        m.serialize_entry("name", self.name())?;
        m.serialize_entry("kind", self.kind().name())?;
        m.serialize_entry("record_id", &self.record_id())?;
        m.serialize_entry("timestamp", &crate::percona_json_out::rfc3339(self))?;
        m.serialize_entry("timestamp_text", &self.timestamp_text())?;
        m.serialize_entry("connection_id", &self.connection_id())?;
        m.serialize_entry("status", &self.status())?;
        for f in Field::ALL {
            if matches!(f, Field::Name | Field::RecordId | Field::TimestampText) {
                continue;
            }
            m.serialize_entry(f.key(), &self.get(f))?;
        }
        m.serialize_entry("failed_login", &self.is_failed_login())?;
        m.serialize_entry("extra", &Extra(self.extra()))?;
        m.end()
    }
}

struct Extra<'a>(Extras<'a>);

impl Serialize for Extra<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0.iter() {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}
