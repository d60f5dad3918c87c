//! The result of one level, in the versioned form written to disk (`docs/results-schema.md`):
//! a JSON document per level and a CSV row per level in its sweep's table.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The schema version every result carries.
pub const SCHEMA: &str = "servebench.level/1";

/// Percentiles of a latency distribution, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencyStats {
    /// Number of recorded values.
    pub count: u64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Smallest value.
    pub min: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest value.
    pub max: f64,
    /// Standard deviation.
    pub stdev: f64,
}

/// Service-level objectives a request must meet to count towards goodput (milliseconds); a
/// missing one is not checked.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Slo {
    /// Time to first token (first event).
    pub ttft_ms: Option<f64>,
    /// Time per output token.
    pub tpot_ms: Option<f64>,
    /// End-to-end latency.
    pub e2el_ms: Option<f64>,
}

/// Token totals of the successful requests issued in the window (LLM workloads).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenCounts {
    /// Prompt tokens.
    pub input: u64,
    /// Generated tokens.
    pub output: u64,
    /// Requests whose counts came from counting chunks because the server sent no `usage`.
    pub counted_from_chunks: u64,
}

/// The schedule as results record it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum ScheduleInfo {
    /// Closed loop.
    Closed {
        /// Virtual users.
        users: u32,
        /// Think time in milliseconds.
        think_time_ms: f64,
    },
    /// Open loop.
    Open {
        /// Target arrivals per second.
        rate_rps: f64,
        /// `constant`, `poisson` or `gamma`.
        arrival: String,
        /// Cap on requests in flight.
        max_in_flight: u32,
    },
}

/// The phases as results record them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PhasesInfo {
    /// Warm-up, seconds.
    pub warmup_s: f64,
    /// The measured window as it really lasted, seconds.
    pub window_s: f64,
    /// The window as asked for: a request count, when it was one.
    pub window_requests: Option<u64>,
    /// Cool-down, seconds.
    pub cooldown_s: f64,
    /// How long the level waited after the window for the window's requests to finish,
    /// seconds (at most the request timeout and a margin).
    #[serde(default)]
    pub drain_s: f64,
    /// Why an automatic warm-up ended ([`crate::Warmup::Auto`]); `None` for a fixed one.
    /// `warmup_s` is its real length.
    #[serde(default)]
    pub warmup_end: Option<PhaseEnd>,
    /// Why an adaptive window ended ([`crate::Window::Adaptive`]); `None` for a window of a
    /// fixed length or a number of requests. `window_s` is its real length.
    #[serde(default)]
    pub window_end: Option<PhaseEnd>,
}

/// Why a phase of adaptive length ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseEnd {
    /// The answer was known: an adaptive window's throughput and p99 converged, an automatic
    /// warm-up's throughput and latency settled.
    Converged,
    /// It reached its longest length first.
    Max,
}

impl PhaseEnd {
    /// `converged` or `max`, as in result files.
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseEnd::Converged => "converged",
            PhaseEnd::Max => "max",
        }
    }
}

/// Whether a level's window was one steady state, judged from its per-second series (see
/// `docs/results-schema.md` and the thresholds in [`crate::stability`]).
///
/// Throughput is judged on *points*: the window's whole seconds, or bins of several seconds
/// when fewer than [`crate::stability::MIN_PER_POINT`] requests complete in a second (the
/// earliest seconds that do not fill a bin are left out). With fewer than
/// [`crate::stability::MIN_POINTS`] points the window is too short to judge: `judged` is false,
/// `stable` true, and `reasons` says so.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stability {
    /// Whole seconds of the window looked at (a last partial second is left out).
    pub seconds: u64,
    /// Seconds per point (1 unless throughput was low).
    pub seconds_per_point: u64,
    /// Points judged.
    pub points: u64,
    /// Coefficient of variation (standard deviation / mean) of per-point throughput.
    pub throughput_cv: Option<f64>,
    /// Relative change of throughput over the window: a least-squares line through the points,
    /// from the window's start to its end, over the mean (-0.12: fell 12%).
    pub throughput_trend: Option<f64>,
    /// Half-width of the 95% confidence interval of the mean per-second throughput, relative to
    /// the mean, by batch means (as an adaptive window computes it, see
    /// [`crate::Window::Adaptive`]); `None` under two seconds.
    pub throughput_half_width: Option<f64>,
    /// Relative change of per-point median latency over the window, as `throughput_trend` but along
    /// a robust line (the Theil-Sen slope, judged by the Mann-Kendall test): one slow second
    /// moves it little.
    pub p50_trend: Option<f64>,
    /// Coefficient of variation of per-point p99 latency (reported, not judged: tails vary from
    /// second to second by nature).
    pub p99_cv: Option<f64>,
    /// Relative change of per-point p99 latency over the window, as `throughput_trend` but along
    /// a robust line (the Theil-Sen slope, judged by the Mann-Kendall test): one slow second
    /// moves it little.
    pub p99_trend: Option<f64>,
    /// Whether there were enough points to judge.
    pub judged: bool,
    /// False when the level was judged unstable: never use such a level as a peak without saying
    /// so. True for a stable level, and for one too short to judge (`judged: false`).
    pub stable: bool,
    /// Why the level is unstable, or why it could not be judged.
    pub reasons: Vec<String>,
}

/// Counters of a level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Counts {
    /// Requests issued (intended start) inside the window.
    pub issued: u64,
    /// Of those, the successful ones.
    pub ok: u64,
    /// Of those, the failed ones (all classes).
    pub errors: u64,
    /// Successful requests completed inside the window, whenever issued.
    pub completed_in_window: u64,
    /// Open loop: sends that started more than 1 ms after their scheduled time.
    pub late_sends: u64,
    /// Open loop: arrivals scheduled inside the window that were never sent.
    pub unsent: u64,
    /// Connections re-opened after the peer closed them or a request broke them.
    pub reconnects: u64,
    /// Events (SSE events, stream messages, tokens) of the requests issued in the window.
    pub events: u64,
    /// Requests still in flight when the level stopped waiting for them: those issued during the
    /// warm-up and still running when the window ended (they held a user for the whole window),
    /// and those issued in the window and still running at the end of the drain (also counted as
    /// errors of class `unfinished`).
    #[serde(default)]
    pub unfinished: u64,
}

/// One point of the per-second time series of the window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SeriesPoint {
    /// Second of the window.
    pub t_s: u64,
    /// Successful completions in that second.
    pub throughput_rps: f64,
    /// Events received in that second.
    pub events_per_s: f64,
    /// Median latency of the completions in that second.
    pub p50_ms: Option<f64>,
    /// p99 latency of the completions in that second.
    pub p99_ms: Option<f64>,
    /// Failures in that second.
    pub errors: u64,
}

/// How the client itself fared, so that a client limit is never taken for a server limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientHealth {
    /// CPU time (user + system) of this process / (window x usable cores).
    pub cpu: f64,
    /// Cores this process may use.
    pub cores: usize,
    /// p99 of the runtime's scheduling lag, milliseconds.
    pub lag_p99_ms: f64,
    /// Largest scheduling lag, milliseconds.
    pub lag_max_ms: f64,
    /// Whether the client may have been the bottleneck.
    pub bound: bool,
    /// Why it was flagged.
    pub reasons: Vec<String>,
    /// What was seen but not held against the client (for example scheduling lag caused by other
    /// processes on the machine).
    #[serde(default)]
    pub notes: Vec<String>,
}

/// Everything measured in one level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelResult {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The level's label.
    pub label: String,
    /// `http`, `sse`, `grpc`, `openai`.
    pub protocol: String,
    /// The target (no secrets).
    pub target: String,
    /// Names of the extra headers sent (never their values).
    pub headers: Vec<String>,
    /// Who sent when.
    pub schedule: ScheduleInfo,
    /// The phases.
    pub phases: PhasesInfo,
    /// When the level started (RFC 3339, UTC).
    pub started_at: String,
    /// Counters.
    pub counts: Counts,
    /// Successful requests completed inside the window / window.
    pub throughput_rps: f64,
    /// Events received inside the window / window (streaming workloads).
    pub events_per_s: Option<f64>,
    /// End-to-end latency of the successful requests issued in the window.
    pub latency_ms: Option<LatencyStats>,
    /// Time to the first byte of the answer.
    pub ttfb_ms: Option<LatencyStats>,
    /// Time to the first event (streaming).
    pub first_event_ms: Option<LatencyStats>,
    /// Gaps between events (streaming).
    pub event_gap_ms: Option<LatencyStats>,
    /// Open loop: how late sends started after their scheduled time.
    pub send_delay_ms: Option<LatencyStats>,
    /// LLM: time per output token after the first.
    pub tpot_ms: Option<LatencyStats>,
    /// LLM: inter-token latency, per token: a chunk of `k` tokens after a gap `g` counts `k`
    /// latencies of `g / k` (the gaps between chunks themselves are `event_gap_ms`).
    #[serde(default)]
    pub itl_ms: Option<LatencyStats>,
    /// Ages of the unfinished requests when the level stopped waiting for them.
    #[serde(default)]
    pub unfinished_age_ms: Option<LatencyStats>,
    /// LLM: token totals.
    pub tokens: Option<TokenCounts>,
    /// The objectives of the level, if any.
    pub slo: Option<Slo>,
    /// Requests issued in the window that succeeded and met `slo` / window (with an `slo`).
    pub goodput_rps: Option<f64>,
    /// Failures by class (every class listed, zeros included).
    pub errors: BTreeMap<String, u64>,
    /// Unexpected statuses by code.
    pub status_codes: BTreeMap<String, u64>,
    /// A few distinct failure descriptions.
    pub error_samples: Vec<String>,
    /// Per-second time series of the window.
    pub series: Vec<SeriesPoint>,
    /// Client health.
    pub client: ClientHealth,
    /// Whether the level measured anything: false when no request issued in the window
    /// succeeded, or none completed inside it (a hung server, requests longer than the window).
    /// Such a level is never a peak; `invalid_reason` says why.
    #[serde(default = "valid_default")]
    pub valid: bool,
    /// Why the level is not valid.
    #[serde(default)]
    pub invalid_reason: Option<String>,
    /// Every request issued in the window, in order of intended start, when the level asked for
    /// them ([`crate::Level::keep_requests`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<Vec<RequestRecord>>,
    /// Whether the window was one steady state ([`Stability`]); `None` in files written before
    /// loadgen judged it. A level with `stable: false` is never silently a peak.
    #[serde(default)]
    pub stability: Option<Stability>,
    /// What the system under test reported about this level, filled by the caller (servebench's
    /// suites put Ray Serve's metrics and process CPU here); loadgen leaves it `None` and never
    /// reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<serde_json::Value>,
    /// Earlier attempts at this level that the caller measured again, one line each (where the
    /// attempt is kept and why it was not used: servebench's suites measure an unstable level
    /// again); loadgen leaves it empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retried: Vec<String>,
    /// Whether the caller measured this level only for a quick look (servebench's scouting pass:
    /// short bounds, to find where the peak can lie before the long windows are spent there).
    /// Such a level is shown but never a peak; loadgen leaves it `false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub scout: bool,
}

/// One request of the measured window (kept only when asked for: see
/// [`crate::Level::keep_requests`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Intended start, seconds after the window's start.
    pub start_s: f64,
    /// End-to-end latency from the intended start, seconds.
    pub latency_s: f64,
    /// Time to the first event (token) from the intended start, seconds.
    pub ttft_s: Option<f64>,
    /// Gaps between consecutive events, seconds.
    pub itls_s: Vec<f64>,
    /// Prompt tokens (0 when unknown or failed).
    pub input_tokens: u32,
    /// Generated tokens (0 when unknown or failed).
    pub output_tokens: u32,
    /// Why it failed; `None` for a success.
    pub error: Option<String>,
}

fn valid_default() -> bool {
    true
}

impl LevelResult {
    /// Requests issued during the warm-up that were still unfinished when the window ended.
    pub fn unfinished_from_warmup(&self) -> u64 {
        let in_window = self.errors.get(crate::ErrorClass::Unfinished.as_str()).copied().unwrap_or(0);
        self.counts.unfinished.saturating_sub(in_window)
    }

    /// The share of failed requests: (errors + requests left unfinished from the warm-up) /
    /// (issued + the same). The warm-up's unfinished requests count because each held a user for
    /// the whole window (a hung server issues nothing in the window). 0 when there is nothing to
    /// count.
    pub fn error_rate(&self) -> f64 {
        let carried = self.unfinished_from_warmup();
        let all = self.counts.issued + carried;
        if all == 0 { 0.0 } else { (self.counts.errors + carried) as f64 / all as f64 }
    }

    /// The p99 end-to-end latency in milliseconds, if any request succeeded.
    pub fn p99_ms(&self) -> Option<f64> {
        self.latency_ms.map(|l| l.p99)
    }

    /// Concurrency figure of the level: users, or the in-flight cap.
    pub fn concurrency(&self) -> u32 {
        match &self.schedule {
            ScheduleInfo::Closed { users, .. } => *users,
            ScheduleInfo::Open { max_in_flight, .. } => *max_in_flight,
        }
    }
}

/// The CSV table's header (`docs/results-schema.md`).
pub fn csv_header() -> Vec<&'static str> {
    vec![
        "schema",
        "label",
        "mode",
        "concurrency",
        "rate_rps",
        "window_s",
        "issued",
        "ok",
        "errors",
        "error_rate",
        "throughput_rps",
        "events_per_s",
        "latency_mean_ms",
        "latency_p50_ms",
        "latency_p90_ms",
        "latency_p95_ms",
        "latency_p99_ms",
        "latency_p999_ms",
        "latency_max_ms",
        "ttfb_p50_ms",
        "ttfb_p99_ms",
        "first_event_p50_ms",
        "first_event_p99_ms",
        "late_sends",
        "unsent",
        "client_cpu",
        "client_lag_p99_ms",
        "client_bound",
        "unfinished",
        "valid",
        "stable",
        "throughput_cv",
        "throughput_trend",
        "window_end",
        "scout",
    ]
}

fn num(v: f64) -> String {
    // Three decimals is microsecond resolution for milliseconds; trailing zeros trimmed.
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" { "0".to_owned() } else { s.to_owned() }
}

fn opt(v: Option<f64>) -> String {
    v.map(num).unwrap_or_default()
}

/// A ratio with four decimals, empty when unknown.
fn opt4(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.4}")).unwrap_or_default()
}

/// One CSV row for `r`, in the order of [`csv_header`].
pub fn csv_row(r: &LevelResult) -> Vec<String> {
    let (mode, rate) = match &r.schedule {
        ScheduleInfo::Closed { .. } => ("closed", String::new()),
        ScheduleInfo::Open { rate_rps, .. } => ("open", num(*rate_rps)),
    };
    let l = r.latency_ms;
    vec![
        r.schema.clone(),
        r.label.clone(),
        mode.to_owned(),
        r.concurrency().to_string(),
        rate,
        num(r.phases.window_s),
        r.counts.issued.to_string(),
        r.counts.ok.to_string(),
        r.counts.errors.to_string(),
        format!("{:.6}", r.error_rate()),
        num(r.throughput_rps),
        opt(r.events_per_s),
        opt(l.map(|l| l.mean)),
        opt(l.map(|l| l.p50)),
        opt(l.map(|l| l.p90)),
        opt(l.map(|l| l.p95)),
        opt(l.map(|l| l.p99)),
        opt(l.map(|l| l.p999)),
        opt(l.map(|l| l.max)),
        opt(r.ttfb_ms.map(|l| l.p50)),
        opt(r.ttfb_ms.map(|l| l.p99)),
        opt(r.first_event_ms.map(|l| l.p50)),
        opt(r.first_event_ms.map(|l| l.p99)),
        r.counts.late_sends.to_string(),
        r.counts.unsent.to_string(),
        format!("{:.4}", r.client.cpu),
        num(r.client.lag_p99_ms),
        r.client.bound.to_string(),
        r.counts.unfinished.to_string(),
        r.valid.to_string(),
        r.stability.as_ref().map(|s| s.stable.to_string()).unwrap_or_default(),
        opt4(r.stability.as_ref().and_then(|s| s.throughput_cv)),
        opt4(r.stability.as_ref().and_then(|s| s.throughput_trend)),
        r.phases.window_end.map(|e| e.as_str().to_owned()).unwrap_or_default(),
        r.scout.to_string(),
    ]
}

/// `vllm bench serve --save-result --save-detailed`: [`vllm_result`] plus the per-request lists
/// (`start_times`, `input_lens`, `output_lens`, `ttfts`, `itls`, `errors`; times in seconds,
/// failed requests with zeros and their error) from [`LevelResult::requests`]. `generated_texts`
/// is left out: loadgen does not keep what the model wrote.
pub fn vllm_result_detailed(r: &LevelResult, model: &str, backend: &str) -> serde_json::Value {
    use serde_json::json;
    let mut v = vllm_result(r, model, backend);
    let reqs = r.requests.as_deref().unwrap_or_default();
    v["start_times"] = json!(reqs.iter().map(|q| q.start_s).collect::<Vec<_>>());
    v["input_lens"] = json!(reqs.iter().map(|q| q.input_tokens).collect::<Vec<_>>());
    v["output_lens"] = json!(reqs.iter().map(|q| q.output_tokens).collect::<Vec<_>>());
    v["ttfts"] =
        json!(reqs.iter().map(|q| q.ttft_s.filter(|_| q.error.is_none()).unwrap_or(0.0)).collect::<Vec<_>>());
    v["itls"] = json!(
        reqs.iter()
            .map(|q| if q.error.is_none() { q.itls_s.clone() } else { Vec::new() })
            .collect::<Vec<_>>()
    );
    v["errors"] = json!(reqs.iter().map(|q| q.error.clone().unwrap_or_default()).collect::<Vec<_>>());
    v
}

/// A level as `vllm bench serve --save-result` writes it, so existing vLLM tooling reads it:
/// run-level figures (vLLM's per-request arrays come with [`vllm_result_detailed`]). Its `itl`
/// figures are per token ([`LevelResult::itl_ms`]; the gaps between events for a level without
/// one). `backend` is `openai` or `openai-chat`.
pub fn vllm_result(r: &LevelResult, model: &str, backend: &str) -> serde_json::Value {
    use serde_json::{Value, json};
    let dur = r.phases.window_s;
    let per_s = |n: u64| if dur > 0.0 { n as f64 / dur } else { 0.0 };
    let tokens = r.tokens.unwrap_or(TokenCounts { input: 0, output: 0, counted_from_chunks: 0 });
    let (rate, burstiness, max_concurrency): (Value, Value, Value) = match &r.schedule {
        ScheduleInfo::Closed { users, .. } => (json!("inf"), json!(1.0), json!(users)),
        ScheduleInfo::Open { rate_rps, arrival, max_in_flight } => (
            json!(rate_rps),
            json!(if arrival == "constant" { Value::Null } else { json!(1.0) }),
            json!(max_in_flight),
        ),
    };
    let date = r.started_at.get(..19).unwrap_or_default().replace(['-', ':'], "").replace('T', "-");
    let mut v = json!({
        "date": date,
        "backend": backend,
        "model_id": model,
        "tokenizer_id": model,
        "num_prompts": r.counts.issued,
        "request_rate": rate,
        "burstiness": burstiness,
        "max_concurrency": max_concurrency,
        "duration": dur,
        "completed": r.counts.ok,
        "failed": r.counts.errors,
        "total_input_tokens": tokens.input,
        "total_output_tokens": tokens.output,
        "request_throughput": per_s(r.counts.ok),
        "output_throughput": per_s(tokens.output),
        "total_token_throughput": per_s(tokens.input + tokens.output),
        "output_tokens_counted_from_chunks": tokens.counted_from_chunks,
    });
    if let Some(g) = r.goodput_rps {
        v["request_goodput"] = json!(g);
    }
    for (name, stats) in [
        ("ttft", r.first_event_ms),
        ("tpot", r.tpot_ms),
        ("itl", r.itl_ms.or(r.event_gap_ms)),
        ("e2el", r.latency_ms),
    ] {
        let s = stats.unwrap_or(LatencyStats {
            count: 0,
            mean: 0.0,
            min: 0.0,
            p50: 0.0,
            p90: 0.0,
            p95: 0.0,
            p99: 0.0,
            p999: 0.0,
            max: 0.0,
            stdev: 0.0,
        });
        v[format!("mean_{name}_ms")] = json!(s.mean);
        v[format!("median_{name}_ms")] = json!(s.p50);
        v[format!("std_{name}_ms")] = json!(s.stdev);
        v[format!("p90_{name}_ms")] = json!(s.p90);
        v[format!("p99_{name}_ms")] = json!(s.p99);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A level written before `unfinished`, `valid`, `itl_ms` and `drain_s` existed.
    const OLD_LEVEL: &str = r#"{
      "schema": "servebench.level/1", "label": "c8", "protocol": "http",
      "target": "http://127.0.0.1:8000/echo", "headers": [],
      "schedule": {"mode": "closed", "users": 8, "think_time_ms": 0},
      "phases": {"warmup_s": 2.0, "window_s": 10.0, "window_requests": null, "cooldown_s": 1.0},
      "started_at": "2026-11-27T19:00:00Z",
      "counts": {"issued": 1234, "ok": 1230, "errors": 4, "completed_in_window": 1229,
                 "late_sends": 0, "unsent": 0, "reconnects": 0, "events": 0},
      "throughput_rps": 122.9, "events_per_s": null, "latency_ms": null, "ttfb_ms": null,
      "first_event_ms": null, "event_gap_ms": null, "send_delay_ms": null, "tpot_ms": null,
      "tokens": null, "slo": null, "goodput_rps": null,
      "errors": {"connect": 0, "timeout": 0, "status": 4, "body": 0, "protocol": 0, "stream": 0, "unsent": 0},
      "status_codes": {"503": 4}, "error_samples": [], "series": [],
      "client": {"cpu": 0.12, "cores": 2, "lag_p99_ms": 0.3, "lag_max_ms": 1.2, "bound": false, "reasons": []}
    }"#;

    #[test]
    fn older_files_still_load_as_valid_levels() {
        let r: LevelResult = serde_json::from_str(OLD_LEVEL).unwrap_or_else(|e| panic!("{e}"));
        assert!(r.valid && r.invalid_reason.is_none());
        assert_eq!((r.counts.unfinished, r.phases.drain_s), (0, 0.0));
        assert!(r.itl_ms.is_none() && r.unfinished_age_ms.is_none());
        assert_eq!(r.error_rate(), 4.0 / 1234.0);
        assert!(r.stability.is_none() && r.server.is_none());
        assert_eq!((r.phases.warmup_end, r.phases.window_end), (None, None));
        // Written again, the new fields appear (the caller's `server` only when set).
        let again = serde_json::to_value(&r).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again["valid"], true);
        assert_eq!(again["counts"]["unfinished"], 0);
        assert!(again["stability"].is_null() && again["phases"]["window_end"].is_null());
        assert!(again.get("server").is_none());
        // An older table row has empty stability columns.
        let row = csv_row(&r);
        assert_eq!(row.len(), csv_header().len());
        assert!(row[row.len() - 5..row.len() - 1].iter().all(String::is_empty), "{row:?}");
        assert_eq!(row[row.len() - 1], "false", "measured in full");
    }

    #[test]
    fn the_caller_s_server_figures_and_the_verdict_round_trip() {
        let mut r: LevelResult = serde_json::from_str(OLD_LEVEL).unwrap_or_else(|e| panic!("{e}"));
        r.server = Some(serde_json::json!({"ray_serve": {"replica_cpu": 0.93}, "processes": []}));
        r.phases.window_end = Some(PhaseEnd::Converged);
        r.stability = Some(Stability {
            seconds: 12,
            seconds_per_point: 1,
            points: 12,
            throughput_cv: Some(0.02),
            throughput_trend: Some(-0.01),
            throughput_half_width: Some(0.012),
            p50_trend: Some(0.0),
            p99_cv: Some(0.1),
            p99_trend: Some(0.03),
            judged: true,
            stable: true,
            reasons: vec![],
        });
        let json = serde_json::to_string(&r).unwrap_or_else(|e| panic!("{e}"));
        assert!(json.contains(r#""window_end":"converged""#), "{json}");
        let back: LevelResult = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, r);
        let row = csv_row(&r);
        assert_eq!(row[row.len() - 5..], ["true", "0.0200", "-0.0100", "converged", "false"]);
        r.scout = true;
        assert_eq!(csv_row(&r).last().map(String::as_str), Some("true"));
    }

    #[test]
    fn the_error_rate_counts_requests_left_unfinished_from_the_warm_up() {
        let mut r: LevelResult = serde_json::from_str(OLD_LEVEL).unwrap_or_else(|e| panic!("{e}"));
        r.counts = Counts { unfinished: 8, ..Counts::default() };
        assert_eq!(r.error_rate(), 1.0, "a hung server: nothing issued, 8 users stuck");
        r.counts = Counts { issued: 10, ok: 8, errors: 2, unfinished: 2, ..Counts::default() };
        r.errors.insert("unfinished".into(), 2);
        assert_eq!(r.unfinished_from_warmup(), 0);
        assert_eq!(r.error_rate(), 0.2);
    }
}
