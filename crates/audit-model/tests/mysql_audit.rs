//! The McAfee / Trellix mysql-audit plugin's JSON: detection, logins, every field kept.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use audit_model::{Format, Kind, ReaderOptions};
use common::{errors, fixture, normalized, read_both_ways_with, records};

#[test]
fn a_public_log_is_detected_and_read() {
    let (outcome, _) = read_both_ways_with(fixture("mysql-audit/zhaopinglu-note-8.0.33.json").as_bytes(), &ReaderOptions::new());
    assert!(errors(&outcome).is_empty(), "{:?}", errors(&outcome));
    let r = records(&outcome)[0];
    assert_eq!(r.format(), Format::McAfeeJson);
    assert_eq!(r.kind(), Kind::Query);
    assert_eq!(r.command_class(), Some("insert"));
    assert_eq!(r.timestamp(), jiff::Timestamp::from_millisecond(1_705_746_443_488).unwrap());
    assert_eq!(r.connection_id(), Some(8));
    assert_eq!(r.status(), Some(0));
    assert_eq!(r.sqltext(), Some("insert into test_log values(1,'asdf')"));
    assert_eq!(r.extra_get("objects[0].name"), Some("test_log"));
    assert_eq!(r.extra_get("query-id"), Some("13"));
    assert_eq!(r.extra_get("_client_name"), Some("libmysql"));
    assert!(!r.is_failed_login());
}

#[test]
fn failed_logins_are_failed_logins() {
    let (outcome, _) = read_both_ways_with(fixture("mysql-audit/from-source.json").as_bytes(), &ReaderOptions::new());
    assert!(errors(&outcome).is_empty(), "{:?}", errors(&outcome));
    let recs = records(&outcome);
    let kinds: Vec<_> = recs.iter().map(|r| (r.name(), r.kind(), r.is_failed_login())).collect();
    assert_eq!(
        kinds,
        [
            ("header", Kind::Startup, false),
            ("Failed Login", Kind::Connect, true),
            ("Connect", Kind::Connect, false),
            ("select", Kind::Query, false),
            ("Quit", Kind::Disconnect, false),
        ]
    );
    assert_eq!(recs[0].get(audit_model::Field::MysqlVersion), Some("8.0.36"));
    assert_eq!(recs[1].status(), Some(1045));
    assert_eq!(recs[1].ip(), Some("203.0.113.5"));
    assert_eq!(recs[1].priv_user(), Some(""));
    // The recipe's JSON shape names it as Percona would, so its queries see the failure.
    assert!(recs[1].to_percona_json().contains(r#""name":"Connect""#));
    assert!(recs[1].to_percona_json().contains(r#""status":1045"#));
    assert_eq!(recs[3].sqltext(), Some(r#"select * from t1 where c = "x\"y""#));
}

#[test]
fn a_failed_login_named_so_without_a_status_is_still_one() {
    let line = br#"{"msg-type":"activity","date":"1764583201000","thread-id":"11","query-id":"0","user":"eve","priv_user":"","host":"localhost","cmd":"Failed Login","query":"Failed Login"}
"#;
    let (outcome, _) = read_both_ways_with(line, &ReaderOptions::new());
    assert!(records(&outcome)[0].is_failed_login());
}

#[test]
fn broken_lines_are_errors_and_reading_goes_on() {
    let good = r#"{"msg-type":"activity","date":"1764583202000","thread-id":"12","user":"alice","cmd":"Connect","query":"Connect"}"#;
    let input = format!("{good}\n{{\"msg-type\":\"activity\",\"date\":\"yesterday\",\"cmd\":\"Quit\"}}\n{{\"msg-type\":\"activity\",\"date\":\"1\"}}\n{{\"msg-type\":\"activity\",\"da\n{good}\n");
    let (outcome, _) = read_both_ways_with(input.as_bytes(), &ReaderOptions::new().format(Format::McAfeeJson));
    let reasons: Vec<_> = errors(&outcome).iter().map(|e| e.reason.clone()).collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(reasons[0].contains("epoch milliseconds"), "{}", reasons[0]);
    assert!(reasons[1].contains("no \"cmd\""), "{}", reasons[1]);
    assert_eq!(records(&outcome).len(), 2);
}

#[test]
fn snapshot_from_source() {
    let (outcome, foreign) = read_both_ways_with(fixture("mysql-audit/from-source.json").as_bytes(), &ReaderOptions::new());
    insta::assert_snapshot!("mysql_audit_from_source", normalized(&outcome, foreign));
}
