//! One file opened for reading by the follower: its decoded bytes from an offset (a compressed file
//! is decompressed from its start up to the offset: the deflate state cannot be saved, and a gzip
//! member gives no way in other than its start), the fingerprint of its first decoded bytes captured
//! on the way, and the encoded position (to notice truncation).

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use audit_model::{ReaderOptions, RecordReader};

use crate::decode::gzip::Progress;
use crate::decode::{self, Decoder, Encoding};
use crate::identity::{head_fingerprint, tail_fingerprint, FileId, Fingerprint, HEAD_LEN, TAIL_LEN};

/// The first decoded bytes seen, shared with the reader that captures them.
type Head = Arc<Mutex<Vec<u8>>>;

/// Records the first [`HEAD_LEN`] decoded bytes that pass through.
pub(crate) struct Capture {
    inner: Box<dyn Read + Send>,
    pos: u64,
    head: Head,
}

impl Read for Capture {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.pos < HEAD_LEN as u64 {
            let mut head = self.head.lock().unwrap_or_else(PoisonError::into_inner);
            let take = (HEAD_LEN - self.pos as usize).min(n);
            if head.len() as u64 == self.pos {
                head.extend_from_slice(&buf[..take]);
            }
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// The offset meaning "the end of what the file holds now" (`--start-at end`).
pub(crate) const TO_END: u64 = u64::MAX;

/// The reader type of an open log.
pub(crate) type Reader = RecordReader<BufReader<Capture>>;

/// An open log file.
pub(crate) struct OpenLog {
    pub reader: Reader,
    pub file: Arc<File>,
    pub encoding: Encoding,
    pub path: PathBuf,
    /// The identity its rows get (for a copy or a compressed file: the original's).
    pub id: FileId,
    /// The file actually open.
    pub inode: FileId,
    head: Head,
    progress: Arc<Progress>,
    /// Encoded offset the reading started at.
    raw_start: u64,
    /// Fingerprint of the decoded bytes before the start offset (a compressed file's, computed on
    /// the way there).
    pub start_tail: Option<Fingerprint>,
}

impl std::fmt::Debug for OpenLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenLog").field("path", &self.path).field("id", &self.id).field("encoding", &self.encoding).field("offset", &self.reader.complete_offset()).finish()
    }
}

impl OpenLog {
    /// Opens `file` (already open at `path`) to read from decoded `offset` ([`TO_END`]: its current
    /// end) on, its rows keyed `id`, read with `opts(offset)`. `Ok(None)` when a compressed file holds
    /// fewer than `offset` decoded bytes. An encrypted file that `decoder` cannot decrypt is an error.
    pub fn open(file: File, path: &Path, id: FileId, offset: u64, opts: impl FnOnce(u64) -> ReaderOptions, decoder: &Decoder) -> io::Result<Option<OpenLog>> {
        let meta = file.metadata()?;
        let inode = FileId::of(&meta);
        let encoding = Encoding::detect(&file)?.unwrap_or_else(|| Encoding::from_name(path));
        let file = Arc::new(file);
        let progress = Arc::new(Progress::default());
        let head: Head = Arc::default();
        let mut offset = offset;
        let (inner, raw_start, start_tail): (Box<dyn Read + Send>, u64, Option<Fingerprint>) = match encoding {
            Encoding::Plain => {
                offset = offset.min(meta.len());
                let mut prefix = vec![0u8; HEAD_LEN.min(offset as usize)];
                let got = read_full_at(&file, &mut prefix, 0)?;
                prefix.truncate(got);
                *head.lock().unwrap_or_else(PoisonError::into_inner) = prefix;
                let tail = tail_fingerprint(&file, offset)?;
                (&*file).seek(SeekFrom::Start(offset))?;
                (decode::growing(file.clone(), encoding, progress.clone(), decoder)?, offset, tail)
            }
            _ => {
                (&*file).seek(SeekFrom::Start(0))?;
                let mut r = Capture { inner: decode::growing(file.clone(), encoding, progress.clone(), decoder)?, pos: 0, head: head.clone() };
                let (skipped, tail) = skip(&mut r, offset)?;
                if skipped < offset && offset != TO_END {
                    return Ok(None);
                }
                offset = skipped;
                (r.inner, 0, Some(tail))
            }
        };
        let capture = Capture { inner, pos: offset, head: head.clone() };
        // Capacity 0: every read goes straight to the decoder, so the encoded position is exact.
        let reader = RecordReader::new(BufReader::with_capacity(0, capture), opts(offset));
        Ok(Some(OpenLog { reader, file, encoding, path: path.to_path_buf(), id, inode, head, progress, raw_start, start_tail }))
    }

    /// Decoded offset just past what the reader consumed (complete records and the pending part).
    pub fn read_offset(&self) -> u64 {
        self.reader.complete_offset() + self.reader.pending() as u64
    }

    /// Encoded offset just past what was read from the file.
    pub fn raw_offset(&self) -> u64 {
        self.raw_start + self.progress.consumed()
    }

    /// Fingerprint of the first decoded bytes seen so far.
    pub fn head(&self) -> Fingerprint {
        head_fingerprint(&self.head.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Fingerprint of the encoded bytes before `raw_offset` (to notice a truncation that regrew).
    pub fn raw_tail(&self) -> io::Result<Option<Fingerprint>> {
        tail_fingerprint(&self.file, self.raw_offset())
    }

    /// Fingerprint of the decoded bytes before the complete offset, for the checkpoint: plain files
    /// only (a compressed file's content is checked by its head and decoded length).
    pub fn checkpoint_tail(&self) -> Option<Fingerprint> {
        match self.encoding {
            Encoding::Plain => tail_fingerprint(&self.file, self.reader.complete_offset()).ok().flatten(),
            _ => None,
        }
    }
}

/// Reads and drops up to `n` decoded bytes (fewer if there are fewer): how many, and the fingerprint
/// of the last [`TAIL_LEN`] of them.
fn skip(r: &mut impl Read, n: u64) -> io::Result<(u64, Fingerprint)> {
    let mut buf = vec![0u8; 64 << 10];
    let mut left = n;
    let mut tail: Vec<u8> = Vec::with_capacity(2 * TAIL_LEN as usize);
    while left > 0 {
        let want = buf.len().min(left as usize);
        let got = r.read(&mut buf[..want])?;
        if got == 0 {
            break;
        }
        left -= got as u64;
        tail.extend_from_slice(&buf[got.saturating_sub(TAIL_LEN as usize)..got]);
        if tail.len() > TAIL_LEN as usize {
            tail.drain(..tail.len() - TAIL_LEN as usize);
        }
    }
    Ok((n - left, Fingerprint::of(&tail)))
}

fn read_full_at(file: &File, buf: &mut [u8], at: u64) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        let n = file.read_at(&mut buf[got..], at + got as u64)?;
        if n == 0 {
            break;
        }
        got += n;
    }
    Ok(got)
}
