//! `audit-ingest backfill`: import files once, oldest first, each under its own finished source. A
//! file whose content a source of the server stored already (a copy of the live log, its `.gz`, the
//! live log itself) is skipped, or read only past what was stored, and said so; the summary counts
//! only the rows really inserted.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use ingest::decode::{Decoder, Encoding};
use ingest::known::{self, Verdict};
use ingest::Summary;

use crate::progress::Progress;
use crate::{decrypt_args, prepare, DbArgs, Prepared, ReadArgs};

/// Import a log and its rotated files once, oldest first; resumable (it keeps a checkpoint like
/// follow), and prints a summary. A file whose content is stored already, under whatever name,
/// inode or compression, is skipped (or read only past what was stored). Each file's source is
/// finished when it was read to its end: the staleness check does not wait for it to check in.
#[derive(Debug, Args)]
#[command(after_help = concat!(crate::server_note!(), "\n\n", decrypt_args::help!()))]
pub struct BackfillArgs {
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    read: ReadArgs,
    #[command(flatten)]
    decrypt: decrypt_args::DecryptArgs,
    /// The files, in any order: they are read oldest first (by modification time).
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

pub async fn run(a: BackfillArgs) -> Result<ExitCode> {
    let db = a.db.resolve()?;
    // Oldest first: rotated files before the live one.
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = a
        .files
        .iter()
        .map(|f| Ok((std::fs::metadata(f).with_context(|| format!("{}: cannot read", f.display()))?.modified()?, f.clone())))
        .collect::<Result<_>>()?;
    files.sort();
    let decoder = Decoder::with_key(a.decrypt.key()?);
    // A file that cannot be decrypted (no password, a wrong one) stops the run before anything is
    // stored. The same look gives each file's size and whether its bytes on disk are its log (plain),
    // for the progress bar.
    let mut sizes = Vec::with_capacity(files.len());
    for (_, path) in &files {
        let file = std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
        let size = file.metadata()?.len();
        let encoding = Encoding::detect(&file)?;
        sizes.push((size, encoding.unwrap_or_else(|| Encoding::from_name(path)) == Encoding::Plain));
        if encoding == Some(Encoding::Encrypted) {
            ingest::decode::decode_file(file, path, &decoder).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        }
    }
    let mut total = Summary::default();
    let mut skipped = 0;
    let mut progress = Progress::new(sizes.iter().map(|(n, _)| n).sum());
    for ((_, path), &(size, plain)) in files.iter().zip(&sizes) {
        let mut read = a.read.clone();
        if read.source.is_none() {
            // Keyed by the file's identity, not its name: rotation renames files between runs.
            let meta = std::fs::metadata(path)?;
            read.source = Some(format!("backfill:{}", ingest::identity::FileId::of(&meta).key()));
        }
        let Prepared { sink, builder } = prepare(db.clone(), &read, path)?;
        // The known files are read from the tables, which must be there first.
        sink.ensure_schema(!read.no_create_schema).await?;
        // Files whose content this one starts with, and that were really read (rows of theirs stored).
        let mut stored = Vec::new();
        for k in known::matching(path, &decoder, &sink.known_files().await?).with_context(|| format!("{}: cannot read", path.display()))? {
            if sink.file_has_rows(&k.file.file.key()).await? {
                stored.push(k);
            }
        }
        match known::classify(path, &decoder, &stored).with_context(|| format!("{}: cannot read", path.display()))? {
            Verdict::All { by } => {
                progress.println(&format!("{}: skipped: its content is stored already (read by {}, to offset {})", path.display(), by.describe(), by.file.len));
                progress.skip(size);
                skipped += 1;
                sink.close().await?;
                continue;
            }
            Verdict::Partly { by } => {
                progress.println(&format!("{}: its first {} bytes are stored already (read by {}): reading the rest", path.display(), by.file.len, by.describe()));
            }
            Verdict::New => {}
        }
        let ingester = builder.known_files(stored.into_iter().map(|k| k.file).collect()).decoder(decoder.clone()).one_pass().build().map_err(crate::cli_error)?;
        let metrics = ingester.metrics().clone();
        let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        let s = progress.file(&name, size, plain, &metrics, ingester.run(std::future::pending())).await.map_err(crate::cli_error)?;
        progress.println(&format!("{}: {}", path.display(), counts(&s)));
        total.records += s.records;
        total.replayed += s.replayed;
        total.dead_letters += s.dead_letters;
        total.filtered += s.filtered;
        sink.close().await?;
    }
    progress.finish();
    let skipped = if skipped > 0 { format!(" ({skipped} skipped: stored already)") } else { String::new() };
    crate::output::outln!("backfill: {} files{skipped}, {}", files.len(), counts(&total));
    Ok(if total.dead_letters > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// `N new records stored, M already stored, ...`: only rows really inserted count as stored.
fn counts(s: &Summary) -> String {
    format!("{} new records stored, {} already stored, {} malformed (dead-lettered), {} filtered", s.records, s.replayed, s.dead_letters, s.filtered)
}
