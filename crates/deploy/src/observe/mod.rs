//! Where the time and the CPU go on the server side: an [`Observer`] of a deployment takes
//! [`Snapshot`]s (Ray Serve's Prometheus metrics from the cluster's metrics export port, HAProxy's
//! exporter for HAProxy variants, and the CPU time of every process of a local cluster), and two
//! snapshots give a [`ServerView`] of the window between them: requests, errors and latency
//! histograms per ingress application and per deployment, HAProxy's counters, CPU seconds per
//! role (proxy or HAProxy, each deployment's replicas, controller, raylet, GCS, dashboard, agents).
//!
//! Ray's processes send their metrics to the export endpoint every `metrics_report_interval_ms`
//! (Ray 2.60: 10 s by default, never less than 1 s), and Serve's replicas and routers add 100 ms
//! of caching before that: a scrape shows each process's counters as of its last report. Local
//! clusters are therefore started with a 1 s interval ([`MetricsOptions`], the same for every
//! variant), so that both snapshots of a window lag by at most about 1.1 s and the difference
//! covers a window of the right length shifted by that lag; with a warm-up at least that long
//! before the first snapshot, nothing of an earlier level is in it. See docs/results-schema.md
//! ("Server view").

mod cpu;
mod hist;
mod prom;
mod serve;

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use cpu::{CpuView, MachineCpu, RoleCpu};
pub use hist::Histogram;
pub use prom::{Exposition, Labels, MetricKind, ParseError, Sample};
pub use serve::{DeploymentMetrics, HaproxyMetrics, Ingress, IngressApp, Latency, MetricsView};

use crate::DeployError;

/// Schema version of [`ServerView`]'s JSON form.
pub const SERVER_VIEW_SCHEMA: &str = "servebench.server/1";

/// Ray 2.60's `metrics_report_interval_ms` when nothing sets it.
pub const RAY_DEFAULT_REPORT_INTERVAL_MS: u64 = 10_000;

/// The shortest report interval Ray 2.60 uses (its exporters floor the setting at 1 s).
pub const RAY_MIN_REPORT_INTERVAL_MS: u64 = 1_000;

/// Serve's caching of replica and router metrics before they reach Ray's exporter
/// (`RAY_SERVE_METRICS_EXPORT_INTERVAL_MS`, 100 ms in Ray 2.60).
pub const SERVE_METRICS_CACHE_MS: u64 = 100;

/// How a local cluster's metrics are set up; the same for every variant, so that no variant is
/// measured with other metric settings than another.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsOptions {
    /// `RAY_metrics_report_interval_ms` of every Ray process of the cluster; `None`: Ray's
    /// default (10 s). Ray uses at least 1000.
    pub report_interval_ms: Option<u64>,
    /// `RAY_SERVE_REQUEST_LATENCY_BUCKETS_MS`: the bucket bounds of Serve's request latency
    /// histograms (ingress and deployment processing); `None`: Serve's default (1, 2, 5, 10, 20,
    /// 50, 100, ... ms, too coarse to tell 20 ms from 35).
    pub latency_buckets_ms: Option<Vec<f64>>,
}

impl Default for MetricsOptions {
    /// A 1 s report interval and [`fine_latency_buckets_ms`].
    fn default() -> Self {
        Self {
            report_interval_ms: Some(RAY_MIN_REPORT_INTERVAL_MS),
            latency_buckets_ms: Some(fine_latency_buckets_ms()),
        }
    }
}

impl MetricsOptions {
    /// Ray's and Serve's own defaults (10 s reports, Serve's coarse buckets).
    pub fn ray_defaults() -> Self {
        Self { report_interval_ms: None, latency_buckets_ms: None }
    }

    /// The environment variables that set these up.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = Vec::new();
        if let Some(ms) = self.report_interval_ms {
            env.push(("RAY_metrics_report_interval_ms".to_owned(), ms.to_string()));
        }
        if let Some(b) = &self.latency_buckets_ms {
            let list: Vec<String> = b.iter().map(|v| format!("{v}")).collect();
            env.push(("RAY_SERVE_REQUEST_LATENCY_BUCKETS_MS".to_owned(), list.join(",")));
        }
        env
    }
}

/// Bucket bounds of about 6% width from 0.1 ms to 60 s (the R40 series of preferred numbers: 40
/// per decade, 1.00, 1.06, 1.12, ... 9.50), then Serve's own 120 s, 300 s and 600 s: 244 bounds.
/// An interpolated quantile is then within 6% of the truth, and 20 ms is a bound.
pub fn fine_latency_buckets_ms() -> Vec<f64> {
    const R40: [f64; 40] = [
        1.00, 1.06, 1.12, 1.18, 1.25, 1.32, 1.40, 1.50, 1.60, 1.70, 1.80, 1.90, 2.00, 2.12, 2.24, 2.36, 2.50,
        2.65, 2.80, 3.00, 3.15, 3.35, 3.55, 3.75, 4.00, 4.25, 4.50, 4.75, 5.00, 5.30, 5.60, 6.00, 6.30, 6.70,
        7.10, 7.50, 8.00, 8.50, 9.00, 9.50,
    ];
    let mut bounds = Vec::new();
    for decade in [0.1, 1.0, 10.0, 100.0, 1_000.0, 10_000.0] {
        for m in R40 {
            let v = m * decade;
            if v <= 60_000.0 {
                // Rounded to 4 significant digits, so that 0.1 * 1.06 is 0.106 in the variable.
                let digits = 3 - (v.log10().floor() as i32);
                let scale = 10f64.powi(digits);
                bounds.push((v * scale).round() / scale);
            }
        }
    }
    bounds.extend([120_000.0, 300_000.0, 600_000.0]);
    bounds
}

/// Where a local cluster's metrics are exported and how they are reported, as its processes
/// were configured (recorded in the deployment manifest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsInfo {
    /// Ray's metrics export endpoint (Prometheus text).
    pub export_url: String,
    /// Its port (`--metrics-export-port`).
    pub export_port: u16,
    /// `RAY_metrics_report_interval_ms` as the cluster got it (Ray's 10 000 when unset); Ray
    /// reports at most once a second whatever it says.
    pub report_interval_ms: u64,
    /// `RAY_SERVE_REQUEST_LATENCY_BUCKETS_MS` as the cluster got it; `None`: Serve's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_buckets_ms: Option<Vec<f64>>,
    /// HAProxy's Prometheus exporter, when the variant runs HAProxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub haproxy_url: Option<String>,
}

impl MetricsInfo {
    /// From a cluster's environment and its ports.
    pub(crate) fn from_env(
        env: &std::collections::BTreeMap<String, String>,
        export_port: u16,
        haproxy_port: u16,
    ) -> Self {
        let report_interval_ms = env
            .get("RAY_metrics_report_interval_ms")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(RAY_DEFAULT_REPORT_INTERVAL_MS);
        let latency_buckets_ms = env
            .get("RAY_SERVE_REQUEST_LATENCY_BUCKETS_MS")
            .map(|v| v.split(',').filter_map(|b| b.trim().parse::<f64>().ok()).collect::<Vec<f64>>());
        let haproxy = env.get("RAY_SERVE_ENABLE_HA_PROXY").map(String::as_str) == Some("1");
        let loopback = crate::local::LOOPBACK;
        Self {
            export_url: format!("http://{loopback}:{export_port}/metrics"),
            export_port,
            report_interval_ms,
            latency_buckets_ms,
            haproxy_url: haproxy.then(|| format!("http://{loopback}:{haproxy_port}/metrics")),
        }
    }
}

/// Why a deployment has no [`Observer`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no server view: {reason}")]
pub struct NotObservable {
    /// One line for the level's JSON and for people.
    pub reason: String,
}

/// Where a deployment's metrics and processes are.
#[derive(Debug, Clone)]
pub struct Observer {
    metrics_url: Option<String>,
    haproxy_url: Option<String>,
    report_interval_ms: u64,
    cpu: Option<cpu::Scope>,
    timeout: Duration,
}

/// One moment of a deployment: the parsed scrapes and every process's CPU counters. Two of
/// them make a [`ServerView`] ([`Snapshot::delta`]).
#[derive(Debug, Clone)]
pub struct Snapshot {
    unix_ms: u64,
    /// When the CPU counters were read before the scrapes, and what they were.
    cpu_before: Option<(Instant, cpu::CpuSample)>,
    /// Likewise after the scrapes (a window starts here, so that its CPU holds no scrape).
    cpu_after: Option<(Instant, cpu::CpuSample)>,
    scraped_at: Instant,
    metrics: Option<Exposition>,
    haproxy: Option<Result<Exposition, String>>,
    metrics_url: Option<String>,
    haproxy_url: Option<String>,
    report_interval_ms: u64,
}

impl Observer {
    /// An observer of a Ray cluster's metrics export endpoint alone (e.g.
    /// `http://HEAD:8080/metrics` of a cluster elsewhere), without CPU figures.
    pub fn for_endpoint(metrics_url: impl Into<String>, report_interval_ms: u64) -> Self {
        Self {
            metrics_url: Some(metrics_url.into()),
            haproxy_url: None,
            report_interval_ms,
            cpu: None,
            timeout: Duration::from_secs(10),
        }
    }

    pub(crate) fn local(
        metrics_url: String,
        haproxy_url: Option<String>,
        report_interval_ms: u64,
        sid: Option<u32>,
        needle: String,
    ) -> Self {
        Self {
            metrics_url: Some(metrics_url),
            haproxy_url,
            report_interval_ms,
            cpu: Some(cpu::Scope { sid, needle, default_role: None }),
            timeout: Duration::from_secs(10),
        }
    }

    /// CPU figures alone, for a server outside Ray (its processes' role is `server`).
    pub(crate) fn processes(sid: Option<u32>, needle: String) -> Self {
        Self {
            metrics_url: None,
            haproxy_url: None,
            report_interval_ms: 0,
            cpu: Some(cpu::Scope { sid, needle, default_role: Some("server".to_owned()) }),
            timeout: Duration::from_secs(10),
        }
    }

    /// CPU figures alone, of the processes with `needle` in their command line and their
    /// descendants (role `other` unless their command line says more).
    pub fn for_command_lines(needle: impl Into<String>) -> Self {
        Self {
            metrics_url: None,
            haproxy_url: None,
            report_interval_ms: 0,
            cpu: Some(cpu::Scope { sid: None, needle: needle.into(), default_role: None }),
            timeout: Duration::from_secs(10),
        }
    }

    /// The Ray metrics endpoint it scrapes, if any.
    pub fn metrics_url(&self) -> Option<&str> {
        self.metrics_url.as_deref()
    }

    /// HAProxy's metrics endpoint it scrapes, if any.
    pub fn haproxy_url(&self) -> Option<&str> {
        self.haproxy_url.as_deref()
    }

    /// How old a scrape's figures can be: Ray's report interval plus Serve's metrics cache.
    /// Zero without a metrics endpoint.
    pub fn lag(&self) -> Duration {
        match self.metrics_url {
            Some(_) => Duration::from_millis(self.report_interval_ms + SERVE_METRICS_CACHE_MS),
            None => Duration::ZERO,
        }
    }

    /// Also scrapes HAProxy's Prometheus exporter at `url`.
    pub fn with_haproxy(mut self, url: impl Into<String>) -> Self {
        self.haproxy_url = Some(url.into());
        self
    }

    /// Limit for each scrape (default 10 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Reads the CPU counters, scrapes the metrics (Ray's and HAProxy's at once), and reads the
    /// CPU counters again. A Ray endpoint that does not answer, or answers something that is not
    /// exposition text, is an error; HAProxy's exporter failing is only noted in the view.
    pub async fn snapshot(&self) -> Result<Snapshot, DeployError> {
        let unix_ms = crate::manifest::now_unix_ms();
        let cpu_before = self.read_cpu().await?;
        let ray = async {
            match &self.metrics_url {
                Some(url) => scrape(url, self.timeout).await.map(Some),
                None => Ok(None),
            }
        };
        let hap = async {
            match &self.haproxy_url {
                Some(url) => Some(scrape(url, self.timeout).await.map_err(|e| e.to_string())),
                None => None,
            }
        };
        let (metrics, haproxy) = tokio::join!(ray, hap);
        let scraped_at = Instant::now();
        let metrics = metrics?;
        let cpu_after =
            if metrics.is_some() || haproxy.is_some() { self.read_cpu().await? } else { cpu_before.clone() };
        Ok(Snapshot {
            unix_ms,
            cpu_before,
            cpu_after,
            scraped_at,
            metrics,
            haproxy,
            metrics_url: self.metrics_url.clone(),
            haproxy_url: self.haproxy_url.clone(),
            report_interval_ms: self.report_interval_ms,
        })
    }

    async fn read_cpu(&self) -> Result<Option<(Instant, cpu::CpuSample)>, DeployError> {
        let Some(scope) = self.cpu.clone() else {
            return Ok(None);
        };
        let sample = tokio::task::spawn_blocking(move || {
            let s = cpu::sample(&scope);
            (Instant::now(), s)
        })
        .await
        .map_err(|e| DeployError::io("reading /proc", std::io::Error::other(e.to_string())))?;
        Ok(Some((sample.0, sample.1?)))
    }
}

/// GETs `url` and parses it as exposition text.
async fn scrape(url: &str, timeout: Duration) -> Result<Exposition, DeployError> {
    let response = crate::http::request(http::Method::GET, url, &[], bytes::Bytes::new(), timeout)
        .await
        .map_err(|e| DeployError::Scrape { url: url.to_owned(), message: e.to_string() })?;
    if !response.status.is_success() {
        return Err(DeployError::Scrape {
            url: url.to_owned(),
            message: format!("HTTP {}: {}", response.status, crate::python::tail(&response.body)),
        });
    }
    let text = String::from_utf8_lossy(&response.body);
    Exposition::parse(&text).map_err(|source| DeployError::MetricsFormat { url: url.to_owned(), source })
}

/// What the server did over a window: Ray Serve's metrics and each role's CPU. Its JSON form
/// is documented in docs/results-schema.md ("Server view").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerView {
    /// [`SERVER_VIEW_SCHEMA`].
    pub schema: String,
    /// When the first snapshot was taken, ms since the Unix epoch.
    pub started_unix_ms: u64,
    /// Seconds between the two snapshots (between the CPU readings; scrapes excluded).
    pub window_s: f64,
    /// The request count CPU per request is computed for (the client's successful requests in
    /// the window), once given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_requests: Option<u64>,
    /// Ray Serve's metrics; absent for a server outside Ray.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsView>,
    /// CPU by role; absent where the processes are not on this machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuView>,
    /// What could not be read or added up, one line each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Snapshot {
    /// When it was taken, ms since the Unix epoch.
    pub fn unix_ms(&self) -> u64 {
        self.unix_ms
    }

    /// The parsed Ray metrics scrape, if there was one.
    pub fn metrics(&self) -> Option<&Exposition> {
        self.metrics.as_ref()
    }

    /// The window from `self` to `later` (a later snapshot of the same observer).
    pub fn delta(&self, later: &Snapshot) -> ServerView {
        let mut notes = Vec::new();
        let cpu = match (&self.cpu_after, &later.cpu_before) {
            (Some((t0, a)), Some((t1, b))) => Some((
                t1.saturating_duration_since(*t0).as_secs_f64(),
                cpu::delta(a, b, t1.saturating_duration_since(*t0).as_secs_f64()),
            )),
            _ => None,
        };
        let scrape_window = later.scraped_at.saturating_duration_since(self.scraped_at).as_secs_f64();
        let metrics = match (&self.metrics, &later.metrics) {
            (Some(a), Some(b)) => {
                let source = later.metrics_url.clone().unwrap_or_default();
                let mut view =
                    serve::metrics_view(a, b, &source, later.report_interval_ms, scrape_window, &mut notes);
                match (&self.haproxy, &later.haproxy) {
                    (Some(Ok(a)), Some(Ok(b))) => {
                        view.haproxy =
                            Some(serve::haproxy(a, b, later.haproxy_url.as_deref().unwrap_or_default()));
                    }
                    (Some(Err(e)), _) | (_, Some(Err(e))) => notes.push(format!("HAProxy's metrics: {e}")),
                    _ => {}
                }
                Some(view)
            }
            _ => None,
        };
        ServerView {
            schema: SERVER_VIEW_SCHEMA.to_owned(),
            started_unix_ms: self.unix_ms,
            window_s: cpu.as_ref().map_or(scrape_window, |(w, _)| *w),
            client_requests: None,
            metrics,
            cpu: cpu.map(|(_, c)| c),
            notes,
        }
    }
}

impl ServerView {
    /// Sets the request count (the client's successful requests in the window) and the CPU per
    /// request of every role from it.
    pub fn with_client_requests(mut self, requests: u64) -> Self {
        self.client_requests = Some(requests);
        if let Some(cpu) = &mut self.cpu {
            cpu.set_requests(requests);
        }
        self
    }

    /// Requests the ingress recorded in the window, over protocols and applications.
    pub fn ingress_requests(&self) -> Option<u64> {
        let m = self.metrics.as_ref()?;
        Some(m.ingress.values().flat_map(|i| i.apps.values()).map(|a| a.requests).sum())
    }
}
