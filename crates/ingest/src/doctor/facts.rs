//! What doctor asks the server. Only reads, and one session setting that is tried and undone
//! (`sql_log_bin`): nothing is written.

use std::collections::BTreeMap;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, Row, Value};

/// The server's answers.
#[derive(Debug, Clone, Default)]
pub struct ServerFacts {
    /// `@@version` (`...-MariaDB` on MariaDB).
    pub version: String,
    /// `SHOW GLOBAL VARIABLES`, names in lower case.
    pub variables: BTreeMap<String, String>,
    /// Audit plugins (`information_schema.PLUGINS` of type AUDIT): name and status.
    pub audit_plugins: Vec<(String, String)>,
    /// Installed components (`mysql.component`; empty where there is no such table or no right to it).
    pub components: Vec<String>,
    /// `SHOW GRANTS` of the account doctor logged in as.
    pub grants: Vec<String>,
    /// The server's refusal of `SET SESSION sql_log_bin = 0`, if it refused.
    pub sql_log_bin_refused: Option<String>,
    /// Whether the server replicates from another (`SHOW REPLICA STATUS` has a row); `None` when the
    /// account may not ask (REPLICATION CLIENT).
    pub is_replica: Option<bool>,
    /// Server clock minus this host's, in seconds.
    pub clock_skew_s: f64,
}

impl ServerFacts {
    /// A global variable's value.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.variables.get(name).map(String::as_str)
    }

    /// Whether a variable is ON (or 1).
    pub fn is_on(&self, name: &str) -> bool {
        self.var(name).is_some_and(|v| v.eq_ignore_ascii_case("on") || v == "1")
    }

    /// Whether the server is MariaDB.
    pub fn is_mariadb(&self) -> bool {
        self.version.to_ascii_lowercase().contains("mariadb")
    }
}

/// A column as text (`None` for NULL); binary values are shown lossily.
fn text(row: &Row, i: usize) -> Option<String> {
    match row.as_ref(i)? {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        other => Some(other.as_sql(true).trim_matches('\'').to_string()),
    }
}

/// Asks the server everything doctor judges.
pub async fn gather(opts: Opts) -> Result<ServerFacts, mysql_async::Error> {
    let mut conn = Conn::new(opts).await?;
    let result = gather_on(&mut conn).await;
    conn.disconnect().await?;
    result
}

async fn gather_on(conn: &mut Conn) -> Result<ServerFacts, mysql_async::Error> {
    let mut facts = ServerFacts::default();
    let before = std::time::SystemTime::now();
    let row: Option<Row> = conn.query_first("SELECT @@version, UNIX_TIMESTAMP(NOW(6))").await?;
    let after = std::time::SystemTime::now();
    if let Some(row) = row {
        facts.version = text(&row, 0).unwrap_or_default();
        let server_now: f64 = text(&row, 1).and_then(|t| t.parse().ok()).unwrap_or(0.0);
        let local_now = |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        facts.clock_skew_s = server_now - (local_now(before) + local_now(after)) / 2.0;
    }
    let vars: Vec<Row> = conn.query("SHOW GLOBAL VARIABLES").await?;
    facts.variables = vars.iter().filter_map(|r| Some((text(r, 0)?.to_ascii_lowercase(), text(r, 1).unwrap_or_default()))).collect();
    let plugins: Vec<Row> = conn.query("SELECT PLUGIN_NAME, PLUGIN_STATUS FROM information_schema.PLUGINS WHERE PLUGIN_TYPE = 'AUDIT'").await?;
    facts.audit_plugins = plugins.iter().filter_map(|r| Some((text(r, 0)?, text(r, 1).unwrap_or_default()))).collect();
    // MySQL 8 and Percona Server 8 keep components in mysql.component; MariaDB has none.
    if let Ok(rows) = conn.query::<Row, _>("SELECT component_urn FROM mysql.component").await {
        facts.components = rows.iter().filter_map(|r| text(r, 0)).collect();
    }
    let grants: Vec<Row> = conn.query("SHOW GRANTS").await?;
    facts.grants = grants.iter().filter_map(|r| text(r, 0)).collect();
    // Tried, then undone: the same statement every local-mode connection of audit-ingest runs.
    match conn.query_drop("SET SESSION sql_log_bin = 0").await {
        Ok(()) => conn.query_drop("SET SESSION sql_log_bin = 1").await?,
        Err(mysql_async::Error::Server(e)) => facts.sql_log_bin_refused = Some(format!("{} ({})", e.message, e.code)),
        Err(e) => return Err(e),
    }
    // SHOW REPLICA STATUS: MySQL 8.0.22+, MariaDB 10.5.1+; older servers know only the old name.
    facts.is_replica = match conn.query::<Row, _>("SHOW REPLICA STATUS").await {
        Ok(rows) => Some(!rows.is_empty()),
        Err(mysql_async::Error::Server(_)) => conn.query::<Row, _>("SHOW SLAVE STATUS").await.ok().map(|r| !r.is_empty()),
        Err(e) => return Err(e),
    };
    Ok(facts)
}
