//! The `version:` of a PMM check: it decides the file's keys (`tiers` or `advisor`, `query` or
//! `queries`) and what a script's `docs` argument holds.

/// The version of a check in a PMM checks file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileVersion {
    /// PMM 2.9 to 2.35 (and accepted up to 3.4): `tiers`, one `query`; `docs` is that query's rows.
    V1,
    /// PMM 2.28+: `advisor`, a list of `queries`; `docs` is one list of rows a query.
    V2,
}

impl FileVersion {
    /// The number written as `version:` in the file (and given to the templates).
    pub fn number(self) -> u8 {
        match self {
            FileVersion::V1 => 1,
            FileVersion::V2 => 2,
        }
    }

    /// The version of a `version:` value, if PMM knows it.
    pub fn from_number(n: i64) -> Option<FileVersion> {
        match n {
            1 => Some(FileVersion::V1),
            2 => Some(FileVersion::V2),
            _ => None,
        }
    }
}

impl std::fmt::Display for FileVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.number())
    }
}

#[cfg(test)]
mod tests {
    use super::FileVersion;

    #[test]
    fn numbers_round_trip() {
        for v in [FileVersion::V1, FileVersion::V2] {
            assert_eq!(FileVersion::from_number(v.number().into()), Some(v));
        }
        assert_eq!(FileVersion::from_number(3), None);
        assert_eq!(FileVersion::from_number(0), None);
    }
}
