//! The figures drawn against users or replicas ([`super::lines`]):
//!
//! - [`plot_by_users`]: a comparison's throughput and mean, p50 and p99 latency against users,
//!   every variant (the recsys 2 x 2);
//! - [`plot_engine`]: a bare engine sweep's TTFT and TPOT (mean, median, p99) and input and output
//!   tokens/s against concurrency (the LLM baseline's 2 x 2);
//! - [`plot_scaling`]: a scaling study's throughput against replicas N, every variant, with the
//!   bare engine's best x N as the ideal line.

use std::path::{Path, PathBuf};

use plotters::style::RGBColor;

use super::lines::{Dash, Line, LinePoint, LinesFigure, Panel};
use super::{BASELINE_COLOR, ImageFormat, TEXT_COLOR, TREATMENT_COLORS, render, role_suffix};
use crate::error::Result;
use crate::load::Loaded;
use crate::model::{MeasuredLevel, MeasuredSweep, Percentiles, TokenTotals, workload_display_name};
use crate::summary::{
    ComparisonSummary, GainBasis, LoadSummary, ScalingSummary, fmt_ms, fmt_ratio, fmt_throughput,
};

const GRID_SIZE: (u32, u32) = (1400, 1000);

/// A user count's value in a panel of [`plot_by_users`].
type LoadValue = fn(&LoadSummary) -> Option<f64>;
/// One statistic of a distribution.
type Stat = fn(Percentiles) -> Option<f64>;
const SINGLE_SIZE: (u32, u32) = (1280, 820);

/// The colour of each variant: the baseline grey, treatments in turn.
fn variant_colors(variants: &[(String, bool)]) -> Vec<RGBColor> {
    let mut next = 0;
    variants
        .iter()
        .map(|(_, is_baseline)| {
            if *is_baseline {
                BASELINE_COLOR
            } else {
                next += 1;
                TREATMENT_COLORS[(next - 1) % TREATMENT_COLORS.len()]
            }
        })
        .collect()
}

/// Closed-loop levels only: users are the x axis.
fn closed(sweep: &MeasuredSweep) -> impl Iterator<Item = &MeasuredLevel> {
    sweep.levels.iter().filter(|l| l.rate_rps.is_none())
}

/// A line of `value` against users; a user count measured more than once is drawn at the mean
/// of its repeats.
fn line_of(
    name: &str,
    color: RGBColor,
    dash: Dash,
    sweep: &MeasuredSweep,
    value: impl Fn(&MeasuredLevel) -> Option<f64>,
) -> Line {
    let mut line = Line::new(name, color, dash);
    line.markers = true;
    let mut sums: Vec<(u64, f64, usize)> = Vec::new();
    for l in closed(sweep) {
        let Some(v) = value(l) else { continue };
        match sums.iter_mut().find(|(c, _, _)| *c == l.concurrency) {
            Some(s) => {
                s.1 += v;
                s.2 += 1;
            }
            None => sums.push((l.concurrency, v, 1)),
        }
    }
    line.points = sums.into_iter().map(|(c, sum, n)| LinePoint::new(c as f64, sum / n as f64)).collect();
    line
}

/// Draws a comparison's throughput and mean, p50 and p99 latency against users (2 x 2, every
/// variant) into `<out_stem>.png` / `.svg`. Returns the files written.
pub fn plot_by_users(
    cmp: &ComparisonSummary,
    loaded: &Loaded,
    out_stem: &Path,
    formats: &[ImageFormat],
) -> Result<Vec<PathBuf>> {
    let variants: Vec<(String, bool)> =
        cmp.variants.iter().map(|v| (v.variant.clone(), v.is_baseline)).collect();
    let colors = variant_colors(&variants);
    let unit = cmp.metric.throughput_unit();
    let specs: [(&str, String, LoadValue); 4] = [
        ("Throughput", unit.to_string(), |l| l.throughput),
        ("Mean latency", "ms".into(), |l| l.latency_ms.mean),
        ("p50 latency", "ms".into(), |l| l.latency_ms.p50),
        ("p99 latency", "ms".into(), |l| l.latency_ms.p99),
    ];
    let panels = specs
        .iter()
        .enumerate()
        .map(|(i, (title, y_unit, value))| Panel {
            title: (*title).to_string(),
            x_desc: "users".into(),
            y_desc: format!("{} ({y_unit})", title.to_lowercase()),
            x_linear: false,
            lines: cmp
                .variants
                .iter()
                .zip(&colors)
                .filter(|(v, _)| loaded.sweeps.get(v.sweep).is_some())
                .map(|(v, color)| {
                    let role = role_suffix(&v.variant, v.is_baseline);
                    let mut line = Line::new(format!("{}{role}", v.variant), *color, Dash::Solid);
                    line.markers = true;
                    // The user counts (repeats combined); the throughput with its interval.
                    line.points = v
                        .loads
                        .iter()
                        .filter(|l| l.rate_rps.is_none())
                        .filter_map(|l| {
                            let mut p = LinePoint::new(l.concurrency as f64, value(l)?);
                            if i == 0 {
                                p.range = l.throughput_ci.map(|c| (c.lo, c.hi));
                            }
                            Some(p)
                        })
                        .collect();
                    line
                })
                .collect(),
        })
        .collect();
    let headline = cmp
        .gains
        .iter()
        .filter_map(|g| {
            if let Some(a) = &g.at_users {
                let gain = a.throughput_gain?;
                let p99 = a.p99_ratio.map(|r| format!(", p99 {}", fmt_ratio(r))).unwrap_or_default();
                return Some(format!(
                    "{} vs {} at {} users: {}{p99}",
                    g.treatment,
                    g.baseline,
                    a.users,
                    fmt_ratio(gain)
                ));
            }
            let h = g.headline_gain()?;
            let gain = h.gain;
            let sla = match (cmp.sla_ms, h.basis) {
                (Some(s), GainBasis::AtSla) => format!("goodput at p99 = {} (interpolated)", fmt_ms(s)),
                (Some(s), GainBasis::Peak) => format!("peak goodput within p99 ≤ {}", fmt_ms(s)),
                (None, _) => "highest throughput (no SLA)".into(),
            };
            let p99 = match (g.p99_ratio, g.at_concurrency) {
                (Some(r), Some(c)) => format!(", p99 {} at {c} users", fmt_ratio(r)),
                _ => String::new(),
            };
            Some(format!("{} vs {}: {sla} {}{p99}", g.treatment, g.baseline, fmt_ratio(gain)))
        })
        .collect::<Vec<_>>()
        .join("; ");
    let mut subtitle = format!("suite {}", cmp.suite);
    if !headline.is_empty() {
        subtitle = format!("{subtitle} · {headline}");
    }
    let figure = LinesFigure {
        title: format!(
            "{} · {}: throughput and latency against users",
            cmp.comparison,
            workload_display_name(&cmp.workload)
        ),
        subtitle,
        cols: 2,
        size: GRID_SIZE,
        panels,
    };
    render(&figure, out_stem, formats)
}

/// Draws a bare engine sweep (LLM): TTFT and TPOT (mean, median, p99) and input and output
/// tokens/s against concurrency (2 x 2) into `<out_stem>.png` / `.svg`. Returns the files written.
pub fn plot_engine(sweep: &MeasuredSweep, out_stem: &Path, formats: &[ImageFormat]) -> Result<Vec<PathBuf>> {
    let stat_lines = |pick: fn(&MeasuredLevel) -> Percentiles| {
        let specs: [(&str, RGBColor, Dash, Stat); 3] = [
            ("mean", TREATMENT_COLORS[0], Dash::Solid, |p| p.mean),
            ("median", TREATMENT_COLORS[2], Dash::Dashed, |p| p.p50),
            ("p99", TREATMENT_COLORS[1], Dash::Dotted, |p| p.p99),
        ];
        specs
            .into_iter()
            .map(|(name, color, dash, stat)| line_of(name, color, dash, sweep, |l| stat(pick(l))))
            .filter(|l| !l.points.is_empty())
            .collect::<Vec<_>>()
    };
    let tokens = |name: &str, color: RGBColor, f: fn(&TokenTotals) -> f64| {
        vec![line_of(name, color, Dash::Solid, sweep, |l| l.tokens.as_ref().map(f))]
    };
    let panels = vec![
        Panel {
            title: "Time to first token".into(),
            x_desc: "concurrency (users)".into(),
            y_desc: "TTFT (ms)".into(),
            x_linear: false,
            lines: stat_lines(|l| l.first_event_ms),
        },
        Panel {
            title: "Time per output token".into(),
            x_desc: "concurrency (users)".into(),
            y_desc: "TPOT (ms)".into(),
            x_linear: false,
            lines: stat_lines(|l| l.tpot_ms),
        },
        Panel {
            title: "Input throughput".into(),
            x_desc: "concurrency (users)".into(),
            y_desc: "input tokens/s".into(),
            x_linear: false,
            lines: tokens("input tokens/s", TREATMENT_COLORS[4], |t| t.input_per_s),
        },
        Panel {
            title: "Output throughput".into(),
            x_desc: "concurrency (users)".into(),
            y_desc: "output tokens/s".into(),
            x_linear: false,
            lines: tokens("output tokens/s", TREATMENT_COLORS[3], |t| t.output_per_s),
        },
    ];
    let best = closed(sweep)
        .filter_map(|l| Some((l.tokens?.output_per_s, l.concurrency)))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let mut subtitle = format!("suite {} · bare engine, no Ray Serve", sweep.suite);
    if let Some((tok, c)) = best {
        subtitle = format!("{subtitle} · best output {} tokens/s at c={c}", fmt_throughput(tok));
    }
    let figure = LinesFigure {
        title: format!(
            "{} · {}: latency and throughput against concurrency",
            sweep.variant,
            workload_display_name(&sweep.workload)
        ),
        subtitle,
        cols: 2,
        size: GRID_SIZE,
        panels,
    };
    render(&figure, out_stem, formats)
}

/// Draws a scaling study: throughput against replicas N for every variant (points labelled with
/// their throughput and scaling efficiency), and the bare engine's best x N dashed as the ideal,
/// into `<out_stem>.png` / `.svg`. Returns the files written.
pub fn plot_scaling(s: &ScalingSummary, out_stem: &Path, formats: &[ImageFormat]) -> Result<Vec<PathBuf>> {
    let unit = s.metric.throughput_unit();
    let variants: Vec<(String, bool)> =
        s.variants.iter().map(|v| (v.clone(), s.pair.as_ref().is_some_and(|(b, _)| b == v))).collect();
    let colors = variant_colors(&variants);
    let mut lines: Vec<Line> = Vec::new();
    for ((variant, is_baseline), color) in variants.iter().zip(colors) {
        let points: Vec<_> = s.points.iter().filter(|p| &p.variant == variant).collect();
        if points.is_empty() {
            continue;
        }
        let role = role_suffix(variant, *is_baseline);
        let mut line = Line::new(format!("{variant}{role}"), color, Dash::Solid);
        line.points = points
            .iter()
            .filter_map(|p| {
                let peak = p.peak.as_ref()?;
                let t = peak.throughput;
                let eff = p.efficiency.filter(|_| p.replicas > 1).map(|e| format!(" ({:.0}%)", e * 100.0));
                Some(LinePoint {
                    x: f64::from(p.replicas),
                    y: t,
                    label: Some(format!("{}{}", fmt_throughput(t), eff.unwrap_or_default())),
                    range: peak.throughput_ci.map(|c| (c.lo, c.hi)),
                })
            })
            .collect();
        lines.push(line);
    }
    let mut ns: Vec<u32> = s.points.iter().map(|p| p.replicas).collect();
    ns.sort_unstable();
    ns.dedup();
    if let Some(ideal) = &s.ideal {
        let mut line = Line::new(
            format!(
                "ideal: N x best of the bare engine ({}, {} {unit} at c={})",
                ideal.variant,
                fmt_throughput(ideal.best.throughput),
                ideal.best.concurrency
            ),
            TEXT_COLOR,
            Dash::Dashed,
        );
        line.points =
            ns.iter().map(|&n| LinePoint::new(f64::from(n), ideal.best.throughput * f64::from(n))).collect();
        lines.push(line);
    }
    let headline = s.headline().map(|g| {
        let p99 = g
            .gain
            .p99_ratio
            .map(|r| format!(", {} {}", s.metric.latency_name(), fmt_ratio(r)))
            .unwrap_or_default();
        format!(
            "{} vs {} at N={}: {} throughput{p99}",
            g.gain.treatment,
            g.gain.baseline,
            g.replicas,
            fmt_ratio(g.gain.throughput_gain.unwrap_or(f64::NAN))
        )
    });
    let sla = s
        .sla_ms
        .map(|v| format!("peak within {} ≤ {}", s.metric.latency_name(), fmt_ms(v)))
        .unwrap_or_else(|| "highest throughput of each N".into());
    let mut subtitle = format!("suite {} · {sla} · (%) scaling efficiency vs N = 1", s.suite);
    if let Some(h) = headline {
        subtitle = format!("{subtitle} · {h}");
    }
    let figure = LinesFigure {
        title: format!("{} · {}: throughput against replicas", s.name, workload_display_name(&s.workload)),
        subtitle,
        cols: 1,
        size: SINGLE_SIZE,
        panels: vec![Panel {
            title: String::new(),
            x_desc: "replicas (N)".into(),
            y_desc: format!("throughput ({unit})"),
            x_linear: true,
            lines,
        }],
    };
    render(&figure, out_stem, formats)
}
