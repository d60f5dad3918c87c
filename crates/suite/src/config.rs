//! A suite as data: comparisons (baseline vs treatment variant in a layout), workloads (an app
//! measured one way, with an SLA) and profiles (which of them, and how long each level runs).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::run::SuiteError;

/// How a workload talks to its app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// HTTP/1.1 POST echo, body checked.
    Http,
    /// Server-sent events, event count checked.
    Sse,
    /// gRPC unary echo, payload checked.
    Grpc,
}

/// One comparison: a baseline and a treatment variant in one replica layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Comparison {
    /// Name used in file names (`allon`); letters and digits only.
    pub name: String,
    /// What it shows.
    #[serde(default)]
    pub description: String,
    /// The variant named `off` in results.
    pub baseline: String,
    /// The variant named `on` in results.
    pub treatment: String,
    /// The replica layout (apps.toml).
    pub layout: String,
}

/// One workload: an app measured one way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadDef {
    /// Name used in file names (`unary`); letters and digits only.
    pub name: String,
    /// The app (apps.toml) it measures.
    pub app: String,
    /// How.
    pub protocol: Protocol,
    /// Request body (or gRPC payload) size in bytes.
    #[serde(default)]
    pub body_size: usize,
    /// Events per stream (SSE).
    #[serde(default)]
    pub events: u32,
    /// The SLA on p99 latency (end-to-end for streams), ms.
    pub sla_p99_ms: f64,
    /// The profile's concurrency list it sweeps.
    pub sweep: String,
}

/// Which comparisons and workloads run, and how long each level lasts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Comparisons to run.
    pub comparisons: Vec<String>,
    /// Workloads to run.
    pub workloads: Vec<String>,
    /// Warm-up per level, s.
    pub warmup_s: f64,
    /// Measured window per level, s.
    pub duration_s: f64,
    /// Cool-down after each level, s.
    pub cooldown_s: f64,
    /// Request timeout, s.
    pub timeout_s: f64,
    /// Concurrency lists by name.
    pub sweeps: BTreeMap<String, Vec<u32>>,
}

/// A suite's configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteConfig {
    /// All comparisons.
    #[serde(rename = "comparison")]
    pub comparisons: Vec<Comparison>,
    /// All workloads.
    #[serde(rename = "workload")]
    pub workloads: Vec<WorkloadDef>,
    /// Profiles by name.
    #[serde(rename = "profile")]
    pub profiles: BTreeMap<String, Profile>,
}

fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric())
}

impl SuiteConfig {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Self, SuiteError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SuiteError::Config(format!("reading {}: {e}", path.display())))?;
        let c: SuiteConfig =
            toml::from_str(&text).map_err(|e| SuiteError::Config(format!("{}: {e}", path.display())))?;
        c.check().map_err(|e| SuiteError::Config(format!("{}: {e}", path.display())))?;
        Ok(c)
    }

    fn check(&self) -> Result<(), String> {
        for c in &self.comparisons {
            if !valid_name(&c.name) {
                return Err(format!("comparison name {:?} must be ASCII letters and digits", c.name));
            }
        }
        for w in &self.workloads {
            if !valid_name(&w.name) {
                return Err(format!("workload name {:?} must be ASCII letters and digits", w.name));
            }
            if w.sla_p99_ms.is_nan() || w.sla_p99_ms <= 0.0 {
                return Err(format!("workload {}: sla_p99_ms must be positive", w.name));
            }
        }
        for (name, p) in &self.profiles {
            for c in &p.comparisons {
                self.comparison(c).map_err(|e| format!("profile {name}: {e}"))?;
            }
            for w in &p.workloads {
                let w = self.workload(w).map_err(|e| format!("profile {name}: {e}"))?;
                if !p.sweeps.contains_key(&w.sweep) {
                    return Err(format!("profile {name} has no sweep {:?} for workload {}", w.sweep, w.name));
                }
            }
        }
        Ok(())
    }

    /// The comparison named `name`.
    pub fn comparison(&self, name: &str) -> Result<&Comparison, String> {
        self.comparisons.iter().find(|c| c.name == name).ok_or_else(|| {
            let known: Vec<&str> = self.comparisons.iter().map(|c| c.name.as_str()).collect();
            format!("no comparison {name:?} (known: {})", known.join(", "))
        })
    }

    /// The workload named `name`.
    pub fn workload(&self, name: &str) -> Result<&WorkloadDef, String> {
        self.workloads.iter().find(|w| w.name == name).ok_or_else(|| {
            let known: Vec<&str> = self.workloads.iter().map(|w| w.name.as_str()).collect();
            format!("no workload {name:?} (known: {})", known.join(", "))
        })
    }

    /// The profile named `name`.
    pub fn profile(&self, name: &str) -> Result<&Profile, SuiteError> {
        self.profiles.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.profiles.keys().map(String::as_str).collect();
            SuiteError::Config(format!("no profile {name:?} (known: {})", known.join(", ")))
        })
    }
}

/// The settings of one run: a profile with the command line's overrides applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// The profile it started from.
    pub profile: String,
    /// Comparisons to run.
    pub comparisons: Vec<Comparison>,
    /// Workloads to run, with their SLAs.
    pub workloads: Vec<WorkloadDef>,
    /// Only these variants are measured (all when empty).
    pub variants: Vec<String>,
    /// Warm-up per level.
    #[serde(with = "humantime_serde_secs")]
    pub warmup: Duration,
    /// Window per level.
    #[serde(with = "humantime_serde_secs")]
    pub duration: Duration,
    /// Cool-down per level.
    #[serde(with = "humantime_serde_secs")]
    pub cooldown: Duration,
    /// Request timeout.
    #[serde(with = "humantime_serde_secs")]
    pub timeout: Duration,
    /// Concurrency lists by name.
    pub sweeps: BTreeMap<String, Vec<u32>>,
}

mod humantime_serde_secs {
    pub fn serialize<S: serde::Serializer>(d: &std::time::Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

fn secs(what: &str, v: f64) -> Result<Duration, SuiteError> {
    Duration::try_from_secs_f64(v).map_err(|_| SuiteError::Config(format!("{what} {v} s is not a duration")))
}

impl Settings {
    /// The settings of `profile` in `config`.
    pub fn from_profile(config: &SuiteConfig, profile: &str) -> Result<Self, SuiteError> {
        let p = config.profile(profile)?;
        let comparisons = p
            .comparisons
            .iter()
            .map(|c| config.comparison(c).cloned().map_err(SuiteError::Config))
            .collect::<Result<_, _>>()?;
        let workloads = p
            .workloads
            .iter()
            .map(|w| config.workload(w).cloned().map_err(SuiteError::Config))
            .collect::<Result<_, _>>()?;
        Ok(Settings {
            profile: profile.to_owned(),
            comparisons,
            workloads,
            variants: Vec::new(),
            warmup: secs("warm-up", p.warmup_s)?,
            duration: secs("duration", p.duration_s)?,
            cooldown: secs("cool-down", p.cooldown_s)?,
            timeout: secs("timeout", p.timeout_s)?,
            sweeps: p.sweeps.clone(),
        })
    }

    /// Checks the settings before anything is deployed.
    pub fn check(&self) -> Result<(), SuiteError> {
        let bad = |m: String| Err(SuiteError::Config(m));
        if self.comparisons.is_empty() {
            return bad("no comparison selected".into());
        }
        if self.workloads.is_empty() {
            return bad("no workload selected".into());
        }
        if self.duration.is_zero() {
            return bad("the measured window per level must be longer than zero".into());
        }
        if self.timeout.is_zero() {
            return bad("the request timeout must be longer than zero".into());
        }
        for w in &self.workloads {
            match self.sweeps.get(&w.sweep) {
                None => return bad(format!("no concurrency list {:?} for workload {}", w.sweep, w.name)),
                Some(list) if list.is_empty() || list.contains(&0) => {
                    return bad(format!("concurrency list {:?} must be non-empty and without 0", w.sweep));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}
