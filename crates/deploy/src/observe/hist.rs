//! Histograms as Prometheus exposes them (cumulative buckets with upper bounds `le`), turned into
//! per-bucket counts that can be subtracted (a window's own histogram is the difference of two
//! scrapes), added (over replicas, routes, processes) and read as quantiles by linear
//! interpolation within a bucket, exactly as Prometheus's `histogram_quantile` does.

use serde::{Deserialize, Serialize};

/// A histogram: finite bucket upper bounds and the number of observations in each bucket
/// (not cumulative), with one more count than bounds: the last bucket is `(last bound, +Inf)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// Upper bounds of the finite buckets, ascending (the metric's unit: ms for Serve's).
    pub bounds: Vec<f64>,
    /// Observations per bucket: `counts[i]` lie in `(bounds[i-1], bounds[i]]` (from 0 for the
    /// first), `counts[bounds.len()]` above the last bound.
    pub counts: Vec<u64>,
    /// The sum of the observations as exported.
    pub sum: f64,
}

impl Histogram {
    /// From Prometheus's cumulative buckets `(le, count)` in any order; `None` without a `+Inf`
    /// bucket. Counts are rounded (they are whole numbers in any exporter); a cumulative count
    /// lower than the one before (which no consistent scrape has) counts as 0 for its bucket.
    /// `_count` is not needed: it equals the `+Inf` bucket.
    pub fn from_cumulative(buckets: &[(f64, f64)], sum: f64, _count: f64) -> Option<Self> {
        let mut sorted: Vec<(f64, f64)> = buckets.iter().copied().filter(|(le, _)| !le.is_nan()).collect();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        sorted.dedup_by(|a, b| a.0 == b.0);
        if sorted.last().is_none_or(|(le, _)| *le != f64::INFINITY) {
            return None;
        }
        let mut bounds = Vec::with_capacity(sorted.len() - 1);
        let mut counts = Vec::with_capacity(sorted.len());
        let mut below = 0u64;
        for (le, cumulative) in sorted {
            let cumulative = cumulative.max(0.0).round() as u64;
            counts.push(cumulative.saturating_sub(below));
            below = below.max(cumulative);
            if le.is_finite() {
                bounds.push(le);
            }
        }
        Some(Self { bounds, counts, sum })
    }

    /// An empty histogram with these bounds.
    pub fn empty(bounds: &[f64]) -> Self {
        Self { bounds: bounds.to_vec(), counts: vec![0; bounds.len() + 1], sum: 0.0 }
    }

    /// Observations in all buckets.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// What was observed between `earlier` and `self` (two scrapes of one series). When the
    /// series restarted in between (a count went down: its process was replaced) or its
    /// bounds changed, `self` is taken whole, as Prometheus's `increase` does after a reset.
    pub fn since(&self, earlier: &Histogram) -> Histogram {
        if earlier.bounds != self.bounds || self.counts.iter().zip(&earlier.counts).any(|(l, e)| l < e) {
            return self.clone();
        }
        Histogram {
            bounds: self.bounds.clone(),
            counts: self.counts.iter().zip(&earlier.counts).map(|(l, e)| l - e).collect(),
            sum: self.sum - earlier.sum,
        }
    }

    /// Adds `other`'s observations; `false` (and nothing added) when the bounds differ.
    pub fn add(&mut self, other: &Histogram) -> bool {
        if other.bounds != self.bounds {
            return false;
        }
        for (c, o) in self.counts.iter_mut().zip(&other.counts) {
            *c += o;
        }
        self.sum += other.sum;
        true
    }

    /// The `q`-quantile (`0 < q <= 1`) as Prometheus's `histogram_quantile` computes it: the
    /// bucket that holds the rank `q * count`, and linear interpolation between its lower bound
    /// (0 for the first bucket) and its upper bound; the highest finite bound when the rank
    /// falls in the `+Inf` bucket. `None` without observations or for `q` outside `(0, 1]`.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 || !(q > 0.0 && q <= 1.0) {
            return None;
        }
        let rank = q * total as f64;
        let mut below = 0u64;
        for (i, &upper) in self.bounds.iter().enumerate() {
            let here = self.counts[i];
            if (below + here) as f64 >= rank && here > 0 {
                let lower = if i == 0 { 0.0 } else { self.bounds[i - 1] };
                if i == 0 && upper <= 0.0 {
                    return Some(upper);
                }
                return Some(lower + (upper - lower) * (rank - below as f64) / here as f64);
            }
            below += here;
        }
        self.bounds.last().copied()
    }

    /// `sum / count`; `None` without observations.
    pub fn mean(&self) -> Option<f64> {
        let n = self.count();
        (n > 0).then(|| self.sum / n as f64)
    }
}
