//! What the commands print: standard output that ends the command quietly when the reader goes away
//! (`audit-ingest status | head -1`), and whether standard error gets colours.

use std::io::{self, IsTerminal, Write};

/// Prints a line on standard output; a closed pipe is an error [`is_broken_pipe`] recognises, never a
/// panic (as `println!` would).
pub fn line(args: std::fmt::Arguments<'_>) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_fmt(args)?;
    out.write_all(b"\n")
}

/// `println!` that returns the write's error with `?` (see [`line`]).
macro_rules! outln {
    ($($t:tt)*) => {
        $crate::output::line(format_args!($($t)*))?
    };
}
pub(crate) use outln;

/// Whether an error is (caused by) writing to a closed pipe.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<io::Error>().is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe))
}

/// Colours on standard error only for a terminal, and never with `NO_COLOR` set (no-color.org):
/// journald and files get plain text.
pub fn stderr_colours() -> bool {
    io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
