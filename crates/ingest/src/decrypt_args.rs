//! The options that give the password of encrypted logs: a file or the environment, never the
//! command line itself (where `ps` and shell history would show it).

use std::path::PathBuf;

use clap::Args;
use ingest::encrypted::{DecryptionKey, KeyError};

/// How encrypted logs (`.enc`) are decrypted.
#[derive(Debug, Args, Clone, Default)]
pub struct DecryptArgs {
    /// The password of encrypted logs (`.enc`): a file whose first line is the password, or that
    /// holds the JSON `SELECT audit_log_encryption_password_get('audit_log-PWD_ID')` returns
    /// (password and iterations). Without it, AUDIT_INGEST_ENCRYPTION_PASSWORD holds either.
    #[arg(long, value_name = "PATH")]
    pub encryption_password_file: Option<PathBuf>,
    /// The password's PBKDF2 iteration count (Percona audit_log_filter; the JSON above has it).
    /// Without any, the key is derived as MySQL Enterprise Audit's manual decrypts
    /// (`openssl enc -d -aes-256-cbc -md sha256`, no `-iter`).
    #[arg(long, value_name = "N")]
    pub encryption_iterations: Option<u32>,
}

impl DecryptArgs {
    /// The key, if a password was given (the file first, else the environment).
    pub fn key(&self) -> Result<Option<DecryptionKey>, KeyError> {
        match &self.encryption_password_file {
            Some(path) => DecryptionKey::from_file(path, self.encryption_iterations).map(Some),
            None => DecryptionKey::from_env(self.encryption_iterations),
        }
    }
}

/// What `--help` says about encrypted logs (a macro, for `concat!`).
macro_rules! help {
    () => {
        "Encrypted logs (audit_log_encryption=AES, audit_log_filter.encryption=AES: names ending in .enc or .gz.enc) are\n\
         recognised by their content and decrypted with the password from --encryption-password-file or\n\
         AUDIT_INGEST_ENCRYPTION_PASSWORD; compressed ones are then decompressed."
    };
}
pub(crate) use help;
