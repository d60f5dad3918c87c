//! The original LLM suite's results, in the format of `vllm bench serve --save-result`: one file
//! per level. A bare engine sweep is a folder `results_<engine>/` of `concurrency_<c>.json`; a Ray
//! Serve replica sweep is a folder `replica_sweep_<variant>/` of `<N>_replicas.json` (one level
//! per N, 256 x N users). Each folder's `sweep_summary.json` repeats a few of the same figures and
//! is not read.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::Warning;
use crate::model::{MeasuredLevel, Percentiles, TokenTotals};

/// The summary file the original writes beside the per-level files.
pub(crate) const SUMMARY_FILE: &str = "sweep_summary.json";

/// The folder-name prefix of a replica sweep (`replica_sweep_<variant>`).
pub(crate) const REPLICA_SWEEP_PREFIX: &str = "replica_sweep_";

/// The folder-name prefix of a bare engine sweep (`results_<engine>`).
pub(crate) const ENGINE_PREFIX: &str = "results_";

/// The parts of a vLLM bench result the report reads (milliseconds; unknown fields ignored).
#[derive(Debug, Deserialize)]
struct BenchResult {
    max_concurrency: Option<u64>,
    duration: f64,
    completed: u64,
    #[serde(default)]
    failed: u64,
    total_input_tokens: u64,
    total_output_tokens: u64,
    request_throughput: Option<f64>,
    output_throughput: Option<f64>,
    mean_ttft_ms: Option<f64>,
    median_ttft_ms: Option<f64>,
    p90_ttft_ms: Option<f64>,
    p99_ttft_ms: Option<f64>,
    mean_tpot_ms: Option<f64>,
    median_tpot_ms: Option<f64>,
    p90_tpot_ms: Option<f64>,
    p99_tpot_ms: Option<f64>,
    mean_e2el_ms: Option<f64>,
    median_e2el_ms: Option<f64>,
    p90_e2el_ms: Option<f64>,
    p99_e2el_ms: Option<f64>,
}

/// Whether a JSON text looks like a vLLM bench result (an object with `output_throughput` and
/// `mean_ttft_ms`), without parsing it fully.
pub(crate) fn looks_like_bench_result(value: &serde_json::Value) -> bool {
    value.get("output_throughput").is_some() && value.get("mean_ttft_ms").is_some()
}

/// Reads one vLLM bench result as a level of `concurrency` users (the file's own
/// `max_concurrency` when it has one).
pub(crate) fn level_from_bench(text: &str, concurrency: u64) -> Result<MeasuredLevel, String> {
    let r: BenchResult =
        serde_json::from_str(text).map_err(|e| format!("malformed vLLM bench result: {e}"))?;
    if !(r.duration.is_finite() && r.duration > 0.0) {
        return Err("vLLM bench result without a duration".into());
    }
    let issued = r.completed + r.failed;
    let mut tokens = TokenTotals::over(r.total_input_tokens, r.total_output_tokens, r.duration);
    if let Some(out) = r.output_throughput {
        tokens.output_per_s = out;
    }
    let concurrency = r.max_concurrency.unwrap_or(concurrency);
    let level = MeasuredLevel {
        latency_ms: Percentiles {
            mean: r.mean_e2el_ms,
            p50: r.median_e2el_ms,
            p90: r.p90_e2el_ms,
            p99: r.p99_e2el_ms,
        },
        first_event_ms: Percentiles {
            mean: r.mean_ttft_ms,
            p50: r.median_ttft_ms,
            p90: r.p90_ttft_ms,
            p99: r.p99_ttft_ms,
        },
        tpot_ms: Percentiles {
            mean: r.mean_tpot_ms,
            p50: r.median_tpot_ms,
            p90: r.p90_tpot_ms,
            p99: r.p99_tpot_ms,
        },
        tokens: Some(tokens),
        error_rate: (issued > 0).then(|| r.failed as f64 / issued as f64),
        ..MeasuredLevel::closed(concurrency, r.request_throughput.unwrap_or(r.completed as f64 / r.duration))
    };
    level.check()?;
    Ok(level)
}

/// What a file of a vLLM results folder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// `concurrency_<c>.json`: one level of a bare engine sweep.
    Concurrency(u64),
    /// `<N>_replicas.json`: one level of a replica sweep.
    Replicas(u32),
}

/// The kind of a file name of a vLLM results folder, `None` for any other name.
pub(crate) fn file_kind(name: &str) -> Option<FileKind> {
    let stem = name.strip_suffix(".json")?;
    if let Some(c) = stem.strip_prefix("concurrency_") {
        return c.parse().ok().map(FileKind::Concurrency);
    }
    stem.strip_suffix("_replicas").and_then(|n| n.parse().ok()).map(FileKind::Replicas)
}

/// The levels of a vLLM results folder, with the kind of each file; files that are neither a
/// level nor the summary become warnings.
pub(crate) fn read_folder(folder: &Path) -> (Vec<(FileKind, PathBuf, MeasuredLevel)>, Vec<Warning>) {
    let mut levels = Vec::new();
    let mut warnings = Vec::new();
    let Ok(entries) = fs::read_dir(folder) else {
        return (levels, vec![Warning::new(folder, "cannot read the folder")]);
    };
    let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    for path in files {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name == SUMMARY_FILE || super::is_ignored(&name) {
            continue;
        }
        let Some(kind) = file_kind(&name) else {
            warnings.push(Warning::new(
                &path,
                "unknown file in a vLLM results folder (expected concurrency_<c>.json or <N>_replicas.json)",
            ));
            continue;
        };
        let concurrency = match kind {
            FileKind::Concurrency(c) => c,
            FileKind::Replicas(_) => 0,
        };
        match fs::read_to_string(&path)
            .map_err(|e| format!("cannot read: {e}"))
            .and_then(|t| level_from_bench(&t, concurrency))
        {
            Ok(level) => levels.push((kind, path, level)),
            Err(message) => warnings.push(Warning::new(&path, message)),
        }
    }
    (levels, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        assert_eq!(file_kind("concurrency_16.json"), Some(FileKind::Concurrency(16)));
        assert_eq!(file_kind("8_replicas.json"), Some(FileKind::Replicas(8)));
        assert_eq!(file_kind("sweep_summary.json"), None);
        assert_eq!(file_kind("x_replicas.json"), None);
    }

    #[test]
    fn a_bench_result_becomes_a_level() {
        let level = level_from_bench(
            r#"{"max_concurrency":16,"duration":10.0,"completed":90,"failed":10,
                "total_input_tokens":1000,"total_output_tokens":500,"request_throughput":9.0,
                "output_throughput":50.0,"mean_ttft_ms":3.0,"median_ttft_ms":2.0,"p99_ttft_ms":9.0,
                "mean_tpot_ms":1.0,"median_tpot_ms":1.0,"p99_tpot_ms":2.0,"mean_e2el_ms":30.0,
                "median_e2el_ms":29.0,"p99_e2el_ms":60.0,"new_field":[1,2]}"#,
            0,
        )
        .expect("level");
        assert_eq!((level.concurrency, level.throughput_rps), (16, 9.0));
        assert_eq!(level.error_rate, Some(0.1));
        let tokens = level.tokens.expect("tokens");
        assert_eq!((tokens.input_per_s, tokens.output_per_s), (100.0, 50.0));
        assert_eq!(level.first_event_ms.p99, Some(9.0));
        assert_eq!(level.latency_ms.p50, Some(29.0));
    }
}
