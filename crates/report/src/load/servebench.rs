//! This project's own result files (`docs/results-schema.md`, schema `servebench.level/1`): the
//! sweep CSV and the per-level JSON. The JSON holds more than the CSV (TTFT and TPOT statistics,
//! token totals), so a level is read from its JSON when there is one and from its CSV row
//! otherwise. Fields a reader does not know are ignored, so writers may add some.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::Warning;
use crate::model::{MeasuredLevel, Percentiles, SeriesPoint, Stability, TokenTotals, split_repeat_label};
use crate::server::ServerView;

/// The schema this reader understands.
pub(crate) const SCHEMA: &str = "servebench.level/1";

/// The CSV columns the report needs (looked up by header; others are ignored, so columns may be
/// added).
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
    latency_mean_ms: Option<f64>,
    latency_p50_ms: Option<f64>,
    latency_p90_ms: Option<f64>,
    latency_p99_ms: Option<f64>,
    first_event_p50_ms: Option<f64>,
    first_event_p99_ms: Option<f64>,
    #[serde(deserialize_with = "bool_text")]
    client_bound: bool,
    /// Added after the first files: older tables lack it (read as valid).
    #[serde(default, deserialize_with = "opt_bool_text")]
    valid: Option<bool>,
    /// Not written by every version: absent means stable.
    #[serde(default, deserialize_with = "opt_bool_text")]
    stable: Option<bool>,
    /// Measured only by a scouting pass; older tables lack it (read as measured in full).
    #[serde(default, deserialize_with = "opt_bool_text")]
    scout: Option<bool>,
}

fn parse_bool(s: &str) -> Result<Option<bool>, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(Some(true)),
        "false" | "0" => Ok(Some(false)),
        "" => Ok(None),
        other => Err(format!("expected true or false, found `{other}`")),
    }
}

fn bool_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let s = String::deserialize(d)?;
    parse_bool(&s)
        .map(|b| b.unwrap_or(false))
        .map_err(|e| serde::de::Error::custom(format!("client_bound: {e}")))
}

fn opt_bool_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    let s = String::deserialize(d)?;
    parse_bool(&s).map_err(serde::de::Error::custom)
}

fn check_schema(schema: &str) -> Result<(), String> {
    if schema == SCHEMA {
        Ok(())
    } else {
        Err(format!("unsupported schema `{schema}` (this report reads `{SCHEMA}`)"))
    }
}

/// Reads a sweep CSV; `Err` says why the file is malformed (with the line).
pub(crate) fn read_csv(bytes: &[u8]) -> Result<Vec<MeasuredLevel>, String> {
    let mut rdr = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(bytes);
    let mut levels = Vec::new();
    for row in rdr.deserialize::<Row>() {
        let row = row.map_err(|e| format!("malformed row: {e}"))?;
        check_schema(&row.schema)?;
        if row.mode != "closed" && row.mode != "open" {
            return Err(format!("level {}: mode `{}` is neither closed nor open", row.label, row.mode));
        }
        let error_rate = row.error_rate.or(match (row.errors, row.issued) {
            (Some(e), Some(i)) if i > 0 => Some(e as f64 / i as f64),
            _ => None,
        });
        let level = MeasuredLevel {
            rate_rps: if row.mode == "open" { row.rate_rps } else { None },
            events_per_s: row.events_per_s,
            latency_ms: Percentiles {
                mean: row.latency_mean_ms,
                p50: row.latency_p50_ms,
                p90: row.latency_p90_ms,
                p99: row.latency_p99_ms,
            },
            first_event_ms: Percentiles {
                p50: row.first_event_p50_ms,
                p99: row.first_event_p99_ms,
                ..Percentiles::default()
            },
            error_rate,
            client_bound: row.client_bound,
            repeat: split_repeat_label(&row.label).1,
            valid: row.valid.unwrap_or(true),
            invalid_reason: (row.valid == Some(false)).then(|| "marked invalid in the sweep CSV".to_string()),
            stability: row.stable.map(|stable| Stability { stable, ..Stability::default() }),
            scout: row.scout.unwrap_or(false),
            label: row.label,
            ..MeasuredLevel::closed(row.concurrency, row.throughput_rps)
        };
        level.check()?;
        levels.push(level);
    }
    Ok(levels)
}

/// A statistics object of the level JSON (`count, mean, min, p50, ...`); the report keeps four.
#[derive(Debug, Deserialize)]
struct StatsJson {
    mean: Option<f64>,
    p50: Option<f64>,
    p90: Option<f64>,
    p99: Option<f64>,
}

impl From<Option<StatsJson>> for Percentiles {
    fn from(s: Option<StatsJson>) -> Self {
        s.map(|s| Percentiles { mean: s.mean, p50: s.p50, p90: s.p90, p99: s.p99 }).unwrap_or_default()
    }
}

#[derive(Debug, Deserialize)]
struct ScheduleJson {
    mode: Option<String>,
    users: Option<u64>,
    concurrency: Option<u64>,
    max_in_flight: Option<u64>,
    rate_rps: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
struct PhasesJson {
    window_s: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
struct CountsJson {
    issued: Option<u64>,
    errors: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct TokensJson {
    input: u64,
    output: u64,
}

#[derive(Debug, Default, Deserialize)]
struct ClientJson {
    #[serde(default)]
    bound: bool,
}

/// One second of `series`; every field may be missing (older writers lack `events_per_s`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SecondJson {
    t_s: Option<f64>,
    throughput_rps: Option<f64>,
    events_per_s: Option<f64>,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    errors: Option<u64>,
}

/// `stability`, read leniently (it is being added to loadgen; a field of an unexpected type is
/// taken as absent rather than failing the level).
fn stability_of(v: &serde_json::Value) -> Option<Stability> {
    let obj = v.as_object()?;
    Some(Stability {
        cv: obj.get("cv").and_then(serde_json::Value::as_f64),
        trend: obj.get("trend").and_then(serde_json::Value::as_f64),
        stable: obj.get("stable").and_then(serde_json::Value::as_bool).unwrap_or(true),
        reasons: obj
            .get("reasons")
            .and_then(serde_json::Value::as_array)
            .map(|a| a.iter().filter_map(|r| r.as_str().map(str::to_string)).collect())
            .unwrap_or_default(),
    })
}

/// The parts of a level JSON the report reads (its `schema` is checked first).
#[derive(Debug, Deserialize)]
struct LevelJson {
    label: String,
    schedule: ScheduleJson,
    #[serde(default)]
    phases: PhasesJson,
    #[serde(default)]
    counts: CountsJson,
    throughput_rps: f64,
    events_per_s: Option<f64>,
    latency_ms: Option<StatsJson>,
    first_event_ms: Option<StatsJson>,
    tpot_ms: Option<StatsJson>,
    tokens: Option<TokensJson>,
    #[serde(default)]
    client: ClientJson,
    #[serde(default = "yes")]
    valid: bool,
    #[serde(default)]
    invalid_reason: Option<String>,
    #[serde(default)]
    stability: Option<serde_json::Value>,
    #[serde(default)]
    series: Vec<SecondJson>,
    /// The server's view (docs/results-schema.md, "Server view"); read apart, so that a view
    /// the report cannot read never fails its level.
    #[serde(default)]
    server: Option<serde_json::Value>,
    #[serde(default)]
    scout: bool,
}

fn yes() -> bool {
    true
}

/// Reads one level JSON; `Err` says why it is malformed.
pub(crate) fn level_from_json(text: &str) -> Result<MeasuredLevel, String> {
    let schema = serde_json::from_str::<serde_json::Value>(text)
        .map_err(|e| format!("malformed JSON: {e}"))?
        .get("schema")
        .and_then(|s| s.as_str().map(str::to_string))
        .unwrap_or_default();
    check_schema(&schema)?;
    let v: LevelJson = serde_json::from_str(text).map_err(|e| format!("malformed level JSON: {e}"))?;
    let open = v.schedule.mode.as_deref() == Some("open");
    let (base_label, repeat) = split_repeat_label(&v.label);
    let concurrency = [v.schedule.users, v.schedule.concurrency, v.schedule.max_in_flight]
        .into_iter()
        .flatten()
        .next()
        .or_else(|| base_label.strip_prefix('c').and_then(|n| n.parse().ok()))
        .ok_or("cannot tell the level's concurrency from `schedule`")?;
    let series = v
        .series
        .iter()
        .enumerate()
        .map(|(i, p)| SeriesPoint {
            t_s: p.t_s.unwrap_or(i as f64),
            throughput_rps: p.throughput_rps.unwrap_or(0.0),
            events_per_s: p.events_per_s,
            p50_ms: p.p50_ms,
            p99_ms: p.p99_ms,
            errors: p.errors.unwrap_or(0),
        })
        .collect();
    let stability = v.stability.as_ref().and_then(stability_of);
    let error_rate = match (v.counts.errors, v.counts.issued) {
        (Some(e), Some(i)) if i > 0 => Some(e as f64 / i as f64),
        _ => None,
    };
    let window_s = v.phases.window_s.unwrap_or(0.0);
    let level = MeasuredLevel {
        label: v.label,
        rate_rps: if open { v.schedule.rate_rps } else { None },
        events_per_s: v.events_per_s,
        latency_ms: v.latency_ms.into(),
        first_event_ms: v.first_event_ms.into(),
        tpot_ms: v.tpot_ms.into(),
        tokens: v.tokens.filter(|_| window_s > 0.0).map(|t| TokenTotals::over(t.input, t.output, window_s)),
        error_rate,
        client_bound: v.client.bound,
        repeat,
        valid: v.valid,
        invalid_reason: v.invalid_reason,
        stability,
        series,
        server: v.server.as_ref().map(ServerView::from_value),
        scout: v.scout,
        ..MeasuredLevel::closed(concurrency, v.throughput_rps)
    };
    level.check()?;
    Ok(level)
}

/// The level JSON files of a folder (`level_<label>.json`), read; unreadable ones become
/// warnings. Other files are left to the caller.
pub(crate) fn read_level_folder(folder: &Path) -> (Vec<(PathBuf, MeasuredLevel)>, Vec<Warning>) {
    let mut levels = Vec::new();
    let mut warnings = Vec::new();
    let Ok(entries) = fs::read_dir(folder) else {
        return (levels, vec![Warning::new(folder, "cannot read the level folder")]);
    };
    let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    for path in files {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if !(name.starts_with("level_") && name.ends_with(".json")) {
            continue;
        }
        match fs::read_to_string(&path)
            .map_err(|e| format!("cannot read: {e}"))
            .and_then(|t| level_from_json(&t))
        {
            Ok(level) => levels.push((path, level)),
            Err(message) => warnings.push(Warning::new(&path, message)),
        }
    }
    (levels, warnings)
}

/// A sweep's levels from its CSV rows and its level JSON: the JSON of a label replaces its row
/// (it has more), and levels that only one of them has are kept.
pub(crate) fn merge_levels(csv: Vec<MeasuredLevel>, json: Vec<MeasuredLevel>) -> Vec<MeasuredLevel> {
    let mut by_label: BTreeMap<String, MeasuredLevel> =
        csv.into_iter().map(|l| (l.label.clone(), l)).collect();
    for level in json {
        by_label.insert(level.label.clone(), level);
    }
    by_label.into_values().collect()
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
        assert_eq!(levels[0].latency_ms.p99, Some(2.5));
        assert_eq!(levels[0].latency_ms.mean, Some(1.0));
        assert!(!levels[0].client_bound);
        assert_eq!(levels[1].rate_rps, Some(2000.0));
        assert!(levels[1].client_bound);
        assert_eq!(levels[1].point_label(), "r2000");
    }

    #[test]
    fn a_row_says_whether_it_was_only_scouted() {
        let header =
            format!("{HEADER},unfinished,valid,stable,throughput_cv,throughput_trend,window_end,scout");
        let row = |label: &str, scout: &str| {
            format!(
                "servebench.level/1,{label},closed,8,,3,100,100,0,0,33,,1,1,1,1,2,3,4,,,,,0,0,0.1,0.3,false,0,true,true,0.1,0.01,max,{scout}"
            )
        };
        let csv = format!("{header}\n{}\n{}\n", row("c8", "true"), row("c16", "false"));
        let levels = read_csv(csv.as_bytes()).expect("reads");
        assert!(levels[0].scout && !levels[1].scout);
        // Older tables (no column) were measured in full.
        let old = format!(
            "{HEADER}\nservebench.level/1,c8,closed,8,,10,1,1,0,0,1,,1,1,1,1,1,1,1,,,,,0,0,0,0,false\n"
        );
        assert!(!read_csv(old.as_bytes()).expect("reads")[0].scout);
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
    fn reads_a_level_json_and_ignores_unknown_fields() {
        let level = level_from_json(
            r#"{"schema":"servebench.level/1","label":"c8","protocol":"openai",
                "schedule":{"mode":"closed","users":8,"think_time_ms":0},
                "phases":{"warmup_s":1,"window_s":10,"cooldown_s":0},
                "counts":{"issued":1234,"ok":1230,"errors":4},
                "throughput_rps":122.9,"events_per_s":null,
                "latency_ms":{"mean":1.5,"p50":1.0,"p90":1.8,"p99":2.0},
                "first_event_ms":{"mean":0.5,"p50":0.4,"p99":0.9},
                "tpot_ms":{"mean":0.1,"p50":0.1,"p99":0.2},
                "tokens":{"input":1000,"output":500,"counted_from_chunks":0},
                "unfinished":3,"stability":{"cv":0.1},"server":{"cpu":0.5},
                "client":{"cpu":0.12,"bound":false,"new_field":1}}"#,
        )
        .expect("level");
        assert_eq!(level.concurrency, 8);
        assert_eq!(
            level.latency_ms,
            Percentiles { mean: Some(1.5), p50: Some(1.0), p90: Some(1.8), p99: Some(2.0) }
        );
        assert_eq!(level.first_event_ms.p99, Some(0.9));
        assert_eq!(level.tpot_ms.p50, Some(0.1));
        let tokens = level.tokens.expect("tokens");
        assert_eq!((tokens.input, tokens.output, tokens.output_per_s), (1000, 500, 50.0));
        assert!((level.error_rate.expect("rate") - 4.0 / 1234.0).abs() < 1e-12);
        // A server view of the wrong shape does not fail the level; it says why it is unusable.
        let server = level.server.expect("a server field");
        assert!(server.unavailable.expect("unreadable").contains("unreadable server view"));
        assert!(
            level_from_json(r#"{"schema":"servebench.level/9","label":"c1"}"#)
                .expect_err("no")
                .contains("schema")
        );
    }
}
