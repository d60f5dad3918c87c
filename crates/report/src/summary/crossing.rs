//! Goodput at the SLA, interpolated: the throughput at which a variant's p99 reaches the SLA,
//! read off the line between the last user count within it and the first past it.
//!
//! The peak goodput (the best measured level within the SLA) moves in steps: when a level's p99
//! sits a few milliseconds either side of the SLA, the peak jumps a whole level between two runs
//! (on the 2-core machine the baseline's c=8 gave p99 184-275 ms against 200 ms, and its peak
//! moved between c=4 and c=8 by 20-30%). Interpolating between the two levels that bracket the
//! SLA turns that step into a slope. The line between a point within the SLA and one past it lies
//! above a convex latency curve, so it reaches the SLA at or before the curve does: the figure
//! errs low, never above what was measured past the SLA. It is never below the peak.

use super::loads::Load;

/// Where a member's p99 crosses the SLA.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Crossing {
    /// The last load within the SLA (index into the member's loads).
    pub below: usize,
    /// The first load past it.
    pub above: usize,
    /// How far between them the SLA is reached, by p99: 0 at `below`, 1 at `above`.
    pub weight: f64,
}

impl Crossing {
    /// The interpolated throughput from the two loads' throughputs.
    pub fn throughput(&self, below: f64, above: f64) -> f64 {
        below + self.weight * (above - below)
    }
}

/// The crossing of `loads` (one member's, in the sweep's order) with `sla_ms`: the first
/// closed-loop load whose p99 is past the SLA, right after a load that may be a peak. `None` when
/// there is none: every level is within the SLA (the sweep never reached it), none is, or the
/// load past it or the one before is not to be trusted (excluded: invalid, over the error limit,
/// in doubt), in which case only the measured peak stands. The load past the SLA may be one that
/// only a scouting pass measured (it was past the SLA by more than the scout's margin, so it
/// could not be the peak): its short window still places the line's far end.
pub(crate) fn crossing(loads: &[Load<'_>], sla_ms: f64) -> Option<Crossing> {
    let closed: Vec<usize> = (0..loads.len()).filter(|&i| loads[i].rate_rps.is_none()).collect();
    let first_past = closed.iter().position(|&i| loads[i].p99_ms.is_some_and(|p| p > sla_ms))?;
    let (below, above) = (*closed.get(first_past.checked_sub(1)?)?, closed[first_past]);
    let (lo, hi) = (&loads[below], &loads[above]);
    if !lo.eligible(Some(sla_ms)) || (hi.excluded() && !hi.scouted_only()) || hi.throughput.is_none() {
        return None;
    }
    let (p_lo, p_hi) = (lo.p99_ms?, hi.p99_ms?);
    let weight = ((sla_ms - p_lo) / (p_hi - p_lo)).clamp(0.0, 1.0);
    weight.is_finite().then_some(Crossing { below, above, weight })
}

/// Goodput at the SLA: the interpolated throughput where there is a crossing, never below the
/// measured peak `peak`.
pub(crate) fn at_sla(loads: &[Load<'_>], crossing: Option<Crossing>, peak: Option<f64>) -> Option<f64> {
    at_sla_from(crossing, |i| loads[i].throughput, peak)
}

/// [`at_sla`] from the loads' throughputs as `throughput(index)` gives them (the bootstrap passes
/// its resampled ones).
pub(crate) fn at_sla_from(
    crossing: Option<Crossing>,
    throughput: impl Fn(usize) -> Option<f64>,
    peak: Option<f64>,
) -> Option<f64> {
    let interpolated = crossing.and_then(|c| Some(c.throughput(throughput(c.below)?, throughput(c.above)?)));
    match (interpolated, peak) {
        (Some(i), Some(p)) => Some(i.max(p)),
        (i, p) => i.or(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MeasuredLevel, MeasuredSweep, Metric, Percentiles, SourceFormat};
    use crate::summary::loads::loads_of;

    fn sweep(points: &[(u64, f64, f64)]) -> MeasuredSweep {
        let mut s = MeasuredSweep::new("s", "baseline", "unary", SourceFormat::ServebenchJson, "x");
        s.levels = points
            .iter()
            .map(|&(users, rps, p99)| MeasuredLevel {
                latency_ms: Percentiles { p99: Some(p99), ..Percentiles::default() },
                ..MeasuredLevel::closed(users, rps)
            })
            .collect();
        s
    }

    #[test]
    fn the_sla_is_reached_between_the_last_level_within_it_and_the_first_past_it() {
        // The baseline of a 2-core run: c=4 within 200 ms, c=8 past it.
        let s = sweep(&[(1, 50.5, 39.2), (4, 56.2, 131.6), (8, 66.5, 235.4), (16, 87.5, 336.4)]);
        let loads = loads_of(&s, &Metric::REQUESTS, 0.01);
        let c = crossing(&loads, 200.0).expect("a crossing");
        assert_eq!((c.below, c.above), (1, 2));
        let v = at_sla(&loads, Some(c), Some(56.2)).expect("a value");
        assert!((v - (56.2 + (200.0 - 131.6) / (235.4 - 131.6) * (66.5 - 56.2))).abs() < 1e-9, "{v}");
        // p99 at c=8 a little under the SLA: the peak is c=8 and the crossing lies past it, so
        // the two readings of one machine differ by a slope, not by a whole level.
        let s2 = sweep(&[(1, 50.5, 39.2), (4, 56.2, 131.6), (8, 66.5, 195.0), (16, 87.5, 336.4)]);
        let loads2 = loads_of(&s2, &Metric::REQUESTS, 0.01);
        let v2 = at_sla(&loads2, crossing(&loads2, 200.0), Some(66.5)).expect("a value");
        assert!(v2 > 66.5 && v2 < 67.5, "{v2}");
        assert!((v2 - v).abs() / v < 0.08, "{v} vs {v2}");
    }

    #[test]
    fn without_a_trustworthy_crossing_the_measured_peak_stands() {
        // Never past the SLA: the sweep did not reach it.
        let all_within = sweep(&[(1, 10.0, 5.0), (4, 30.0, 10.0)]);
        let loads = loads_of(&all_within, &Metric::REQUESTS, 0.01);
        assert_eq!(crossing(&loads, 200.0), None);
        assert_eq!(at_sla(&loads, None, Some(30.0)), Some(30.0));
        // Past it from the first level: nothing within it to start from.
        let none_within = sweep(&[(1, 10.0, 500.0), (4, 30.0, 900.0)]);
        assert_eq!(crossing(&loads_of(&none_within, &Metric::REQUESTS, 0.01), 200.0), None);
        // The level past the SLA failed (invalid): no line through it.
        let mut bad = sweep(&[(1, 10.0, 50.0), (4, 30.0, 900.0)]);
        bad.levels[1].valid = false;
        assert_eq!(crossing(&loads_of(&bad, &Metric::REQUESTS, 0.01), 200.0), None);
        // The level past the SLA only scouted: its short window still places the line's far
        // end; the level within the SLA only scouted: no line from it.
        let mut scouted = sweep(&[(1, 10.0, 50.0), (4, 30.0, 400.0)]);
        scouted.levels[1].scout = true;
        assert_eq!(crossing(&loads_of(&scouted, &Metric::REQUESTS, 0.01), 200.0).map(|c| c.above), Some(1));
        scouted.levels[0].scout = true;
        assert_eq!(crossing(&loads_of(&scouted, &Metric::REQUESTS, 0.01), 200.0), None);
        // Throughput falling past the SLA: the interpolation is below the peak, the peak stands.
        let falling = sweep(&[(1, 40.0, 50.0), (4, 30.0, 900.0)]);
        let loads = loads_of(&falling, &Metric::REQUESTS, 0.01);
        assert_eq!(at_sla(&loads, crossing(&loads, 200.0), Some(40.0)), Some(40.0));
    }
}
