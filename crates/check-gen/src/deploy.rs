//! `check-gen deploy`: creates or updates the checks in PMM's database through PMM's advisor check API
//! (`POST /v1/advisors/checks`, `PUT /v1/advisors/checks/{name}`, listed by `GET /v1/advisors/checks`),
//! the request and response shapes of percona/pmm `api/advisors/v1` (docs/pmm-releases.md). PMM
//! stores user checks under names starting with `custom_`, so each check is deployed as
//! `custom_NAME`. The token (a Grafana service account token, sent as `Authorization: Bearer`) comes
//! from a file or the environment, never from the command line where `ps` shows it.
use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::render::RenderedCheck;

/// The prefix PMM requires of user-authored check names.
pub const USER_CHECK_PREFIX: &str = "custom_";
/// The environment variable holding the token when no token file is given.
pub const TOKEN_ENV: &str = "PMM_API_TOKEN";

/// Deploying failed.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// PMM answered with an error status.
    #[error("{method} {path}: PMM answered {status}: {message}")]
    Status {
        /// The request method.
        method: &'static str,
        /// The request path.
        path: String,
        /// HTTP status.
        status: u16,
        /// PMM's `message` (or the start of the body).
        message: String,
    },
    /// The request did not get an answer.
    #[error("{method} {path}: {source}")]
    Transport {
        /// The request method.
        method: &'static str,
        /// The request path.
        path: String,
        /// The cause.
        source: Box<ureq::Transport>,
    },
    /// An answer was not the JSON PMM sends.
    #[error("{path}: unexpected answer: {message}")]
    Answer {
        /// The request path.
        path: String,
        /// What was wrong.
        message: String,
    },
}

/// One query of an advisor check, as the API takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiQuery {
    /// `MYSQL_SELECT`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The query text after `SELECT`.
    pub query: String,
}

/// An advisor check, as `CreateAdvisorCheck` and `UpdateAdvisorCheck` take it (`check` of the body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiCheck {
    /// `custom_` + the check's name.
    pub name: String,
    /// One line.
    pub summary: String,
    /// What it looks for.
    pub description: String,
    /// The category the UI groups it under.
    pub category: String,
    /// `ADVISOR_CHECK_INTERVAL_STANDARD`, `_FREQUENT` or `_RARE`.
    pub interval: String,
    /// `ADVISOR_CHECK_TECHNOLOGY_MYSQL`.
    pub technology: String,
    /// The queries, in order.
    pub queries: Vec<ApiQuery>,
    /// The Starlark script (version 2).
    pub script: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct CheckBody {
    check: ApiCheck,
}

/// One entry of `ListAdvisorChecks`; other fields are ignored.
#[derive(Debug, Deserialize)]
struct Listed {
    name: String,
}

#[derive(Debug, Deserialize)]
struct ListBody {
    #[serde(default)]
    checks: Vec<Listed>,
}

/// An error body of PMM's gRPC gateway: `{"code": 3, "message": "...", "details": []}`.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    message: String,
}

/// The API form of a rendered (version 2) check.
pub fn api_check(c: &RenderedCheck, category: &str) -> ApiCheck {
    let name = if c.name.starts_with(USER_CHECK_PREFIX) { c.name.clone() } else { format!("{USER_CHECK_PREFIX}{}", c.name) };
    ApiCheck {
        name,
        summary: c.summary.clone(),
        description: c.description.clone(),
        category: category.to_string(),
        interval: format!("ADVISOR_CHECK_INTERVAL_{}", if c.interval.is_empty() { "STANDARD".into() } else { c.interval.to_uppercase() }),
        technology: "ADVISOR_CHECK_TECHNOLOGY_MYSQL".into(),
        queries: vec![ApiQuery { kind: "MYSQL_SELECT".into(), query: c.query.clone() }],
        script: c.script.clone(),
    }
}

/// What happened to one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It was new.
    Created(String),
    /// It existed and was replaced.
    Updated(String),
}

/// A client of one PMM server.
#[derive(Debug)]
pub struct Client {
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl Client {
    /// `base`: `https://pmm.example.com` (a path prefix is kept); `token`: a service account token.
    pub fn new(base: &str, token: &str) -> Self {
        let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(30)).build();
        Client { base: base.trim_end_matches('/').to_string(), token: token.trim().to_string(), agent }
    }

    fn call(&self, method: &'static str, path: &str, body: Option<&CheckBody>) -> Result<String, DeployError> {
        let req = self
            .agent
            .request(method, &format!("{}{path}", self.base))
            .set("Authorization", &format!("Bearer {}", self.token))
            .set("Accept", "application/json");
        let res = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        match res {
            Ok(r) => r.into_string().map_err(|e| DeployError::Answer { path: path.into(), message: e.to_string() }),
            Err(ureq::Error::Status(status, r)) => {
                let text = r.into_string().unwrap_or_default();
                let message = serde_json::from_str::<ErrorBody>(&text)
                    .map(|e| e.message)
                    .unwrap_or_else(|_| text.chars().take(200).collect());
                let message = if status == 404 && body.is_some() && method == "POST" {
                    format!("{message} (this PMM has no advisor check API; PMM releases up to 3.10 load checks from files: use `check-gen render`)")
                } else {
                    message
                };
                Err(DeployError::Status { method, path: path.into(), status, message })
            }
            Err(ureq::Error::Transport(t)) => Err(DeployError::Transport { method, path: path.into(), source: Box::new(t) }),
        }
    }

    /// The names of the checks PMM has.
    pub fn list(&self) -> Result<BTreeSet<String>, DeployError> {
        let path = "/v1/advisors/checks";
        let text = self.call("GET", path, None)?;
        let body: ListBody = serde_json::from_str(&text).map_err(|e| DeployError::Answer { path: path.into(), message: e.to_string() })?;
        Ok(body.checks.into_iter().map(|c| c.name).collect())
    }

    /// Creates the check, or replaces it if `exists`.
    pub fn put(&self, check: &ApiCheck, exists: bool) -> Result<Outcome, DeployError> {
        let body = CheckBody { check: check.clone() };
        let (method, path) = if exists {
            ("PUT", format!("/v1/advisors/checks/{}", check.name))
        } else {
            ("POST", "/v1/advisors/checks".to_string())
        };
        let text = self.call(method, &path, Some(&body))?;
        let back: CheckBody = serde_json::from_str(&text).map_err(|e| DeployError::Answer { path: path.clone(), message: e.to_string() })?;
        if back.check.name != check.name {
            return Err(DeployError::Answer { path, message: format!("PMM answered with check {:?}", back.check.name) });
        }
        Ok(if exists { Outcome::Updated(check.name.clone()) } else { Outcome::Created(check.name.clone()) })
    }

    /// Creates or updates every check; stops at the first failure (what was done before stays done).
    pub fn deploy(&self, checks: &[ApiCheck]) -> Result<Vec<Outcome>, DeployError> {
        let existing = self.list()?;
        checks.iter().map(|c| self.put(c, existing.contains(&c.name))).collect()
    }
}

/// The token: the first line of `file` if given, else the environment variable [`TOKEN_ENV`].
pub fn read_token(file: Option<&std::path::Path>) -> Result<String, String> {
    let token = match file {
        Some(f) => std::fs::read_to_string(f).map_err(|e| format!("reading the token file {}: {e}", f.display()))?,
        None => std::env::var(TOKEN_ENV).map_err(|_| format!("no token: give --token-file FILE or set {TOKEN_ENV}"))?,
    };
    let token = token.lines().next().unwrap_or_default().trim().to_string();
    if token.is_empty() {
        return Err("the token is empty".into());
    }
    if token.chars().any(|c| c.is_control() || c == ' ') {
        return Err("the token holds spaces or control characters".into());
    }
    Ok(token)
}
