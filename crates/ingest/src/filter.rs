//! Which records to store: kinds, the ingester's own connections, and accounts a user asked to leave
//! out. No database concern: the pipeline asks it before a record becomes a row.
//!
//! The ingester's own statements are logged by the server it writes to; stored, each commit would
//! log more to store. They are left out by connection, never by account: another session of the
//! ingester's account (whoever stole its password) is stored like any other. The sink tells
//! [`OwnConnections`] the id of each connection it opens (the server's `CONNECTION_ID()`), in a
//! statement that carries a marker of this process; a connection's records are left out only once
//! the log has shown that statement on it, so a log of another server (a central store, a
//! backfill), whose ids mean other sessions, loses nothing. The ingester's logins and logouts are
//! stored like anyone's: only its statements are left out.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use audit_model::{Kind, Record};

/// Whether a record is of the kinds wanted and not the ingester's own or an excluded account's.
#[derive(Debug, Clone, Default)]
pub struct RecordFilter {
    /// Kinds to keep; empty keeps all.
    pub kinds: Vec<Kind>,
    /// Accounts to drop, as `user` or `user@host` (host `%` or absent matches any), as asked.
    pub exclude_accounts: Vec<(String, Option<String>)>,
    /// The ingester's own connections, whose records are dropped; `None` keeps them.
    pub own: Option<OwnConnections>,
}

impl RecordFilter {
    /// Whether to keep `r`.
    pub fn keep(&self, r: &Record) -> bool {
        // Asked of every record, kept or not: a connect or disconnect tells the set what ended.
        let own = self.own.as_ref().is_some_and(|o| o.claims(r));
        if !self.kinds.is_empty() && !self.kinds.contains(&r.kind()) {
            return false;
        }
        // Failed logins are never filtered: they are what the checks look for.
        if r.is_failed_login() {
            return true;
        }
        if own {
            return false;
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

/// Seconds of slack between the server's clock as the sink reads it and its uptime (whole seconds).
const SLACK: i64 = 2;
/// Connections remembered at most (pools open a few; a long run reconnects now and then).
const MAX_CONNECTIONS: usize = 4096;
/// Server starts remembered at most.
const MAX_STARTS: usize = 16;

/// The connections the ingester opened, shared by the sink (which adds each one) and the filter
/// (which asks about each record). Cloning shares the set.
#[derive(Debug, Clone)]
pub struct OwnConnections(Arc<Mutex<Known>>);

impl Default for OwnConnections {
    fn default() -> Self {
        OwnConnections::new()
    }
}

#[derive(Debug)]
struct Known {
    /// `audit-ingest:` and 16 hex digits, random per set: what the sink's registering statement
    /// carries, so that the log shows which of its records are that statement.
    marker: String,
    /// Oldest first.
    conns: VecDeque<Conn>,
    /// When the server started, Unix seconds, ascending: which run of the server a record is from.
    starts: Vec<i64>,
    /// Registering statements the log showed before the sink had added their connection (the
    /// server logs the statement before the sink has its result): id and time.
    early: VecDeque<(u64, i64)>,
}

/// The registering statement up to its marker.
const REGISTERING: &str = "SELECT CONNECTION_ID(), UNIX_TIMESTAMP(), '";
/// The uptime statement up to its marker (a variable of that name never exists).
const UPTIME: &str = "SHOW GLOBAL STATUS WHERE Variable_name = 'Uptime' OR Variable_name = '";

/// Registering statements kept waiting for their connection at most.
const MAX_EARLY: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Conn {
    id: u64,
    /// The server start it belongs to (one of `starts`).
    start: i64,
    /// The log's time of its registering statement, once the log showed it: only then are its
    /// records the ingester's.
    seen: Option<i64>,
    /// The log's time of its end (its logout, or another session's login with its id); records
    /// after it are not its own.
    ended: Option<i64>,
    /// The server's time when the sink last registered this id: a registration after `ended` is a
    /// new connection of ours with the same id.
    added: i64,
}

impl Known {
    /// The server start a record at `t` belongs to: the latest one before it, or the first known
    /// (a log whose clock disagrees, e.g. a wrong `--time-zone`, is never taken for another start
    /// while only one is known).
    fn start_at(&self, t: i64) -> Option<i64> {
        self.starts.iter().rev().find(|s| **s - SLACK <= t).or(self.starts.first()).copied()
    }
}

impl OwnConnections {
    /// An empty set with a fresh marker.
    pub fn new() -> OwnConnections {
        use std::hash::{BuildHasher, Hasher};
        // RandomState is seeded from the OS: enough to tell this process's statement from others'.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
        h.write_u32(std::process::id());
        OwnConnections(Arc::new(Mutex::new(Known { marker: format!("audit-ingest:{:016x}", h.finish()), conns: VecDeque::new(), starts: Vec::new(), early: VecDeque::new() })))
    }

    fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        // Nothing is left half-updated by a panic here: a poisoned lock's data is still consistent.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The statement the sink runs first on each new connection: its result is the connection's id
    /// and the server's time; its text, as the log shows it, tells the filter the connection is ours.
    /// (The marker is letters, digits, `-` and `:`: safe inside the quotes.)
    pub fn registering_sql(&self) -> String {
        format!("{REGISTERING}{}'", self.known().marker)
    }

    /// The statement the sink runs next, for the server's uptime (`Uptime` in its result), marked
    /// the same way: a restarted server's log may show it before the sink has added the connection.
    pub fn uptime_sql(&self) -> String {
        format!("{UPTIME}{}'", self.known().marker)
    }

    /// Adds the connection `id` of the server that started at `start` (Unix seconds). Returns true
    /// when `start` is a server start not seen before (the server restarted: the ids known before
    /// may now name other sessions).
    pub fn add(&self, id: u64, start: i64) -> bool {
        self.add_at(id, start, start)
    }

    /// [`OwnConnections::add`], registered at the server's time `now`. A server restarted within
    /// seconds of its previous start hands out the old ids again under what looks like the same
    /// start: a registration of an id whose connection ended makes it ours again from its marked
    /// statement on.
    pub fn add_at(&self, id: u64, start: i64, now: i64) -> bool {
        let mut k = self.known();
        let (start, new_start) = match k.starts.iter().copied().find(|s| (s - start).abs() <= SLACK) {
            Some(s) => (s, false),
            None => {
                k.starts.push(start);
                k.starts.sort_unstable();
                if k.starts.len() > MAX_STARTS {
                    let gone = k.starts.remove(0);
                    k.conns.retain(|c| c.start != gone);
                }
                (start, true)
            }
        };
        if let Some(p) = k.conns.iter().position(|c| c.id == id && c.start == start) {
            k.conns[p].added = k.conns[p].added.max(now);
            if let Some(e) = k.conns[p].ended {
                // The log showed this registration already (before the sink got here): reopen.
                if let Some(q) = k.early.iter().rposition(|(i, t)| *i == id && *t >= e && *t >= now - SLACK) {
                    let (_, t) = k.early.remove(q).unwrap_or((id, now));
                    let c = &mut k.conns[p];
                    (c.ended, c.seen) = (None, Some(t));
                }
            }
        } else {
            // A mark of this server run (none before its start).
            let seen = k.early.iter().rposition(|(i, t)| *i == id && *t >= start - SLACK).and_then(|p| k.early.remove(p)).map(|(_, t)| t);
            k.conns.push_back(Conn { id, start, seen, ended: None, added: now });
            if k.conns.len() > MAX_CONNECTIONS {
                k.conns.pop_front();
            }
        }
        new_start
    }

    /// Connections known.
    pub fn len(&self) -> usize {
        self.known().conns.len()
    }

    /// Whether none is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `r` is a statement of one of the ingester's connections (to leave out). Its logins and
    /// logouts are not: a logout ends the connection, and so does a login with its id after its
    /// registering statement (another session got the id after a restart). Reading the same records
    /// again (after a reconnect, from the checkpoint) gives the same answers.
    pub fn claims(&self, r: &Record) -> bool {
        let Some(id) = r.connection_id() else { return false };
        let t = r.timestamp().as_second();
        let mut k = self.known();
        let start = k.start_at(t);
        // The whole statement, not a part: a GRANT with the marker in a comment is not hidden.
        let marked = r.sqltext().is_some_and(|s| {
            let s = s.trim();
            [REGISTERING, UPTIME].iter().any(|p| s.strip_prefix(p).and_then(|s| s.strip_suffix('\'')) == Some(k.marker.as_str()))
        });
        if marked {
            // The marker is this process's: the statement is ours. Its connection may not be added
            // yet, or (after a restart, before the sink learned the new start) be taken for one of
            // the server's previous run: kept for the connection the sink adds next with this id.
            k.early.push_back((id, t));
            if k.early.len() > MAX_EARLY {
                k.early.pop_front();
            }
        }
        if marked {
            // Our mark on an id whose connection ended, which the sink registered again since: a
            // new connection of ours with the old id (see `add_at`).
            if let Some(c) = k.conns.iter_mut().find(|c| c.id == id && Some(c.start) == start && c.ended.is_some_and(|e| e <= t && c.added >= e && c.added >= t - SLACK)) {
                (c.ended, c.seen) = (None, Some(t));
            }
        }
        let live = k.conns.iter_mut().find(|c| c.id == id && Some(c.start) == start && c.ended.is_none_or(|e| t <= e));
        let Some(c) = live else { return marked };
        let Some(seen) = c.seen else {
            if marked {
                c.seen = Some(t);
            }
            return marked;
        };
        if marked {
            return true;
        }
        if t < seen - SLACK {
            return false;
        }
        match r.kind() {
            Kind::Connect if !r.is_failed_login() && t > seen => {
                c.ended.get_or_insert(t);
                false
            }
            Kind::Disconnect => {
                c.ended.get_or_insert(t);
                false
            }
            Kind::Connect | Kind::ChangeUser | Kind::ProxyConnect => false,
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_model::{Field, Format};

    fn record(kind: Kind, id: u64, t: i64, user: &str, status: i64, sql: &str) -> Record {
        let mut b = Record::builder(Format::MariaDb);
        b.kind(kind).connection_id(Some(id)).status(Some(status)).timestamp(jiff::Timestamp::from_second(t).unwrap());
        b.set(Field::User, user).set(Field::Host, "localhost");
        if !sql.is_empty() {
            b.set(Field::SqlText, sql);
        }
        b.build()
    }

    fn q(id: u64, t: i64, sql: &str) -> Record {
        record(Kind::Query, id, t, "ingest", 0, sql)
    }

    fn filter(own: &OwnConnections) -> RecordFilter {
        RecordFilter { own: Some(own.clone()), ..RecordFilter::default() }
    }

    /// The registering statement of the set as the log shows it.
    fn marker(own: &OwnConnections) -> String {
        own.registering_sql()
    }

    #[test]
    fn only_the_ingesters_statements_are_dropped_not_its_account() {
        let own = OwnConnections::new();
        assert!(own.add(7, 1_000), "the first start is new");
        assert!(!own.add(8, 1_001), "the same start, read a second later");
        let f = filter(&own);
        assert!(f.keep(&record(Kind::Connect, 7, 2_000, "ingest", 0, "")), "its login is stored like anyone's");
        assert!(f.keep(&q(7, 2_000, "INSERT INTO t VALUES (1)")), "before its registering statement: not known to be ours");
        assert!(!f.keep(&q(7, 2_000, &marker(&own))));
        assert!(!f.keep(&q(7, 2_005, "INSERT INTO t VALUES (2)")));
        assert!(!f.keep(&q(8, 2_001, &marker(&own))));
        assert!(!f.keep(&q(8, 2_005, "COMMIT")));
        assert!(f.keep(&q(9, 2_005, "INSERT INTO t VALUES (3)")), "another session of the same account");
        assert!(f.keep(&record(Kind::Connect, 9, 2_005, "ingest", 0, "")));
        assert!(f.keep(&q(9, 2_006, &format!("GRANT ALL ON *.* TO x /* {} */", marker(&own)))), "the marker inside another statement hides nothing");
        assert!(f.keep(&record(Kind::Connect, 7, 2_005, "ingest", 1045, "")), "a failed login is never dropped");
        // Its logout is stored and ends it: the id names someone else afterwards.
        assert!(f.keep(&record(Kind::Disconnect, 8, 2_010, "ingest", 0, "")));
        assert!(!f.keep(&q(8, 2_010, "COMMIT")), "in the second of its end: still its own");
        assert!(f.keep(&q(8, 2_011, "SELECT 1")));
        // Read again from a checkpoint (a reconnect): the same answers.
        assert!(f.keep(&record(Kind::Connect, 7, 2_000, "ingest", 0, "")));
        assert!(!f.keep(&q(7, 2_000, &marker(&own))));
        assert!(!f.keep(&q(7, 2_005, "INSERT INTO t VALUES (2)")));
        assert!(!f.keep(&q(8, 2_005, "COMMIT")));
        assert!(RecordFilter::default().keep(&q(7, 2_005, "INSERT INTO t VALUES (2)")), "no set: kept");
    }

    #[test]
    fn a_registering_statement_read_before_the_sink_added_its_connection_still_counts() {
        let own = OwnConnections::new();
        own.add(1, 1_000);
        let f = filter(&own);
        assert!(!f.keep(&q(4, 2_000, &marker(&own))), "the marker is ours whatever the id");
        own.add(4, 1_000);
        assert!(!f.keep(&q(4, 2_001, "COMMIT")));
    }

    #[test]
    fn another_servers_log_loses_nothing() {
        // Ids of the server written to mean other sessions in the log of another (a central store,
        // a backfill): the registering statement never shows there, so nothing is claimed.
        let own = OwnConnections::new();
        own.add(5, 1_000);
        let f = filter(&own);
        assert!(f.keep(&q(5, 1_500, "GRANT ALL ON *.* TO x")));
        assert!(f.keep(&q(5, 1_500, "SELECT CONNECTION_ID(), UNIX_TIMESTAMP(), 'audit-ingest:0000000000000000'")), "another process's marker");
    }

    #[test]
    fn ids_that_a_restarted_server_hands_out_again_name_other_sessions() {
        let own = OwnConnections::new();
        own.add(5, 1_000);
        let f = filter(&own);
        assert!(!f.keep(&q(5, 1_010, &marker(&own))));
        // A later login with id 5 (the server restarted, and no start was learned yet): not ours.
        assert!(f.keep(&record(Kind::Connect, 5, 3_000, "ingest", 0, "")));
        assert!(f.keep(&q(5, 3_001, "GRANT ALL ON *.* TO x")));
        // Without logins logged: the start the sink learned on reconnecting tells the runs apart.
        own.add(6, 1_000);
        assert!(!f.keep(&q(6, 1_020, &marker(&own))));
        assert!(own.add(3, 2_990), "a new start");
        assert!(!f.keep(&q(6, 1_500, "COMMIT")), "before the restart: its own");
        assert!(f.keep(&q(6, 3_200, "GRANT ALL ON *.* TO x")), "after it: someone else's id 6");
        assert!(!f.keep(&q(3, 3_100, &marker(&own))));
        assert!(!f.keep(&q(3, 3_200, "COMMIT")));
    }

    /// A server restarted within SLACK of its previous start: the new run's start is taken for the
    /// old one, and a new connection of ours gets the id of one that ended. Both orders of the log
    /// and the sink's registration (seen in own_connections.rs, which restarts a server at once).
    #[test]
    fn a_restart_within_seconds_gives_our_old_id_to_a_new_connection_of_ours() {
        for log_first in [false, true] {
            let own = OwnConnections::new();
            own.add_at(7, 1_000, 1_001);
            let f = filter(&own);
            assert!(!f.keep(&q(7, 1_001, &marker(&own))));
            assert!(!f.keep(&q(7, 1_001, "COMMIT")));
            assert!(f.keep(&record(Kind::Disconnect, 7, 1_002, "ingest", 0, "")), "logouts are stored");
            // The server restarts at 1_002 (within SLACK of 1_000): our new connection is id 7 again.
            assert!(f.keep(&record(Kind::Connect, 7, 1_003, "ingest", 0, "")), "logins are stored");
            if log_first {
                assert!(!f.keep(&q(7, 1_003, &marker(&own))));
                assert!(!own.add_at(7, 1_002, 1_003), "taken for the known start");
            } else {
                assert!(!own.add_at(7, 1_002, 1_003), "taken for the known start");
                assert!(!f.keep(&q(7, 1_003, &marker(&own))));
            }
            assert!(!f.keep(&q(7, 1_003, "SELECT state, log_server_id FROM ck WHERE server = ? AND source = ?")), "log first: {log_first}");
            // Someone else's session that the server gives the next id: stored.
            assert!(f.keep(&q(9, 1_004, "GRANT ALL ON *.* TO x")));
        }
    }

    #[test]
    fn a_reused_id_registered_before_the_new_start_is_known_still_counts() {
        let own = OwnConnections::new();
        own.add(8, 1_000);
        let f = filter(&own);
        assert!(!f.keep(&q(8, 1_010, &marker(&own))));
        // The server restarts (no logout logged); the sink's new connection gets id 8 again, and
        // the log shows its registering statements before the sink has added it under the new start.
        assert!(!f.keep(&q(8, 3_000, &marker(&own))));
        assert!(!f.keep(&q(8, 3_000, &own.uptime_sql())));
        assert!(own.add(8, 2_995));
        assert!(!f.keep(&q(8, 3_001, "COMMIT")));
        assert!(f.keep(&q(9, 3_001, "GRANT ALL ON *.* TO x")));
    }

    #[test]
    fn kinds_and_asked_accounts_still_apply() {
        let own = OwnConnections::new();
        own.add(1, 0);
        let f = RecordFilter { kinds: vec![Kind::Connect], exclude_accounts: vec![("app".into(), None)], own: Some(own.clone()) };
        assert!(!f.keep(&q(2, 20, "SELECT 1")));
        assert!(f.keep(&record(Kind::Connect, 2, 20, "bob", 0, "")));
        assert!(!f.keep(&record(Kind::Connect, 3, 20, "app", 0, "")));
        assert!(f.keep(&record(Kind::Connect, 3, 20, "app", 1045, "")));
        // A statement of a kind not stored still registers the connection.
        assert!(!f.keep(&q(1, 10, &marker(&own))));
        assert!(own.known().conns[0].seen == Some(10));
    }

    #[test]
    fn memory_stays_bounded() {
        let own = OwnConnections::new();
        for id in 0..(MAX_CONNECTIONS as u64 + 10) {
            own.add(id, 0);
        }
        assert_eq!(own.len(), MAX_CONNECTIONS);
        for s in 0..(MAX_STARTS as i64 + 4) {
            own.add(1, s * 100);
        }
        assert!(own.known().starts.len() <= MAX_STARTS);
        assert!(own.registering_sql().starts_with("SELECT CONNECTION_ID(), UNIX_TIMESTAMP(), 'audit-ingest:"));
        assert_ne!(own.registering_sql(), OwnConnections::new().registering_sql(), "a marker per set");
    }
}
