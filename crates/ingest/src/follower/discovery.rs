//! Which files belong to a followed path: the live path and its rotated siblings, whatever the naming
//! scheme (`audit.log.1` shifting or growing, logrotate's `dateext` `audit.log-20261201` or
//! `audit.log.20261201[-HHMMSS]`, audit_log_filter's `audit_filter.20261201T120000-1.log`), compressed
//! or not. They are ordered by what they are (modification time, then birth time), the name only
//! breaking ties: numbers say nothing reliable (`.1` is the newest under shifting rotation and the
//! oldest under growing numbers).

use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::decode::{self, Decoder, Encoding};
use crate::identity::{FileId, HEAD_LEN};

/// A file that may hold records of the followed log.
#[derive(Debug)]
pub(crate) struct Candidate {
    pub path: PathBuf,
    pub meta: Metadata,
    /// Its identity, generation 0.
    pub id: FileId,
    /// The live path itself (it may still grow).
    pub live: bool,
    pub encoding: Encoding,
    /// Its first decoded bytes, up to [`HEAD_LEN`].
    pub prefix: Vec<u8>,
    /// Modification time, ns since the epoch.
    pub mtime: i128,
}

/// The files found, and those that could not be read (to report and retry, never to skip).
#[derive(Debug, Default)]
pub(crate) struct Found {
    /// Rotated siblings oldest first, then the live path if it exists.
    pub files: Vec<Candidate>,
    pub unreadable: Vec<(PathBuf, io::Error)>,
}

/// Lists the live path and its rotated siblings (an encrypted one is decrypted with `decoder`'s key).
pub(crate) fn discover(live: &Path, decoder: &Decoder) -> Found {
    let mut found = Found::default();
    let dir = live.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if let Some(name) = live.file_name().and_then(|n| n.to_str()) {
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                found.unreadable.push((dir.to_path_buf(), e));
                return found;
            }
        };
        for e in entries.flatten() {
            let Ok(n) = e.file_name().into_string() else { continue };
            if n != name && is_sibling(name, &n) {
                match candidate(&e.path(), false, decoder) {
                    Ok(Some(c)) => found.files.push(c),
                    Ok(None) => {}
                    Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                    Err(err) => found.unreadable.push((e.path(), err)),
                }
            }
        }
    }
    found.files.sort_by_cached_key(|c| (c.mtime, c.id.born, name_order(live, &c.path)));
    match candidate(live, true, decoder) {
        Ok(Some(c)) => found.files.push(c),
        Ok(None) => {}
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => found.unreadable.push((live.to_path_buf(), err)),
    }
    found
}

/// One file's facts; `None` for something that is no regular file.
pub(crate) fn candidate(path: &Path, live: bool, decoder: &Decoder) -> io::Result<Option<Candidate>> {
    let file = fs::File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok(None);
    }
    let encoding = Encoding::detect(&file)?.unwrap_or_else(|| Encoding::from_name(path));
    drop(file);
    // An encrypted file without its password (or with a wrong one) fails here: reported as unreadable.
    let prefix = decode::decoded_prefix(path, HEAD_LEN, decoder)?;
    let mtime = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
    Ok(Some(Candidate { path: path.to_path_buf(), id: FileId::of(&meta), meta, live, encoding, prefix, mtime }))
}

/// Whether `name` looks like a rotated `live` log: it starts with the live name's stem followed by a
/// separator and carries a rotation token (a number or a date) after it, compressed or not.
/// `audit.log` → `audit.log.1`, `audit.log-20261201.gz`; `audit_filter.log` →
/// `audit_filter.20261201T120000-1.log`, `audit.20261201T101500.log.20261130T090000-1.enc`.
pub(crate) fn is_sibling(live: &str, name: &str) -> bool {
    let base = decode::strip_suffix(name);
    let live_base = decode::strip_suffix(live);
    if base == live_base {
        return false;
    }
    let stem = live_base.rsplit_once('.').map_or(live_base, |(s, _)| s);
    let Some(rest) = base.strip_prefix(stem) else { return false };
    rest.starts_with(['.', '-', '_']) && rest.bytes().any(|b| b.is_ascii_digit())
}

/// Tie-break between files of the same modification and birth time: dates ascending (older first),
/// small numbers descending (shifting rotation, the default of the servers and logrotate).
fn name_order(live: &Path, path: &Path) -> (u64, std::cmp::Reverse<u64>, PathBuf) {
    let live_name = live.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let rest = decode::strip_suffix(name).strip_prefix(live_name).unwrap_or(name);
    let digits: String = rest.chars().filter(char::is_ascii_digit).take(19).collect();
    let n: u64 = digits.parse().unwrap_or(0);
    if digits.len() >= 8 {
        (n, std::cmp::Reverse(0), path.to_path_buf())
    } else {
        (0, std::cmp::Reverse(n), path.to_path_buf())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotated_names_of_every_scheme_are_siblings() {
        for n in ["audit.log.1", "audit.log.12", "audit.log.1.gz", "audit.log-20261201", "audit.log-20261201.gz", "audit.log.20261201", "audit.log-2026120114", "audit.log.20261201-120000.gz"] {
            assert!(is_sibling("audit.log", n), "{n}");
        }
        for n in ["audit_filter.20261201T120000-1.log", "audit_filter.20261201T120000-1.log.gz"] {
            assert!(is_sibling("audit_filter.log", n), "{n}");
            assert!(is_sibling("audit_filter.log.gz", n), "{n}");
        }
        for n in ["audit.log.1.enc", "audit.log.1.gz.enc", "audit.20261201T101500.log.20261130T090000-1.enc", "audit.20261201T101500.log.gz.20261130T090000-1.enc"] {
            assert!(is_sibling("audit.log", n), "{n}");
        }
        for n in ["audit.log", "audit.log.gz", "audit.log.enc", "audit.log.bak", "auditx.log.1", "other.log.1"] {
            assert!(!is_sibling("audit.log", n), "{n}");
        }
    }
}
