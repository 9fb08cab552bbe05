//! Audit records through syslog and the journal: real rsyslog files (tests/fixtures/syslog, made by
//! its make-samples.sh with a real mariadbd and rsyslogd), read with detection and with the format
//! given, whole and one byte at a time.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use audit_model::{Format, Kind, ReaderOptions, Record};
use common::{errors, fixture, normalized, read_both_ways_with, records};

/// The files were written on 2026-12-02 (UTC, the machine's zone): their traditional timestamps
/// take that year.
fn opts() -> ReaderOptions {
    ReaderOptions::new().reference_time("2026-12-02T01:00:00Z".parse().unwrap())
}

fn read(rel: &str, format: Option<Format>) -> (common::Outcome, u64) {
    read_both_ways_with(fixture(rel).as_bytes(), &opts().format_opt(format))
}

/// What must agree across the three layouts: everything but the envelope's own text.
#[derive(Debug, PartialEq)]
struct Essence {
    name: String,
    kind: Kind,
    second: i64,
    connection_id: Option<u64>,
    status: Option<i64>,
    texts: [Option<String>; 3],
    failed: bool,
}

fn essence(r: &Record) -> Essence {
    let s = |v: Option<&str>| v.map(str::to_string);
    Essence {
        name: r.name().to_string(),
        kind: r.kind(),
        second: r.timestamp().as_second(),
        connection_id: r.connection_id(),
        status: r.status(),
        texts: [s(r.user()), s(r.host()), s(r.sqltext())],
        failed: r.is_failed_login(),
    }
}

#[test]
fn mariadb_in_every_rsyslog_layout_reads_the_same() {
    let layouts = ["traditional", "fileformat", "rfc5424"];
    let outcomes: Vec<_> = layouts.iter().map(|l| read(&format!("syslog/rsyslog-mariadb-{l}.log"), None)).collect();
    for (layout, (outcome, foreign)) in layouts.iter().zip(&outcomes) {
        assert!(errors(outcome).is_empty(), "{layout}: {:?}", errors(outcome));
        // rsyslogd's start message, sshd, CRON and the kernel are other programs.
        assert_eq!(*foreign, 4, "{layout}");
        let recs = records(outcome);
        assert_eq!(recs.len(), 30, "{layout}");
        assert!(recs.iter().all(|r| r.format() == Format::SyslogMariaDb));
        let failed: Vec<_> = recs.iter().filter(|r| r.is_failed_login()).map(|r| r.user().unwrap()).collect();
        assert_eq!(failed, ["alice", "nosuchuser", "nosuchuser", "bob,the", "alice", "nosuchuser"], "{layout}");
    }
    let first: Vec<_> = records(&outcomes[0].0).into_iter().map(essence).collect();
    for (layout, (outcome, _)) in layouts.iter().zip(&outcomes).skip(1) {
        let these: Vec<_> = records(outcome).into_iter().map(essence).collect();
        assert_eq!(first, these, "{layout} differs from the traditional layout");
    }
}

#[test]
fn the_syslog_line_gives_mariadb_its_time_and_the_envelope_is_kept() {
    let (outcome, _) = read("syslog/rsyslog-mariadb-fileformat.log", None);
    let recs = records(&outcome);
    let r = recs[0];
    // Line 1 is rsyslogd's own; line 2 the first record, its RSYSLOG_FileFormat stamp 32 bytes long.
    let text = fixture("syslog/rsyslog-mariadb-fileformat.log");
    let stamp = &text.lines().nth(1).unwrap()[..32];
    assert_eq!(r.timestamp(), stamp.parse::<jiff::Timestamp>().unwrap());
    assert_eq!(r.timestamp_text(), Some(stamp));
    assert_eq!(r.extra_get("syslog_host"), Some("vm"));
    assert_eq!(r.extra_get("syslog_tag"), Some("mysql-server_auditing"));
    assert_eq!(r.extra_get("serverhost"), Some("vm"));
    // server_audit_syslog_info is written before the record; a renamed ident is still recognised.
    let info: Vec<_> = recs.iter().filter(|r| r.extra_get("syslog_info") == Some("db-eu-1")).collect();
    assert_eq!(info.len(), 6);
    assert_eq!(recs.iter().filter(|r| r.extra_get("syslog_tag") == Some("mariadb-audit")).count(), 5);
    // The QUERY text unescaped as in the file output.
    assert!(recs.iter().any(|r| r.sqltext() == Some(r#"select "it's, a \\ test", 1 from mysql.db limit 1"#)));
}

#[test]
fn traditional_timestamps_are_local_time_in_the_reference_year() {
    let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
    let text = fixture("syslog/rsyslog-mariadb-traditional.log");
    let (outcome, _) = read_both_ways_with(text.as_bytes(), &opts().time_zone(berlin));
    let r = records(&outcome)[0];
    let written = r.timestamp_text().unwrap();
    // `Dec  2 00:58:14`: December, the day, then the clock.
    assert!(written.starts_with("Dec "), "{written}");
    let num = |r: std::ops::Range<usize>| written[r].trim().parse::<i8>().unwrap();
    let civil = jiff::civil::date(2026, 12, num(4..6)).at(num(7..9), num(10..12), num(13..15), 0);
    assert_eq!(r.timestamp(), civil.to_zoned(jiff::tz::TimeZone::get("Europe/Berlin").unwrap()).unwrap().timestamp());
}

#[test]
fn percona_json_through_rsyslog() {
    for layout in ["traditional", "fileformat", "rfc5424"] {
        let (outcome, foreign) = read(&format!("syslog/rsyslog-percona-json-{layout}.log"), None);
        assert!(errors(&outcome).is_empty(), "{layout}: {:?}", errors(&outcome));
        assert_eq!(foreign, 1, "{layout}: the kernel line");
        let recs = records(&outcome);
        assert_eq!(recs.len(), 2);
        assert!(recs.iter().all(|r| r.format() == Format::SyslogPerconaJson));
        // The record's own timestamp wins; the syslog one is kept.
        assert_eq!(recs[0].timestamp(), "2021-06-30T15:07:58Z".parse::<jiff::Timestamp>().unwrap());
        assert!(recs[0].extra_get("syslog_timestamp").is_some());
        assert!(recs[1].is_failed_login());
        assert_eq!(recs[1].ip(), Some("192.0.2.7"));
    }
}

#[test]
fn percona_xml_whose_newlines_rsyslog_escaped() {
    let (outcome, foreign) = read("syslog/rsyslog-percona-old-traditional.log", None);
    assert!(errors(&outcome).is_empty(), "{:?}", errors(&outcome));
    assert_eq!(foreign, 1);
    let recs = records(&outcome);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].format(), Format::SyslogPerconaOld);
    assert_eq!(recs[0].sqltext(), Some("select * from information_schema.PLUGINS where PLUGIN_NAME like '%audit%'"));
}

#[test]
fn a_format_given_explicitly_reads_the_same_as_detected() {
    for (rel, format) in [
        ("syslog/rsyslog-mariadb-rfc5424.log", Format::SyslogMariaDb),
        ("syslog/rsyslog-percona-json-fileformat.log", Format::SyslogPerconaJson),
        ("syslog/rsyslog-percona-old-traditional.log", Format::SyslogPerconaOld),
    ] {
        assert_eq!(read(rel, None), read(rel, Some(format)), "{rel}");
        assert_eq!(format.name().parse::<Format>().unwrap(), format);
    }
}

#[test]
fn raw_newlines_of_syslog_ng_continue_a_record_and_a_cut_record_is_reported() {
    let log = "Dec  1 10:00:00 db1 percona-audit: <AUDIT_RECORD\n  NAME=\"Connect\"\n  RECORD=\"1_1970-01-01T00:00:00\"\n  TIMESTAMP=\"2026-12-01T10:00:00Z\"\n  CONNECTION_ID=\"5\"\n  STATUS=\"1045\"\n  USER=\"eve\"\n  PRIV_USER=\"\"\n  OS_LOGIN=\"\"\n  PROXY_USER=\"\"\n  HOST=\"localhost\"\n  IP=\"\"\n  DB=\"\"\n/>\n\
Dec  1 10:00:01 db1 percona-audit: <AUDIT_RECORD#012  NAME=\"Connect\"#012  RECORD=\"2_1970\n\
Dec  1 10:00:02 db1 sshd[1]: hello\n";
    let (outcome, foreign) = read_both_ways_with(log.as_bytes(), &opts());
    assert_eq!(foreign, 1);
    let recs = records(&outcome);
    assert_eq!(recs.len(), 1);
    assert!(recs[0].is_failed_login());
    assert_eq!(recs[0].format(), Format::SyslogPerconaOld);
    let errs = errors(&outcome);
    assert_eq!(errs.len(), 1);
    assert!(errs[0].reason.contains("incomplete in its message"), "{}", errs[0].reason);
    assert_eq!(errs[0].position.line, 15);
}

#[test]
fn a_long_run_of_other_programs_before_the_first_record_is_counted_not_reported() {
    let mut log = String::new();
    for i in 0..3000 {
        log.push_str(&format!("Dec  1 10:00:00 db1 kernel: [{i}] some driver said something long enough to fill the detection window\n"));
    }
    log.push_str("Dec  1 10:00:01 db1 mysql-server_auditing:  db1,alice,localhost,7,0,FAILED_CONNECT,,,1045\n");
    let (outcome, foreign) = read_both_ways_with(log.as_bytes(), &opts());
    assert_eq!(foreign, 3000);
    assert!(errors(&outcome).is_empty());
    assert!(records(&outcome)[0].is_failed_login());
}

#[test]
fn journalctl_json_entries() {
    // The fields journalctl -o json writes for a syslog(3) message (systemd's journal-json docs);
    // MESSAGE as an array of bytes when it is not printable UTF-8, null when over 4096 bytes.
    let entry = |msg: &str, ident: &str| {
        format!(
            "{{\"__CURSOR\":\"s=1;i=2\",\"__REALTIME_TIMESTAMP\":\"1764583200123456\",\"__MONOTONIC_TIMESTAMP\":\"1\",\"_BOOT_ID\":\"b\",\"PRIORITY\":\"6\",\"SYSLOG_FACILITY\":\"1\",\"SYSLOG_IDENTIFIER\":\"{ident}\",\"_PID\":\"42\",\"_HOSTNAME\":\"db1\",\"_TRANSPORT\":\"syslog\",\"MESSAGE\":{msg}}}\n"
        )
    };
    let bytes: Vec<String> = b" db1,eve,localhost,9,0,FAILED_CONNECT,,,1045\x01".iter().map(|b| b.to_string()).collect();
    let log = [
        entry("\"Started Session 1 of user root.\"", "systemd"),
        entry("\" db1,alice,localhost,8,0,CONNECT,,,0\"", "mysql-server_auditing"),
        entry(&format!("[{}]", bytes.join(",")), "mysql-server_auditing"),
        entry("null", "mysql-server_auditing"),
    ]
    .concat();
    let (outcome, foreign) = read_both_ways_with(log.as_bytes(), &opts());
    assert_eq!(foreign, 1);
    let recs = records(&outcome);
    assert_eq!(recs.len(), 1, "{:?}", outcome.0);
    assert_eq!(recs[0].format(), Format::JournaldMariaDb);
    assert_eq!(recs[0].timestamp(), "2025-12-01T10:00:00.123456Z".parse::<jiff::Timestamp>().unwrap());
    assert_eq!(recs[0].extra_get("syslog_pid"), Some("42"));
    let errs = errors(&outcome);
    // The raw \x01 makes the retcode invalid; the null MESSAGE says how to get it.
    assert_eq!(errs.len(), 2);
    assert!(errs[1].reason.contains("--all"), "{}", errs[1].reason);
}

#[test]
fn a_real_journalctl_export() {
    let (outcome, foreign) = read("journald/journal-mariadb.json", None);
    assert!(errors(&outcome).is_empty(), "{:?}", errors(&outcome));
    // journald's two own entries and sshd's.
    assert_eq!(foreign, 3);
    let recs = records(&outcome);
    assert_eq!(recs.len(), 13);
    assert!(recs.iter().all(|r| r.format() == Format::JournaldMariaDb));
    let failed: Vec<_> = recs.iter().filter(|r| r.is_failed_login()).map(|r| r.user().unwrap()).collect();
    assert_eq!(failed, ["alice", "nosuchuser"]);
    // The journal's time, to the microsecond.
    let text = fixture("journald/journal-mariadb.json");
    let line = text.lines().find(|l| l.contains(r#"localhost,3,0,CONNECT"#)).unwrap();
    let at = line.find(r#""__REALTIME_TIMESTAMP":""#).unwrap() + 24;
    let micros: i64 = line[at..at + 16].parse().unwrap();
    assert_eq!(recs[0].timestamp(), jiff::Timestamp::from_microsecond(micros).unwrap());
    assert_eq!(recs[0].extra_get("syslog_tag"), Some("mysql-server_auditing"));
    // server_audit escaped the backslash the client sent; the record has it once.
    assert!(recs.iter().any(|r| r.sqltext() == Some(r#"select "tab\there", 'x'"#)), "{:?}", recs.iter().map(|r| r.sqltext()).collect::<Vec<_>>());
    assert_eq!(read("journald/journal-mariadb.json", Some(Format::JournaldMariaDb)), (outcome, foreign));
}

macro_rules! snap {
    ($name:ident, $rel:expr) => {
        #[test]
        fn $name() {
            let (outcome, foreign) = read($rel, None);
            insta::assert_snapshot!(stringify!($name), normalized(&outcome, foreign));
        }
    };
}

snap!(rsyslog_mariadb_traditional, "syslog/rsyslog-mariadb-traditional.log");
snap!(rsyslog_mariadb_rfc5424, "syslog/rsyslog-mariadb-rfc5424.log");
snap!(rsyslog_percona_json_fileformat, "syslog/rsyslog-percona-json-fileformat.log");
snap!(rsyslog_percona_old_traditional, "syslog/rsyslog-percona-old-traditional.log");
snap!(journal_mariadb, "journald/journal-mariadb.json");

#[test]
fn the_wrong_format_given_reports_the_plugin_s_messages_instead_of_skipping_them() {
    let (outcome, foreign) = read("syslog/rsyslog-mariadb-traditional.log", Some(Format::SyslogPerconaJson));
    // The messages of the renamed ident look like no Percona JSON: other programs', with the four.
    assert_eq!(foreign, 9);
    assert!(records(&outcome).is_empty());
    assert_eq!(errors(&outcome).len(), 25, "the messages of the default ident");
}
