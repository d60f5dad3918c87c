//! What counts as a peak: the p99 SLA of each workload ([`Slas`], set with `--sla`
//! [`SlaAssignment`]s) and the highest acceptable error rate ([`Criteria`]).
//!
//! A workload's SLA comes from, in order: an explicit setting (`--sla`), the run's own index
//! (`sla_p99_ms`, which may say "none"), the built-in defaults (unary 200 ms, streaming 700 ms).

use std::collections::BTreeMap;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::GainBasis;
use crate::error::{Error, Result};
use crate::model::WorkloadFamily;

/// The p99 latency SLA per workload, in milliseconds.
///
/// A workload's SLA is looked up by its exact name, then by its family (`unary`, `streaming`,
/// `recsys`, `llm`); explicit settings ([`Slas::set`]) before the run's own, the run's before the
/// defaults. A workload without an SLA has its peak at the highest throughput of all its (valid)
/// levels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slas {
    explicit: BTreeMap<String, f64>,
    defaults: BTreeMap<String, f64>,
}

impl Default for Slas {
    /// The spec's SLAs: unary 200 ms, streaming 700 ms (as defaults: a run's index overrides them).
    fn default() -> Self {
        let defaults = BTreeMap::from([("unary".to_string(), 200.0), ("streaming".to_string(), 700.0)]);
        Self { explicit: BTreeMap::new(), defaults }
    }
}

fn lookup(map: &BTreeMap<String, f64>, workload: &str) -> Option<f64> {
    map.get(&workload.to_ascii_lowercase())
        .or_else(|| WorkloadFamily::of(workload).name().and_then(|family| map.get(family)))
        .copied()
}

impl Slas {
    /// No SLA for any workload (a run's index may still give some).
    pub fn none() -> Self {
        Self { explicit: BTreeMap::new(), defaults: BTreeMap::new() }
    }

    /// Sets the SLA of `workload` (a workload name or a family name) to `p99_ms`; it wins over
    /// what a run's index says.
    pub fn set(&mut self, workload: &str, p99_ms: f64) -> &mut Self {
        self.explicit.insert(workload.to_ascii_lowercase(), p99_ms);
        self
    }

    /// Returns these SLAs with `workload` set to `p99_ms`.
    pub fn with(mut self, workload: &str, p99_ms: f64) -> Self {
        self.set(workload, p99_ms);
        self
    }

    /// The SLA of `workload` in milliseconds, if it has one (explicit, else default).
    pub fn get(&self, workload: &str) -> Option<f64> {
        self.resolve(workload, None)
    }

    /// The SLA of `workload` given what its run says (`run_says`: `Some(None)` for "no SLA",
    /// `None` when the run does not say): explicit, else the run's, else the default.
    pub fn resolve(&self, workload: &str, run_says: Option<Option<f64>>) -> Option<f64> {
        lookup(&self.explicit, workload).or_else(|| match run_says {
            Some(sla) => sla,
            None => lookup(&self.defaults, workload),
        })
    }

    /// Every SLA that is set explicitly or by default, by workload.
    pub fn iter(&self) -> impl Iterator<Item = (&str, f64)> {
        let defaults = self.defaults.iter().filter(|(k, _)| !self.explicit.contains_key(*k));
        self.explicit.iter().chain(defaults).map(|(k, v)| (k.as_str(), *v))
    }
}

/// One `--sla` assignment: `unary=200ms`, `streaming=0.7s`, `recsys=400` (milliseconds).
#[derive(Debug, Clone, PartialEq)]
pub struct SlaAssignment {
    /// The workload (or family) name.
    pub workload: String,
    /// The p99 SLA in milliseconds.
    pub p99_ms: f64,
}

impl FromStr for SlaAssignment {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let (workload, value) = s.split_once('=').ok_or_else(|| {
            Error::InvalidOption(format!("SLA `{s}`: expected WORKLOAD=DURATION, e.g. unary=200ms"))
        })?;
        let workload = workload.trim();
        if workload.is_empty() {
            return Err(Error::InvalidOption(format!("SLA `{s}`: empty workload name")));
        }
        Ok(Self {
            workload: workload.to_string(),
            p99_ms: parse_ms(value.trim()).ok_or_else(|| {
                Error::InvalidOption(format!(
                    "SLA `{s}`: `{value}` is not a positive duration like 200ms, 0.7s or 700 (ms)"
                ))
            })?,
        })
    }
}

/// `200ms`, `0.7s`, `200` (ms), `1500us` -> milliseconds.
fn parse_ms(v: &str) -> Option<f64> {
    let (num, scale) = if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix("us").or_else(|| v.strip_suffix("µs")) {
        (n, 1e-3)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1e3)
    } else {
        (v, 1.0)
    };
    let ms = num.trim().parse::<f64>().ok()? * scale;
    (ms.is_finite() && ms > 0.0).then_some(ms)
}

/// What counts as a peak: the SLAs and the highest acceptable error rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Criteria {
    /// p99 SLA per workload.
    pub slas: Slas,
    /// Levels with a larger error rate (0..1) never count as a peak (default 0.01).
    pub max_error_rate: f64,
    /// Which gain the summary leads with (default: the gain at the SLA, interpolated; a summary
    /// written before this field led with the peak gain, and reads so).
    #[serde(default = "GainBasis::peak")]
    pub headline: GainBasis,
}

impl Default for Criteria {
    fn default() -> Self {
        Self { slas: Slas::default(), max_error_rate: 0.01, headline: GainBasis::default() }
    }
}

impl From<Slas> for Criteria {
    fn from(slas: Slas) -> Self {
        Self { slas, ..Self::default() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sla_assignments_parse() {
        let a: SlaAssignment = "unary=200ms".parse().expect("parses");
        assert_eq!(a.workload, "unary");
        assert_eq!(a.p99_ms, 200.0);
        let a: SlaAssignment = "streaming=0.7s".parse().expect("parses");
        assert!((a.p99_ms - 700.0).abs() < 1e-9);
        let a: SlaAssignment = "streaming=700".parse().expect("parses");
        assert_eq!(a.p99_ms, 700.0);
        let a: SlaAssignment = "recsys=400".parse().expect("parses");
        assert_eq!(a.p99_ms, 400.0);
        assert!("unary".parse::<SlaAssignment>().is_err());
        assert!("unary=fast".parse::<SlaAssignment>().is_err());
        assert!("=200ms".parse::<SlaAssignment>().is_err());
        assert!("unary=-5ms".parse::<SlaAssignment>().is_err());
    }

    #[test]
    fn slas_fall_back_to_the_family() {
        let slas = Slas::default();
        assert_eq!(slas.get("unary"), Some(200.0));
        assert_eq!(slas.get("Streaming"), Some(700.0));
        assert_eq!(slas.get("sse_stream"), Some(700.0));
        assert_eq!(slas.get("recsys"), None);
        assert_eq!(Slas::none().get("unary"), None);
    }

    #[test]
    fn explicit_beats_the_run_which_beats_the_defaults() {
        let slas = Slas::default();
        assert_eq!(slas.resolve("unary", Some(Some(300.0))), Some(300.0));
        assert_eq!(slas.resolve("unary", Some(None)), None);
        assert_eq!(slas.resolve("unary", None), Some(200.0));
        let slas = slas.with("unary", 150.0);
        assert_eq!(slas.resolve("unary", Some(Some(300.0))), Some(150.0));
        assert_eq!(slas.resolve("unary", Some(None)), Some(150.0));
    }
}
