//! How a log file's bytes become the audit log's bytes: the one place an encoding is recognised and
//! undone. Plain files are read as they are; gzip files (logrotate's `compress`, audit_log_filter's
//! `compression=GZIP`, one member or several concatenated) are decompressed. Another encoding (an
//! encrypted `.enc` file) is added here: to [`Encoding`], [`Encoding::detect`], [`strip_suffix`] and
//! [`decoded`], and every reader (`parse`, `backfill`, `follow`) then reads it.
//!
//! Offsets everywhere else are offsets in the decoded bytes.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

pub mod gzip;

/// How a file is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// The audit log's bytes as they are.
    Plain,
    /// gzip (RFC 1952), one or more members.
    Gzip,
}

impl Encoding {
    /// The encoding of a file from its first bytes; `None` while it is too short to tell (an empty
    /// live file may still turn out compressed).
    pub fn detect(file: &File) -> io::Result<Option<Encoding>> {
        let mut magic = [0u8; 2];
        let mut got = 0;
        while got < magic.len() {
            let n = file.read_at(&mut magic[got..], got as u64)?;
            if n == 0 {
                break;
            }
            got += n;
        }
        Ok(match &magic[..got] {
            [0x1f, 0x8b] => Some(Encoding::Gzip),
            [0x1f] | [] => None,
            _ => Some(Encoding::Plain),
        })
    }

    /// The encoding a name suggests, for a file too short to tell by its bytes.
    pub fn from_name(path: &Path) -> Encoding {
        if path.extension().is_some_and(|e| e == "gz") {
            Encoding::Gzip
        } else {
            Encoding::Plain
        }
    }

    /// Its name in checkpoints and messages.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Plain => "plain",
            Encoding::Gzip => "gzip",
        }
    }
}

/// A name without the suffixes of the encodings read here (`audit.log.1.gz` → `audit.log.1`), and
/// whether the name is one this module can read (an `.enc` file is not, yet).
pub fn strip_suffix(name: &str) -> (&str, bool) {
    if let Some(base) = name.strip_suffix(".gz") {
        return (base, true);
    }
    if name.ends_with(".enc") {
        return (name, false);
    }
    (name, true)
}

/// The decoded bytes of a complete file from its first byte, whatever its encoding (`parse`,
/// fingerprints of rotated files).
pub fn open_decoded(path: &Path) -> io::Result<Box<dyn Read + Send>> {
    let file = File::open(path)?;
    let encoding = Encoding::detect(&file)?.unwrap_or_else(|| Encoding::from_name(path));
    Ok(decoded(file, encoding))
}

/// The decoded bytes of an open file read from its current position to its end.
pub fn decoded(file: File, encoding: Encoding) -> Box<dyn Read + Send> {
    match encoding {
        Encoding::Plain => Box::new(file),
        Encoding::Gzip => Box::new(flate2::read::MultiGzDecoder::new(file)),
    }
}

/// The decoded bytes of a file that may still grow (the live file), for the follower: the end of
/// what is there now reads as the end (`Ok(0)`) and a later read goes on where it stopped, inside
/// a compressed stream too. `progress` counts the encoded bytes consumed (to notice truncation).
pub fn growing(file: Arc<File>, encoding: Encoding, progress: Arc<gzip::Progress>) -> Box<dyn Read + Send> {
    match encoding {
        Encoding::Plain => Box::new(gzip::Counted::new(file, progress)),
        Encoding::Gzip => Box::new(gzip::GrowingGz::new(file, progress)),
    }
}

/// Up to `n` decoded bytes from the start of a file; fewer if it is shorter (or its compressed stream
/// ends early: a file still being written).
pub fn decoded_prefix(path: &Path, n: usize) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(n);
    let mut r = open_decoded(path)?.take(n as u64);
    match r.read_to_end(&mut out) {
        Ok(_) => Ok(out),
        // A gzip stream cut short (still being written, or broken): what came before is the prefix.
        Err(e) if matches!(e.kind(), io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData) => Ok(out),
        Err(e) => Err(e),
    }
}
