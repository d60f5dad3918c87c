//! This project's own result files (`docs/results-schema.md`, schema `servebench.level/1`): the
//! sweep CSV, and the per-level JSON when a sweep has no CSV.

use serde::Deserialize;

use crate::model::Level;

/// The schema this reader understands.
pub(crate) const SCHEMA: &str = "servebench.level/1";

/// The CSV columns the report needs (others are ignored, so columns may be added).
#[derive(Debug, Deserialize)]
struct Row {
    schema: String,
    label: String,
    mode: String,
    concurrency: u64,
    rate_rps: Option<f64>,
    error_rate: Option<f64>,
    issued: Option<u64>,
    errors: Option<u64>,
    throughput_rps: f64,
    events_per_s: Option<f64>,
    latency_p99_ms: Option<f64>,
    first_event_p99_ms: Option<f64>,
    #[serde(deserialize_with = "bool_text")]
    client_bound: bool,
}

fn bool_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let s = String::deserialize(d)?;
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" | "" => Ok(false),
        other => {
            Err(serde::de::Error::custom(format!("client_bound: expected true or false, found `{other}`")))
        }
    }
}

/// Reads a sweep CSV; `Err` says why the file is malformed (with the line).
pub(crate) fn read_csv(bytes: &[u8]) -> Result<Vec<Level>, String> {
    let mut rdr = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(bytes);
    let mut levels = Vec::new();
    for row in rdr.deserialize::<Row>() {
        let row = row.map_err(|e| format!("malformed row: {e}"))?;
        if row.schema != SCHEMA {
            return Err(format!("unsupported schema `{}` (this report reads `{SCHEMA}`)", row.schema));
        }
        if row.mode != "closed" && row.mode != "open" {
            return Err(format!("level {}: mode `{}` is neither closed nor open", row.label, row.mode));
        }
        let error_rate = row.error_rate.or(match (row.errors, row.issued) {
            (Some(e), Some(i)) if i > 0 => Some(e as f64 / i as f64),
            _ => None,
        });
        let level = Level {
            label: row.label,
            concurrency: row.concurrency,
            rate_rps: if row.mode == "open" { row.rate_rps } else { None },
            throughput_rps: row.throughput_rps,
            events_per_s: row.events_per_s,
            latency_p99_ms: row.latency_p99_ms,
            first_event_p99_ms: row.first_event_p99_ms,
            error_rate,
            client_bound: row.client_bound,
        };
        check_level(&level)?;
        levels.push(level);
    }
    Ok(levels)
}

fn check_level(level: &Level) -> Result<(), String> {
    let finite_non_negative = |v: f64| v.is_finite() && v >= 0.0;
    let ok = finite_non_negative(level.throughput_rps)
        && level.events_per_s.is_none_or(finite_non_negative)
        && level.latency_p99_ms.is_none_or(finite_non_negative)
        && level.first_event_p99_ms.is_none_or(finite_non_negative)
        && level.error_rate.is_none_or(|r| (0.0..=1.0).contains(&r));
    if ok {
        Ok(())
    } else {
        Err(format!("level {}: negative, non-finite or out-of-range value", level.label))
    }
}

fn f64_at(v: &serde_json::Value, path: &[&str]) -> Option<f64> {
    let mut cur = v;
    for key in path {
        cur = cur.get(key)?;
    }
    cur.as_f64()
}

/// Reads one level JSON (already parsed); `Err` says why it is malformed.
pub(crate) fn level_from_json(v: &serde_json::Value) -> Result<Level, String> {
    let schema = v.get("schema").and_then(|s| s.as_str()).unwrap_or_default();
    if schema != SCHEMA {
        return Err(format!("unsupported schema `{schema}` (this report reads `{SCHEMA}`)"));
    }
    let label = v.get("label").and_then(|l| l.as_str()).ok_or("missing `label`")?.to_string();
    let schedule = v.get("schedule").ok_or("missing `schedule`")?;
    let mode = schedule.get("mode").and_then(|m| m.as_str()).unwrap_or("closed");
    let concurrency = ["users", "concurrency", "max_in_flight", "max_connections"]
        .iter()
        .find_map(|k| schedule.get(k).and_then(|u| u.as_u64()))
        .or_else(|| label.strip_prefix('c').and_then(|n| n.parse().ok()))
        .ok_or("cannot tell the level's concurrency from `schedule`")?;
    let rate_rps = if mode == "open" { f64_at(schedule, &["rate_rps"]) } else { None };
    let throughput_rps = f64_at(v, &["throughput_rps"]).ok_or("missing `throughput_rps`")?;
    let issued = f64_at(v, &["counts", "issued"]);
    let errors = f64_at(v, &["counts", "errors"]);
    let error_rate = match (errors, issued) {
        (Some(e), Some(i)) if i > 0.0 => Some(e / i),
        _ => None,
    };
    let client_bound =
        v.get("client").and_then(|c| c.get("bound")).and_then(|b| b.as_bool()).unwrap_or(false);
    let level = Level {
        label,
        concurrency,
        rate_rps,
        throughput_rps,
        events_per_s: f64_at(v, &["events_per_s"]),
        latency_p99_ms: f64_at(v, &["latency_ms", "p99"]),
        first_event_p99_ms: f64_at(v, &["first_event_ms", "p99"]),
        error_rate,
        client_bound,
    };
    check_level(&level)?;
    Ok(level)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "schema,label,mode,concurrency,rate_rps,window_s,issued,ok,errors,error_rate,throughput_rps,events_per_s,latency_mean_ms,latency_p50_ms,latency_p90_ms,latency_p95_ms,latency_p99_ms,latency_p999_ms,latency_max_ms,ttfb_p50_ms,ttfb_p99_ms,first_event_p50_ms,first_event_p99_ms,late_sends,unsent,client_cpu,client_lag_p99_ms,client_bound";

    #[test]
    fn reads_closed_and_open_rows() {
        let csv = format!(
            "{HEADER}\n\
             servebench.level/1,c8,closed,8,,10,1234,1230,4,0.0032,122.9,,1,1,1,1,2.5,3,4,,,,,0,0,0.12,0.3,false\n\
             servebench.level/1,r2000,open,64,2000,10,20000,20000,0,0,1999.5,,1,1,1,1,9.5,12,20,,,,,0,0,0.9,0.3,true\n"
        );
        let levels = read_csv(csv.as_bytes()).expect("reads");
        assert_eq!(levels.len(), 2);
        assert_eq!(levels[0].concurrency, 8);
        assert_eq!(levels[0].rate_rps, None);
        assert_eq!(levels[0].latency_p99_ms, Some(2.5));
        assert!(!levels[0].client_bound);
        assert_eq!(levels[1].rate_rps, Some(2000.0));
        assert!(levels[1].client_bound);
        assert_eq!(levels[1].point_label(), "r2000");
    }

    #[test]
    fn rejects_other_schema_versions_and_bad_values() {
        let csv = format!(
            "{HEADER}\nservebench.level/2,c8,closed,8,,10,1,1,0,0,1,,1,1,1,1,1,1,1,,,,,0,0,0,0,false\n"
        );
        assert!(read_csv(csv.as_bytes()).expect_err("rejected").contains("schema"));
        let csv = format!(
            "{HEADER}\nservebench.level/1,c8,closed,8,,10,1,1,0,0,-1,,1,1,1,1,1,1,1,,,,,0,0,0,0,false\n"
        );
        assert!(read_csv(csv.as_bytes()).is_err());
        let csv = format!(
            "{HEADER}\nservebench.level/1,c8,closed,eight,,10,1,1,0,0,1,,1,1,1,1,1,1,1,,,,,0,0,0,0,false\n"
        );
        assert!(read_csv(csv.as_bytes()).expect_err("rejected").contains("malformed row"));
    }

    #[test]
    fn reads_a_level_json() {
        let v: serde_json::Value = serde_json::from_str(
            r#"{"schema":"servebench.level/1","label":"c8","protocol":"http",
                "schedule":{"mode":"closed","users":8,"think_time_ms":0},
                "counts":{"issued":1234,"ok":1230,"errors":4},
                "throughput_rps":122.9,"events_per_s":null,
                "latency_ms":{"p50":1.0,"p99":2.0},"first_event_ms":null,
                "client":{"cpu":0.12,"bound":false}}"#,
        )
        .expect("json");
        let level = level_from_json(&v).expect("level");
        assert_eq!(level.concurrency, 8);
        assert_eq!(level.latency_p99_ms, Some(2.0));
        assert!((level.error_rate.expect("rate") - 4.0 / 1234.0).abs() < 1e-12);
    }
}
