//! Goodput against p99 latency for one comparison on one workload: one line per variant, every
//! user count a point labelled with its concurrency (its repeats combined: mean throughput,
//! median p99; hollow when it may not count as a peak), a vertical error bar for the interval of
//! its mean throughput when it has one, the SLA as a dashed line with the region beyond it shaded,
//! each variant's peak ringed, and the gain the summary leads with as an arrow with its value (and
//! interval) written on it: between the variants' goodputs at the SLA (diamonds on the SLA line,
//! interpolated between the levels around it), or from the baseline's peak to the treatment's.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use super::axis::{Axis, Ticked};
use super::layout::{Layout, Rect};
use super::text::Label;
use super::{
    BASELINE_COLOR, DrawResult, Figure, ImageFormat, MUTED_TEXT, TEXT_COLOR, TREATMENT_COLORS, bold_style,
    de, render, text_style,
};
use crate::error::Result;
use crate::load::Loaded;
use crate::model::Exclusion;
use crate::model::workload_display_name;
use crate::summary::{
    ComparisonSummary, Criteria, GainBasis, fmt_ci, fmt_ms, fmt_ratio, fmt_ratio_ci, fmt_throughput,
};

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 820;
const MARKER: i32 = 5;
const PEAK_RING: i32 = 10;
/// Half the width of an error bar's caps, in pixels.
const BAR_CAP: f64 = 5.0;

#[derive(Debug, Clone)]
struct Point {
    latency_ms: f64,
    throughput: f64,
    /// The interval of the mean throughput, when there is one.
    range: Option<(f64, f64)>,
    label: String,
    excluded: bool,
    peak: bool,
}

#[derive(Debug, Clone)]
struct Series {
    legend: String,
    color: RGBColor,
    points: Vec<Point>,
}

#[derive(Debug, Clone)]
struct Arrow {
    from: (f64, f64),
    to: (f64, f64),
    text: String,
    color: RGBColor,
    /// Whether to mark each end (from, to): a goodput at the SLA interpolated on the SLA line, not
    /// a measured level (where there is no crossing it is the peak, already ringed).
    marks: [bool; 2],
}

#[derive(Debug, Clone)]
struct ComparisonFigure {
    title: String,
    subtitle: String,
    /// Name and unit.
    x_desc: (String, String),
    y_desc: (String, String),
    series: Vec<Series>,
    sla_ms: Option<f64>,
    arrows: Vec<Arrow>,
    excluded_note: Option<String>,
    /// The legend's line for the error bars, when some point has one.
    bars_note: Option<String>,
}

/// Draws goodput against p99 latency for one comparison (`cmp`, from [`crate::summarize`] over
/// `loaded`, which supplies the levels) into `<out_stem>.png` / `.svg`. Returns the files written.
pub fn plot_comparison(
    cmp: &ComparisonSummary,
    loaded: &Loaded,
    criteria: &Criteria,
    out_stem: &Path,
    formats: &[ImageFormat],
) -> Result<Vec<PathBuf>> {
    render(&build(cmp, loaded, criteria), out_stem, formats)
}

fn build(cmp: &ComparisonSummary, loaded: &Loaded, criteria: &Criteria) -> ComparisonFigure {
    let unit = cmp.metric.throughput_unit();
    let mut series = Vec::new();
    let mut treatment_index = 0;
    for v in &cmp.variants {
        let color = if v.is_baseline {
            BASELINE_COLOR
        } else {
            let c = TREATMENT_COLORS[treatment_index % TREATMENT_COLORS.len()];
            treatment_index += 1;
            c
        };
        let excluded = |label: &str| {
            cmp.excluded
                .iter()
                .any(|e| e.variant == v.variant && crate::model::split_repeat_label(&e.label).0 == label)
        };
        let points: Vec<Point> = v
            .loads
            .iter()
            .filter_map(|l| {
                Some(Point {
                    latency_ms: l.p99_ms?,
                    throughput: l.throughput?,
                    range: l.throughput_ci.map(|c| (c.lo, c.hi)),
                    label: if l.rate_rps.is_some() { l.label.clone() } else { l.concurrency.to_string() },
                    excluded: excluded(&l.label),
                    peak: l.peak,
                })
            })
            .collect();
        let role = super::role_suffix(&v.variant, v.is_baseline);
        let repeats = loaded.sweeps.get(v.sweep).and_then(|s| s.repeats).filter(|r| *r > 1);
        let repeats = repeats.map(|r| format!(", {r} repeats")).unwrap_or_default();
        let legend = match &v.peak {
            Some(p) => {
                let ci = fmt_ci(p.throughput_ci).map(|c| format!(" ({c})")).unwrap_or_default();
                format!(
                    "{}{role}: peak {} {unit}{ci} at c={}, p99 {}{repeats}",
                    v.variant,
                    fmt_throughput(p.throughput),
                    p.concurrency,
                    fmt_ms(p.p99_ms)
                )
            }
            None => format!("{}{role}: no level meets the SLA{repeats}", v.variant),
        };
        series.push(Series { legend, color, points });
    }

    let single = cmp.gains.len() == 1;
    // Where a variant's leading figure sits: its goodput at the SLA (on the SLA line where a
    // crossing was measured; its peak otherwise), or its peak.
    // Whether it is a goodput at the SLA interpolated on the SLA line (marked with a diamond).
    let point_of = |variant: &str, basis: GainBasis| -> Option<((f64, f64), bool)> {
        let v = cmp.variants.iter().find(|v| v.variant == variant)?;
        let peak = v.peak.as_ref()?;
        match (basis, &v.at_sla, cmp.sla_ms) {
            (GainBasis::AtSla, Some(a), Some(sla)) if a.between.is_some() => {
                Some(((sla, a.throughput), true))
            }
            _ => Some(((peak.p99_ms, peak.throughput), false)),
        }
    };
    let arrows = cmp
        .gains
        .iter()
        .filter_map(|g| {
            let h = g.headline_gain()?;
            let (from, from_mark) = point_of(&g.baseline, h.basis)?;
            let (to, to_mark) = point_of(&g.treatment, h.basis)?;
            let color = series
                .iter()
                .zip(&cmp.variants)
                .find(|(_, v)| v.variant == g.treatment)
                .map(|(s, _)| s.color)
                .unwrap_or(TREATMENT_COLORS[0]);
            let mut text = fmt_ratio(h.gain);
            if let Some(ci) = fmt_ratio_ci(h.ci) {
                text = format!("{text} ({ci})");
            }
            Some(Arrow {
                from,
                to,
                text: if single { text } else { format!("{}: {text}", g.treatment) },
                color,
                marks: [from_mark, to_mark],
            })
        })
        .collect();

    let sla_text = cmp
        .sla_ms
        .map(|s| format!("{} ≤ {}", cmp.metric.latency_name(), fmt_ms(s)))
        .unwrap_or_else(|| "no SLA".into());
    let value_of = |variant: &str, basis: GainBasis| -> Option<f64> {
        let v = cmp.variants.iter().find(|v| v.variant == variant)?;
        match basis {
            GainBasis::AtSla => v.at_sla.as_ref().map(|a| a.throughput),
            GainBasis::Peak => v.peak.as_ref().map(|p| p.throughput),
        }
    };
    let mut basis_used = None;
    let headline = cmp
        .gains
        .iter()
        .filter_map(|g| {
            let h = g.headline_gain()?;
            basis_used.get_or_insert(h.basis);
            let ci = fmt_ratio_ci(h.ci).map(|c| format!(", {c}")).unwrap_or_default();
            // The other gain beside the leading one.
            let other = match h.basis {
                GainBasis::AtSla => g.throughput_gain.map(|p| format!("; peaks {}", fmt_ratio(p))),
                GainBasis::Peak => g.at_sla_gain.map(|a| format!("; at the SLA {}", fmt_ratio(a))),
            }
            .unwrap_or_default();
            Some(format!(
                "{} {} → {} {} {unit} ({}{ci}{other})",
                g.baseline,
                fmt_throughput(value_of(&g.baseline, h.basis)?),
                g.treatment,
                fmt_throughput(value_of(&g.treatment, h.basis)?),
                fmt_ratio(h.gain)
            ))
        })
        .collect::<Vec<_>>()
        .join("; ");
    let peak_text = match (cmp.sla_ms, basis_used) {
        (Some(_), Some(GainBasis::AtSla)) => format!("goodput at {sla_text}, interpolated"),
        (Some(_), _) => format!("peak goodput at {sla_text}"),
        (None, _) => "highest throughput (no SLA)".to_string(),
    };
    let subtitle = if headline.is_empty() {
        format!("suite {} · {peak_text}", cmp.suite)
    } else {
        format!("suite {} · {peak_text}: {headline}", cmp.suite)
    };
    // The hollow markers' legend names the reasons that occur, in a fixed order.
    let mut kinds: Vec<String> = Vec::new();
    let has = |f: fn(&Exclusion) -> bool| cmp.excluded.iter().any(|e| f(&e.reason));
    if has(|r| matches!(r, Exclusion::ClientBound)) {
        kinds.push("client-bound".into());
    }
    if has(|r| matches!(r, Exclusion::Errors(_))) {
        kinds.push(format!("> {}% errors", (criteria.max_error_rate * 100.0 * 100.0).round() / 100.0));
    }
    if has(|r| matches!(r, Exclusion::Unstable(_))) {
        kinds.push("unstable".into());
    }
    if has(|r| matches!(r, Exclusion::Invalid(_))) {
        kinds.push("invalid".into());
    }
    if has(|r| matches!(r, Exclusion::Scout)) {
        kinds.push("scouted only".into());
    }
    let excluded_note = (!kinds.is_empty()).then(|| {
        let any_repeats = cmp.variants.iter().any(|v| v.loads.iter().any(|l| l.repeats > 1));
        let which = if any_repeats { " (in some repeat)" } else { "" };
        let joined = match kinds.len() {
            1 => kinds[0].clone(),
            n => format!("{} or {}", kinds[..n - 1].join(", "), kinds[n - 1]),
        };
        format!("hollow: {joined}{which}, not a peak")
    });
    let confidence =
        cmp.variants.iter().flat_map(|v| &v.loads).find_map(|l| l.throughput_ci).map(|c| c.confidence);
    let bars_note = confidence.map(|c| {
        format!(
            "bars: {} CI of the mean throughput (repeats, per-second blocks)",
            crate::summary::fmt_confidence(c)
        )
    });
    ComparisonFigure {
        title: format!(
            "{} · {}: goodput vs {}",
            cmp.comparison,
            workload_display_name(&cmp.workload),
            cmp.metric.latency_name()
        ),
        subtitle,
        x_desc: (cmp.metric.latency_name().to_string(), "ms".to_string()),
        y_desc: ("goodput".to_string(), unit.to_string()),
        series,
        sla_ms: cmp.sla_ms,
        arrows,
        excluded_note,
        bars_note,
    }
}

/// How a legend row is marked.
#[derive(Debug, Clone, Copy)]
enum Mark {
    Series(RGBColor),
    Peak,
    Diamond,
    Hollow,
    Bar,
    None,
}

/// A text placed by the layout.
#[derive(Debug, Clone)]
struct Placed {
    label: Label,
    rect: Rect,
    pad: f64,
    bg: f64,
}

#[derive(Debug, Clone, Copy)]
struct ArrowGeometry {
    start: (f64, f64),
    tip: (f64, f64),
    normal: (f64, f64),
}

/// Where everything goes, computed before anything is drawn.
#[derive(Debug, Clone)]
struct Plan {
    bounds: Rect,
    /// Per series: (index of the point, pixel position) of the points that can be shown.
    pixels: Vec<Vec<(usize, (f64, f64))>>,
    /// Per series: the error bars (x, top y, bottom y) in pixels.
    bars: Vec<Vec<(f64, f64, f64)>>,
    arrows: Vec<Option<ArrowGeometry>>,
    /// Per arrow: its ends in pixels, where both are on the chart.
    ends: Vec<Option<[(f64, f64); 2]>>,
    sla_px: Option<f64>,
    legend: Rect,
    legend_free: bool,
    texts: Vec<Placed>,
}

const LEGEND_TEXT: f64 = 14.0;
const LEGEND_ROW: f64 = 24.0;
const LEGEND_SWATCH: f64 = 34.0;
const LEGEND_PAD: f64 = 10.0;
const LEGEND_INSET: f64 = 12.0;

fn axis_desc(axis: &Axis, (name, unit): &(String, String)) -> String {
    if axis.log { format!("{name} ({unit}, log scale)") } else { format!("{name} ({unit})") }
}

fn build_chart<'a, DB: DrawingBackend>(
    body: &'a DrawingArea<DB, Shift>,
    x: &Axis,
    y: &Axis,
) -> DrawResult<ChartContext<'a, DB, Cartesian2d<Ticked, Ticked>>> {
    ChartBuilder::on(body)
        .x_label_area_size(58)
        .y_label_area_size(86)
        .build_cartesian_2d(x.coord(), y.coord())
        .map_err(de)
}

impl Figure for ComparisonFigure {
    fn size(&self) -> (u32, u32) {
        (WIDTH, HEIGHT)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        root.fill(&WHITE).map_err(de)?;
        let title = Label::new(root, &self.title, bold_style(24.0, TEXT_COLOR), 24.0)?;
        title.draw_in(root, title.rect_at(24.0, 12.0, 0.0), 0.0, 0.0)?;
        let subtitle = Label::new(root, &self.subtitle, text_style(16.0, MUTED_TEXT), 16.0)?;
        subtitle.draw_in(root, subtitle.rect_at(24.0, 46.0, 0.0), 0.0, 0.0)?;

        let latencies: Vec<f64> = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.latency_ms))
            .chain(self.sla_ms)
            .collect();
        let throughputs: Vec<f64> = self
            .series
            .iter()
            .flat_map(|s| {
                s.points.iter().flat_map(|p| [Some(p.throughput), p.range.map(|r| r.0), p.range.map(|r| r.1)])
            })
            .flatten()
            .collect();
        let x = Axis::fit(&latencies, false);
        let y_data = Axis::fit(&throughputs, true);
        let legend = self.legend_rows(root)?;
        let legend_size = legend_size(&legend);

        let body = root.margin(84, 12, 16, 28);
        let mut y = y_data.clone().with_headroom(0.06);
        let mut plan = self.plan(root, &body, &x, &y, legend_size)?;
        if !plan.legend_free {
            // No empty corner: make an empty band at the top for the legend.
            let plot_h = plan.bounds.y1 - plan.bounds.y0;
            let band = legend_size.1 + 2.0 * LEGEND_INSET + 6.0;
            let fraction = band / (plot_h - band).max(1.0);
            y = y_data.with_headroom(fraction + 0.06);
            plan = self.plan(root, &body, &x, &y, legend_size)?;
        }
        self.draw_plan(root, &body, &x, &y, &plan, &legend)
    }
}

fn legend_size(rows: &[(Mark, Label)]) -> (f64, f64) {
    let text = rows.iter().map(|(_, l)| l.width).fold(0.0, f64::max);
    (text + LEGEND_SWATCH + 2.0 * LEGEND_PAD + 6.0, rows.len() as f64 * LEGEND_ROW + 2.0 * LEGEND_PAD - 4.0)
}

impl ComparisonFigure {
    fn shown<'a>(
        &'a self,
        x: &'a Axis,
        y: &'a Axis,
        s: &'a Series,
    ) -> impl Iterator<Item = (usize, &'a Point)> {
        s.points.iter().enumerate().filter(|(_, p)| x.shows(p.latency_ms) && y.shows(p.throughput))
    }

    fn legend_rows<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> DrawResult<Vec<(Mark, Label)>> {
        let mut rows = Vec::new();
        for s in &self.series {
            rows.push((
                Mark::Series(s.color),
                Label::new(root, &s.legend, text_style(LEGEND_TEXT, TEXT_COLOR), LEGEND_TEXT)?,
            ));
        }
        let muted = |text: &str| Label::new(root, text, text_style(LEGEND_TEXT, MUTED_TEXT), LEGEND_TEXT);
        let ringed = if self.sla_ms.is_some() {
            "ringed: peak goodput within the SLA"
        } else {
            "ringed: highest throughput (no SLA)"
        };
        rows.push((Mark::Peak, muted(ringed)?));
        if self.arrows.iter().any(|a| a.marks.contains(&true)) {
            rows.push((
                Mark::Diamond,
                muted("diamonds: goodput at the SLA, interpolated; the arrow: their gain")?,
            ));
        }
        if let Some(note) = &self.excluded_note {
            rows.push((Mark::Hollow, muted(note)?));
        }
        if let Some(note) = &self.bars_note {
            rows.push((Mark::Bar, muted(note)?));
        }
        rows.push((Mark::None, muted("numbers at points: concurrency (users)")?));
        Ok(rows)
    }

    /// Lays out every mark and text for the axes `x`, `y` without drawing anything.
    fn plan<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        body: &DrawingArea<DB, Shift>,
        x: &Axis,
        y: &Axis,
        legend_size: (f64, f64),
    ) -> DrawResult<Plan> {
        let chart = build_chart(body, x, y)?;
        let (x_px, y_px) = chart.plotting_area().get_pixel_range();
        let bounds = Rect {
            x0: f64::from(x_px.start),
            y0: f64::from(y_px.start),
            x1: f64::from(x_px.end),
            y1: f64::from(y_px.end),
        };
        let to_px = |lat: f64, thr: f64| -> (f64, f64) {
            let (px, py) = chart.backend_coord(&(x.axis_t(lat), y.axis_t(thr)));
            (f64::from(px), f64::from(py))
        };
        let mut layout = Layout::new(bounds.grow(-2.0));
        let mut texts = Vec::new();

        // Markers and lines.
        let mut pixels = Vec::new();
        for s in &self.series {
            let px: Vec<(usize, (f64, f64))> =
                self.shown(x, y, s).map(|(i, p)| (i, to_px(p.latency_ms, p.throughput))).collect();
            for &(i, (cx, cy)) in &px {
                let r = if s.points[i].peak { PEAK_RING + 2 } else { MARKER + 2 };
                layout.block(Rect::around(cx, cy, f64::from(r)));
                if let Some((lo, hi)) = s.points[i].range {
                    let (top, bottom) =
                        (to_px(s.points[i].latency_ms, hi).1, to_px(s.points[i].latency_ms, lo).1);
                    layout.block(Rect {
                        x0: cx - BAR_CAP - 1.0,
                        y0: top - 1.0,
                        x1: cx + BAR_CAP + 1.0,
                        y1: bottom + 1.0,
                    });
                }
            }
            for w in px.windows(2) {
                layout.soft_line(w[0].1, w[1].1);
            }
            pixels.push(px);
        }

        // The SLA line.
        let sla_px = self.sla_ms.filter(|s| x.shows(*s)).map(|sla| to_px(sla, y.hi).0);
        if let Some(sx) = sla_px {
            layout.hard_line((sx, bounds.y0), (sx, bounds.y1));
        }

        // Arrows.
        let mut arrows = Vec::new();
        let bars: Vec<Vec<(f64, f64, f64)>> = self
            .series
            .iter()
            .zip(&pixels)
            .map(|(s, px)| {
                px.iter()
                    .filter_map(|&(i, (cx, _))| {
                        let p = &s.points[i];
                        let (lo, hi) = p.range?;
                        Some((cx, to_px(p.latency_ms, hi).1, to_px(p.latency_ms, lo).1))
                    })
                    .collect()
            })
            .collect();
        let mut ends = Vec::new();
        for a in &self.arrows {
            let on_chart = |(lat, thr): (f64, f64)| x.shows(lat) && y.shows(thr);
            ends.push(
                (on_chart(a.from) && on_chart(a.to))
                    .then(|| [to_px(a.from.0, a.from.1), to_px(a.to.0, a.to.1)]),
            );
            let from = to_px(a.from.0, a.from.1);
            let to = to_px(a.to.0, a.to.1);
            let (dx, dy) = (to.0 - from.0, to.1 - from.1);
            let len = (dx * dx + dy * dy).sqrt();
            if len < 2.0 * f64::from(PEAK_RING) + 20.0 {
                arrows.push(None);
                continue;
            }
            let (ux, uy) = (dx / len, dy / len);
            let gap = f64::from(PEAK_RING) + 4.0;
            let start = (from.0 + ux * gap, from.1 + uy * gap);
            let tip = (to.0 - ux * gap, to.1 - uy * gap);
            layout.hard_line(start, tip);
            arrows.push(Some(ArrowGeometry { start, tip, normal: (-uy, ux) }));
        }

        // The legend: an empty corner or edge, if there is one.
        let (w, h) = legend_size;
        let (l, r, t, b) = (
            bounds.x0 + LEGEND_INSET,
            bounds.x1 - LEGEND_INSET - w,
            bounds.y0 + LEGEND_INSET,
            bounds.y1 - LEGEND_INSET - h,
        );
        let mid = (l + r) / 2.0;
        let mut candidates = vec![
            Rect::new(l, t, w, h),
            Rect::new(r, t, w, h),
            Rect::new(r, b, w, h),
            Rect::new(l, b, w, h),
            Rect::new(mid, t, w, h),
            Rect::new(mid, b, w, h),
        ];
        let steps = 8;
        for i in 0..=steps {
            let xx = l + (r - l) * f64::from(i) / f64::from(steps);
            candidates.push(Rect::new(xx, t, w, h));
            candidates.push(Rect::new(xx, b, w, h));
        }
        let free = candidates.iter().find(|c| layout.is_free(&c.grow(6.0))).copied();
        let legend = free.unwrap_or_else(|| {
            candidates.iter().min_by_key(|c| layout.conflicts(c)).copied().unwrap_or(candidates[0])
        });
        layout.block(legend);

        // Gain labels beside their arrows.
        for (a, geometry) in self.arrows.iter().zip(&arrows) {
            let Some(g) = geometry else { continue };
            let label = Label::new(root, &a.text, bold_style(28.0, a.color), 28.0)?;
            let pad = 4.0;
            let (w, h) = (label.width + 2.0 * pad, label.height + 2.0 * pad);
            let (nx, ny) = g.normal;
            let mut candidates = Vec::new();
            for t in [0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8] {
                let m = (g.start.0 + (g.tip.0 - g.start.0) * t, g.start.1 + (g.tip.1 - g.start.1) * t);
                for dist in [14.0, 30.0, 50.0] {
                    for side in [1.0, -1.0] {
                        // The box's nearest edge sits about `dist` away from the arrow.
                        let off = dist + w / 2.0 * nx.abs() + h / 2.0 * ny.abs();
                        let (cx, cy) = (m.0 + nx * side * off, m.1 + ny * side * off);
                        candidates.push(Rect::new(cx - w / 2.0, cy - h / 2.0, w, h));
                    }
                }
            }
            if let Some(rect) = layout.place(&candidates) {
                texts.push(Placed { label, rect, pad, bg: 0.85 });
            }
        }

        // The SLA's label, near the top of its line (or the bottom).
        if let (Some(sx), Some(sla)) = (sla_px, self.sla_ms) {
            let label = Label::new(
                root,
                format!("SLA {}", fmt_ms(sla)),
                bold_style(15.0, RGBColor(170, 30, 30)),
                15.0,
            )?;
            let pad = 3.0;
            let (w, h) = (label.width + 2.0 * pad, label.height + 2.0 * pad);
            let mut candidates = Vec::new();
            for dy in [6.0, 30.0, 54.0, 78.0, 102.0] {
                candidates.push(Rect::new(sx + 6.0, bounds.y0 + dy, w, h));
                candidates.push(Rect::new(sx - 6.0 - w, bounds.y0 + dy, w, h));
            }
            for dy in [6.0, 30.0, 54.0] {
                candidates.push(Rect::new(sx + 6.0, bounds.y1 - dy - h, w, h));
                candidates.push(Rect::new(sx - 6.0 - w, bounds.y1 - dy - h, w, h));
            }
            if let Some(rect) = layout.place(&candidates) {
                texts.push(Placed { label, rect, pad, bg: 0.85 });
            }
        }

        // Point labels: peaks first, then the rest.
        for peak_pass in [true, false] {
            for (s, px) in self.series.iter().zip(&pixels) {
                for &(i, (cx, cy)) in px {
                    let p = &s.points[i];
                    if p.peak != peak_pass {
                        continue;
                    }
                    let (style, size) = if p.peak {
                        (bold_style(14.0, darker(s.color)), 14.0)
                    } else {
                        (text_style(13.0, darker(s.color)), 13.0)
                    };
                    let label = Label::new(root, &p.label, style, size)?;
                    let pad = 1.5;
                    let (w, h) = (label.width + 2.0 * pad, label.height + 2.0 * pad);
                    let r = f64::from(if p.peak { PEAK_RING } else { MARKER }) + 3.0;
                    let mut candidates = Vec::new();
                    for k in [1.0, 2.2] {
                        let d = r * k;
                        candidates.extend([
                            Rect::new(cx + d, cy - h / 2.0, w, h),
                            Rect::new(cx - d - w, cy - h / 2.0, w, h),
                            Rect::new(cx - w / 2.0, cy - d - h, w, h),
                            Rect::new(cx - w / 2.0, cy + d, w, h),
                            Rect::new(cx + d * 0.7, cy - d * 0.7 - h, w, h),
                            Rect::new(cx + d * 0.7, cy + d * 0.7, w, h),
                            Rect::new(cx - d * 0.7 - w, cy - d * 0.7 - h, w, h),
                            Rect::new(cx - d * 0.7 - w, cy + d * 0.7, w, h),
                        ]);
                    }
                    if let Some(rect) = layout.place(&candidates) {
                        texts.push(Placed { label, rect, pad, bg: 0.7 });
                    }
                }
            }
        }
        Ok(Plan { bounds, pixels, bars, arrows, ends, sla_px, legend, legend_free: free.is_some(), texts })
    }

    fn draw_plan<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        body: &DrawingArea<DB, Shift>,
        x: &Axis,
        y: &Axis,
        plan: &Plan,
        legend: &[(Mark, Label)],
    ) -> DrawResult {
        let mut chart = build_chart(body, x, y)?;
        let x_fmt = |t: &f64| Axis::format(x.value_of(*t));
        let y_fmt = |t: &f64| Axis::format(y.value_of(*t));
        chart
            .configure_mesh()
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .x_desc(axis_desc(x, &self.x_desc))
            .y_desc(axis_desc(y, &self.y_desc))
            .label_style(text_style(15.0, TEXT_COLOR))
            .axis_desc_style(text_style(17.0, TEXT_COLOR))
            .bold_line_style(BLACK.mix(0.12))
            .light_line_style(BLACK.mix(0.04))
            .axis_style(BLACK.mix(0.6))
            .draw()
            .map_err(de)?;
        let b = plan.bounds;
        let px = |p: (f64, f64)| (p.0.round() as i32, p.1.round() as i32);

        // The SLA: the region beyond it shaded, the limit dashed.
        if let Some(sx) = plan.sla_px {
            root.draw(&Rectangle::new(
                [px((sx, b.y0)), px((b.x1, b.y1))],
                RGBColor(200, 40, 40).mix(0.05).filled(),
            ))
            .map_err(de)?;
            let mut yy = b.y0;
            while yy < b.y1 {
                root.draw(&PathElement::new(
                    vec![px((sx, yy)), px((sx, (yy + 8.0).min(b.y1)))],
                    RGBColor(180, 40, 40).stroke_width(2),
                ))
                .map_err(de)?;
                yy += 14.0;
            }
        }

        // Series: lines, then markers (hollow when excluded), peaks ringed.
        for (s, points) in self.series.iter().zip(&plan.pixels) {
            root.draw(&PathElement::new(
                points.iter().map(|&(_, p)| px(p)).collect::<Vec<_>>(),
                s.color.mix(0.75).stroke_width(2),
            ))
            .map_err(de)?;
        }
        for (s, bars) in self.series.iter().zip(&plan.bars) {
            for &(x, top, bottom) in bars {
                draw_bar(root, x, top, bottom, s.color)?;
            }
        }
        for (s, points) in self.series.iter().zip(&plan.pixels) {
            for &(i, p) in points {
                let point = &s.points[i];
                draw_marker(root, px(p), s.color, point.peak, point.excluded)?;
            }
        }

        // Gain arrows; goodputs at the SLA marked as diamonds at both ends.
        for ((a, g), ends) in self.arrows.iter().zip(&plan.arrows).zip(&plan.ends) {
            for (end, mark) in ends.iter().flatten().zip(a.marks) {
                if mark {
                    draw_diamond(root, px(*end), a.color)?;
                }
            }
            let Some(g) = g else { continue };
            let (dx, dy) = (g.tip.0 - g.start.0, g.tip.1 - g.start.1);
            let len = (dx * dx + dy * dy).sqrt().max(1.0);
            let (ux, uy) = (dx / len, dy / len);
            let head = 16.0;
            let base = (g.tip.0 - ux * head, g.tip.1 - uy * head);
            let (nx, ny) = g.normal;
            root.draw(&PathElement::new(vec![px(g.start), px(base)], a.color.stroke_width(4))).map_err(de)?;
            root.draw(&Polygon::new(
                vec![
                    px(g.tip),
                    px((base.0 + nx * 8.0, base.1 + ny * 8.0)),
                    px((base.0 - nx * 8.0, base.1 - ny * 8.0)),
                ],
                a.color.filled(),
            ))
            .map_err(de)?;
        }

        self.draw_legend(root, plan.legend, legend)?;
        for t in &plan.texts {
            t.label.draw_in(root, t.rect, t.pad, t.bg)?;
        }
        Ok(())
    }

    fn draw_legend<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        rect: Rect,
        rows: &[(Mark, Label)],
    ) -> DrawResult {
        let corners = [(rect.x0 as i32, rect.y0 as i32), (rect.x1 as i32, rect.y1 as i32)];
        root.draw(&Rectangle::new(corners, WHITE.mix(0.92).filled())).map_err(de)?;
        root.draw(&Rectangle::new(corners, BLACK.mix(0.25).stroke_width(1))).map_err(de)?;
        for (i, (mark, label)) in rows.iter().enumerate() {
            let top = rect.y0 + LEGEND_PAD + i as f64 * LEGEND_ROW;
            let mid = (top + label.height / 2.0).round() as i32;
            let sx = (rect.x0 + LEGEND_PAD) as i32;
            let cx = sx + (LEGEND_SWATCH / 2.0) as i32;
            match *mark {
                Mark::Series(color) => {
                    root.draw(&PathElement::new(
                        vec![(sx, mid), (sx + LEGEND_SWATCH as i32, mid)],
                        color.mix(0.75).stroke_width(2),
                    ))
                    .map_err(de)?;
                    draw_marker(root, (cx, mid), color, false, false)?;
                }
                Mark::Peak => draw_marker(root, (cx, mid), MUTED_TEXT, true, false)?,
                Mark::Diamond => draw_diamond(root, (cx, mid), MUTED_TEXT)?,
                Mark::Hollow => draw_marker(root, (cx, mid), MUTED_TEXT, false, true)?,
                Mark::Bar => {
                    draw_bar(root, f64::from(cx), f64::from(mid) - 9.0, f64::from(mid) + 9.0, MUTED_TEXT)?
                }
                Mark::None => {}
            }
            let lx = rect.x0 + LEGEND_PAD + LEGEND_SWATCH + 6.0;
            label.draw_in(root, label.rect_at(lx, top, 0.0), 0.0, 0.0)?;
        }
        Ok(())
    }
}

/// A level's marker: a dot, hollow when the level cannot be a peak, ringed when it is the peak.
/// Rings are drawn as filled discs (crisper than stroked circles in the bitmap backend).
fn draw_marker<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    center: (i32, i32),
    color: RGBColor,
    peak: bool,
    hollow: bool,
) -> DrawResult {
    if peak {
        root.draw(&Circle::new(center, PEAK_RING, color.filled())).map_err(de)?;
        root.draw(&Circle::new(center, PEAK_RING - 2, WHITE.filled())).map_err(de)?;
    }
    root.draw(&Circle::new(center, MARKER, color.filled())).map_err(de)?;
    if hollow {
        root.draw(&Circle::new(center, MARKER - 2, WHITE.filled())).map_err(de)?;
    }
    Ok(())
}

/// A goodput at the SLA: a filled diamond with a white edge.
fn draw_diamond<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    c: (i32, i32),
    color: RGBColor,
) -> DrawResult {
    let r = MARKER + 3;
    let shape = |r: i32| vec![(c.0, c.1 - r), (c.0 + r, c.1), (c.0, c.1 + r), (c.0 - r, c.1)];
    root.draw(&Polygon::new(shape(r + 2), WHITE.filled())).map_err(de)?;
    root.draw(&Polygon::new(shape(r), color.filled())).map_err(de)?;
    Ok(())
}

/// An error bar: a vertical line from `top` to `bottom` at `x`, with caps.
fn draw_bar<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    x: f64,
    top: f64,
    bottom: f64,
    color: RGBColor,
) -> DrawResult {
    let px = |x: f64, y: f64| (x.round() as i32, y.round() as i32);
    let style = color.mix(0.85).stroke_width(2);
    root.draw(&PathElement::new(vec![px(x, top), px(x, bottom)], style)).map_err(de)?;
    for y in [top, bottom] {
        root.draw(&PathElement::new(vec![px(x - BAR_CAP, y), px(x + BAR_CAP, y)], style)).map_err(de)?;
    }
    Ok(())
}

fn darker(c: RGBColor) -> RGBColor {
    RGBColor((f64::from(c.0) * 0.8) as u8, (f64::from(c.1) * 0.8) as u8, (f64::from(c.2) * 0.8) as u8)
}
