//! Alert text for a terminal or a log: values in alerts come from whoever attempted a login (user names,
//! hosts, SQL text), so before `check-gen run` prints them every control character is escaped (a raw
//! `\n` would forge an extra alert line, an ESC sequence would rewrite the terminal) and every value is
//! bounded in length. Format strings (`{}`, `%s`) are left as they are: nothing here formats them.
use std::collections::BTreeMap;
use std::fmt::Write;

use crate::cells::Alert;

/// Longest summary, description or label value printed, in characters (before escaping).
pub const MAX_VALUE_CHARS: usize = 512;
/// Longest label name printed, in characters.
pub const MAX_LABEL_NAME_CHARS: usize = 64;

/// Characters that change how the text around them is shown: C0 and C1 controls, DEL, and the Unicode
/// format characters that reorder or hide text (bidirectional overrides and isolates, zero-width
/// characters, line and paragraph separators).
fn is_hostile(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// `s` with hostile characters escaped (`\n`, `\r`, `\t`, `\\`, else `\u{XX}`) and at most `max` of its
/// characters kept; a cut value ends with `…(N more chars)`. Replacement characters (U+FFFD) from
/// invalid UTF-8 stay as they are: they are printable and show that bytes were lost.
pub fn escape(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max * 2));
    let mut chars = s.chars();
    for (kept, c) in chars.by_ref().enumerate() {
        if kept == max {
            let rest = 1 + chars.count();
            let _ = write!(out, "…({rest} more chars)");
            return out;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\\' => out.push_str("\\\\"),
            c if is_hostile(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// The alert with every attacker-reachable field escaped and bounded, for text and JSON output alike.
/// The check name and severity come from the check itself and are bounded too, as a check file can be
/// anyone's.
pub fn sanitize_alert(a: &Alert) -> Alert {
    let labels: BTreeMap<String, String> = a
        .labels
        .iter()
        .map(|(k, v)| (escape(k, MAX_LABEL_NAME_CHARS), escape(v, MAX_VALUE_CHARS)))
        .collect();
    Alert {
        check: escape(&a.check, MAX_LABEL_NAME_CHARS * 2),
        summary: escape(&a.summary, MAX_VALUE_CHARS),
        description: escape(&a.description, MAX_VALUE_CHARS),
        severity: escape(&a.severity, MAX_LABEL_NAME_CHARS),
        labels,
        read_more_url: escape(&a.read_more_url, MAX_VALUE_CHARS),
    }
}

/// The lines `check-gen run --format text` prints for one alert as the script returned it (escaped
/// here, once).
pub fn text_lines(a: &Alert) -> Vec<String> {
    let a = sanitize_alert(a);
    let mut lines = vec![format!("[{}] {}: {}", a.severity, a.check, a.summary)];
    if !a.description.is_empty() {
        lines.push(format!("    {}", a.description));
    }
    let labels: Vec<String> = a.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    lines.push(format!("    labels: {}", labels.join(", ")));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(user: &str) -> Alert {
        Alert {
            check: "mysql_audit_failed_logins_24h".into(),
            summary: format!("failed logins by {user}"),
            description: format!("user {user} from 10.0.0.1"),
            severity: "warning".into(),
            labels: BTreeMap::from([("user".to_string(), user.to_string())]),
            read_more_url: String::new(),
        }
    }

    #[test]
    fn a_newline_in_a_user_name_cannot_forge_a_line() {
        let lines = text_lines(&alert("bob\n[error] mysql_audit_x: root logged in\r"));
        assert_eq!(lines.len(), 3, "{lines:#?}");
        assert!(lines[0].contains("bob\\n[error] mysql_audit_x: root logged in\\r"), "{}", lines[0]);
        assert!(lines.iter().all(|l| !l.contains('\n') && !l.contains('\r')));
    }

    #[test]
    fn ansi_escapes_are_shown_not_obeyed() {
        let lines = text_lines(&alert("\u{1b}[2K\u{1b}[1Aevil\u{7}"));
        let all = lines.join("\n");
        assert!(!all.contains('\u{1b}') && !all.contains('\u{7}'));
        assert!(all.contains("\\u{1b}[2K\\u{1b}[1Aevil\\u{7}"), "{all}");
    }

    #[test]
    fn bidi_overrides_and_c1_controls_are_escaped() {
        assert_eq!(escape("a\u{202E}b\u{85}c\u{2066}", 100), "a\\u{202e}b\\u{85}c\\u{2066}");
    }

    #[test]
    fn ten_kilobytes_are_cut_to_the_bound_with_a_count() {
        let long = "x".repeat(10 * 1024);
        let a = sanitize_alert(&alert(&long));
        let v = &a.labels["user"];
        assert!(v.starts_with(&"x".repeat(MAX_VALUE_CHARS)));
        assert!(v.ends_with(&format!("…({} more chars)", 10 * 1024 - MAX_VALUE_CHARS)), "{}", &v[v.len() - 30..]);
        assert!(a.summary.chars().count() < MAX_VALUE_CHARS + 30);
        // Escaping never grows a value past 10 bytes a character (\u{10ffff}).
        let esc = escape(&"\u{1b}".repeat(10 * 1024), MAX_VALUE_CHARS);
        assert!(esc.len() <= MAX_VALUE_CHARS * 10 + 30, "{}", esc.len());
    }

    #[test]
    fn the_bound_counts_characters_not_bytes() {
        // A cut inside a multi-byte character would panic or corrupt; é is two bytes.
        assert_eq!(escape("ééé", 2), "éé…(1 more chars)");
        assert_eq!(escape("ééé", 3), "ééé");
    }

    #[test]
    fn format_strings_pass_through_untouched() {
        let lines = text_lines(&alert("{} {0} %s %n %x"));
        assert!(lines[0].ends_with("failed logins by {} {0} %s %n %x"), "{}", lines[0]);
    }

    #[test]
    fn invalid_utf8_shows_as_replacement_characters() {
        // The runner turns MySQL bytes into text with from_utf8_lossy; what reaches the alert is printable.
        let user = String::from_utf8_lossy(b"ro\xffot\xc3").into_owned();
        let a = sanitize_alert(&alert(&user));
        assert_eq!(a.labels["user"], "ro\u{FFFD}ot\u{FFFD}");
    }

    #[test]
    fn json_output_carries_the_escaped_values() {
        let a = sanitize_alert(&alert("a\nb\u{1b}"));
        let json = serde_json::to_string(&a).unwrap_or_default();
        // JSON escapes again on its own; the decoded value still holds no control character.
        let back: Alert = serde_json::from_str(&json).unwrap_or_else(|_| alert(""));
        assert_eq!(back.labels["user"], "a\\nb\\u{1b}");
        assert!(!back.description.chars().any(char::is_control));
    }

    #[test]
    fn backslashes_are_doubled_so_escapes_cannot_be_faked() {
        assert_eq!(escape("a\\nb", 10), "a\\\\nb");
    }
}
