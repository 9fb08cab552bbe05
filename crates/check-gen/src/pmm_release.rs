//! How each PMM release loads custom checks, from PMM's tagged sources (docs/pmm-releases.md cites the
//! tag and file of every fact): which check file version it parses, which environment variable names
//! the dev file, whether it loads bundled advisor and check files and from where, with which extension.
use std::fmt;
use std::str::FromStr;

use crate::render::Target;

/// A PMM release, `MAJOR.MINOR` (the patch level never changed how checks load).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PmmVersion {
    /// 2 or 3.
    pub major: u32,
    /// The minor release.
    pub minor: u32,
}

impl PmmVersion {
    /// `major.minor`.
    pub const fn new(major: u32, minor: u32) -> Self {
        PmmVersion { major, minor }
    }
}

/// The newest release whose sources were read; the default when no `--pmm-version` is given.
pub const NEWEST: PmmVersion = PmmVersion::new(3, 10);
/// The oldest release with custom check files this tool supports (PERCONA_TEST_CHECKS_FILE).
pub const OLDEST: PmmVersion = PmmVersion::new(2, 9);

impl fmt::Display for PmmVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl FromStr for PmmVersion {
    type Err = String;
    /// `2.36`, `2.36.0`, `v3.4.1`: the patch level is ignored.
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim().trim_start_matches('v');
        let mut parts = t.split('.');
        let num = |p: Option<&str>| p.and_then(|p| p.parse::<u32>().ok());
        let (Some(major), Some(minor)) = (num(parts.next()), num(parts.next())) else {
            return Err(format!("{s:?} is not a PMM version (MAJOR.MINOR, e.g. 2.36 or 3.4)"));
        };
        if parts.next().is_some_and(|p| p.parse::<u32>().is_err()) {
            return Err(format!("{s:?} is not a PMM version (MAJOR.MINOR, e.g. 2.36 or 3.4)"));
        }
        let v = PmmVersion { major, minor };
        if v < OLDEST || major > NEWEST.major {
            return Err(format!("PMM {v}: check-gen knows PMM {OLDEST} to {NEWEST}.x"));
        }
        Ok(v)
    }
}

/// Where bundled advisor and check files go, and the one extension the loader globs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BundledLayout {
    /// Advisor files (`advisors:` lists).
    pub advisors_dir: &'static str,
    /// Check files, one check each, named after it.
    pub checks_dir: &'static str,
    /// `yaml` (PMM 3.4+ globs `*.yaml` and wants the base name to equal the check's name).
    pub extension: &'static str,
}

/// How one release loads checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    /// The release.
    pub version: PmmVersion,
    /// The environment variable naming a dev checks file (which replaces the built-in checks).
    pub dev_file_env: &'static str,
    /// Check file versions the parser takes.
    pub accepts_v1: bool,
    /// Version 2 (`family`, `queries`): PMM 2.28+.
    pub accepts_v2: bool,
    /// `advisor:` is a field (required, `dev` in a dev file); `tiers:` is not. PMM 2.36+.
    pub advisor_field: bool,
    /// Scripts run `check_context(docs, context)`; before 2.12 `check(rows)`.
    pub calls_check_context: bool,
    /// Bundled files beside the built-in checks, if this release loads them.
    pub bundled: Option<BundledLayout>,
    /// Severities the script may return without the run failing.
    pub severities: &'static [&'static str],
    /// `set()` works in scripts (PMM 2's Starlark allows it, PMM 3's does not).
    pub allows_set: bool,
}

/// PMM 2's runtime (percona-platform/saas pkg/check result.go) accepts error to notice.
const SEVERITIES_2: &[&str] = &["error", "warning", "notice"];
/// PMM 3's (percona/pmm managed/pi/check result.go) accepts all eight.
const SEVERITIES_3: &[&str] = &["emergency", "alert", "critical", "error", "warning", "notice", "info", "debug"];

/// The profile of a release.
pub fn profile(v: PmmVersion) -> Profile {
    let pmm3 = v.major >= 3;
    Profile {
        version: v,
        dev_file_env: if pmm3 { "PMM_DEV_ADVISOR_CHECKS_FILE" } else { "PERCONA_TEST_CHECKS_FILE" },
        accepts_v1: v < PmmVersion::new(3, 5),
        accepts_v2: v >= PmmVersion::new(2, 28),
        advisor_field: v >= PmmVersion::new(2, 36),
        calls_check_context: v >= PmmVersion::new(2, 12),
        bundled: (v >= PmmVersion::new(3, 4)).then_some(BundledLayout {
            advisors_dir: "/usr/local/percona/pmm/advisors",
            checks_dir: "/usr/local/percona/pmm/checks",
            extension: "yaml",
        }),
        severities: if pmm3 { SEVERITIES_3 } else { SEVERITIES_2 },
        allows_set: !pmm3,
    }
}

/// The target and release profile for `render`: a release picks the format it loads (legacy before
/// 2.36) and refuses targets it cannot load; without one, legacy means PMM 2.35 and the others the
/// newest release.
pub fn choose_target(target: Option<Target>, version: Option<PmmVersion>) -> Result<(Target, Profile), String> {
    let Some(v) = version else {
        let t = target.unwrap_or_default();
        let v = if t == Target::Legacy { PmmVersion::new(2, 35) } else { NEWEST };
        return Ok((t, profile(v)));
    };
    let p = profile(v);
    let t = target.unwrap_or(if p.advisor_field { Target::DevFile } else { Target::Legacy });
    match t {
        Target::Legacy if !p.accepts_v1 => Err(format!("PMM {v} loads only version 2 checks: use --target dev-file or bundled")),
        Target::Legacy if p.advisor_field => {
            Err(format!("PMM {v} wants `advisor:` instead of `tiers:`: use --target dev-file (the legacy file is for PMM 2.9 to 2.35)"))
        }
        Target::DevFile if !p.advisor_field => Err(format!("PMM {v} predates `advisor:` (2.36): use --target legacy")),
        Target::Bundled if p.bundled.is_none() => Err(format!("PMM {v} loads no bundled check files (PMM 3.4+): use --target dev-file or legacy")),
        t => Ok((t, p)),
    }
}

/// Every release range with one behaviour, oldest first, for `--help` and the README: (first, last).
pub const RANGES: &[(PmmVersion, PmmVersion)] = &[
    (PmmVersion::new(2, 9), PmmVersion::new(2, 11)),
    (PmmVersion::new(2, 12), PmmVersion::new(2, 27)),
    (PmmVersion::new(2, 28), PmmVersion::new(2, 35)),
    (PmmVersion::new(2, 36), PmmVersion::new(2, 44)),
    (PmmVersion::new(3, 0), PmmVersion::new(3, 3)),
    (PmmVersion::new(3, 4), PmmVersion::new(3, 4)),
    (PmmVersion::new(3, 5), NEWEST),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_users_type() {
        assert_eq!("2.36".parse(), Ok(PmmVersion::new(2, 36)));
        assert_eq!("v3.4.1".parse(), Ok(PmmVersion::new(3, 4)));
        assert!("2.8".parse::<PmmVersion>().is_err());
        assert!("4.0".parse::<PmmVersion>().is_err());
        assert!("three".parse::<PmmVersion>().is_err());
        assert!("2.36.x".parse::<PmmVersion>().is_err());
    }

    #[test]
    fn release_boundaries() {
        let p = |s: &str| profile(s.parse().unwrap_or(OLDEST));
        assert!(!p("2.11").calls_check_context && p("2.12").calls_check_context);
        assert!(!p("2.27").accepts_v2 && p("2.28").accepts_v2);
        assert!(!p("2.35").advisor_field && p("2.36").advisor_field);
        assert_eq!(p("2.44").dev_file_env, "PERCONA_TEST_CHECKS_FILE");
        assert_eq!(p("3.0").dev_file_env, "PMM_DEV_ADVISOR_CHECKS_FILE");
        assert!(p("3.3").bundled.is_none());
        assert_eq!(p("3.4").bundled.map(|b| b.extension), Some("yaml"));
        assert!(p("3.4").accepts_v1 && !p("3.5").accepts_v1);
        assert!(p("2.44").severities.contains(&"notice") && !p("2.44").severities.contains(&"info"));
        assert!(p("3.0").severities.contains(&"info"));
        assert!(p("2.30").allows_set && !p("3.0").allows_set);
    }

    #[test]
    fn targets_per_release() {
        let v = |s: &str| s.parse::<PmmVersion>().ok();
        assert_eq!(choose_target(None, v("2.30")).map(|t| t.0), Ok(Target::Legacy));
        assert_eq!(choose_target(None, v("2.36")).map(|t| t.0), Ok(Target::DevFile));
        assert_eq!(choose_target(None, None).map(|t| t.1.version), Ok(NEWEST));
        assert_eq!(choose_target(Some(Target::Legacy), None).map(|t| t.1.dev_file_env), Ok("PERCONA_TEST_CHECKS_FILE"));
        assert!(choose_target(Some(Target::Bundled), v("3.3")).is_err());
        assert!(choose_target(Some(Target::Bundled), v("3.4")).is_ok());
        assert!(choose_target(Some(Target::DevFile), v("2.35")).is_err());
        assert!(choose_target(Some(Target::Legacy), v("2.36")).is_err());
        assert!(choose_target(Some(Target::Legacy), v("3.5")).is_err());
    }

    #[test]
    fn ranges_cover_every_release_in_order() {
        for w in RANGES.windows(2) {
            assert!(w[0].1 < w[1].0, "{:?}", w);
            // Each range has one behaviour: its first and last release agree.
        }
        for (a, b) in RANGES {
            let (pa, pb) = (profile(*a), profile(*b));
            assert_eq!((pa.accepts_v1, pa.accepts_v2, pa.advisor_field, pa.calls_check_context, pa.bundled, pa.dev_file_env),
                (pb.accepts_v1, pb.accepts_v2, pb.advisor_field, pb.calls_check_context, pb.bundled, pb.dev_file_env), "{a}..{b}");
        }
    }
}
