//! Every MySQL audit-log format in one typed model.
//!
//! `audit-model` reads the audit logs of Percona Server's `audit_log` plugin (OLD and NEW XML, JSON,
//! CSV), of `audit_log_filter` and MySQL Enterprise Audit (NEW and OLD XML, JSON arrays and JSONL) and
//! of MariaDB's `server_audit` plugin into one [`Record`] type, exactly: no record is lost or invented,
//! a malformed record is reported with its byte offset and line and reading goes on, a torn last record
//! of a live file is never emitted.
//!
//! The crate is pure: no I/O beyond `Read`/`BufRead`, no async. Each format has a core parser
//! ([`FormatParser`]) that looks at bytes and answers one [`Step`]; [`RecordReader`] drives it over any
//! `BufRead`, and a follower (the `ingest` crate) drives it over a live file.
//!
//! ```
//! use audit_model::{RecordReader, ReaderOptions, Format};
//!
//! let log = "20261129 05:02:38,vm,nosuchuser,localhost,10279,0,FAILED_CONNECT,,,1045\n\
//!            20261129 05:02:42,vm,alice,localhost,10283,0,CONNECT,,,0\n";
//! let records: Vec<_> = RecordReader::new(log.as_bytes(), ReaderOptions::new())
//!     .collect::<Result<_, _>>()
//!     .unwrap();
//! assert_eq!(records[0].format(), Format::MariaDb);
//! assert!(records[0].is_failed_login());
//! assert_eq!(records[0].status(), Some(1045));
//! assert!(!records[1].is_failed_login());
//! // Any record renders as the Percona plugin's JSON line, so one table answers one set of queries.
//! assert!(records[0].to_percona_json().starts_with(r#"{"audit_record":{"name":"Connect","record":"#));
//! ```
#![deny(missing_docs)]

mod detect;
mod error;
mod format;
mod formats;
mod names;
mod parser;
mod percona_json_out;
mod reader;
mod record;
mod serialize;
mod time;
#[cfg(feature = "writers")]
pub mod write;

pub use detect::{detect, Detection, DETECT_LIMIT};
pub use error::{Error, MalformedRecord, Position};
pub use formats::parser_for;
pub use parser::{FormatParser, ParseOptions, Step};
pub use reader::{parse_all, ReaderOptions, RecordReader, DEFAULT_MAX_RECORD};
pub use record::{Extras, ExtrasIter, Field, Format, Kind, Record, RecordBuilder, UnknownKind, Wrapper};
pub use time::parse_timestamp;
