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
//! Every peak is computed in one polars pass over all levels; comparisons and the N of scaling
//! studies are its groups.

mod criteria;
mod markdown;

use std::collections::BTreeMap;

use polars::prelude::*;

pub use criteria::{Criteria, SlaAssignment, Slas};
pub(crate) use markdown::{fmt_ms, fmt_ratio, fmt_throughput};

use crate::error::Result;
use crate::load::Loaded;
use crate::model::{Exclusion, MeasuredLevel, MeasuredSweep, Metric, baseline_rank, is_baseline_variant};

/// Where a variant peaked.
#[derive(Debug, Clone, PartialEq)]
pub struct PeakPoint {
    /// The peak goodput (in the comparison's throughput unit).
    pub throughput: f64,
    /// The concurrency it was reached at.
    pub concurrency: u64,
    /// The label of that level.
    pub label: String,
    /// The p99 latency there (the metric's: end-to-end or TTFT), in milliseconds.
    pub p99_ms: f64,
}

/// The peak of one variant.
#[derive(Debug, Clone, PartialEq)]
pub struct VariantPeak {
    /// The variant.
    pub variant: String,
    /// The sweep it was measured in (index into [`crate::Loaded::sweeps`]).
    pub sweep: usize,
    /// Whether it is the comparison's baseline.
    pub is_baseline: bool,
    /// How many levels it has.
    pub levels: usize,
    /// Its peak, `None` when no valid level met the SLA.
    pub peak: Option<PeakPoint>,
}

/// Both variants of a gain at one user count (a study's `at_users`).
#[derive(Debug, Clone, PartialEq)]
pub struct AtUsers {
    /// The user count.
    pub users: u64,
    /// The baseline's throughput there.
    pub baseline_throughput: Option<f64>,
    /// The treatment's throughput there.
    pub treatment_throughput: Option<f64>,
    /// Treatment / baseline throughput.
    pub throughput_gain: Option<f64>,
    /// The baseline's p99 there (ms).
    pub baseline_p99_ms: Option<f64>,
    /// The treatment's p99 there (ms).
    pub treatment_p99_ms: Option<f64>,
    /// Treatment p99 / baseline p99 (lower is better).
    pub p99_ratio: Option<f64>,
}

/// One treatment against the baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct Gain {
    /// The baseline variant.
    pub baseline: String,
    /// The treatment variant.
    pub treatment: String,
    /// Treatment peak / baseline peak (`None` when either has no peak).
    pub throughput_gain: Option<f64>,
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
}

/// A level that did not count as a peak.
#[derive(Debug, Clone, PartialEq)]
pub struct ExcludedLevel {
    /// Its variant.
    pub variant: String,
    /// Its label.
    pub label: String,
    /// Its concurrency.
    pub concurrency: u64,
    /// Why it was excluded.
    pub reason: Exclusion,
}

/// The summary of one comparison on one workload in one suite.
#[derive(Debug, Clone, PartialEq)]
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
    /// The baseline variant, if the comparison has one.
    pub baseline: Option<String>,
    /// Every variant's peak, baseline first.
    pub variants: Vec<VariantPeak>,
    /// Every treatment against the baseline.
    pub gains: Vec<Gain>,
    /// Levels that did not count as peaks.
    pub excluded: Vec<ExcludedLevel>,
}

impl ComparisonSummary {
    /// The peak of `variant`, if it has one.
    pub fn peak_of(&self, variant: &str) -> Option<&PeakPoint> {
        self.variants.iter().find(|v| v.variant == variant).and_then(|v| v.peak.as_ref())
    }
}

/// One variant at one replica count of a scaling study.
#[derive(Debug, Clone, PartialEq)]
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
}

/// The compared pair of a scaling study at one N (or any other variant against the baseline).
#[derive(Debug, Clone, PartialEq)]
pub struct ScalingGain {
    /// N.
    pub replicas: u32,
    /// The gain between the variants at that N.
    pub gain: Gain,
}

/// The bare engine's best level: the ideal line of a scaling study is its throughput x N.
#[derive(Debug, Clone, PartialEq)]
pub struct IdealLine {
    /// The engine (variant of the external sweep).
    pub variant: String,
    /// The sweep (index into [`crate::Loaded::sweeps`]).
    pub sweep: usize,
    /// Its best level.
    pub best: PeakPoint,
}

/// The summary of one scaling study on one workload.
#[derive(Debug, Clone, PartialEq)]
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
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The criteria the peaks were computed with.
    pub criteria: Criteria,
    /// One entry per (suite, comparison, workload), sorted by suite, comparison and workload
    /// (RecSys, LLM, unary, streaming, others).
    pub comparisons: Vec<ComparisonSummary>,
    /// One entry per (suite, scaling study, workload).
    pub scalings: Vec<ScalingSummary>,
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
    metric: Metric,
    sla_ms: Option<f64>,
    members: Vec<Member>,
}

/// One level, as a row of the polars frame.
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

fn groups_of(loaded: &Loaded, criteria: &Criteria) -> Vec<Group> {
    let mut groups = Vec::new();
    for (i, c) in loaded.comparisons.iter().enumerate() {
        let (metric, sla_ms) =
            metric_and_sla(loaded, criteria, &c.suite, &c.workload, c.sweeps().map(|s| &loaded.sweeps[s]));
        let members = c
            .sweeps()
            .map(|s| Member {
                sweep: s,
                variant: loaded.sweeps[s].variant.clone(),
                is_baseline: Some(s) == c.baseline,
            })
            .collect();
        groups.push(Group { kind: GroupKind::Comparison(i), metric, sla_ms, members });
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
            groups.push(Group { kind: GroupKind::ScalingAt(i, n), metric, sla_ms, members });
        }
        for &x in &s.baseline {
            let members =
                vec![Member { sweep: x, variant: loaded.sweeps[x].variant.clone(), is_baseline: false }];
            groups.push(Group { kind: GroupKind::Engine(i), metric, sla_ms, members });
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
    // Peak goodput per (group, member): the highest throughput among valid levels meeting the
    // SLA; ties go to the lower concurrency.
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
    let members = levels
        .clone()
        .group_by([col("group"), col("member")])
        .agg([col("is_baseline").first().alias("is_baseline"), len().cast(DataType::UInt64).alias("levels")]);
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
                concurrency,
                label: peak_label[i].clone().unwrap_or_default(),
                p99_ms,
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
                at_concurrency: at_c[i],
                baseline_p99_ms: base_p99[i],
                treatment_p99_ms: treat_p99[i],
                p99_ratio: ratio[i].filter(|r| r.is_finite()),
                at_users: None,
            },
        );
    }
    Ok((peaks_out, gains_out))
}

/// The level of `sweep` at `users` (closed loop), if it was measured.
fn level_at(sweep: &MeasuredSweep, users: u64) -> Option<&MeasuredLevel> {
    sweep.levels.iter().find(|l| l.concurrency == users && l.rate_rps.is_none())
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b).filter(|r| r.is_finite()),
        _ => None,
    }
}

/// Both variants at `users`.
fn at_users(metric: &Metric, baseline: &MeasuredSweep, treatment: &MeasuredSweep, users: u64) -> AtUsers {
    let b = level_at(baseline, users);
    let t = level_at(treatment, users);
    let bt = b.and_then(|l| metric.throughput_of(l));
    let tt = t.and_then(|l| metric.throughput_of(l));
    let bp = b.and_then(|l| metric.latency_of(l));
    let tp = t.and_then(|l| metric.latency_of(l));
    AtUsers {
        users,
        baseline_throughput: bt,
        treatment_throughput: tt,
        throughput_gain: ratio(tt, bt),
        baseline_p99_ms: bp,
        treatment_p99_ms: tp,
        p99_ratio: ratio(tp, bp),
    }
}

/// Computes every comparison's peaks and gains and every scaling study's curve.
pub fn summarize(loaded: &Loaded, criteria: &Criteria) -> Result<Summary> {
    let groups = groups_of(loaded, criteria);
    let mut rows = Vec::new();
    let mut excluded: Vec<Vec<ExcludedLevel>> = Vec::new();
    for (gi, group) in groups.iter().enumerate() {
        let mut group_excluded = Vec::new();
        for (mi, member) in group.members.iter().enumerate() {
            for level in &loaded.sweeps[member.sweep].levels {
                let exclusion = level.exclusion(criteria.max_error_rate);
                if let Some(reason) = exclusion {
                    group_excluded.push(ExcludedLevel {
                        variant: member.variant.clone(),
                        label: level.label.clone(),
                        concurrency: level.concurrency,
                        reason,
                    });
                }
                rows.push(LevelRow {
                    group: gi as u32,
                    member: mi as u32,
                    is_baseline: member.is_baseline,
                    concurrency: level.concurrency,
                    label: level.label.clone(),
                    throughput: group.metric.throughput_of(level),
                    p99_ms: group.metric.latency_of(level),
                    excluded: exclusion.is_some(),
                    sla_ms: group.sla_ms,
                });
            }
        }
        excluded.push(group_excluded);
    }
    let (peaks, gains) = compute(&groups, rows)?;

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
        let peak_of = |mi: usize| peaks.get(&(g, mi as u32)).cloned().unwrap_or_default();
        match group.kind {
            GroupKind::Comparison(ci) => {
                let study = &loaded.comparisons[ci];
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
                            peak: p.peak,
                        }
                    })
                    .collect();
                variants.sort_by_key(|v| (!v.is_baseline, baseline_rank(&v.variant), v.variant.clone()));
                let baseline_member = group.members.iter().find(|m| m.is_baseline);
                let mut comparison_gains = Vec::new();
                for (mi, m) in group.members.iter().enumerate() {
                    let Some(mut gain) = gains.get(&(g, mi as u32)).cloned() else { continue };
                    if let (Some(users), Some(b)) = (study.at_users, baseline_member) {
                        gain.at_users = Some(at_users(
                            &group.metric,
                            &loaded.sweeps[b.sweep],
                            &loaded.sweeps[m.sweep],
                            users,
                        ));
                    }
                    comparison_gains.push(gain);
                }
                comparison_gains.sort_by(|a, b| a.treatment.cmp(&b.treatment));
                comparisons.push(ComparisonSummary {
                    suite: study.suite.clone(),
                    comparison: study.name.clone(),
                    description: study.description.clone(),
                    workload: study.workload.clone(),
                    metric: group.metric,
                    sla_ms: group.sla_ms,
                    at_users: study.at_users,
                    baseline: baseline_member.map(|m| m.variant.clone()),
                    variants,
                    gains: comparison_gains,
                    excluded,
                });
            }
            GroupKind::ScalingAt(si, n) => {
                let summary = &mut scalings[si];
                summary.excluded.extend(excluded);
                for (mi, m) in group.members.iter().enumerate() {
                    let p = peak_of(mi);
                    let level = p
                        .peak
                        .as_ref()
                        .and_then(|pk| loaded.sweeps[m.sweep].levels.iter().find(|l| l.label == pk.label));
                    summary.points.push(ScalingPoint {
                        variant: m.variant.clone(),
                        replicas: n,
                        sweep: m.sweep,
                        peak: p.peak,
                        request_throughput: level.map(|l| l.throughput_rps),
                        output_throughput: level.and_then(|l| l.tokens).map(|t| t.output_per_s),
                        efficiency: None,
                    });
                    if let Some(gain) = gains.get(&(g, mi as u32)) {
                        summary.gains.push(ScalingGain { replicas: n, gain: gain.clone() });
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
    Ok(Summary { criteria: criteria.clone(), comparisons, scalings })
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
