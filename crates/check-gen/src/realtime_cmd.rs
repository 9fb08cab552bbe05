//! `check-gen alerts` and `check-gen dashboard`: the real-time side, on audit-ingest's metrics.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};

use check_gen::{alerts, dashboard, embedded};

/// What `check-gen alerts` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AlertFormat {
    /// PMM's alert rule templates file, for /srv/alerting/templates or the UI.
    Pmm,
    /// A Prometheus rule file (one alerting rule a template, defaults filled), for promtool or vmalert.
    Rules,
    /// The templates with their defaults filled, as JSON.
    Json,
}

/// Print PMM alert rule templates on audit-ingest's metrics (brute force, spikes, probing, login
/// after failures, privileged logins from public addresses, a stalled ingester, dead letters).
/// Exits 1 if a template breaks PMM's rules.
#[derive(Debug, Args)]
#[command(after_help = ALERTS_EXAMPLES)]
pub struct AlertsArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = AlertFormat::Pmm)]
    pub format: AlertFormat,
    /// Check (and print) this templates file instead of the built-in one.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
}

const ALERTS_EXAMPLES: &str = "\
Examples:
  check-gen alerts > audit_ingest.yml
  docker cp audit_ingest.yml pmm-server:/srv/alerting/templates/audit_ingest.yml
      # PMM 2.31+ / 3.x; or paste it in Alerting > Alert rule templates > Add template
  check-gen alerts --file my-templates.yml     # check your own templates with PMM's rules
  check-gen alerts --format rules > rules.yml  # defaults filled, for promtool test rules or vmalert";

/// Print a Grafana dashboard (JSON) for PMM on audit-ingest's metrics: failed logins by client and
/// account, top clients, logins after failures, ingest lag and throughput, dead letters.
#[derive(Debug, Args)]
#[command(after_help = DASHBOARD_EXAMPLES)]
pub struct DashboardArgs {
    /// Wrap it as the body of Grafana's import API (`{"dashboard": ..., "overwrite": true}`).
    #[arg(long)]
    pub api_payload: bool,
}

const DASHBOARD_EXAMPLES: &str = "\
Examples:
  check-gen dashboard > audit-ingest-dashboard.json
      # PMM: Dashboards > New > Import > Upload dashboard JSON file
  check-gen dashboard --api-payload | curl -u admin:admin -H 'Content-Type: application/json' \\
      -X POST --data-binary @- https://pmm-server/graph/api/dashboards/db";

/// Runs `check-gen alerts`; `Ok(false)` when the templates break a rule.
pub fn alerts(args: &AlertsArgs, templates_dir: Option<&Path>) -> Result<bool> {
    let (name, text) = match &args.file {
        Some(f) => (f.display().to_string(), std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?),
        None => (alerts::BUILTIN.to_string(), embedded::data_file(templates_dir, alerts::BUILTIN)?),
    };
    let templates = alerts::parse(&name, &text).map_err(anyhow::Error::msg)?;
    let mut problems: Vec<String> = templates.iter().flat_map(alerts::problems).collect();
    for (i, t) in templates.iter().enumerate() {
        if templates[..i].iter().any(|u| u.name == t.name) {
            problems.push(format!("template {:?} is declared twice", t.name));
        }
    }
    if templates.is_empty() {
        problems.push("no templates".into());
    }
    if !problems.is_empty() {
        for p in &problems {
            println!("{name}: {p}");
        }
        return Ok(false);
    }
    match args.format {
        AlertFormat::Pmm => print!("{text}"),
        AlertFormat::Rules => print!("{}", alerts::prometheus_rules(&templates, "audit_ingest").map_err(anyhow::Error::msg)?),
        AlertFormat::Json => {
            let filled = templates.iter().map(alerts::filled).collect::<Result<Vec<_>, _>>().map_err(anyhow::Error::msg)?;
            println!("{}", serde_json::to_string_pretty(&filled)?);
        }
    }
    Ok(true)
}

/// Runs `check-gen dashboard`.
pub fn dashboard(args: &DashboardArgs, templates_dir: Option<&Path>) -> Result<()> {
    let text = embedded::data_file(templates_dir, dashboard::BUILTIN)?;
    let spec = dashboard::parse(dashboard::BUILTIN, &text).map_err(anyhow::Error::msg)?;
    let d = dashboard::build(&spec);
    if d["panels"].as_array().is_none_or(|p| p.is_empty()) {
        bail!("{}: no panels", dashboard::BUILTIN);
    }
    let out = if args.api_payload { serde_json::json!({ "dashboard": d, "overwrite": true }) } else { d };
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
