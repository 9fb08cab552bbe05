//! Following a gzip file that is still being written (audit_log_filter's live file with
//! `compression=GZIP` flushes after every event): the decoder must never take the end of what is
//! there now for the end of the stream. flate2's pull decoders do (and cannot hand out output they
//! hold without more input), so the compressed bytes are pushed into its write-side decoder as they
//! appear, and all it can decode from them is taken out after each push. The record reader sees
//! `Ok(0)` at the current end and asks again later.

use std::fs::File;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use flate2::write::MultiGzDecoder;

/// Encoded bytes consumed from the file (read by the follower to notice truncation).
#[derive(Debug, Default)]
pub struct Progress {
    consumed: AtomicU64,
}

impl Progress {
    /// Encoded bytes consumed so far.
    pub fn consumed(&self) -> u64 {
        self.consumed.load(Relaxed)
    }
}

/// A plain file read through a shared descriptor, counting what it reads.
#[derive(Debug)]
pub struct Counted {
    file: Arc<File>,
    progress: Arc<Progress>,
}

impl Counted {
    /// Reads `file` from its current position.
    pub fn new(file: Arc<File>, progress: Arc<Progress>) -> Counted {
        Counted { file, progress }
    }
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (&*self.file).read(buf)?;
        self.progress.consumed.fetch_add(n as u64, Relaxed);
        Ok(n)
    }
}

/// Compressed bytes fed to the decoder at a time: what one feed decodes to is at most about a
/// thousand times as much (deflate's limit), so memory stays bounded.
const FEED: usize = 8 << 10;

/// Decompressed bytes of a growing gzip file; `Ok(0)` at its current end.
#[derive(Debug)]
pub struct GrowingGz {
    file: Arc<File>,
    decoder: MultiGzDecoder<Vec<u8>>,
    /// Decoded bytes not handed out yet: `out[pos..]`.
    out: Vec<u8>,
    pos: usize,
    input: Box<[u8]>,
    progress: Arc<Progress>,
    /// A decoding error, reported once the bytes decoded before it are handed out.
    failed: Option<io::Error>,
}

impl GrowingGz {
    /// Decompresses `file` from its current position (the start of a gzip member).
    pub fn new(file: Arc<File>, progress: Arc<Progress>) -> GrowingGz {
        GrowingGz { file, decoder: MultiGzDecoder::new(Vec::new()), out: Vec::new(), pos: 0, input: vec![0u8; FEED].into_boxed_slice(), progress, failed: None }
    }
}

impl Read for GrowingGz {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pos < self.out.len() {
                let n = buf.len().min(self.out.len() - self.pos);
                buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            if let Some(e) = self.failed.take() {
                return Err(e);
            }
            let n = (&*self.file).read(&mut self.input)?;
            if n == 0 {
                return Ok(0);
            }
            self.progress.consumed.fetch_add(n as u64, Relaxed);
            // Pushed in, the decoder keeps its state between feeds: no end of input is ever implied.
            if let Err(e) = self.decoder.write_all(&self.input[..n]).and_then(|()| self.decoder.flush()) {
                self.failed = Some(e);
            }
            self.out.clear();
            self.pos = 0;
            std::mem::swap(&mut self.out, self.decoder.get_mut());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use flate2::write::GzEncoder;
    use flate2::Compression;

    use super::*;

    /// A compressed file written a flushed piece at a time and read as it grows, then a second gzip
    /// member appended: every byte once, in order.
    #[test]
    fn decompression_resumes_where_the_growing_file_ended() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let append = || std::fs::OpenOptions::new().append(true).open(tmp.path()).unwrap();
        let mut enc = GzEncoder::new(append(), Compression::default());
        let file = Arc::new(File::open(tmp.path()).unwrap());
        let progress = Arc::new(Progress::default());
        let mut r = GrowingGz::new(file, progress.clone());
        let mut got = Vec::new();
        let mut want = Vec::new();
        let mut buf = [0u8; 7];
        let mut drain = |r: &mut GrowingGz, got: &mut Vec<u8>| loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        };
        drain(&mut r, &mut got);
        assert!(got.is_empty());
        for i in 0..50 {
            let line = format!("record {i} {}\n", "x".repeat(i * 13));
            enc.write_all(line.as_bytes()).unwrap();
            enc.flush().unwrap();
            want.extend_from_slice(line.as_bytes());
            drain(&mut r, &mut got);
            assert_eq!(got, want, "after record {i}");
        }
        enc.finish().unwrap();
        let mut second = GzEncoder::new(append(), Compression::default());
        second.write_all(b"second member\n").unwrap();
        second.finish().unwrap();
        want.extend_from_slice(b"second member\n");
        drain(&mut r, &mut got);
        assert_eq!(got, want);
        assert_eq!(progress.consumed(), std::fs::metadata(tmp.path()).unwrap().len());
    }
}
