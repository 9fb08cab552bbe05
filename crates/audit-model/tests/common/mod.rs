//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::io::{BufRead, Read};
use std::path::PathBuf;

use audit_model::{Error, Format, MalformedRecord, ReaderOptions, Record, RecordReader};

/// `tests/fixtures/corpus/<rel>`: third-party samples copied into the repository (their origins in
/// that folder's PROVENANCE.md), so the tests need nothing outside it.
pub fn corpus(rel: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus").join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// A BufRead that hands out one byte a read, to drive every refill path of the reader.
pub struct OneByte<'a>(pub &'a [u8]);

impl Read for OneByte<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.0.is_empty() || buf.is_empty() {
            return Ok(0);
        }
        buf[0] = self.0[0];
        self.0 = &self.0[1..];
        Ok(1)
    }
}

impl BufRead for OneByte<'_> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        Ok(&self.0[..self.0.len().min(1)])
    }
    fn consume(&mut self, n: usize) {
        self.0 = &self.0[n..];
    }
}

/// Everything a reader yields, plus where the complete part ends.
pub type Outcome = (Vec<Result<Record, MalformedRecord>>, u64);

pub fn read_with<R: BufRead>(rdr: R, format: Option<Format>) -> Outcome {
    read_opts(rdr, &ReaderOptions::new().format_opt(format)).0
}

/// Everything a reader with `opts` yields, and how many lines of other programs it skipped.
fn read_opts<R: BufRead>(rdr: R, opts: &ReaderOptions) -> (Outcome, u64) {
    let mut reader = RecordReader::new(rdr, opts.clone());
    let mut out = Vec::new();
    for item in reader.by_ref() {
        match item {
            Ok(r) => out.push(Ok(r)),
            Err(Error::Malformed(m)) => out.push(Err(*m)),
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    ((out, reader.complete_offset()), reader.foreign_lines())
}

/// Reads `input` whole and one byte at a time, checks both agree, returns the outcome.
pub fn read_both_ways(input: &[u8], format: Option<Format>) -> Outcome {
    let whole = read_with(input, format);
    let bytewise = read_with(OneByte(input), format);
    assert_eq!(whole, bytewise, "reading one byte at a time differs from reading at once");
    whole
}

/// Reads `input` with `opts` whole and one byte at a time, checks both agree (records, errors and the
/// count of other programs' lines), returns the outcome and that count.
pub fn read_both_ways_with(input: &[u8], opts: &ReaderOptions) -> (Outcome, u64) {
    let whole = read_opts(input, opts);
    let bytewise = read_opts(OneByte(input), opts);
    assert_eq!(whole, bytewise, "reading one byte at a time differs from reading at once");
    whole
}

/// A fixture of this crate, as text.
pub fn fixture(rel: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Records and errors as `audit-ingest parse` would print them, one a line, for snapshots.
pub fn normalized(outcome: &Outcome, foreign: u64) -> String {
    let mut out = String::new();
    for item in &outcome.0 {
        match item {
            Ok(r) => out.push_str(&serde_json::to_string(r).unwrap()),
            Err(m) => out.push_str(&format!("ERROR byte {} line {} len {}: {}", m.position.byte, m.position.line, m.len, m.reason)),
        }
        out.push('\n');
    }
    out.push_str(&format!("FOREIGN {foreign} lines\n"));
    out
}

pub fn records(outcome: &Outcome) -> Vec<&Record> {
    outcome.0.iter().filter_map(|r| r.as_ref().ok()).collect()
}

pub fn errors(outcome: &Outcome) -> Vec<&MalformedRecord> {
    outcome.0.iter().filter_map(|r| r.as_ref().err()).collect()
}

/// Strategies for arbitrary Percona records with hostile strings.
pub mod strategy {
    use audit_model::{Field, Format, Record};
    use proptest::prelude::*;

    /// Strings that break naive writers and readers: quotes, backslashes, XML and CSV syntax, control
    /// characters (no NUL: the plugin writes it as `?`), 4-byte UTF-8, and now and then 1 MiB.
    pub fn hostile() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("'".to_string()),
            Just("\"".to_string()),
            Just("\\".to_string()),
            Just("]]>".to_string()),
            Just("</SQLTEXT>".to_string()),
            Just("\"/>".to_string()),
            Just(",".to_string()),
            Just("\n".to_string()),
            Just("\r\n".to_string()),
            Just("\t".to_string()),
            Just("&amp;&#10;".to_string()),
            Just("😀".to_string()),
            Just("ąžąž".to_string()),
            Just("\"Connect\",\"".to_string()),
            Just("{\"audit_record\":".to_string()),
            (1u8..32).prop_map(|c| char::from(c).to_string()),
            "[a-zA-Z0-9 _.@%-]{0,12}",
            any::<char>().prop_filter("no NUL", |c| *c != '\0').prop_map(|c| c.to_string()),
        ];
        prop_oneof![
            400 => proptest::collection::vec(piece, 0..12).prop_map(|v| v.concat()),
            1 => Just("x'\"\\\n<&,".repeat(1 << 17)),
        ]
    }

    /// An arbitrary record of one of the plugin's three layouts, as the given Percona format's parser
    /// would return it (timestamps as the plugin writes them, spans left for the caller).
    pub fn percona_record(format: Format) -> impl Strategy<Value = Record> {
        let name = prop_oneof![
            Just("Connect"),
            Just("Quit"),
            Just("Change user"),
            Just("Query"),
            Just("Execute"),
            Just("Init DB"),
            Just("Audit"),
            Just("NoAudit"),
        ];
        let secs = 0i64..4_102_444_800; // 1970 to 2100
        let texts = proptest::collection::vec(hostile(), 9);
        (name, secs, any::<bool>(), any::<u64>(), any::<i32>(), texts).prop_map(move |(name, secs, z, conn, status, t)| {
            let ts = jiff::Timestamp::from_second(secs).unwrap();
            let text = if z { ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string() } else { ts.strftime("%Y-%m-%dT%H:%M:%S UTC").to_string() };
            let mut b = Record::builder(format);
            b.set(Field::Name, name).set(Field::RecordId, &format!("{conn}_2021-06-30T15:03:11")).set(Field::TimestampText, &text);
            b.timestamp(ts);
            match name {
                "Audit" | "NoAudit" => {
                    // The plugin never escapes this record; real startup options hold no quotes or newlines.
                    let clean = |s: &str| s.replace(['"', '\n', '\r', '<', '&', '\\'], "_");
                    b.set(Field::MysqlVersion, &clean(&t[0])).set(Field::StartupOptions, &clean(&t[1])).set(Field::OsVersion, &clean(&t[2]));
                }
                "Connect" | "Quit" | "Change user" => {
                    b.connection_id(Some(conn)).status(Some(i64::from(status)));
                    for (f, v) in [Field::User, Field::PrivUser, Field::OsUser, Field::ProxyUser, Field::Host, Field::Ip, Field::Db].iter().zip(&t) {
                        b.set(*f, v);
                    }
                }
                _ => {
                    b.connection_id(Some(conn)).status(Some(i64::from(status)));
                    for (f, v) in [Field::CommandClass, Field::SqlText, Field::User, Field::Host, Field::OsUser, Field::Ip, Field::Db].iter().zip(&t) {
                        b.set(*f, v);
                    }
                }
            }
            b.build()
        })
    }

    /// Sets the spans a reader would give records written one after another from `start`.
    pub fn with_spans(records: &[Record], lens: &[usize], mut start: u64) -> Vec<Record> {
        records
            .iter()
            .zip(lens)
            .map(|(r, &len)| {
                let mut b = audit_model::Record::builder(r.format());
                for f in Field::ALL {
                    if let Some(v) = r.get(f) {
                        b.set(f, v);
                    }
                }
                b.kind(r.kind()).timestamp(r.timestamp()).connection_id(r.connection_id()).status(r.status());
                for (k, v) in r.extra() {
                    b.extra(k, v);
                }
                b.span(start..start + len as u64);
                start += len as u64;
                b.build()
            })
            .collect()
    }
}

/// The audit records inside the servers' test transcripts, with the harness's masks replaced by
/// realistic values (each function says which). Shared by the format tests and the snapshots.
pub mod transcripts {
    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

    /// A Percona CSV transcript copied into `tests/fixtures/csv`.
    pub fn percona_csv_file(file: &str) -> String {
        let text = std::fs::read_to_string(format!("{FIXTURES}/csv/{file}")).unwrap();
        percona_csv(&text, file)
    }

/// The audit records of an MTR transcript: the lines starting with `"` in the sections that follow a
    /// line of `=====`. The harness masked `"<ID>"`, `"<DATETIME>"` and `"<CONN_ID>"`; they are replaced with
    /// realistic values (record `<n>_2021-06-30T15:03:11`, time `2021-06-30T16:<mm>:<ss> UTC` or the `Z`
    /// form on odd records, connection id `100 + n`).
    pub fn percona_csv(text: &str, file: &str) -> String {
        let mut out = String::new();
        let mut inside = false;
        let mut n = 0;
        for line in text.lines() {
            if line.starts_with("=====") {
                inside = !inside;
                continue;
            }
            if inside && line.starts_with('"') {
                let ts = if n % 2 == 0 {
                    format!("\"2021-06-30T16:{:02}:{:02} UTC\"", n / 60, n % 60)
                } else {
                    format!("\"2021-06-30T16:{:02}:{:02}Z\"", n / 60, n % 60)
                };
                let line = line
                    .replace("\"<ID>\"", &format!("\"{}_2021-06-30T15:03:11\"", 22567 + n))
                    .replace("\"<DATETIME>\"", &ts)
                    .replace("\"<CONN_ID>\"", &format!("\"{}\"", 100 + n));
                out.push_str(&line);
                out.push('\n');
                n += 1;
            }
        }
        assert!(n > 0, "no records in {file}");
        out
    }

    /// MariaDB's server_audit transcript copied into `tests/fixtures/mariadb`.
    pub fn mariadb_file() -> String {
        mariadb(&std::fs::read_to_string(format!("{FIXTURES}/mariadb/server_audit.result")).unwrap())
    }

/// The audit lines of the MTR transcript (`TIME,HOSTNAME,...`). The harness masked the timestamp, the
    /// server host and ids; they are replaced with realistic values: `20261129 05:<mm>:<ss>` counting up a
    /// second a line, `vm`, connection id `10 + n`, query id `1000 + n`, and for the masked error numbers
    /// 1045 on FAILED_CONNECT and 1064 (syntax error) on QUERY.
    pub fn mariadb(text: &str) -> String {
        let mut out = String::new();
        for (n, line) in text.lines().filter(|l| l.starts_with("TIME,HOSTNAME,")).enumerate() {
            let mut line = line
                .replacen("TIME", &format!("20261129 05:{:02}:{:02}", n / 60, n % 60), 1)
                .replacen("HOSTNAME", "vm", 1)
                .replacen(",ID,ID,", &format!(",{},{},", 10 + n, 1000 + n), 1)
                .replacen(",ID,0,", &format!(",{},0,", 10 + n), 1);
            if let Some(head) = line.strip_suffix(",ID") {
                let code = if line.contains(",FAILED_CONNECT,") { 1045 } else { 1064 };
                line = format!("{head},{code}");
            }
            assert!(!line.contains(",ID"), "{line}");
            out.push_str(&line);
            out.push('\n');
        }
        out
    }

/// The audit records of the component's mtr transcript, with the harness's masks replaced by realistic
    /// values (the test harness wrote `[masked]` for the timestamp, record id and connection id).
    pub fn filter_xml_message() -> String {
        let transcript = super::corpus("percona-audit_log_filter/mtr/message_internal_xml_new.result");
        let start = transcript.find("<?xml").unwrap();
        let end = transcript.find("</AUDIT>\n").unwrap() + "</AUDIT>\n".len();
        transcript[start..end]
            .replace("<TIMESTAMP>[masked]</TIMESTAMP>", "<TIMESTAMP>2024-05-06T07:08:09</TIMESTAMP>")
            .replace("<RECORD_ID>[masked]</RECORD_ID>", "<RECORD_ID>3_2024-05-06T07:08:00</RECORD_ID>")
            .replace("<CONNECTION_ID>[masked]</CONNECTION_ID>", "<CONNECTION_ID>9</CONNECTION_ID>")
    }

    /// The audit_log_filter JSON file printed by the `audit_log_read` test; the harness hid the
    /// timestamps (`"<hidden>"`, here `2025-04-01 12:00:00`) and connection ids (`<id>`, here 12).
    pub fn filter_json_udf() -> String {
        let text = super::corpus("percona-audit_log_filter/mtr/udf_audit_log_read_validate_output.result");
        let start = text.find("Print audit log filter output\n[").unwrap() + "Print audit log filter output\n".len();
        let end = start + text[start..].find("\n]\n").unwrap() + 3;
        text[start..end].replace("\"<hidden>\"", "\"2025-04-01 12:00:00\"").replace("<id>", "12")
    }
}

/// A BufRead that hands out `size` bytes a read.
pub struct Pieces<'a> {
    pub data: &'a [u8],
    pub size: usize,
}

impl Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.data.len().min(self.size).min(buf.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

impl BufRead for Pieces<'_> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        Ok(&self.data[..self.data.len().min(self.size)])
    }
    fn consume(&mut self, n: usize) {
        self.data = &self.data[n..];
    }
}
