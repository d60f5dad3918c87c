//! A client of Serve's REST API on the Ray dashboard: `PUT /api/serve/applications/` to
//! apply a config, `GET` for status, `DELETE` to shut Serve down.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use serde_json::Value;

use crate::DeployError;
use crate::http::request;
use crate::target::Secret;

const PATH: &str = "/api/serve/applications/";

/// Serve's status of one deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentStatus {
    /// e.g. `UPDATING`, `HEALTHY`, `UNHEALTHY`.
    pub status: String,
    /// Serve's message (often empty).
    pub message: String,
}

/// Serve's status of one application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppStatus {
    /// e.g. `DEPLOYING`, `RUNNING`, `DEPLOY_FAILED`, `UNHEALTHY`.
    pub status: String,
    /// Serve's message (a traceback when DEPLOY_FAILED).
    pub message: String,
    /// Its deployments.
    pub deployments: BTreeMap<String, DeploymentStatus>,
}

/// A client of one dashboard's Serve REST API.
#[derive(Debug, Clone)]
pub struct ServeApi {
    base: String,
    token: Option<Secret>,
}

impl ServeApi {
    /// A client of the dashboard at `base` (e.g. `http://127.0.0.1:8265`); with Ray's token
    /// authentication the token goes in `Authorization: Bearer`.
    pub fn new(base: impl Into<String>, token: Option<Secret>) -> Self {
        Self { base: base.into().trim_end_matches('/').to_owned(), token }
    }

    fn url(&self) -> String {
        format!("{}{PATH}", self.base)
    }

    async fn send(
        &self,
        method: Method,
        body: Bytes,
        timeout: Duration,
    ) -> Result<crate::http::HttpResponse, DeployError> {
        let bearer = self.token.as_ref().map(|t| format!("Bearer {}", t.expose()));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(b) = &bearer {
            headers.push(("authorization", b.as_str()));
        }
        request(method, &self.url(), &headers, body, timeout).await
    }

    /// Applies a Serve config. Until `timeout` runs out it retries while the dashboard is
    /// not reachable or answers 5xx (as it does for a few seconds after `ray start`).
    pub async fn put_config(&self, config: &Value, timeout: Duration) -> Result<(), DeployError> {
        let body = Bytes::from(serde_json::to_vec(config).map_err(|e| DeployError::ServeApi {
            method: "PUT",
            url: self.url(),
            message: e.to_string(),
        })?);
        let deadline = Instant::now() + timeout;
        loop {
            let last = match self.send(Method::PUT, body.clone(), Duration::from_secs(30)).await {
                Ok(answer) if answer.status.is_success() => return Ok(()),
                Ok(answer) if answer.status.is_server_error() => {
                    format!("HTTP {}: {}", answer.status, String::from_utf8_lossy(&answer.body))
                }
                Ok(answer) => {
                    return Err(DeployError::ServeApi {
                        method: "PUT",
                        url: self.url(),
                        message: format!("HTTP {}: {}", answer.status, String::from_utf8_lossy(&answer.body)),
                    });
                }
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                return Err(DeployError::ServeApi {
                    method: "PUT",
                    url: self.url(),
                    message: format!("not accepted within {timeout:?}; last answer: {last}"),
                });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Serve's status of every application.
    pub async fn status(&self) -> Result<BTreeMap<String, AppStatus>, DeployError> {
        let answer = self.send(Method::GET, Bytes::new(), Duration::from_secs(30)).await?;
        let error = |message: String| DeployError::ServeApi { method: "GET", url: self.url(), message };
        if !answer.status.is_success() {
            return Err(error(format!("HTTP {}: {}", answer.status, String::from_utf8_lossy(&answer.body))));
        }
        let value: Value =
            serde_json::from_slice(&answer.body).map_err(|e| error(format!("answer is not JSON: {e}")))?;
        Ok(parse_status(&value))
    }

    /// Polls until every app in `apps` is RUNNING. Fails at once with Serve's message when
    /// one is DEPLOY_FAILED, and after `timeout` with the last status otherwise.
    pub async fn wait_running(
        &self,
        apps: &[&str],
        timeout: Duration,
        progress: &crate::Progress<'_>,
    ) -> Result<(), DeployError> {
        let deadline = Instant::now() + timeout;
        let mut last_reported = String::new();
        loop {
            let last = match self.status().await {
                Ok(status) => {
                    for app in apps {
                        if let Some(s) = status.get(*app)
                            && s.status == "DEPLOY_FAILED"
                        {
                            return Err(DeployError::DeployFailed {
                                app: (*app).to_owned(),
                                message: s.message.clone(),
                            });
                        }
                    }
                    if apps.iter().all(|a| status.get(*a).is_some_and(|s| s.status == "RUNNING")) {
                        return Ok(());
                    }
                    let summary = summarize(apps, &status);
                    if summary != last_reported {
                        progress(&summary);
                        last_reported.clone_from(&summary);
                    }
                    summary
                }
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                return Err(DeployError::Timeout {
                    what: format!("applications {} to be RUNNING", apps.join(", ")),
                    secs: timeout.as_secs(),
                    last,
                });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Deletes every application and shuts Serve down.
    pub async fn delete_all(&self, timeout: Duration) -> Result<(), DeployError> {
        let answer = self.send(Method::DELETE, Bytes::new(), timeout).await?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(DeployError::ServeApi {
                method: "DELETE",
                url: self.url(),
                message: format!("HTTP {}: {}", answer.status, String::from_utf8_lossy(&answer.body)),
            })
        }
    }
}

fn str_field(value: &Value, key: &str) -> String {
    value.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// Reads the `applications` map of Serve's status answer.
pub fn parse_status(value: &Value) -> BTreeMap<String, AppStatus> {
    let Some(apps) = value.get("applications").and_then(Value::as_object) else {
        return BTreeMap::new();
    };
    apps.iter()
        .map(|(name, app)| {
            let deployments = app
                .get("deployments")
                .and_then(Value::as_object)
                .map(|ds| {
                    ds.iter()
                        .map(|(dn, d)| {
                            (
                                dn.clone(),
                                DeploymentStatus {
                                    status: str_field(d, "status"),
                                    message: str_field(d, "message"),
                                },
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            (
                name.clone(),
                AppStatus {
                    status: str_field(app, "status"),
                    message: str_field(app, "message"),
                    deployments,
                },
            )
        })
        .collect()
}

fn summarize(apps: &[&str], status: &BTreeMap<String, AppStatus>) -> String {
    apps.iter()
        .map(|app| match status.get(*app) {
            None => format!("{app}: not listed yet"),
            Some(s) => {
                let unhealthy: Vec<String> = s
                    .deployments
                    .iter()
                    .filter(|(_, d)| d.status != "HEALTHY")
                    .map(|(n, d)| {
                        if d.message.is_empty() {
                            format!("{n} {}", d.status)
                        } else {
                            format!("{n} {} ({})", d.status, d.message)
                        }
                    })
                    .collect();
                if unhealthy.is_empty() {
                    format!("{app}: {}", s.status)
                } else {
                    format!("{app}: {} [{}]", s.status, unhealthy.join("; "))
                }
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}
