//! The raw table's `statement_class` and `statement` columns (schema version 4): what kind of
//! statement a query record holds, decided once when it is stored, so that a query-level check is one
//! index range over `(server, statement_class, event_time)` instead of a scan of every statement's text.
//!
//! The class is decided from the record's whole SQL text (never the clipped column: a statement padded
//! with a long comment before `INTO OUTFILE` is still classified by what it does), skipping comments
//! and string literals but reading MySQL's executable comments (`/*! ... */`, `/*M! ... */`), which the
//! server runs. The classes the checks rely on are fixed names, listed below; any other statement gets
//! the record's own `command_class` (Percona, audit_log_filter) or its first keywords (MariaDB, which
//! writes none), lower-case, `[a-z0-9_]`, at most [`MAX_CLASS_LEN`] characters.

/// Characters of SQL text kept in the `statement` column; the whole text stays in `audit_record`.
pub const STATEMENT_CHARS: usize = 1024;
/// The longest class.
pub const MAX_CLASS_LEN: usize = 32;

/// Classes of statements that change accounts or privileges (`mysql_audit_privilege_change`).
pub const PRIVILEGE_CLASSES: &[&str] =
    &["grant", "revoke", "create_user", "drop_user", "rename_user", "alter_user", "set_password", "create_role", "drop_role", "set_default_role"];
/// Classes of statements that blind the audit log (`mysql_audit_logging_tampered`).
pub const TAMPER_CLASSES: &[&str] = &["uninstall_audit_plugin", "set_audit_variable", "audit_filter_change", "sql_log_off"];
/// Classes of statements that read or write server files (`mysql_audit_file_access`).
pub const FILE_CLASSES: &[&str] = &["select_into_outfile", "select_into_dumpfile", "load_file", "load_data", "create_function_soname"];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// A keyword or unquoted identifier, lower-case (`@@global.x` gives `global`, `x`).
    Word(String),
    /// A string literal's content, lower-case.
    Str(String),
    /// A back-quoted identifier, lower-case.
    Ident(String),
    /// `(`: tells a function call from a column of the same name.
    Open,
    /// Any other punctuation.
    Punct,
}

/// The statement's tokens, comments skipped but executable comments read.
fn tokens(sql: &str) -> Vec<Tok> {
    let b = sql.as_bytes();
    let (mut i, mut out) = (0, Vec::new());
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        match c {
            b'/' if next == Some(b'*') => {
                // `/*!NNNNN` and `/*M!NNNNN` run as SQL: drop the marker, read what follows.
                let rest = &b[i + 2..];
                let marker = if rest.first() == Some(&b'!') {
                    Some(1)
                } else if rest.starts_with(b"M!") {
                    Some(2)
                } else {
                    None
                };
                if let Some(m) = marker {
                    i += 2 + m;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                } else {
                    i = find(b, i + 2, b"*/").map_or(b.len(), |e| e + 2);
                }
            }
            b'*' if next == Some(b'/') => i += 2, // the end of an executable comment
            b'#' => i = find(b, i, b"\n").map_or(b.len(), |e| e + 1),
            b'-' if next == Some(b'-') && b.get(i + 2).is_none_or(|c| c.is_ascii_whitespace()) => i = find(b, i, b"\n").map_or(b.len(), |e| e + 1),
            b'\'' | b'"' | b'`' => {
                let (text, end) = quoted(b, i);
                out.push(if c == b'`' { Tok::Ident(text) } else { Tok::Str(text) });
                i = end;
            }
            b'(' => {
                out.push(Tok::Open);
                i += 1;
            }
            c if c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80 => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$' || b[i] >= 0x80) {
                    i += 1;
                }
                out.push(Tok::Word(String::from_utf8_lossy(&b[start..i]).to_lowercase()));
            }
            c if c.is_ascii_whitespace() || c == b'@' || c == b'.' => i += 1,
            _ => {
                out.push(Tok::Punct);
                i += 1;
            }
        }
    }
    out
}

fn find(b: &[u8], from: usize, pat: &[u8]) -> Option<usize> {
    b.get(from..)?.windows(pat.len()).position(|w| w == pat).map(|p| p + from)
}

/// A quoted string or identifier starting at `start`: its content (doubled quotes and backslash
/// escapes undone) and the index after its closing quote (the end when unclosed).
fn quoted(b: &[u8], start: usize) -> (String, usize) {
    let q = b[start];
    let (mut i, mut text) = (start + 1, Vec::new());
    while i < b.len() {
        match b[i] {
            c if c == q && b.get(i + 1) == Some(&q) => {
                text.push(q);
                i += 2;
            }
            c if c == q => return (String::from_utf8_lossy(&text).to_lowercase(), i + 1),
            b'\\' if q != b'`' && i + 1 < b.len() => {
                text.push(b[i + 1]);
                i += 2;
            }
            c => {
                text.push(c);
                i += 1;
            }
        }
    }
    (String::from_utf8_lossy(&text).to_lowercase(), b.len())
}

fn word(t: Option<&Tok>) -> &str {
    match t {
        Some(Tok::Word(w)) => w,
        _ => "",
    }
}

/// Whether a name belongs to an audit plugin's or component's settings, tables or functions.
fn is_audit_name(n: &str) -> bool {
    n.starts_with("audit_log") || n.starts_with("server_audit") || n.contains("audit_log_filter")
}

/// The statement class of a query record: from its SQL text when it has one, else from its
/// `command_class`; `None` when it has neither (logins, disconnects).
pub fn classify(command_class: Option<&str>, sql: Option<&str>) -> Option<String> {
    let from_text = sql.filter(|s| !s.trim().is_empty()).and_then(classify_text);
    from_text.or_else(|| command_class.and_then(classify_command))
}

/// The class a server's `command_class` (MySQL's `sql_command` name) stands for.
fn classify_command(c: &str) -> Option<String> {
    let c = normalise(c)?;
    Some(match c.as_str() {
        "revoke_all" | "revoke_role" => "revoke".into(),
        "grant_roles" | "grant_role" => "grant".into(),
        "set_role_default" | "alter_user_default_role" => "set_default_role".into(),
        _ => c,
    })
}

/// `[a-z0-9_]` of `s`, lower-case, bounded: a class never carries anything a check would have to escape.
fn normalise(s: &str) -> Option<String> {
    let n: String = s.chars().map(|c| c.to_ascii_lowercase()).map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).take(MAX_CLASS_LEN).collect();
    let n = n.trim_matches('_').to_string();
    (!n.is_empty()).then_some(n)
}

fn classify_text(sql: &str) -> Option<String> {
    let t = tokens(sql);
    let first = word(t.first());
    let second = word(t.get(1));
    let words = || t.iter().filter_map(|x| if let Tok::Word(w) = x { Some(w.as_str()) } else { None });
    let calls = |name: &dyn Fn(&str) -> bool| t.windows(2).any(|w| matches!(&w[0], Tok::Word(n) if name(n)) && w[1] == Tok::Open);
    // Anything that reads or writes a server file, whatever the statement around it.
    let into = t.windows(2).find_map(|w| match (&w[0], &w[1]) {
        (Tok::Word(a), Tok::Word(b)) if a == "into" && (b == "outfile" || b == "dumpfile") => Some(b.clone()),
        _ => None,
    });
    if let Some(target) = into {
        return Some(format!("select_into_{target}"));
    }
    if first == "load" && (second == "data" || second == "xml") {
        return Some("load_data".into());
    }
    if calls(&|n| n == "load_file") {
        return Some("load_file".into());
    }
    let obj = create_object(&t);
    match first {
        "create" if obj == "function" && words().any(|w| w == "soname") => return Some("create_function_soname".into()),
        "create" if obj == "user" || obj == "role" => return Some(format!("create_{obj}")),
        "drop" if obj == "user" || obj == "role" => return Some(format!("drop_{obj}")),
        "rename" if second == "user" => return Some("rename_user".into()),
        "alter" if second == "user" => return Some("alter_user".into()),
        "grant" => return Some("grant".into()),
        "revoke" => return Some("revoke".into()),
        "uninstall" => {
            let audit = t.iter().skip(2).any(|x| matches!(x, Tok::Word(n) | Tok::Str(n) | Tok::Ident(n) if n.contains("audit")));
            return Some(if audit { "uninstall_audit_plugin".into() } else { format!("uninstall_{}", if second == "component" { "component" } else { "plugin" }) });
        }
        "set" => {
            if second == "password" {
                return Some("set_password".into());
            }
            if second == "default" && word(t.get(2)) == "role" {
                return Some("set_default_role".into());
            }
            if words().skip(1).any(is_audit_name) {
                return Some("set_audit_variable".into());
            }
            if words().any(|w| w == "sql_log_off") {
                return Some("sql_log_off".into());
            }
        }
        _ => {}
    }
    // Filter functions (a filter or user removed or replaced), or the filter tables written directly.
    if calls(&|n| n.starts_with("audit_log_filter_") && !n.starts_with("audit_log_filter_get")) {
        return Some("audit_filter_change".into());
    }
    let writes = matches!(first, "insert" | "replace" | "update" | "delete" | "truncate" | "drop" | "alter" | "rename");
    if writes && t.iter().any(|x| matches!(x, Tok::Word(n) | Tok::Ident(n) if n == "audit_log_filter" || n == "audit_log_user")) {
        return Some("audit_filter_change".into());
    }
    let lead = match first {
        "create" | "drop" | "alter" | "show" | "install" | "uninstall" | "flush" | "lock" | "start" => {
            if obj.is_empty() {
                first.to_string()
            } else {
                format!("{first}_{obj}")
            }
        }
        _ => first.to_string(),
    };
    normalise(&lead)
}

/// The object word of a `CREATE`/`DROP`/`ALTER`/... statement, past `OR REPLACE`, `DEFINER = ...`,
/// `TEMPORARY`, `AGGREGATE`, `SQL SECURITY ...` (`IF NOT EXISTS` comes after the object): `function`.
fn create_object(t: &[Tok]) -> &str {
    let mut i = 1;
    while let Some(x) = t.get(i) {
        match x {
            Tok::Word(w) if matches!(w.as_str(), "or" | "replace" | "temporary" | "aggregate" | "online" | "offline" | "ignore" | "algorithm" | "undefined" | "merge" | "temptable") => i += 1,
            Tok::Word(w) if w == "definer" => {
                // `DEFINER = user@host` or `= CURRENT_USER[()]`: skip to the next keyword we know.
                i += 1;
                while t.get(i).is_some_and(|x| !matches!(x, Tok::Word(w) if is_object(w))) {
                    i += 1;
                }
            }
            Tok::Word(w) if w == "sql" => i += 3, // SQL SECURITY DEFINER|INVOKER
            Tok::Punct => i += 1,
            Tok::Word(w) => return w,
            _ => return "",
        }
    }
    ""
}

fn is_object(w: &str) -> bool {
    matches!(w, "function" | "procedure" | "view" | "trigger" | "event" | "user" | "role" | "table" | "database" | "schema" | "index" | "server")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(sql: &str) -> String {
        classify(None, Some(sql)).unwrap_or_default()
    }

    #[test]
    fn privilege_changes_are_told_apart() {
        assert_eq!(c("GRANT ALL ON *.* TO 'x'@'%'"), "grant");
        assert_eq!(c("grant r1 to bob"), "grant");
        assert_eq!(c("REVOKE SELECT ON db.* FROM u"), "revoke");
        assert_eq!(c("CREATE USER IF NOT EXISTS 'evil'@'%' IDENTIFIED BY 'x'"), "create_user");
        assert_eq!(c("create or replace user u"), "create_user");
        assert_eq!(c("DROP USER u"), "drop_user");
        assert_eq!(c("RENAME USER a TO b"), "rename_user");
        assert_eq!(c("ALTER USER root@localhost IDENTIFIED BY 'p'"), "alter_user");
        assert_eq!(c("SET PASSWORD FOR u = PASSWORD('x')"), "set_password");
        assert_eq!(c("set password = 'x'"), "set_password");
        assert_eq!(c("CREATE ROLE r"), "create_role");
        assert_eq!(c("SET DEFAULT ROLE r FOR u"), "set_default_role");
        for p in ["grant", "create_user", "set_password"] {
            assert!(PRIVILEGE_CLASSES.contains(&p));
        }
    }

    #[test]
    fn tampering_is_found_in_every_spelling() {
        assert_eq!(c("SET GLOBAL server_audit_logging=OFF"), "set_audit_variable");
        assert_eq!(c("set @@global.server_audit_events = ''"), "set_audit_variable");
        assert_eq!(c("SET PERSIST audit_log_policy = NONE"), "set_audit_variable");
        assert_eq!(c("/*!40101 SET GLOBAL audit_log_filter_id = 0 */"), "set_audit_variable");
        assert_eq!(c("SET SESSION sql_log_off = 1"), "sql_log_off");
        assert_eq!(c("UNINSTALL PLUGIN server_audit"), "uninstall_audit_plugin");
        assert_eq!(c("UNINSTALL SONAME 'server_audit'"), "uninstall_audit_plugin");
        assert_eq!(c("UNINSTALL COMPONENT 'file://component_audit_log_filter'"), "uninstall_audit_plugin");
        assert_eq!(c("UNINSTALL PLUGIN daemon_example"), "uninstall_plugin");
        assert_eq!(c("SELECT audit_log_filter_remove_user('%')"), "audit_filter_change");
        assert_eq!(c("SELECT audit_log_filter_set_user('%', 'log_none')"), "audit_filter_change");
        assert_eq!(c("DELETE FROM mysql.audit_log_filter"), "audit_filter_change");
        assert_eq!(c("SELECT * FROM mysql.audit_log_filter"), "select");
        assert_eq!(c("SELECT audit_log_filter_get_user('x')"), "select", "reading filters changes nothing");
        assert_eq!(c("SET GLOBAL max_connections = 10"), "set");
        // A comment or a string naming the variable is not a change of it.
        assert_eq!(c("SET @x = 'server_audit_logging' /* server_audit_logging */"), "set");
    }

    #[test]
    fn file_access_is_found_wherever_it_hides() {
        assert_eq!(c("SELECT * FROM t INTO OUTFILE '/tmp/x'"), "select_into_outfile");
        assert_eq!(c("select 1 into dumpfile '/tmp/y'"), "select_into_dumpfile");
        assert_eq!(c(&format!("SELECT /* {} */ a FROM t INTO OUTFILE '/tmp/x'", "pad ".repeat(2000))), "select_into_outfile");
        assert_eq!(c("INSERT INTO t SELECT LOAD_FILE('/etc/passwd')"), "load_file");
        assert_eq!(c("SELECT load_file  ('/etc/shadow')"), "load_file");
        assert_eq!(c("SELECT load_file FROM t"), "select", "a column of that name reads no file");
        assert_eq!(c("LOAD DATA INFILE '/etc/passwd' INTO TABLE t"), "load_data");
        assert_eq!(c("load xml local infile 'x' into table t"), "load_data");
        assert_eq!(c("CREATE AGGREGATE FUNCTION f RETURNS STRING SONAME 'evil.so'"), "create_function_soname");
        assert_eq!(c("CREATE FUNCTION f() RETURNS INT RETURN 1"), "create_function");
        assert_eq!(c("SELECT 'into outfile' FROM t"), "select", "inside a string it is data");
        assert_eq!(c("-- into outfile\nSELECT 1"), "select");
        assert_eq!(c("# into outfile\nSELECT 1"), "select");
    }

    #[test]
    fn other_statements_get_a_plain_bounded_class() {
        assert_eq!(c("  select 1"), "select");
        assert_eq!(c("CREATE TABLE t (a int)"), "create_table");
        assert_eq!(c("create definer=`root`@`localhost` procedure p() select 1"), "create_procedure");
        assert_eq!(c(&format!("{}x", "a".repeat(100))).len(), MAX_CLASS_LEN);
        assert_eq!(classify(Some("Create_User"), None).as_deref(), Some("create_user"));
        assert_eq!(classify(Some("revoke_all"), Some("")).as_deref(), Some("revoke"));
        assert_eq!(classify(Some("select"), Some("GRANT ALL ON *.* TO x")).as_deref(), Some("grant"), "the text decides");
        assert_eq!(classify(Some("x\n\u{1b}[31m"), None).as_deref(), Some("x___31m"));
        assert_eq!(classify(None, None), None);
        assert_eq!(classify(None, Some("/* only a comment */")), None);
        assert_eq!(classify(Some("ééé"), None), None);
    }
}
