//! Importers for the original Python/Locust suite's published formats (see
//! `shared/reference/README.md`): the unary CSV, the streaming CSV (latencies in seconds,
//! throughput as `system_tokens_per_sec`), and Locust's per-endpoint stats JSON per level
//! (bucketed `response_times` in ms). A Locust dump has one entry per distinct URL (the recsys
//! client adds a random `user_id` query, so about 1,000 of them): every entry is merged into one
//! level.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde::Deserialize;

use super::Warning;
use crate::model::{MeasuredLevel, Percentiles};

#[derive(Debug, Deserialize)]
struct UnaryRow {
    concurrency: u64,
    rps: f64,
    mean_latency_ms: Option<f64>,
    p50_ms: Option<f64>,
    p99_ms: f64,
}

/// The streaming CSV's columns the report reads (seconds).
#[derive(Debug, Deserialize)]
struct StreamingRow {
    concurrency: u64,
    system_tokens_per_sec: f64,
    e2e_avg: Option<f64>,
    e2e_p50: Option<f64>,
    e2e_p99: f64,
    ttft_avg: Option<f64>,
    ttft_p50: Option<f64>,
    ttft_p99: Option<f64>,
    tpot_avg: Option<f64>,
    tpot_p50: Option<f64>,
    tpot_p99: Option<f64>,
    num_requests: Option<f64>,
    benchmark_duration: Option<f64>,
}

fn finite_non_negative(values: &[f64]) -> bool {
    values.iter().all(|v| v.is_finite() && *v >= 0.0)
}

/// Reads the original unary CSV (`concurrency,rps,mean_latency_ms,p50_ms,p99_ms,num_requests`).
pub(crate) fn read_unary_csv(bytes: &[u8]) -> Result<Vec<MeasuredLevel>, String> {
    let mut rdr = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(bytes);
    let mut levels = Vec::new();
    for row in rdr.deserialize::<UnaryRow>() {
        let row = row.map_err(|e| format!("malformed row: {e}"))?;
        if !finite_non_negative(&[row.rps, row.p99_ms]) {
            return Err(format!("concurrency {}: negative or non-finite value", row.concurrency));
        }
        levels.push(MeasuredLevel {
            latency_ms: Percentiles {
                mean: row.mean_latency_ms,
                p50: row.p50_ms,
                p90: None,
                p99: Some(row.p99_ms),
            },
            ..MeasuredLevel::closed(row.concurrency, row.rps)
        });
    }
    Ok(levels)
}

/// Reads the original streaming CSV: latencies in seconds become milliseconds, the throughput is
/// `system_tokens_per_sec` (tokens received by all users / level duration).
pub(crate) fn read_streaming_csv(bytes: &[u8]) -> Result<Vec<MeasuredLevel>, String> {
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
        let seconds = |mean, p50, p99| Percentiles { mean, p50, p90: None, p99 }.scaled(1000.0);
        levels.push(MeasuredLevel {
            events_per_s: Some(row.system_tokens_per_sec),
            latency_ms: seconds(row.e2e_avg, row.e2e_p50, Some(row.e2e_p99)),
            first_event_ms: seconds(row.ttft_avg, row.ttft_p50, row.ttft_p99),
            tpot_ms: seconds(row.tpot_avg, row.tpot_p50, row.tpot_p99),
            ..MeasuredLevel::closed(row.concurrency, throughput_rps)
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
    total_response_time: Option<f64>,
    response_times: BTreeMap<String, u64>,
}

/// Locust's own percentile over its response-time buckets (`calculate_response_time_percentile`):
/// walk the buckets from the slowest down until what is left is at most `percent` of the requests.
fn locust_percentile(buckets: &BTreeMap<u64, u64>, num_requests: u64, percent: f64) -> Option<f64> {
    let threshold = (num_requests as f64 * percent) as u64;
    let mut processed = 0u64;
    for (&ms, &count) in buckets.iter().rev() {
        processed += count;
        if num_requests.saturating_sub(processed) <= threshold {
            return Some(ms as f64);
        }
    }
    None
}

/// Turns a Locust stats dump into one level by merging its entries: every endpoint's entry (one
/// per distinct URL), or Locust's own `Aggregated` entry when that is all there is (an
/// `Aggregated` entry beside the others is their sum and is not counted twice).
///
/// Throughput is the successful requests over the time from the earliest `start_time` to the
/// latest `last_request_timestamp`; percentiles are Locust's own over the merged `response_times`
/// buckets (Locust rounds each time to 1 ms below 100 ms, 10 ms below 1 s, 100 ms above; the
/// buckets keep that rounding); the mean is the total response time over the requests.
pub(crate) fn level_from_locust(text: &str, concurrency: u64) -> Result<MeasuredLevel, String> {
    let entries: Vec<LocustEntry> =
        serde_json::from_str(text).map_err(|e| format!("malformed Locust stats: {e}"))?;
    let endpoints: Vec<&LocustEntry> = entries.iter().filter(|e| e.name != "Aggregated").collect();
    let chosen: Vec<&LocustEntry> = if endpoints.is_empty() { entries.iter().collect() } else { endpoints };
    if chosen.is_empty() {
        return Err("Locust stats with no entries".into());
    }
    let num_requests: u64 = chosen.iter().map(|e| e.num_requests).sum();
    let num_failures: u64 = chosen.iter().map(|e| e.num_failures).sum();
    let start = chosen.iter().map(|e| e.start_time).fold(f64::INFINITY, f64::min);
    let end = chosen.iter().filter_map(|e| e.last_request_timestamp).fold(f64::NEG_INFINITY, f64::max);
    let mut buckets: BTreeMap<u64, u64> = BTreeMap::new();
    for entry in &chosen {
        for (key, count) in &entry.response_times {
            let ms: f64 =
                key.trim().parse().map_err(|_| format!("response_times: `{key}` is not a number"))?;
            if !(ms.is_finite() && ms >= 0.0) {
                return Err(format!("response_times: `{key}` is not a duration"));
            }
            *buckets.entry(ms.round() as u64).or_default() += count;
        }
    }
    let duration = end - start;
    if num_requests == 0 || !(duration.is_finite() && duration > 0.0) {
        return Err("Locust stats without requests or without a time span".into());
    }
    let total_ms: Option<f64> = chosen.iter().map(|e| e.total_response_time).sum();
    let ok = num_requests.saturating_sub(num_failures);
    let level = MeasuredLevel {
        latency_ms: Percentiles {
            mean: total_ms.map(|t| t / num_requests as f64),
            p50: locust_percentile(&buckets, num_requests, 0.50),
            p90: locust_percentile(&buckets, num_requests, 0.90),
            p99: locust_percentile(&buckets, num_requests, 0.99),
        },
        error_rate: Some(num_failures as f64 / num_requests as f64),
        ..MeasuredLevel::closed(concurrency, ok as f64 / duration)
    };
    level.check()?;
    Ok(level)
}

/// Fills the error rate of the original unary CSV's levels from the Locust stats in its level
/// folder (`<stem>/<stem>_<concurrency>.json`). Returns warnings for files that could not be read.
pub(crate) fn add_locust_error_rates(folder: &Path, levels: &mut [MeasuredLevel]) -> Vec<Warning> {
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
            .and_then(|t| level_from_locust(&t, concurrency));
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
        let buckets = BTreeMap::from([(5, 98), (50, 1), (110, 1)]);
        assert_eq!(locust_percentile(&buckets, 100, 0.99), Some(110.0));
        assert_eq!(locust_percentile(&buckets, 100, 0.98), Some(50.0));
        assert_eq!(locust_percentile(&buckets, 100, 0.5), Some(5.0));
        assert_eq!(locust_percentile(&BTreeMap::new(), 0, 0.99), None);
    }

    #[test]
    fn locust_entries_are_merged_and_aggregated_is_not_counted_twice() {
        let entry = |name: &str, n: u64, start: f64, end: f64, times: &str| {
            format!(
                r#"{{"name":"{name}","num_requests":{n},"num_failures":0,"start_time":{start},
                    "last_request_timestamp":{end},"total_response_time":{},"response_times":{times}}}"#,
                n as f64 * 10.0
            )
        };
        let a = entry("/?user_id=1", 60, 100.0, 105.0, r#"{"10":59,"90":1}"#);
        let b = entry("/?user_id=2", 40, 101.0, 110.0, r#"{"10":39,"200":1}"#);
        let agg = entry("Aggregated", 100, 100.0, 110.0, r#"{"10":98,"90":1,"200":1}"#);
        for text in [format!("[{a},{b}]"), format!("[{a},{b},{agg}]"), format!("[{agg}]")] {
            let level = level_from_locust(&text, 8).expect("level");
            assert_eq!(level.throughput_rps, 10.0, "{text}");
            assert_eq!(level.latency_ms.p99, Some(200.0));
            assert_eq!(level.latency_ms.p50, Some(10.0));
            assert_eq!(level.latency_ms.mean, Some(10.0));
            assert_eq!(level.label, "c8");
        }
    }

    #[test]
    fn streaming_seconds_become_milliseconds() {
        let csv = "system_tokens_per_sec,e2e_p99,ttft_p99,num_requests,benchmark_duration,concurrency\n\
                   1000.0,0.5,0.1,100,10,4\n";
        let levels = read_streaming_csv(csv.as_bytes()).expect("reads");
        assert_eq!(levels[0].latency_ms.p99, Some(500.0));
        assert_eq!(levels[0].first_event_ms.p99, Some(100.0));
        assert_eq!(levels[0].events_per_s, Some(1000.0));
        assert_eq!(levels[0].throughput_rps, 10.0);
    }
}
