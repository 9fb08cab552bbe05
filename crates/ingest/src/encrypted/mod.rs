//! Encrypted audit logs (`audit_log_encryption=AES`, audit_log_filter's `encryption=AES`), read as
//! the servers write them and as `openssl enc -d -aes-256-cbc` reads them.
//!
//! The format is OpenSSL's `enc`: the 8 bytes `Salted__`, an 8-byte salt, then AES-256-CBC blocks
//! with PKCS#7 padding; key and IV come from the password and the salt ([`key`]). With compression
//! the server gzips first and encrypts second (`.gz.enc`), so [`decode`] decrypts first and gunzips
//! second. [`EncryptedReader`] streams: memory stays at one buffer whatever the file's size.
//!
//! A wrong password is caught at the start: the first block must decrypt to text (or gzip), which
//! random bytes do with a probability near 1e-7; the padding is checked at the end.

mod key;

use std::io::{self, Read};

use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockDecryptMut, KeyIvInit};

pub use key::{DecryptionKey, KeyDerivation, KeyError, Password, PASSWORD_ENV};

type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

const BLOCK: usize = 16;
const MAGIC: &[u8; 8] = b"Salted__";
const HEADER: usize = 16;
/// Ciphertext read at a time (a multiple of the block size).
const BUF: usize = 64 << 10;

/// Why an input cannot be decrypted.
#[derive(Debug, thiserror::Error)]
pub enum DecryptError {
    /// The input is encrypted but no password was given.
    #[error("encrypted (OpenSSL `Salted__` header): give its password with --encryption-password-file or {PASSWORD_ENV}")]
    PasswordNeeded,
    /// No `Salted__` header.
    #[error("cannot decrypt: not an encrypted audit log (no `Salted__` header)")]
    NotEncrypted,
    /// The password (or its key derivation) does not decrypt this file.
    #[error("cannot decrypt: wrong password or not an encrypted audit log ({detail}; key derived as `openssl enc -d -aes-256-cbc {}`{hint})", kdf.openssl_options())]
    WrongKey {
        /// What showed it.
        detail: &'static str,
        /// The derivation tried.
        kdf: KeyDerivation,
        /// What else to try.
        hint: &'static str,
    },
    /// The keyring's salt for this password is not the file's.
    #[error("cannot decrypt: the password's salt is not this file's: it belongs to other files")]
    SaltMismatch,
    /// Not one whole block after the header.
    #[error("cannot decrypt: no whole cipher block after the header ({trailing} bytes): the file is cut")]
    NoData {
        /// Bytes after the header.
        trailing: usize,
    },
    /// The data stops inside a block.
    #[error("cannot decrypt the end: the encrypted data stops {trailing} bytes into a block at byte {at} of the file: the file is cut")]
    Truncated {
        /// Bytes of the partial block.
        trailing: usize,
        /// Where the partial block starts in the file.
        at: u64,
    },
    /// The last block has no valid padding.
    #[error("cannot decrypt the end: the last block (byte {at} of the file) has no valid padding: the file is cut at a block boundary, still being written by the server, or damaged")]
    BadPadding {
        /// Where the last block starts in the file.
        at: u64,
    },
    /// Reading the input failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl From<DecryptError> for io::Error {
    fn from(e: DecryptError) -> io::Error {
        match e {
            DecryptError::Io(e) => e,
            e => io::Error::new(io::ErrorKind::InvalidData, e),
        }
    }
}

/// Decrypts an OpenSSL-format AES-256-CBC stream as it is read. See the module docs.
pub struct EncryptedReader<R> {
    inner: R,
    cipher: Aes256CbcDec,
    /// `buf[start..ready]` is plaintext not yet handed out; `buf[ready..filled]` ciphertext not yet
    /// decrypted (the last whole block is held back until the end shows whether it carries padding).
    buf: Box<[u8]>,
    start: usize,
    ready: usize,
    filled: usize,
    /// Bytes of the input consumed so far, the header included.
    consumed: u64,
    done: bool,
    /// An error to return once the plaintext before it is handed out.
    pending: Option<DecryptError>,
}

impl<R> std::fmt::Debug for EncryptedReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptedReader").field("consumed", &self.consumed).field("done", &self.done).finish_non_exhaustive()
    }
}

impl<R: Read> EncryptedReader<R> {
    /// Reads the header, derives the key and decrypts the first block: a wrong password is an error
    /// here, before any plaintext is returned.
    pub fn new(mut inner: R, key: &DecryptionKey) -> Result<EncryptedReader<R>, DecryptError> {
        let mut header = [0u8; HEADER];
        let got = read_full(&mut inner, &mut header)?;
        if got < HEADER || &header[..8] != MAGIC {
            return Err(DecryptError::NotEncrypted);
        }
        let salt: [u8; 8] = header[8..].try_into().unwrap_or_default();
        if key.expected_salt().is_some_and(|s| s != salt) {
            return Err(DecryptError::SaltMismatch);
        }
        let key_iv = key.derive(&salt);
        let cipher = Aes256CbcDec::new(GenericArray::from_slice(&key_iv[..32]), GenericArray::from_slice(&key_iv[32..]));
        let mut r = EncryptedReader { inner, cipher, buf: vec![0u8; BUF].into_boxed_slice(), start: 0, ready: 0, filled: 0, consumed: HEADER as u64, done: false, pending: None };
        while r.ready == 0 && !r.done {
            r.fill()?;
        }
        let wrong = |detail| DecryptError::WrongKey {
            detail,
            kdf: key.kdf(),
            hint: match key.kdf() {
                KeyDerivation::BytesToKeySha256 => "; Percona's audit_log_filter needs the iteration count: give the JSON of audit_log_encryption_password_get() or --encryption-iterations",
                KeyDerivation::Pbkdf2Sha256 { .. } => "",
            },
        };
        if let Some(DecryptError::NoData { trailing }) = r.pending {
            return Err(DecryptError::NoData { trailing });
        }
        if !looks_like_plaintext(r.plaintext_start()) {
            return Err(wrong("the first block decrypts to binary data, not an audit log"));
        }
        Ok(r)
    }

    /// The first plaintext bytes not handed out yet (at least one block, unless the file is shorter).
    pub fn plaintext_start(&self) -> &[u8] {
        &self.buf[self.start..self.ready]
    }

    /// Reads more ciphertext and decrypts what can be; called when no plaintext is left.
    fn fill(&mut self) -> Result<(), DecryptError> {
        self.buf.copy_within(self.ready..self.filled, 0);
        self.filled -= self.ready;
        self.start = 0;
        self.ready = 0;
        let mut eof = false;
        while self.filled < 2 * BLOCK {
            let n = match self.inner.read(&mut self.buf[self.filled..]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            if n == 0 {
                eof = true;
                break;
            }
            self.filled += n;
            self.consumed += n as u64;
        }
        let whole = self.filled / BLOCK * BLOCK;
        if !eof {
            // Hold the last whole block back: only the end of the input says if it is the last.
            self.decrypt(whole - BLOCK);
            self.ready = whole - BLOCK;
            return Ok(());
        }
        self.done = true;
        self.decrypt(whole);
        self.ready = whole;
        let end_of_whole = self.consumed - (self.filled - whole) as u64;
        if whole == 0 {
            self.pending = Some(DecryptError::NoData { trailing: self.filled });
        } else if self.filled > whole {
            self.pending = Some(DecryptError::Truncated { trailing: self.filled - whole, at: end_of_whole });
        } else {
            let pad = self.buf[whole - 1] as usize;
            if (1..=BLOCK).contains(&pad) && self.buf[whole - pad..whole].iter().all(|&b| b as usize == pad) {
                self.ready = whole - pad;
            } else {
                self.pending = Some(DecryptError::BadPadding { at: end_of_whole - BLOCK as u64 });
            }
        }
        Ok(())
    }

    fn decrypt(&mut self, upto: usize) {
        for block in self.buf[..upto].chunks_exact_mut(BLOCK) {
            self.cipher.decrypt_block_mut(GenericArray::from_mut_slice(block));
        }
    }
}

impl<R: Read> Read for EncryptedReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.start == self.ready {
            if let Some(e) = self.pending.take() {
                return Err(e.into());
            }
            if self.done {
                return Ok(0);
            }
            self.fill()?;
            if self.start == self.ready {
                return self.read(out);
            }
        }
        let n = out.len().min(self.ready - self.start);
        out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
        Ok(n)
    }
}

impl<R> Drop for EncryptedReader<R> {
    fn drop(&mut self) {
        // Plaintext of an audit log is as sensitive as the password.
        zeroize::Zeroize::zeroize(&mut self.buf[..]);
    }
}

/// The audit log's bytes of an encrypted input (`Salted__`: the `.enc` files): decrypted, then
/// gunzipped when the plaintext is gzip data (`.gz.enc`: the server compresses before it encrypts).
/// Recognising the encoding is [`crate::decode`]'s concern; this undoes this one.
pub fn decode<R: Read + Send + 'static>(input: R, key: &DecryptionKey) -> Result<Box<dyn Read + Send>, DecryptError> {
    let r = EncryptedReader::new(input, key)?;
    Ok(if r.plaintext_start().starts_with(&GZIP_MAGIC) { Box::new(flate2::read::MultiGzDecoder::new(r)) } else { Box::new(r) })
}

const GZIP_MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];

/// The 8 bytes an encrypted file starts with.
pub const ENCRYPTED_MAGIC: &[u8; 8] = MAGIC;

/// Whether decrypted bytes can be the start of an audit log: gzip, or UTF-8 text without control
/// characters other than tab and line ends (every format the servers encrypt is text).
fn looks_like_plaintext(b: &[u8]) -> bool {
    if b.starts_with(&GZIP_MAGIC) {
        return true;
    }
    let text = match std::str::from_utf8(b) {
        Ok(s) => s,
        // A character cut by the block's end.
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&b[..e.valid_up_to()]).unwrap_or_default(),
        Err(_) => return false,
    };
    text.chars().all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests;
