//! A primary and a replica: two throwaway servers, binary log (ROW, GTID) on both, the replica
//! following the primary, `server_audit` writing a separate log on each.

use std::thread;
use std::time::{Duration, Instant};

use crate::{Builder, HarnessError, MariaDb};

/// The account the replica's I/O thread logs in as (a real login, in the primary's audit log).
pub const REPLICATION_USER: &str = "repl";
const REPLICATION_PASSWORD: &str = "repl-secret";

/// What `SHOW SLAVE STATUS` says of the replica's two threads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaStatus {
    /// `Slave_IO_Running`: `Yes`, `No` or `Connecting`.
    pub io_running: String,
    /// `Slave_SQL_Running`: `Yes` or `No`.
    pub sql_running: String,
    /// `Last_SQL_Error` (empty when none).
    pub last_sql_error: String,
    /// `Last_IO_Error` (empty when none).
    pub last_io_error: String,
}

impl ReplicaStatus {
    /// Both threads run and neither reports an error.
    pub fn is_healthy(&self) -> bool {
        self.io_running == "Yes" && self.sql_running == "Yes" && self.last_sql_error.is_empty() && self.last_io_error.is_empty()
    }
}

/// A primary and its replica.
#[derive(Debug)]
pub struct ReplicaPair {
    /// Server id 1, binary log on.
    pub primary: MariaDb,
    /// Server id 2, binary log on (so it can be promoted), replicating the primary from the moment
    /// the pair was started.
    pub replica: MariaDb,
}

fn with_binlog(builder: Builder, server_id: u32) -> Builder {
    builder
        .server_arg("--log-bin=mariadb-bin")
        .server_arg(&format!("--server-id={server_id}"))
        .server_arg("--binlog-format=ROW")
        .server_arg("--log-slave-updates=ON")
}

impl ReplicaPair {
    /// Starts both servers with `builder`'s audit options and sets up replication. The replica
    /// starts at the primary's current GTID position: what each server's bootstrap did stays its own.
    pub fn start(builder: Builder) -> Result<ReplicaPair, HarnessError> {
        let primary = with_binlog(builder.clone(), 1).start()?;
        let replica = with_binlog(builder, 2).start()?;
        primary.sql(&format!(
            "CREATE USER '{REPLICATION_USER}'@'%' IDENTIFIED BY '{REPLICATION_PASSWORD}';\n\
             GRANT REPLICATION SLAVE ON *.* TO '{REPLICATION_USER}'@'%';\n"
        ))?;
        let pos = primary.sql("SELECT @@GLOBAL.gtid_binlog_pos")?;
        let pos = pos.trim();
        if !pos.bytes().all(|b| b.is_ascii_digit() || b == b'-' || b == b',') {
            return Err(HarnessError::new(format!("unexpected gtid_binlog_pos {pos:?}")));
        }
        replica.sql(&format!(
            "SET GLOBAL gtid_slave_pos = '{pos}';\n\
             CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = {}, MASTER_USER = '{REPLICATION_USER}', \
             MASTER_PASSWORD = '{REPLICATION_PASSWORD}', MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1;\n\
             START SLAVE;\n",
            primary.port()
        ))?;
        let pair = ReplicaPair { primary, replica };
        pair.wait_healthy(Duration::from_secs(30))?;
        Ok(pair)
    }

    /// The replica's `SHOW SLAVE STATUS`.
    pub fn status(&self) -> Result<ReplicaStatus, HarnessError> {
        replica_status(&self.replica)
    }

    /// Waits until both replication threads run without error.
    pub fn wait_healthy(&self, timeout: Duration) -> Result<ReplicaStatus, HarnessError> {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.status()?;
            if s.is_healthy() {
                return Ok(s);
            }
            if Instant::now() > deadline {
                return Err(HarnessError::new(format!("replication not running after {timeout:?}: {s:?}")));
            }
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until the replica has applied everything the primary has logged so far, and checks that
    /// replication is still healthy.
    pub fn sync(&self, timeout: Duration) -> Result<ReplicaStatus, HarnessError> {
        let pos = self.primary.sql("SELECT @@GLOBAL.gtid_binlog_pos")?;
        let pos = pos.trim();
        if !pos.bytes().all(|b| b.is_ascii_digit() || b == b'-' || b == b',') {
            return Err(HarnessError::new(format!("unexpected gtid_binlog_pos {pos:?}")));
        }
        let waited = self.replica.sql(&format!("SELECT MASTER_GTID_WAIT('{pos}', {})", timeout.as_secs().max(1)))?;
        let s = self.status()?;
        if waited.trim() != "0" || !s.is_healthy() {
            return Err(HarnessError::new(format!("the replica did not reach {pos} ({}): {s:?}", waited.trim())));
        }
        Ok(s)
    }
}

/// `SHOW SLAVE STATUS` of `replica`, read from the client's vertical output.
pub fn replica_status(replica: &MariaDb) -> Result<ReplicaStatus, HarnessError> {
    let out = replica.sql_vertical("SHOW SLAVE STATUS")?;
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.trim_start().strip_prefix(name).and_then(|r| r.strip_prefix(": ")).map(|v| v.trim().to_string()))
            .unwrap_or_default()
    };
    Ok(ReplicaStatus {
        io_running: field("Slave_IO_Running"),
        sql_running: field("Slave_SQL_Running"),
        last_sql_error: field("Last_SQL_Error"),
        last_io_error: field("Last_IO_Error"),
    })
}
