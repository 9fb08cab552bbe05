//! Label values from attacker-chosen text (user names, host names): bounded in length and free of bytes
//! that scrapers or people could misread. The exposition format's own escapes (`\\`, `\"`, `\n`) are
//! applied by the encoder; this only decides what text a label carries.

/// Longest label value kept, in bytes; longer text is cut at a character boundary and marked with `…`.
/// MySQL user names have at most 80 characters and host names 255: a longer value is an attack.
pub const MAX_LABEL_BYTES: usize = 256;

/// The text a label shows for `raw`: control characters (C0, DEL, C1) other than the newline become
/// visible Unicode control pictures (U+2400 + code, ␡ for DEL, U+FFFD for C1), and the value is cut at
/// [`MAX_LABEL_BYTES`]. NUL, TAB and CR never reach the output raw. The newline is kept: the encoder
/// escapes it as `\n`, which every Prometheus parser reads back as a newline.
pub fn label_value(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len().min(MAX_LABEL_BYTES));
    for c in raw.chars() {
        let shown = match c {
            '\n' => '\n',
            '\u{0}'..='\u{1f}' => char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}'),
            '\u{7f}' => '\u{2421}',
            '\u{80}'..='\u{9f}' => '\u{fffd}',
            c => c,
        };
        out.push(shown);
        if out.len() > MAX_LABEL_BYTES {
            let mut cut = MAX_LABEL_BYTES - '…'.len_utf8();
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            out.push('…');
            return out;
        }
    }
    out
}

/// The exposition format's escaping of a label value (`\\`, `\"`, `\n`), for encoders that do not do it.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_become_visible() {
        assert_eq!(label_value("a\u{0}b\tc\rd\u{7f}e\u{85}f"), "a\u{2400}b\u{2409}c\u{240d}d\u{2421}e\u{fffd}f");
        assert_eq!(label_value("line1\nline2"), "line1\nline2");
        assert_eq!(label_value("root"), "root");
        assert_eq!(label_value("évè\"\\"), "évè\"\\");
    }

    #[test]
    fn long_values_are_cut_at_a_char_boundary() {
        let v = label_value(&"é".repeat(1000));
        assert!(v.len() <= MAX_LABEL_BYTES, "{}", v.len());
        assert!(v.ends_with('…'));
        let fits = "x".repeat(MAX_LABEL_BYTES);
        assert_eq!(label_value(&fits), fits);
        assert_eq!(label_value(&format!("{fits}y")).len(), MAX_LABEL_BYTES);
    }

    #[test]
    fn escape_follows_the_text_format() {
        assert_eq!(escape("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    }
}
