//! The text exposition of a scrape, encoded by `prometheus-client` (OpenMetrics text, which Prometheus,
//! VictoriaMetrics and PMM's vmagent read). Names follow Prometheus conventions: `audit_ingest_` prefix,
//! base units in the name (`_bytes`, `_seconds`), `_total` on counters. Every series carries `server`
//! (the audited server's name) and `log_source` (the source's name, the checkpoint key).

use std::sync::atomic::Ordering::Relaxed;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use super::labels::{escape, label_value};
use super::logins::{Capped, LoginStats};
use super::Metrics;

/// The `Content-Type` of [`encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Labels = Vec<(&'static str, String)>;

/// A label value as written: shown safely, then escaped (prometheus-client 0.23 writes label values
/// as given, without the format's escapes).
fn shown(raw: &str) -> String {
    escape(&label_value(raw))
}

/// One scrape's values, taken from the live counters at once.
#[derive(Debug)]
struct Scrape {
    base: Labels,
    counters: Vec<(&'static str, &'static str, Option<Unit>, u64)>,
    gauges: Vec<(&'static str, &'static str, Option<Unit>, f64)>,
    logins: LoginStats,
}

impl Scrape {
    fn take(m: &Metrics, server: &str, source: &str, now: i64) -> Scrape {
        let last = m.last_commit.load(Relaxed);
        let age = if last == 0 { -1.0 } else { (now - last).max(0) as f64 };
        Scrape {
            base: vec![("server", shown(server)), ("log_source", shown(source))],
            counters: vec![
                ("audit_ingest_records", "Audit records stored.", None, m.records.load(Relaxed)),
                ("audit_ingest_log", "Bytes of audit log read into committed batches.", Some(Unit::Bytes), m.bytes.load(Relaxed)),
                ("audit_ingest_filtered_records", "Records skipped by filters (--kinds, --exclude-account).", None, m.filtered.load(Relaxed)),
                ("audit_ingest_dead_letters", "Malformed records stored in the dead-letter table.", None, m.dead_letters.load(Relaxed)),
                ("audit_ingest_reconnects", "Reconnects after database errors.", None, m.reconnects.load(Relaxed)),
                ("audit_ingest_permission_errors", "Writes the server refused (a missing privilege, read_only); the ingester waits and retries.", None, m.refused_writes.load(Relaxed)),
            ],
            gauges: vec![
                ("audit_ingest_writes_refused", "1 while the server refuses the ingester's writes, else 0.", None, m.writes_refused.load(Relaxed) as f64),
                ("audit_ingest_behind", "Bytes of the live audit log not read yet (as of the last read or commit).", Some(Unit::Bytes), m.bytes_behind.load(Relaxed) as f64),
                ("audit_ingest_last_commit_timestamp", "Unix time of the last commit or heartbeat (0 before the first).", Some(Unit::Seconds), last as f64),
                ("audit_ingest_last_commit_age", "Seconds since the last commit or heartbeat (-1 before the first).", Some(Unit::Seconds), age),
            ],
            logins: m.login_snapshot(),
        }
    }

    fn with(&self, extra: &[(&'static str, &str)]) -> Labels {
        let mut l = self.base.clone();
        l.extend(extra.iter().map(|(k, v)| (*k, shown(v))));
        l
    }

    fn counter(&self, enc: &mut DescriptorEncoder, name: &str, help: &str, unit: Option<&Unit>, v: u64) -> std::fmt::Result {
        let c = ConstCounter::new(v);
        let mut f = enc.encode_descriptor(name, help, unit, c.metric_type())?;
        c.encode(f.encode_family(&self.base)?)
    }

    /// A labelled counter family: its series sorted, and the overflow series (`overflow="true"`,
    /// no other label of the family) once the cap was hit.
    fn family<K: Ord + std::hash::Hash + Eq>(&self, enc: &mut DescriptorEncoder, name: &str, help: &str, fam: &Capped<K>, labels: impl Fn(&K) -> Labels) -> std::fmt::Result {
        let mut f = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
        let mut rows: Vec<(&K, &u64)> = fam.series.iter().collect();
        rows.sort();
        for (k, v) in rows {
            ConstCounter::new(*v).encode(f.encode_family(&labels(k))?)?;
        }
        if fam.overflow > 0 {
            ConstCounter::new(fam.overflow).encode(f.encode_family(&self.with(&[("overflow", "true")]))?)?;
        }
        Ok(())
    }
}

impl Collector for Scrape {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        let info = ConstGauge::new(1i64);
        let mut f = enc.encode_descriptor("audit_ingest_build_info", "audit-ingest's version; always 1.", None, info.metric_type())?;
        info.encode(f.encode_family(&self.with(&[("version", env!("CARGO_PKG_VERSION"))]))?)?;
        for (name, help, unit, v) in &self.counters {
            self.counter(&mut enc, name, help, unit.as_ref(), *v)?;
        }
        for (name, help, unit, v) in &self.gauges {
            let g = ConstGauge::new(*v);
            let mut f = enc.encode_descriptor(name, help, unit.as_ref(), g.metric_type())?;
            g.encode(f.encode_family(&self.base)?)?;
        }
        let s = &self.logins;
        let account = |k: &(String, String)| self.with(&[("user", &k.0), ("client", &k.1)]);
        self.counter(&mut enc, "audit_ingest_failed_logins", "Failed logins.", None, s.failed)?;
        self.family(&mut enc, "audit_ingest_failed_logins_by_account", "Failed logins by account (user, client: the IP address, or the host when there is none); capped.", &s.failed_by_account, account)?;
        self.family(&mut enc, "audit_ingest_failed_logins_by_client", "Failed logins by client (the IP address, or the host when there is none); capped.", &s.failed_by_client, |c| self.with(&[("client", c)]))?;
        self.counter(&mut enc, "audit_ingest_logins", "Successful logins.", None, s.succeeded)?;
        self.counter(&mut enc, "audit_ingest_logins_after_failures", "Successful logins of an account that failed from the same client within the hour before.", None, s.after_failures)?;
        self.family(&mut enc, "audit_ingest_logins_after_failures_by_account", "Successful logins after failures, by account; capped.", &s.after_failures_by_account, account)?;
        let g = MetricType::Gauge;
        let mut f = enc.encode_descriptor("audit_ingest_failures_before_last_login", "Failed logins that preceded the account's last login after failures.", None, g)?;
        let mut rows: Vec<_> = s.failures_before_last_login.iter().collect();
        rows.sort();
        for (k, v) in rows {
            ConstGauge::new(*v as i64).encode(f.encode_family(&account(k))?)?;
        }
        self.counter(&mut enc, "audit_ingest_privileged_public_logins", "Successful logins of privileged accounts (--privileged-account) from public addresses.", None, s.privileged_public)?;
        self.family(&mut enc, "audit_ingest_privileged_public_logins_by_account", "Successful logins of privileged accounts from public addresses, by account; capped.", &s.privileged_public_by_account, account)?;
        Ok(())
    }
}

/// The exposition of `m` for the source `source` of server `server`, as of Unix time `now`.
pub fn encode(m: &Metrics, server: &str, source: &str, now: i64) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Scrape::take(m, server, source, now)));
    let mut out = String::new();
    // Writing into a String cannot fail; an encoder error would be a bug, shown in the body.
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry) {
        out = format!("# encoding failed: {e}\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::Login;

    #[test]
    fn attacker_chosen_labels_are_escaped() {
        let m = Metrics::default();
        let user = "evil\"} 1\nfake_metric{x=\"\\\u{0}\t\r";
        m.observe_logins(&[Login { user: user.into(), client: "10.0.0.1".into(), ip: "10.0.0.1".into(), failed: true, at: 1 }]);
        let text = encode(&m, "db1", "a\"b", 100);
        let line = text.lines().find(|l| l.starts_with("audit_ingest_failed_logins_by_account_total{")).unwrap_or_default();
        assert_eq!(line, r#"audit_ingest_failed_logins_by_account_total{server="db1",log_source="a\"b",user="evil\"} 1\nfake_metric{x=\"\\␀␉␍",client="10.0.0.1"} 1"#);
        assert!(!text.lines().any(|l| l.starts_with("fake_metric")), "{text}");
        assert!(!text.contains('\t') && !text.contains('\r') && !text.contains('\u{0}'));
    }
}
