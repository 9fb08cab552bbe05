//! The checkpoint table seen as a list of sources: which are live (an ingester is meant to check in)
//! and which are finished (a backfill that read its files to their end), removing one, and the files
//! every source of a server has stored already (so a copy of one is recognised by its content).
//!
//! "Finished" lives in the checkpoint's `state` JSON (`finished_at`), not in a column: the staleness
//! check tests `JSON_EXTRACT(state, '$.finished_at') IS NULL`, which MySQL 8 and MariaDB 10.6+ both
//! read, and older releases ignore the key.

use mysql_async::prelude::*;
use mysql_async::TxOpts;

use super::{fnv, OnServer, Sink, SinkError};
use crate::checkpoint::{Checkpoint, DoneFile};
use crate::decode::Encoding;
use crate::identity::Fingerprint;

/// One row of the checkpoint table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRow {
    /// The audited server.
    pub server: String,
    /// The source's name.
    pub source: String,
    /// The file it last read.
    pub path: String,
    /// The decoded offset it stands at.
    pub offset: u64,
    /// Rows it inserted.
    pub records: u64,
    /// The last heartbeat or commit, UTC, `YYYY-MM-DDTHH:MM:SSZ`.
    pub updated_at: String,
    /// Seconds since then.
    pub age_secs: i64,
    /// When it finished (Unix seconds); `None` while it is live.
    pub finished_at: Option<i64>,
}

/// A file whose content a source has stored, up to `file.len` decoded bytes.
#[derive(Debug, Clone)]
pub struct KnownFile {
    /// The source that read it.
    pub source: String,
    /// The path it was read by, for the checkpoint's current file (a finished one's is not kept).
    pub path: Option<String>,
    /// Its identity, content fingerprint and how far it was read.
    pub file: DoneFile,
    /// Fingerprint of the bytes before `file.len`, for the checkpoint's current (plain) file: a file
    /// whose first bytes match but whose bytes there differ is another file.
    pub tail: Option<Fingerprint>,
}

impl Sink {
    /// The name of the advisory lock an ingester of `source` holds (limited to 64 characters: a hash of
    /// the tables, server and source).
    pub(super) fn lock_name(&self, server: &str, source: &str) -> String {
        let data = self.opts.names.data();
        let parts = [data.as_str(), server, source];
        format!("audit-ingest:{:016x}{:016x}", fnv(0xcbf2_9ce4_8422_2325, &parts), fnv(0x8422_2325_cbf2_9ce4, &parts))
    }

    /// Every source of every server in the checkpoint table, by server and source.
    pub async fn list_sources(&self) -> Result<Vec<SourceRow>, SinkError> {
        let mut conn = self.conn().await?;
        let sql = format!(
            "SELECT server, source, file_path, file_offset, records_total, DATE_FORMAT(updated_at, '%Y-%m-%dT%H:%i:%sZ'), \
             CAST(TIMESTAMPDIFF(SECOND, updated_at, UTC_TIMESTAMP(6)) AS SIGNED), state FROM {} ORDER BY server, source",
            self.opts.names.checkpoint()
        );
        type Row = (String, String, String, u64, u64, String, i64, Option<String>);
        let rows: Vec<Row> = conn.query(sql).await.on(&self.addr)?;
        Ok(rows
            .into_iter()
            .map(|(server, source, path, offset, records, updated_at, age_secs, state)| {
                // An unreadable state is shown as live: the staleness check treats it so too.
                let finished_at = state.and_then(|s| Checkpoint::from_json(&s).ok()).and_then(|c| c.finished_at);
                SourceRow { server, source, path, offset, records, updated_at, age_secs, finished_at }
            })
            .collect())
    }

    /// Deletes `server`'s `source` from the checkpoint table (its rows and dead letters stay). Refused
    /// while an ingester holds the source. Returns whether there was such a source.
    pub async fn remove_source(&self, server: &str, source: &str) -> Result<bool, SinkError> {
        let mut conn = self.conn().await?;
        let holder: Option<Option<u64>> = conn.exec_first("SELECT IS_USED_LOCK(?)", (super::clip(&self.lock_name(server, source), 64),)).await.on(&self.addr)?;
        if holder.flatten().is_some() {
            return Err(SinkError::Locked(source.to_string()));
        }
        let sql = format!("DELETE FROM {} WHERE server = ? AND source = ?", self.opts.names.checkpoint());
        conn.exec_drop(sql, (server, source)).await.on(&self.addr)?;
        Ok(conn.affected_rows() > 0)
    }

    /// Marks this sink's source finished now (or live again with `finished = false`), keeping its
    /// position. `Ok(false)` when it has no position (nothing was ever read): finishing such a source
    /// deletes its heartbeat row.
    pub async fn set_finished(&self, finished: bool) -> Result<bool, SinkError> {
        let (server, source) = (self.opts.server.as_str(), self.opts.source.as_str());
        let mut conn = self.conn().await?;
        let mut tx = conn.start_transaction(TxOpts::default()).await.on(&self.addr)?;
        let sql = format!("SELECT state FROM {} WHERE server = ? AND source = ? FOR UPDATE", self.opts.names.checkpoint());
        let state: Option<Option<String>> = tx.exec_first(sql, (server, source)).await.on(&self.addr)?;
        let ck = state.flatten().map(|s| Checkpoint::from_json(&s).map_err(|r| self.bad_checkpoint(r))).transpose();
        let mut ck = match ck {
            Ok(Some(ck)) => ck,
            Ok(None) if finished => {
                // Only a heartbeat, nothing read: a finished source without a position is nothing to keep.
                let sql = format!("DELETE FROM {} WHERE server = ? AND source = ? AND state IS NULL", self.opts.names.checkpoint());
                tx.exec_drop(sql, (server, source)).await.on(&self.addr)?;
                tx.commit().await.on(&self.addr)?;
                return Ok(false);
            }
            other => {
                // End the transaction explicitly: a dropped one only marks the connection.
                let _ = tx.rollback().await;
                return other.map(|_| false);
            }
        };
        let want = finished.then(|| ck.finished_at.unwrap_or_else(|| jiff::Timestamp::now().as_second()));
        if ck.finished_at != want {
            ck.finished_at = want;
            let sql = format!("UPDATE {} SET state = ?, updated_at = UTC_TIMESTAMP(6) WHERE server = ? AND source = ?", self.opts.names.checkpoint());
            tx.exec_drop(sql, (ck.to_json(), server, source)).await.on(&self.addr)?;
        }
        tx.commit().await.on(&self.addr)?;
        Ok(true)
    }

    /// The files this sink's server has stored, by any source other than this sink's: each
    /// checkpoint's current file up to its offset, and the files it finished.
    pub async fn known_files(&self) -> Result<Vec<KnownFile>, SinkError> {
        let mut conn = self.conn().await?;
        let sql = format!("SELECT source, state FROM {} WHERE server = ? AND source <> ? AND state IS NOT NULL", self.opts.names.checkpoint());
        let rows: Vec<(String, String)> = conn.exec(sql, (self.opts.server.as_str(), &self.opts.source)).await.on(&self.addr)?;
        let mut out = Vec::new();
        for (source, state) in rows {
            // Another release's checkpoint says nothing this one can use.
            let Ok(ck) = Checkpoint::from_json(&state) else { continue };
            if let Some(head) = ck.head.filter(|h| h.0 > 0) {
                let encoding = ck.encoding.unwrap_or(Encoding::Plain);
                // A plain file's encoded length is its decoded one; a compressed file's is not known here,
                // so nothing is taken to have grown past it.
                let raw_len = if encoding == Encoding::Plain { ck.offset } else { u64::MAX };
                let file = DoneFile { file: ck.file, head, len: ck.offset, encoding, raw_len, mtime: 0 };
                out.push(KnownFile { source: source.clone(), path: Some(ck.path.to_string_lossy().into_owned()), file, tail: ck.tail });
            }
            for d in ck.done.into_iter().filter(|d| d.head.0 > 0) {
                out.push(KnownFile { source: source.clone(), path: None, file: d, tail: None });
            }
        }
        Ok(out)
    }

    /// Whether the data or dead-letter table holds a row of this server's file `file_key` (a
    /// checkpoint's `done` lists files it skipped as history too; only rows say it was read).
    pub async fn file_has_rows(&self, file_key: &str) -> Result<bool, SinkError> {
        let mut conn = self.conn().await?;
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM {} WHERE server = ? AND file_id = ?) OR EXISTS (SELECT 1 FROM {} WHERE server = ? AND file_id = ?)",
            self.opts.names.data(),
            self.opts.names.dead_letter()
        );
        let server = self.opts.server.as_str();
        let found: Option<i64> = conn.exec_first(sql, (server, file_key, server, file_key)).await.on(&self.addr)?;
        Ok(found == Some(1))
    }
}
