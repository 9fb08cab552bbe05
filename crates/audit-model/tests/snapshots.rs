//! Golden output: every corpus sample, normalized (each record as `audit-ingest parse` prints it, each
//! error with its position), snapshotted with insta. Review changes with `cargo insta review`.
//!
//! The same snapshots must pass in both builds the README's test command makes: `cargo test
//! --workspace` (where check-gen's starlark switches on `serde_json/arbitrary_precision` for every
//! crate) and `cargo test -p audit-model` (where it is off). That proves parsing and its JSON output do
//! not depend on serde_json's number handling.
#![allow(clippy::unwrap_used)] // tests and benches fail loudly on purpose

mod common;

use audit_model::{Format, ReaderOptions, RecordReader};
use common::{corpus, transcripts};

fn normalized(input: &str, format: Option<Format>) -> String {
    let mut out = String::new();
    let mut reader = RecordReader::new(input.as_bytes(), ReaderOptions::new().format_opt(format));
    for item in reader.by_ref() {
        match item {
            Ok(r) => out.push_str(&serde_json::to_string(&r).unwrap()),
            Err(audit_model::Error::Malformed(m)) => out.push_str(&format!("ERROR byte {} line {} len {}: {}", m.position.byte, m.position.line, m.len, m.reason)),
            Err(e) => panic!("{e}"),
        }
        out.push('\n');
    }
    if reader.pending() > 0 {
        out.push_str(&format!("PENDING {} bytes at {}\n", reader.pending(), reader.complete_offset()));
    }
    out
}

/// Whether this build's serde_json keeps numbers as written (arbitrary_precision).
fn arbitrary_precision() -> bool {
    serde_json::from_str::<serde_json::Value>("1e400").is_ok()
}

macro_rules! snap {
    ($name:ident, $input:expr, $format:expr) => {
        #[test]
        fn $name() {
            let text = normalized(&$input, $format);
            insta::assert_snapshot!(stringify!($name), text);
        }
    };
}

snap!(percona_doc_old, corpus("percona-audit_log/doc-examples/format-old.xml"), None);
snap!(percona_doc_new, corpus("percona-audit_log/doc-examples/format-new.xml"), None);
snap!(percona_doc_json, corpus("percona-audit_log/doc-examples/format-json.log"), None);
snap!(percona_doc_csv, corpus("percona-audit_log/doc-examples/format-csv.log"), None);
snap!(percona_doc_events_old, ["event-audit-old.xml", "event-quit-old.xml", "event-query-old.xml"].map(|f| corpus(&format!("percona-audit_log/doc-examples/{f}"))).concat(), None);
snap!(percona_mtr_default_db, transcripts::percona_csv_file("audit_log_default_db.result"), Some(Format::PerconaCsv));
snap!(percona_mtr_filter_users, transcripts::percona_csv_file("audit_log_filter_users.result"), Some(Format::PerconaCsv));
snap!(percona_mtr_prepare_stmt, transcripts::percona_csv_file("audit_log_filter_prepare_stmt.result"), Some(Format::PerconaCsv));
snap!(percona_mtr_ps3867, transcripts::percona_csv_file("percona_bug_ps3867.result"), Some(Format::PerconaCsv));
snap!(filter_doc_json, corpus("percona-audit_log_filter/doc-examples/format-json.json"), None);
snap!(filter_doc_new, corpus("percona-audit_log_filter/doc-examples/format-new.xml"), None);
snap!(filter_doc_old, corpus("percona-audit_log_filter/doc-examples/format-old.xml"), None);
snap!(filter_mtr_udf_json, transcripts::filter_json_udf(), None);
snap!(filter_mtr_message_xml, transcripts::filter_xml_message(), None);
snap!(enterprise_doc_new, corpus("mysql-enterprise/doc-examples/format-new.xml"), None);
snap!(enterprise_doc_old, corpus("mysql-enterprise/doc-examples/format-old.xml"), None);
snap!(
    enterprise_doc_json,
    corpus("mysql-enterprise/doc-examples/format-json-samples.txt").lines().filter(|l| !l.starts_with('#')).map(|l| format!("{l}\n")).collect::<String>(),
    None
);
snap!(mariadb_mtr, transcripts::mariadb_file(), None);

#[test]
fn number_handling_mode_is_reported() {
    // Not an assertion on the mode (both are legitimate builds): it says which one this run checked.
    println!("serde_json arbitrary_precision in this build: {}", arbitrary_precision());
    let r = RecordReader::new(&b"{\"audit_record\":{\"name\":\"Query\",\"record\":\"1_x\",\"timestamp\":\"2021-06-30T15:07:58Z\",\"connection_id\":\"18446744073709551615\",\"status\":-2147483648}}\n"[..], ReaderOptions::new())
        .next()
        .unwrap()
        .unwrap();
    let json = serde_json::to_string(&r).unwrap();
    assert!(json.contains("\"connection_id\":18446744073709551615"), "{json}");
    assert!(json.contains("\"status\":-2147483648"), "{json}");
}
