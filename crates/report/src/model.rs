//! The measured data every importer produces: a [`MeasuredSweep`] of [`MeasuredLevel`]s (what
//! was measured, not what was asked for: `loadgen::Sweep` and `loadgen::Level` are the levels to
//! run), the rules that give the original suite's file names a meaning (which variant is the
//! baseline), and which measurements are a workload's throughput and latency ([`Metric`]).

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One measured sweep (concurrency or arrival-rate levels) of one variant on one workload.
///
/// Which sweeps are compared with which is said by the studies of [`crate::Loaded`]
/// ([`crate::ComparisonStudy`], [`crate::ScalingStudy`]), not by the sweep: a sweep measured once
/// may serve several studies.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasuredSweep {
    /// The suite the sweep belongs to (the run index's `suite`, or the name of the results
    /// directory it was read from).
    pub suite: String,
    /// The variant (`on`, `off`, `all_on`, `optimized`, `vllm`, ...).
    pub variant: String,
    /// The deployment layout (`1replica`, `n4`, `bare`), when the source says.
    pub layout: Option<String>,
    /// The workload (`unary`, `streaming`, `recsys`, `llm`, ...).
    pub workload: String,
    /// The replica count of the measured deployment, when the source says.
    pub replicas: Option<u32>,
    /// Whether the sweep measured something outside Ray Serve (a bare engine such as vLLM).
    pub external: bool,
    /// The format the sweep was read from.
    pub format: SourceFormat,
    /// The file (or folder of per-level files) the sweep was read from.
    pub path: PathBuf,
    /// The levels, sorted by concurrency (then arrival rate, then repeat).
    pub levels: Vec<MeasuredLevel>,
    /// The study the sweep was measured for, when the run index says (`study`): in a paired run
    /// the baseline is measured again with each treatment, so each of its sweeps belongs to one
    /// study.
    pub study: Option<String>,
    /// How many times each level was measured (the index's `repeats`, R), when it says.
    pub repeats: Option<u32>,
    /// Whether the sweep was measured paired with the other sweeps of its study: both variants
    /// deployed at once, alternated level by level in ABBA order, so that repeat k of a user count
    /// of the baseline ran right next to repeat k of the same user count of the treatment.
    pub paired: bool,
    /// Whether each repeat was measured on fresh deployments (the index's `redeployed`).
    pub redeployed: bool,
    /// Why the sweep stopped climbing early (for example past saturation), when it did.
    pub stopped: Option<String>,
}

impl MeasuredSweep {
    /// A sweep with no layout, replica count or levels yet.
    pub fn new(
        suite: impl Into<String>,
        variant: impl Into<String>,
        workload: impl Into<String>,
        format: SourceFormat,
        path: impl Into<PathBuf>,
    ) -> Self {
        Self {
            suite: suite.into(),
            variant: variant.into(),
            layout: None,
            workload: workload.into(),
            replicas: None,
            external: false,
            format,
            path: path.into(),
            levels: Vec::new(),
            study: None,
            repeats: None,
            paired: false,
            redeployed: false,
            stopped: None,
        }
    }

    /// Whether this sweep's variant is named like a baseline (`off`, `unoptimized`, `baseline`).
    pub fn is_baseline(&self) -> bool {
        is_baseline_variant(&self.variant)
    }
}

/// Summary statistics of one distribution, in milliseconds; each is `None` when the source does
/// not record it.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Percentiles {
    /// Arithmetic mean.
    pub mean: Option<f64>,
    /// Median.
    pub p50: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
}

impl Percentiles {
    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.mean.is_none() && self.p50.is_none() && self.p90.is_none() && self.p99.is_none()
    }

    /// Each statistic scaled by `factor` (seconds to milliseconds: 1000).
    pub fn scaled(self, factor: f64) -> Self {
        let f = |v: Option<f64>| v.map(|v| v * factor);
        Self { mean: f(self.mean), p50: f(self.p50), p90: f(self.p90), p99: f(self.p99) }
    }

    /// `self` where it has a value, else `other`.
    pub fn or(self, other: Self) -> Self {
        Self {
            mean: self.mean.or(other.mean),
            p50: self.p50.or(other.p50),
            p90: self.p90.or(other.p90),
            p99: self.p99.or(other.p99),
        }
    }

    fn values(&self) -> [Option<f64>; 4] {
        [self.mean, self.p50, self.p90, self.p99]
    }
}

/// Token totals of a level (LLM workloads): of the successful requests issued in the window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenTotals {
    /// Prompt tokens.
    pub input: u64,
    /// Generated tokens.
    pub output: u64,
    /// Prompt tokens per second of the window.
    pub input_per_s: f64,
    /// Generated tokens per second of the window (the LLM throughput).
    pub output_per_s: f64,
}

impl TokenTotals {
    /// Totals over a window of `window_s` seconds (rates 0 for an empty window).
    pub fn over(input: u64, output: u64, window_s: f64) -> Self {
        let per_s = |n: u64| if window_s > 0.0 { n as f64 / window_s } else { 0.0 };
        Self { input, output, input_per_s: per_s(input), output_per_s: per_s(output) }
    }
}

/// The measurements of one level of a sweep, normalized across formats.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasuredLevel {
    /// The level's label (`c8`, `r2000`; imported levels get `c<concurrency>`).
    pub label: String,
    /// Virtual users (closed loop) or the maximum number of connections in flight (open loop).
    pub concurrency: u64,
    /// Open loop: the target arrival rate; `None` for closed loop.
    pub rate_rps: Option<f64>,
    /// Successful requests completed per second.
    pub throughput_rps: f64,
    /// Streaming: events (tokens) received per second by all users.
    pub events_per_s: Option<f64>,
    /// End-to-end latency of the successful requests.
    pub latency_ms: Percentiles,
    /// Time to the first event (streaming) or token (LLM: TTFT).
    pub first_event_ms: Percentiles,
    /// LLM: time per output token after the first (TPOT).
    pub tpot_ms: Percentiles,
    /// LLM: token totals and rates.
    pub tokens: Option<TokenTotals>,
    /// Failed / issued, when the format records it.
    pub error_rate: Option<f64>,
    /// Whether the client may have been the bottleneck.
    pub client_bound: bool,
    /// Which repeat of its user count this level is (`k` of a label `c<users>-r<k>`), `None` for
    /// a level measured once.
    pub repeat: Option<u32>,
    /// Whether the level measured anything (`false`: nothing completed, a hung server); such a
    /// level is never a peak.
    pub valid: bool,
    /// Why the level is not valid.
    pub invalid_reason: Option<String>,
    /// Whether its throughput held steady through the window, when the source says.
    pub stability: Option<Stability>,
    /// The per-second time series of the window (empty when the source has none).
    pub series: Vec<SeriesPoint>,
    /// The server's view of the window (Ray Serve's metrics, CPU by role), when the level JSON
    /// has one (`server`); an unavailable view keeps the writer's reason. `None` for files
    /// written before it existed and for every other format.
    pub server: Option<crate::server::ServerView>,
    /// Whether the level is a scouting pass's quick look (the level JSON's `scout`): shown, never
    /// a peak. The suite measured every level that could be the peak again in full.
    pub scout: bool,
}

/// Whether a level's throughput held steady through its window (the level JSON's `stability`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Stability {
    /// Coefficient of variation of the per-second throughput.
    pub cv: Option<f64>,
    /// The drift of the per-second throughput over the window, as the writer measures it.
    pub trend: Option<f64>,
    /// `false`: the level never counts as a peak.
    pub stable: bool,
    /// Why it was flagged.
    pub reasons: Vec<String>,
}

/// One second of a level's window (the level JSON's `series`).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct SeriesPoint {
    /// The second of the window.
    pub t_s: f64,
    /// Successful requests completed in that second.
    pub throughput_rps: f64,
    /// Events received in that second, when recorded.
    pub events_per_s: Option<f64>,
    /// Median latency of the completions in that second.
    pub p50_ms: Option<f64>,
    /// p99 latency of the completions in that second.
    pub p99_ms: Option<f64>,
    /// Failures in that second.
    pub errors: u64,
}

/// Splits a level label `c<users>-r<k>` into `c<users>` and `k`; a label without a repeat
/// suffix is returned whole, with `None`.
pub fn split_repeat_label(label: &str) -> (&str, Option<u32>) {
    if let Some((base, k)) = label.rsplit_once("-r")
        && !base.is_empty()
        && let Ok(k) = k.parse::<u32>()
    {
        return (base, Some(k));
    }
    (label, None)
}

impl MeasuredLevel {
    /// A closed-loop level `c<concurrency>` with only its throughput known.
    pub fn closed(concurrency: u64, throughput_rps: f64) -> Self {
        Self {
            label: format!("c{concurrency}"),
            concurrency,
            rate_rps: None,
            throughput_rps,
            events_per_s: None,
            latency_ms: Percentiles::default(),
            first_event_ms: Percentiles::default(),
            tpot_ms: Percentiles::default(),
            tokens: None,
            error_rate: None,
            client_bound: false,
            repeat: None,
            valid: true,
            invalid_reason: None,
            stability: None,
            series: Vec::new(),
            server: None,
            scout: false,
        }
    }

    /// The label of the level's user count (or arrival rate): the label without its repeat
    /// suffix (`c8-r2` -> `c8`).
    pub fn load_label(&self) -> &str {
        split_repeat_label(&self.label).0
    }

    /// Why this level must not count as a peak, if it must not, the first of: it measured
    /// nothing (invalid), the client was the bottleneck, more than `max_error_rate` of its
    /// requests failed, its throughput was not stable through the window, only a scouting pass
    /// measured it.
    pub fn exclusion(&self, max_error_rate: f64) -> Option<Exclusion> {
        if !self.valid {
            return Some(Exclusion::Invalid(
                self.invalid_reason.clone().unwrap_or_else(|| "measured nothing".into()),
            ));
        }
        if self.client_bound {
            return Some(Exclusion::ClientBound);
        }
        if let Some(rate) = self.error_rate.filter(|r| *r > max_error_rate) {
            return Some(Exclusion::Errors(rate));
        }
        match &self.stability {
            Some(s) if !s.stable => Some(Exclusion::Unstable(s.reasons.clone())),
            // Last: a scouted level that is also client-bound, over the error limit or unstable
            // says so (and is then no end of an interpolation either).
            _ if self.scout => Some(Exclusion::Scout),
            _ => None,
        }
    }

    /// The text a plot writes next to this level's point: the concurrency for closed loop, the
    /// label (`r2000`) for open loop.
    pub fn point_label(&self) -> String {
        if self.rate_rps.is_some() { self.label.clone() } else { self.concurrency.to_string() }
    }

    /// Why the level's values cannot be used, if they cannot: a negative or non-finite value, or
    /// an error rate outside 0..1.
    pub(crate) fn check(&self) -> Result<(), String> {
        let ok_value = |v: f64| v.is_finite() && v >= 0.0;
        let stats = [self.latency_ms, self.first_event_ms, self.tpot_ms];
        let ok = ok_value(self.throughput_rps)
            && self.events_per_s.is_none_or(ok_value)
            && stats.iter().flat_map(Percentiles::values).flatten().all(ok_value)
            && self.tokens.is_none_or(|t| ok_value(t.input_per_s) && ok_value(t.output_per_s))
            && self.error_rate.is_none_or(|r| (0.0..=1.0).contains(&r));
        if ok {
            Ok(())
        } else {
            Err(format!("level {}: negative, non-finite or out-of-range value", self.label))
        }
    }
}

/// Why a level does not count as a peak.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Exclusion {
    /// The level measured nothing (`valid: false`; the writer's reason).
    Invalid(String),
    /// The client may have been the bottleneck.
    ClientBound,
    /// Too many requests failed (the error rate, 0..1).
    Errors(f64),
    /// The throughput was not stable through the window (`stability.stable: false`; the
    /// writer's reasons).
    Unstable(Vec<String>),
    /// Measured only by a scouting pass (short bounds), since it could not be the peak.
    Scout,
}

impl Exclusion {
    /// A short name of the kind of reason (`invalid`, `client-bound`, `errors`, `unstable`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid",
            Self::ClientBound => "client-bound",
            Self::Errors(_) => "errors",
            Self::Unstable(_) => "unstable",
            Self::Scout => "scout",
        }
    }
}

impl fmt::Display for Exclusion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(reason) => write!(f, "invalid: {reason}"),
            Self::ClientBound => f.write_str("client-bound"),
            Self::Errors(rate) => write!(f, "{:.1}% errors", rate * 100.0),
            Self::Unstable(reasons) if reasons.is_empty() => f.write_str("unstable"),
            Self::Unstable(reasons) => write!(f, "unstable: {}", reasons.join(", ")),
            Self::Scout => f.write_str("scouted only: it could not be the peak"),
        }
    }
}

/// The file format a sweep was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SourceFormat {
    /// This project's sweep CSV (`servebench.level/1`).
    ServebenchCsv,
    /// A folder of this project's per-level JSON (`level_<label>.json`) without its CSV.
    ServebenchJson,
    /// The original suite's unary CSV (`concurrency,rps,...,p99_ms,...`).
    OriginalUnaryCsv,
    /// The original suite's streaming CSV (`system_tokens_per_sec`, `e2e_p99` in seconds, ...).
    OriginalStreamingCsv,
    /// A folder of Locust per-level stats JSON (`<stem>_<concurrency>.json`), every entry of a
    /// file merged into one level.
    LocustJson,
    /// `vllm bench serve --save-result` files, one per level (`concurrency_<c>.json` of a bare
    /// engine sweep, `<N>_replicas.json` of a replica sweep).
    VllmJson,
}

impl fmt::Display for SourceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ServebenchCsv => "servebench CSV",
            Self::ServebenchJson => "servebench level JSON",
            Self::OriginalUnaryCsv => "original unary CSV",
            Self::OriginalStreamingCsv => "original streaming CSV",
            Self::LocustJson => "Locust stats JSON",
            Self::VllmJson => "vLLM bench result JSON",
        })
    }
}

/// Variant names that mark the baseline of a comparison, in order of preference.
pub const BASELINE_VARIANTS: [&str; 3] = ["off", "unoptimized", "baseline"];

/// Variant names the stem parser recognizes even when a comparison or workload name contains
/// underscores.
const KNOWN_VARIANTS: [&str; 5] = ["off", "unoptimized", "baseline", "on", "optimized"];

/// Whether `variant` names a baseline (`off`, `unoptimized`, `baseline`, any case).
pub fn is_baseline_variant(variant: &str) -> bool {
    baseline_rank(variant).is_some()
}

/// The preference of a baseline name (lower is preferred), `None` for a treatment.
pub(crate) fn baseline_rank(variant: &str) -> Option<usize> {
    BASELINE_VARIANTS.iter().position(|b| b.eq_ignore_ascii_case(variant))
}

/// The parts of a sweep's file stem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stem {
    /// The comparison.
    pub comparison: String,
    /// The variant.
    pub variant: String,
    /// The workload.
    pub workload: String,
}

/// Splits `<comparison>_<variant>_<workload>`.
///
/// The variant is the right-most part that is a known variant name (`on`, `off`, `optimized`,
/// `unoptimized`, `baseline`) with something on both sides, so comparisons and workloads may
/// contain underscores (`single_loop_on_unary`); otherwise it is the second part from the right.
/// Returns `None` for fewer than three non-empty parts.
pub fn parse_stem(stem: &str) -> Option<Stem> {
    let parts: Vec<&str> = stem.split('_').collect();
    if parts.len() < 3 || parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    let at = (1..parts.len() - 1)
        .rev()
        .find(|&i| KNOWN_VARIANTS.iter().any(|k| k.eq_ignore_ascii_case(parts[i])))
        .unwrap_or(parts.len() - 2);
    Some(Stem {
        comparison: parts[..at].join("_"),
        variant: parts[at].to_string(),
        workload: parts[at + 1..].join("_"),
    })
}

/// Splits a folder name `<name>-<variant>` whose last dash-separated part is a known variant
/// (`recsys-oss-nightly-optimized` -> (`recsys-oss-nightly`, `optimized`)), the original recsys
/// suite's naming. `None` otherwise.
pub fn parse_dashed_variant(name: &str) -> Option<(String, String)> {
    let (prefix, variant) = name.rsplit_once('-')?;
    let known = KNOWN_VARIANTS.iter().any(|k| k.eq_ignore_ascii_case(variant));
    (known && !prefix.is_empty()).then(|| (prefix.to_string(), variant.to_string()))
}

/// The family of a workload, from its name; it decides the metrics and the default SLA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WorkloadFamily {
    /// The DLRM recommendation pipeline.
    RecSys,
    /// LLM inference.
    Llm,
    /// Unary request/response (`unary`, `grpc`, anything not recognized below).
    Unary,
    /// Streaming (SSE chunks): names containing `stream` or `sse`.
    Streaming,
    /// Any other name.
    Other,
}

impl WorkloadFamily {
    /// The family of a workload name.
    pub fn of(workload: &str) -> Self {
        let w = workload.to_ascii_lowercase();
        if w.contains("recsys") || w.contains("dlrm") {
            Self::RecSys
        } else if w.contains("llm") || w.contains("vllm") || w.contains("openai") {
            Self::Llm
        } else if w.contains("stream") || w.contains("sse") {
            Self::Streaming
        } else if w.contains("unary") || w.contains("echo") {
            Self::Unary
        } else {
            Self::Other
        }
    }
}

impl WorkloadFamily {
    /// The family's own name (`recsys`, `llm`, `unary`, `streaming`), `None` for [`Self::Other`].
    pub fn name(self) -> Option<&'static str> {
        match self {
            Self::RecSys => Some("recsys"),
            Self::Llm => Some("llm"),
            Self::Unary => Some("unary"),
            Self::Streaming => Some("streaming"),
            Self::Other => None,
        }
    }
}

/// How a workload's name is written in tables and plots (`RecSys`, `LLM`, `Unary`, ...).
pub fn workload_display_name(workload: &str) -> String {
    match workload.to_ascii_lowercase().as_str() {
        "recsys" => "RecSys".into(),
        "llm" => "LLM".into(),
        "unary" => "Unary".into(),
        "streaming" => "Streaming".into(),
        _ => workload.to_string(),
    }
}

/// Which measurement is the throughput.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThroughputKind {
    /// Successful requests per second.
    Requests,
    /// Events (SSE events; tokens for the streaming workload) received per second by all users.
    Events,
    /// LLM output tokens per second (the level's output tokens / its window).
    OutputTokens,
}

/// Which measurement is the latency the SLA applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LatencyKind {
    /// p99 end-to-end latency.
    EndToEnd,
    /// p99 time to the first event (TTFT).
    FirstEvent,
}

/// The throughput and latency measurements of a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metric {
    /// The throughput measurement.
    pub throughput: ThroughputKind,
    /// The latency measurement.
    pub latency: LatencyKind,
}

impl Metric {
    /// Requests per second, end-to-end p99 (unary, recsys).
    pub const REQUESTS: Self = Self { throughput: ThroughputKind::Requests, latency: LatencyKind::EndToEnd };
    /// Events (tokens) per second, end-to-end p99 (streaming).
    pub const EVENTS: Self = Self { throughput: ThroughputKind::Events, latency: LatencyKind::EndToEnd };
    /// Output tokens per second, p99 TTFT (LLM).
    pub const TOKENS: Self =
        Self { throughput: ThroughputKind::OutputTokens, latency: LatencyKind::FirstEvent };

    /// The metric a run index names (`requests`, `events`, `tokens`), `None` for another name.
    pub fn from_index_name(name: &str) -> Option<Self> {
        match name {
            "requests" => Some(Self::REQUESTS),
            "events" => Some(Self::EVENTS),
            "tokens" => Some(Self::TOKENS),
            _ => None,
        }
    }

    /// The metric for a group of sweeps of the same workload when no run index says: LLM
    /// workloads use output tokens per second when every level has token counts (else events per
    /// second when every level has them) and the p99 TTFT when every level has it; streaming
    /// workloads use events per second when every level has it; everything else uses requests
    /// per second and end-to-end p99.
    pub fn for_sweeps<'a>(workload: &str, sweeps: impl IntoIterator<Item = &'a MeasuredSweep>) -> Self {
        let family = WorkloadFamily::of(workload);
        let levels: Vec<&MeasuredLevel> = sweeps.into_iter().flat_map(|s| &s.levels).collect();
        let all = |f: &dyn Fn(&MeasuredLevel) -> bool| !levels.is_empty() && levels.iter().all(|l| f(l));
        let all_events = all(&|l| l.events_per_s.is_some());
        let all_tokens = all(&|l| l.tokens.is_some());
        let all_first = all(&|l| l.first_event_ms.p99.is_some());
        let throughput = match family {
            WorkloadFamily::Llm if all_tokens => ThroughputKind::OutputTokens,
            WorkloadFamily::Streaming | WorkloadFamily::Llm if all_events => ThroughputKind::Events,
            _ => ThroughputKind::Requests,
        };
        let latency = match family {
            WorkloadFamily::Llm if all_first => LatencyKind::FirstEvent,
            _ => LatencyKind::EndToEnd,
        };
        Self { throughput, latency }
    }

    /// A level's throughput under this metric.
    pub fn throughput_of(&self, level: &MeasuredLevel) -> Option<f64> {
        match self.throughput {
            ThroughputKind::Requests => Some(level.throughput_rps),
            ThroughputKind::Events => level.events_per_s,
            ThroughputKind::OutputTokens => level.tokens.map(|t| t.output_per_s),
        }
        .filter(|v| v.is_finite())
    }

    /// A level's per-second throughput under this metric, when its series records it (requests
    /// and events per second; LLM output tokens are not recorded per second) and has at least
    /// two seconds.
    pub fn series_of(&self, level: &MeasuredLevel) -> Option<Vec<f64>> {
        let values: Option<Vec<f64>> = match self.throughput {
            ThroughputKind::Requests => Some(level.series.iter().map(|p| p.throughput_rps).collect()),
            ThroughputKind::Events => level.series.iter().map(|p| p.events_per_s).collect(),
            ThroughputKind::OutputTokens => None,
        };
        values.filter(|v| v.len() >= 2 && v.iter().all(|x| x.is_finite() && *x >= 0.0))
    }

    /// A level's p99 latency under this metric, in milliseconds.
    pub fn latency_of(&self, level: &MeasuredLevel) -> Option<f64> {
        match self.latency {
            LatencyKind::EndToEnd => level.latency_ms.p99,
            LatencyKind::FirstEvent => level.first_event_ms.p99,
        }
        .filter(|v| v.is_finite())
    }

    /// The unit of the throughput (`rps`, `tokens/s`, `output tokens/s`).
    pub fn throughput_unit(&self) -> &'static str {
        match self.throughput {
            ThroughputKind::Requests => "rps",
            ThroughputKind::Events => "tokens/s",
            ThroughputKind::OutputTokens => "output tokens/s",
        }
    }

    /// The name of the latency (`p99 latency`, `p99 TTFT`).
    pub fn latency_name(&self) -> &'static str {
        match self.latency {
            LatencyKind::EndToEnd => "p99 latency",
            LatencyKind::FirstEvent => "p99 TTFT",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stem(s: &str) -> (String, String, String) {
        let p = parse_stem(s).expect("parses");
        (p.comparison, p.variant, p.workload)
    }

    #[test]
    fn stems_split_like_the_original_suite() {
        assert_eq!(stem("allon8_off_unary"), ("allon8".into(), "off".into(), "unary".into()));
        assert_eq!(stem("single_loop_on_streaming"), ("single_loop".into(), "on".into(), "streaming".into()));
        assert_eq!(
            stem("recsys_unoptimized_recsys"),
            ("recsys".into(), "unoptimized".into(), "recsys".into())
        );
        assert_eq!(stem("mycmp_fast_unary_grpc"), ("mycmp_fast".into(), "unary".into(), "grpc".into()));
        assert_eq!(stem("x_on_unary_grpc"), ("x".into(), "on".into(), "unary_grpc".into()));
        assert_eq!(parse_stem("notes"), None);
        assert_eq!(parse_stem("a_b"), None);
        assert_eq!(parse_stem("a__b"), None);
    }

    #[test]
    fn dashed_folder_names_split_at_a_known_variant() {
        assert_eq!(
            parse_dashed_variant("recsys-oss-nightly-optimized"),
            Some(("recsys-oss-nightly".into(), "optimized".into()))
        );
        assert_eq!(
            parse_dashed_variant("recsys-oss-nightly-unoptimized"),
            Some(("recsys-oss-nightly".into(), "unoptimized".into()))
        );
        assert_eq!(parse_dashed_variant("recsys-oss-nightly"), None);
        assert_eq!(parse_dashed_variant("-on"), None);
    }

    #[test]
    fn baselines_are_off_unoptimized_baseline() {
        assert!(is_baseline_variant("off"));
        assert!(is_baseline_variant("Unoptimized"));
        assert!(is_baseline_variant("baseline"));
        assert!(!is_baseline_variant("on"));
        assert!(!is_baseline_variant("optimized"));
    }

    #[test]
    fn workload_families() {
        assert_eq!(WorkloadFamily::of("unary"), WorkloadFamily::Unary);
        assert_eq!(WorkloadFamily::of("streaming"), WorkloadFamily::Streaming);
        assert_eq!(WorkloadFamily::of("recsys"), WorkloadFamily::RecSys);
        assert_eq!(WorkloadFamily::of("llm"), WorkloadFamily::Llm);
        assert_eq!(WorkloadFamily::of("grpc"), WorkloadFamily::Other);
    }
}
