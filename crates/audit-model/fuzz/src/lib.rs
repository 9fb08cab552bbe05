//! The invariants every format's fuzz target checks: no panic, no hang, and whatever is read is
//! consistent with the input.

use audit_model::{Error, Format, ReaderOptions, RecordReader};

/// Reads `data` as `format` (or detected, with `None`), whole and in small pieces, and checks the
/// invariants: records and errors come in input order without overlapping, within the input; the
/// complete part plus the pending bytes is the whole input; both readings agree; every record renders
/// as valid JSON in the Percona shape.
pub fn check(format: Option<Format>, data: &[u8]) {
    let whole = read(format, data, usize::MAX);
    // Piece sizes from 1 to 64 bytes, chosen by the input so the fuzzer explores refill boundaries.
    let size = 1 + usize::from(data.first().copied().unwrap_or(0) % 64);
    let pieces = read(format, data, size);
    assert_eq!(whole, pieces, "reading in pieces differs from reading at once");
}

#[derive(Debug, PartialEq)]
struct Outcome {
    items: Vec<(u64, u64, Result<audit_model::Record, String>)>,
    complete: u64,
}

struct Pieces<'a> {
    data: &'a [u8],
    size: usize,
}

impl std::io::Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.data.len().min(self.size).min(buf.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

impl std::io::BufRead for Pieces<'_> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        let n = self.data.len().min(self.size);
        Ok(&self.data[..n])
    }
    fn consume(&mut self, n: usize) {
        self.data = &self.data[n..];
    }
}

fn read(format: Option<Format>, data: &[u8], size: usize) -> Outcome {
    let opts = ReaderOptions::new().format_opt(format).max_record(4096);
    let mut reader = RecordReader::new(Pieces { data, size }, opts);
    let mut items = Vec::new();
    let mut last_end = 0u64;
    for item in reader.by_ref() {
        let (start, end, what) = match item {
            Ok(r) => {
                let json = r.to_percona_json();
                let v: serde_json::Value = serde_json::from_str(&json).expect("to_percona_json is valid JSON");
                assert!(v.get("audit_record").is_some());
                (r.span().start, r.span().end, Ok(r))
            }
            Err(Error::Malformed(m)) => (m.position.byte, m.position.byte + m.len, Err(m.reason.clone())),
            Err(e) => panic!("unexpected error {e}"),
        };
        assert!(start >= last_end, "items overlap or go backwards");
        assert!(end > start, "empty item");
        assert!(end <= data.len() as u64, "item past the input");
        last_end = end;
        items.push((start, end, what));
    }
    let complete = reader.complete_offset();
    assert!(complete >= last_end);
    assert_eq!(complete + reader.pending() as u64, data.len() as u64, "complete + pending = input");
    Outcome { items, complete }
}
