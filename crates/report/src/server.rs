//! The server's view of a level's window (the level JSON's `server` field, schema
//! `servebench.server/1`, docs/results-schema.md "Server view"): what Ray Serve's own metrics say
//! about latency at the ingress and in each deployment, and how much CPU each role of the cluster
//! (proxy, replicas, raylet, GCS, ...) used over the window.
//!
//! The report reads only the figures it shows, every one optional, so that partial views and
//! views written by later versions load; a view it cannot read at all becomes an unavailable one
//! with the reason, and never fails its level.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The schema of a server view this report reads.
pub const SERVER_VIEW_SCHEMA: &str = "servebench.server/1";

/// A level's server view, as far as the report reads it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerView {
    /// Why there is no view (`unavailable`: the snapshots could not be taken, the view could not
    /// be read); every other field is then empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
    /// Seconds between the two snapshots.
    pub window_s: Option<f64>,
    /// The client's successful requests in the window (what CPU per request divides by).
    pub client_requests: Option<u64>,
    /// Ray Serve's metrics over the window; absent for a server outside Ray.
    pub metrics: Option<ServeMetrics>,
    /// CPU by role; absent when the server's processes were not on the measuring machine.
    pub cpu: Option<CpuByRole>,
    /// What the writer could not read or add up, one line each.
    pub notes: Vec<String>,
}

/// Ray Serve's metrics over a window (`metrics`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ServeMetrics {
    /// How often Ray's processes report their metrics (the lag of a scrape), ms.
    pub report_interval_ms: Option<u64>,
    /// Seconds between the two scrapes.
    pub window_s: Option<f64>,
    /// Per ingress protocol (`http`, `grpc`).
    pub ingress: BTreeMap<String, IngressView>,
    /// Per `app/deployment`.
    pub deployments: BTreeMap<String, DeploymentView>,
}

/// One ingress protocol.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct IngressView {
    /// Per application.
    pub apps: BTreeMap<String, IngressAppView>,
}

/// One application behind one ingress protocol.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct IngressAppView {
    /// Requests the ingress answered.
    pub requests: Option<u64>,
    /// Of which errors.
    pub errors: Option<u64>,
    /// End-to-end latency at the ingress.
    pub latency: Option<LatencyView>,
}

/// One deployment over the window.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DeploymentView {
    /// Replicas that reported.
    pub replicas: Option<u32>,
    /// Requests its replicas processed.
    pub requests: Option<u64>,
    /// Exceptions in its replicas.
    pub errors: Option<u64>,
    /// Time its replicas spent on each request (not the queueing before).
    pub processing: Option<LatencyView>,
}

/// A latency histogram's summary over the window, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LatencyView {
    /// Observations in the window.
    pub count: Option<u64>,
    /// Mean.
    pub mean_ms: Option<f64>,
    /// Median (interpolated within its bucket).
    pub p50_ms: Option<f64>,
    /// 90th percentile.
    pub p90_ms: Option<f64>,
    /// 99th percentile.
    pub p99_ms: Option<f64>,
}

/// CPU time by role over the window (`cpu`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuByRole {
    /// Role (`proxy`, `haproxy`, `replica:<app>/<deployment>`, `controller`, `raylet`, `gcs`,
    /// `dashboard`, ...) -> its CPU.
    pub roles: BTreeMap<String, RoleCpuView>,
    /// CPU seconds of all roles.
    pub total_s: Option<f64>,
    /// `total_s` per second of the window (cores busy on average).
    pub total_cores: Option<f64>,
    /// CPU milliseconds per client request, all roles.
    pub total_ms_per_request: Option<f64>,
    /// The whole machine over the window.
    pub machine: Option<MachineCpuView>,
}

/// CPU of one role.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RoleCpuView {
    /// CPU seconds (user + system).
    pub cpu_s: Option<f64>,
    /// `cpu_s` per second of the window.
    pub cores: Option<f64>,
    /// Its processes alive at the end of the window.
    pub processes: Option<u32>,
    /// CPU milliseconds per client request.
    pub ms_per_request: Option<f64>,
}

/// The machine's CPU over the window.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MachineCpuView {
    /// CPUs.
    pub cpus: Option<u64>,
    /// Busy CPU seconds of all CPUs.
    pub busy_s: Option<f64>,
    /// `cpus * window_s`.
    pub capacity_s: Option<f64>,
    /// CPU seconds of the process that took the snapshots (the load generator).
    pub this_process_s: Option<f64>,
}

/// A usable figure: finite and not negative.
fn usable(v: Option<f64>) -> Option<f64> {
    v.filter(|v| v.is_finite() && *v >= 0.0)
}

impl ServerView {
    /// A view that says only why there is none.
    pub fn unavailable(reason: impl Into<String>) -> Self {
        Self { unavailable: Some(reason.into()), ..Self::default() }
    }

    /// Reads a level's `server` value: a view, or an unavailable one with the writer's reason or
    /// with why it could not be read (another schema, a field of the wrong type).
    pub fn from_value(value: &serde_json::Value) -> Self {
        let Some(obj) = value.as_object() else {
            return Self::unavailable("the server view is not a JSON object");
        };
        if let Some(schema) = obj.get("schema").and_then(serde_json::Value::as_str)
            && schema != SERVER_VIEW_SCHEMA
        {
            return Self::unavailable(format!(
                "unsupported server view schema `{schema}` (this report reads `{SERVER_VIEW_SCHEMA}`)"
            ));
        }
        if let Some(why) = obj.get("unavailable") {
            let why = why.as_str().map_or_else(|| why.to_string(), str::to_string);
            return Self::unavailable(why);
        }
        match serde_json::from_value::<Self>(value.clone()) {
            Ok(view) => view,
            Err(e) => Self::unavailable(format!("unreadable server view: {e}")),
        }
    }

    /// Whether it carries figures (it is not an unavailable one).
    pub fn is_available(&self) -> bool {
        self.unavailable.is_none()
    }

    /// The ingress application that answered the most requests, over protocols, as
    /// (`<protocol>/<app>`, its latency).
    pub fn main_ingress(&self) -> Option<(String, LatencyView)> {
        let m = self.metrics.as_ref()?;
        m.ingress
            .iter()
            .flat_map(|(proto, i)| i.apps.iter().map(move |(app, a)| (format!("{proto}/{app}"), a)))
            .filter_map(|(name, a)| Some((name, a.requests.unwrap_or(0), a.latency?)))
            .max_by_key(|(_, requests, latency)| (*requests, latency.count.unwrap_or(0)))
            .map(|(name, _, latency)| (name, latency))
    }

    /// CPU milliseconds per client request of each role: the writer's figure, else the role's
    /// CPU seconds over the client's requests.
    pub fn cpu_ms_per_request(&self) -> BTreeMap<String, f64> {
        let Some(cpu) = &self.cpu else { return BTreeMap::new() };
        let requests = self.client_requests.filter(|&n| n > 0);
        cpu.roles
            .iter()
            .filter_map(|(role, r)| {
                let v = usable(r.ms_per_request)
                    .or_else(|| Some(usable(r.cpu_s)? * 1000.0 / requests? as f64))?;
                Some((role.clone(), v))
            })
            .collect()
    }

    /// CPU milliseconds per client request of all roles together.
    pub fn cpu_total_ms_per_request(&self) -> Option<f64> {
        let cpu = self.cpu.as_ref()?;
        let requests = self.client_requests.filter(|&n| n > 0);
        usable(cpu.total_ms_per_request)
            .or_else(|| Some(usable(cpu.total_s)? * 1000.0 / requests? as f64))
            .or_else(|| {
                let roles = self.cpu_ms_per_request();
                (!roles.is_empty()).then(|| roles.values().sum())
            })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_a_view_and_tolerates_missing_and_unknown_fields() {
        let v = ServerView::from_value(&json!({
            "schema": "servebench.server/1", "started_unix_ms": 1, "window_s": 10.0, "client_requests": 1000,
            "metrics": {"source": "x", "report_interval_ms": 1000, "window_s": 10.1,
                "ingress": {"http": {"apps": {"app": {"requests": 990, "errors": 0, "by_status": {"200": 990},
                    "latency": {"count": 990, "mean_ms": 3.0, "p50_ms": 2.5, "p90_ms": 4.0, "p99_ms": 9.0,
                                "histogram": {"bounds": [1.0], "counts": [990]}}}}, "ongoing_end": 1.0}},
                "deployments": {"app/Echo": {"replicas": 1, "requests": 990, "errors": 0, "routed": 990,
                    "processing": {"count": 990, "p50_ms": 0.5, "p99_ms": 1.0}}},
                "haproxy": {"source": "y", "frontends": {}, "backends": {}}},
            "cpu": {"roles": {"proxy": {"cpu_s": 2.0, "cores": 0.2, "processes": 1, "ms_per_request": 2.0},
                              "raylet": {"cpu_s": 0.5, "cores": 0.05, "processes": 1}},
                    "total_s": 2.5, "total_cores": 0.25, "ticks_per_s": 100,
                    "machine": {"cpus": 2, "busy_s": 15.0, "capacity_s": 20.0, "this_process_s": 3.0}},
            "future_field": [1, 2]
        }));
        assert!(v.is_available());
        let (name, latency) = v.main_ingress().expect("ingress");
        assert_eq!((name.as_str(), latency.p50_ms), ("http/app", Some(2.5)));
        let roles = v.cpu_ms_per_request();
        assert_eq!(roles.get("proxy"), Some(&2.0));
        assert_eq!(roles.get("raylet"), Some(&0.5), "from cpu_s and the client's requests");
        assert_eq!(v.cpu_total_ms_per_request(), Some(2.5));
    }

    #[test]
    fn unavailable_and_unreadable_views_keep_the_reason() {
        let v = ServerView::from_value(
            &json!({"schema": "servebench.server/1", "unavailable": "no metrics port"}),
        );
        assert_eq!(v.unavailable.as_deref(), Some("no metrics port"));
        let v = ServerView::from_value(&json!({"cpu": 0.5}));
        assert!(v.unavailable.expect("unreadable").contains("unreadable server view"));
        let v = ServerView::from_value(&json!({"schema": "servebench.server/9"}));
        assert!(v.unavailable.expect("other schema").contains("servebench.server/9"));
        assert!(ServerView::from_value(&json!(3)).unavailable.is_some());
    }
}
