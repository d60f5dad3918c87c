//! The numbers a reader wants, computed with polars.
//!
//! - Per comparison (a baseline and its treatments on one workload): each variant's peak goodput
//!   at the SLA (the highest throughput among levels whose p99 meets it, ignoring client-bound
//!   levels and levels with too many errors), the concurrency and p99 there; the gain of each
//!   treatment over the baseline; the p99 of each variant at the baseline's peak concurrency; and,
//!   when the study names a user count, the gain and p99 fraction at that count.
//! - Per scaling study: for each variant and replica count N the peak throughput (request and
//!   output tokens/s), the scaling efficiency (throughput at N / (N x throughput at N = 1)), the
//!   gain of the compared pair at each N, and the ideal line (the bare engine's best x N).
//!
//! A level measured R times (`c8-r1` .. `c8-rR`) is one user count: its throughput is the mean
//! of its repeats, its p99 their median, and it counts as a peak only when every repeat does
//! ([`loads`]). Every peak is computed in one polars pass over all user counts; comparisons and
//! the N of scaling studies are its groups. Each peak, gain and user count then gets a
//! confidence interval from a seeded bootstrap over the repeats and the per-second series
//! ([`bootstrap`], `docs/statistics.md`), where the data have either.

mod bootstrap;
mod criteria;
mod crossing;
mod json;
mod loads;
mod markdown;
mod server;

use std::collections::BTreeMap;

use polars::prelude::*;
use serde::{Deserialize, Serialize};

pub use bootstrap::{Bootstrap, Interval};
pub use criteria::{Criteria, SlaAssignment, Slas};
pub use json::SUMMARY_SCHEMA;
pub(crate) use markdown::{fmt_ci, fmt_confidence, fmt_ms, fmt_ratio, fmt_ratio_ci, fmt_throughput};
pub use server::{DeploymentTime, OTHER_ROLE, ServerAtLoad, ServerComparison};

use crate::error::Result;
use crate::load::Loaded;
use crate::model::{Exclusion, MeasuredSweep, Metric, Percentiles, baseline_rank, is_baseline_variant};
use bootstrap::{GroupInput, GroupIntervals, load_at_users};
use loads::{Load, loads_of};

/// Where a variant peaked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeakPoint {
    /// The peak goodput (in the comparison's throughput unit): the mean over the repeats of the
    /// user count where it was reached.
    pub throughput: f64,
    /// Its confidence interval, when the data carry variation (repeats or per-second series).
    pub throughput_ci: Option<Interval>,
    /// The concurrency it was reached at.
    pub concurrency: u64,
    /// The label of that user count (`c64`; without a repeat suffix).
    pub label: String,
    /// The p99 latency there (the metric's: end-to-end or TTFT; the median over the repeats),
    /// in milliseconds.
    pub p99_ms: f64,
    /// How many repeats the user count has.
    pub repeats: usize,
}

/// One user count (or arrival rate) of one variant, its repeats combined.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadSummary {
    /// The label without a repeat suffix (`c8`, `r2000`).
    pub label: String,
    /// Users (closed loop) or the connection limit (open loop).
    pub concurrency: u64,
    /// Open loop: the arrival rate.
    pub rate_rps: Option<f64>,
    /// How many times it was measured.
    pub repeats: usize,
    /// The mean throughput over the repeats (invalid repeats left out while a valid one exists).
    pub throughput: Option<f64>,
    /// The interval of that mean, when the data carry variation.
    pub throughput_ci: Option<Interval>,
    /// The median over the repeats of the metric's p99 (ms).
    pub p99_ms: Option<f64>,
    /// The median over the repeats of each end-to-end latency statistic (ms).
    pub latency_ms: Percentiles,
    /// Whether every repeat is valid.
    pub valid: bool,
    /// Whether every repeat was stable (a repeat that does not say counts as stable).
    pub stable: bool,
    /// Whether some repeat was client-bound.
    pub client_bound: bool,
    /// Whether it may be a peak: no excluded repeat, and its p99 meets the SLA.
    pub counts: bool,
    /// Whether it is the variant's peak.
    pub peak: bool,
}

/// Goodput at the SLA, interpolated: the throughput at which the p99 reaches the SLA, on the line
/// between the last user count within it and the first past it (never below the peak; the peak
/// itself where the sweep has no such pair). It moves smoothly where the peak jumps a level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AtSla {
    /// The throughput (in the comparison's unit).
    pub throughput: f64,
    /// Its interval, when the data carry variation.
    pub throughput_ci: Option<Interval>,
    /// The user counts it lies between; `None`: no crossing was measured (every level within
    /// the SLA, none, or the levels around it excluded), so it is the peak.
    pub between: Option<(u64, u64)>,
}

/// The peak of one variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantPeak {
    /// The variant.
    pub variant: String,
    /// The sweep it was measured in (index into [`crate::Loaded::sweeps`]).
    pub sweep: usize,
    /// Whether it is the comparison's baseline.
    pub is_baseline: bool,
    /// How many levels it has (every repeat counted).
    pub levels: usize,
    /// Its peak, `None` when no valid level met the SLA.
    pub peak: Option<PeakPoint>,
    /// Its goodput at the SLA, interpolated; `None` without an SLA or a peak.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_sla: Option<AtSla>,
    /// Every user count, its repeats combined, in the sweep's order.
    pub loads: Vec<LoadSummary>,
    /// Why the sweep stopped climbing early, when the run says.
    pub stopped: Option<String>,
    /// Whether each repeat was measured on fresh deployments (so its intervals also cover what
    /// differs between deployments).
    #[serde(default)]
    pub redeployed: bool,
}

/// Both variants of a gain at one user count (a study's `at_users`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AtUsers {
    /// The user count.
    pub users: u64,
    /// The baseline's throughput there (mean over its repeats).
    pub baseline_throughput: Option<f64>,
    /// Its interval.
    pub baseline_throughput_ci: Option<Interval>,
    /// The treatment's throughput there (mean over its repeats).
    pub treatment_throughput: Option<f64>,
    /// Its interval.
    pub treatment_throughput_ci: Option<Interval>,
    /// Treatment / baseline throughput.
    pub throughput_gain: Option<f64>,
    /// Its interval.
    pub throughput_gain_ci: Option<Interval>,
    /// The baseline's p99 there (ms).
    pub baseline_p99_ms: Option<f64>,
    /// The treatment's p99 there (ms).
    pub treatment_p99_ms: Option<f64>,
    /// Treatment p99 / baseline p99 (lower is better).
    pub p99_ratio: Option<f64>,
}

/// One treatment against the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gain {
    /// The baseline variant.
    pub baseline: String,
    /// The treatment variant.
    pub treatment: String,
    /// Treatment peak / baseline peak (`None` when either has no peak).
    pub throughput_gain: Option<f64>,
    /// Its confidence interval, when both peaks have one.
    pub throughput_gain_ci: Option<Interval>,
    /// The baseline's peak concurrency, where the p99s below are compared.
    pub at_concurrency: Option<u64>,
    /// The baseline's p99 there (ms).
    pub baseline_p99_ms: Option<f64>,
    /// The treatment's p99 there (ms).
    pub treatment_p99_ms: Option<f64>,
    /// Treatment p99 / baseline p99 at that concurrency (lower is better).
    pub p99_ratio: Option<f64>,
    /// Both at the study's user count, when it names one.
    pub at_users: Option<AtUsers>,
    /// Treatment / baseline goodput at the SLA, interpolated ([`AtSla`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_sla_gain: Option<f64>,
    /// Its interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_sla_gain_ci: Option<Interval>,
    /// Which of the two gains the summary shows as this gain's headline: at the SLA where the
    /// report leads with it ([`Criteria::headline`]) and there is one, else the peak gain
    /// (always for scaling studies, which compare peaks). Summaries written before it led with
    /// the peak gain, so that is what a file without the field reads as.
    #[serde(default = "GainBasis::peak")]
    pub headline: GainBasis,
}

/// Which gain a summary leads with: the bold figure of the gains table, the plots' arrows and the
/// cross-suite chart's bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GainBasis {
    /// The goodput at the SLA, interpolated ([`AtSla`]): it moves smoothly where the peak jumps a
    /// whole level, so it is the figure that reproduces between runs (docs/statistics.md). The
    /// peak gain where there is none (no SLA).
    #[default]
    AtSla,
    /// The peak goodput: the best measured level within the SLA (the original suite's figure).
    Peak,
}

impl GainBasis {
    /// [`GainBasis::Peak`] (what summaries without the field led with).
    pub fn peak() -> Self {
        Self::Peak
    }

    /// How the summary names it.
    pub fn name(self) -> &'static str {
        match self {
            Self::AtSla => "gain at the SLA",
            Self::Peak => "peak gain",
        }
    }
}

/// The gain a summary leads with, and which one it is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeadlineGain {
    /// Treatment / baseline.
    pub gain: f64,
    /// Its interval.
    pub ci: Option<Interval>,
    /// At the SLA (interpolated) or between the peaks.
    pub basis: GainBasis,
}

impl Gain {
    /// The gain this summary shows as the headline: the one [`Gain::headline`] names where it
    /// exists, else the peak gain. `None` when neither exists.
    pub fn headline_gain(&self) -> Option<HeadlineGain> {
        match (self.headline, self.at_sla_gain) {
            (GainBasis::AtSla, Some(gain)) => {
                Some(HeadlineGain { gain, ci: self.at_sla_gain_ci, basis: GainBasis::AtSla })
            }
            _ => self.throughput_gain.map(|gain| HeadlineGain {
                gain,
                ci: self.throughput_gain_ci,
                basis: GainBasis::Peak,
            }),
        }
    }
}

/// A level that did not count as a peak (with it, its whole user count does not, unless
/// `left_out`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExcludedLevel {
    /// Its variant.
    pub variant: String,
    /// Its label (`c64`, `c64-r2`).
    pub label: String,
    /// Its concurrency.
    pub concurrency: u64,
    /// Which repeat it was, when the level is one of several.
    pub repeat: Option<u32>,
    /// Why it was excluded.
    pub reason: Exclusion,
    /// Only this repeat was left out: its user count still counts, from its other repeats.
    #[serde(default)]
    pub left_out: bool,
}

/// The summary of one comparison on one workload in one suite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparisonSummary {
    /// The suite.
    pub suite: String,
    /// The comparison.
    pub comparison: String,
    /// What it compares, when the run says.
    pub description: Option<String>,
    /// The workload.
    pub workload: String,
    /// Which throughput and latency were compared.
    pub metric: Metric,
    /// The SLA applied (ms), if any.
    pub sla_ms: Option<f64>,
    /// The user count the study also compares at, if any.
    pub at_users: Option<u64>,
    /// Whether its variants were measured paired (repeats resampled jointly).
    pub paired: bool,
    /// The baseline variant, if the comparison has one.
    pub baseline: Option<String>,
    /// Every variant's peak, baseline first.
    pub variants: Vec<VariantPeak>,
    /// Every treatment against the baseline.
    pub gains: Vec<Gain>,
    /// Levels that did not count as peaks.
    pub excluded: Vec<ExcludedLevel>,
    /// Where the time and CPU go at the baseline's peak load, from the levels' server views;
    /// `None` when no level has a `server` field (older results, imported ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerComparison>,
}

impl ComparisonSummary {
    /// The peak of `variant`, if it has one.
    pub fn peak_of(&self, variant: &str) -> Option<&PeakPoint> {
        self.variants.iter().find(|v| v.variant == variant).and_then(|v| v.peak.as_ref())
    }
}

/// One variant at one replica count of a scaling study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScalingPoint {
    /// The variant.
    pub variant: String,
    /// N.
    pub replicas: u32,
    /// The sweep (index into [`crate::Loaded::sweeps`]).
    pub sweep: usize,
    /// The peak (in the study's throughput unit), `None` when no valid level met the SLA.
    pub peak: Option<PeakPoint>,
    /// Requests per second at the peak level.
    pub request_throughput: Option<f64>,
    /// Output tokens per second at the peak level (LLM).
    pub output_throughput: Option<f64>,
    /// Throughput at N / (N x throughput at N = 1 of the same variant).
    pub efficiency: Option<f64>,
    /// Every user count of the sweep, its repeats combined.
    pub loads: Vec<LoadSummary>,
}

/// The compared pair of a scaling study at one N (or any other variant against the baseline).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScalingGain {
    /// N.
    pub replicas: u32,
    /// The gain between the variants at that N.
    pub gain: Gain,
}

/// The bare engine's best level: the ideal line of a scaling study is its throughput x N.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdealLine {
    /// The engine (variant of the external sweep).
    pub variant: String,
    /// The sweep (index into [`crate::Loaded::sweeps`]).
    pub sweep: usize,
    /// Its best level.
    pub best: PeakPoint,
}

/// The summary of one scaling study on one workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScalingSummary {
    /// The suite.
    pub suite: String,
    /// The study.
    pub name: String,
    /// What it measures, when the run says.
    pub description: Option<String>,
    /// The workload.
    pub workload: String,
    /// Which throughput and latency were used.
    pub metric: Metric,
    /// The SLA applied (ms), if any.
    pub sla_ms: Option<f64>,
    /// The variants, in the study's order.
    pub variants: Vec<String>,
    /// The compared pair (baseline, treatment), when there are two variants or more.
    pub pair: Option<(String, String)>,
    /// Every variant at every N, by variant (study order) then N.
    pub points: Vec<ScalingPoint>,
    /// Every other variant against the pair's baseline at each N, by N.
    pub gains: Vec<ScalingGain>,
    /// The ideal line, when the study has a bare engine baseline with a peak.
    pub ideal: Option<IdealLine>,
    /// Levels that did not count as peaks.
    pub excluded: Vec<ExcludedLevel>,
}

impl ScalingSummary {
    /// The pair's gain at the largest N that has one (what the peak-gains chart shows).
    pub fn headline(&self) -> Option<&ScalingGain> {
        let (_, treatment) = self.pair.as_ref()?;
        self.gains.iter().rev().find(|g| &g.gain.treatment == treatment && g.gain.throughput_gain.is_some())
    }

    /// The point of `variant` at N = `replicas`.
    pub fn point(&self, variant: &str, replicas: u32) -> Option<&ScalingPoint> {
        self.points.iter().find(|p| p.variant == variant && p.replicas == replicas)
    }
}

/// Every comparison's peaks and gains, and every scaling study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The criteria the peaks were computed with.
    pub criteria: Criteria,
    /// How the intervals were computed.
    pub bootstrap: Bootstrap,
    /// One entry per (suite, comparison, workload), sorted by suite, comparison and workload
    /// (RecSys, LLM, unary, streaming, others).
    pub comparisons: Vec<ComparisonSummary>,
    /// One entry per (suite, scaling study, workload).
    pub scalings: Vec<ScalingSummary>,
    /// What the runs' manifests say that changes how the figures read (a simulated engine run
    /// slower than calibrated, ...), one sentence each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// What a group of the polars pass is.
#[derive(Debug, Clone, Copy)]
enum GroupKind {
    /// `Loaded::comparisons[i]`.
    Comparison(usize),
    /// `Loaded::scalings[i]` at N.
    ScalingAt(usize, u32),
    /// `Loaded::scalings[i]`'s bare engine sweeps.
    Engine(usize),
}

/// One sweep of a group.
#[derive(Debug, Clone)]
struct Member {
    sweep: usize,
    variant: String,
    is_baseline: bool,
}

/// Sweeps whose peaks are computed together; gains are taken against the baseline member.
#[derive(Debug, Clone)]
struct Group {
    kind: GroupKind,
    /// Names the group in the bootstrap's seed.
    name: String,
    metric: Metric,
    sla_ms: Option<f64>,
    members: Vec<Member>,
    /// Every member measured paired with the others (two members or more).
    paired: bool,
    at_users: Option<u64>,
}

/// One user count (its repeats combined), as a row of the polars frame.
#[derive(Debug, Clone)]
struct LevelRow {
    group: u32,
    member: u32,
    is_baseline: bool,
    concurrency: u64,
    label: String,
    throughput: Option<f64>,
    p99_ms: Option<f64>,
    excluded: bool,
    sla_ms: Option<f64>,
    repeats: u32,
}

/// The metric and SLA of `workload` in `suite`: the run's word where it has one.
fn metric_and_sla<'a>(
    loaded: &'a Loaded,
    criteria: &Criteria,
    suite: &str,
    workload: &str,
    sweeps: impl IntoIterator<Item = &'a MeasuredSweep>,
) -> (Metric, Option<f64>) {
    let info = loaded.workload_info(suite, workload);
    let metric = info.and_then(|i| i.metric).unwrap_or_else(|| Metric::for_sweeps(workload, sweeps));
    (metric, criteria.slas.resolve(workload, info.and_then(|i| i.sla_p99_ms)))
}

/// The compared pair of a scaling study's variants: `optimized` against `unoptimized` when both
/// are there, else the first two (the one named like a baseline, else the second, is the
/// baseline). Returns (baseline, treatment).
fn scaling_pair(variants: &[String]) -> Option<(String, String)> {
    let has = |v: &str| variants.iter().any(|x| x == v);
    if has("optimized") && has("unoptimized") {
        return Some(("unoptimized".into(), "optimized".into()));
    }
    let (a, b) = (variants.first()?, variants.get(1)?);
    if is_baseline_variant(a) && !is_baseline_variant(b) {
        Some((a.clone(), b.clone()))
    } else {
        Some((b.clone(), a.clone()))
    }
}

fn paired(loaded: &Loaded, members: &[Member]) -> bool {
    members.len() > 1 && members.iter().all(|m| loaded.sweeps[m.sweep].paired)
}

fn groups_of(loaded: &Loaded, criteria: &Criteria) -> Vec<Group> {
    let mut groups = Vec::new();
    for (i, c) in loaded.comparisons.iter().enumerate() {
        let (metric, sla_ms) =
            metric_and_sla(loaded, criteria, &c.suite, &c.workload, c.sweeps().map(|s| &loaded.sweeps[s]));
        let members: Vec<Member> = c
            .sweeps()
            .map(|s| Member {
                sweep: s,
                variant: loaded.sweeps[s].variant.clone(),
                is_baseline: Some(s) == c.baseline,
            })
            .collect();
        groups.push(Group {
            kind: GroupKind::Comparison(i),
            name: format!("comparison/{}/{}/{}", c.suite, c.name, c.workload),
            metric,
            sla_ms,
            paired: paired(loaded, &members),
            members,
            at_users: c.at_users,
        });
    }
    for (i, s) in loaded.scalings.iter().enumerate() {
        let all = s.sweeps.iter().chain(&s.baseline).map(|&x| &loaded.sweeps[x]);
        let (metric, sla_ms) = metric_and_sla(loaded, criteria, &s.suite, &s.workload, all);
        let pair = scaling_pair(&s.variants);
        let mut by_n: BTreeMap<u32, Vec<Member>> = BTreeMap::new();
        for &x in &s.sweeps {
            let sweep = &loaded.sweeps[x];
            let Some(n) = sweep.replicas else { continue };
            let is_baseline = pair.as_ref().is_some_and(|(b, _)| b == &sweep.variant);
            by_n.entry(n).or_default().push(Member { sweep: x, variant: sweep.variant.clone(), is_baseline });
        }
        for (n, mut members) in by_n {
            members.sort_by_key(|m| (!m.is_baseline, s.variants.iter().position(|v| v == &m.variant)));
            groups.push(Group {
                kind: GroupKind::ScalingAt(i, n),
                name: format!("scaling/{}/{}/{}/{n}", s.suite, s.name, s.workload),
                metric,
                sla_ms,
                paired: paired(loaded, &members),
                members,
                at_users: None,
            });
        }
        for &x in &s.baseline {
            let members =
                vec![Member { sweep: x, variant: loaded.sweeps[x].variant.clone(), is_baseline: false }];
            groups.push(Group {
                kind: GroupKind::Engine(i),
                name: format!("engine/{}/{}/{}/{}", s.suite, s.name, s.workload, loaded.sweeps[x].variant),
                metric,
                sla_ms,
                paired: false,
                members,
                at_users: None,
            });
        }
    }
    groups
}

fn f64s(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<f64>>> {
    Ok(df.column(name)?.f64()?.iter().collect())
}

fn u64s(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<u64>>> {
    Ok(df.column(name)?.u64()?.iter().collect())
}

fn u32s(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<u32>>> {
    Ok(df.column(name)?.u32()?.iter().collect())
}

fn strs(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<String>>> {
    Ok(df.column(name)?.str()?.iter().map(|s| s.map(str::to_string)).collect())
}

/// The frame of every level of every group.
fn level_frame(rows: &[LevelRow]) -> PolarsResult<DataFrame> {
    df! {
        "group" => rows.iter().map(|r| r.group).collect::<Vec<_>>(),
        "member" => rows.iter().map(|r| r.member).collect::<Vec<_>>(),
        "is_baseline" => rows.iter().map(|r| r.is_baseline).collect::<Vec<_>>(),
        "concurrency" => rows.iter().map(|r| r.concurrency).collect::<Vec<_>>(),
        "label" => rows.iter().map(|r| r.label.clone()).collect::<Vec<_>>(),
        "throughput" => rows.iter().map(|r| r.throughput).collect::<Vec<_>>(),
        "p99_ms" => rows.iter().map(|r| r.p99_ms).collect::<Vec<_>>(),
        "excluded" => rows.iter().map(|r| r.excluded).collect::<Vec<_>>(),
        "sla_ms" => rows.iter().map(|r| r.sla_ms).collect::<Vec<_>>(),
        "repeats" => rows.iter().map(|r| r.repeats).collect::<Vec<_>>(),
    }
}

/// A member's peak, from the polars pass.
#[derive(Debug, Clone, Default)]
struct MemberPeak {
    levels: usize,
    peak: Option<PeakPoint>,
}

/// Per (group, member): the peak; per (group, treatment member): the gain over the baseline.
type Peaks = (BTreeMap<(u32, u32), MemberPeak>, BTreeMap<(u32, u32), Gain>);

/// The polars pass: peaks per (group, member) and gains per (group, treatment member).
fn compute(groups: &[Group], rows: Vec<LevelRow>) -> PolarsResult<Peaks> {
    let levels = level_frame(&rows)?.lazy();
    // Peak goodput per (group, member): the highest throughput among valid user counts meeting
    // the SLA (`Load::eligible` is the same rule); ties go to the lower concurrency.
    let by_peak = |e: Expr| {
        e.sort_by(
            [col("throughput"), col("concurrency")],
            SortMultipleOptions::default()
                .with_order_descending_multi([true, false])
                .with_nulls_last(true)
                .with_maintain_order(true),
        )
        .first()
    };
    let eligible = col("excluded")
        .not()
        .and(col("throughput").is_not_null())
        .and(col("p99_ms").is_not_null())
        .and(col("sla_ms").is_null().or(col("p99_ms").lt_eq(col("sla_ms"))));
    let peaks = levels.clone().filter(eligible).group_by([col("group"), col("member")]).agg([
        col("throughput").max().alias("peak"),
        by_peak(col("concurrency")).alias("peak_concurrency"),
        by_peak(col("label")).alias("peak_label"),
        by_peak(col("p99_ms")).alias("peak_p99_ms"),
    ]);
    let members = levels.clone().group_by([col("group"), col("member")]).agg([
        col("is_baseline").first().alias("is_baseline"),
        col("repeats").sum().cast(DataType::UInt64).alias("levels"),
    ]);
    let member_peaks = members
        .join(
            peaks,
            [col("group"), col("member")],
            [col("group"), col("member")],
            JoinArgs::new(JoinType::Left),
        )
        .sort(["group", "member"], SortMultipleOptions::default());

    // Gains: every treatment against its group's baseline, and both p99s at the baseline's peak
    // concurrency.
    let base = member_peaks.clone().filter(col("is_baseline")).select([
        col("group"),
        col("member").alias("baseline"),
        col("peak").alias("base_peak"),
        col("peak_concurrency").alias("at_concurrency"),
    ]);
    let p99_at = |alias: &str| {
        levels
            .clone()
            .group_by([col("group"), col("member"), col("concurrency")])
            .agg([col("p99_ms").first().alias(alias)])
    };
    let gains = member_peaks
        .clone()
        .filter(col("is_baseline").not())
        .select([col("group"), col("member").alias("treatment"), col("peak").alias("treat_peak")])
        .join(base, [col("group")], [col("group")], JoinArgs::new(JoinType::Inner))
        .join(
            p99_at("baseline_p99_ms"),
            [col("group"), col("baseline"), col("at_concurrency")],
            [col("group"), col("member"), col("concurrency")],
            JoinArgs::new(JoinType::Left),
        )
        .join(
            p99_at("treatment_p99_ms"),
            [col("group"), col("treatment"), col("at_concurrency")],
            [col("group"), col("member"), col("concurrency")],
            JoinArgs::new(JoinType::Left),
        )
        .with_columns([
            (col("treat_peak") / col("base_peak")).alias("throughput_gain"),
            (col("treatment_p99_ms") / col("baseline_p99_ms")).alias("p99_ratio"),
        ])
        .sort(["group", "treatment"], SortMultipleOptions::default());

    let member_peaks = member_peaks.collect()?;
    let gains = gains.collect()?;

    let mut peaks_out = BTreeMap::new();
    let group = u32s(&member_peaks, "group")?;
    let member = u32s(&member_peaks, "member")?;
    let n_levels = u64s(&member_peaks, "levels")?;
    let peak = f64s(&member_peaks, "peak")?;
    let peak_c = u64s(&member_peaks, "peak_concurrency")?;
    let peak_label = strs(&member_peaks, "peak_label")?;
    let peak_p99 = f64s(&member_peaks, "peak_p99_ms")?;
    for i in 0..member_peaks.height() {
        let (Some(g), Some(m)) = (group[i], member[i]) else { continue };
        let point = match (peak[i], peak_c[i], peak_p99[i]) {
            (Some(throughput), Some(concurrency), Some(p99_ms)) => Some(PeakPoint {
                throughput,
                throughput_ci: None,
                concurrency,
                label: peak_label[i].clone().unwrap_or_default(),
                p99_ms,
                repeats: 0,
            }),
            _ => None,
        };
        peaks_out.insert((g, m), MemberPeak { levels: n_levels[i].unwrap_or(0) as usize, peak: point });
    }

    let mut gains_out = BTreeMap::new();
    let group = u32s(&gains, "group")?;
    let treatment = u32s(&gains, "treatment")?;
    let baseline = u32s(&gains, "baseline")?;
    let gain = f64s(&gains, "throughput_gain")?;
    let at_c = u64s(&gains, "at_concurrency")?;
    let base_p99 = f64s(&gains, "baseline_p99_ms")?;
    let treat_p99 = f64s(&gains, "treatment_p99_ms")?;
    let ratio = f64s(&gains, "p99_ratio")?;
    for i in 0..gains.height() {
        let (Some(g), Some(t), Some(b)) = (group[i], treatment[i], baseline[i]) else { continue };
        let Some(grp) = groups.get(g as usize) else { continue };
        let name = |m: u32| grp.members.get(m as usize).map(|m| m.variant.clone()).unwrap_or_default();
        gains_out.insert(
            (g, t),
            Gain {
                baseline: name(b),
                treatment: name(t),
                throughput_gain: gain[i].filter(|g| g.is_finite()),
                throughput_gain_ci: None,
                at_concurrency: at_c[i],
                baseline_p99_ms: base_p99[i],
                treatment_p99_ms: treat_p99[i],
                p99_ratio: ratio[i].filter(|r| r.is_finite()),
                at_users: None,
                at_sla_gain: None,
                at_sla_gain_ci: None,
                headline: GainBasis::Peak,
            },
        );
    }
    Ok((peaks_out, gains_out))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b).filter(|r| r.is_finite()),
        _ => None,
    }
}

/// Both variants at `users` (their user count there, repeats combined).
fn at_users(
    baseline: (&[Load<'_>], &[Option<Interval>]),
    treatment: (&[Load<'_>], &[Option<Interval>]),
    users: u64,
    gain_ci: Option<Interval>,
) -> AtUsers {
    let side = |(loads, cis): (&[Load<'_>], &[Option<Interval>])| {
        load_at_users(loads, users)
            .map(|i| (loads[i].throughput, cis.get(i).copied().flatten(), loads[i].p99_ms))
    };
    let (bt, bci, bp) = side(baseline).unwrap_or((None, None, None));
    let (tt, tci, tp) = side(treatment).unwrap_or((None, None, None));
    AtUsers {
        users,
        baseline_throughput: bt,
        baseline_throughput_ci: bci,
        treatment_throughput: tt,
        treatment_throughput_ci: tci,
        throughput_gain: ratio(tt, bt),
        throughput_gain_ci: gain_ci.filter(|_| ratio(tt, bt).is_some()),
        baseline_p99_ms: bp,
        treatment_p99_ms: tp,
        p99_ratio: ratio(tp, bp),
    }
}

/// The load summaries of one member.
fn load_summaries(
    loads: &[Load<'_>],
    cis: &[Option<Interval>],
    sla_ms: Option<f64>,
    peak: Option<&PeakPoint>,
) -> Vec<LoadSummary> {
    loads
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let levels: Vec<_> = l.repeats.iter().map(|r| r.level).collect();
            let stat = |f: fn(&Percentiles) -> Option<f64>| l.median_of(|x| f(&x.latency_ms));
            LoadSummary {
                label: l.label.clone(),
                concurrency: l.concurrency,
                rate_rps: l.rate_rps,
                repeats: l.repeats.len(),
                throughput: l.throughput,
                throughput_ci: cis.get(i).copied().flatten(),
                p99_ms: l.p99_ms,
                latency_ms: Percentiles {
                    mean: stat(|p| p.mean),
                    p50: stat(|p| p.p50),
                    p90: stat(|p| p.p90),
                    p99: stat(|p| p.p99),
                },
                valid: levels.iter().all(|x| x.valid),
                stable: levels.iter().all(|x| x.stability.as_ref().is_none_or(|s| s.stable)),
                client_bound: levels.iter().any(|x| x.client_bound),
                counts: l.eligible(sla_ms),
                peak: peak.is_some_and(|p| p.label == l.label && p.concurrency == l.concurrency),
            }
        })
        .collect()
}

/// Computes every comparison's peaks and gains and every scaling study's curve, with intervals
/// by the default [`Bootstrap`].
pub fn summarize(loaded: &Loaded, criteria: &Criteria) -> Result<Summary> {
    summarize_with(loaded, criteria, &Bootstrap::default())
}

/// Computes every comparison's peaks and gains and every scaling study's curve, with intervals
/// by `bootstrap` (`resamples: 0` for none).
pub fn summarize_with(loaded: &Loaded, criteria: &Criteria, bootstrap: &Bootstrap) -> Result<Summary> {
    let groups = groups_of(loaded, criteria);
    // Per group and member: the sweep's user counts.
    let group_loads: Vec<Vec<Vec<Load<'_>>>> = groups
        .iter()
        .map(|g| {
            g.members
                .iter()
                .map(|m| loads_of(&loaded.sweeps[m.sweep], &g.metric, criteria.max_error_rate))
                .collect()
        })
        .collect();
    let mut rows = Vec::new();
    let mut excluded: Vec<Vec<ExcludedLevel>> = Vec::new();
    for (gi, (group, members)) in groups.iter().zip(&group_loads).enumerate() {
        let mut group_excluded = Vec::new();
        for (mi, (member, loads)) in group.members.iter().zip(members).enumerate() {
            for load in loads {
                for (repeat, level, reason) in &load.exclusions {
                    group_excluded.push(ExcludedLevel {
                        variant: member.variant.clone(),
                        label: level.label.clone(),
                        concurrency: level.concurrency,
                        repeat: *repeat,
                        reason: reason.clone(),
                        left_out: load.counts_without_excluded,
                    });
                }
                rows.push(LevelRow {
                    group: gi as u32,
                    member: mi as u32,
                    is_baseline: member.is_baseline,
                    concurrency: load.concurrency,
                    label: load.label.clone(),
                    throughput: load.throughput,
                    p99_ms: load.p99_ms,
                    excluded: load.excluded(),
                    sla_ms: group.sla_ms,
                    repeats: load.repeats.len() as u32,
                });
            }
        }
        excluded.push(group_excluded);
    }
    let (peaks, gains) = compute(&groups, rows)?;
    // Per group and member: where the p99 crosses the SLA.
    let crossings: Vec<Vec<Option<crossing::Crossing>>> = groups
        .iter()
        .zip(&group_loads)
        .map(|(g, members)| members.iter().map(|m| g.sla_ms.and_then(|s| crossing::crossing(m, s))).collect())
        .collect();
    let intervals: Vec<GroupIntervals> = groups
        .iter()
        .zip(&group_loads)
        .zip(&crossings)
        .map(|((g, members), crossings)| {
            let input = GroupInput {
                crossings: crossings.clone(),
                name: g.name.clone(),
                members: members.iter().map(Vec::as_slice).collect(),
                eligible: members.iter().map(|m| m.iter().map(|l| l.eligible(g.sla_ms)).collect()).collect(),
                paired: g.paired,
                baseline: g.members.iter().position(|m| m.is_baseline),
                at_users: g.at_users,
            };
            bootstrap::intervals(&input, bootstrap)
        })
        .collect();

    let mut comparisons = Vec::new();
    let mut scalings: Vec<ScalingSummary> = loaded
        .scalings
        .iter()
        .map(|s| {
            let all = s.sweeps.iter().chain(&s.baseline).map(|&x| &loaded.sweeps[x]);
            let (metric, sla_ms) = metric_and_sla(loaded, criteria, &s.suite, &s.workload, all);
            ScalingSummary {
                suite: s.suite.clone(),
                name: s.name.clone(),
                description: s.description.clone(),
                workload: s.workload.clone(),
                metric,
                sla_ms,
                variants: s.variants.clone(),
                pair: scaling_pair(&s.variants),
                points: Vec::new(),
                gains: Vec::new(),
                ideal: None,
                excluded: Vec::new(),
            }
        })
        .collect();
    for (gi, (group, excluded)) in groups.iter().zip(excluded).enumerate() {
        let g = gi as u32;
        let members = &group_loads[gi];
        let ci = &intervals[gi];
        // The peak of member `mi`, with its interval and repeat count.
        let peak_of = |mi: usize| -> MemberPeak {
            let mut p = peaks.get(&(g, mi as u32)).cloned().unwrap_or_default();
            if let Some(pk) = &mut p.peak {
                pk.throughput_ci = ci.peaks[mi];
                pk.repeats = members[mi]
                    .iter()
                    .find(|l| l.label == pk.label && l.concurrency == pk.concurrency)
                    .map_or(0, |l| l.repeats.len());
            }
            p
        };
        // Goodput at the SLA of member `mi`, when the group has an SLA and the member a peak.
        let at_sla_of = |mi: usize| -> Option<AtSla> {
            group.sla_ms?;
            let peak = peaks.get(&(g, mi as u32)).and_then(|p| p.peak.as_ref()).map(|p| p.throughput)?;
            let c = crossings[gi][mi];
            let loads = &members[mi];
            Some(AtSla {
                throughput: crossing::at_sla(loads, c, Some(peak))?,
                throughput_ci: ci.at_sla[mi],
                between: c.map(|c| (loads[c.below].concurrency, loads[c.above].concurrency)),
            })
        };
        let baseline_of_group = group.members.iter().position(|m| m.is_baseline);
        let gain_of = |mi: usize| -> Option<Gain> {
            let mut gain = gains.get(&(g, mi as u32)).cloned()?;
            gain.throughput_gain_ci = ci.gains[mi].filter(|_| gain.throughput_gain.is_some());
            if let Some(b) = baseline_of_group {
                gain.at_sla_gain =
                    ratio(at_sla_of(mi).map(|a| a.throughput), at_sla_of(b).map(|a| a.throughput));
                gain.at_sla_gain_ci = ci.at_sla_gains[mi].filter(|_| gain.at_sla_gain.is_some());
            }
            Some(gain)
        };
        let summaries_of = |mi: usize, peak: Option<&PeakPoint>| {
            load_summaries(&members[mi], &ci.loads[mi], group.sla_ms, peak)
        };
        match group.kind {
            GroupKind::Comparison(ci_index) => {
                let study = &loaded.comparisons[ci_index];
                let mut variants: Vec<VariantPeak> = group
                    .members
                    .iter()
                    .enumerate()
                    .map(|(mi, m)| {
                        let p = peak_of(mi);
                        VariantPeak {
                            variant: m.variant.clone(),
                            sweep: m.sweep,
                            is_baseline: m.is_baseline,
                            levels: p.levels,
                            loads: summaries_of(mi, p.peak.as_ref()),
                            peak: p.peak,
                            at_sla: at_sla_of(mi),
                            stopped: loaded.sweeps[m.sweep].stopped.clone(),
                            redeployed: loaded.sweeps[m.sweep].redeployed,
                        }
                    })
                    .collect();
                variants.sort_by_key(|v| (!v.is_baseline, baseline_rank(&v.variant), v.variant.clone()));
                let baseline_member = group.members.iter().position(|m| m.is_baseline);
                let mut comparison_gains = Vec::new();
                for mi in 0..group.members.len() {
                    let Some(mut gain) = gain_of(mi) else { continue };
                    if let (Some(users), Some(b)) = (study.at_users, baseline_member) {
                        gain.at_users = Some(at_users(
                            (&members[b], &ci.loads[b]),
                            (&members[mi], &ci.loads[mi]),
                            users,
                            ci.at_users_gains[mi],
                        ));
                    }
                    comparison_gains.push(gain);
                }
                comparison_gains.sort_by(|a, b| a.treatment.cmp(&b.treatment));
                let member_loads: Vec<server::MemberLoads<'_, '_>> = group
                    .members
                    .iter()
                    .zip(members)
                    .map(|(m, loads)| server::MemberLoads {
                        variant: &m.variant,
                        is_baseline: m.is_baseline,
                        loads,
                    })
                    .collect();
                let at = variants
                    .iter()
                    .find(|v| v.is_baseline)
                    .and_then(|v| v.peak.as_ref())
                    .map(|p| (p.label.as_str(), p.concurrency));
                let server = server::server_comparison(&member_loads, at);
                comparisons.push(ComparisonSummary {
                    suite: study.suite.clone(),
                    comparison: study.name.clone(),
                    description: study.description.clone(),
                    workload: study.workload.clone(),
                    metric: group.metric,
                    sla_ms: group.sla_ms,
                    at_users: study.at_users,
                    paired: group.paired,
                    baseline: baseline_member.map(|b| group.members[b].variant.clone()),
                    variants,
                    gains: comparison_gains,
                    excluded,
                    server,
                });
            }
            GroupKind::ScalingAt(si, n) => {
                let summary = &mut scalings[si];
                summary.excluded.extend(excluded);
                for (mi, m) in group.members.iter().enumerate() {
                    let p = peak_of(mi);
                    let load = p.peak.as_ref().and_then(|pk| {
                        members[mi].iter().find(|l| l.label == pk.label && l.concurrency == pk.concurrency)
                    });
                    summary.points.push(ScalingPoint {
                        variant: m.variant.clone(),
                        replicas: n,
                        sweep: m.sweep,
                        request_throughput: load.and_then(|l| l.mean_of(|x| Some(x.throughput_rps))),
                        output_throughput: load.and_then(|l| l.mean_of(|x| x.tokens.map(|t| t.output_per_s))),
                        efficiency: None,
                        loads: summaries_of(mi, p.peak.as_ref()),
                        peak: p.peak,
                    });
                    if let Some(gain) = gain_of(mi) {
                        summary.gains.push(ScalingGain { replicas: n, gain });
                    }
                }
            }
            GroupKind::Engine(si) => {
                let summary = &mut scalings[si];
                summary.excluded.extend(excluded);
                let m = &group.members[0];
                if let Some(best) = peak_of(0).peak {
                    let better = summary.ideal.as_ref().is_none_or(|i| best.throughput > i.best.throughput);
                    if better {
                        summary.ideal = Some(IdealLine { variant: m.variant.clone(), sweep: m.sweep, best });
                    }
                }
            }
        }
    }
    for s in &mut scalings {
        let order = |v: &str| s.variants.iter().position(|x| x == v).unwrap_or(usize::MAX);
        s.points.sort_by_key(|p| (order(&p.variant), p.replicas));
        s.gains.sort_by_key(|g| (g.replicas, order(&g.gain.treatment)));
        let at_one: BTreeMap<String, f64> = s
            .points
            .iter()
            .filter(|p| p.replicas == 1)
            .filter_map(|p| Some((p.variant.clone(), p.peak.as_ref()?.throughput)))
            .collect();
        for p in &mut s.points {
            let one = at_one.get(&p.variant).copied();
            p.efficiency =
                ratio(p.peak.as_ref().map(|pk| pk.throughput), one.map(|o| o * f64::from(p.replicas)));
        }
    }
    // Each gain says which figure it shows as its headline: at the SLA where the report leads
    // with it and there is one (no SLA: none); scaling studies compare peaks.
    for g in comparisons.iter_mut().flat_map(|c| c.gains.iter_mut()) {
        g.headline = match (criteria.headline, g.at_sla_gain) {
            (GainBasis::AtSla, Some(_)) => GainBasis::AtSla,
            _ => GainBasis::Peak,
        };
    }
    for g in scalings.iter_mut().flat_map(|s| s.gains.iter_mut()) {
        g.gain.headline = GainBasis::Peak;
    }
    Ok(Summary {
        criteria: criteria.clone(),
        bootstrap: bootstrap.clone(),
        comparisons,
        scalings,
        notes: loaded.notes.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_pairs_optimized_with_unoptimized_else_the_first_two() {
        let v = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            scaling_pair(&v(&["1_ingress", "optimized", "unoptimized"])),
            Some(("unoptimized".into(), "optimized".into()))
        );
        assert_eq!(scaling_pair(&v(&["fast", "slow"])), Some(("slow".into(), "fast".into())));
        assert_eq!(scaling_pair(&v(&["off", "on"])), Some(("off".into(), "on".into())));
        assert_eq!(scaling_pair(&v(&["1_ingress"])), None);
    }
}
