//! The settings of one run: a profile of the suite's configuration with the command line's
//! selections and overrides applied, every name checked against the configuration before
//! anything starts.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use loadgen::units::Span;

use crate::args::SuiteArgs;
use crate::config::{AdaptiveConfig, Study, StudyKind, SuiteConfig, WorkloadDef};
use crate::error::SuiteError;

/// What one run measures, and how.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// The suite.
    pub suite: String,
    /// The profile it started from.
    pub profile: String,
    /// Studies to run.
    pub studies: Vec<Study>,
    /// Workloads to run, with their SLAs.
    pub workloads: Vec<WorkloadDef>,
    /// Only these variants (and servers) are measured (all when empty).
    pub variants: Vec<String>,
    /// Only these layouts of scaling studies (all when `None`).
    pub layouts: Option<Vec<String>>,
    /// Warm-up per level.
    #[serde(serialize_with = "secs")]
    pub warmup: Duration,
    /// Measured window per level (unless `requests`).
    #[serde(serialize_with = "opt_secs")]
    pub duration: Option<Duration>,
    /// Measured window per level as a request count.
    pub requests: Option<u64>,
    /// Cool-down per level.
    #[serde(serialize_with = "secs")]
    pub cooldown: Duration,
    /// Request timeout.
    #[serde(serialize_with = "secs")]
    pub timeout: Duration,
    /// User lists by name.
    pub sweeps: BTreeMap<String, Vec<u32>>,
    /// Serve application arguments by app.
    pub app_args: BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
    /// Levels above this error rate never count as a peak.
    pub max_error_rate: f64,
    /// Times every level is measured.
    pub repeat: u32,
    /// Comparisons deploy both variants at once and alternate them.
    pub paired: bool,
    /// Sweeps stop climbing past saturation.
    pub stop_at_saturation: bool,
    /// Each repeat is measured on fresh deployments (only with more than one repeat).
    pub redeploy: bool,
    /// Times an unstable level is measured again.
    pub retry_unstable: u32,
    /// How long a deployment that stops answering its check is given to recover.
    #[serde(serialize_with = "secs")]
    pub recovery: Duration,
    /// Levels end when their answer is known (`None`: fixed length).
    pub adaptive: Option<Adaptive>,
    /// Each level carries the server's view of its window (Ray Serve's metrics, process CPU).
    pub server_view: bool,
}

/// Bounds of adaptive levels: `warmup` and `duration` are the shortest, these the longest.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Adaptive {
    /// The longest warm-up.
    #[serde(serialize_with = "secs")]
    pub max_warmup: Duration,
    /// The longest measured window.
    #[serde(serialize_with = "secs")]
    pub max_duration: Duration,
    /// Target half-width of the 95% interval of mean throughput, relative to the mean.
    pub target: f64,
    /// Levels scouted first, then measured in full only where they can be the peak.
    pub scout: Option<Scout>,
}

/// A scouting pass ([`Adaptive::scout`]): every level measured with these short bounds, then
/// the levels that can be the peak measured again with the long ones.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Scout {
    /// The shortest warm-up.
    #[serde(serialize_with = "secs")]
    pub min_warmup: Duration,
    /// The longest warm-up.
    #[serde(serialize_with = "secs")]
    pub max_warmup: Duration,
    /// The shortest window.
    #[serde(serialize_with = "secs")]
    pub min_duration: Duration,
    /// The longest window.
    #[serde(serialize_with = "secs")]
    pub max_duration: Duration,
    /// Target half-width of the throughput interval, relative to the mean.
    pub target: f64,
    /// How far over the SLA a scouted p99 may be for the level still to be measured in full.
    pub p99_margin: f64,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

fn opt_secs<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_f64(d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

fn duration(what: &str, v: f64) -> Result<Duration, SuiteError> {
    Duration::try_from_secs_f64(v).map_err(|_| SuiteError::Usage(format!("{what} {v} s is not a duration")))
}

impl Settings {
    /// The settings of `args.config.profile` in `config`, with `args`' overrides.
    pub fn new(config: &SuiteConfig, args: &SuiteArgs) -> Result<Settings, SuiteError> {
        let usage = SuiteError::Usage;
        let p = config.profile(&args.config.profile).map_err(usage)?;
        let pick_studies = if args.select.study.is_empty() { &p.studies } else { &args.select.study };
        let studies: Vec<Study> =
            pick_studies.iter().map(|s| config.study(s).cloned()).collect::<Result<_, _>>().map_err(|e| {
                SuiteError::Usage(if args.select.study.is_empty() {
                    format!("profile: {e}")
                } else {
                    format!("--study: {e}")
                })
            })?;
        let pick_workloads =
            if args.select.workload.is_empty() { &p.workloads } else { &args.select.workload };
        let mut workloads: Vec<WorkloadDef> = pick_workloads
            .iter()
            .map(|w| config.workload(w).cloned())
            .collect::<Result<_, _>>()
            .map_err(|e| SuiteError::Usage(format!("--workload: {e}")))?;

        let mut sweeps = p.sweeps.clone();
        for s in &args.timing.sweep {
            let used = workloads.iter().any(|w| w.sweep == s.name)
                || studies.iter().any(|st| matches!(&st.kind, StudyKind::Scaling(sc) if sc.server_sweep.as_deref() == Some(s.name.as_str())));
            if !used {
                let names: Vec<&str> = workloads.iter().map(|w| w.sweep.as_str()).collect();
                return Err(SuiteError::Usage(format!(
                    "--sweep {}: no selected workload sweeps {:?} (they sweep: {})",
                    s.name,
                    s.name,
                    names.join(", ")
                )));
            }
            sweeps.insert(s.name.clone(), s.users.clone());
        }
        for sla in &args.timing.sla {
            let mut found = false;
            for w in workloads.iter_mut().filter(|w| w.name == sla.workload) {
                w.sla_p99_ms = Some(sla.p99_ms);
                found = true;
            }
            if !found {
                return Err(SuiteError::Usage(format!("--sla {}: no such workload selected", sla.workload)));
            }
        }
        for v in &args.select.variant {
            let used = studies.iter().any(|s| {
                s.variants().contains(&v.as_str())
                    || matches!(&s.kind, StudyKind::Scaling(sc) if sc.server.as_deref() == Some(v.as_str()))
            });
            if !used {
                return Err(SuiteError::Usage(format!("--variant {v} is in none of the selected studies")));
            }
        }
        let layouts =
            if args.select.layout.is_empty() { p.layouts.clone() } else { Some(args.select.layout.clone()) };
        if let Some(ls) = &layouts {
            for l in ls {
                let used = studies
                    .iter()
                    .any(|s| matches!(&s.kind, StudyKind::Scaling(sc) if sc.layouts.contains(l)));
                if !used {
                    return Err(SuiteError::Usage(format!("--layout {l} is in no selected scaling study")));
                }
            }
        }
        let (mut dur, mut requests) =
            (p.duration_s.map(|d| duration("duration", d)).transpose()?, p.requests);
        if let Some(d) = args.timing.duration {
            (dur, requests) = (Some(d.0), None);
        }
        if let Some(n) = args.timing.requests {
            (dur, requests) = (None, Some(n));
        }
        let a = p.adaptive.unwrap_or(AdaptiveConfig { enabled: false, ..AdaptiveConfig::default() });
        let on = (a.enabled || args.timing.adaptive) && !args.timing.fixed_length && requests.is_none();
        // Adaptive levels have their own shortest warm-up and window and their own cool-down
        // where the profile gives them; the command line's still win.
        let (mut warmup_s, mut cooldown_s) = (p.warmup_s, p.cooldown_s);
        let adaptive = if on {
            warmup_s = a.min_warmup_s.unwrap_or(warmup_s);
            cooldown_s = a.cooldown_s.unwrap_or(cooldown_s);
            if let (None, Some(d)) = (args.timing.duration, a.min_duration_s) {
                dur = Some(duration("adaptive.min_duration_s", d)?);
            }
            let max_warmup = duration("adaptive.max_warmup_s", a.max_warmup_s)?;
            let max_duration = duration("adaptive.max_duration_s", a.max_duration_s)?;
            let scout = match a.scout.filter(|sc| sc.enabled && !args.timing.no_scout) {
                Some(sc) => Some(Scout {
                    min_warmup: duration("adaptive.scout.warmup_s", sc.warmup_s[0])?,
                    max_warmup: duration("adaptive.scout.warmup_s", sc.warmup_s[1])?,
                    min_duration: duration("adaptive.scout.duration_s", sc.duration_s[0])?,
                    max_duration: duration("adaptive.scout.duration_s", sc.duration_s[1])?,
                    target: sc.target,
                    p99_margin: sc.p99_margin,
                }),
                None => None,
            };
            Some(Adaptive { max_warmup, max_duration, target: a.target, scout })
        } else {
            None
        };
        let s = Settings {
            suite: config.suite.clone(),
            profile: args.config.profile.clone(),
            studies,
            workloads,
            variants: args.select.variant.clone(),
            layouts,
            warmup: args.timing.warmup.map_or(duration("warm-up", warmup_s), |d| Ok(d.0))?,
            duration: dur,
            requests,
            cooldown: args.timing.cooldown.map_or(duration("cool-down", cooldown_s), |d| Ok(d.0))?,
            timeout: args.timing.timeout.map_or(duration("timeout", p.timeout_s), |d| Ok(d.0))?,
            sweeps,
            app_args: p.app_args.clone(),
            max_error_rate: args.timing.max_error_rate,
            repeat: args.timing.repeat.unwrap_or(p.repeat),
            paired: p.paired && !args.timing.sequential,
            stop_at_saturation: p.stop_at_saturation && !args.timing.full_sweep,
            redeploy: (p.redeploy || args.timing.redeploy) && !args.timing.same_deployment,
            retry_unstable: args.timing.retry_unstable.unwrap_or(p.retry_unstable),
            recovery: duration("recovery_s", p.recovery_s)?,
            adaptive,
            server_view: !args.timing.no_server_view,
        };
        s.check()?;
        Ok(s)
    }

    /// Checks the settings before anything is deployed.
    pub fn check(&self) -> Result<(), SuiteError> {
        let bad = |m: String| Err(SuiteError::Usage(m));
        if self.studies.is_empty() {
            return bad("no study selected".into());
        }
        if self.workloads.is_empty() {
            return bad("no workload selected".into());
        }
        if self.duration.is_some_and(|d| d.is_zero()) {
            return bad("the measured window per level must be longer than zero".into());
        }
        if let Some(a) = &self.adaptive {
            if self.warmup > a.max_warmup {
                return bad(format!(
                    "the warm-up ({}) is longer than the longest adaptive warm-up ({})",
                    Span(self.warmup),
                    Span(a.max_warmup)
                ));
            }
            if let Some(d) = self.duration.filter(|d| *d > a.max_duration) {
                return bad(format!(
                    "the measured window ({}) is longer than the longest adaptive window ({})",
                    Span(d),
                    Span(a.max_duration)
                ));
            }
        }
        if self.timeout.is_zero() {
            return bad("the request timeout must be longer than zero".into());
        }
        for w in &self.workloads {
            match self.sweeps.get(&w.sweep) {
                None => return bad(format!("no user list {:?} for workload {}", w.sweep, w.name)),
                Some(list) if list.is_empty() => return bad(format!("user list {:?} is empty", w.sweep)),
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Whether `variant` is to be measured.
    pub fn measures(&self, variant: &str) -> bool {
        self.variants.is_empty() || self.variants.iter().any(|v| v == variant)
    }

    /// Whether `layout` of a scaling study is to be measured.
    pub fn includes_layout(&self, layout: &str) -> bool {
        self.layouts.as_ref().is_none_or(|ls| ls.iter().any(|l| l == layout))
    }
}
