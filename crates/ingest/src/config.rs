//! Where the database is and how to log in: the `connect-config` crate, which check-gen shares,
//! re-exported here so `ingest::config::...` keeps working for embedders.

pub use connect_config::*;

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The examples the README points to parse, with the values they show.
    #[test]
    fn example_config_and_option_file_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
        let c = ConfigFile::load(&dir.join("audit-ingest.toml")).unwrap();
        assert_eq!(c.defaults_file.as_deref(), Some(Path::new("/etc/audit-ingest/client.cnf")));
        assert_eq!((c.table.as_deref(), c.server.as_deref(), c.mode.as_deref()), (Some("audit_data"), Some("db1"), Some("local")));
        assert_eq!(c.ssl_mode.as_deref().map(str::parse::<SslMode>), Some(Ok(SslMode::Disabled)));
        assert!(c.mode.unwrap().parse::<crate::sink::WriteMode>().is_ok());
        let o = parse_option_file(&std::fs::read_to_string(dir.join("audit-ingest.cnf")).unwrap()).unwrap();
        assert_eq!((o.user.as_deref(), o.port, o.database.as_deref()), (Some("audit_ingest"), Some(3306), Some("percona")));
    }
}
