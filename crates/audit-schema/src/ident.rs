//! Identifiers from configuration: validated before they are quoted into SQL.

/// An identifier (or server name) that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid identifier {name:?}: {reason}")]
pub struct IdentError {
    /// The identifier as given.
    pub name: String,
    /// Why it was refused.
    pub reason: &'static str,
}

/// Checks an identifier from configuration: 1 to `max` characters of `[A-Za-z0-9_$]`, not all digits.
///
/// Stricter than MySQL, on purpose: such a name never needs escaping inside backquotes or quotes and
/// reads the same on every server and in every shell.
pub fn validate_ident(name: &str, max: usize) -> Result<(), IdentError> {
    let err = |reason| Err(IdentError { name: name.to_string(), reason });
    if name.is_empty() {
        return err("empty");
    }
    if name.len() > max {
        return err("too long");
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$') {
        return err("only letters, digits, '_' and '$' are allowed");
    }
    if name.bytes().all(|b| b.is_ascii_digit()) {
        return err("must not be all digits");
    }
    Ok(())
}

/// Quotes a validated identifier with backquotes.
pub fn quote_ident(name: &str) -> Result<String, IdentError> {
    validate_ident(name, 64)?;
    Ok(format!("`{name}`"))
}

/// A validated identifier as a string literal (for `information_schema` lookups in DDL scripts, where
/// no parameters can be bound).
pub fn quote_ident_literal(name: &str) -> Result<String, IdentError> {
    validate_ident(name, 64)?;
    Ok(format!("'{name}'"))
}

/// Adds the `ident` (validate, then backquote) and `ident_literal` (validate, then single-quote)
/// filters to a template environment. An invalid identifier makes rendering fail instead of producing
/// SQL.
pub fn add_ident_filter(env: &mut minijinja::Environment<'_>) {
    fn to_err(e: IdentError) -> minijinja::Error {
        minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
    }
    env.add_filter("ident", |name: String| quote_ident(&name).map_err(to_err));
    env.add_filter("ident_literal", |name: String| quote_ident_literal(&name).map_err(to_err));
}
