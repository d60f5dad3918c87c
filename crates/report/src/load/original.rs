//! Importers for the original Python/Locust suite's published formats (see
//! `shared/reference/README.md`): the unary CSV, the streaming CSV (latencies in seconds,
//! throughput as `system_tokens_per_sec`), and Locust's per-endpoint stats JSON per level
//! (bucketed `response_times` in ms).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde::Deserialize;

use super::Warning;
use crate::model::Level;

#[derive(Debug, Deserialize)]
struct UnaryRow {
    concurrency: u64,
    rps: f64,
    p99_ms: f64,
}

#[derive(Debug, Deserialize)]
struct StreamingRow {
    concurrency: u64,
    system_tokens_per_sec: f64,
    e2e_p99: f64,
    ttft_p99: Option<f64>,
    num_requests: Option<f64>,
    benchmark_duration: Option<f64>,
}

fn finite_non_negative(values: &[f64]) -> bool {
    values.iter().all(|v| v.is_finite() && *v >= 0.0)
}

/// Reads the original unary CSV (`concurrency,rps,mean_latency_ms,p50_ms,p99_ms,num_requests`).
pub(crate) fn read_unary_csv(bytes: &[u8]) -> Result<Vec<Level>, String> {
    let mut rdr = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(bytes);
    let mut levels = Vec::new();
    for row in rdr.deserialize::<UnaryRow>() {
        let row = row.map_err(|e| format!("malformed row: {e}"))?;
        if !finite_non_negative(&[row.rps, row.p99_ms]) {
            return Err(format!("concurrency {}: negative or non-finite value", row.concurrency));
        }
        levels.push(Level {
            label: format!("c{}", row.concurrency),
            concurrency: row.concurrency,
            rate_rps: None,
            throughput_rps: row.rps,
            events_per_s: None,
            latency_p99_ms: Some(row.p99_ms),
            first_event_p99_ms: None,
            error_rate: None,
            client_bound: false,
        });
    }
    Ok(levels)
}

/// Reads the original streaming CSV: latencies in seconds become milliseconds, the throughput is
/// `system_tokens_per_sec` (tokens received by all users / level duration).
pub(crate) fn read_streaming_csv(bytes: &[u8]) -> Result<Vec<Level>, String> {
    let mut rdr = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(bytes);
    let mut levels = Vec::new();
    for row in rdr.deserialize::<StreamingRow>() {
        let row = row.map_err(|e| format!("malformed row: {e}"))?;
        if !finite_non_negative(&[row.system_tokens_per_sec, row.e2e_p99]) {
            return Err(format!("concurrency {}: negative or non-finite value", row.concurrency));
        }
        let throughput_rps = match (row.num_requests, row.benchmark_duration) {
            (Some(n), Some(d)) if d > 0.0 => n / d,
            _ => 0.0,
        };
        levels.push(Level {
            label: format!("c{}", row.concurrency),
            concurrency: row.concurrency,
            rate_rps: None,
            throughput_rps,
            events_per_s: Some(row.system_tokens_per_sec),
            latency_p99_ms: Some(row.e2e_p99 * 1000.0),
            first_event_p99_ms: row.ttft_p99.map(|s| s * 1000.0),
            error_rate: None,
            client_bound: false,
        });
    }
    Ok(levels)
}

/// One entry of Locust's stats dump (`[{"name": "/echo", ...}]`).
#[derive(Debug, Deserialize)]
struct LocustEntry {
    name: String,
    num_requests: u64,
    #[serde(default)]
    num_failures: u64,
    start_time: f64,
    last_request_timestamp: Option<f64>,
    response_times: BTreeMap<String, u64>,
}

/// Locust's own percentile over its response-time buckets (`calculate_response_time_percentile`):
/// walk the buckets from the slowest down until what is left is at most `percent` of the requests.
fn locust_percentile(buckets: &[(f64, u64)], num_requests: u64, percent: f64) -> Option<f64> {
    let threshold = (num_requests as f64 * percent) as u64;
    let mut sorted = buckets.to_vec();
    sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut processed = 0u64;
    for (ms, count) in sorted {
        processed += count;
        if num_requests.saturating_sub(processed) <= threshold {
            return Some(ms);
        }
    }
    None
}

/// Turns a Locust stats dump into one level: the `Aggregated` entry if there is one, else all
/// entries merged. Throughput is successful requests over the time from the first request to the
/// last; p99 is Locust's bucketed percentile.
pub(crate) fn level_from_locust(v: &serde_json::Value, concurrency: u64) -> Result<Level, String> {
    let entries: Vec<LocustEntry> =
        serde_json::from_value(v.clone()).map_err(|e| format!("malformed Locust stats: {e}"))?;
    let chosen: Vec<&LocustEntry> = match entries.iter().find(|e| e.name == "Aggregated") {
        Some(agg) => vec![agg],
        None => entries.iter().collect(),
    };
    if chosen.is_empty() {
        return Err("Locust stats with no entries".into());
    }
    let num_requests: u64 = chosen.iter().map(|e| e.num_requests).sum();
    let num_failures: u64 = chosen.iter().map(|e| e.num_failures).sum();
    let start = chosen.iter().map(|e| e.start_time).fold(f64::INFINITY, f64::min);
    let end = chosen.iter().filter_map(|e| e.last_request_timestamp).fold(f64::NEG_INFINITY, f64::max);
    let mut buckets: Vec<(f64, u64)> = Vec::new();
    for entry in &chosen {
        for (key, count) in &entry.response_times {
            let ms: f64 =
                key.trim().parse().map_err(|_| format!("response_times: `{key}` is not a number"))?;
            buckets.push((ms, *count));
        }
    }
    let duration = end - start;
    if num_requests == 0 || !(duration.is_finite() && duration > 0.0) {
        return Err("Locust stats without requests or without a time span".into());
    }
    let ok = num_requests.saturating_sub(num_failures);
    Ok(Level {
        label: format!("c{concurrency}"),
        concurrency,
        rate_rps: None,
        throughput_rps: ok as f64 / duration,
        events_per_s: None,
        latency_p99_ms: locust_percentile(&buckets, num_requests, 0.99),
        first_event_p99_ms: None,
        error_rate: Some(num_failures as f64 / num_requests as f64),
        client_bound: false,
    })
}

/// Fills the error rate of the original unary CSV's levels from the Locust stats in its level
/// folder (`<stem>/<stem>_<concurrency>.json`). Returns warnings for files that could not be read.
pub(crate) fn add_locust_error_rates(folder: &Path, levels: &mut [Level]) -> Vec<Warning> {
    let mut warnings = Vec::new();
    let Ok(entries) = fs::read_dir(folder) else {
        return vec![Warning::new(folder, "cannot read the level folder")];
    };
    let mut files: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    for path in files {
        let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        let Some(stem) = name.strip_suffix(".json") else {
            continue;
        };
        let Some(concurrency) = stem.rsplit_once('_').and_then(|(_, n)| n.parse::<u64>().ok()) else {
            continue;
        };
        let parsed = fs::read_to_string(&path)
            .map_err(|e| format!("cannot read: {e}"))
            .and_then(|t| {
                serde_json::from_str::<serde_json::Value>(&t).map_err(|e| format!("malformed JSON: {e}"))
            })
            .and_then(|v| level_from_locust(&v, concurrency));
        match parsed {
            Ok(level) => {
                if let Some(l) = levels.iter_mut().find(|l| l.concurrency == concurrency) {
                    l.error_rate = level.error_rate;
                }
            }
            Err(message) => {
                warnings.push(Warning::new(&path, format!("{message} (its error rate is unknown)")))
            }
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_matches_locust() {
        // 100 requests: 98 at 5 ms, 1 at 50 ms, 1 at 110 ms. Locust walks down from the slowest
        // bucket until at most 1% (p99) / 2% (p98) is left above it.
        let buckets = [(5.0, 98), (50.0, 1), (110.0, 1)];
        assert_eq!(locust_percentile(&buckets, 100, 0.99), Some(110.0));
        assert_eq!(locust_percentile(&buckets, 100, 0.98), Some(50.0));
        assert_eq!(locust_percentile(&buckets, 100, 0.5), Some(5.0));
        assert_eq!(locust_percentile(&[], 0, 0.99), None);
    }

    #[test]
    fn streaming_seconds_become_milliseconds() {
        let csv = "system_tokens_per_sec,e2e_p99,ttft_p99,num_requests,benchmark_duration,concurrency\n\
                   1000.0,0.5,0.1,100,10,4\n";
        let levels = read_streaming_csv(csv.as_bytes()).expect("reads");
        assert_eq!(levels[0].latency_p99_ms, Some(500.0));
        assert_eq!(levels[0].first_event_p99_ms, Some(100.0));
        assert_eq!(levels[0].events_per_s, Some(1000.0));
        assert_eq!(levels[0].throughput_rps, 10.0);
    }
}
