//! Whether a file's content was stored already, by any source of the same server, whatever the file's
//! name, inode or compression: a copy of the live log, its `.gz`, the live log itself. Told by the
//! fingerprint of the first decoded bytes, as rotation tells files apart ([`crate::identity`]).
//! A file found here is read (by [`crate::follower::FollowOptions::known`]) only past what was
//! stored, its rows keyed like the original's, so nothing is stored twice.

use std::fs::File;
use std::io;
use std::path::Path;

use crate::decode::{self, Decoder, Encoding};
use crate::identity::{head_matches, tail_fingerprint, HEAD_LEN};
use crate::sink::KnownFile;

/// What is known of a file's content.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// Nothing: read it all.
    New,
    /// Stored up to `by.file.len` decoded bytes; the file holds more (a plain copy that grew, the live
    /// log itself ahead of its follower): only the rest is read.
    Partly {
        /// The file stored, and by which source.
        by: KnownFile,
    },
    /// Everything it holds was stored.
    All {
        /// The file stored, and by which source.
        by: KnownFile,
    },
}

/// The files of `known` (from [`crate::sink::Sink::known_files`]) whose content the file at `path`
/// starts with. A checkpoint lists files it never read too (history present before its source
/// started): check that the table holds rows of a match ([`crate::sink::Sink::file_has_rows`])
/// before [`classify`] takes it for stored.
pub fn matching(path: &Path, decoder: &Decoder, known: &[KnownFile]) -> io::Result<Vec<KnownFile>> {
    let (file, _, encoding, prefix) = facts(path, decoder)?;
    Ok(known.iter().filter(|k| same_start(k, &file, encoding, &prefix)).cloned().collect())
}

fn facts(path: &Path, decoder: &Decoder) -> io::Result<(File, u64, Encoding, Vec<u8>)> {
    let file = File::open(path)?;
    let raw_len = file.metadata()?.len();
    let encoding = Encoding::detect(&file)?.unwrap_or_else(|| Encoding::from_name(path));
    let prefix = decode::decoded_prefix(path, HEAD_LEN, decoder)?;
    Ok((file, raw_len, encoding, prefix))
}

/// Whether the file starts with `k`'s content: its first bytes, and for a plain file the bytes before
/// `k`'s offset (one shorter than that, a copy taken earlier, has only its first bytes to go on).
fn same_start(k: &KnownFile, file: &File, encoding: Encoding, prefix: &[u8]) -> bool {
    head_matches(k.file.head, prefix)
        && match (k.tail, encoding) {
            (Some(t), Encoding::Plain) => tail_fingerprint(file, k.file.len).ok().flatten().is_none_or(|f| f == t),
            _ => true,
        }
}

/// Compares the file at `path` with the files stored (`known`: stored for certain, see [`matching`]).
pub fn classify(path: &Path, decoder: &Decoder, known: &[KnownFile]) -> io::Result<Verdict> {
    let (file, raw_len, encoding, prefix) = facts(path, decoder)?;
    // The match read furthest; the same content may be known to several sources.
    let Some(by) = known.iter().filter(|k| same_start(k, &file, encoding, &prefix)).max_by_key(|k| k.file.len) else {
        return Ok(Verdict::New);
    };
    // As the follower decides (the follower's plan): the same encoding grown past what was read holds new
    // bytes; another encoding of the same content (compressed since) holds nothing new.
    let by = by.clone();
    Ok(if by.file.encoding == encoding && raw_len > by.file.raw_len { Verdict::Partly { by } } else { Verdict::All { by } })
}

impl KnownFile {
    /// `source S (PATH)` or `source S`, for messages.
    pub fn describe(&self) -> String {
        match &self.path {
            Some(p) => format!("source {:?} ({p})", self.source),
            None => format!("source {:?}", self.source),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::DoneFile;
    use crate::identity::{head_fingerprint, FileId};

    fn known(content: &[u8], encoding: Encoding) -> KnownFile {
        let file = DoneFile { file: FileId::default(), head: head_fingerprint(content), len: content.len() as u64, encoding, raw_len: content.len() as u64, mtime: 0 };
        KnownFile { source: "/var/lib/mysql/audit.log".into(), path: None, file, tail: None }
    }

    #[test]
    fn copies_and_gzips_of_stored_content_are_known() {
        let dir = tempfile::tempdir().unwrap();
        let text: Vec<u8> = (0..40).map(|i| format!("{{\"audit_record\":{{\"name\":\"Connect\",\"record\":\"{i}_x\"}}}}\n")).collect::<String>().into_bytes();
        let stored = [known(&text, Encoding::Plain)];
        let copy = dir.path().join("copy.log");
        std::fs::write(&copy, &text).unwrap();
        assert!(matches!(classify(&copy, &Decoder::default(), &stored).unwrap(), Verdict::All { .. }));
        let gz = dir.path().join("copy.log.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut enc, &text).unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        assert!(matches!(classify(&gz, &Decoder::default(), &stored).unwrap(), Verdict::All { .. }));
        let mut longer = text.clone();
        longer.extend_from_slice(b"{\"audit_record\":{\"name\":\"Quit\"}}\n");
        std::fs::write(&copy, &longer).unwrap();
        assert!(matches!(classify(&copy, &Decoder::default(), &stored).unwrap(), Verdict::Partly { .. }));
        let other = dir.path().join("other.log");
        std::fs::write(&other, b"{\"audit_record\":{\"name\":\"Connect\",\"record\":\"other\"}}\n").unwrap();
        assert!(matches!(classify(&other, &Decoder::default(), &stored).unwrap(), Verdict::New));
    }
}
