//! Which records to store: kinds, and accounts to leave out. No database concern: the pipeline asks
//! it before a record becomes a row.

use audit_model::{Kind, Record};

/// Whether a record is of the kinds wanted and not from an excluded account.
#[derive(Debug, Clone, Default)]
pub struct RecordFilter {
    /// Kinds to keep; empty keeps all.
    pub kinds: Vec<Kind>,
    /// Accounts to drop, as `user` or `user@host` (host `%` or absent matches any).
    pub exclude_accounts: Vec<(String, Option<String>)>,
}

impl RecordFilter {
    /// Whether to keep `r`.
    pub fn keep(&self, r: &Record) -> bool {
        if !self.kinds.is_empty() && !self.kinds.contains(&r.kind()) {
            return false;
        }
        // Failed logins are never filtered by account: they are what the checks look for.
        if r.is_failed_login() {
            return true;
        }
        let user = account_user(r);
        let host = r.host().unwrap_or("");
        !self.exclude_accounts.iter().any(|(u, h)| u == user && h.as_deref().is_none_or(|h| h == "%" || h == host || r.ip() == Some(h)))
    }
}

/// The account's user name: Percona statement records write `priv[user] @ host [ip]`.
fn account_user(r: &Record) -> &str {
    let u = r.priv_user().filter(|s| !s.is_empty()).or(r.user()).unwrap_or("");
    match u.find('[') {
        Some(i) if u.contains("] @ ") => &u[..i],
        _ => u,
    }
}
