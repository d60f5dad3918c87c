//! Ray Serve's own metrics over a window: two scrapes of the cluster's metrics export port (and of
//! HAProxy's exporter, for HAProxy variants) turned into per-window counts, histograms and
//! quantiles per ingress application and per deployment.
//!
//! Counters and histograms are differences between the scrapes, series by series (a series that
//! went down restarted, and counts whole; one that appeared counts whole), then added up over the
//! series of an application or deployment (routes, replicas, status codes). Gauges are the later
//! scrape's values.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::hist::Histogram;
use super::prom::{Exposition, Labels};

/// Latency of a group of requests over the window, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Observations in the window.
    pub count: u64,
    /// `sum / count` of the exported histogram; Ray 2.60's metrics agent rebuilds each exported
    /// bucket count as observations at the bucket's midpoint, so this mean is as coarse as the
    /// buckets.
    pub mean_ms: Option<f64>,
    /// Median by linear interpolation within its bucket (Prometheus's `histogram_quantile`).
    pub p50_ms: Option<f64>,
    /// 90th percentile, likewise.
    pub p90_ms: Option<f64>,
    /// 99th percentile, likewise.
    pub p99_ms: Option<f64>,
    /// The window's own histogram (per-bucket counts).
    pub histogram: Histogram,
}

impl Latency {
    /// Quantiles and mean of `histogram`.
    pub fn of(histogram: Histogram) -> Self {
        Self {
            count: histogram.count(),
            mean_ms: histogram.mean(),
            p50_ms: histogram.quantile(0.5),
            p90_ms: histogram.quantile(0.9),
            p99_ms: histogram.quantile(0.99),
            histogram,
        }
    }
}

/// One application behind one ingress protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IngressApp {
    /// Requests the ingress answered (`serve_num_<protocol>_requests`, every status).
    pub requests: u64,
    /// Of which errors (`serve_num_<protocol>_error_requests`).
    pub errors: u64,
    /// Requests by status code.
    pub by_status: BTreeMap<String, u64>,
    /// End-to-end latency at the ingress (`serve_<protocol>_request_latency_ms`).
    pub latency: Option<Latency>,
}

/// One ingress protocol (`http`, `grpc`): the proxy, HAProxy's log-fed collector, or a
/// direct-ingress replica, whichever recorded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ingress {
    /// Per application (the `application` label; empty for requests no app matched).
    pub apps: BTreeMap<String, IngressApp>,
    /// Requests in flight at the ingress at the end (`serve_num_ongoing_<protocol>_requests`,
    /// summed over proxies).
    pub ongoing_end: Option<f64>,
}

/// One deployment (`app/deployment`) over the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentMetrics {
    /// Replicas that reported (distinct `replica` labels in the later scrape).
    pub replicas: u32,
    /// Requests its replicas processed (`serve_deployment_request_counter`).
    pub requests: u64,
    /// Exceptions in its replicas (`serve_deployment_error_counter`).
    pub errors: u64,
    /// Time the replicas spent on each request (`serve_deployment_processing_latency_ms`): user
    /// code and the replica's own wrapping, not the queueing before it.
    pub processing: Option<Latency>,
    /// Requests routers sent to it (`serve_num_router_requests`, from the proxy and from other
    /// deployments' handles).
    pub routed: u64,
    /// Requests being processed by its replicas at the end (`serve_replica_processing_queries`).
    pub ongoing_end: Option<f64>,
    /// Requests waiting in routers for a replica at the end (`serve_deployment_queued_queries`).
    pub queued_end: Option<f64>,
}

/// HAProxy's own counters (its `prometheus-exporter`), for HAProxy variants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HaproxyMetrics {
    /// Where they were read.
    pub source: String,
    /// Per frontend (`proxy` label; Ray's is `http_frontend`, and HAProxy's own `stats` and
    /// `prometheus` are left out): counters as window differences, gauges at the end; keys are
    /// HAProxy's metric names without `haproxy_frontend_` (a `code` label is appended as
    /// `:<code>`).
    pub frontends: BTreeMap<String, BTreeMap<String, f64>>,
    /// Per backend (Ray's `http-<app>` per application, `default_backend` for requests no route
    /// matched), likewise without `haproxy_backend_`.
    pub backends: BTreeMap<String, BTreeMap<String, f64>>,
}

/// Ray Serve's metrics over a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsView {
    /// The export endpoint scraped.
    pub source: String,
    /// How often each Ray process sends its metrics to that endpoint (the lag of a scrape), ms.
    pub report_interval_ms: u64,
    /// Seconds between the two scrapes.
    pub window_s: f64,
    /// Per protocol (`http`, `grpc`).
    pub ingress: BTreeMap<String, Ingress>,
    /// Per `app/deployment`.
    pub deployments: BTreeMap<String, DeploymentMetrics>,
    /// HAProxy's counters, when it runs and its exporter answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub haproxy: Option<HaproxyMetrics>,
}

/// Series name of a Ray metric: Ray prefixes `ray_`; the Prometheus exporter may add `_total`
/// to counters.
fn counter_names(metric: &str) -> [String; 2] {
    [format!("ray_{metric}"), format!("ray_{metric}_total")]
}

/// Per series (full label set): later - earlier, or later whole after a reset or when new.
fn counter_deltas(earlier: &Exposition, later: &Exposition, metric: &str) -> Vec<(Labels, f64)> {
    let names = counter_names(metric);
    let before: BTreeMap<&Labels, f64> =
        names.iter().flat_map(|n| earlier.series(n)).map(|s| (&s.labels, s.value)).collect();
    names
        .iter()
        .flat_map(|n| later.series(n))
        .map(|s| {
            let d = match before.get(&s.labels) {
                Some(b) if s.value >= *b => s.value - b,
                _ => s.value,
            };
            (s.labels.clone(), d)
        })
        .collect()
}

/// Later scrape's gauge values per series.
fn gauge_values<'a>(later: &'a Exposition, metric: &str) -> Vec<(&'a Labels, f64)> {
    let name = format!("ray_{metric}");
    later.samples.iter().filter(|s| s.name == name).map(|s| (&s.labels, s.value)).collect()
}

/// Per series: the window's histogram.
fn histogram_deltas(earlier: &Exposition, later: &Exposition, metric: &str) -> Vec<(Labels, Histogram)> {
    let name = format!("ray_{metric}");
    let before: BTreeMap<Labels, Histogram> = earlier.histograms(&name).into_iter().collect();
    later
        .histograms(&name)
        .into_iter()
        .map(|(labels, h)| {
            let d = before.get(&labels).map_or_else(|| h.clone(), |b| h.since(b));
            (labels, d)
        })
        .collect()
}

fn label<'a>(labels: &'a Labels, key: &str) -> &'a str {
    labels.get(key).map_or("", String::as_str)
}

fn round(v: f64) -> u64 {
    v.max(0.0).round() as u64
}

/// Adds `h` into `slot`; a histogram with other bounds is noted and left out.
fn add_histogram(slot: &mut Option<Histogram>, h: &Histogram, what: &str, notes: &mut Vec<String>) {
    match slot {
        None => *slot = Some(h.clone()),
        Some(acc) => {
            if !acc.add(h) {
                notes.push(format!("{what}: series with other bucket bounds left out"));
            }
        }
    }
}

/// The ingress of one protocol.
fn ingress(
    earlier: &Exposition,
    later: &Exposition,
    protocol: &str,
    notes: &mut Vec<String>,
) -> Option<Ingress> {
    let mut apps: BTreeMap<String, IngressApp> = BTreeMap::new();
    let mut latencies: BTreeMap<String, Option<Histogram>> = BTreeMap::new();
    let empty = || IngressApp { requests: 0, errors: 0, by_status: BTreeMap::new(), latency: None };
    for (labels, d) in counter_deltas(earlier, later, &format!("serve_num_{protocol}_requests")) {
        let app = apps.entry(label(&labels, "application").to_owned()).or_insert_with(empty);
        app.requests += round(d);
        *app.by_status.entry(label(&labels, "status_code").to_owned()).or_default() += round(d);
    }
    for (labels, d) in counter_deltas(earlier, later, &format!("serve_num_{protocol}_error_requests")) {
        apps.entry(label(&labels, "application").to_owned()).or_insert_with(empty).errors += round(d);
    }
    let metric = format!("serve_{protocol}_request_latency_ms");
    for (labels, h) in histogram_deltas(earlier, later, &metric) {
        let slot = latencies.entry(label(&labels, "application").to_owned()).or_default();
        add_histogram(slot, &h, &metric, notes);
    }
    for (app, h) in latencies {
        apps.entry(app).or_insert_with(empty).latency = h.map(Latency::of);
    }
    let ongoing: Vec<f64> = gauge_values(later, &format!("serve_num_ongoing_{protocol}_requests"))
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    if apps.is_empty() && ongoing.is_empty() {
        return None;
    }
    Some(Ingress { apps, ongoing_end: (!ongoing.is_empty()).then(|| ongoing.iter().sum()) })
}

/// `app/deployment` of a series (`application` and `deployment` labels).
fn deployment_key(labels: &Labels) -> Option<String> {
    let deployment = labels.get("deployment").filter(|d| !d.is_empty())?;
    Some(format!("{}/{}", label(labels, "application"), deployment))
}

fn deployments(
    earlier: &Exposition,
    later: &Exposition,
    notes: &mut Vec<String>,
) -> BTreeMap<String, DeploymentMetrics> {
    let mut out: BTreeMap<String, DeploymentMetrics> = BTreeMap::new();
    let empty = || DeploymentMetrics {
        replicas: 0,
        requests: 0,
        errors: 0,
        processing: None,
        routed: 0,
        ongoing_end: None,
        queued_end: None,
    };
    let mut replicas: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    let mut seen = |key: &str, labels: &Labels| {
        if let Some(r) = labels.get("replica").filter(|r| !r.is_empty()) {
            replicas.entry(key.to_owned()).or_default().insert(r.clone());
        }
    };
    for (labels, d) in counter_deltas(earlier, later, "serve_deployment_request_counter") {
        if let Some(key) = deployment_key(&labels) {
            seen(&key, &labels);
            out.entry(key).or_insert_with(empty).requests += round(d);
        }
    }
    for (labels, d) in counter_deltas(earlier, later, "serve_deployment_error_counter") {
        if let Some(key) = deployment_key(&labels) {
            out.entry(key).or_insert_with(empty).errors += round(d);
        }
    }
    for (labels, d) in counter_deltas(earlier, later, "serve_num_router_requests") {
        if let Some(key) = deployment_key(&labels) {
            out.entry(key).or_insert_with(empty).routed += round(d);
        }
    }
    let metric = "serve_deployment_processing_latency_ms";
    let mut processing: BTreeMap<String, Option<Histogram>> = BTreeMap::new();
    for (labels, h) in histogram_deltas(earlier, later, metric) {
        if let Some(key) = deployment_key(&labels) {
            seen(&key, &labels);
            add_histogram(processing.entry(key).or_default(), &h, metric, notes);
        }
    }
    for (key, h) in processing {
        out.entry(key).or_insert_with(empty).processing = h.map(Latency::of);
    }
    for (gauge, ongoing) in
        [("serve_replica_processing_queries", true), ("serve_deployment_queued_queries", false)]
    {
        for (labels, v) in gauge_values(later, gauge) {
            if let Some(key) = deployment_key(labels) {
                if ongoing {
                    seen(&key, labels);
                }
                let d = out.entry(key).or_insert_with(empty);
                let slot = if ongoing { &mut d.ongoing_end } else { &mut d.queued_end };
                *slot = Some(slot.unwrap_or(0.0) + v);
            }
        }
    }
    for (key, set) in replicas {
        if let Some(d) = out.get_mut(&key) {
            d.replicas = u32::try_from(set.len()).unwrap_or(u32::MAX);
        }
    }
    out
}

/// HAProxy's own monitoring endpoints in Ray's configuration, left out (the observer's scrapes
/// are their only traffic).
const HAPROXY_OWN_PROXIES: &[&str] = &["prometheus", "stats"];

/// HAProxy's metrics kept per level: counters (differences) and gauges (end values).
const HAPROXY_COUNTERS: &[&str] = &[
    "http_requests_total",
    "http_responses_total",
    "request_errors_total",
    "connection_errors_total",
    "response_errors_total",
    "retry_warnings_total",
    "redispatch_warnings_total",
    "sessions_total",
    "bytes_in_total",
    "bytes_out_total",
    "denied_connections_total",
    "internal_errors_total",
];
const HAPROXY_GAUGES: &[&str] = &[
    "current_sessions",
    "current_queue",
    "queue_time_average_seconds",
    "connect_time_average_seconds",
    "response_time_average_seconds",
    "total_time_average_seconds",
    "active_servers",
];

/// HAProxy's frontends and backends over the window.
pub(crate) fn haproxy(earlier: &Exposition, later: &Exposition, source: &str) -> HaproxyMetrics {
    let mut view =
        HaproxyMetrics { source: source.to_owned(), frontends: BTreeMap::new(), backends: BTreeMap::new() };
    let key = |short: &str, labels: &Labels| match labels.get("code") {
        Some(code) => format!("{short}:{code}"),
        None => short.to_owned(),
    };
    for (kind, map) in [("frontend", &mut view.frontends), ("backend", &mut view.backends)] {
        let prefix = format!("haproxy_{kind}_");
        let before: BTreeMap<(&str, &Labels), f64> =
            earlier.samples.iter().map(|s| ((s.name.as_str(), &s.labels), s.value)).collect();
        for s in later.samples.iter().filter(|s| s.name.starts_with(&prefix)) {
            let short = &s.name[prefix.len()..];
            let proxy = label(&s.labels, "proxy").to_owned();
            if HAPROXY_OWN_PROXIES.contains(&proxy.as_str()) {
                continue;
            }
            let value = if HAPROXY_COUNTERS.contains(&short) {
                match before.get(&(s.name.as_str(), &s.labels)) {
                    Some(b) if s.value >= *b => s.value - b,
                    _ => s.value,
                }
            } else if HAPROXY_GAUGES.contains(&short) {
                s.value
            } else {
                continue;
            };
            *map.entry(proxy).or_default().entry(key(short, &s.labels)).or_default() += value;
        }
    }
    view
}

/// Ray Serve's metrics between two scrapes of the export endpoint.
pub(crate) fn metrics_view(
    earlier: &Exposition,
    later: &Exposition,
    source: &str,
    report_interval_ms: u64,
    window_s: f64,
    notes: &mut Vec<String>,
) -> MetricsView {
    let mut ingress_map = BTreeMap::new();
    for protocol in ["http", "grpc"] {
        if let Some(i) = ingress(earlier, later, protocol, notes) {
            ingress_map.insert(protocol.to_owned(), i);
        }
    }
    MetricsView {
        source: source.to_owned(),
        report_interval_ms,
        window_s,
        ingress: ingress_map,
        deployments: deployments(earlier, later, notes),
        haproxy: None,
    }
}
