//! How a log file's bytes become the audit log's bytes: the one place an encoding is recognised and
//! undone. Plain files are read as they are; gzip files (logrotate's `compress`, audit_log_filter's
//! `compression=GZIP`, one member or several concatenated) are decompressed; encrypted files
//! (`audit_log_encryption=AES`, audit_log_filter's `encryption=AES`: `.enc`, `.gz.enc`) are decrypted
//! with the password a [`Decoder`] carries, then decompressed when they were compressed first.
//!
//! Offsets everywhere else are offsets in the decoded bytes.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use crate::encrypted::{self, DecryptError, DecryptionKey, ENCRYPTED_MAGIC};

pub mod gzip;

/// What decoding needs beyond the bytes: the password of encrypted files, if one was given.
#[derive(Debug, Clone, Default)]
pub struct Decoder {
    /// The key of encrypted files; without it they are refused with a message saying how to give it.
    pub key: Option<Arc<DecryptionKey>>,
}

impl Decoder {
    /// A decoder for encrypted files too.
    pub fn with_key(key: Option<DecryptionKey>) -> Decoder {
        Decoder { key: key.map(Arc::new) }
    }
}

/// How a file is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// The audit log's bytes as they are.
    Plain,
    /// gzip (RFC 1952), one or more members.
    Gzip,
    /// OpenSSL `enc` AES-256-CBC (`Salted__` header), its plaintext maybe gzip.
    Encrypted,
}

impl Encoding {
    /// The encoding of a file from its first bytes; `None` while it is too short to tell (an empty
    /// live file may still turn out compressed).
    pub fn detect(file: &File) -> io::Result<Option<Encoding>> {
        let mut magic = [0u8; ENCRYPTED_MAGIC.len()];
        let mut got = 0;
        while got < magic.len() {
            let n = file.read_at(&mut magic[got..], got as u64)?;
            if n == 0 {
                break;
            }
            got += n;
        }
        Ok(Encoding::of_start(&magic[..got]))
    }

    /// The encoding of bytes starting with `start` (up to 8 of them).
    pub fn of_start(start: &[u8]) -> Option<Encoding> {
        if start.starts_with(&[0x1f, 0x8b]) {
            Some(Encoding::Gzip)
        } else if start.starts_with(ENCRYPTED_MAGIC) {
            Some(Encoding::Encrypted)
        } else if start.is_empty() || start == [0x1f] || ENCRYPTED_MAGIC.starts_with(start) {
            None
        } else {
            Some(Encoding::Plain)
        }
    }

    /// The encoding a name suggests, for a file too short to tell by its bytes.
    pub fn from_name(path: &Path) -> Encoding {
        if path.extension().is_some_and(|e| e == "gz") {
            Encoding::Gzip
        } else if path.extension().is_some_and(|e| e == "enc") {
            Encoding::Encrypted
        } else {
            Encoding::Plain
        }
    }

    /// Its name in checkpoints and messages.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Plain => "plain",
            Encoding::Gzip => "gzip",
            Encoding::Encrypted => "encrypted",
        }
    }
}

/// A name without the suffixes of the encodings read here: `audit.log.1.gz` → `audit.log.1`;
/// `audit.20261201T101500.log.20261130T090000-1.enc` and `….log.gz.20261130T090000-1.enc` (an
/// encrypted file, the id of its password before `.enc`) → `audit.20261201T101500.log`.
pub fn strip_suffix(name: &str) -> &str {
    let name = match name.strip_suffix(".enc") {
        Some(rest) => match rest.rsplit_once('.') {
            Some((base, id)) if is_password_id(id) => base,
            _ => rest,
        },
        None => name,
    };
    name.strip_suffix(".gz").unwrap_or(name)
}

/// Whether `s` is a keyring password id as the servers put it in names: `20261130T090000-1`.
fn is_password_id(s: &str) -> bool {
    let Some((stamp, seq)) = s.split_once('-') else { return false };
    let b = stamp.as_bytes();
    b.len() == 15 && b[8] == b'T' && b.iter().enumerate().all(|(i, c)| i == 8 || c.is_ascii_digit()) && !seq.is_empty() && seq.bytes().all(|c| c.is_ascii_digit())
}

/// The decoded bytes of a complete file from its first byte, whatever its encoding (fingerprints of
/// rotated files).
pub fn open_decoded(path: &Path, decoder: &Decoder) -> io::Result<Box<dyn Read + Send>> {
    decode_file(File::open(path)?, path, decoder)
}

/// The decoded bytes of `file` (open at `path`, read from its first byte). A decryption failure
/// (no password, a wrong one) is an `InvalidData` error saying so, before anything is decoded.
pub fn decode_file(file: File, path: &Path, decoder: &Decoder) -> io::Result<Box<dyn Read + Send>> {
    let encoding = Encoding::detect(&file)?.unwrap_or_else(|| Encoding::from_name(path));
    decoded(file, encoding, decoder)
}

/// The decoded bytes of a stream that can only be read once (standard input), its encoding told by
/// its first bytes.
pub fn decode_stream(mut input: impl Read + Send + 'static, decoder: &Decoder) -> io::Result<Box<dyn Read + Send>> {
    let mut start = Vec::with_capacity(ENCRYPTED_MAGIC.len());
    (&mut input).take(ENCRYPTED_MAGIC.len() as u64).read_to_end(&mut start)?;
    let encoding = Encoding::of_start(&start).unwrap_or(Encoding::Plain);
    decoded(io::Cursor::new(start).chain(input), encoding, decoder)
}

/// The decoded bytes of `input` read from its current position to its end.
pub fn decoded(input: impl Read + Send + 'static, encoding: Encoding, decoder: &Decoder) -> io::Result<Box<dyn Read + Send>> {
    Ok(match encoding {
        Encoding::Plain => Box::new(input),
        Encoding::Gzip => Box::new(flate2::read::MultiGzDecoder::new(input)),
        Encoding::Encrypted => {
            let key = decoder.key.as_deref().ok_or(DecryptError::PasswordNeeded)?;
            encrypted::decode(input, key)?
        }
    })
}

/// The decoded bytes of a file that may still grow (the live file), for the follower: the end of
/// what is there now reads as the end (`Ok(0)`) and a later read goes on where it stopped, inside
/// a compressed stream too. `progress` counts the encoded bytes consumed (to notice truncation).
/// An encrypted file is read as it is: the servers write its last block only when they close it.
pub fn growing(file: Arc<File>, encoding: Encoding, progress: Arc<gzip::Progress>, decoder: &Decoder) -> io::Result<Box<dyn Read + Send>> {
    Ok(match encoding {
        Encoding::Plain => Box::new(gzip::Counted::new(file, progress)),
        Encoding::Gzip => Box::new(gzip::GrowingGz::new(file, progress)),
        Encoding::Encrypted => decoded(gzip::Counted::new(file, progress), encoding, decoder)?,
    })
}

/// Up to `n` decoded bytes from the start of a file; fewer if it is shorter (or its compressed stream
/// ends early: a file still being written).
pub fn decoded_prefix(path: &Path, n: usize, decoder: &Decoder) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(n);
    let mut r = open_decoded(path, decoder)?.take(n as u64);
    match r.read_to_end(&mut out) {
        Ok(_) => Ok(out),
        // A gzip stream cut short (still being written, or broken): what came before is the prefix.
        Err(e) if matches!(e.kind(), io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData) => Ok(out),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_are_told_by_their_first_bytes() {
        assert_eq!(Encoding::of_start(b"Salted__\x01\x02"), Some(Encoding::Encrypted));
        assert_eq!(Encoding::of_start(b"Salt"), None, "may still become the header");
        assert_eq!(Encoding::of_start(&[0x1f, 0x8b, 8]), Some(Encoding::Gzip));
        assert_eq!(Encoding::of_start(b"<?xml ve"), Some(Encoding::Plain));
        assert_eq!(Encoding::of_start(b"Sbc"), Some(Encoding::Plain));
    }

    #[test]
    fn encrypted_names_lose_their_password_id_and_gz() {
        assert_eq!(strip_suffix("audit.20261201T101500.log.20261130T090000-1.enc"), "audit.20261201T101500.log");
        assert_eq!(strip_suffix("audit.20261201T101500.log.gz.20261130T090000-12.enc"), "audit.20261201T101500.log");
        assert_eq!(strip_suffix("audit.log.1.enc"), "audit.log.1");
        assert_eq!(strip_suffix("audit.log.1.gz.enc"), "audit.log.1");
        assert_eq!(strip_suffix("audit.log.1.gz"), "audit.log.1");
        assert_eq!(strip_suffix("audit.log.20261201.enc"), "audit.log.20261201", "a date is no password id");
    }

    #[test]
    fn an_encrypted_file_needs_the_password_and_then_decodes() {
        let enc = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/encrypted/audit_filter.xml.pbkdf2-1000.enc")).unwrap();
        let plain = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/encrypted/audit_filter.xml")).unwrap();
        let e = decode_stream(io::Cursor::new(enc.clone()), &Decoder::default()).err().unwrap();
        assert!(e.to_string().contains("--encryption-password-file"), "{e}");
        let key = DecryptionKey::parse(br#"{"password":"fixture password","iterations":1000}"#, None, "t").unwrap();
        let mut out = Vec::new();
        decode_stream(io::Cursor::new(enc), &Decoder::with_key(Some(key))).unwrap().read_to_end(&mut out).unwrap();
        assert_eq!(out, plain);
    }
}
