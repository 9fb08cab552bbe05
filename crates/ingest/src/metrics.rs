//! Counters for the Prometheus text endpoint (`--metrics-listen`), so PMM can scrape audit-ingest as an
//! external exporter.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

/// At most this many accounts get their own failed-login series; the rest are summed as `other`.
pub const MAX_ACCOUNT_SERIES: usize = 500;

/// The ingester's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Records stored.
    pub records: AtomicU64,
    /// Bytes of the log read into committed batches.
    pub bytes: AtomicU64,
    /// Records dropped by filters.
    pub filtered: AtomicU64,
    /// Malformed records dead-lettered.
    pub dead_letters: AtomicU64,
    /// Bytes of the live file not read yet.
    pub bytes_behind: AtomicU64,
    /// Unix time of the last commit (or heartbeat).
    pub last_commit: AtomicI64,
    /// Reconnects after database errors.
    pub reconnects: AtomicU64,
    /// Writes the server refused (privilege, read_only) while running.
    pub refused_writes: AtomicU64,
    /// 1 while the server refuses the ingester's writes (it waits and retries), else 0.
    pub writes_refused: AtomicU64,
    failed_logins: Mutex<HashMap<String, u64>>,
}

impl Metrics {
    /// Counts failed logins by `user@source`.
    pub fn add_failed_logins(&self, accounts: &[String]) {
        let Ok(mut map) = self.failed_logins.lock() else { return };
        for a in accounts {
            let key = if map.contains_key(a) || map.len() < MAX_ACCOUNT_SERIES { a.as_str() } else { "other" };
            *map.entry(key.to_string()).or_insert(0) += 1;
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self, server: &str, source: &str) -> String {
        let mut out = String::new();
        let label = format!("{}\",source=\"{}", escape_label(server), escape_label(source));
        let now = jiff::Timestamp::now().as_second();
        let last = self.last_commit.load(Relaxed);
        let counters: [(&str, &str, &str, u64); 8] = [
            ("audit_ingest_records_total", "counter", "Audit records stored.", self.records.load(Relaxed)),
            ("audit_ingest_bytes_total", "counter", "Bytes of audit log committed.", self.bytes.load(Relaxed)),
            ("audit_ingest_filtered_total", "counter", "Records skipped by filters.", self.filtered.load(Relaxed)),
            ("audit_ingest_dead_letters_total", "counter", "Malformed records stored in the dead-letter table.", self.dead_letters.load(Relaxed)),
            ("audit_ingest_reconnects_total", "counter", "Reconnects after database errors.", self.reconnects.load(Relaxed)),
            ("audit_ingest_refused_writes_total", "counter", "Writes the server refused (a missing privilege, read_only); the ingester waits and retries.", self.refused_writes.load(Relaxed)),
            ("audit_ingest_writes_refused", "gauge", "1 while the server refuses the ingester's writes.", self.writes_refused.load(Relaxed)),
            ("audit_ingest_bytes_behind", "gauge", "Bytes of the live audit log not read yet.", self.bytes_behind.load(Relaxed)),
        ];
        for (name, kind, help, v) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{{server=\"{label}\"}} {v}");
        }
        let since = if last == 0 { -1 } else { now - last };
        let _ = writeln!(out, "# HELP audit_ingest_seconds_since_last_commit Seconds since the last commit or heartbeat (-1 before the first).\n# TYPE audit_ingest_seconds_since_last_commit gauge\naudit_ingest_seconds_since_last_commit{{server=\"{label}\"}} {since}");
        let _ = writeln!(out, "# HELP audit_ingest_failed_logins_total Failed logins seen, by account (user@source).\n# TYPE audit_ingest_failed_logins_total counter");
        if let Ok(map) = self.failed_logins.lock() {
            let mut rows: Vec<_> = map.iter().collect();
            rows.sort();
            for (account, n) in rows {
                let _ = writeln!(out, "audit_ingest_failed_logins_total{{server=\"{label}\",account=\"{}\"}} {n}", escape_label(account));
            }
        }
        out
    }
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Serves `GET /metrics` on `addr` until the task is dropped. A deliberately tiny HTTP/1.0 responder:
/// one request a connection, no keep-alive.
pub async fn serve(addr: std::net::SocketAddr, metrics: std::sync::Arc<Metrics>, server: String, source: String) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "serving metrics at /metrics");
    loop {
        let (mut sock, _) = listener.accept().await?;
        let metrics = metrics.clone();
        let (server, source) = (server.clone(), source.clone());
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            let n = match tokio::time::timeout(std::time::Duration::from_secs(5), sock.read(&mut buf)).await {
                Ok(Ok(n)) => n,
                _ => return,
            };
            let req = String::from_utf8_lossy(&buf[..n]);
            let (status, body) = if req.starts_with("GET /metrics") || req.starts_with("GET / ") {
                ("200 OK", metrics.render(&server, &source))
            } else {
                ("404 Not Found", "not found: try /metrics\n".to_string())
            };
            let resp = format!("HTTP/1.0 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            let _ = sock.write_all(resp.as_bytes()).await;
            let _ = sock.shutdown().await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_bounded_account_series() {
        let m = Metrics::default();
        m.records.store(3, Relaxed);
        let many: Vec<String> = (0..MAX_ACCOUNT_SERIES + 10).map(|i| format!("u{i}@10.0.0.1")).collect();
        m.add_failed_logins(&many);
        m.add_failed_logins(&["evil\"user@x".to_string()]);
        let text = m.render("host1", "db1");
        assert!(text.contains("audit_ingest_records_total{server=\"host1\",source=\"db1\"} 3"), "{text}");
        assert!(text.contains("account=\"other\"} 11"), "{}", &text[text.len() - 300..]);
        assert_eq!(text.matches("audit_ingest_failed_logins_total{").count(), MAX_ACCOUNT_SERIES + 1);
    }
}
