//! Runs checks against a live server the way pmm-agent does: `SELECT /* pmm-agent */ ` + query as a
//! prepared statement (binary protocol), values mapped to the types PMM hands to scripts.
use std::time::Duration;

use mysql_async::consts::ColumnType;
use mysql_async::prelude::Queryable;
use mysql_async::{Column, Conn, Opts, Value};

use crate::cells::{Alert, Cell, Row};
use crate::file_version::FileVersion;
use crate::render::{RenderError, Renderer, SqlOptions};
use crate::script::{self, ScriptError};
use crate::spec::{CheckSpec, QueryType};

/// pmm-agent waits this long for a query result.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(20);

/// What pmm-agent puts before a MYSQL_SELECT query.
pub const AGENT_PREFIX: &str = "SELECT /* pmm-agent */ ";

/// A query could not be run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The DSN is not a valid `mysql://` URL.
    #[error("invalid DSN: {0}")]
    Dsn(#[source] mysql_async::UrlError),
    /// Connecting failed. The driver's error is shown, not chained: its text would repeat.
    #[error("{server}: {}", connect_config::said_once(&error.to_string()))]
    Connect {
        /// `host:port`.
        server: String,
        /// What the driver said.
        error: mysql_async::Error,
    },
    /// The server refused or failed the statement.
    #[error("check {check}: query failed: {source}")]
    Query {
        /// The check.
        check: String,
        /// The server's error.
        source: mysql_async::Error,
    },
    /// No result within pmm-agent's 20 s.
    #[error("check {check}: no result within {QUERY_TIMEOUT:?} (pmm-agent gives up then too)")]
    Timeout {
        /// The check.
        check: String,
    },
}

/// `check-gen run` failed: nothing after the failing check ran.
#[derive(Debug, thiserror::Error)]
pub enum CheckRunError {
    /// A check could not be rendered.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// The server refused, failed or timed out.
    #[error(transparent)]
    Run(#[from] RunError),
    /// A check's script failed on the server's rows.
    #[error("check {check}: {source}")]
    Script {
        /// The check.
        check: String,
        /// Why.
        source: ScriptError,
    },
}

/// What happens while the checks run, in order, for the caller to show.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// A check queries PMM's metrics, which pmm-managed (not pmm-agent) runs: not run here.
    Skipped {
        /// The check.
        check: &'a str,
        /// Its query type.
        query_type: QueryType,
    },
    /// A script called `print()` (the text is the script's, unescaped).
    Printed {
        /// The check.
        check: &'a str,
        /// The line.
        line: &'a str,
    },
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Maps one binary-protocol value to what PMM's script sees (see pmm-checks.md). DATETIME, TIMESTAMP
/// and DATE become Unix nanoseconds (UTC, as the Go driver's default location) with `parse_time`, else
/// text as the Go driver formats it.
pub fn to_cell(v: &Value, col: &Column, parse_time: bool) -> Cell {
    match v {
        Value::NULL => Cell::Null,
        Value::Int(i) => Cell::Int(*i),
        Value::UInt(u) => i64::try_from(*u).map(Cell::Int).unwrap_or_else(|_| Cell::Str(u.to_string())),
        Value::Float(f) => Cell::Float(f64::from(*f)),
        Value::Double(d) => Cell::Float(*d),
        Value::Bytes(b) => Cell::Str(String::from_utf8_lossy(b).into_owned()),
        Value::Date(y, mo, d, h, mi, s, us) => {
            if parse_time {
                let days = days_from_civil(i64::from(*y), i64::from(*mo), i64::from(*d));
                let secs = days * 86400 + i64::from(*h) * 3600 + i64::from(*mi) * 60 + i64::from(*s);
                Cell::Int(secs * 1_000_000_000 + i64::from(*us) * 1000)
            } else if col.column_type() == ColumnType::MYSQL_TYPE_DATE {
                Cell::Str(format!("{y:04}-{mo:02}-{d:02}"))
            } else {
                let mut s = format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}");
                let dec = usize::from(col.decimals()).min(6);
                if dec > 0 {
                    let frac = format!("{us:06}");
                    s.push('.');
                    s.push_str(&frac[..dec]);
                }
                Cell::Str(s)
            }
        }
        Value::Time(neg, days, h, mi, s, us) => {
            let hours = u64::from(*days) * 24 + u64::from(*h);
            let sign = if *neg { "-" } else { "" };
            let mut t = format!("{sign}{hours:02}:{mi:02}:{s:02}");
            if *us != 0 {
                t.push_str(&format!(".{us:06}"));
            }
            Cell::Str(t)
        }
    }
}

/// A connection to the monitored server.
#[derive(Debug)]
pub struct Target {
    conn: Conn,
    server: String,
}

impl Target {
    /// Connects to `mysql://user:password@host:port/db`.
    pub async fn connect(dsn: &str) -> Result<Self, RunError> {
        Target::connect_opts(Opts::from_url(dsn).map_err(RunError::Dsn)?).await
    }

    /// Connects with `opts`.
    pub async fn connect_opts(opts: Opts) -> Result<Self, RunError> {
        let server = format!("{}:{}", opts.ip_or_hostname(), opts.tcp_port());
        match Conn::new(opts).await {
            Ok(conn) => Ok(Target { conn, server }),
            Err(error) => Err(RunError::Connect { server, error }),
        }
    }

    /// Runs a MYSQL_SELECT query (the text after SELECT) as pmm-agent does and returns its rows.
    pub async fn select(&mut self, check: &str, query: &str, parse_time: bool) -> Result<Vec<Row>, RunError> {
        let sql = format!("{AGENT_PREFIX}{query}");
        let qerr = |source| RunError::Query { check: check.to_string(), source };
        let fut = async {
            let stmt = self.conn.prep(sql).await.map_err(qerr)?;
            let rows: Vec<mysql_async::Row> = self.conn.exec(&stmt, ()).await.map_err(qerr)?;
            self.conn.close(stmt).await.map_err(qerr)?;
            Ok::<_, RunError>(rows)
        };
        let rows = tokio::time::timeout(QUERY_TIMEOUT, fut)
            .await
            .map_err(|_| RunError::Timeout { check: check.to_string() })??;
        Ok(rows
            .iter()
            .map(|r| {
                r.columns_ref()
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.name_str().into_owned(), r.as_ref(i).map_or(Cell::Null, |v| to_cell(v, c, parse_time))))
                    .collect()
            })
            .collect())
    }

    /// Runs the checks as pmm-agent does (version 2 scripts on the rows of their MYSQL_SELECT query) and
    /// returns their alerts, each with its check's name; `progress` hears of skipped checks and prints.
    pub async fn run_checks(
        &mut self,
        renderer: &Renderer,
        specs: &[CheckSpec],
        sql: &SqlOptions,
        parse_time: bool,
        mut progress: impl FnMut(Progress<'_>),
    ) -> Result<Vec<Alert>, CheckRunError> {
        let mut alerts = Vec::new();
        for spec in specs {
            if spec.query_type != QueryType::MysqlSelect {
                progress(Progress::Skipped { check: &spec.name, query_type: spec.query_type });
                continue;
            }
            let c = renderer.check(spec, sql, FileVersion::V2)?;
            let rows = self.select(&c.name, &c.query, parse_time).await?;
            let outcome = script::run(&c.script, &[rows], FileVersion::V2);
            for line in &outcome.printed {
                progress(Progress::Printed { check: &c.name, line });
            }
            let found = outcome.result.map_err(|source| CheckRunError::Script { check: c.name.clone(), source })?;
            alerts.extend(found.into_iter().map(|a| Alert { check: c.name.clone(), ..a }));
        }
        Ok(alerts)
    }

    /// Closes the connection cleanly.
    pub async fn disconnect(self) -> Result<(), RunError> {
        let server = self.server;
        self.conn.disconnect().await.map_err(|error| RunError::Connect { server, error })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11017);
        assert_eq!(days_from_civil(2026, 1, 2), 20455);
    }

    /// `--parse-time` hands DATETIME to scripts as int Unix nanoseconds (UTC), as pmm-agent does for a
    /// service whose DSN sets parseTime; without it, as the Go driver's text.
    #[test]
    fn parse_time_turns_datetime_into_int_nanoseconds() {
        let col = Column::new(ColumnType::MYSQL_TYPE_DATETIME).with_decimals(6);
        let v = Value::Date(2026, 1, 2, 3, 4, 5, 678_901);
        let secs = 20455 * 86400 + 3 * 3600 + 4 * 60 + 5;
        assert_eq!(to_cell(&v, &col, true), Cell::Int(secs * 1_000_000_000 + 678_901_000));
        assert_eq!(to_cell(&v, &col, false), Cell::Str("2026-01-02 03:04:05.678901".into()));
        let plain = Column::new(ColumnType::MYSQL_TYPE_DATETIME);
        assert_eq!(to_cell(&Value::Date(1970, 1, 1, 0, 0, 1, 0), &plain, true), Cell::Int(1_000_000_000));
        assert_eq!(to_cell(&Value::Date(1970, 1, 1, 0, 0, 1, 0), &plain, false), Cell::Str("1970-01-01 00:00:01".into()));
        let date = Column::new(ColumnType::MYSQL_TYPE_DATE);
        assert_eq!(to_cell(&Value::Date(2026, 1, 2, 0, 0, 0, 0), &date, false), Cell::Str("2026-01-02".into()));
        assert_eq!(to_cell(&Value::Date(2026, 1, 2, 0, 0, 0, 0), &date, true), Cell::Int(20455 * 86400 * 1_000_000_000));
    }
}
