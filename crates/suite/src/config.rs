//! A suite as data (`suites/<name>/configs/suite.toml`): its studies (what is compared with
//! what), its workloads (an app measured one way, described by [`loadgen::WorkloadSpec`]) and its
//! profiles (which of them run, and how long each level lasts). The variants and the apps with
//! their layouts live beside it (`variants.toml`, `apps.toml`, read by `deploy`).
//!
//! Adding a suite, a study, a workload or a profile is an edit of these files; no Rust changes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::SuiteError;

/// What a workload's throughput counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Successful requests per second.
    Requests,
    /// Stream events (SSE events, gRPC stream messages) per second.
    Events,
    /// Generated (output) tokens per second (LLM workloads).
    Tokens,
}

impl Metric {
    /// What a protocol's throughput counts unless a workload says otherwise.
    pub fn of(spec: &loadgen::WorkloadSpec) -> Metric {
        match spec {
            loadgen::WorkloadSpec::Http(_) => Metric::Requests,
            loadgen::WorkloadSpec::Sse(_) => Metric::Events,
            loadgen::WorkloadSpec::Grpc(g) if g.call == loadgen::spec::GrpcCallKind::Stream => Metric::Events,
            loadgen::WorkloadSpec::Grpc(_) => Metric::Requests,
            loadgen::WorkloadSpec::Openai(_) => Metric::Tokens,
        }
    }
}

/// A baseline and a treatment variant in one layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComparisonStudy {
    /// The baseline variant (`variants.toml`).
    pub baseline: String,
    /// The treatment variant.
    pub treatment: String,
    /// The layout both run in (`apps.toml`).
    pub layout: String,
    /// A user count at which the summary also quotes the gain (recsys: 400).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_users: Option<u32>,
}

/// Variants swept across layouts (replica counts), optionally against a server outside Ray
/// (`[[server]]` of `apps.toml`) as the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScalingStudy {
    /// The variants, each run in every layout.
    pub variants: Vec<String>,
    /// The layouts, smallest first.
    pub layouts: Vec<String>,
    /// A server (`[[server]]` of `apps.toml`) measured once as the baseline, with its own sweep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// The sweep (profile `sweeps` key) the server is measured with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_sweep: Option<String>,
}

/// What a study compares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum StudyKind {
    /// Baseline against treatment.
    Comparison(ComparisonStudy),
    /// Variants across replica layouts.
    Scaling(ScalingStudy),
}

/// One study of the suite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Study {
    /// Name used on the command line and in the index (`allon`); letters and digits.
    pub name: String,
    /// What it shows.
    #[serde(default)]
    pub description: String,
    /// What it compares.
    #[serde(flatten)]
    pub kind: StudyKind,
}

impl Study {
    /// Every (variant, layout) this study deploys on Ray Serve.
    pub fn arms(&self) -> Vec<(String, String)> {
        match &self.kind {
            StudyKind::Comparison(c) => {
                vec![(c.baseline.clone(), c.layout.clone()), (c.treatment.clone(), c.layout.clone())]
            }
            StudyKind::Scaling(s) => s
                .variants
                .iter()
                .flat_map(|v| s.layouts.iter().map(move |l| (v.clone(), l.clone())))
                .collect(),
        }
    }

    /// The variants it names.
    pub fn variants(&self) -> Vec<&str> {
        match &self.kind {
            StudyKind::Comparison(c) => vec![c.baseline.as_str(), c.treatment.as_str()],
            StudyKind::Scaling(s) => s.variants.iter().map(String::as_str).collect(),
        }
    }
}

/// One workload: an app measured one way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadDef {
    /// Name used on the command line and in file names (`unary`); letters and digits.
    pub name: String,
    /// The app (`apps.toml`) it measures.
    pub app: String,
    /// The requests: protocol, path, body, what a good answer is.
    pub request: loadgen::WorkloadSpec,
    /// The p99 objective, ms (end-to-end; for token workloads, time to first token). Without one
    /// the peak is the highest throughput.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla_p99_ms: Option<f64>,
    /// The profile's user list it sweeps (`sweeps` key).
    pub sweep: String,
    /// A deployment whose replica count multiplies the sweep's users and the request window
    /// (`256 users per replica`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_replica_of: Option<String>,
    /// What throughput counts [default: from the protocol].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<Metric>,
}

impl WorkloadDef {
    /// What this workload's throughput counts.
    pub fn metric(&self) -> Metric {
        self.metric.unwrap_or_else(|| Metric::of(&self.request))
    }
}

/// Which studies and workloads run, and how long each level lasts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// What it is for, shown by `--plan`.
    #[serde(default)]
    pub description: String,
    /// Studies to run.
    pub studies: Vec<String>,
    /// Workloads to run.
    pub workloads: Vec<String>,
    /// Only these layouts of scaling studies [default: all].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layouts: Option<Vec<String>>,
    /// Warm-up per level, s.
    pub warmup_s: f64,
    /// Measured window per level, s (unless `requests` is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
    /// Measured window per level as a request count (scaled like the users of a per-replica
    /// workload).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
    /// Cool-down after each level, s.
    pub cooldown_s: f64,
    /// Request timeout, s.
    pub timeout_s: f64,
    /// User lists by name.
    pub sweeps: BTreeMap<String, Vec<u32>>,
    /// Measure every level this many times (paired runs alternate the variants in ABBA order).
    #[serde(default = "one")]
    pub repeat: u32,
    /// Deploy a comparison's two variants at once and alternate them level by level (false:
    /// one deployment at a time, each swept in full).
    #[serde(default = "yes")]
    pub paired: bool,
    /// Measure each repeat on fresh deployments: the stage's deployments are torn down and
    /// started again between repeats, so that the repeats (and the intervals drawn from them)
    /// also vary with what differs between two deployments and between minutes of the machine.
    #[serde(default)]
    pub redeploy: bool,
    /// Measure a level whose window was unstable (drifting, or varying too much to be one
    /// steady state) again, up to this many times, and use the last attempt.
    #[serde(default)]
    pub retry_unstable: u32,
    /// How long a deployment that stops answering its health check between levels is given to
    /// recover (Ray Serve restarts a dead replica or proxy) before the run goes on without it, s.
    #[serde(default = "recovery_default")]
    pub recovery_s: f64,
    /// Stop climbing a sweep once throughput stopped rising and p99 is past the SLA for every
    /// variant measured together.
    #[serde(default = "yes")]
    pub stop_at_saturation: bool,
    /// Adaptive levels: the warm-up ends when the per-second series stops trending (at most
    /// `max_warmup_s`), and the window when throughput and p99 have converged (at most
    /// `max_duration_s`); `warmup_s` and `duration_s` are then the shortest each may be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adaptive: Option<AdaptiveConfig>,
    /// Serve application arguments by app, merged over `apps.toml`'s (smaller models, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub app_args: BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
}

/// How adaptive levels end ([`Profile::adaptive`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdaptiveConfig {
    /// Whether levels are adaptive unless the command line says otherwise (`--adaptive`,
    /// `--fixed-length`).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The shortest warm-up when levels are adaptive, s (the profile's `warmup_s` when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_warmup_s: Option<f64>,
    /// The longest warm-up, s.
    #[serde(default = "default_max_warmup")]
    pub max_warmup_s: f64,
    /// The shortest measured window when levels are adaptive, s (the profile's `duration_s`
    /// when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_duration_s: Option<f64>,
    /// The longest measured window, s.
    #[serde(default = "default_max_duration")]
    pub max_duration_s: f64,
    /// The cool-down after each level when levels are adaptive, s (the profile's `cooldown_s`
    /// when unset). A level's requests have all finished before its cool-down starts (the
    /// runner drains them), so the cool-down is only idle time for the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown_s: Option<f64>,
    /// Target half-width of the 95% interval of mean throughput, relative to the mean.
    #[serde(default = "default_target")]
    pub target: f64,
    /// A scouting pass first: every level measured briefly to find where the peak can lie,
    /// then the long windows spent only on the levels that can be the peak (`--no-scout`: every
    /// level measured with the long bounds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scout: Option<ScoutConfig>,
}

/// The bounds of a scouting level ([`AdaptiveConfig::scout`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoutConfig {
    /// Whether levels are scouted first (when levels are adaptive).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The shortest and longest warm-up of a scouting level, s.
    #[serde(default = "scout_warmup")]
    pub warmup_s: [f64; 2],
    /// The shortest and longest window of a scouting level, s.
    #[serde(default = "scout_duration")]
    pub duration_s: [f64; 2],
    /// Target half-width of a scouting window's throughput interval, relative to the mean.
    #[serde(default = "scout_target")]
    pub target: f64,
    /// A level whose scouting p99 is over the SLA by at most this fraction may still be the
    /// peak, and is measured in full.
    #[serde(default = "scout_p99_margin")]
    pub p99_margin: f64,
}

impl Default for ScoutConfig {
    fn default() -> Self {
        ScoutConfig {
            enabled: true,
            warmup_s: scout_warmup(),
            duration_s: scout_duration(),
            target: scout_target(),
            p99_margin: scout_p99_margin(),
        }
    }
}

fn scout_warmup() -> [f64; 2] {
    [1.0, 4.0]
}

fn scout_duration() -> [f64; 2] {
    [3.0, 8.0]
}

fn scout_target() -> f64 {
    0.10
}

fn scout_p99_margin() -> f64 {
    0.25
}

impl Default for AdaptiveConfig {
    fn default() -> Self {
        AdaptiveConfig {
            enabled: true,
            min_warmup_s: None,
            max_warmup_s: default_max_warmup(),
            min_duration_s: None,
            max_duration_s: default_max_duration(),
            cooldown_s: None,
            target: default_target(),
            scout: None,
        }
    }
}

fn default_max_warmup() -> f64 {
    loadgen::Warmup::DEFAULT_AUTO_MAX.as_secs_f64()
}

fn default_max_duration() -> f64 {
    loadgen::Window::DEFAULT_ADAPTIVE_MAX.as_secs_f64()
}

fn default_target() -> f64 {
    loadgen::Window::DEFAULT_REL_HALF_WIDTH
}

/// Where a suite's Python environment comes from when it is not the project's `.venv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PythonConfig {
    /// The virtual environment, relative to the project root (`.venv-llm`).
    pub venv: PathBuf,
    /// The pinned requirements, relative to this file.
    pub requirements: PathBuf,
    /// Roughly how much it downloads and installs, said before a first install (`9.4 GB`).
    #[serde(default)]
    pub install_size: String,
    /// Free disk space a first install needs, GB.
    #[serde(default)]
    pub min_free_gb: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteFile {
    suite: String,
    #[serde(default = "default_variants")]
    variants: PathBuf,
    #[serde(default = "default_apps")]
    apps: PathBuf,
    #[serde(default)]
    python: Option<PythonConfig>,
    #[serde(rename = "study", default)]
    studies: Vec<Study>,
    #[serde(rename = "workload", default)]
    workloads: Vec<WorkloadDef>,
    #[serde(rename = "profile", default)]
    profiles: BTreeMap<String, Profile>,
}

fn one() -> u32 {
    1
}

fn recovery_default() -> f64 {
    60.0
}

fn yes() -> bool {
    true
}

fn default_variants() -> PathBuf {
    PathBuf::from("variants.toml")
}

fn default_apps() -> PathBuf {
    PathBuf::from("apps.toml")
}

/// A suite's configuration file, its paths resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct SuiteConfig {
    /// The file it was read from.
    pub path: PathBuf,
    /// The suite's name (`features`); it names the results folder.
    pub suite: String,
    /// The variants file.
    pub variants: PathBuf,
    /// The apps file.
    pub apps: PathBuf,
    /// The suite's own Python environment, when it needs more than the project's.
    pub python: Option<PythonConfig>,
    /// All studies.
    pub studies: Vec<Study>,
    /// All workloads.
    pub workloads: Vec<WorkloadDef>,
    /// Profiles by name.
    pub profiles: BTreeMap<String, Profile>,
}

/// Whether `s` can name a study, workload or sweep (it lands in file names).
pub(crate) fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric())
}

fn known<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.collect::<Vec<_>>().join(", ")
}

impl SuiteConfig {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Self, SuiteError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| SuiteError::Read { path: path.to_owned(), source })?;
        Self::parse(&text, path)
    }

    /// Parses and checks configuration text; `path` names it in errors and anchors relative
    /// paths.
    pub fn parse(text: &str, path: &Path) -> Result<Self, SuiteError> {
        let bad = |message: String| SuiteError::Config { path: path.to_owned(), message };
        let f: SuiteFile = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut python = f.python;
        if let Some(p) = &mut python {
            p.requirements = base.join(&p.requirements);
        }
        let c = SuiteConfig {
            path: path.to_owned(),
            suite: f.suite,
            variants: base.join(f.variants),
            apps: base.join(f.apps),
            python,
            studies: f.studies,
            workloads: f.workloads,
            profiles: f.profiles,
        };
        c.check().map_err(bad)?;
        Ok(c)
    }

    fn check(&self) -> Result<(), String> {
        if self.suite.is_empty() || !self.suite.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(format!("suite name {:?} must be ASCII letters, digits and '-'", self.suite));
        }
        let mut seen = std::collections::BTreeSet::new();
        for s in &self.studies {
            if !valid_name(&s.name) || !seen.insert(&s.name) {
                return Err(format!("study name {:?} must be ASCII letters and digits, and unique", s.name));
            }
            if let StudyKind::Scaling(sc) = &s.kind {
                if sc.variants.is_empty() || sc.layouts.is_empty() {
                    return Err(format!("study {}: a scaling study needs variants and layouts", s.name));
                }
                if sc.server.is_some() != sc.server_sweep.is_some() {
                    return Err(format!("study {}: `server` and `server_sweep` go together", s.name));
                }
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for w in &self.workloads {
            if !valid_name(&w.name) || !seen.insert(&w.name) {
                return Err(format!(
                    "workload name {:?} must be ASCII letters and digits, and unique",
                    w.name
                ));
            }
            if let Some(sla) = w.sla_p99_ms
                && !(sla.is_finite() && sla > 0.0)
            {
                return Err(format!("workload {}: sla_p99_ms must be a positive number", w.name));
            }
            w.request.validate().map_err(|e| format!("workload {}: {e}", w.name))?;
        }
        for (name, p) in &self.profiles {
            let ctx = |e: String| format!("profile {name}: {e}");
            for s in &p.studies {
                let study = self.study(s).map_err(ctx)?;
                if let StudyKind::Scaling(sc) = &study.kind
                    && let Some(sweep) = &sc.server_sweep
                    && !p.sweeps.contains_key(sweep)
                {
                    return Err(ctx(format!("no sweep {sweep:?} for the server of study {s}")));
                }
            }
            for w in &p.workloads {
                let w = self.workload(w).map_err(ctx)?;
                if !p.sweeps.contains_key(&w.sweep) {
                    return Err(ctx(format!("no sweep {:?} for workload {}", w.sweep, w.name)));
                }
            }
            for (sweep, users) in &p.sweeps {
                let list = users.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
                loadgen::units::parse_users(&list).map_err(|e| ctx(format!("sweep {sweep}: {e}")))?;
            }
            for (what, v) in [("warmup_s", Some(p.warmup_s)), ("cooldown_s", Some(p.cooldown_s))]
                .into_iter()
                .chain([("duration_s", p.duration_s), ("timeout_s", Some(p.timeout_s))])
            {
                if let Some(v) = v
                    && !(v.is_finite() && v >= 0.0 && v <= loadgen::units::MAX_DURATION.as_secs_f64())
                {
                    return Err(ctx(format!("{what} = {v} is not a duration in seconds")));
                }
            }
            if p.repeat == 0 || p.repeat > 50 {
                return Err(ctx(format!("repeat = {}: must be from 1 to 50", p.repeat)));
            }
            if p.retry_unstable > 5 {
                return Err(ctx(format!("retry_unstable = {}: must be from 0 to 5", p.retry_unstable)));
            }
            if let Some(a) = &p.adaptive {
                for (what, v) in
                    [("adaptive.max_warmup_s", a.max_warmup_s), ("adaptive.max_duration_s", a.max_duration_s)]
                {
                    if !(v.is_finite() && v > 0.0 && v <= loadgen::units::MAX_DURATION.as_secs_f64()) {
                        return Err(ctx(format!("{what} = {v} is not a duration in seconds")));
                    }
                }
                if a.max_warmup_s < p.warmup_s {
                    return Err(ctx(format!(
                        "adaptive.max_warmup_s = {} is shorter than warmup_s = {}",
                        a.max_warmup_s, p.warmup_s
                    )));
                }
                if let Some(d) = p.duration_s.filter(|d| *d > a.max_duration_s) {
                    return Err(ctx(format!(
                        "adaptive.max_duration_s = {} is shorter than duration_s = {d}",
                        a.max_duration_s
                    )));
                }
                if !(a.target.is_finite() && a.target > 0.0 && a.target <= 1.0) {
                    return Err(ctx(format!(
                        "adaptive.target = {} is not a fraction above 0 and at most 1",
                        a.target
                    )));
                }
                if let Some(sc) = &a.scout {
                    for (what, [lo, hi]) in [
                        ("adaptive.scout.warmup_s", sc.warmup_s),
                        ("adaptive.scout.duration_s", sc.duration_s),
                    ] {
                        let ok = |v: f64| {
                            v.is_finite() && v >= 0.0 && v <= loadgen::units::MAX_DURATION.as_secs_f64()
                        };
                        if !(ok(lo) && ok(hi) && lo <= hi && hi > 0.0) {
                            return Err(ctx(format!(
                                "{what} = [{lo}, {hi}] is not [shortest, longest] in seconds"
                            )));
                        }
                    }
                    if !(sc.target.is_finite() && sc.target > 0.0 && sc.target <= 1.0) {
                        return Err(ctx(format!(
                            "adaptive.scout.target = {} is not a fraction above 0 and at most 1",
                            sc.target
                        )));
                    }
                    if !(sc.p99_margin.is_finite() && sc.p99_margin >= 0.0) {
                        return Err(ctx(format!(
                            "adaptive.scout.p99_margin = {} is not a fraction of at least 0",
                            sc.p99_margin
                        )));
                    }
                }
            }
            if p.duration_s.is_none() == p.requests.is_none() {
                return Err(ctx("set exactly one of duration_s and requests".into()));
            }
        }
        Ok(())
    }

    /// The study named `name`.
    pub fn study(&self, name: &str) -> Result<&Study, String> {
        self.studies.iter().find(|s| s.name == name).ok_or_else(|| {
            format!("no study {name:?} (known: {})", known(self.studies.iter().map(|s| s.name.as_str())))
        })
    }

    /// The workload named `name`.
    pub fn workload(&self, name: &str) -> Result<&WorkloadDef, String> {
        self.workloads.iter().find(|w| w.name == name).ok_or_else(|| {
            format!("no workload {name:?} (known: {})", known(self.workloads.iter().map(|w| w.name.as_str())))
        })
    }

    /// The profile named `name`.
    pub fn profile(&self, name: &str) -> Result<&Profile, String> {
        self.profiles.get(name).ok_or_else(|| {
            format!("no profile {name:?} (known: {})", known(self.profiles.keys().map(String::as_str)))
        })
    }
}
