//! MariaDB server_audit: the corpus transcript, the reference's example, unescaped commas, host:port,
//! time zones, errors and refills.
#![allow(clippy::unwrap_used)]

mod common;

use common::OneByte;

use audit_model::{parse_all, Field, Format, Kind, MalformedRecord, ParseOptions, ReaderOptions, Record, RecordReader};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use proptest::prelude::*;



type Parsed = (Vec<Result<Record, MalformedRecord>>, u64);

/// Parses `input` whole and one byte at a time, checks both agree.
fn parse_tz(input: &[u8], tz: TimeZone) -> Parsed {
    let opts = ParseOptions { time_zone: tz.clone(), ..ParseOptions::default() };
    let whole = parse_all(Format::MariaDb, &opts, input);
    let mut rdr = RecordReader::new(OneByte(input), ReaderOptions::new().format(Format::MariaDb).time_zone(tz));
    let mut bytewise = Vec::new();
    for item in rdr.by_ref() {
        match item {
            Ok(r) => bytewise.push(Ok(r)),
            Err(audit_model::Error::Malformed(m)) => bytewise.push(Err(*m)),
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(whole.0, bytewise, "one byte at a time differs");
    assert_eq!(whole.1, rdr.complete_offset());
    whole
}

fn parse(input: &[u8]) -> Parsed {
    parse_tz(input, TimeZone::UTC)
}

fn records(input: &[u8]) -> Vec<Record> {
    let (items, end) = parse(input);
    assert_eq!(end, input.len() as u64, "all input complete");
    items.into_iter().map(|r| r.unwrap_or_else(|e| panic!("unexpected error: {e:?}"))).collect()
}


#[test]
fn transcript_records() {
    let input = common::transcripts::mariadb_file();
    let recs = records(input.as_bytes());
    assert_eq!(recs.len(), 138);
    for (n, r) in recs.iter().enumerate() {
        assert_eq!(r.format(), Format::MariaDb);
        assert_eq!(r.extra_get("serverhost"), Some("vm"));
        assert_eq!(r.connection_id(), Some(10 + n as u64));
        assert!(r.user().is_some());
        assert_eq!(r.host(), Some("localhost"));
        let want: Timestamp = format!("2026-11-29T05:{:02}:{:02}Z", n / 60, n % 60).parse().unwrap();
        assert_eq!(r.timestamp(), want);
        assert_eq!(r.timestamp_text(), Some(format!("20261129 05:{:02}:{:02}", n / 60, n % 60).as_str()));
        assert_eq!(r.record_id(), None);
    }

    let first = &recs[0];
    assert_eq!((first.name(), first.kind()), ("QUERY", Kind::Query));
    assert_eq!(first.user(), Some("root"));
    assert_eq!(first.db(), Some("test"));
    assert_eq!(first.sqltext(), Some("set global server_audit_logging=on"));
    assert_eq!(first.status(), Some(0));
    assert_eq!(first.extra_get("query_id"), Some("1000"));
    assert_eq!(first.extra_get("object"), None);

    let connect = &recs[1];
    assert_eq!((connect.name(), connect.kind()), ("CONNECT", Kind::Connect));
    assert_eq!(connect.db(), Some("mysql"));
    assert_eq!(connect.extra_get("query_id"), Some("0"));
    assert_eq!(connect.extra_get("object"), None);
    assert!(!connect.is_failed_login());
    assert_eq!(recs[2].kind(), Kind::Disconnect);

    let failed = &recs[3];
    assert_eq!(failed.name(), "FAILED_CONNECT");
    assert_eq!(failed.kind(), Kind::Connect);
    assert!(failed.is_failed_login());
    assert_eq!(failed.status(), Some(1045));
    assert_eq!(failed.user(), Some("no_such_user"));
    assert_eq!(failed.db(), Some(""));
    assert_eq!(recs.iter().filter(|r| r.is_failed_login()).count(), 1);

    // `\'` unescaped.
    assert_eq!(recs[5].sqltext(), Some("set global server_audit_incl_users='odin, root, dva, tri'"));
    assert!(recs.iter().any(|r| r.sqltext() == Some("set global server_audit_events=''")));
    assert!(recs.iter().any(|r| r.sqltext() == Some("set global server_audit_file_path='  '")));
    // Query-length truncation keeps the closing quote.
    assert!(recs.iter().any(|r| r.sqltext() == Some("select 'A', ")));
    assert!(recs.iter().any(|r| r.sqltext() == Some("set global serv")));
    // Passwords masked by the server, kept as is.
    assert!(recs.iter().any(|r| r.sqltext() == Some("CREATE USER u1 IDENTIFIED BY *****")));
    assert!(recs.iter().any(|r| r.sqltext() == Some("SET PASSWORD FOR u1 = PASSWORD(*****)")));
    let errored = recs.iter().find(|r| r.sqltext() == Some("syntax_error_query")).unwrap();
    assert_eq!(errored.status(), Some(1064));

    // Table events: the object in extra, an empty retcode is no status.
    let create = &recs[6];
    assert_eq!((create.name(), create.kind()), ("CREATE", Kind::TableAccess));
    assert_eq!(create.db(), Some("test"));
    assert_eq!(create.extra_get("object"), Some("t2"));
    assert_eq!(create.status(), None);
    assert_eq!(create.sqltext(), None);
    assert!(!create.is_failed_login());
    let rename = recs.iter().find(|r| r.name() == "RENAME").unwrap();
    assert_eq!(rename.extra_get("object"), Some("t1|test.renamed_t1"));
    assert_eq!(rename.db(), Some("test"));
    assert_eq!(rename.status(), None);
    for op in ["READ", "WRITE", "CREATE", "ALTER", "DROP", "RENAME"] {
        let r: Vec<_> = recs.iter().filter(|r| r.name() == op).collect();
        assert!(!r.is_empty(), "{op}");
        assert!(r.iter().all(|r| r.kind() == Kind::TableAccess && r.status().is_none() && r.extra_get("object").is_some()), "{op}");
    }
    let extra_keys: Vec<_> = create.extra().iter().map(|(k, _)| k).collect();
    assert_eq!(extra_keys, ["serverhost", "query_id", "object"]);
}

const REFERENCE_EXAMPLE: &str = "20261129 05:02:38,vm,nosuchuser,localhost,10279,0,FAILED_CONNECT,,,1045
20261129 05:02:38,vm,nosuchuser,localhost,10279,0,DISCONNECT,,,0
20261129 05:02:40,vm,alice,localhost,10281,0,FAILED_CONNECT,,,1045
20261129 05:02:42,vm,alice,localhost,10283,0,CONNECT,,,0
";

#[test]
fn reference_example() {
    let recs = records(REFERENCE_EXAMPLE.as_bytes());
    assert_eq!(recs.len(), 4);
    let failed: Vec<_> = recs.iter().map(Record::is_failed_login).collect();
    assert_eq!(failed, [true, false, true, false]);
    assert_eq!(recs[0].user(), Some("nosuchuser"));
    assert_eq!(recs[0].connection_id(), Some(10279));
    assert_eq!(recs[0].status(), Some(1045));
    assert_eq!(recs[0].timestamp(), "2026-11-29T05:02:38Z".parse::<Timestamp>().unwrap());
    assert_eq!(recs[1].kind(), Kind::Disconnect);
    assert_eq!(recs[3].user(), Some("alice"));
    assert_eq!(recs[3].db(), Some(""));
    assert_eq!(recs[3].span(), (REFERENCE_EXAMPLE.len() - 57) as u64..REFERENCE_EXAMPLE.len() as u64);
    assert!(recs.iter().all(|r| r.extra_get("object").is_none()));
}

#[test]
fn time_zone_changes_the_instant() {
    let berlin = TimeZone::get("Europe/Berlin").unwrap();
    let (items, _) = parse_tz(REFERENCE_EXAMPLE.as_bytes(), berlin);
    let r = items[0].as_ref().unwrap();
    assert_eq!(r.timestamp(), "2026-11-29T04:02:38Z".parse::<Timestamp>().unwrap());
    assert_eq!(r.timestamp_text(), Some("20261129 05:02:38"));
    let summer = "20260715 12:00:00,vm,alice,localhost,1,0,CONNECT,,,0\n";
    let (items, _) = parse_tz(summer.as_bytes(), TimeZone::get("Europe/Berlin").unwrap());
    assert_eq!(items[0].as_ref().unwrap().timestamp(), "2026-07-15T10:00:00Z".parse::<Timestamp>().unwrap());
}

#[test]
fn commas_in_user_and_database_names() {
    let input = "20261129 05:02:38,vm,us,er1,localhost,12,0,CONNECT,my,db,,0
20261129 05:02:39,vm,us,er1,localhost,12,77,QUERY,my,db,'select \\'a,b\\', \\'c\\' from t where x=\\'1,2,3,QUERY,\\'',0
20261129 05:02:40,vm,us,er1,localhost,12,78,READ,my,db,t1,
20261129 05:02:41,vm,,localhost,13,0,FAILED_CONNECT,,,1045
20261129 05:02:42,vm,a,b,c,10.0.0.1,14,0,CONNECT,x,y,z,TLSv1.3,0
";
    let recs = records(input.as_bytes());
    assert_eq!(recs.len(), 5);
    for r in &recs[..3] {
        assert_eq!(r.user(), Some("us,er1"));
        assert_eq!(r.host(), Some("localhost"));
        assert_eq!(r.db(), Some("my,db"));
        assert_eq!(r.connection_id(), Some(12));
    }
    assert_eq!(recs[1].sqltext(), Some("select 'a,b', 'c' from t where x='1,2,3,QUERY,'"));
    assert_eq!(recs[1].extra_get("query_id"), Some("77"));
    assert_eq!(recs[2].extra_get("object"), Some("t1"));
    assert_eq!(recs[3].user(), Some(""));
    assert!(recs[3].is_failed_login());
    assert_eq!(recs[4].user(), Some("a,b,c"));
    assert_eq!(recs[4].host(), Some("10.0.0.1"));
    assert_eq!(recs[4].db(), Some("x,y,z"));
    assert_eq!(recs[4].extra_get("object"), Some("TLSv1.3"));
}

#[test]
fn escapes_in_query_text() {
    let input = "20261129 05:02:39,vm,root,localhost,12,77,QUERY,db,'a\\\\b\\'c\\td\\ne\\rf\\bg\\fh\\\\\\'\\x',0
20261129 05:02:39,vm,root,localhost,12,78,QUERY,db,'ends with a backslash \\\\',0
20261129 05:02:39,vm,root,localhost,12,79,QUERY,db,'cut mid escape \\',0
20261129 05:02:39,vm,root,localhost,12,80,QUERY,db,'',0
20261129 05:02:39,vm,root,localhost,12,81,QUERY,,'x',0
";
    let recs = records(input.as_bytes());
    assert_eq!(recs[0].sqltext(), Some("a\\b'c\td\ne\rf\u{8}g\u{c}h\\'\\x"));
    assert_eq!(recs[1].sqltext(), Some("ends with a backslash \\"));
    assert_eq!(recs[2].sqltext(), Some("cut mid escape \\"));
    assert_eq!(recs[3].sqltext(), Some(""));
    assert_eq!(recs[4].sqltext(), Some("x"));
    assert_eq!(recs[4].db(), Some(""));
}

#[test]
fn host_and_port_from_12_0_1() {
    let input = "20261129 05:02:38,vm,alice,10.0.0.7:53412,5,0,CONNECT,db,TLSv1.3,0
20261129 05:02:39,vm,alice,localhost:3306,5,9,QUERY,db,'select 1',0
20261129 05:02:40,vm,alice,::1,5,0,DISCONNECT,db,,0
20261129 05:02:41,vm,alice,::1:53412,5,0,DISCONNECT,db,,0
20261129 05:02:42,vm,alice,[::1]:3306,5,0,DISCONNECT,db,,0
";
    let recs = records(input.as_bytes());
    let hosts: Vec<_> = recs.iter().map(|r| (r.host().unwrap(), r.extra_get("port"))).collect();
    assert_eq!(
        hosts,
        [("10.0.0.7", Some("53412")), ("localhost", Some("3306")), ("::1", None), ("::1", Some("53412")), ("::1", Some("3306"))]
    );
    assert_eq!(recs[0].extra_get("object"), Some("TLSv1.3"));
    let keys: Vec<_> = recs[0].extra().iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["serverhost", "port", "query_id", "object"]);
}

#[test]
fn garbage_lines_are_malformed_and_reading_goes_on() {
    let good = "20261129 05:02:42,vm,alice,localhost,10283,0,CONNECT,,,0\n";
    let bad_lines = [
        (&b"hello world\n"[..], "no `YYYYMMDD HH:MM:SS,` timestamp"),
        (&b"20261329 05:02:42,vm,alice,localhost,10283,0,CONNECT,,,0\n"[..], "invalid timestamp"),
        (&b"20261129 05:02:42,vm,alice,localhost,x,0,CONNECT,,,0\n"[..], "no `,connectionid,queryid,OPERATION,` run"),
        (&b"20261129 05:02:42,vm,alice,localhost,1,0,CONNECT,,,abc\n"[..], "invalid retcode \"abc\""),
        (&b"20261129 05:02:42,localhost,10283,0,CONNECT,,,0\n"[..], "expected serverhost,username,host"),
        (&b"20261129 05:02:42,vm,alice,localhost,99999999999999999999999,0,CONNECT,,,0\n"[..], "out of range"),
        (&b"20261129 05:02:42,vm,alice,localhost,1,0,CONNECT,\xff\r\n"[..], "expected database,object,retcode"),
    ];
    for (bad, reason) in bad_lines {
        let input = [good.as_bytes(), bad, good.as_bytes()].concat();
        let (items, end) = parse(&input);
        assert_eq!(end, input.len() as u64);
        assert_eq!(items.len(), 3, "{bad:?}");
        let err = items[1].as_ref().unwrap_err();
        assert!(err.reason.contains(reason), "{bad:?}: {}", err.reason);
        assert_eq!(err.position.byte, good.len() as u64);
        assert_eq!(err.position.line, 2);
        assert_eq!(err.len, bad.len() as u64);
        assert!(items[0].is_ok() && items[2].is_ok());
    }
    // Blank lines are skipped; an unknown upper-case operation still parses.
    let recs = records(format!("\n{good}\r\n20261129 05:02:42,vm,alice,localhost,1,2,NEW_EVENT,db,obj,0\n").as_bytes());
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[1].name(), "NEW_EVENT");
    assert_eq!(recs[1].extra_get("object"), Some("obj"));
}

#[test]
fn torn_last_line_is_not_emitted() {
    let good = "20261129 05:02:42,vm,alice,localhost,10283,0,CONNECT,,,0\n";
    for torn in ["2", "20261129 05:02:43,vm,alice,localhost,10283,0,QUERY,,'select", "20261129 05:02:43,vm,alice,localhost,10283,0,DISCONNECT,,,0", "\r"] {
        let input = format!("{good}{torn}");
        let (items, end) = parse(input.as_bytes());
        assert_eq!(items.len(), 1, "{torn:?}");
        assert_eq!(end, good.len() as u64, "{torn:?}");
    }
}

#[test]
fn invalid_utf8_is_replaced() {
    let input = b"20261129 05:02:42,vm,al\xffice,localhost,1,2,QUERY,d\xfeb,'sel\xffect',0\n";
    let recs = records(input);
    assert_eq!(recs[0].user(), Some("al\u{fffd}ice"));
    assert_eq!(recs[0].db(), Some("d\u{fffd}b"));
    assert_eq!(recs[0].sqltext(), Some("sel\u{fffd}ect"));
    assert_eq!(recs[0].get(Field::Host), Some("localhost"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(prop_oneof![Just(b','), Just(b'\n'), Just(b'\''), Just(b'\\'), Just(b'1'), Just(b':'), any::<u8>()], 0..200)) {
        let mut input = b"20261129 05:02:42,".to_vec();
        input.extend_from_slice(&bytes);
        let _ = parse_all(Format::MariaDb, &ParseOptions::default(), &input);
        let _ = parse_all(Format::MariaDb, &ParseOptions::default(), &bytes);
    }

    /// Any user, database and query text (escaped as the server does) parse back.
    #[test]
    fn fields_survive_unescaped_commas(user in "[a-z,' ]{0,12}", db in "[a-z,']{0,12}", sql in "[a-z,'\\\\\n\t ]{0,40}", conn in any::<u32>()) {
        let mut esc = String::new();
        for c in sql.chars() {
            match c {
                '\'' => esc.push_str("\\'"),
                '\\' => esc.push_str("\\\\"),
                '\n' => esc.push_str("\\n"),
                '\t' => esc.push_str("\\t"),
                c => esc.push(c),
            }
        }
        let line = format!("20261129 05:02:42,vm,{user},localhost,{conn},7,QUERY,{db},'{esc}',0\n");
        let (items, _) = parse_all(Format::MariaDb, &ParseOptions::default(), line.as_bytes());
        let r = items[0].as_ref().map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        prop_assert_eq!(r.user(), Some(user.as_str()));
        prop_assert_eq!(r.db(), Some(db.as_str()));
        prop_assert_eq!(r.sqltext(), Some(sql.as_str()));
        prop_assert_eq!(r.connection_id(), Some(u64::from(conn)));
    }
}


#[test]
fn a_unix_socket_login_of_mariadb_12_has_host_localhost() {
    // MariaDB 12.0.1+ writes `host:port`; for a Unix socket the port is `unavailable` (MDEV-12182,
    // the server's own test masks it as `localhost:([0-9]+|unavailable)`).
    let recs = records(b"20261129 05:02:38,vm,alice,localhost:unavailable,10279,0,FAILED_CONNECT,,,1045\n20261129 05:02:39,vm,alice,127.0.0.1:41234,10280,0,CONNECT,,,0\n");
    assert_eq!(recs[0].host(), Some("localhost"));
    assert_eq!(recs[0].extra_get("port"), Some("unavailable"));
    assert!(recs[0].is_failed_login());
    assert_eq!(recs[1].host(), Some("127.0.0.1"));
    assert_eq!(recs[1].extra_get("port"), Some("41234"));
}

#[test]
fn proxy_connect_is_its_own_kind_and_keeps_the_proxied_account() {
    // server_audit.c's log_proxy(): ",%.*s,`%.*s`@`%.*s`,%d" after the header: db, the proxied
    // account, the status; written after the CONNECT of the same connection.
    let recs = records(b"20261129 05:02:40,vm,alice,localhost,10281,0,CONNECT,,,0\n20261129 05:02:40,vm,alice,localhost,10281,0,PROXY_CONNECT,,`dba`@`%`,0\n");
    assert_eq!(recs[0].kind(), audit_model::Kind::Connect);
    assert_eq!(recs[1].kind(), audit_model::Kind::ProxyConnect);
    assert_eq!(recs[1].kind().name(), "proxy_connect");
    assert_eq!(recs[1].user(), Some("alice"));
    assert_eq!(recs[1].priv_user(), Some("dba"));
    assert_eq!(recs[1].extra_get("priv_host"), Some("%"));
    assert!(!recs[1].is_failed_login());
}

#[test]
fn custom_timestamp_formats() {
    use audit_model::{ReaderOptions, RecordReader};
    let read = |text: &str, opts: ReaderOptions| -> Vec<audit_model::Record> { RecordReader::new(text.as_bytes(), opts).map(|r| r.unwrap()).collect() };
    let want: jiff::Timestamp = "2026-11-29T05:02:38.5Z".parse().unwrap();
    // An ISO shape is recognised by itself, and detected.
    let recs = read("2026-11-29 05:02:38.500000,vm,alice,localhost,1,0,CONNECT,,,0\n", ReaderOptions::new());
    assert_eq!(recs[0].timestamp(), want);
    assert_eq!(recs[0].format(), audit_model::Format::MariaDb);
    // Any other needs the server's format, in MariaDB's syntax.
    let text = "29/11/2026 05:02:38.500000,vm,alice,localhost,1,0,CONNECT,,,0\n";
    let recs = read(text, ReaderOptions::new().format(audit_model::Format::MariaDb).mariadb_timestamp_format("%d/%m/%Y %H:%i:%s.%f"));
    assert_eq!(recs[0].timestamp(), want);
    assert_eq!(recs[0].timestamp_text(), Some("29/11/2026 05:02:38.500000"));
}
