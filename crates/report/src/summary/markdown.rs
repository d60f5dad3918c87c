//! The summary as Markdown: the gains (the answer), the gains at a fixed user count, every
//! variant's peak, the scaling studies, and footnotes for levels that did not count; and the
//! number formats the tables and plots share.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::{
    ComparisonSummary, GainBasis, Interval, OTHER_ROLE, ScalingSummary, ServerAtLoad, ServerComparison,
    Summary,
};
use crate::model::{ThroughputKind, workload_display_name};

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
        format!("{} ms", fmt_throughput(v))
    } else if v >= 10.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.2} ms")
    }
}

/// A ratio as the reader expects it: `11.5x`, `0.11x`.
pub(crate) fn fmt_ratio(v: f64) -> String {
    format!("{}x", fmt_ratio_bare(v))
}

fn fmt_ratio_bare(v: f64) -> String {
    if v >= 0.995 { format!("{v:.1}") } else { format!("{v:.2}") }
}

/// An interval of throughputs: `95% CI 780-846` (`None`: empty).
pub(crate) fn fmt_ci(ci: Option<Interval>) -> Option<String> {
    let ci = ci?;
    Some(format!("{} CI {}-{}", fmt_confidence(ci.confidence), fmt_throughput(ci.lo), fmt_throughput(ci.hi)))
}

/// An interval of ratios: `95% CI 4.4-5.9` (`None`: empty).
pub(crate) fn fmt_ratio_ci(ci: Option<Interval>) -> Option<String> {
    let ci = ci?;
    Some(format!("{} CI {}-{}", fmt_confidence(ci.confidence), fmt_ratio_bare(ci.lo), fmt_ratio_bare(ci.hi)))
}

/// `0.95` -> `95%`.
pub(crate) fn fmt_confidence(c: f64) -> String {
    format!("{}%", fmt_pct(c))
}

/// `value` followed by ` (95% CI ...)` when it has an interval.
fn with_ci(value: String, ci: Option<String>) -> String {
    match ci {
        Some(ci) => format!("{value} ({ci})"),
        None => value,
    }
}

fn fmt_pct(rate: f64) -> String {
    let pct = rate * 100.0;
    if (pct - pct.round()).abs() < 1e-9 { format!("{pct:.0}") } else { format!("{pct}") }
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
}

fn opt<T>(v: Option<T>, f: impl Fn(T) -> String) -> String {
    v.map(f).unwrap_or_else(|| "n/a".into())
}

impl Summary {
    /// The summary as Markdown: a table of gains (the answer), the gains at a study's user count,
    /// a table of every variant's peak, the scaling studies, and footnotes for levels that did
    /// not count.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let suites: BTreeSet<&str> = self
            .comparisons
            .iter()
            .map(|c| c.suite.as_str())
            .chain(self.scalings.iter().map(|s| s.suite.as_str()))
            .collect();
        let show_suite = suites.len() > 1;
        let _ = writeln!(out, "# Peak goodput\n");
        let _ = writeln!(
            out,
            "Peak goodput = the highest throughput among the levels whose p99 latency meets the SLA. \
             Levels that were client-bound, unstable, invalid, measured only by a scouting pass or had more than {}% errors never count as a peak.\n",
            fmt_pct(self.criteria.max_error_rate)
        );
        if self.comparisons.iter().any(|c| c.gains.iter().any(|g| g.at_sla_gain.is_some())) {
            let lead = match self.criteria.headline {
                GainBasis::AtSla => {
                    "The gains lead with the gain at the SLA: the ratio of the goodputs at which each variant's p99 \
                     reaches the SLA, interpolated between the levels around it (below). The peak gain, between the \
                     best measured levels, is beside it: it jumps a whole level when a p99 lands a few ms either side \
                     of the SLA, so it moves more between runs (docs/statistics.md)."
                }
                GainBasis::Peak => {
                    "The gains lead with the peak gain, between the best measured levels (as the original suite \
                     reported it); the gain at the SLA, interpolated between the levels around it (below), is \
                     beside it."
                }
            };
            let _ = writeln!(out, "{lead}\n");
        }
        if self.has_intervals() {
            let b = &self.bootstrap;
            let _ = writeln!(
                out,
                "A level measured several times counts by the mean of its repeats (its p99: their median), and \
                 only when the server held it in every repeat (valid, within the error limit); a repeat in doubt \
                 (unstable, client-bound) is left out when at least half of the repeats remain. Intervals: {} percentile bootstrap ({} resamples, seed {}) over \
                 the repeats (paired where the variants were measured paired; between deployments too where each repeat \
                 had its own) and {} s blocks of each level's \
                 per-second throughput; figures without one had nothing to resample \
                 (see docs/statistics.md).\n",
                fmt_confidence(b.confidence),
                fmt_throughput(f64::from(b.resamples)),
                b.seed,
                b.block_s,
            );
        }
        for note in &self.notes {
            let _ = writeln!(out, "**Note.** {note}\n");
        }
        if self.comparisons.is_empty() && self.scalings.is_empty() {
            let _ = writeln!(out, "No sweeps were found.");
            return out;
        }
        let mut footnotes: Vec<String> = Vec::new();
        if !self.comparisons.is_empty() {
            self.comparisons_markdown(&mut out, show_suite, &mut footnotes);
        }
        for s in &self.scalings {
            scaling_markdown(&mut out, s, show_suite);
        }
        let metrics: BTreeSet<String> = self
            .comparisons
            .iter()
            .map(|c| (&c.workload, c.metric))
            .chain(self.scalings.iter().map(|s| (&s.workload, s.metric)))
            .map(|(workload, metric)| {
                format!(
                    "{}: throughput in {}, latency = {}",
                    workload_display_name(workload),
                    metric.throughput_unit(),
                    metric.latency_name()
                )
            })
            .collect();
        let _ = writeln!(out);
        for m in metrics {
            let _ = writeln!(out, "- {m}");
        }
        server_markdown(&mut out, &self.comparisons, show_suite);
        let stopped: Vec<String> = self
            .comparisons
            .iter()
            .flat_map(|c| {
                c.variants.iter().filter_map(move |v| {
                    let why = v.stopped.as_ref()?;
                    let last =
                        v.loads.last().map(|l| format!(" after c={}", l.concurrency)).unwrap_or_default();
                    Some(format!(
                        "- {} {} {} `{}` stopped climbing{last}: {}",
                        md_escape(&c.suite),
                        md_escape(&c.comparison),
                        md_escape(&workload_display_name(&c.workload)),
                        md_escape(&v.variant),
                        md_escape(why)
                    ))
                })
            })
            .collect();
        if !stopped.is_empty() {
            let _ = writeln!(out, "\n## Sweeps that stopped early\n");
            for line in stopped {
                let _ = writeln!(out, "{line}");
            }
        }
        if !footnotes.is_empty() {
            let _ = writeln!(out, "\n## Excluded levels\n");
            for (i, f) in footnotes.iter().enumerate() {
                let _ = writeln!(out, "[^{}]: Not counted as a peak: {f}", i + 1);
            }
        }
        out
    }

    /// Whether any figure has an interval.
    pub fn has_intervals(&self) -> bool {
        let peak = |p: &Option<super::PeakPoint>| p.as_ref().is_some_and(|p| p.throughput_ci.is_some());
        self.comparisons.iter().any(|c| {
            c.variants.iter().any(|v| peak(&v.peak) || v.loads.iter().any(|l| l.throughput_ci.is_some()))
        }) || self.scalings.iter().any(|s| s.points.iter().any(|p| peak(&p.peak)))
    }

    fn comparisons_markdown(&self, out: &mut String, show_suite: bool, footnotes: &mut Vec<String>) {
        let _ = writeln!(out, "## Gains\n");
        let suite_h = if show_suite { "| suite " } else { "" };
        let suite_s = if show_suite { "|---" } else { "" };
        // The leading gain's column first, in bold; the other beside it.
        let lead = self.criteria.headline;
        let other = match lead {
            GainBasis::AtSla => GainBasis::Peak,
            GainBasis::Peak => GainBasis::AtSla,
        };
        let _ = writeln!(
            out,
            "{suite_h}| comparison | workload | SLA (p99) | baseline peak | treatment peak | {} | {} | p99 at baseline peak load |",
            lead.name(),
            other.name()
        );
        let _ = writeln!(out, "{suite_s}|---|---|---|---|---|---:|---:|---|");
        for c in &self.comparisons {
            let unit = c.metric.throughput_unit();
            let sla = c.sla_ms.map(|s| format!("≤ {}", fmt_ms(s))).unwrap_or_else(|| "none".into());
            let suite_cell = if show_suite { format!("| {} ", md_escape(&c.suite)) } else { String::new() };
            let peak_cell = |variant: &str| match c.peak_of(variant) {
                Some(p) => format!(
                    "{}: {} @ c={} (p99 {})",
                    md_escape(variant),
                    with_ci(format!("{} {unit}", fmt_throughput(p.throughput)), fmt_ci(p.throughput_ci)),
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
                    "{suite_cell}| {} | {} | {sla} | {} | | n/a ({why}) | | |",
                    md_escape(&c.comparison),
                    md_escape(&workload_display_name(&c.workload)),
                    peaks.join("; "),
                );
                continue;
            }
            for g in &c.gains {
                // Each gain in bold where it is the one the summary leads with.
                let headline = g.headline_gain().map(|h| h.basis);
                let cell = |basis: GainBasis| {
                    let (value, ci) = match basis {
                        GainBasis::AtSla => (g.at_sla_gain, g.at_sla_gain_ci),
                        GainBasis::Peak => (g.throughput_gain, g.throughput_gain_ci),
                    };
                    match value {
                        Some(v) if headline == Some(basis) => {
                            with_ci(format!("**{}**", fmt_ratio(v)), fmt_ratio_ci(ci))
                        }
                        Some(v) => with_ci(fmt_ratio(v), fmt_ratio_ci(ci)),
                        None if basis == GainBasis::AtSla && c.sla_ms.is_none() => "n/a (no SLA)".into(),
                        None => "n/a".into(),
                    }
                };
                let gain = format!("{} | {}", cell(lead), cell(other));
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

        at_sla_markdown(out, &self.comparisons, show_suite);
        at_users_markdown(out, &self.comparisons, show_suite);
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
                            .map(|e| match e.repeat {
                                Some(k) => format!(
                                    "c={} r{k} ({}{})",
                                    e.concurrency,
                                    md_escape(&e.reason.to_string()),
                                    if e.left_out {
                                        format!(
                                            "; only this repeat left out: c={} counts from the others",
                                            e.concurrency
                                        )
                                    } else {
                                        String::new()
                                    }
                                ),
                                None => format!("c={} ({})", e.concurrency, md_escape(&e.reason.to_string())),
                            })
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                    format!("{} ({excluded} excluded[^{}])", levels_text(v), footnotes.len())
                } else {
                    levels_text(v)
                };
                let role = if v.is_baseline && !v.variant.eq_ignore_ascii_case("baseline") {
                    " (baseline)"
                } else {
                    ""
                };
                let (peak, at, p99) = match &v.peak {
                    Some(p) => (
                        with_ci(
                            format!("{} {}", fmt_throughput(p.throughput), c.metric.throughput_unit()),
                            fmt_ci(p.throughput_ci),
                        ),
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
    }
}

/// A CPU or latency figure in a table cell: milliseconds without the unit.
fn ms_cell(v: Option<f64>) -> String {
    opt(v, |v| fmt_ms(v).trim_end_matches(" ms").to_string())
}

/// `off (baseline)` or `all_on`.
fn variant_name(v: &ServerAtLoad) -> String {
    let role = if v.is_baseline && !v.variant.eq_ignore_ascii_case("baseline") { " (baseline)" } else { "" };
    format!("{}{role}", md_escape(&v.variant))
}

/// "Where the time and CPU go": per comparison with server views, every variant at the
/// baseline's peak load: latency at the client, the ingress and the deployments, and CPU per
/// request by role; one line instead where the views are missing.
fn server_markdown(out: &mut String, comparisons: &[ComparisonSummary], show_suite: bool) {
    let with: Vec<(&ComparisonSummary, &ServerComparison)> =
        comparisons.iter().filter_map(|c| Some((c, c.server.as_ref()?))).collect();
    if with.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n## Where the time and CPU go\n");
    if with.iter().any(|(_, s)| s.has_views()) {
        let _ = writeln!(
            out,
            "Each variant at the baseline's peak load, from the server's view of the level's window (medians over \
             repeats): the client's latency against Ray Serve's at the ingress and each deployment's processing \
             time (the differences of medians are indicative: client − ingress is network, client and HAProxy; \
             ingress − processing is routing, queueing and serialization), and CPU milliseconds per successful \
             request by role.\n"
        );
    }
    for (c, s) in with {
        blank_line(out);
        let suite = if show_suite { format!("{} ", md_escape(&c.suite)) } else { String::new() };
        let title = format!(
            "{suite}{} · {}",
            md_escape(&c.comparison),
            md_escape(&workload_display_name(&c.workload))
        );
        let Some(users) = s.concurrency.filter(|_| s.label.is_some()) else {
            let why = s.note.as_deref().unwrap_or("nothing to compare");
            let _ = writeln!(out, "- {title}: no server comparison: {}.", md_escape(why));
            continue;
        };
        // Variants without a view, grouped by reason: `off, all_on: <reason>`.
        let mut missing: Vec<(String, Vec<String>)> = Vec::new();
        for v in s.variants.iter().filter(|v| !v.has_view()) {
            let why = md_escape(v.unavailable.as_deref().unwrap_or("no server view"));
            match missing.iter_mut().find(|(w, _)| *w == why) {
                Some((_, names)) => names.push(md_escape(&v.variant)),
                None => missing.push((why, vec![md_escape(&v.variant)])),
            }
        }
        let missing = missing
            .iter()
            .map(|(why, names)| format!("{}: {why}", names.join(", ")))
            .collect::<Vec<_>>()
            .join("; ");
        if !s.has_views() {
            let _ = writeln!(out, "- {title}: no server view at c={users} for {missing}.");
            continue;
        }
        let _ = writeln!(out, "### {title} at c={users}\n");
        let _ = writeln!(
            out,
            "| variant | client p50 / p99 | ingress p50 / p99 | processing p50 | client − ingress p50 | ingress − processing p50 |"
        );
        let _ = writeln!(out, "|---|---:|---:|---|---:|---:|");
        for v in s.variants.iter().filter(|v| v.has_view()) {
            let processing: Vec<String> = v
                .deployments
                .iter()
                .map(|d| format!("{} {}", md_escape(&d.name), opt(d.p50_ms, fmt_ms)))
                .collect();
            let _ = writeln!(
                out,
                "| {} | {} / {} | {} / {} | {} | {} | {} |",
                variant_name(v),
                opt(v.client_p50_ms, fmt_ms),
                opt(v.client_p99_ms, fmt_ms),
                opt(v.ingress_p50_ms, fmt_ms),
                opt(v.ingress_p99_ms, fmt_ms),
                if processing.is_empty() { "n/a".to_string() } else { processing.join(", ") },
                opt(v.outside_ingress_p50_ms(), fmt_ms),
                opt(v.in_ingress_p50_ms(), fmt_ms),
            );
        }
        let cpu: Vec<&ServerAtLoad> =
            s.variants.iter().filter(|v| !v.cpu_ms_per_request.is_empty()).collect();
        if cpu.is_empty() {
            let _ = writeln!(out, "\nNo CPU figures (the server's processes were not on this machine).");
        } else {
            let mut columns = s.roles.clone();
            if cpu.iter().any(|v| v.cpu_grouped(&s.roles).len() > s.roles.len()) {
                columns.push(OTHER_ROLE.to_string());
            }
            let heads: Vec<String> = columns.iter().map(|r| format!(" {} |", md_escape(r))).collect();
            let _ = writeln!(out, "\n| variant | CPU ms/request |{}", heads.concat());
            let _ = writeln!(out, "|---|---:|{}", "---:|".repeat(columns.len()));
            for v in &cpu {
                let grouped: BTreeMap<String, f64> = v.cpu_grouped(&s.roles).into_iter().collect();
                let cells: Vec<String> =
                    columns.iter().map(|r| format!(" {} |", ms_cell(grouped.get(r).copied()))).collect();
                let _ = writeln!(
                    out,
                    "| {} | {} |{}",
                    variant_name(v),
                    ms_cell(v.cpu_total_ms_per_request),
                    cells.concat()
                );
            }
            if let Some(base) = s.baseline().filter(|b| !b.cpu_ms_per_request.is_empty()) {
                let base_grouped: BTreeMap<String, f64> = base.cpu_grouped(&s.roles).into_iter().collect();
                for v in cpu.iter().filter(|v| !v.is_baseline) {
                    let grouped: BTreeMap<String, f64> = v.cpu_grouped(&s.roles).into_iter().collect();
                    // The role that moved the most.
                    let moved = columns
                        .iter()
                        .map(|r| {
                            let (a, b) = (
                                grouped.get(r).copied().unwrap_or(0.0),
                                base_grouped.get(r).copied().unwrap_or(0.0),
                            );
                            (r, a, b)
                        })
                        .max_by(|x, y| (x.1 - x.2).abs().total_cmp(&(y.1 - y.2).abs()));
                    blank_line(out);
                    let mut line = format!("- {}:", md_escape(&v.variant));
                    if let Some((role, a, b)) = moved {
                        line.push_str(&format!(
                            " {} of {} CPU per request against {} for the baseline ({});",
                            fmt_ms(a),
                            md_escape(role),
                            fmt_ms(b),
                            md_escape(&base.variant)
                        ));
                    }
                    // The ingress is Serve's proxy, or HAProxy in front of it: say what the
                    // whole ingress cost when HAProxy is in either variant.
                    let ingress = |m: &BTreeMap<String, f64>| {
                        ["proxy", "haproxy"].iter().filter_map(|r| m.get(*r)).sum::<f64>()
                    };
                    if v.cpu_ms_per_request.contains_key("haproxy")
                        || base.cpu_ms_per_request.contains_key("haproxy")
                    {
                        line.push_str(&format!(
                            " {} of ingress CPU (proxy and HAProxy) per request against {};",
                            fmt_ms(ingress(&v.cpu_ms_per_request)),
                            fmt_ms(ingress(&base.cpu_ms_per_request))
                        ));
                    }
                    line.push_str(&format!(
                        " {} in all against {}.",
                        opt(v.cpu_total_ms_per_request, fmt_ms),
                        opt(base.cpu_total_ms_per_request, fmt_ms)
                    ));
                    let _ = writeln!(out, "{line}");
                }
            }
        }
        if !missing.is_empty() {
            blank_line(out);
            let _ = writeln!(out, "No server view at c={users} for {missing}.");
        }
    }
}

/// Ends the Markdown so far with an empty line (a block starts after it).
fn blank_line(out: &mut String) {
    if !out.ends_with("\n\n") {
        out.push('\n');
    }
}

/// The levels of a variant: their number, and `12 (4 x 3 repeats)` when user counts were
/// measured more than once.
fn levels_text(v: &super::VariantPeak) -> String {
    let most = v.loads.iter().map(|l| l.repeats).max().unwrap_or(1);
    let fresh = if v.redeployed { ", each on fresh deployments" } else { "" };
    if most > 1 {
        format!("{} ({} x {most} repeats{fresh})", v.levels, v.loads.len())
    } else {
        v.levels.to_string()
    }
}

/// The gains at the user count a study names (`at_users`), when any does.
/// Goodput at the SLA, interpolated between the levels around it, where a comparison has one.
fn at_sla_markdown(out: &mut String, comparisons: &[ComparisonSummary], show_suite: bool) {
    let rows: Vec<(&ComparisonSummary, &super::Gain)> = comparisons
        .iter()
        .flat_map(|c| c.gains.iter().filter(|g| g.at_sla_gain.is_some()).map(move |g| (c, g)))
        .collect();
    if rows.is_empty() {
        return;
    }
    let suite_h = if show_suite { "| suite " } else { "" };
    let suite_s = if show_suite { "|---" } else { "" };
    let _ = writeln!(out, "\n### Goodput at the SLA, interpolated\n");
    let _ = writeln!(
        out,
        "Each variant's goodput at the SLA: the throughput at which its p99 reaches the SLA, on the line between \
         the last level within it and the first past it (never below the peak; the peak where no level past it \
         was measured). The peak moves a whole level when a p99 lands a few ms either side of the SLA; this moves \
         smoothly. It errs low where latency curves upward (docs/statistics.md).\n"
    );
    let _ = writeln!(
        out,
        "{suite_h}| comparison | workload | SLA (p99) | baseline | treatment | gain at the SLA |"
    );
    let _ = writeln!(out, "{suite_s}|---|---|---|---|---|---:|");
    for (c, g) in rows {
        let unit = c.metric.throughput_unit();
        let suite_cell = if show_suite { format!("| {} ", md_escape(&c.suite)) } else { String::new() };
        let sla = c.sla_ms.map(|s| format!("≤ {}", fmt_ms(s))).unwrap_or_else(|| "none".into());
        let side = |variant: &str| {
            let v = c.variants.iter().find(|v| v.variant == variant).and_then(|v| v.at_sla.as_ref());
            match v {
                Some(a) => {
                    let at = match a.between {
                        Some((lo, hi)) => format!("between c={lo} and c={hi}"),
                        None => "the peak: no crossing measured".into(),
                    };
                    format!(
                        "{}: {} ({at})",
                        md_escape(variant),
                        with_ci(format!("{} {unit}", fmt_throughput(a.throughput)), fmt_ci(a.throughput_ci))
                    )
                }
                None => format!("{}: n/a", md_escape(variant)),
            }
        };
        let gain = g
            .at_sla_gain
            .map(|v| with_ci(fmt_ratio(v), fmt_ratio_ci(g.at_sla_gain_ci)))
            .unwrap_or_else(|| "n/a".into());
        let _ = writeln!(
            out,
            "{suite_cell}| {} | {} | {sla} | {} | {} | {gain} |",
            md_escape(&c.comparison),
            md_escape(&workload_display_name(&c.workload)),
            side(&g.baseline),
            side(&g.treatment),
        );
    }
}

fn at_users_markdown(out: &mut String, comparisons: &[ComparisonSummary], show_suite: bool) {
    let rows: Vec<(&ComparisonSummary, &super::Gain, &super::AtUsers)> = comparisons
        .iter()
        .flat_map(|c| c.gains.iter().filter_map(move |g| Some((c, g, g.at_users.as_ref()?))))
        .collect();
    if rows.is_empty() {
        return;
    }
    let suite_h = if show_suite { "| suite " } else { "" };
    let suite_s = if show_suite { "|---" } else { "" };
    let _ = writeln!(out, "\n### At a fixed number of users\n");
    let _ = writeln!(
        out,
        "{suite_h}| comparison | workload | users | baseline | treatment | throughput gain | p99 |"
    );
    let _ = writeln!(out, "{suite_s}|---|---|---:|---|---|---:|---|");
    for (c, g, a) in rows {
        let unit = c.metric.throughput_unit();
        let suite_cell = if show_suite { format!("| {} ", md_escape(&c.suite)) } else { String::new() };
        let side = |variant: &str, throughput: Option<f64>, ci: Option<Interval>, p99: Option<f64>| {
            let ci = fmt_ci(ci).map(|c| format!(", {c}")).unwrap_or_default();
            match (throughput, p99) {
                (Some(t), Some(p)) => {
                    format!("{}: {} {unit} (p99 {}{ci})", md_escape(variant), fmt_throughput(t), fmt_ms(p))
                }
                (Some(t), None) if ci.is_empty() => {
                    format!("{}: {} {unit}", md_escape(variant), fmt_throughput(t))
                }
                (Some(t), None) => {
                    format!("{}: {} {unit} ({})", md_escape(variant), fmt_throughput(t), &ci[2..])
                }
                _ => format!("{}: no level at {} users", md_escape(variant), a.users),
            }
        };
        let p99 = match (a.baseline_p99_ms, a.treatment_p99_ms, a.p99_ratio) {
            (Some(b), Some(t), Some(r)) => format!("{} → {} ({})", fmt_ms(b), fmt_ms(t), fmt_ratio(r)),
            _ => "n/a".into(),
        };
        let _ = writeln!(
            out,
            "{suite_cell}| {} | {} | {} | {} | {} | {} | {p99} |",
            md_escape(&c.comparison),
            md_escape(&workload_display_name(&c.workload)),
            a.users,
            side(&g.baseline, a.baseline_throughput, a.baseline_throughput_ci, a.baseline_p99_ms),
            side(&g.treatment, a.treatment_throughput, a.treatment_throughput_ci, a.treatment_p99_ms),
            opt(a.throughput_gain, |v| with_ci(
                format!("**{}**", fmt_ratio(v)),
                fmt_ratio_ci(a.throughput_gain_ci)
            )),
        );
    }
}

/// One scaling study: every variant at every N, the ideal line, and the pair's gain at each N.
fn scaling_markdown(out: &mut String, s: &ScalingSummary, show_suite: bool) {
    let suite = if show_suite { format!("{} · ", s.suite) } else { String::new() };
    let _ = writeln!(
        out,
        "\n## Scaling: {suite}{} · {}\n",
        md_escape(&s.name),
        md_escape(&workload_display_name(&s.workload))
    );
    if let Some(d) = &s.description {
        let _ = writeln!(out, "{}\n", md_escape(d));
    }
    let unit = s.metric.throughput_unit();
    let latency = s.metric.latency_name();
    let sla = s
        .sla_ms
        .map(|v| format!("{latency} ≤ {}", fmt_ms(v)))
        .unwrap_or_else(|| "no SLA: the highest throughput".into());
    let _ = writeln!(
        out,
        "Throughput at each N = the sweep's peak ({sla}); scaling efficiency = {unit} at N / (N x {unit} at N = 1).\n"
    );
    // The study's own throughput gets a column unless it is one of the two shown anyway.
    let own = !matches!(s.metric.throughput, ThroughputKind::Requests | ThroughputKind::OutputTokens);
    let own_h = if own { format!(" {unit} |") } else { String::new() };
    let own_s = if own { "---:|" } else { "" };
    let _ = writeln!(
        out,
        "| N | variant | users | request throughput (rps) | output throughput (tokens/s) |{own_h} scaling efficiency | {latency} |"
    );
    let _ = writeln!(out, "|---:|---|---:|---:|---:|{own_s}---:|---:|");
    for p in &s.points {
        let (users, p99) = match &p.peak {
            Some(pk) => (pk.concurrency.to_string(), fmt_ms(pk.p99_ms)),
            None => (String::new(), "no level meets the SLA".into()),
        };
        let own_cell = if own {
            let ci = p.peak.as_ref().and_then(|pk| fmt_ci(pk.throughput_ci));
            format!(" {} |", with_ci(opt(p.peak.as_ref().map(|pk| pk.throughput), fmt_throughput), ci))
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "| {} | {} | {users} | {} | {} |{own_cell} {} | {p99} |",
            p.replicas,
            md_escape(&p.variant),
            opt(p.request_throughput, fmt_throughput),
            opt(p.output_throughput, fmt_throughput),
            opt(p.efficiency, |e| format!("{:.0}%", e * 100.0)),
        );
    }
    if let Some(ideal) = &s.ideal {
        let _ = writeln!(
            out,
            "\nIdeal: {} {unit} x N (the bare `{}` sweep's best, at c={}, {latency} {}).",
            fmt_throughput(ideal.best.throughput),
            md_escape(&ideal.variant),
            ideal.best.concurrency,
            fmt_ms(ideal.best.p99_ms)
        );
    }
    if s.gains.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n| N | baseline | treatment | throughput gain | {latency} fraction |");
    let _ = writeln!(out, "|---:|---|---|---:|---|");
    for g in &s.gains {
        let gain = &g.gain;
        let p99 = match (gain.baseline_p99_ms, gain.treatment_p99_ms, gain.p99_ratio) {
            (Some(b), Some(t), Some(r)) => format!("{} → {} ({})", fmt_ms(b), fmt_ms(t), fmt_ratio(r)),
            _ => "n/a".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {p99} |",
            g.replicas,
            md_escape(&gain.baseline),
            md_escape(&gain.treatment),
            opt(gain.throughput_gain, |v| with_ci(
                format!("**{}**", fmt_ratio(v)),
                fmt_ratio_ci(gain.throughput_gain_ci)
            )),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(fmt_ms(3543.7), "3,544 ms");
        assert_eq!(fmt_ms(49.71), "49.7 ms");
        let ci = Some(Interval { lo: 4.41, hi: 5.93, confidence: 0.95 });
        assert_eq!(fmt_ratio_ci(ci).as_deref(), Some("95% CI 4.4-5.9"));
        let ci = Some(Interval { lo: 780.2, hi: 845.7, confidence: 0.95 });
        assert_eq!(fmt_ci(ci).as_deref(), Some("95% CI 780-846"));
        assert_eq!(fmt_ci(None), None);
        assert_eq!(fmt_confidence(0.9), "90%");
    }
}
