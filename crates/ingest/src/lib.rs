//! Follows a MySQL audit log and stores its records in a MySQL table exactly once.
//!
//! - [`follower`]: a path in, records out, through rotation, truncation and restarts (no database).
//! - [`sink`]: batches and their checkpoint committed in one transaction, with `mysql_async`, out of the
//!   binary log unless asked (replication-safe).
//! - [`filter`]: which records to store.
//! - [`pipeline`]: the loop joining the two, with reconnects and backoff.
//! - [`checkpoint`], [`identity`]: where a source is, and which file is which; [`known`]: whether a
//!   file's content was stored already (a copy, a `.gz`).
//! - [`decode`]: plain, gzip and encrypted files read alike (the one place an encoding is undone);
//!   [`encrypted`]: decrypting the `.enc` files of MySQL Enterprise Audit and Percona audit_log_filter.
//! - [`metrics`]: counters and the Prometheus endpoint.
//! - [`sniff`]: telling a file that is no audit log from one with a few bad records.
//! - [`doctor`]: the server's and the log's settings that keep audit-ingest from working, with fixes.
//!
//! The `audit-ingest` binary is a thin command line over this library; `examples/embed.rs` shows the
//! library in another program.
#![deny(missing_docs)]

pub mod checkpoint;
pub mod config;
pub mod decode;
mod discovery;
pub mod doctor;
pub mod encrypted;
pub mod filter;
pub mod follower;
pub mod identity;
pub mod known;
pub mod metrics;
pub mod pipeline;
mod plan;
pub mod sink;
pub mod sniff;
mod source;

pub use audit_model;
pub use audit_schema;
