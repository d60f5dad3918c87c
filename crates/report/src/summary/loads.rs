//! A sweep's levels combined per user count (or arrival rate): a [`Load`] holds the repeats of
//! one user count (`c8-r1`, `c8-r2`, ... or a single `c8`), the mean of their throughputs, the
//! median of their p99s, and whether it may count as a peak. Every figure of the summary is
//! computed over loads, so a sweep measured once and a sweep measured R times read alike.
//!
//! A load counts as a peak only when the server held it in *every* repeat (each valid and within
//! the error limit: a peak must hold in each repeat, not in their average). A repeat whose
//! measurement is in doubt (unstable through its window, or client-bound) is left out of the
//! load's figures, and the load counts from the others as long as at least half of its repeats
//! remain; with fewer, or measured once, the load does not count.

use crate::model::{Exclusion, MeasuredLevel, MeasuredSweep, Metric};

/// One measurement of a load.
#[derive(Debug, Clone)]
pub(crate) struct Repeat<'a> {
    pub level: &'a MeasuredLevel,
    /// `k` of `c<users>-r<k>` (the position among the load's levels when the label has none).
    pub k: u32,
    /// The level's throughput under the metric.
    pub throughput: Option<f64>,
    /// The level's per-second throughput under the metric, when recorded.
    pub series: Option<Vec<f64>>,
}

/// One user count (or arrival rate) of one sweep, its repeats combined.
#[derive(Debug, Clone)]
pub(crate) struct Load<'a> {
    pub concurrency: u64,
    pub rate_rps: Option<f64>,
    /// The label without the repeat suffix (`c8`).
    pub label: String,
    /// Every repeat, by `k`.
    pub repeats: Vec<Repeat<'a>>,
    /// The repeats the figures are computed from (indices into `repeats`): the valid ones with
    /// a throughput, or all with a throughput when none is valid.
    pub used: Vec<usize>,
    /// Mean throughput of the used repeats.
    pub throughput: Option<f64>,
    /// Median p99 (the metric's) of the used repeats.
    pub p99_ms: Option<f64>,
    /// Why each excluded repeat does not count: (its repeat number, when labelled, and why).
    pub exclusions: Vec<(Option<u32>, &'a MeasuredLevel, Exclusion)>,
    /// Whether the load counts although some repeats were excluded: only repeats in doubt
    /// (unstable, client-bound) were, and they are left out of `used`.
    pub counts_without_excluded: bool,
}

/// Whether an exclusion is about the measurement (the repeat is in doubt) rather than about what
/// the server did at that load.
fn in_doubt(e: &Exclusion) -> bool {
    matches!(e, Exclusion::Unstable(_) | Exclusion::ClientBound)
}

impl<'a> Load<'a> {
    /// Whether some repeat keeps it from counting as a peak.
    pub fn excluded(&self) -> bool {
        !self.exclusions.is_empty() && !self.counts_without_excluded
    }

    /// Whether only a scouting pass measured it (and nothing else keeps it from counting).
    pub fn scouted_only(&self) -> bool {
        !self.exclusions.is_empty() && self.exclusions.iter().all(|(_, _, e)| matches!(e, Exclusion::Scout))
    }

    /// Whether it may be a peak under the SLA `sla_ms`: no excluded repeat, a throughput, and a
    /// p99 within the SLA (any p99 when there is none). The polars pass applies the same rule.
    pub fn eligible(&self, sla_ms: Option<f64>) -> bool {
        !self.excluded()
            && self.throughput.is_some()
            && self.p99_ms.is_some_and(|p| sla_ms.is_none_or(|s| p <= s))
    }

    /// Whether its throughput has something to resample: two used repeats or more, or a used
    /// repeat with a per-second series.
    pub fn varies(&self) -> bool {
        self.used.len() >= 2 || self.used.iter().any(|&i| self.repeats[i].series.is_some())
    }

    /// The used repeats' levels.
    pub fn used_levels(&self) -> impl Iterator<Item = &'a MeasuredLevel> + '_ {
        self.used.iter().map(|&i| self.repeats[i].level)
    }

    /// The mean of `f` over the used repeats that have it.
    pub fn mean_of(&self, f: impl Fn(&MeasuredLevel) -> Option<f64>) -> Option<f64> {
        mean(self.used_levels().filter_map(f))
    }

    /// The median of `f` over the used repeats that have it.
    pub fn median_of(&self, f: impl Fn(&MeasuredLevel) -> Option<f64>) -> Option<f64> {
        median(self.used_levels().filter_map(f).collect())
    }
}

/// The mean of `values`, `None` for none.
pub(crate) fn mean(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.into_iter().fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// The median of `values` (the mean of the middle two for an even count), `None` for none.
pub(crate) fn median(mut values: Vec<f64>) -> Option<f64> {
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 })
}

/// The loads of `sweep`, in the order of its levels (concurrency, then arrival rate).
pub(crate) fn loads_of<'a>(sweep: &'a MeasuredSweep, metric: &Metric, max_error_rate: f64) -> Vec<Load<'a>> {
    let mut loads: Vec<Load<'a>> = Vec::new();
    for level in &sweep.levels {
        let key = (level.concurrency, level.rate_rps.map(f64::to_bits));
        let at = loads.iter().position(|l| (l.concurrency, l.rate_rps.map(f64::to_bits)) == key);
        let load = match at {
            Some(i) => &mut loads[i],
            None => {
                loads.push(Load {
                    concurrency: level.concurrency,
                    rate_rps: level.rate_rps,
                    label: level.load_label().to_string(),
                    repeats: Vec::new(),
                    used: Vec::new(),
                    throughput: None,
                    p99_ms: None,
                    exclusions: Vec::new(),
                    counts_without_excluded: false,
                });
                loads.last_mut().expect("just pushed")
            }
        };
        let k = level.repeat.unwrap_or(load.repeats.len() as u32 + 1);
        if let Some(reason) = level.exclusion(max_error_rate) {
            load.exclusions.push((level.repeat, level, reason));
        }
        load.repeats.push(Repeat {
            level,
            k,
            throughput: metric.throughput_of(level),
            series: metric.series_of(level),
        });
    }
    for load in &mut loads {
        load.repeats.sort_by_key(|r| r.k);
        let with_value: Vec<usize> =
            (0..load.repeats.len()).filter(|&i| load.repeats[i].throughput.is_some()).collect();
        let valid: Vec<usize> = with_value.iter().copied().filter(|&i| load.repeats[i].level.valid).collect();
        load.used = if valid.is_empty() { with_value } else { valid };
        // Repeats in doubt are left out when the rest are enough and nothing else is wrong.
        let doubtful: Vec<usize> = load
            .used
            .iter()
            .copied()
            .filter(|&i| load.repeats[i].level.exclusion(max_error_rate).is_some_and(|e| in_doubt(&e)))
            .collect();
        let kept = load.used.len() - doubtful.len();
        if !doubtful.is_empty()
            && load.repeats.len() > 1
            && kept > 0
            && kept * 2 >= load.repeats.len()
            && load.exclusions.iter().all(|(_, _, e)| in_doubt(e))
        {
            load.used.retain(|i| !doubtful.contains(i));
            load.counts_without_excluded = true;
        }
        load.throughput = mean(load.used.iter().filter_map(|&i| load.repeats[i].throughput));
        load.p99_ms =
            median(load.used.iter().filter_map(|&i| metric.latency_of(load.repeats[i].level)).collect());
    }
    loads
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Percentiles, SourceFormat, Stability};

    fn level(users: u64, k: u32, rps: f64, p99: f64) -> MeasuredLevel {
        MeasuredLevel {
            label: format!("c{users}-r{k}"),
            repeat: Some(k),
            latency_ms: Percentiles { p99: Some(p99), ..Percentiles::default() },
            ..MeasuredLevel::closed(users, rps)
        }
    }

    #[test]
    fn repeats_combine_into_one_load_per_user_count() {
        let mut sweep = MeasuredSweep::new("s", "on", "unary", SourceFormat::ServebenchJson, "x");
        sweep.levels = vec![
            level(8, 1, 100.0, 10.0),
            level(8, 2, 110.0, 30.0),
            level(8, 3, 120.0, 20.0),
            level(16, 1, 200.0, 50.0),
            MeasuredLevel {
                stability: Some(Stability { stable: false, ..Stability::default() }),
                ..level(16, 2, 260.0, 40.0)
            },
        ];
        let loads = loads_of(&sweep, &Metric::REQUESTS, 0.01);
        assert_eq!(loads.len(), 2);
        let (c8, c16) = (&loads[0], &loads[1]);
        assert_eq!((c8.label.as_str(), c8.repeats.len()), ("c8", 3));
        assert_eq!((c8.throughput, c8.p99_ms), (Some(110.0), Some(20.0)));
        assert!(c8.eligible(Some(25.0)) && !c8.eligible(Some(15.0)) && c8.varies());
        // One unstable repeat of two is left out: the user count counts from the other.
        assert_eq!(c16.throughput, Some(200.0));
        assert!(!c16.excluded() && c16.eligible(None) && c16.counts_without_excluded);
        assert_eq!((c16.exclusions.len(), c16.used.len()), (1, 1));
        assert_eq!(median(vec![3.0, 1.0]), Some(2.0));
    }

    #[test]
    fn doubtful_repeats_are_left_out_only_while_half_remain_and_nothing_else_is_wrong() {
        let unstable = |l: MeasuredLevel| MeasuredLevel {
            stability: Some(Stability { stable: false, ..Stability::default() }),
            ..l
        };
        let invalid = |l: MeasuredLevel| MeasuredLevel { valid: false, ..l };
        let mut sweep = MeasuredSweep::new("s", "on", "unary", SourceFormat::ServebenchJson, "x");
        sweep.levels = vec![
            // Two of three unstable: fewer than half remain.
            level(8, 1, 100.0, 10.0),
            unstable(level(8, 2, 110.0, 10.0)),
            unstable(level(8, 3, 120.0, 10.0)),
            // One unstable, one invalid: the server failed a repeat.
            level(16, 1, 100.0, 10.0),
            unstable(level(16, 2, 100.0, 10.0)),
            invalid(level(16, 3, 100.0, 10.0)),
            // Measured once and unstable.
            MeasuredLevel { label: "c32".into(), repeat: None, ..unstable(level(32, 1, 100.0, 10.0)) },
        ];
        let loads = loads_of(&sweep, &Metric::REQUESTS, 0.01);
        for l in &loads {
            assert!(l.excluded() && !l.eligible(None) && !l.counts_without_excluded, "{}", l.label);
        }
        assert_eq!(loads[0].throughput, Some(110.0), "figures from every valid repeat");
        assert_eq!(median(vec![3.0, 1.0]), Some(2.0));
    }
}
