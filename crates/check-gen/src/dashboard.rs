//! The Grafana dashboard for PMM (`check-gen dashboard`): built from the panel list in
//! `templates/dashboards/audit_ingest.yml` as Grafana dashboard JSON (schema version 37, which Grafana
//! 9 writes and 10 and 11 migrate on load; PMM 2.3x ships Grafana 9, PMM 3 Grafana 11). Queries go to
//! the data source PMM names `Metrics` (its VictoriaMetrics), chosen through a variable.
use serde::Deserialize;
use serde_json::{json, Value};

/// The built-in panel list, under `templates/`.
pub const BUILTIN: &str = "dashboards/audit_ingest.yml";
/// The schema version written.
pub const SCHEMA_VERSION: u32 = 37;
/// The selector that replaces `{SEL}` in every query.
pub const SELECTOR: &str = r#"{node_name=~"$node_name", service_name=~"$service_name", server=~"$server"}"#;
const DS: &str = "${datasource}";

/// The dashboard's spec.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The dashboard's title.
    pub title: String,
    /// Its uid (stable, so a re-import replaces it).
    pub uid: String,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Rows of panels, top to bottom.
    pub rows: Vec<Row>,
}

/// Panels side by side.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Row {
    /// Height in grid units.
    pub height: u32,
    /// The panels, left to right.
    pub panels: Vec<PanelSpec>,
}

/// One panel.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PanelSpec {
    /// Shown above it.
    pub title: String,
    /// `timeseries`, `stat` or `table`.
    #[serde(rename = "type")]
    pub ty: String,
    /// Columns of 24.
    pub width: u32,
    /// The tooltip.
    #[serde(default)]
    pub description: String,
    /// Grafana unit id (`short`, `s`, `bytes`, `ops`).
    pub unit: String,
    /// Its queries.
    pub targets: Vec<TargetSpec>,
}

/// One query of a panel.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// MetricsQL with `{SEL}` for the dashboard's selector.
    pub expr: String,
    /// Legend template.
    #[serde(default)]
    pub legend: String,
    /// An instant query (stat and table panels).
    #[serde(default)]
    pub instant: bool,
}

/// Parses the panel list.
pub fn parse(file: &str, text: &str) -> Result<Spec, String> {
    let spec: Spec = serde_saphyr::from_str(text).map_err(|e| format!("{file}: {e}"))?;
    for (r, row) in spec.rows.iter().enumerate() {
        let width: u32 = row.panels.iter().map(|p| p.width).sum();
        if width > 24 {
            return Err(format!("{file}: row {} is {width} columns wide (24 at most)", r + 1));
        }
        for p in &row.panels {
            if !matches!(p.ty.as_str(), "timeseries" | "stat" | "table") {
                return Err(format!("{file}: panel {:?}: type {:?} (timeseries, stat or table)", p.title, p.ty));
            }
            if p.targets.is_empty() || p.targets.iter().any(|t| !t.expr.contains("{SEL}")) {
                return Err(format!("{file}: panel {:?}: every query must use {{SEL}}", p.title));
            }
        }
    }
    Ok(spec)
}

/// A query as the dashboard holds it.
pub fn query(expr: &str) -> String {
    expr.replace("{SEL}", SELECTOR)
}

fn variable(name: &str, label: &str, query: &str) -> Value {
    json!({
        "name": name,
        "label": label,
        "type": "query",
        "datasource": { "type": "prometheus", "uid": DS },
        "definition": query,
        "query": { "query": query, "refId": format!("{name}-query") },
        "refresh": 2,
        "includeAll": true,
        "allValue": ".*",
        "multi": true,
        "sort": 1,
        "current": { "selected": true, "text": ["All"], "value": ["$__all"] },
        "options": [],
        "hide": 0,
        "regex": "",
        "skipUrlSync": false
    })
}

fn panel(id: u32, p: &PanelSpec, x: u32, y: u32, h: u32) -> Value {
    let targets: Vec<Value> = p
        .targets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let ref_id = char::from(b'A' + i as u8).to_string();
            json!({
                "refId": ref_id,
                "datasource": { "type": "prometheus", "uid": DS },
                "expr": query(&t.expr),
                "legendFormat": t.legend,
                "instant": t.instant,
                "range": !t.instant,
                "format": if p.ty == "table" { "table" } else { "time_series" },
                "editorMode": "code"
            })
        })
        .collect();
    let options = match p.ty.as_str() {
        "stat" => json!({ "reduceOptions": { "calcs": ["lastNotNull"], "fields": "", "values": false }, "colorMode": "value", "graphMode": "none", "textMode": "auto", "orientation": "auto", "justifyMode": "auto" }),
        "table" => json!({ "showHeader": true, "footer": { "show": false, "reducer": ["sum"], "fields": "" } }),
        _ => json!({ "legend": { "displayMode": "table", "placement": "bottom", "showLegend": true, "calcs": ["max", "lastNotNull"] }, "tooltip": { "mode": "multi", "sort": "desc" } }),
    };
    let mut v = json!({
        "id": id,
        "type": p.ty,
        "title": p.title,
        "description": p.description,
        "datasource": { "type": "prometheus", "uid": DS },
        "gridPos": { "h": h, "w": p.width, "x": x, "y": y },
        "fieldConfig": { "defaults": { "unit": p.unit }, "overrides": [] },
        "options": options,
        "targets": targets
    });
    if p.ty == "table" {
        // One row a series: the instant vectors merged on their labels, the time column hidden.
        v["transformations"] = json!([
            { "id": "merge", "options": {} },
            { "id": "organize", "options": { "excludeByName": { "Time": true } } }
        ]);
    }
    v
}

/// The dashboard JSON.
pub fn build(spec: &Spec) -> Value {
    let mut panels = Vec::new();
    let mut y = 0;
    let mut id = 1;
    for row in &spec.rows {
        let mut x = 0;
        for p in &row.panels {
            panels.push(panel(id, p, x, y, row.height));
            id += 1;
            x += p.width;
        }
        y += row.height;
    }
    let build_info = "audit_ingest_build_info";
    json!({
        "title": spec.title,
        "uid": spec.uid,
        "tags": spec.tags,
        "description": "Real-time view of the MySQL audit log from audit-ingest's metrics (check-gen dashboard).",
        "editable": true,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": "30s",
        "time": { "from": "now-6h", "to": "now" },
        "timepicker": {},
        "timezone": "",
        "annotations": { "list": [] },
        "links": [],
        "templating": { "list": [
            {
                "name": "datasource",
                "label": "Data source",
                "type": "datasource",
                "query": "prometheus",
                "current": { "selected": true, "text": "Metrics", "value": "Metrics" },
                "hide": 0,
                "regex": "",
                "options": [],
                "skipUrlSync": false
            },
            variable("node_name", "Node", &format!("label_values({build_info}, node_name)")),
            variable("service_name", "Service", &format!("label_values({build_info}{{node_name=~\"$node_name\"}}, service_name)")),
            variable("server", "Server", &format!("label_values({build_info}{{node_name=~\"$node_name\", service_name=~\"$service_name\"}}, server)")),
        ] },
        "panels": panels
    })
}

/// Every panel query of a built dashboard: (panel title, expr, instant).
pub fn queries(dashboard: &Value) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    for p in dashboard["panels"].as_array().into_iter().flatten() {
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push((p["title"].as_str().unwrap_or_default().to_string(), t["expr"].as_str().unwrap_or_default().to_string(), t["instant"].as_bool().unwrap_or(false)));
        }
    }
    out
}
