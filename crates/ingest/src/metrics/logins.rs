//! Login statistics for real-time alerts: failed logins by account and by source, successful logins
//! after failures, privileged logins from public addresses. Every labelled family is capped: once it
//! holds `max_series` label sets, new ones are summed into one overflow series, so an attacker who
//! invents account names cannot grow the scrape or the ingester's memory.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::sink::Login;

/// A successful login counts as "after failures" when the same account failed from the same source at
/// most this long before it (the advisor check's default window, one hour).
pub const AFTER_FAILURES_WINDOW_SECS: i64 = 3600;

/// What the login statistics are configured with.
#[derive(Debug, Clone)]
pub struct LoginConfig {
    /// Label sets a family may hold before new ones go to its overflow series.
    pub max_series: usize,
    /// Accounts (user names) whose logins from public addresses are counted.
    pub privileged: Vec<String>,
}

impl Default for LoginConfig {
    fn default() -> Self {
        LoginConfig { max_series: 500, privileged: vec!["root".to_string()] }
    }
}

/// A counter family with at most `max` label sets plus one overflow count.
#[derive(Debug, Clone, Default)]
pub struct Capped<K: std::hash::Hash + Eq> {
    /// Label set to value.
    pub series: HashMap<K, u64>,
    /// Sum of the events whose label set found no room.
    pub overflow: u64,
}

impl<K: std::hash::Hash + Eq> Capped<K> {
    fn add(&mut self, key: K, max: usize) {
        if let Some(v) = self.series.get_mut(&key) {
            *v += 1;
        } else if self.series.len() < max {
            self.series.insert(key, 1);
        } else {
            self.overflow += 1;
        }
    }
}

/// `(user, client)`.
pub type Account = (String, String);

#[derive(Debug, Clone, Copy)]
struct Pending {
    failures: u64,
    last_failure: i64,
}

/// The login statistics; fed in log order by [`LoginStats::observe`].
#[derive(Debug, Clone, Default)]
pub struct LoginStats {
    /// Failed logins.
    pub failed: u64,
    /// Successful logins.
    pub succeeded: u64,
    /// Failed logins by account.
    pub failed_by_account: Capped<Account>,
    /// Failed logins by source.
    pub failed_by_client: Capped<String>,
    /// Successful logins of an account that failed from the same source within the window before.
    pub after_failures: u64,
    /// The same, by account.
    pub after_failures_by_account: Capped<Account>,
    /// The failures that preceded each account's last login after failures (capped with it).
    pub failures_before_last_login: HashMap<Account, u64>,
    /// Successful logins of privileged accounts from public addresses.
    pub privileged_public: u64,
    /// The same, by account.
    pub privileged_public_by_account: Capped<Account>,
    /// Accounts whose failures wait for a successful login, capped at 4 × max_series.
    pending: HashMap<Account, Pending>,
}

impl LoginStats {
    /// Counts logins, in log order.
    pub fn observe(&mut self, logins: &[Login], cfg: &LoginConfig) {
        let max = cfg.max_series;
        for l in logins {
            let account = (l.user.clone(), l.client.clone());
            if l.failed {
                self.failed += 1;
                self.failed_by_account.add(account.clone(), max);
                self.failed_by_client.add(l.client.clone(), max);
                self.note_failure(account, l.at, max.saturating_mul(4).max(1));
                continue;
            }
            self.succeeded += 1;
            if let Some(p) = self.pending.remove(&account) {
                if l.at - p.last_failure <= AFTER_FAILURES_WINDOW_SECS {
                    self.after_failures += 1;
                    let room = self.after_failures_by_account.series.contains_key(&account) || self.after_failures_by_account.series.len() < max;
                    self.after_failures_by_account.add(account.clone(), max);
                    if room {
                        self.failures_before_last_login.insert(account.clone(), p.failures);
                    }
                }
            }
            if cfg.privileged.contains(&l.user) && is_public(&l.ip) {
                self.privileged_public += 1;
                self.privileged_public_by_account.add(account, max);
            }
        }
    }

    fn note_failure(&mut self, account: Account, at: i64, cap: usize) {
        if let Some(p) = self.pending.get_mut(&account) {
            p.failures += 1;
            p.last_failure = p.last_failure.max(at);
            return;
        }
        if self.pending.len() >= cap {
            // Forget what is too old to matter; if that frees nothing, the oldest failure.
            self.pending.retain(|_, p| at - p.last_failure <= AFTER_FAILURES_WINDOW_SECS);
            if self.pending.len() >= cap {
                if let Some(oldest) = self.pending.iter().min_by_key(|(_, p)| p.last_failure).map(|(k, _)| k.clone()) {
                    self.pending.remove(&oldest);
                }
            }
        }
        self.pending.insert(account, Pending { failures: 1, last_failure: at });
    }
}

/// The advisor check's rule (`mysql_audit_remote_privileged_login`): a TCP address (the `ip` field
/// set) that is neither loopback nor private (RFC 1918, RFC 4193). Anything in `ip` that is not an
/// address counts as public, as in the check.
pub fn is_public(ip: &str) -> bool {
    if ip.is_empty() {
        return false;
    }
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => !(v4.is_loopback() || v4.is_private()),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => !(v4.is_loopback() || v4.is_private()),
            None => !(v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00),
        },
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(user: &str, client: &str, failed: bool, at: i64) -> Login {
        Login { user: user.into(), client: client.into(), ip: client.into(), failed, at }
    }

    #[test]
    fn public_addresses_follow_the_check() {
        for ip in ["198.51.100.23", "2001:db8::7", "8.8.8.8", "::ffff:8.8.8.8", "not-an-ip"] {
            assert!(is_public(ip), "{ip}");
        }
        for ip in ["", "127.0.0.1", "::1", "10.1.2.3", "172.16.5.4", "192.168.1.20", "fd00::1", "::ffff:10.0.0.1"] {
            assert!(!is_public(ip), "{ip}");
        }
    }

    #[test]
    fn families_are_capped_with_one_overflow() {
        let cfg = LoginConfig { max_series: 3, ..LoginConfig::default() };
        let mut s = LoginStats::default();
        let many: Vec<Login> = (0..10).map(|i| login(&format!("u{i}"), &format!("10.0.0.{i}"), true, 100)).collect();
        s.observe(&many, &cfg);
        s.observe(&[login("u0", "10.0.0.0", true, 101)], &cfg);
        assert_eq!(s.failed, 11);
        assert_eq!(s.failed_by_account.series.len(), 3);
        assert_eq!(s.failed_by_account.overflow, 7);
        assert_eq!(s.failed_by_account.series[&("u0".to_string(), "10.0.0.0".to_string())], 2);
        assert_eq!(s.failed_by_client.series.len(), 3);
        assert_eq!(s.failed_by_client.overflow, 7);
        assert!(s.pending.len() <= 12);
    }

    #[test]
    fn a_login_after_failures_counts_once_with_its_failures() {
        let cfg = LoginConfig::default();
        let mut s = LoginStats::default();
        let mut ls: Vec<Login> = (0..7).map(|i| login("app", "203.0.113.50", true, 1000 + i)).collect();
        ls.push(login("app", "203.0.113.50", false, 1010));
        ls.push(login("app", "203.0.113.50", false, 1011));
        // Another source's failures do not make this one's login suspicious.
        ls.push(login("bob", "10.0.0.9", true, 1000));
        ls.push(login("bob", "10.0.0.8", false, 1001));
        s.observe(&ls, &cfg);
        assert_eq!(s.after_failures, 1);
        let key = ("app".to_string(), "203.0.113.50".to_string());
        assert_eq!(s.after_failures_by_account.series[&key], 1);
        assert_eq!(s.failures_before_last_login[&key], 7);
        assert_eq!(s.succeeded, 3);
    }

    #[test]
    fn failures_older_than_the_window_do_not_count() {
        let mut s = LoginStats::default();
        s.observe(&[login("app", "h", true, 0), login("app", "h", false, AFTER_FAILURES_WINDOW_SECS + 1)], &LoginConfig::default());
        assert_eq!(s.after_failures, 0);
    }

    #[test]
    fn privileged_logins_from_public_addresses() {
        let cfg = LoginConfig { privileged: vec!["root".into(), "admin".into()], ..LoginConfig::default() };
        let mut s = LoginStats::default();
        s.observe(&[login("root", "198.51.100.23", false, 1), login("root", "10.0.0.1", false, 1), login("admin", "2001:db8::7", false, 1), login("app", "198.51.100.23", false, 1), login("root", "198.51.100.23", true, 2)], &cfg);
        assert_eq!(s.privileged_public, 2);
        assert_eq!(s.privileged_public_by_account.series.len(), 2);
        // A socket login has no ip: never public, whatever its host says.
        let mut t = LoginStats::default();
        t.observe(&[Login { user: "root".into(), client: "localhost".into(), ip: String::new(), failed: false, at: 1 }], &cfg);
        assert_eq!(t.privileged_public, 0);
    }

    #[test]
    fn pending_failures_stay_bounded() {
        let cfg = LoginConfig { max_series: 2, ..LoginConfig::default() };
        let mut s = LoginStats::default();
        let flood: Vec<Login> = (0..10_000).map(|i| login(&format!("u{i}"), "203.0.113.1", true, i)).collect();
        s.observe(&flood, &cfg);
        assert!(s.pending.len() <= 8, "{}", s.pending.len());
        // The newest failures are the ones kept.
        s.observe(&[login("u9999", "203.0.113.1", false, 10_000)], &cfg);
        assert_eq!(s.after_failures, 1);
    }
}
