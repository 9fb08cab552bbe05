//! The password of encrypted audit logs and how the servers turn it into an AES key and IV.
//!
//! Both servers write OpenSSL's `enc` format: `Salted__`, an 8-byte salt, then AES-256-CBC data. They
//! differ in how the password and salt become the 32-byte key and 16-byte IV:
//! - Percona's audit_log_filter derives them with PBKDF2-HMAC-SHA256 and a per-password iteration count
//!   (random, within 10% of `audit_log_filter.key_derivation_iterations_count_mean`), which its
//!   `audit_log_encryption_password_get()` returns with the password: `openssl enc -d -aes-256-cbc
//!   -md sha256 -iter N`.
//! - MySQL Enterprise Audit's manual decrypts with `openssl enc -d -aes-256-cbc -md sha256` and no
//!   `-iter`: OpenSSL's EVP_BytesToKey with SHA-256 and one round.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Where the password comes from when no file is given.
pub const PASSWORD_ENV: &str = "AUDIT_INGEST_ENCRYPTION_PASSWORD";

/// A password; its bytes are wiped when dropped and never printed.
#[derive(Clone)]
pub struct Password(Zeroizing<Vec<u8>>);

impl Password {
    /// The password's bytes, exactly as the server's keyring holds them.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Password {
        Password(Zeroizing::new(bytes.into()))
    }

    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

/// How the key and IV are derived from the password and the file's salt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyDerivation {
    /// PBKDF2-HMAC-SHA256 with this many iterations (Percona audit_log_filter; `openssl enc -md sha256
    /// -iter N`, which implies `-pbkdf2`).
    Pbkdf2Sha256 {
        /// The password's iteration count.
        iterations: u32,
    },
    /// OpenSSL's EVP_BytesToKey with SHA-256, one round (`openssl enc -md sha256` without `-iter`:
    /// the command MySQL's manual gives for MySQL Enterprise Audit files).
    BytesToKeySha256,
}

impl KeyDerivation {
    /// The `openssl enc` options that decrypt the same files, for messages.
    pub fn openssl_options(&self) -> String {
        match self {
            KeyDerivation::Pbkdf2Sha256 { iterations } => format!("-md sha256 -iter {iterations}"),
            KeyDerivation::BytesToKeySha256 => "-md sha256".into(),
        }
    }
}

/// A password file or variable that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The password file cannot be read.
    #[error("{path}: cannot read the encryption password: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Nothing in it.
    #[error("{0}: the encryption password is empty")]
    Empty(String),
    /// JSON that is not what `audit_log_encryption_password_get()` returns.
    #[error("{0}: the JSON has no string \"password\" (expected what audit_log_encryption_password_get() returns)")]
    BadJson(String),
    /// Zero or absurd iterations.
    #[error("{0}: the iteration count must be at least 1")]
    BadIterations(String),
}

/// A password and its key derivation: everything needed to decrypt a file.
#[derive(Debug, Clone)]
pub struct DecryptionKey {
    password: Password,
    kdf: KeyDerivation,
    /// The salt the keyring stores with the password (Percona), checked against the file's.
    salt: Option<[u8; 8]>,
}

#[derive(serde::Deserialize)]
struct KeyringJson {
    password: String,
    iterations: Option<u32>,
    salt: Option<String>,
}

impl DecryptionKey {
    /// A key from its parts.
    pub fn new(password: Password, kdf: KeyDerivation) -> DecryptionKey {
        DecryptionKey { password, kdf, salt: None }
    }

    /// Parses what a password file or the variable holds (`origin` names it in errors): the JSON
    /// `audit_log_encryption_password_get()` returns (Percona's `{"password":"...","salt":"HEX",
    /// "iterations":N}`, whose iterations select PBKDF2 and whose salt must be the file's), or else the password itself, up to the first newline as `openssl
    /// -pass file:` reads it. `iterations`, when given, overrides the JSON's and selects PBKDF2;
    /// with neither, EVP_BytesToKey is used.
    pub fn parse(text: &[u8], iterations: Option<u32>, origin: &str) -> Result<DecryptionKey, KeyError> {
        let trimmed = text.trim_ascii();
        let (password, json_iterations, salt) = if trimmed.starts_with(b"{") {
            let j: KeyringJson = serde_json::from_slice(trimmed).map_err(|_| KeyError::BadJson(origin.into()))?;
            let salt = j.salt.as_deref().and_then(parse_salt_hex);
            (Password::new(j.password.into_bytes()), j.iterations, salt)
        } else {
            let line = text.split(|&b| b == b'\n').next().unwrap_or_default();
            (Password::new(line.to_vec()), None, None)
        };
        if password.bytes().is_empty() {
            return Err(KeyError::Empty(origin.into()));
        }
        let kdf = match iterations.or(json_iterations) {
            Some(0) => return Err(KeyError::BadIterations(origin.into())),
            Some(iterations) => KeyDerivation::Pbkdf2Sha256 { iterations },
            None => KeyDerivation::BytesToKeySha256,
        };
        Ok(DecryptionKey { password, kdf, salt })
    }

    /// Reads the key from a file (see [`DecryptionKey::parse`]).
    pub fn from_file(path: &Path, iterations: Option<u32>) -> Result<DecryptionKey, KeyError> {
        let text = Zeroizing::new(std::fs::read(path).map_err(|source| KeyError::Read { path: path.into(), source })?);
        DecryptionKey::parse(&text, iterations, &path.display().to_string())
    }

    /// Reads the key from [`PASSWORD_ENV`], or `None` when it is not set.
    pub fn from_env(iterations: Option<u32>) -> Result<Option<DecryptionKey>, KeyError> {
        use std::os::unix::ffi::OsStringExt;
        let Some(value) = std::env::var_os(PASSWORD_ENV) else { return Ok(None) };
        let text = Zeroizing::new(value.into_vec());
        DecryptionKey::parse(&text, iterations, PASSWORD_ENV).map(Some)
    }

    /// The key derivation in use.
    pub fn kdf(&self) -> KeyDerivation {
        self.kdf
    }

    /// The salt the keyring gave with the password, if any.
    pub(crate) fn expected_salt(&self) -> Option<[u8; 8]> {
        self.salt
    }

    /// The AES-256 key and the CBC IV for a file with this salt.
    pub(crate) fn derive(&self, salt: &[u8; 8]) -> Zeroizing<[u8; 48]> {
        let mut out = Zeroizing::new([0u8; 48]);
        match self.kdf {
            KeyDerivation::Pbkdf2Sha256 { iterations } => pbkdf2::pbkdf2_hmac::<Sha256>(self.password.bytes(), salt, iterations, &mut out[..]),
            KeyDerivation::BytesToKeySha256 => bytes_to_key_sha256(self.password.bytes(), salt, &mut out),
        }
        out
    }
}

fn parse_salt_hex(hex: &str) -> Option<[u8; 8]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 16 {
        return None;
    }
    let mut salt = [0u8; 8];
    for (i, pair) in bytes.chunks(2).enumerate() {
        salt[i] = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(salt)
}

/// EVP_BytesToKey(SHA-256, count 1): D1 = H(password || salt), Dn = H(Dn-1 || password || salt),
/// concatenated until key and IV are filled (OpenSSL's `enc` without `-pbkdf2`).
fn bytes_to_key_sha256(password: &[u8], salt: &[u8; 8], out: &mut [u8; 48]) {
    let first = Sha256::new().chain_update(password).chain_update(salt).finalize();
    let second = Sha256::new().chain_update(first).chain_update(password).chain_update(salt).finalize();
    out[..32].copy_from_slice(&first);
    out[32..].copy_from_slice(&second[..16]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_file_is_read_to_its_first_newline_as_openssl_does() {
        let k = DecryptionKey::parse(b"s3cret pass\nignored\n", None, "t").unwrap();
        assert_eq!(k.password.bytes(), b"s3cret pass");
        assert_eq!(k.kdf, KeyDerivation::BytesToKeySha256);
    }

    #[test]
    fn the_json_of_audit_log_encryption_password_get_gives_password_and_iterations() {
        let k = DecryptionKey::parse(br#"{"password":"a\"b","iterations":568977}"#, None, "t").unwrap();
        assert_eq!(k.password.bytes(), b"a\"b");
        assert_eq!(k.kdf, KeyDerivation::Pbkdf2Sha256 { iterations: 568977 });
        let k = DecryptionKey::parse(br#"{"password":"x","iterations":5}"#, Some(7), "t").unwrap();
        assert_eq!(k.kdf, KeyDerivation::Pbkdf2Sha256 { iterations: 7 });
    }

    #[test]
    fn unusable_passwords_are_refused() {
        assert!(matches!(DecryptionKey::parse(b"\n", None, "t"), Err(KeyError::Empty(_))));
        assert!(matches!(DecryptionKey::parse(b"{\"iterations\":3}", None, "t"), Err(KeyError::BadJson(_))));
        assert!(matches!(DecryptionKey::parse(b"pw", Some(0), "t"), Err(KeyError::BadIterations(_))));
    }

    #[test]
    fn the_password_is_never_printed() {
        let k = DecryptionKey::parse(b"hunter2", None, "t").unwrap();
        assert!(!format!("{k:?}").contains("hunter2"));
    }
}
