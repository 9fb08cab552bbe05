//! How a command's fatal error is printed: the causes of the chain, each said once (the driver's
//! errors repeat their cause's text in their own), and a hint for the causes an administrator fixes
//! with a setting.

use std::io;

/// `context: cause: cause`, leaving out a cause whose text the line already holds.
pub fn report(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    let mut line = ingest::sink::said_once(&line);
    if let Some(hint) = e.chain().find_map(hint) {
        line.push_str(" (");
        line.push_str(hint);
        line.push(')');
    }
    line
}

fn hint(cause: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    let io = cause.downcast_ref::<io::Error>()?;
    match io.kind() {
        io::ErrorKind::PermissionDenied => Some(ingest::follower::PERMISSION_HINT),
        _ => None,
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{path}: {source}")]
    struct Io {
        path: String,
        #[source]
        source: io::Error,
    }

    #[test]
    fn each_cause_once_with_the_permission_hint() {
        let e = anyhow::Error::new(Io { path: "/var/lib/mysql/audit.log".into(), source: io::Error::from_raw_os_error(13) });
        let text = report(&e);
        assert_eq!(text.matches("Permission denied").count(), 1, "{text}");
        assert!(text.starts_with("/var/lib/mysql/audit.log: Permission denied (os error 13) (The account"), "{text}");
        let e = anyhow::Error::new(io::Error::from_raw_os_error(111)).context("127.0.0.1:3306");
        assert_eq!(report(&e), "127.0.0.1:3306: Connection refused (os error 111)");
    }
}
