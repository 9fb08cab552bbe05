//! `check-gen test`: every check's script run on each of its fixtures (rows in, alerts out) with PMM's
//! Starlark dialect, and the alerts compared with what the fixture expects.

use std::fmt;

use crate::cells::Alert;
use crate::file_version::FileVersion;
use crate::render::{RenderError, Renderer};
use crate::script;
use crate::spec::{CheckSpec, ExpectedAlert};

/// One fixture's run.
#[derive(Debug)]
pub struct FixtureRun {
    /// The check.
    pub check: String,
    /// The fixture's name.
    pub fixture: String,
    /// Passed, or why not.
    pub verdict: Result<(), Failure>,
    /// What the script passed to `print()`, in order (PMM shows it only when a check fails).
    pub printed: Vec<String>,
}

/// Why a fixture did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The script failed (did not compile, raised, returned a bad value).
    Script(String),
    /// The script returned another number of alerts than expected.
    Count {
        /// How many the fixture expects.
        expected: usize,
        /// What the script returned.
        got: Vec<Alert>,
    },
    /// An alert differs from the expected one in the listed fields.
    Fields {
        /// The alert's index.
        index: usize,
        /// One `field got != expected` a difference.
        diffs: Vec<String>,
    },
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Script(e) => f.write_str(e),
            Failure::Count { expected, got } => write!(f, "expected {expected} alert(s), got {}: {got:#?}", got.len()),
            Failure::Fields { index, diffs } => write!(f, "alert {index}: {}", diffs.join("; ")),
        }
    }
}

/// Runs every fixture of the specs (version 2 scripts, as PMM 2.36+ and 3 run them).
pub fn run_all(renderer: &Renderer, specs: &[CheckSpec]) -> Result<Vec<FixtureRun>, RenderError> {
    let mut runs = Vec::new();
    for spec in specs {
        for fx in &spec.fixtures {
            let script = renderer.script(spec, &spec.params_with(&fx.parameters), FileVersion::V2)?;
            let outcome = script::run(&script, &[fx.rows()], FileVersion::V2);
            let verdict = match &outcome.result {
                Err(e) => Err(Failure::Script(e.to_string())),
                Ok(alerts) => compare(alerts, &fx.expected),
            };
            runs.push(FixtureRun { check: spec.name.clone(), fixture: fx.name.clone(), verdict, printed: outcome.printed });
        }
    }
    Ok(runs)
}

/// The alerts against the expected ones, in order; a field the fixture leaves out is not compared.
pub fn compare(got: &[Alert], want: &[ExpectedAlert]) -> Result<(), Failure> {
    if got.len() != want.len() {
        return Err(Failure::Count { expected: want.len(), got: got.to_vec() });
    }
    for (index, (g, w)) in got.iter().zip(want).enumerate() {
        let mut diffs = Vec::new();
        if g.summary != w.summary {
            diffs.push(format!("summary {:?} != {:?}", g.summary, w.summary));
        }
        if g.severity != w.severity {
            diffs.push(format!("severity {:?} != {:?}", g.severity, w.severity));
        }
        if let Some(d) = w.description.as_ref().filter(|d| **d != g.description) {
            diffs.push(format!("description {:?} != {d:?}", g.description));
        }
        if let Some(l) = w.labels.as_ref().filter(|l| **l != g.labels) {
            diffs.push(format!("labels {:?} != {l:?}", g.labels));
        }
        if !diffs.is_empty() {
            return Err(Failure::Fields { index, diffs });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn alert(summary: &str, severity: &str) -> Alert {
        Alert {
            check: String::new(),
            summary: summary.into(),
            description: String::new(),
            severity: severity.into(),
            labels: BTreeMap::new(),
            read_more_url: String::new(),
        }
    }

    fn want(summary: &str, severity: &str, labels: Option<&[(&str, &str)]>) -> ExpectedAlert {
        ExpectedAlert {
            summary: summary.into(),
            description: None,
            severity: severity.into(),
            labels: labels.map(|l| l.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>()),
        }
    }

    #[test]
    fn equal_alerts_pass_and_left_out_fields_are_not_compared() {
        let mut a = alert("3 failed logins", "warning");
        a.description = "not compared".into();
        a.labels.insert("server".into(), "db1".into());
        assert_eq!(compare(&[a.clone()], &[want("3 failed logins", "warning", None)]), Ok(()));
        assert_eq!(compare(&[a], &[want("3 failed logins", "warning", Some(&[("server", "db1")]))]), Ok(()));
    }

    #[test]
    fn a_count_or_a_field_that_differs_fails() {
        let e = compare(&[], &[want("x", "warning", None)]).unwrap_err();
        assert_eq!(e, Failure::Count { expected: 1, got: vec![] });
        assert!(e.to_string().starts_with("expected 1 alert(s), got 0"), "{e}");
        let e = compare(&[alert("x", "error")], &[want("y", "error", Some(&[("server", "db1")]))]).unwrap_err();
        assert_eq!(e.to_string(), "alert 0: summary \"x\" != \"y\"; labels {} != {\"server\": \"db1\"}");
    }
}
