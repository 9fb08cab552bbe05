//! Follows a MySQL audit log and stores its records in a MySQL table exactly once.
//!
//! Start from [`Ingester`]: a log, a [`sink::Sink`] naming the tables, and a shutdown future.
//!
//! ```no_run
//! use ingest::config::{connect_options, ConnectSettings};
//! use ingest::sink::{host_server_name, Sink, SinkOptions};
//! use ingest::Ingester;
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let settings = ConnectSettings { dsn: Some("mysql://audit_ingest:secret@127.0.0.1:3306/percona".into()), ..Default::default() };
//! let (mysql, database) = connect_options(&settings)?;
//! let names = ingest::audit_schema::TableNames::new(&database, "audit_data")?;
//! let sink = Sink::new(mysql, SinkOptions::new(names, "/var/lib/mysql/audit.log", host_server_name()?));
//! // Follow until Ctrl-C, then commit what was read.
//! let summary = Ingester::builder("/var/lib/mysql/audit.log", sink.clone())
//!     .batch_rows(500)
//!     .build()?
//!     .run(async { tokio::signal::ctrl_c().await.unwrap_or(()) })
//!     .await?;
//! println!("{} records stored", summary.records);
//! sink.close().await?;
//! # Ok(())
//! # }
//! ```
//!
//! What it is made of:
//! - [`follower`]: a path in, records out, through rotation, truncation and restarts (no database).
//! - [`sink`]: batches and their checkpoint committed in one transaction, with `mysql_async`, out of the
//!   binary log unless asked (replication-safe).
//! - [`filter`]: which records to store.
//! - [`Ingester`]: the loop joining the two, with reconnects and backoff, heartbeats, retention and
//!   the metrics endpoint.
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
pub mod doctor;
pub mod encrypted;
pub mod filter;
pub mod follower;
pub mod identity;
mod ingester;
pub mod known;
pub mod metrics;
mod pipeline;
pub mod sink;
pub mod sniff;
mod source;

pub use ingester::{ConfigError, IngestError, Ingester, IngesterBuilder, Summary, BATCH_ROWS, HEARTBEAT};

pub use audit_model;
pub use audit_schema;
