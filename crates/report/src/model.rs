//! The data every importer produces: a [`Sweep`] of [`Level`]s, named like the original suite
//! (`<comparison>_<variant>_<workload>`), and the rules that give those names a meaning: which
//! variant is the baseline, and which columns measure throughput and latency for a workload.

use std::fmt;
use std::path::PathBuf;

/// One concurrency (or arrival-rate) sweep of one variant of one comparison on one workload.
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    /// The suite the sweep belongs to (the name of the results directory it was read from).
    pub suite: String,
    /// The comparison (`allon8`, `grpc`, ...): any name.
    pub comparison: String,
    /// The variant (`on`, `off`, `optimized`, `unoptimized`, ...).
    pub variant: String,
    /// The workload (`unary`, `streaming`, `recsys`, `llm`, ...).
    pub workload: String,
    /// The format the sweep was read from.
    pub format: SourceFormat,
    /// The file (or folder of per-level files) the sweep was read from.
    pub path: PathBuf,
    /// The levels, sorted by concurrency (then arrival rate).
    pub levels: Vec<Level>,
}

impl Sweep {
    /// Whether this sweep's variant is a baseline (`off`, `unoptimized` or `baseline`).
    pub fn is_baseline(&self) -> bool {
        is_baseline_variant(&self.variant)
    }
}

/// The measurements of one level of a sweep, normalized across formats.
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
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
    /// p99 end-to-end latency in milliseconds (`None` when no request succeeded).
    pub latency_p99_ms: Option<f64>,
    /// p99 time to the first event in milliseconds (streaming, LLM).
    pub first_event_p99_ms: Option<f64>,
    /// Failed / issued, when the format records it.
    pub error_rate: Option<f64>,
    /// Whether the client may have been the bottleneck.
    pub client_bound: bool,
}

impl Level {
    /// Why this level must not count as a peak, if it must not: the client was the bottleneck or
    /// more than `max_error_rate` of its requests failed.
    pub fn exclusion(&self, max_error_rate: f64) -> Option<Exclusion> {
        if self.client_bound {
            return Some(Exclusion::ClientBound);
        }
        match self.error_rate {
            Some(rate) if rate > max_error_rate => Some(Exclusion::Errors(rate)),
            _ => None,
        }
    }

    /// The text a plot writes next to this level's point: the concurrency for closed loop, the
    /// label (`r2000`) for open loop.
    pub fn point_label(&self) -> String {
        if self.rate_rps.is_some() { self.label.clone() } else { self.concurrency.to_string() }
    }
}

/// Why a level does not count as a peak.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Exclusion {
    /// The client may have been the bottleneck.
    ClientBound,
    /// Too many requests failed (the error rate, 0..1).
    Errors(f64),
}

impl fmt::Display for Exclusion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ClientBound => f.write_str("client-bound"),
            Self::Errors(rate) => write!(f, "{:.1}% errors", rate * 100.0),
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
    /// A folder of Locust per-level stats JSON (`<stem>_<concurrency>.json`).
    LocustJson,
}

impl fmt::Display for SourceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ServebenchCsv => "servebench CSV",
            Self::ServebenchJson => "servebench level JSON",
            Self::OriginalUnaryCsv => "original unary CSV",
            Self::OriginalStreamingCsv => "original streaming CSV",
            Self::LocustJson => "Locust stats JSON",
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThroughputKind {
    /// Successful requests per second.
    Requests,
    /// Events (tokens) received per second by all users.
    Events,
}

/// Which measurement is the latency the SLA applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatencyKind {
    /// p99 end-to-end latency.
    EndToEnd,
    /// p99 time to the first event (TTFT).
    FirstEvent,
}

/// The throughput and latency measurements of a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    /// The throughput measurement.
    pub throughput: ThroughputKind,
    /// The latency measurement.
    pub latency: LatencyKind,
}

impl Metric {
    /// The metric for a group of sweeps of the same workload: streaming and LLM workloads use
    /// events (tokens) per second when every level of every sweep has it; LLM workloads use the
    /// time to the first event when every level has it; everything else uses requests per second
    /// and end-to-end p99.
    pub fn for_sweeps<'a>(workload: &str, sweeps: impl IntoIterator<Item = &'a Sweep>) -> Self {
        let family = WorkloadFamily::of(workload);
        let levels: Vec<&Level> = sweeps.into_iter().flat_map(|s| &s.levels).collect();
        let all_events = !levels.is_empty() && levels.iter().all(|l| l.events_per_s.is_some());
        let all_first = !levels.is_empty() && levels.iter().all(|l| l.first_event_p99_ms.is_some());
        let throughput = match family {
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
    pub fn throughput_of(&self, level: &Level) -> Option<f64> {
        match self.throughput {
            ThroughputKind::Requests => Some(level.throughput_rps),
            ThroughputKind::Events => level.events_per_s,
        }
        .filter(|v| v.is_finite())
    }

    /// A level's latency under this metric, in milliseconds.
    pub fn latency_of(&self, level: &Level) -> Option<f64> {
        match self.latency {
            LatencyKind::EndToEnd => level.latency_p99_ms,
            LatencyKind::FirstEvent => level.first_event_p99_ms,
        }
        .filter(|v| v.is_finite())
    }

    /// The unit of the throughput (`rps`, `tokens/s`).
    pub fn throughput_unit(&self) -> &'static str {
        match self.throughput {
            ThroughputKind::Requests => "rps",
            ThroughputKind::Events => "tokens/s",
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
