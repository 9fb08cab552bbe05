//! Percona audit_log CSV: the corpus samples, framing edge cases, errors, refills, and a writer round
//! trip.
#![allow(clippy::unwrap_used)]

mod common;


use audit_model::{parse_all, Field, Format, Kind, MalformedRecord, ParseOptions, Record};
use proptest::prelude::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/csv");


type Parsed = (Vec<Result<Record, MalformedRecord>>, u64);

/// Parses `input` whole and one byte at a time, checks both agree, returns the result.
fn parse(input: &[u8]) -> Parsed {
    common::read_both_ways(input, Some(Format::PerconaCsv))
}

fn records(input: &[u8]) -> Vec<Record> {
    let (items, end) = parse(input);
    assert_eq!(end, input.len() as u64, "all input complete");
    items.into_iter().map(|r| r.unwrap_or_else(|e| panic!("unexpected error: {e:?}"))).collect()
}


fn find(recs: &[Record], pred: impl Fn(&Record) -> bool) -> &Record {
    recs.iter().find(|r| pred(r)).expect("a matching record")
}

#[test]
fn default_db_transcript() {
    let input = common::transcripts::percona_csv_file("audit_log_default_db.result");
    let recs = records(input.as_bytes());
    assert_eq!(recs.len(), input.lines().count());
    assert_eq!(recs.len(), 31);
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r.format(), Format::PerconaCsv);
        assert_eq!(r.connection_id(), Some(100 + i as u64));
        assert_eq!(r.record_id(), Some(format!("{}_2021-06-30T15:03:11", 22567 + i).as_str()));
        let want: jiff::Timestamp = format!("2021-06-30T16:00:{i:02}Z").parse().unwrap();
        assert_eq!(r.timestamp(), want);
    }
    let first = &recs[0];
    assert_eq!(first.name(), "Query");
    assert_eq!(first.command_class(), Some("install_plugin"));
    assert_eq!(first.sqltext(), Some("INSTALL PLUGIN audit_log SONAME 'audit_log.so'"));
    assert_eq!(first.user(), Some("root[root] @ localhost []"));
    assert_eq!(first.host(), Some("localhost"));
    assert_eq!(first.os_user(), Some(""));
    assert_eq!(first.ip(), Some(""));
    assert_eq!(first.db(), Some(""));
    assert_eq!(first.status(), Some(0));

    let quit = &recs[1];
    assert_eq!((quit.name(), quit.kind()), ("Quit", Kind::Disconnect));
    assert_eq!(quit.user(), Some("root"));
    assert_eq!(quit.priv_user(), Some("root"));
    assert_eq!(quit.db(), Some("test"));
    assert_eq!(quit.sqltext(), None);

    // Failed logins: 1044 (database access denied) and 1045 (access denied).
    let failed: Vec<_> = recs.iter().filter(|r| r.is_failed_login()).collect();
    assert_eq!(failed.len(), 3);
    assert!(failed.iter().all(|r| r.name() == "Connect" && r.kind() == Kind::Connect));
    assert_eq!(failed.iter().map(|r| r.status().unwrap()).collect::<Vec<_>>(), [1044, 1045, 1045]);
    // The unknown user has an empty PRIV_USER.
    let user3 = find(&recs, |r| r.user() == Some("user3"));
    assert_eq!(user3.priv_user(), Some(""));
    assert_eq!(user3.status(), Some(1045));
    assert_eq!(user3.os_user(), Some(""));
    assert_eq!(user3.proxy_user(), Some(""));
    assert_eq!(user3.host(), Some("localhost"));

    let change = find(&recs, |r| r.name() == "Change user");
    assert_eq!(change.kind(), Kind::ChangeUser);
    assert_eq!(change.status(), Some(1044));
    assert_eq!(change.user(), Some("user2"));
    assert!(!change.is_failed_login());

    let init_db = find(&recs, |r| r.name() == "Init DB");
    assert_eq!(init_db.kind(), Kind::Query);
    assert_eq!(init_db.command_class(), Some("error"));
    assert_eq!(init_db.sqltext(), Some(""));

    // Raw TABs inside SQLTEXT.
    assert!(recs.iter().any(|r| r.sqltext() == Some("use \t`db1`")));
    let denied_use = find(&recs, |r| r.sqltext() == Some("use    \t`db1`"));
    assert_eq!(denied_use.status(), Some(1044));
    assert_eq!(denied_use.command_class(), Some("change_db"));

    // A UTF-8 database name.
    let utf8 = find(&recs, |r| r.name() == "Query" && r.db() == Some("ąžąžąžą"));
    assert_eq!(utf8.sqltext(), Some("use ąžąžąžą"));
    assert_eq!(recs.iter().filter(|r| r.db() == Some("ąžąžąžą")).count(), 3);
}

#[test]
fn filter_users_transcript() {
    let input = common::transcripts::percona_csv_file("audit_log_filter_users.result");
    let recs = records(input.as_bytes());
    assert_eq!(recs.len(), input.lines().count());

    let connect = find(&recs, |r| r.name() == "Connect" && r.user() == Some("us,er1"));
    assert_eq!(connect.priv_user(), Some("us,er1"));
    assert_eq!(connect.db(), Some("test"));
    let query = find(&recs, |r| r.sqltext() == Some("SELECT 'us,er1'"));
    assert_eq!(query.user(), Some("us,er1[us,er1] @ localhost []"));

    let tcp = find(&recs, |r| r.name() == "Connect" && r.user() == Some("admin"));
    assert_eq!(tcp.ip(), Some("127.0.0.1"));
    assert_eq!(tcp.host(), Some("localhost"));
    let tcp_query = find(&recs, |r| r.sqltext() == Some("SELECT 'admin'"));
    assert_eq!(tcp_query.user(), Some("admin[admin] @ localhost [127.0.0.1]"));
    assert_eq!(tcp_query.ip(), Some("127.0.0.1"));

    let long = find(&recs, |r| r.sqltext().is_some_and(|s| s.contains("loooooooooooooonghostname")));
    assert_eq!(long.command_class(), Some("set_option"));
    assert!(long.sqltext().unwrap().starts_with("SET GLOBAL audit_log_include_accounts= 'user1@localhost,, user22@127.0.0.1,admin@%,very"));
    assert!(long.sqltext().unwrap().ends_with("veryveryveryveryveryveryveryveryveryveryveryveryveryveryveryloooooooooooooonghostname'"));
}

#[test]
fn prepare_stmt_transcript() {
    let input = common::transcripts::percona_csv_file("audit_log_filter_prepare_stmt.result");
    let recs = records(input.as_bytes());
    assert_eq!(recs.len(), 7);
    let prepare = find(&recs, |r| r.command_class() == Some("prepare_sql"));
    assert_eq!(prepare.sqltext(), Some("PREPARE pstmt1 FROM ..."));
    let execute = find(&recs, |r| r.command_class() == Some("execute_sql"));
    assert_eq!(execute.sqltext(), Some("SHOW GLOBAL VARIABLES WHERE Variable_name = 'max_allowed_packet'"));
    assert_eq!(execute.db(), Some("test"));
}

#[test]
fn ps3867_transcript() {
    let input = common::transcripts::percona_csv_file("percona_bug_ps3867.result");
    let recs = records(input.as_bytes());
    let kinds: Vec<_> = recs.iter().map(Record::kind).collect();
    assert_eq!(kinds, [Kind::Connect, Kind::Query, Kind::Disconnect]);
    assert!(recs.iter().all(|r| r.ip() == Some("127.0.0.1") && r.status() == Some(0)));
    assert!(!recs[0].is_failed_login());
}

#[test]
fn doc_example() {
    let input = std::fs::read(format!("{FIXTURES}/format-csv.log")).unwrap();
    let recs = records(&input);
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert_eq!(r.name(), "Query");
    assert_eq!(r.record_id(), Some("22567_2021-06-30T16:10:09"));
    assert_eq!(r.timestamp_text(), Some("2021-06-30T16:19:00 UTC"));
    assert_eq!(r.timestamp(), "2021-06-30T16:19:00Z".parse::<jiff::Timestamp>().unwrap());
    assert_eq!(r.command_class(), Some("select"));
    assert_eq!(r.connection_id(), Some(2));
    assert_eq!(r.status(), Some(0));
    assert_eq!(r.sqltext(), Some("select count(*) from one"));
    assert_eq!(r.user(), Some("root[root] @ localhost []"));
    assert_eq!(r.host(), Some("localhost"));
    assert_eq!((r.os_user(), r.ip(), r.db()), (Some(""), Some(""), Some("")));
    assert_eq!(r.span(), 0..input.len() as u64);
    assert_eq!(r.get(Field::PrivUser), None);
}

/// Every corpus record written back by the writer is byte-identical to what the plugin wrote.
#[cfg(feature = "writers")]
#[test]
fn writer_reproduces_the_plugin() {
    let mut inputs: Vec<String> = ["audit_log_default_db.result", "audit_log_filter_users.result", "audit_log_filter_prepare_stmt.result", "percona_bug_ps3867.result"]
        .iter()
        .map(|f| common::transcripts::percona_csv_file(f))
        .collect();
    inputs.push(std::fs::read_to_string(format!("{FIXTURES}/format-csv.log")).unwrap());
    inputs.push(AUDIT_AND_MORE.to_string());
    for input in inputs {
        let mut out = String::new();
        for r in records(input.as_bytes()) {
            audit_model::write::write_record(Format::PerconaCsv, &r, &mut out).unwrap();
        }
        assert_eq!(out, input);
    }
}

#[test]
fn record_spanning_lines() {
    let input = "\"Query\",\"5_2021-06-30T15:03:11\",\"2021-06-29T19:34:38Z\",\"select\",\"7\",0,\"select 'a\nb',\n\"\"quoted\"\"\r\n\",\"root[root] @ localhost []\",\"localhost\",\"\",\"\",\"db\"\n\
                 \"Quit\",\"6_2021-06-30T15:03:11\",\"2021-06-29T19:34:39Z\",\"7\",0,\"root\",\"root\",\"\",\"\",\"localhost\",\"\",\"db\"\r\n";
    let recs = records(input.as_bytes());
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].sqltext(), Some("select 'a\nb',\n\"quoted\"\r\n"));
    assert_eq!(recs[0].db(), Some("db"));
    assert_eq!(recs[1].span().end, input.len() as u64);
    assert_eq!(recs[1].db(), Some("db"));
}

const AUDIT_AND_MORE: &str = concat!(
    "\"Audit\",\"1_2021-06-30T15:03:11\",\"2021-06-30T15:03:11 UTC\",\"8.0.25-15\",\"--basedir=/usr --init-command=\"SET NAMES utf8\" --port=3306\",\"Linux x86_64\"\n",
    "\"Connect\",\"2_2021-06-30T15:03:11\",\"2021-06-30T15:03:12 UTC\",\"9\",1045,\"bob\",\"\",\"\",\"\",\"localhost\",\"\",\"\"\n",
    "\"Query\",\"3_2021-06-30T15:03:11\",\"2021-06-30T15:03:13 UTC\",\"select\",\"10\",0,\"select \"\"x\"\"\",\"root[root] @ localhost []\",\"localhost\",\"\",\"\",\"\"\n",
    "\"NoAudit\",\"4_2021-06-30T15:03:11\",\"2021-06-30T15:03:14 UTC\",\"8.0.25-15\",\"a \" b\",\"Linux\"\n",
);

#[test]
fn audit_record_with_a_stray_quote() {
    let recs = records(AUDIT_AND_MORE.as_bytes());
    assert_eq!(recs.len(), 4);
    let audit = &recs[0];
    assert_eq!((audit.name(), audit.kind()), ("Audit", Kind::Startup));
    assert_eq!(audit.get(Field::MysqlVersion), Some("8.0.25-15"));
    assert_eq!(audit.get(Field::StartupOptions), Some("--basedir=/usr --init-command=\"SET NAMES utf8\" --port=3306"));
    assert_eq!(audit.get(Field::OsVersion), Some("Linux x86_64"));
    assert_eq!(audit.connection_id(), None);
    assert_eq!(audit.status(), None);
    assert!(recs[1].is_failed_login());
    assert_eq!(recs[1].user(), Some("bob"));
    assert_eq!(recs[2].sqltext(), Some("select \"x\""));
    assert_eq!(recs[3].kind(), Kind::Shutdown);
    assert_eq!(recs[3].get(Field::StartupOptions), Some("a \" b"));
}

#[test]
fn torn_last_record_is_not_emitted() {
    let good = "\"Quit\",\"6_2021-06-30T15:03:11\",\"2021-06-29T19:34:39Z\",\"7\",0,\"root\",\"root\",\"\",\"\",\"localhost\",\"\",\"db\"\n";
    let rest = "\",\"root[root] @ localhost []\",\"localhost\",\"\",\"\",\"db\"\n";
    let sql = "\"Query\",\"7_2021-06-30T15:03:11\",\"2021-06-29T19:34:40Z\",\"select\",\"7\",0,\"select 1";
    // (torn record, the bytes that complete it)
    let torn_pieces = [
        (format!("{sql}\nfrom t"), rest.to_string()),
        (format!("{sql}\""), rest[1..].to_string()),
        (format!("{sql}{}", &rest[..rest.len() - 1]), "\n".to_string()),
        (format!("{sql}{}\r", &rest[..rest.len() - 1]), "\n".to_string()),
        ("\"Audit\",\"1_2021-06-30T15:03:11\",\"2021-06-30T15:03:11 UTC\",\"8.0.25\",\"opts\",\"Linux\"".to_string(), "\n".to_string()),
        ("\"Qu".to_string(), format!("{}{rest}", &sql[3..])),
        ("\"".to_string(), format!("{}{rest}", &sql[1..])),
        ("\r".to_string(), format!("\n{sql}{rest}")),
    ];
    for (torn, rest) in torn_pieces {
        let input = format!("{good}{torn}");
        let (items, end) = parse(input.as_bytes());
        assert_eq!(items.len(), 1, "{torn:?}");
        assert!(items[0].is_ok());
        assert_eq!(end, good.len() as u64, "{torn:?}");
        // Once the rest arrives, the record is read.
        let whole = format!("{good}{torn}{rest}");
        let recs = records(whole.as_bytes());
        assert_eq!(recs.len(), 2, "{torn:?}");
        assert_eq!(recs[1].span().start, good.len() as u64 + u64::from(torn == "\r") * 2);
    }
}

#[test]
fn malformed_records_are_reported_and_reading_goes_on() {
    let q = |n: u32, sql: &str| {
        format!("\"Query\",\"{n}_2021-06-30T15:03:11\",\"2021-06-29T19:34:40Z\",\"select\",\"7\",0,\"{sql}\",\"root[root] @ localhost []\",\"localhost\",\"\",\"\",\"db\"\n")
    };
    let cases: [(&str, &str); 7] = [
        ("\"Connect\",\"2_2021-06-30T15:03:11\",\"2021-06-30T15:03:12 UTC\",\"9\",1045,\"bob\",\"\",\"\",\"localhost\",\"\",\"\"\n", "expected 12 fields for a Connect record, found 11"),
        ("\"Connect\",\"2_2021-06-30T15:03:11\",\"2021-06-30T15:03:12 UTC\",\"9\",\"x\",\"bob\",\"\",\"\",\"\",\"localhost\",\"\",\"\"\n", "invalid STATUS \"x\""),
        ("\"Connect\",\"2_2021-06-30T15:03:11\",\"2021-06-30T15:03:12 UTC\",\"nine\",0,\"bob\",\"\",\"\",\"\",\"localhost\",\"\",\"\"\n", "invalid CONNECTION_ID \"nine\""),
        ("\"Connect\",\"2_2021-06-30T15:03:11\",\"<DATETIME>\",\"9\",0,\"bob\",\"\",\"\",\"\",\"localhost\",\"\",\"\"\n", "invalid timestamp \"<DATETIME>\""),
        ("garbage line, not audit\n", "expected 12 fields"),
        ("\"Query\",\"text\"after,\"x\"\n", "text after a closing quote"),
        // An unbalanced quote must not swallow the records that follow: cut at the next record start.
        ("\"Query\",\"3_2021-06-30T15:03:11\",\"2021-06-30T15:03:13 UTC\",\"select\",\"10\",0,\"select \"x\",\"root\n", "text after a closing quote"),
    ];
    for (bad, reason) in cases {
        let input = format!("{}{bad}{}{}", q(1, "select 1"), q(2, "select\n2"), q(3, "select 3"));
        let (items, end) = parse(input.as_bytes());
        assert_eq!(end, input.len() as u64);
        assert_eq!(items.len(), 4, "{bad:?}: {items:?}");
        let err = items[1].as_ref().unwrap_err();
        assert!(err.reason.contains(reason), "{bad:?}: {}", err.reason);
        assert_eq!(err.position.byte, q(1, "select 1").len() as u64);
        assert_eq!(err.position.line, 2);
        assert_eq!(err.len, bad.len() as u64, "{bad:?}");
        let sql: Vec<_> = items.iter().filter_map(|r| r.as_ref().ok()).map(|r| r.sqltext().unwrap().to_string()).collect();
        assert_eq!(sql, ["select 1", "select\n2", "select 3"]);
    }
}

#[test]
fn unbalanced_quote_running_over_lines_is_cut_at_the_next_record() {
    // The opening quote of SQLTEXT is never closed on its line; the quote-aware frame runs into the next
    // lines and fails there. The error covers only the broken record.
    let broken = "\"Query\",\"3_2021-06-30T15:03:11\",\"2021-06-30T15:03:13 UTC\",\"select\",\"10\",0,\"select 1\n";
    let next = "\"Query\",\"4_2021-06-30T15:03:11\",\"2021-06-30T15:03:14 UTC\",\"select\",\"10\",0,\"select 2\",\"u\",\"h\",\"\",\"\",\"\"\n";
    let input = format!("{broken}{next}{next}");
    let (items, _) = parse(input.as_bytes());
    assert_eq!(items.len(), 3, "{items:?}");
    let err = items[0].as_ref().unwrap_err();
    assert_eq!(err.len, broken.len() as u64);
    assert!(items[1].is_ok() && items[2].is_ok());
}

#[test]
fn arbitrary_bytes_never_panic() {
    let samples: [&[u8]; 8] = [b"\xff\xfe\"\n", b"\"\"\"\"\n", b",,,,\n", b"\"Audit\",\n", b"\"Audit\",\"\",\"\",\"\",\"\",\"\xff\"\n", b"\r\r\n", b"\xEF\xBB", b"\xEF\xBB\xBF\"a\"\n"];
    for s in samples {
        let _ = parse(s);
    }
    let invalid = b"\"Query\",\"1_x\",\"2021-06-29T19:34:40Z\",\"select\",\"7\",0,\"sel\xffect\",\"u\",\"h\",\"\",\"\",\"\"\n";
    let recs = records(invalid);
    assert_eq!(recs[0].sqltext(), Some("sel\u{fffd}ect"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(prop_oneof![Just(b'"'), Just(b','), Just(b'\n'), Just(b'\r'), any::<u8>(), Just(b'0'), Just(b'A')], 0..300)) {
        let _ = parse_all(Format::PerconaCsv, &ParseOptions::default(), &bytes);
    }

    #[test]
    fn mutated_corpus_never_panics(cut in 0usize..2000, byte in any::<u8>()) {
        let mut input = common::transcripts::percona_csv_file("percona_bug_ps3867.result").into_bytes();
        input.extend_from_slice(AUDIT_AND_MORE.as_bytes());
        let at = cut % input.len();
        input[at] = byte;
        let (items, end) = parse_all(Format::PerconaCsv, &ParseOptions::default(), &input);
        prop_assert!(end <= input.len() as u64);
        // The records after the damaged one are still read.
        prop_assert!(items.iter().filter(|r| r.is_ok()).count() >= 4);
    }
}

#[cfg(feature = "writers")]
mod round_trip {
    use super::*;
    use audit_model::write::write_record;

    const NAMES: [&str; 12] =
        ["Audit", "NoAudit", "Connect", "Quit", "Change user", "Query", "Execute", "Prepare", "Init DB", "Ping", "Field List", "Close stmt"];

    fn hostile() -> impl Strategy<Value = String> {
        prop_oneof![
            8 => "[\"\\\\,\n\r\t\u{0}-\u{1f}\u{7f}a-zé😀 '`]{0,24}",
            1 => Just(String::new()),
            1 => ".{0,8}",
            // Sometimes 1 MiB.
            1 => ("[\"\\\\,\n\t😀x]{1,8}", 0..20u32).prop_map(|(s, pick)| if pick == 0 { s.repeat((1 << 20) / s.len()) } else { s }),
        ]
    }

    fn no_quote(s: String) -> String {
        s.replace('"', "")
    }

    prop_compose! {
        fn record()(name in 0..NAMES.len(), secs in 0i64..4_000_000_000, z in any::<bool>(), conn in proptest::option::of(any::<u64>()),
                    status in any::<i64>(), rid in hostile(), values in proptest::collection::vec(hostile(), 9)) -> (Record, String) {
            let name = NAMES[name];
            let kind = Record::classify(name);
            let start = matches!(kind, Kind::Startup | Kind::Shutdown);
            let fix = |s: String| if start { no_quote(s) } else { s };
            let ts = jiff::Timestamp::from_second(secs).unwrap();
            let ts_text = if z { ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string() } else { ts.strftime("%Y-%m-%dT%H:%M:%S UTC").to_string() };
            let mut b = Record::builder(Format::PerconaCsv);
            b.set(Field::Name, name).set(Field::RecordId, &fix(rid)).set(Field::TimestampText, &ts_text).timestamp(ts);
            let mut v = values.into_iter().map(fix);
            let mut next = || v.next().unwrap();
            let fields: &[Field] = match kind {
                Kind::Startup | Kind::Shutdown => &[Field::MysqlVersion, Field::StartupOptions, Field::OsVersion],
                Kind::Connect | Kind::Disconnect | Kind::ChangeUser => {
                    b.connection_id(conn).status(Some(status));
                    &[Field::User, Field::PrivUser, Field::OsUser, Field::ProxyUser, Field::Host, Field::Ip, Field::Db]
                }
                _ => {
                    b.connection_id(conn).status(Some(status));
                    &[Field::CommandClass, Field::SqlText, Field::User, Field::Host, Field::OsUser, Field::Ip, Field::Db]
                }
            };
            for &f in fields {
                b.set(f, &next());
            }
            let rec = b.build();
            let mut text = String::new();
            write_record(Format::PerconaCsv, &rec, &mut text).unwrap();
            (rec, text)
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn written_records_parse_back_equal(recs in proptest::collection::vec(record(), 1..4)) {
            let input: String = recs.iter().map(|(_, t)| t.as_str()).collect();
            let (items, end) = parse_all(Format::PerconaCsv, &ParseOptions::default(), input.as_bytes());
            prop_assert_eq!(end, input.len() as u64);
            prop_assert_eq!(items.len(), recs.len());
            let mut offset = 0u64;
            for ((want, text), got) in recs.iter().zip(items) {
                let got = got.map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
                let span = offset..offset + text.len() as u64;
                offset = span.end;
                let mut want = want.clone();
                // The reader sets the span; everything else must survive the trip unchanged.
                let mut b = Record::builder(Format::PerconaCsv);
                for f in Field::ALL {
                    if let Some(v) = want.get(f) {
                        b.set(f, v);
                    }
                }
                b.timestamp(want.timestamp()).connection_id(want.connection_id()).status(want.status()).span(span).kind(want.kind());
                want = b.build();
                prop_assert_eq!(got, want);
            }
        }
    }
}

