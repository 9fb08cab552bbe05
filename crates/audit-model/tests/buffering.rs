//! Records and error positions do not depend on how the input is buffered: read in place from a
//! `BufRead`'s buffer, copied when a record is cut by its end, or from a whole slice.
#![allow(clippy::unwrap_used)]

use std::io::BufReader;

use audit_model::{Error, Format, ReaderOptions, Record, RecordReader};

/// Spans of records and (offset, line) of errors, in order.
fn outline(reader: impl Iterator<Item = Result<Record, Error>>) -> Vec<(u64, u64, bool)> {
    reader
        .map(|r| match r {
            Ok(r) => (r.span().start, r.span().end, true),
            Err(e) => {
                let p = e.position().unwrap_or_default();
                (p.byte, p.line, false)
            }
        })
        .collect()
}

/// Reading in place from the input's buffer, or copying when a record is cut by its end, gives
/// the same records and error positions as one slice read whole, whatever the buffer's size.
#[test]
fn the_outcome_does_not_depend_on_the_inputs_buffer() {
    let good = "20261129 05:02:38,vm,nosuchuser,localhost,10279,0,FAILED_CONNECT,,,1045\n";
    let mut log = String::new();
    for i in 0..40 {
        log.push_str(good);
        if i % 7 == 3 {
            log.push_str("not a record at all\n\n");
        }
    }
    let opts = || ReaderOptions::new().format(Format::MariaDb);
    let whole = outline(RecordReader::new(log.as_bytes(), opts()));
    assert_eq!(whole.iter().filter(|x| !x.2).count(), 6, "{whole:?}");
    for cap in [0, 1, 7, 64, 100, 1000, 1 << 16] {
        let got = outline(RecordReader::new(BufReader::with_capacity(cap, log.as_bytes()), opts()));
        assert_eq!(got, whole, "capacity {cap}");
    }
}
