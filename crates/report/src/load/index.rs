//! A run's `index.json` (schema `servebench.index/1`, `docs/results-schema.md`): the suite's own
//! word on what it measured (every sweep, with its variant, layout, workload and replica count)
//! and what the sweeps are for (comparisons, scaling studies), so the report need not guess from
//! file names. Paths in it are relative to the run folder. Fields the report does not know are
//! ignored; a study of a kind it does not know, or an entry it cannot read, is a warning.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Loaded, Warning, csv_levels, servebench, sort_levels};
use crate::model::{MeasuredSweep, Metric, SourceFormat};
use crate::study::{ComparisonStudy, ScalingStudy, WorkloadInfo};

/// The file name of a run's index.
pub const INDEX_FILE: &str = "index.json";
/// The schema an index carries.
pub const INDEX_SCHEMA: &str = "servebench.index/1";

/// A run's index: what the run measured and what for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunIndex {
    /// Always [`INDEX_SCHEMA`].
    pub schema: String,
    /// The suite (`features`, `recsys`, `llm`): the report names its sweeps' suite so.
    pub suite: String,
    /// The run's name (its folder name, by default the start time).
    pub run: String,
    /// How the variants of a comparison were measured: `paired` (deployed together, alternated
    /// level by level in ABBA order) or `sequential` (one sweep after the other); absent in
    /// older runs (sequential). A sweep's own `paired` wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Whether each repeat was measured on fresh deployments (`--redeploy`); absent: no.
    #[serde(default)]
    pub redeployed: bool,
    /// The workloads the run knows.
    #[serde(default)]
    pub workloads: Vec<IndexWorkload>,
    /// What the sweeps are for.
    #[serde(default)]
    pub studies: Vec<IndexStudy>,
    /// Every sweep the run measured (or meant to).
    #[serde(default)]
    pub sweeps: Vec<IndexSweep>,
}

/// A workload of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexWorkload {
    /// Its name (`unary`, `streaming`, `llm`).
    pub name: String,
    /// The protocol (`http`, `sse`, `grpc`, `openai`).
    #[serde(default)]
    pub protocol: Option<String>,
    /// The p99 SLA in milliseconds; `null`: none (the peak is the highest throughput). For the
    /// `tokens` metric it applies to the p99 time to first token.
    #[serde(default, deserialize_with = "present")]
    pub sla_p99_ms: Option<Option<f64>>,
    /// What throughput means: `requests` (requests/s), `events` (SSE events/s, shown as tokens/s),
    /// `tokens` (LLM output tokens/s).
    pub metric: String,
}

/// `Some(value)` for a field that is present (even `null`), `None` (by `default`) when absent.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<f64>>, D::Error> {
    Option::<f64>::deserialize(d).map(Some)
}

/// What a group of sweeps is for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IndexStudy {
    /// A baseline against a treatment, on one layout, for each of some workloads.
    Comparison(IndexComparison),
    /// Throughput against the replica count, for each of some variants.
    Scaling(IndexScaling),
}

/// A comparison study: the sweep (baseline, layout, w) against (treatment, layout, w) for each
/// workload w.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexComparison {
    /// Its name (`allon`, `recsys`).
    pub name: String,
    /// What it compares.
    #[serde(default)]
    pub description: Option<String>,
    /// The baseline variant.
    pub baseline: String,
    /// The treatment variant.
    pub treatment: String,
    /// The layout both ran on.
    pub layout: String,
    /// The workloads compared.
    pub workloads: Vec<String>,
    /// A user count at which the gain and the p99 fraction are also reported.
    #[serde(default)]
    pub at_users: Option<u64>,
}

/// A scaling study: for each variant one sweep per layout (the sweep's `replicas` is N).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexScaling {
    /// Its name (`replicas`).
    pub name: String,
    /// What it measures.
    #[serde(default)]
    pub description: Option<String>,
    /// The variants (the first two are compared, or `optimized` against `unoptimized`).
    pub variants: Vec<String>,
    /// The layouts, one per N (empty: every layout of the variants' sweeps).
    #[serde(default)]
    pub layouts: Vec<String>,
    /// The variant of the external sweeps (a bare engine); its best throughput x N is the ideal.
    #[serde(default)]
    pub baseline: Option<String>,
    /// The workloads.
    pub workloads: Vec<String>,
}

/// One sweep of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexSweep {
    /// The variant.
    pub variant: String,
    /// The layout (`1replica`, `n4`, `bare`).
    pub layout: String,
    /// The workload.
    pub workload: String,
    /// The replica count of the scaled deployment (N of a scaling study).
    #[serde(default)]
    pub replicas: Option<u32>,
    /// Whether it measured something outside Ray Serve (a bare engine).
    #[serde(default)]
    pub external: bool,
    /// The sweep CSV.
    #[serde(default)]
    pub csv: Option<String>,
    /// The folder of per-level JSON.
    #[serde(default)]
    pub levels: Option<String>,
    /// The deployment record.
    #[serde(default)]
    pub deployment: Option<String>,
    /// The study the sweep was measured for (a comparison's or scaling study's `name`). In a
    /// paired run the baseline is measured again with each treatment, so a sweep belongs to one
    /// study; a study takes the sweeps of its own name, and sweeps without `study` as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub study: Option<String>,
    /// How many times each level was measured (R; labels `c<users>-r<k>`, k = 1..R).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeats: Option<u32>,
    /// Whether it was measured paired with the other variant of its study (repeat k of users u
    /// of the baseline right next to repeat k of users u of the treatment); absent: the run's
    /// `mode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paired: Option<bool>,
    /// Why the sweep stopped climbing early (for example `saturation`), when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

/// The index as read: entries kept as JSON values so that one bad entry is a warning, not the
/// end of the index.
#[derive(Debug, Deserialize)]
struct RawIndex {
    schema: String,
    suite: String,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    redeployed: bool,
    #[serde(default)]
    workloads: Vec<serde_json::Value>,
    #[serde(default)]
    studies: Vec<serde_json::Value>,
    #[serde(default)]
    sweeps: Vec<serde_json::Value>,
}

fn entry_name(v: &serde_json::Value) -> String {
    v.get("name").and_then(|n| n.as_str()).map(|n| format!(" `{n}`")).unwrap_or_default()
}

/// Reads the run in `dir` from its index; `suite` overrides the index's suite name. `Err` says why
/// the index as a whole cannot be used (the caller then reads the folder by file names).
pub(crate) fn read_run(dir: &Path, suite: Option<&str>) -> Result<Loaded, String> {
    let path = dir.join(INDEX_FILE);
    let text = fs::read_to_string(&path).map_err(|e| format!("cannot read: {e}"))?;
    let raw: RawIndex = serde_json::from_str(&text).map_err(|e| format!("malformed index: {e}"))?;
    if raw.schema != INDEX_SCHEMA {
        return Err(format!("unsupported schema `{}` (this report reads `{INDEX_SCHEMA}`)", raw.schema));
    }
    let suite = suite.unwrap_or(&raw.suite).to_string();
    let mut loaded = Loaded::default();
    loaded.notes.extend(time_factor_note(dir, &suite));
    let warn = |loaded: &mut Loaded, message: String| loaded.warnings.push(Warning::new(&path, message));

    for v in raw.workloads {
        match serde_json::from_value::<IndexWorkload>(v.clone()) {
            Ok(w) => {
                let metric = Metric::from_index_name(&w.metric);
                if metric.is_none() {
                    warn(
                        &mut loaded,
                        format!(
                            "workload `{}`: unknown metric `{}` (requests, events or tokens); guessed from the data",
                            w.name, w.metric
                        ),
                    );
                }
                loaded.workloads.push(WorkloadInfo {
                    suite: suite.clone(),
                    name: w.name,
                    protocol: w.protocol,
                    sla_p99_ms: w.sla_p99_ms,
                    metric,
                });
            }
            Err(e) => warn(&mut loaded, format!("workload{}: skipped: {e}", entry_name(&v))),
        }
    }

    let run_paired = match raw.mode.as_deref() {
        None | Some("sequential") => false,
        Some("paired") => true,
        Some(other) => {
            warn(&mut loaded, format!("unknown mode `{other}` (paired or sequential); read as sequential"));
            false
        }
    };

    // Sweeps first: studies refer to them by (variant, layout, workload) and their study.
    let mut keys: Vec<(String, String, String, Option<String>)> = Vec::new();
    for v in raw.sweeps {
        let entry = match serde_json::from_value::<IndexSweep>(v) {
            Ok(e) => e,
            Err(e) => {
                warn(&mut loaded, format!("sweep entry skipped: {e}"));
                continue;
            }
        };
        if let Some(mut sweep) = read_sweep(dir, &suite, &entry, &mut loaded.warnings) {
            sweep.paired = entry.paired.unwrap_or(run_paired);
            sweep.redeployed = raw.redeployed && entry.repeats.is_some_and(|r| r > 1);
            keys.push((entry.variant, entry.layout, entry.workload, entry.study));
            loaded.sweeps.push(sweep);
        }
    }
    // The sweeps of (variant, layout, workload) for `study`: those measured for it first, then
    // those that name no study.
    let find = |study: &str, variant: &str, layout: Option<&str>, workload: &str| -> Vec<usize> {
        let mut found: Vec<(bool, usize)> = keys
            .iter()
            .enumerate()
            .filter(|(_, (v, l, w, s))| {
                v == variant
                    && w == workload
                    && layout.is_none_or(|layout| l == layout)
                    && s.as_deref().is_none_or(|s| s == study)
            })
            .map(|(i, (_, _, _, s))| (s.is_none(), i))
            .collect();
        found.sort();
        found.into_iter().map(|(_, i)| i).collect()
    };

    for v in raw.studies {
        let kind = v.get("kind").and_then(|k| k.as_str()).unwrap_or_default().to_string();
        let study = match serde_json::from_value::<IndexStudy>(v.clone()) {
            Ok(s) => s,
            Err(e) => {
                let why = if matches!(kind.as_str(), "comparison" | "scaling") {
                    e.to_string()
                } else {
                    format!("unknown kind `{kind}` (this report knows comparison and scaling)")
                };
                warn(&mut loaded, format!("study{} skipped: {why}", entry_name(&v)));
                continue;
            }
        };
        match study {
            IndexStudy::Comparison(c) => {
                for w in &c.workloads {
                    let baseline = find(&c.name, &c.baseline, Some(&c.layout), w).first().copied();
                    let treatments = find(&c.name, &c.treatment, Some(&c.layout), w);
                    if baseline.is_none() && treatments.is_empty() {
                        continue; // not measured in this run
                    }
                    loaded.comparisons.push(ComparisonStudy {
                        suite: suite.clone(),
                        name: c.name.clone(),
                        description: c.description.clone(),
                        workload: w.clone(),
                        baseline,
                        treatments: treatments.into_iter().take(1).collect(),
                        at_users: c.at_users,
                    });
                }
            }
            IndexStudy::Scaling(s) => {
                for w in &s.workloads {
                    let mut sweeps = Vec::new();
                    for variant in &s.variants {
                        if s.layouts.is_empty() {
                            sweeps.extend(find(&s.name, variant, None, w));
                        } else {
                            for layout in &s.layouts {
                                sweeps.extend(find(&s.name, variant, Some(layout), w));
                            }
                        }
                    }
                    let baseline =
                        s.baseline.as_deref().map(|b| find(&s.name, b, None, w)).unwrap_or_default();
                    if sweeps.is_empty() && baseline.is_empty() {
                        continue;
                    }
                    for &i in &sweeps {
                        if loaded.sweeps[i].replicas.is_none() {
                            warn(&mut loaded, format!("study `{}`: a sweep without `replicas`", s.name));
                        }
                    }
                    loaded.scalings.push(ScalingStudy {
                        suite: suite.clone(),
                        name: s.name.clone(),
                        description: s.description.clone(),
                        workload: w.clone(),
                        variants: s.variants.clone(),
                        sweeps,
                        baseline,
                    });
                }
            }
        }
    }
    Ok(loaded)
}

/// Reads one sweep of the index: the level JSON where there is some, the CSV rows otherwise. A
/// sweep with neither (an interrupted run) is a warning and `None`.
fn read_sweep(
    dir: &Path,
    suite: &str,
    entry: &IndexSweep,
    warnings: &mut Vec<Warning>,
) -> Option<MeasuredSweep> {
    let csv = entry.csv.as_ref().map(|p| dir.join(p)).filter(|p| p.is_file());
    let folder = entry.levels.as_ref().map(|p| dir.join(p)).filter(|p| p.is_dir());
    let name = format!("{}-{}-{}", entry.variant, entry.layout, entry.workload);
    let mut format = SourceFormat::ServebenchJson;
    let mut from_csv = Vec::new();
    if let Some(csv) = &csv {
        match csv_levels(csv) {
            Ok((f, levels, w)) => {
                format = f;
                from_csv = levels;
                warnings.extend(w);
            }
            Err(message) => warnings.push(Warning::new(csv, message)),
        }
    }
    let mut from_json = Vec::new();
    if let Some(folder) = &folder {
        let (levels, w) = servebench::read_level_folder(folder);
        warnings.extend(w);
        from_json = levels.into_iter().map(|(_, l)| l).collect();
    }
    let mut levels = servebench::merge_levels(from_csv, from_json);
    if levels.is_empty() {
        let listed: Vec<&String> = entry.csv.iter().chain(&entry.levels).collect();
        let what = if csv.is_none() && folder.is_none() {
            "its files are missing (an interrupted run?)"
        } else {
            "no readable levels"
        };
        let shown = listed.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ");
        warnings.push(Warning::new(dir.join(INDEX_FILE), format!("sweep {name} ({shown}): {what}")));
        return None;
    }
    sort_levels(&mut levels);
    let path: PathBuf = csv.or(folder).unwrap_or_else(|| dir.to_path_buf());
    Some(MeasuredSweep {
        layout: Some(entry.layout.clone()),
        replicas: entry.replicas,
        external: entry.external,
        study: entry.study.clone(),
        repeats: entry.repeats,
        stopped: entry.stopped.clone(),
        levels,
        ..MeasuredSweep::new(suite, &entry.variant, &entry.workload, format, path)
    })
}

/// What the run's manifest says of a simulated engine run slower than calibrated: the apps
/// whose arguments (`settings.app_args`, at any depth) set a `time_factor` other than 1.
fn time_factor_note(dir: &Path, suite: &str) -> Option<String> {
    fn find(v: &serde_json::Value, depth: usize) -> Option<f64> {
        let map = v.as_object()?;
        if let Some(f) = map.get("time_factor").and_then(serde_json::Value::as_f64) {
            return Some(f);
        }
        if depth == 0 {
            return None;
        }
        map.values().find_map(|v| find(v, depth - 1))
    }
    let text = fs::read_to_string(dir.join("manifest.json")).ok()?;
    let manifest: serde_json::Value = serde_json::from_str(&text).ok()?;
    let apps = manifest.pointer("/settings/app_args")?.as_object()?;
    let slowed: Vec<(&String, f64)> = apps
        .iter()
        .filter_map(|(app, args)| find(args, 3).map(|f| (app, f)))
        .filter(|(_, f)| (*f - 1.0).abs() > 1e-9)
        .collect();
    let (_, factor) = *slowed.first()?;
    let names: Vec<String> = slowed.iter().map(|(app, f)| format!("`{app}` x{f}")).collect();
    Some(format!(
        "{suite}: the simulated engine ran at time factor {factor} ({}): each of its durations was \
         multiplied by that factor (so that this machine's cores keep up with many streams), while \
         Ray Serve's own costs were not. Its latencies and throughput are not the calibrated \
         engine's: divide the engine's times by the factor.",
        names.join(", ")
    ))
}
