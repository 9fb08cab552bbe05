//! `LOAD DATA LOCAL INFILE` from memory: the batch's rows as TSV, handed to the driver by name, and a
//! handler that serves those names only.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use mysql_async::Value;

/// LOCAL INFILE data waiting for the server to ask for it, by the name the statement gives. The
/// handler serves these names only: a server asking for anything else (a file of this machine) is
/// refused.
#[derive(Debug, Clone, Default)]
pub(super) struct InfileData {
    pending: Arc<Mutex<HashMap<String, bytes::Bytes>>>,
    next: Arc<AtomicU64>,
}

/// Chunks handed to the driver: each becomes one protocol packet, well under any `max_allowed_packet`.
const INFILE_CHUNK: usize = 1 << 20;

impl InfileData {
    pub(super) fn put(&self, data: bytes::Bytes) -> String {
        let name = format!("audit-ingest-{}-{}", std::process::id(), self.next.fetch_add(1, Relaxed));
        self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(name.clone(), data);
        name
    }

    pub(super) fn take(&self, name: &[u8]) -> Option<bytes::Bytes> {
        let name = std::str::from_utf8(name).ok()?;
        self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(name)
    }

    pub(super) fn handler(&self) -> impl mysql_async::prelude::GlobalHandler {
        let this = self.clone();
        move |name: &[u8]| -> futures_core::future::BoxFuture<'static, Result<mysql_async::InfileData, mysql_async::LocalInfileError>> {
            let found = this.take(name);
            let name = String::from_utf8_lossy(name).into_owned();
            Box::pin(async move {
                let data = found.ok_or(mysql_async::LocalInfileError::PathIsNotInTheWhiteList(name))?;
                let stream: mysql_async::InfileData = Box::pin(Chunks { data });
                Ok(stream)
            })
        }
    }
}

/// A buffer as a stream of [`INFILE_CHUNK`]-byte pieces (no copies).
struct Chunks {
    data: bytes::Bytes,
}

impl futures_core::Stream for Chunks {
    type Item = std::io::Result<bytes::Bytes>;
    fn poll_next(mut self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<Option<Self::Item>> {
        if self.data.is_empty() {
            return std::task::Poll::Ready(None);
        }
        let n = self.data.len().min(INFILE_CHUNK);
        std::task::Poll::Ready(Some(Ok(self.data.split_to(n))))
    }
}

/// Appends `v` as one field of `LOAD DATA ... FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES
/// TERMINATED BY '\n'`: NULL as `\N`; in text, the escape character, both terminators, `\r` and NUL
/// escaped (the server turns them back into the same bytes).
fn tsv_field(out: &mut Vec<u8>, v: &Value) {
    use std::io::Write;
    match v {
        Value::NULL => out.extend_from_slice(b"\\N"),
        Value::Bytes(b) => {
            let mut start = 0;
            for (i, &c) in b.iter().enumerate() {
                let esc = match c {
                    b'\\' => b'\\',
                    b'\t' => b't',
                    b'\n' => b'n',
                    b'\r' => b'r',
                    0 => b'0',
                    _ => continue,
                };
                out.extend_from_slice(&b[start..i]);
                out.extend_from_slice(&[b'\\', esc]);
                start = i + 1;
            }
            out.extend_from_slice(&b[start..]);
        }
        Value::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Value::UInt(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Date(y, mo, d, h, mi, s, us) => {
            let _ = write!(out, "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}");
        }
        // The sink builds no other kind of value.
        other => out.extend_from_slice(other.as_sql(true).as_bytes()),
    }
}

/// The rows as TSV for [`tsv_field`]'s `LOAD DATA` clauses.
pub(super) fn tsv_rows(rows: &[Vec<Value>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows.iter().map(|r| value_bytes(r)).sum::<usize>() + rows.len() * 16);
    for row in rows {
        for (i, v) in row.iter().enumerate() {
            if i > 0 {
                out.push(b'\t');
            }
            tsv_field(&mut out, v);
        }
        out.push(b'\n');
    }
    out
}
pub(super) fn value_bytes(row: &[Value]) -> usize {
    row.iter().map(|v| match v {
        Value::Bytes(b) => b.len() + 9,
        _ => 16,
    }).sum()
}
