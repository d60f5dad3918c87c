//! Confidence intervals by a seeded percentile bootstrap (`docs/statistics.md` says why this
//! method and what it covers).
//!
//! For one group of sweeps compared together (a comparison, or the variants of a scaling study at
//! one N), each resample
//!
//! 1. draws, for every user count, its repeats with replacement: the same repeat numbers for
//!    every variant when the group was measured paired (repeat k of the baseline ran right next
//!    to repeat k of the treatment), independently per variant otherwise (each repeat's deviation
//!    from the mean widened by `sqrt(n / (n - 1))`, see [`Spread`]);
//! 2. within each drawn repeat that has a per-second series, draws blocks of `block_s`
//!    consecutive seconds (a circular moving-block bootstrap, so autocorrelated seconds are not
//!    taken for independent ones) and scales the level's throughput by the resampled mean over
//!    the series' mean;
//! 3. recomputes each user count's mean throughput, each variant's peak (the highest mean among
//!    the user counts that count as peaks: which one wins may change from resample to
//!    resample), each gain (treatment peak / baseline peak) and the gains at the study's user
//!    count.
//!
//! The interval is the central `confidence` share of the resampled values. Whether a user count
//! may be a peak (the SLA, exclusions) is decided once, on the point estimates. The random
//! numbers come from SplitMix64 seeded by [`Bootstrap::seed`] and the group's name, so a report
//! is reproducible and one group's intervals do not depend on which other groups are in it.

use serde::{Deserialize, Serialize};

use super::crossing::{Crossing, at_sla_from};
use super::loads::Load;

/// How intervals are computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bootstrap {
    /// Resamples per group (0: no intervals).
    pub resamples: u32,
    /// The seed: the same seed and data give the same intervals.
    pub seed: u64,
    /// The coverage of the intervals (0.95: the central 95% of the resampled values).
    pub confidence: f64,
    /// Block length, in seconds, of the per-second series' block bootstrap.
    pub block_s: u32,
}

impl Default for Bootstrap {
    /// 2,000 resamples, seed 1, 95%, 3-second blocks.
    fn default() -> Self {
        Self { resamples: 2000, seed: 1, confidence: 0.95, block_s: 3 }
    }
}

/// A confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Its lower end.
    pub lo: f64,
    /// Its upper end.
    pub hi: f64,
    /// Its coverage (0.95 for a 95% interval).
    pub confidence: f64,
}

impl Interval {
    /// Whether `v` lies in it (ends included).
    pub fn contains(&self, v: f64) -> bool {
        self.lo <= v && v <= self.hi
    }

    /// `hi - lo`.
    pub fn width(&self) -> f64 {
        self.hi - self.lo
    }
}

/// SplitMix64 (Steele, Lea and Flood 2014): small, fast, and the same on every platform and
/// version, which a reproducible report needs.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`), by Lemire's multiply-shift (its bias is below 2^-32 for the
    /// small `n` used here).
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

/// FNV-1a of `text`: a group's share of the seed.
pub(crate) fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3))
}

/// The mean of a circular moving-block resample of `series` (blocks of `block` consecutive
/// values, starting anywhere, wrapping around the end; as many values as the series has).
pub(crate) fn block_resample_mean(series: &[f64], block: usize, rng: &mut Rng) -> f64 {
    let n = series.len();
    let block = block.clamp(1, n.max(1));
    let mut sum = 0.0;
    let mut taken = 0;
    while taken < n {
        let start = rng.below(n);
        for j in 0..block.min(n - taken) {
            sum += series[(start + j) % n];
        }
        taken += block.min(n - taken);
    }
    sum / n as f64
}

/// The central `confidence` share of `samples` (percentiles by linear interpolation between
/// order statistics); `None` without finite samples.
pub(crate) fn percentile_interval(samples: &mut [f64], confidence: f64) -> Option<Interval> {
    let mut finite: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return None;
    }
    finite.sort_by(f64::total_cmp);
    let q = |p: f64| {
        let h = p * (finite.len() - 1) as f64;
        let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
        finite[lo] + (finite[hi] - finite[lo]) * (h - lo as f64)
    };
    let tail = (1.0 - confidence) / 2.0;
    Some(Interval { lo: q(tail), hi: q(1.0 - tail), confidence })
}

/// What one group asks of the bootstrap.
#[derive(Debug)]
pub(crate) struct GroupInput<'g, 'a> {
    /// The group's name (with the seed, it seeds the group's random numbers).
    pub name: String,
    /// Every member's loads.
    pub members: Vec<&'g [Load<'a>]>,
    /// Per member and load: whether the load may be a peak.
    pub eligible: Vec<Vec<bool>>,
    /// Whether repeat k of a user count pairs across members.
    pub paired: bool,
    /// The baseline member, if any.
    pub baseline: Option<usize>,
    /// A user count at which the gains are also reported.
    pub at_users: Option<u64>,
    /// Per member: where its p99 crosses the SLA (for the goodput at the SLA).
    pub crossings: Vec<Option<Crossing>>,
}

/// The intervals of one group (`None` where the data carry no variation to resample).
#[derive(Debug, Clone, Default)]
pub(crate) struct GroupIntervals {
    /// Per member and load: the mean throughput's interval.
    pub loads: Vec<Vec<Option<Interval>>>,
    /// Per member: the peak's interval.
    pub peaks: Vec<Option<Interval>>,
    /// Per member: the gain over the baseline's interval (`None` for the baseline).
    pub gains: Vec<Option<Interval>>,
    /// Per member: the gain at `at_users`' interval.
    pub at_users_gains: Vec<Option<Interval>>,
    /// Per member: the goodput at the SLA's interval.
    pub at_sla: Vec<Option<Interval>>,
    /// Per member: the interval of the gain at the SLA over the baseline.
    pub at_sla_gains: Vec<Option<Interval>>,
}

/// The position of the closed-loop load at `users` in `loads`.
pub(crate) fn load_at_users(loads: &[Load<'_>], users: u64) -> Option<usize> {
    loads.iter().position(|l| l.concurrency == users && l.rate_rps.is_none())
}

/// How a load's repeats are resampled: each repeat's throughput is taken as
/// `center + scale * (throughput - center)`, where `center` is the mean of the used repeats and
/// `scale = sqrt(n / (n - 1))` for `n` of them. The mean of `n` values drawn with replacement
/// varies by only `(n - 1) / n` of what the mean of `n` new runs would; widening each repeat's
/// deviation by `scale` gives that share back (Davison and Hinkley 1997, the adjusted residuals
/// of section 3.3), which matters with 2 to 5 repeats.
#[derive(Debug, Clone, Copy)]
struct Spread {
    center: f64,
    scale: f64,
}

impl Spread {
    fn of(load: &Load<'_>) -> Self {
        let n = load.used.len();
        let center = load.throughput.unwrap_or(0.0);
        let scale = if n >= 2 { (n as f64 / (n - 1) as f64).sqrt() } else { 1.0 };
        Self { center, scale }
    }
}

/// One resampled value of a repeat: its throughput (its deviation widened by `spread`), scaled
/// by a block resample of its series.
fn repeat_value(load: &Load<'_>, spread: Spread, i: usize, block: usize, rng: &mut Rng) -> Option<f64> {
    let r = &load.repeats[i];
    let t = (spread.center + spread.scale * (r.throughput? - spread.center)).max(0.0);
    match &r.series {
        Some(series) => {
            let base = series.iter().sum::<f64>() / series.len() as f64;
            if base > 0.0 { Some(t * block_resample_mean(series, block, rng) / base) } else { Some(t) }
        }
        None => Some(t),
    }
}

/// Computes the intervals of one group.
pub(crate) fn intervals(input: &GroupInput<'_, '_>, cfg: &Bootstrap) -> GroupIntervals {
    let members = &input.members;
    let n_members = members.len();
    let mut out = GroupIntervals {
        loads: members.iter().map(|m| vec![None; m.len()]).collect(),
        peaks: vec![None; n_members],
        gains: vec![None; n_members],
        at_users_gains: vec![None; n_members],
        at_sla: vec![None; n_members],
        at_sla_gains: vec![None; n_members],
    };
    let b_count = cfg.resamples as usize;
    let any_variation = members.iter().any(|m| m.iter().any(Load::varies));
    if b_count == 0 || !any_variation {
        return out;
    }
    let block = cfg.block_s.max(1) as usize;
    let mut rng = Rng::new(cfg.seed ^ fnv1a(&input.name));

    // The user counts across members (for paired draws), and where each member has them.
    let mut keys: Vec<(u64, Option<u64>)> = Vec::new();
    for m in members {
        for l in m.iter() {
            let key = (l.concurrency, l.rate_rps.map(f64::to_bits));
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    let position = |m: usize, key: (u64, Option<u64>)| {
        members[m].iter().position(|l| (l.concurrency, l.rate_rps.map(f64::to_bits)) == key)
    };
    let at_users: Vec<Option<usize>> =
        (0..n_members).map(|m| input.at_users.and_then(|u| load_at_users(members[m], u))).collect();

    let spreads: Vec<Vec<Spread>> = members.iter().map(|m| m.iter().map(Spread::of).collect()).collect();
    let mut load_samples: Vec<Vec<Vec<f64>>> =
        members.iter().map(|m| vec![Vec::with_capacity(b_count); m.len()]).collect();
    let mut peak_samples: Vec<Vec<f64>> = vec![Vec::with_capacity(b_count); n_members];
    let mut at_sla_samples: Vec<Vec<f64>> = vec![Vec::with_capacity(b_count); n_members];
    let mut chosen: Vec<usize> = Vec::new();
    let mut values: Vec<Vec<Option<f64>>> = members.iter().map(|m| vec![None; m.len()]).collect();
    for _ in 0..b_count {
        for &key in &keys {
            let holders: Vec<(usize, usize)> =
                (0..n_members).filter_map(|m| position(m, key).map(|i| (m, i))).collect();
            // Paired: one draw of repeat numbers for every member that has this user count.
            let shared: Option<Vec<u32>> = (input.paired && holders.len() > 1).then(|| {
                let mut ks: Vec<u32> = holders
                    .iter()
                    .flat_map(|&(m, i)| {
                        let l = &members[m][i];
                        l.used.iter().map(|&u| l.repeats[u].k)
                    })
                    .collect();
                ks.sort_unstable();
                ks.dedup();
                (0..ks.len()).map(|_| ks[rng.below(ks.len())]).collect()
            });
            for &(m, i) in &holders {
                let load = &members[m][i];
                chosen.clear();
                if let Some(ks) = &shared {
                    chosen.extend(
                        ks.iter()
                            .filter_map(|k| load.used.iter().copied().find(|&u| load.repeats[u].k == *k)),
                    );
                }
                if chosen.is_empty() && !load.used.is_empty() {
                    let n = load.used.len();
                    chosen.extend((0..n).map(|_| load.used[rng.below(n)]));
                }
                let sum_n = chosen
                    .iter()
                    .filter_map(|&u| repeat_value(load, spreads[m][i], u, block, &mut rng))
                    .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
                values[m][i] = (sum_n.1 > 0).then(|| sum_n.0 / sum_n.1 as f64);
            }
        }
        for m in 0..n_members {
            let mut peak: Option<f64> = None;
            for (i, v) in values[m].iter().enumerate() {
                let Some(v) = *v else { continue };
                load_samples[m][i].push(v);
                if input.eligible[m][i] && peak.is_none_or(|p| v > p) {
                    peak = Some(v);
                }
            }
            peak_samples[m].push(peak.unwrap_or(f64::NAN));
            // The goodput at the SLA: the same line through the resampled loads (its weight, from
            // the p99s, stays fixed), never below the resampled peak.
            let crossing = input.crossings.get(m).copied().flatten();
            let at_sla = at_sla_from(crossing, |i| values[m].get(i).copied().flatten(), peak);
            at_sla_samples[m].push(at_sla.unwrap_or(f64::NAN));
        }
    }

    let ratio_samples = |num: &[f64], den: &[f64]| -> Vec<f64> {
        num.iter().zip(den).map(|(a, b)| if *b > 0.0 { a / b } else { f64::NAN }).collect()
    };
    for m in 0..n_members {
        for (i, load) in members[m].iter().enumerate() {
            if load.varies() {
                out.loads[m][i] = percentile_interval(&mut load_samples[m][i], cfg.confidence);
            }
        }
        let varies = members[m].iter().zip(&input.eligible[m]).any(|(l, e)| *e && l.varies());
        if varies {
            out.peaks[m] = percentile_interval(&mut peak_samples[m], cfg.confidence);
            out.at_sla[m] = percentile_interval(&mut at_sla_samples[m], cfg.confidence);
        }
    }
    if let Some(b) = input.baseline {
        for m in (0..n_members).filter(|&m| m != b) {
            if out.peaks[m].is_some() && out.peaks[b].is_some() {
                out.gains[m] = percentile_interval(
                    &mut ratio_samples(&peak_samples[m], &peak_samples[b]),
                    cfg.confidence,
                );
                out.at_sla_gains[m] = percentile_interval(
                    &mut ratio_samples(&at_sla_samples[m], &at_sla_samples[b]),
                    cfg.confidence,
                );
            }
            if let (Some(ti), Some(bi)) = (at_users[m], at_users[b])
                && members[m][ti].varies()
                && members[b][bi].varies()
                && load_samples[m][ti].len() == load_samples[b][bi].len()
            {
                out.at_users_gains[m] = percentile_interval(
                    &mut ratio_samples(&load_samples[m][ti], &load_samples[b][bi]),
                    cfg.confidence,
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_is_splitmix64() {
        // The first outputs of SplitMix64 seeded with 1234567 (the reference implementation).
        let mut rng = Rng::new(1_234_567);
        assert_eq!(rng.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(rng.next_u64(), 3_203_168_211_198_807_973);
        let mut rng = Rng::new(7);
        assert!((0..1000).all(|_| rng.below(3) < 3));
    }

    #[test]
    fn percentiles_interpolate_between_order_statistics() {
        let mut v: Vec<f64> = (0..=100).map(f64::from).collect();
        let i = percentile_interval(&mut v, 0.95).expect("interval");
        assert!((i.lo - 2.5).abs() < 1e-9 && (i.hi - 97.5).abs() < 1e-9, "{i:?}");
        assert_eq!(percentile_interval(&mut [f64::NAN], 0.95), None);
    }

    #[test]
    fn block_resamples_keep_the_mean_on_average() {
        let series: Vec<f64> = (0..20).map(|i| f64::from(i % 5) * 10.0).collect();
        let mut rng = Rng::new(3);
        let n = 20_000;
        let avg = (0..n).map(|_| block_resample_mean(&series, 3, &mut rng)).sum::<f64>() / f64::from(n);
        assert!((avg - 20.0).abs() < 0.2, "{avg}");
        // A constant series resamples to itself.
        assert_eq!(block_resample_mean(&[5.0; 7], 3, &mut rng), 5.0);
    }
}
