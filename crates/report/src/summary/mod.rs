//! The numbers a reader wants, computed with polars: per suite, comparison, workload and variant
//! the peak goodput at an SLA (the highest throughput among levels whose p99 meets it, ignoring
//! client-bound levels and levels with too many errors), the concurrency and p99 there; the gain
//! of each treatment over the baseline; and the p99 of each variant at the baseline's peak
//! concurrency.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::str::FromStr;

use polars::prelude::*;

use crate::error::{Error, Result};
use crate::model::{Exclusion, Metric, Sweep, WorkloadFamily, baseline_rank, workload_display_name};

/// The p99 latency SLA per workload, in milliseconds.
///
/// A workload's SLA is looked up by its exact name, then by its family (`unary`, `streaming`,
/// `recsys`, `llm`). A workload without an SLA has its peak at the highest throughput of all its
/// (valid) levels.
#[derive(Debug, Clone, PartialEq)]
pub struct Slas {
    per_workload: BTreeMap<String, f64>,
}

impl Default for Slas {
    /// The spec's SLAs: unary 200 ms, streaming 700 ms.
    fn default() -> Self {
        let mut slas = Self::none();
        slas.set("unary", 200.0);
        slas.set("streaming", 700.0);
        slas
    }
}

impl Slas {
    /// No SLA for any workload.
    pub fn none() -> Self {
        Self { per_workload: BTreeMap::new() }
    }

    /// Sets the SLA of `workload` (a workload name or a family name) to `p99_ms`.
    pub fn set(&mut self, workload: &str, p99_ms: f64) -> &mut Self {
        self.per_workload.insert(workload.to_ascii_lowercase(), p99_ms);
        self
    }

    /// Returns these SLAs with `workload` set to `p99_ms`.
    pub fn with(mut self, workload: &str, p99_ms: f64) -> Self {
        self.set(workload, p99_ms);
        self
    }

    /// The SLA of `workload` in milliseconds, if it has one.
    pub fn get(&self, workload: &str) -> Option<f64> {
        let name = workload.to_ascii_lowercase();
        self.per_workload.get(&name).copied().or_else(|| {
            let family = match WorkloadFamily::of(workload) {
                WorkloadFamily::Unary => "unary",
                WorkloadFamily::Streaming => "streaming",
                WorkloadFamily::RecSys => "recsys",
                WorkloadFamily::Llm => "llm",
                WorkloadFamily::Other => return None,
            };
            self.per_workload.get(family).copied()
        })
    }

    /// Every SLA that is set, by workload.
    pub fn iter(&self) -> impl Iterator<Item = (&str, f64)> {
        self.per_workload.iter().map(|(k, v)| (k.as_str(), *v))
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
                Error::InvalidOption(format!("SLA `{s}`: `{value}` is not a duration like 200ms or 0.7s"))
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
#[derive(Debug, Clone, PartialEq)]
pub struct Criteria {
    /// p99 SLA per workload.
    pub slas: Slas,
    /// Levels with a larger error rate (0..1) never count as a peak (default 0.01).
    pub max_error_rate: f64,
}

impl Default for Criteria {
    fn default() -> Self {
        Self { slas: Slas::default(), max_error_rate: 0.01 }
    }
}

impl From<Slas> for Criteria {
    fn from(slas: Slas) -> Self {
        Self { slas, ..Self::default() }
    }
}

/// Where a variant peaked.
#[derive(Debug, Clone, PartialEq)]
pub struct PeakPoint {
    /// The peak goodput (in the comparison's throughput unit).
    pub throughput: f64,
    /// The concurrency it was reached at.
    pub concurrency: u64,
    /// The label of that level.
    pub label: String,
    /// The p99 latency there, in milliseconds.
    pub p99_ms: f64,
}

/// The peak of one variant.
#[derive(Debug, Clone, PartialEq)]
pub struct VariantPeak {
    /// The variant.
    pub variant: String,
    /// Whether it is the comparison's baseline.
    pub is_baseline: bool,
    /// How many levels it has.
    pub levels: usize,
    /// Its peak, `None` when no valid level met the SLA.
    pub peak: Option<PeakPoint>,
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
    /// The workload.
    pub workload: String,
    /// Which throughput and latency were compared.
    pub metric: Metric,
    /// The SLA applied (ms), if any.
    pub sla_ms: Option<f64>,
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

/// Every comparison's peaks and gains.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The criteria the peaks were computed with.
    pub criteria: Criteria,
    /// One entry per (suite, comparison, workload), sorted by suite, comparison and workload
    /// (RecSys, LLM, unary, streaming, others).
    pub comparisons: Vec<ComparisonSummary>,
}

/// The sweeps of one (suite, comparison, workload), with the chosen baseline.
struct Group<'a> {
    suite: &'a str,
    comparison: &'a str,
    workload: &'a str,
    sweeps: Vec<&'a Sweep>,
    baseline: Option<usize>,
}

fn group_sweeps(sweeps: &[Sweep]) -> Vec<Group<'_>> {
    let mut map: BTreeMap<(&str, &str, WorkloadFamily, &str), Vec<&Sweep>> = BTreeMap::new();
    for s in sweeps {
        map.entry((&s.suite, &s.comparison, WorkloadFamily::of(&s.workload), &s.workload))
            .or_default()
            .push(s);
    }
    map.into_iter()
        .map(|((suite, comparison, _, workload), mut sweeps)| {
            sweeps.sort_by(|a, b| {
                let rank = |s: &Sweep| baseline_rank(&s.variant).unwrap_or(usize::MAX);
                rank(a).cmp(&rank(b)).then(a.variant.cmp(&b.variant))
            });
            let baseline = sweeps.first().filter(|s| s.is_baseline()).map(|_| 0);
            Group { suite, comparison, workload, sweeps, baseline }
        })
        .collect()
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

/// Computes every comparison's peaks and gains.
pub fn summarize(sweeps: &[Sweep], criteria: &Criteria) -> Result<Summary> {
    let groups = group_sweeps(sweeps);

    // One row per level, across all sweeps.
    let mut c_group: Vec<u32> = Vec::new();
    let mut c_variant: Vec<String> = Vec::new();
    let mut c_baseline: Vec<bool> = Vec::new();
    let mut c_concurrency: Vec<u64> = Vec::new();
    let mut c_label: Vec<String> = Vec::new();
    let mut c_throughput: Vec<Option<f64>> = Vec::new();
    let mut c_p99: Vec<Option<f64>> = Vec::new();
    let mut c_excluded: Vec<bool> = Vec::new();
    let mut c_sla: Vec<Option<f64>> = Vec::new();
    let mut metrics = Vec::new();
    let mut excluded: Vec<Vec<ExcludedLevel>> = Vec::new();
    for (gi, group) in groups.iter().enumerate() {
        let metric = Metric::for_sweeps(group.workload, group.sweeps.iter().copied());
        let sla = criteria.slas.get(group.workload);
        let mut group_excluded = Vec::new();
        for (si, sweep) in group.sweeps.iter().enumerate() {
            for level in &sweep.levels {
                let exclusion = level.exclusion(criteria.max_error_rate);
                if let Some(reason) = exclusion {
                    group_excluded.push(ExcludedLevel {
                        variant: sweep.variant.clone(),
                        label: level.label.clone(),
                        concurrency: level.concurrency,
                        reason,
                    });
                }
                c_group.push(gi as u32);
                c_variant.push(sweep.variant.clone());
                c_baseline.push(group.baseline == Some(si));
                c_concurrency.push(level.concurrency);
                c_label.push(level.label.clone());
                c_throughput.push(metric.throughput_of(level));
                c_p99.push(metric.latency_of(level));
                c_excluded.push(exclusion.is_some());
                c_sla.push(sla);
            }
        }
        metrics.push((metric, sla));
        excluded.push(group_excluded);
    }
    let levels = df! {
        "group" => c_group,
        "variant" => c_variant,
        "is_baseline" => c_baseline,
        "concurrency" => c_concurrency,
        "label" => c_label,
        "throughput" => c_throughput,
        "p99_ms" => c_p99,
        "excluded" => c_excluded,
        "sla_ms" => c_sla,
    }?
    .lazy();

    // Peak goodput per (group, variant): the highest throughput among valid levels meeting the
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
    let peaks = levels.clone().filter(eligible).group_by([col("group"), col("variant")]).agg([
        col("throughput").max().alias("peak"),
        by_peak(col("concurrency")).alias("peak_concurrency"),
        by_peak(col("label")).alias("peak_label"),
        by_peak(col("p99_ms")).alias("peak_p99_ms"),
    ]);
    let variants = levels
        .clone()
        .group_by([col("group"), col("variant")])
        .agg([col("is_baseline").first().alias("is_baseline"), len().cast(DataType::UInt64).alias("levels")]);
    let variant_peaks = variants
        .join(
            peaks,
            [col("group"), col("variant")],
            [col("group"), col("variant")],
            JoinArgs::new(JoinType::Left),
        )
        .sort(["group", "variant"], SortMultipleOptions::default());

    // Gains: every treatment against its group's baseline, and both p99s at the baseline's peak
    // concurrency.
    let base = variant_peaks.clone().filter(col("is_baseline")).select([
        col("group"),
        col("variant").alias("baseline"),
        col("peak").alias("base_peak"),
        col("peak_concurrency").alias("at_concurrency"),
    ]);
    let p99_at = |alias: &str| {
        levels
            .clone()
            .group_by([col("group"), col("variant"), col("concurrency")])
            .agg([col("p99_ms").first().alias(alias)])
    };
    let gains = variant_peaks
        .clone()
        .filter(col("is_baseline").not())
        .select([col("group"), col("variant").alias("treatment"), col("peak").alias("treat_peak")])
        .join(base, [col("group")], [col("group")], JoinArgs::new(JoinType::Inner))
        .join(
            p99_at("baseline_p99_ms"),
            [col("group"), col("baseline"), col("at_concurrency")],
            [col("group"), col("variant"), col("concurrency")],
            JoinArgs::new(JoinType::Left),
        )
        .join(
            p99_at("treatment_p99_ms"),
            [col("group"), col("treatment"), col("at_concurrency")],
            [col("group"), col("variant"), col("concurrency")],
            JoinArgs::new(JoinType::Left),
        )
        .with_columns([
            (col("treat_peak") / col("base_peak")).alias("throughput_gain"),
            (col("treatment_p99_ms") / col("baseline_p99_ms")).alias("p99_ratio"),
        ])
        .sort(["group", "treatment"], SortMultipleOptions::default());

    let variant_peaks = variant_peaks.collect()?;
    let gains = gains.collect()?;

    // Back to plain structs.
    let mut comparisons: Vec<ComparisonSummary> = groups
        .iter()
        .zip(metrics)
        .zip(excluded)
        .map(|((g, (metric, sla_ms)), excluded)| ComparisonSummary {
            suite: g.suite.to_string(),
            comparison: g.comparison.to_string(),
            workload: g.workload.to_string(),
            metric,
            sla_ms,
            baseline: g.baseline.map(|i| g.sweeps[i].variant.clone()),
            variants: Vec::new(),
            gains: Vec::new(),
            excluded,
        })
        .collect();

    let group = u32s(&variant_peaks, "group")?;
    let variant = strs(&variant_peaks, "variant")?;
    let is_baseline: Vec<Option<bool>> = variant_peaks.column("is_baseline")?.bool()?.iter().collect();
    let n_levels = u64s(&variant_peaks, "levels")?;
    let peak = f64s(&variant_peaks, "peak")?;
    let peak_c = u64s(&variant_peaks, "peak_concurrency")?;
    let peak_label = strs(&variant_peaks, "peak_label")?;
    let peak_p99 = f64s(&variant_peaks, "peak_p99_ms")?;
    for i in 0..variant_peaks.height() {
        let Some(c) = group[i].and_then(|g| comparisons.get_mut(g as usize)) else {
            continue;
        };
        let point = match (peak[i], peak_c[i], peak_p99[i]) {
            (Some(throughput), Some(concurrency), Some(p99_ms)) => Some(PeakPoint {
                throughput,
                concurrency,
                label: peak_label[i].clone().unwrap_or_default(),
                p99_ms,
            }),
            _ => None,
        };
        c.variants.push(VariantPeak {
            variant: variant[i].clone().unwrap_or_default(),
            is_baseline: is_baseline[i].unwrap_or(false),
            levels: n_levels[i].unwrap_or(0) as usize,
            peak: point,
        });
    }

    let group = u32s(&gains, "group")?;
    let treatment = strs(&gains, "treatment")?;
    let baseline = strs(&gains, "baseline")?;
    let gain = f64s(&gains, "throughput_gain")?;
    let at_c = u64s(&gains, "at_concurrency")?;
    let base_p99 = f64s(&gains, "baseline_p99_ms")?;
    let treat_p99 = f64s(&gains, "treatment_p99_ms")?;
    let ratio = f64s(&gains, "p99_ratio")?;
    for i in 0..gains.height() {
        let Some(c) = group[i].and_then(|g| comparisons.get_mut(g as usize)) else {
            continue;
        };
        c.gains.push(Gain {
            baseline: baseline[i].clone().unwrap_or_default(),
            treatment: treatment[i].clone().unwrap_or_default(),
            throughput_gain: gain[i].filter(|g| g.is_finite()),
            at_concurrency: at_c[i],
            baseline_p99_ms: base_p99[i],
            treatment_p99_ms: treat_p99[i],
            p99_ratio: ratio[i].filter(|r| r.is_finite()),
        });
    }
    for c in &mut comparisons {
        c.variants.sort_by_key(|v| (!v.is_baseline, baseline_rank(&v.variant), v.variant.clone()));
    }
    Ok(Summary { criteria: criteria.clone(), comparisons })
}

/// `14221.3` -> `14,221`; small values keep a decimal or two.
pub(crate) fn fmt_throughput(v: f64) -> String {
    if v.abs() >= 100.0 {
        let s = format!("{:.0}", v.abs());
        let mut out = String::new();
        for (i, ch) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(ch);
        }
        if v < 0.0 { format!("-{out}") } else { out }
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A latency in milliseconds, with as many decimals as its size deserves.
pub(crate) fn fmt_ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0} ms")
    } else if v >= 10.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.2} ms")
    }
}

/// A ratio as the reader expects it: `11.5x`, `0.11x`.
pub(crate) fn fmt_ratio(v: f64) -> String {
    if v >= 0.995 { format!("{v:.1}x") } else { format!("{v:.2}x") }
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
}

impl Summary {
    /// The summary as Markdown: a table of gains (the answer), a table of every variant's peak,
    /// and footnotes for levels that did not count.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let suites: std::collections::BTreeSet<&str> =
            self.comparisons.iter().map(|c| c.suite.as_str()).collect();
        let show_suite = suites.len() > 1;
        let _ = writeln!(out, "# Peak goodput\n");
        let _ = writeln!(
            out,
            "Peak goodput = the highest throughput among the levels whose p99 latency meets the SLA. \
             Levels that were client-bound or had more than {}% errors never count as a peak.\n",
            fmt_pct(self.criteria.max_error_rate)
        );
        if self.comparisons.is_empty() {
            let _ = writeln!(out, "No sweeps were found.");
            return out;
        }
        let _ = writeln!(out, "## Gains\n");
        let suite_h = if show_suite { "| suite " } else { "" };
        let suite_s = if show_suite { "|---" } else { "" };
        let _ = writeln!(
            out,
            "{suite_h}| comparison | workload | SLA (p99) | baseline peak | treatment peak | throughput gain | p99 at baseline peak load |"
        );
        let _ = writeln!(out, "{suite_s}|---|---|---|---|---|---:|---|");
        let mut footnotes: Vec<String> = Vec::new();
        for c in &self.comparisons {
            let unit = c.metric.throughput_unit();
            let sla = c.sla_ms.map(|s| format!("≤ {}", fmt_ms(s))).unwrap_or_else(|| "none".into());
            let suite_cell = if show_suite { format!("| {} ", md_escape(&c.suite)) } else { String::new() };
            let peak_cell = |variant: &str| match c.peak_of(variant) {
                Some(p) => format!(
                    "{}: {} {unit} @ c={} (p99 {})",
                    md_escape(variant),
                    fmt_throughput(p.throughput),
                    p.concurrency,
                    fmt_ms(p.p99_ms)
                ),
                None => format!("{}: no level meets the SLA", md_escape(variant)),
            };
            if c.gains.is_empty() {
                let why = if c.baseline.is_none() {
                    "no baseline variant (off/unoptimized/baseline)"
                } else {
                    "no treatment variant"
                };
                let peaks: Vec<String> = c.variants.iter().map(|v| peak_cell(&v.variant)).collect();
                let _ = writeln!(
                    out,
                    "{suite_cell}| {} | {} | {sla} | {} | | n/a ({why}) | |",
                    md_escape(&c.comparison),
                    md_escape(&workload_display_name(&c.workload)),
                    peaks.join("; "),
                );
                continue;
            }
            for g in &c.gains {
                let gain = g
                    .throughput_gain
                    .map(|v| format!("**{}**", fmt_ratio(v)))
                    .unwrap_or_else(|| "n/a".into());
                let p99 = match (g.at_concurrency, g.baseline_p99_ms, g.treatment_p99_ms) {
                    (Some(at), Some(b), Some(t)) => format!(
                        "{} → {} ({}) @ c={at}",
                        fmt_ms(b),
                        fmt_ms(t),
                        g.p99_ratio.map(fmt_ratio).unwrap_or_else(|| "n/a".into())
                    ),
                    (Some(at), _, _) => format!("n/a (no {} level at c={at})", md_escape(&g.treatment)),
                    _ => "n/a".into(),
                };
                let _ = writeln!(
                    out,
                    "{suite_cell}| {} | {} | {sla} | {} | {} | {gain} | {p99} |",
                    md_escape(&c.comparison),
                    md_escape(&workload_display_name(&c.workload)),
                    peak_cell(&g.baseline),
                    peak_cell(&g.treatment),
                );
            }
        }

        let _ = writeln!(out, "\n## Peaks per variant\n");
        let _ = writeln!(
            out,
            "{suite_h}| comparison | workload | variant | peak goodput | at concurrency | p99 there | levels |"
        );
        let _ = writeln!(out, "{suite_s}|---|---|---|---:|---:|---:|---:|");
        for c in &self.comparisons {
            let suite_cell = if show_suite { format!("| {} ", md_escape(&c.suite)) } else { String::new() };
            for v in &c.variants {
                let excluded = c.excluded.iter().filter(|e| e.variant == v.variant).count();
                let levels = if excluded > 0 {
                    footnotes.push(format!(
                        "{} {} {} `{}`: {}",
                        md_escape(&c.suite),
                        md_escape(&c.comparison),
                        md_escape(&c.workload),
                        md_escape(&v.variant),
                        c.excluded
                            .iter()
                            .filter(|e| e.variant == v.variant)
                            .map(|e| format!("c={} ({})", e.concurrency, e.reason))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                    format!("{} ({excluded} excluded[^{}])", v.levels, footnotes.len())
                } else {
                    v.levels.to_string()
                };
                let role = if v.is_baseline { " (baseline)" } else { "" };
                let (peak, at, p99) = match &v.peak {
                    Some(p) => (
                        format!("{} {}", fmt_throughput(p.throughput), c.metric.throughput_unit()),
                        p.concurrency.to_string(),
                        fmt_ms(p.p99_ms),
                    ),
                    None => ("no level meets the SLA".into(), "".into(), "".into()),
                };
                let _ = writeln!(
                    out,
                    "{suite_cell}| {} | {} | {}{role} | {peak} | {at} | {p99} | {levels} |",
                    md_escape(&c.comparison),
                    md_escape(&workload_display_name(&c.workload)),
                    md_escape(&v.variant),
                );
            }
        }
        let metrics: std::collections::BTreeSet<String> = self
            .comparisons
            .iter()
            .map(|c| {
                format!(
                    "{}: throughput in {}, latency = {}",
                    workload_display_name(&c.workload),
                    c.metric.throughput_unit(),
                    c.metric.latency_name()
                )
            })
            .collect();
        let _ = writeln!(out);
        for m in metrics {
            let _ = writeln!(out, "- {m}");
        }
        if !footnotes.is_empty() {
            let _ = writeln!(out);
            for (i, f) in footnotes.iter().enumerate() {
                let _ = writeln!(out, "[^{}]: Not counted as a peak: {f}", i + 1);
            }
        }
        out
    }
}

fn fmt_pct(rate: f64) -> String {
    let pct = rate * 100.0;
    if (pct - pct.round()).abs() < 1e-9 { format!("{pct:.0}") } else { format!("{pct}") }
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
    fn numbers_format_for_readers() {
        assert_eq!(fmt_throughput(14220.59), "14,221");
        assert_eq!(fmt_throughput(138256.52), "138,257");
        assert_eq!(fmt_throughput(156.57), "157");
        assert_eq!(fmt_throughput(1279.49), "1,279");
        assert_eq!(fmt_throughput(12.34), "12.3");
        assert_eq!(fmt_ratio(11.495), "11.5x");
        assert_eq!(fmt_ratio(0.1125), "0.11x");
        assert_eq!(fmt_ms(160.0), "160 ms");
        assert_eq!(fmt_ms(49.71), "49.7 ms");
    }
}
