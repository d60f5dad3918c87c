//! The index of a run (`<run>/index.json`, schema `servebench.index/1`, documented in
//! docs/results-schema.md): which sweep files belong to which study, variant, layout and
//! workload, and how far each got. `report` reads it instead of guessing from file names. It is
//! written when the run starts and rewritten as each sweep ends, so an interrupted run still has
//! one.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::{Metric, StudyKind};
use crate::error::SuiteError;
use crate::plan::{Group, Plan, Subject};
use crate::settings::Settings;

/// The schema every index carries.
pub const INDEX_SCHEMA: &str = "servebench.index/1";

/// A workload as the index describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexWorkload {
    /// Its name.
    pub name: String,
    /// `http`, `sse`, `grpc`, `openai`.
    pub protocol: String,
    /// Its p99 SLA, ms (for token workloads on time to first token).
    pub sla_p99_ms: Option<f64>,
    /// What its throughput counts.
    pub metric: Metric,
}

/// A study as the index describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexStudy {
    /// Its name.
    pub name: String,
    /// `comparison` or `scaling`.
    pub kind: String,
    /// What it shows.
    pub description: String,
    /// The workloads measured.
    pub workloads: Vec<String>,
    /// Comparison: the treatment variant.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub treatment: Option<String>,
    /// Comparison: the baseline variant; scaling: the server measured as the baseline.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub baseline: Option<String>,
    /// Comparison: its layout.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub layout: Option<String>,
    /// Comparison: the user count the gain is also quoted at.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub at_users: Option<u32>,
    /// Scaling: the variants.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub variants: Vec<String>,
    /// Scaling: the layouts measured, smallest first.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub layouts: Vec<String>,
}

/// How far a sweep got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SweepStatus {
    /// Not started yet.
    Pending,
    /// Every level is on disk.
    Complete,
    /// Some levels are on disk (interrupted, or its deployment stopped serving).
    Partial,
    /// Nothing measured: its deployment failed.
    Failed,
}

/// One sweep's files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexSweep {
    /// The variant (or server).
    pub variant: String,
    /// The layout (`server` for a server outside Ray).
    pub layout: String,
    /// The workload.
    pub workload: String,
    /// Replicas of the workload's per-replica deployment (N of a scaling study).
    pub replicas: Option<u32>,
    /// Whether it was measured outside Ray Serve (a study's server baseline).
    pub external: bool,
    /// The sweep's CSV, relative to the run folder.
    pub csv: String,
    /// The folder of its per-level JSON, relative to the run folder.
    pub levels: String,
    /// The deployment's manifest, relative to the run folder.
    pub deployment: String,
    /// The one study it belongs to (paired runs measure a shared baseline again with each
    /// treatment); absent: every study that names its variant and layout.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub study: Option<String>,
    /// Whether its levels alternated with the other variant's (ABBA order).
    #[serde(default)]
    pub paired: bool,
    /// Times each level was measured (labels `c<users>-r<k>` when more than one).
    #[serde(default = "one")]
    pub repeats: u32,
    /// How far it got.
    pub status: SweepStatus,
    /// Why it is partial or failed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    /// Why it stopped climbing before its last level (saturation).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub stopped: Option<String>,
}

fn one() -> u32 {
    1
}

/// `<run>/index.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunIndex {
    /// [`INDEX_SCHEMA`].
    pub schema: String,
    /// The suite.
    pub suite: String,
    /// The run's name.
    pub run: String,
    /// `paired` (comparisons deployed both at once, levels alternated) or `sequential`.
    pub mode: String,
    /// Whether each repeat was measured on fresh deployments (`--redeploy`).
    #[serde(default)]
    pub redeployed: bool,
    /// The workloads measured.
    pub workloads: Vec<IndexWorkload>,
    /// The studies.
    pub studies: Vec<IndexStudy>,
    /// Every planned sweep.
    pub sweeps: Vec<IndexSweep>,
}

/// Where a group's sweep files are, relative to the run folder.
pub fn sweep_files(stem: &str) -> (String, String) {
    (format!("sweeps/{stem}.csv"), format!("sweeps/{stem}"))
}

/// Where a group's deployment manifest is, relative to the run folder.
pub fn deployment_file(group: &Group) -> String {
    format!("deployments/{}.json", group.key)
}

impl RunIndex {
    /// The index of a run about to start: every sweep pending.
    pub fn planned(settings: &Settings, plan: &Plan, run: &str) -> RunIndex {
        let workload_names: Vec<String> = settings.workloads.iter().map(|w| w.name.clone()).collect();
        let studies = settings
            .studies
            .iter()
            .map(|s| {
                let mut i = IndexStudy {
                    name: s.name.clone(),
                    kind: String::new(),
                    description: s.description.clone(),
                    workloads: workload_names.clone(),
                    treatment: None,
                    baseline: None,
                    layout: None,
                    at_users: None,
                    variants: Vec::new(),
                    layouts: Vec::new(),
                };
                match &s.kind {
                    StudyKind::Comparison(c) => {
                        i.kind = "comparison".into();
                        i.baseline = Some(c.baseline.clone());
                        i.treatment = Some(c.treatment.clone());
                        i.layout = Some(c.layout.clone());
                        i.at_users = c.at_users;
                    }
                    StudyKind::Scaling(sc) => {
                        i.kind = "scaling".into();
                        i.variants = sc.variants.clone();
                        i.layouts =
                            sc.layouts.iter().filter(|l| settings.includes_layout(l)).cloned().collect();
                        i.baseline = sc.server.clone();
                    }
                }
                i
            })
            .collect();
        let sweeps = plan
            .groups()
            .flat_map(|g| {
                let (variant, layout) = g.variant_layout();
                g.sweeps.iter().map(move |s| {
                    let (csv, levels) = sweep_files(&s.stem);
                    IndexSweep {
                        variant: variant.to_owned(),
                        layout: layout.to_owned(),
                        workload: s.workload.clone(),
                        replicas: s.replicas,
                        external: matches!(g.subject, Subject::Server { .. }),
                        csv,
                        levels,
                        deployment: deployment_file(g),
                        study: g.paired_for.clone(),
                        paired: g.paired_for.is_some(),
                        repeats: plan.repeat,
                        status: SweepStatus::Pending,
                        reason: None,
                        stopped: None,
                    }
                })
            })
            .collect();
        RunIndex {
            schema: INDEX_SCHEMA.to_owned(),
            suite: settings.suite.clone(),
            run: run.to_owned(),
            mode: if settings.paired { "paired" } else { "sequential" }.to_owned(),
            redeployed: plan.rounds > 1,
            workloads: settings
                .workloads
                .iter()
                .map(|w| IndexWorkload {
                    name: w.name.clone(),
                    protocol: w.request.protocol().to_owned(),
                    sla_p99_ms: w.sla_p99_ms,
                    metric: w.metric(),
                })
                .collect(),
            studies,
            sweeps,
        }
    }

    /// Marks the sweep stored under `stem`.
    pub fn set(&mut self, stem: &str, status: SweepStatus, reason: Option<String>) {
        let (csv, _) = sweep_files(stem);
        for s in self.sweeps.iter_mut().filter(|s| s.csv == csv) {
            s.status = status;
            s.reason.clone_from(&reason);
        }
    }

    /// What an earlier attempt of the run in `dir` recorded (its `index.json`), if it can be read.
    pub fn read(dir: &Path) -> Option<Self> {
        let bytes = std::fs::read(dir.join("index.json")).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// The sweeps that stopped climbing before their last level, by stem: their status and why.
    pub fn stopped_sweeps(&self) -> BTreeMap<String, (SweepStatus, String)> {
        self.sweeps
            .iter()
            .filter_map(|s| {
                let stem = s.csv.strip_prefix("sweeps/")?.strip_suffix(".csv")?;
                Some((stem.to_owned(), (s.status, s.stopped.clone()?)))
            })
            .collect()
    }

    /// Records why the sweep stored under `stem` stopped before its last level.
    pub fn stopped(&mut self, stem: &str, why: String) {
        let (csv, _) = sweep_files(stem);
        for s in self.sweeps.iter_mut().filter(|s| s.csv == csv) {
            s.stopped = Some(why.clone());
        }
    }

    /// Writes `dir/index.json` (atomically).
    pub fn write(&self, dir: &Path) -> Result<(), SuiteError> {
        let path = dir.join("index.json");
        let tmp = dir.join(".index.json.tmp");
        let json = serde_json::to_vec_pretty(self).map_err(|e| SuiteError::Io {
            action: "encoding",
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        std::fs::write(&tmp, json).map_err(SuiteError::io("writing", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(SuiteError::io("writing", &path))
    }
}
