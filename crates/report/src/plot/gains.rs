//! `peak_performance_gains`: the whole report at a glance. Two panels, one bar per workload (and
//! comparison or scaling study): the gain over the baseline (higher is better) and the p99 latency
//! as a fraction of the baseline's (lower is better), values written on the bars and the baseline
//! drawn at 1x. A comparison's bar is the gain the summary leads with (at the SLA, interpolated, or
//! between the peaks: [`crate::Gain::headline_gain`]) with the p99s at the baseline's peak load, or
//! both at the study's user count when it names one (recsys: 400 users); a scaling
//! study's bar is its compared pair at the largest replica count (LLM: p99 TTFT). A gain with a
//! confidence interval gets a whisker spanning it and the interval written above its value.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use super::axis::{Axis, Ticked};
use super::layout::{Layout, Rect};
use super::text::Label;
use super::{DrawResult, Figure, ImageFormat, MUTED_TEXT, TEXT_COLOR, bold_style, de, render, text_style};
use crate::error::Result;
use crate::model::{WorkloadFamily, workload_display_name};
use crate::summary::{GainBasis, Interval, Summary, fmt_ms, fmt_ratio, fmt_ratio_ci};

const HEIGHT: u32 = 720;
const SLOT: f64 = 150.0;

#[derive(Debug, Clone)]
struct Bar {
    /// Sorts the bars: by workload family, workload, suite, study.
    key: (WorkloadFamily, String, String, String),
    workload: String,
    detail: String,
    sla: String,
    color: RGBColor,
    gain: Option<f64>,
    gain_ci: Option<Interval>,
    p99_ratio: Option<f64>,
}

#[derive(Debug, Clone)]
struct GainsFigure {
    bars: Vec<Bar>,
    /// Whether some bar is compared at a user or replica count rather than at the peak.
    fixed_load: bool,
    /// Whether some bar is a gain at the SLA (interpolated).
    at_sla: bool,
    /// Whether some bar is a gain between peaks.
    at_peak: bool,
}

fn family_color(family: WorkloadFamily) -> RGBColor {
    match family {
        WorkloadFamily::RecSys => RGBColor(0, 158, 115),
        WorkloadFamily::Llm => RGBColor(204, 121, 167),
        WorkloadFamily::Unary => RGBColor(0, 114, 178),
        WorkloadFamily::Streaming => RGBColor(213, 94, 0),
        WorkloadFamily::Other => RGBColor(86, 180, 233),
    }
}

/// Draws `peak_performance_gains` (pass the stem, e.g. `out/peak_performance_gains`) for every
/// gain in `summary`. Returns the files written.
pub fn plot_peak_gains(summary: &Summary, out_stem: &Path, formats: &[ImageFormat]) -> Result<Vec<PathBuf>> {
    let suites: BTreeSet<&str> = summary.comparisons.iter().map(|c| c.suite.as_str()).collect();
    let mut comparisons: Vec<_> = summary.comparisons.iter().collect();
    comparisons.sort_by(|a, b| {
        (WorkloadFamily::of(&a.workload), &a.workload, &a.suite, &a.comparison).cmp(&(
            WorkloadFamily::of(&b.workload),
            &b.workload,
            &b.suite,
            &b.comparison,
        ))
    });
    let mut bars = Vec::new();
    let mut fixed_load = false;
    let (mut at_sla, mut at_peak) = (false, false);
    for c in comparisons {
        for g in &c.gains {
            let mut detail =
                if suites.len() > 1 { format!("{}/{}", c.suite, c.comparison) } else { c.comparison.clone() };
            if c.gains.len() > 1 {
                detail = format!("{detail} · {}", g.treatment);
            }
            let at_users = g.at_users.as_ref().filter(|a| a.throughput_gain.is_some());
            fixed_load |= at_users.is_some();
            let (sla, gain, gain_ci, p99_ratio) = match at_users {
                Some(a) => {
                    (format!("at {} users", a.users), a.throughput_gain, a.throughput_gain_ci, a.p99_ratio)
                }
                None => {
                    let h = g.headline_gain();
                    match h.map(|h| h.basis) {
                        Some(GainBasis::AtSla) => at_sla = true,
                        Some(GainBasis::Peak) => at_peak = true,
                        None => {}
                    }
                    (
                        c.sla_ms.map(|s| format!("p99 ≤ {}", fmt_ms(s))).unwrap_or_else(|| "no SLA".into()),
                        h.map(|h| h.gain),
                        h.and_then(|h| h.ci),
                        g.p99_ratio,
                    )
                }
            };
            bars.push(Bar {
                key: (
                    WorkloadFamily::of(&c.workload),
                    c.workload.clone(),
                    c.suite.clone(),
                    c.comparison.clone(),
                ),
                workload: workload_display_name(&c.workload),
                detail,
                sla,
                color: family_color(WorkloadFamily::of(&c.workload)),
                gain,
                gain_ci,
                p99_ratio,
            });
        }
    }
    for s in &summary.scalings {
        let Some(g) = s.headline() else { continue };
        fixed_load = true;
        at_peak |= s.sla_ms.is_some();
        let detail = if suites.len() > 1 { format!("{}/{}", s.suite, s.name) } else { s.name.clone() };
        let latency = s.metric.latency_name();
        bars.push(Bar {
            key: (WorkloadFamily::of(&s.workload), s.workload.clone(), s.suite.clone(), s.name.clone()),
            workload: workload_display_name(&s.workload),
            detail,
            sla: format!("N = {} · {latency}", g.replicas),
            color: family_color(WorkloadFamily::of(&s.workload)),
            gain: g.gain.throughput_gain,
            gain_ci: g.gain.throughput_gain_ci,
            p99_ratio: g.gain.p99_ratio,
        });
    }
    bars.sort_by(|a, b| a.key.cmp(&b.key));
    render(&GainsFigure { bars, fixed_load, at_sla, at_peak }, out_stem, formats)
}

/// Shortens `label` (with an ellipsis) until it fits `max_width` pixels.
fn fit<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    text: &str,
    style: TextStyle<'static>,
    size: f64,
    max_width: f64,
) -> DrawResult<Label> {
    let mut label = Label::new(root, text, style.clone(), size)?;
    let mut chars: Vec<char> = text.chars().collect();
    while label.width > max_width && chars.len() > 2 {
        chars.pop();
        let shortened: String = chars.iter().collect::<String>() + "…";
        label = Label::new(root, shortened, style.clone(), size)?;
    }
    Ok(label)
}

impl Figure for GainsFigure {
    fn size(&self) -> (u32, u32) {
        let panel = (self.bars.len().max(2) as f64 * SLOT + 150.0).max(620.0);
        ((2.0 * panel) as u32, HEIGHT)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        root.fill(&WHITE).map_err(de)?;
        let title = Label::new(
            root,
            "Peak performance gains: optimized vs baseline",
            bold_style(24.0, TEXT_COLOR),
            24.0,
        )?;
        title.draw_in(root, title.rect_at(24.0, 12.0, 0.0), 0.0, 0.0)?;
        let mut parts = Vec::new();
        if self.at_sla {
            parts.push(
                "gain at the SLA = ratio of the throughputs at which each variant's p99 reaches the SLA, interpolated between measured levels",
            );
        }
        if self.at_peak {
            parts.push("peak goodput = highest throughput among levels whose p99 meets the SLA");
        }
        parts.push(if self.fixed_load {
            "p99 compared at the baseline's peak concurrency, or both at the users / replicas under a bar"
        } else {
            "p99 compared at the baseline's peak concurrency"
        });
        parts.push("dashed line = baseline (1x)");
        let mut note = parts.join("; ");
        if let Some(c) = self.bars.iter().find_map(|b| b.gain_ci.filter(|_| b.gain.is_some())) {
            note.push_str(&format!(
                "; whiskers: {} bootstrap interval of the gain",
                crate::summary::fmt_confidence(c.confidence)
            ));
        }
        // The note on as many lines as it needs, broken after its `;`s.
        let max_width = f64::from(self.size().0) - 48.0;
        let mut lines: Vec<String> = Vec::new();
        for part in note.split_inclusive("; ") {
            let joined = lines.last().map(|l| format!("{l}{part}"));
            match joined {
                Some(j)
                    if Label::new(root, j.trim_end(), text_style(15.0, MUTED_TEXT), 15.0)?.width
                        <= max_width =>
                {
                    *lines.last_mut().expect("a line") = j;
                }
                _ => lines.push(part.to_string()),
            }
        }
        for (i, line) in lines.iter().enumerate() {
            let sub = Label::new(root, line.trim_end(), text_style(15.0, MUTED_TEXT), 15.0)?;
            sub.draw_in(root, sub.rect_at(24.0, 46.0 + 19.0 * i as f64, 0.0), 0.0, 0.0)?;
        }
        if self.bars.is_empty() {
            let none = Label::new(
                root,
                "No comparison has both a baseline and a treatment with a peak.",
                text_style(18.0, TEXT_COLOR),
                18.0,
            )?;
            none.draw_in(root, none.rect_at(24.0, 120.0, 0.0), 0.0, 0.0)?;
            return Ok(());
        }
        let extra_lines = lines.len().saturating_sub(1) as u32;
        let body = root.margin(80 + 19 * extra_lines, 8, 8, 8);
        let panels = body.split_evenly((1, 2));
        let gain_heading = match (self.fixed_load, self.at_sla, self.at_peak) {
            (false, true, false) => "Throughput gain at the SLA (higher is better)",
            (false, false, true) => "Throughput gain at peak (higher is better)",
            _ => "Throughput gain (higher is better)",
        };
        self.draw_panel(&panels[0], root, gain_heading, |b| b.gain, |b| b.gain_ci)?;
        self.draw_panel(
            &panels[1],
            root,
            "p99 latency, fraction of baseline (lower is better)",
            |b| b.p99_ratio,
            |_| None,
        )?;
        Ok(())
    }
}

impl GainsFigure {
    fn draw_panel<DB: DrawingBackend>(
        &self,
        panel: &DrawingArea<DB, Shift>,
        root: &DrawingArea<DB, Shift>,
        heading: &str,
        value: impl Fn(&Bar) -> Option<f64>,
        interval: impl Fn(&Bar) -> Option<Interval>,
    ) -> DrawResult {
        let (px, py) = panel.get_pixel_range();
        let heading = Label::new(root, heading, bold_style(18.0, TEXT_COLOR), 18.0)?;
        let hx = f64::from(px.start + px.end) / 2.0 - heading.width / 2.0;
        heading.draw_in(root, heading.rect_at(hx, f64::from(py.start) + 6.0, 0.0), 0.0, 0.0)?;

        let values: Vec<f64> = self
            .bars
            .iter()
            .flat_map(|b| [value(b), interval(b).filter(|_| value(b).is_some()).map(|i| i.hi)])
            .flatten()
            .collect();
        let max = values.iter().copied().fold(1.0, f64::max);
        let with_ci = self.bars.iter().any(|b| value(b).is_some() && interval(b).is_some());
        let y = Axis { log: false, lo: 0.0, hi: max * if with_ci { 1.26 } else { 1.18 } };
        // Always a tick at the baseline (1x); drop 0x when it would crowd it.
        let mut ticks = y.ticks();
        if !ticks.iter().any(|t| (t - 1.0).abs() < 1e-9) {
            ticks.push(1.0);
        }
        if 1.0 / y.hi < 0.06 {
            ticks.retain(|t| *t != 0.0);
        }
        ticks.sort_by(f64::total_cmp);
        let y_coord = Ticked::new(y.range_t(), ticks, Vec::new());
        let n = self.bars.len() as f64;
        let area = panel.margin(40, 0, 10, 20);
        let mut chart = ChartBuilder::on(&area)
            .x_label_area_size(84)
            .y_label_area_size(64)
            .build_cartesian_2d(Ticked::new(0.0..n, Vec::new(), Vec::new()), y_coord)
            .map_err(de)?;
        let y_fmt = |v: &f64| format!("{}x", Axis::format(*v));
        chart
            .configure_mesh()
            .disable_x_mesh()
            .y_label_formatter(&y_fmt)
            .label_style(text_style(14.0, TEXT_COLOR))
            .bold_line_style(BLACK.mix(0.1))
            .light_line_style(TRANSPARENT)
            .axis_style(BLACK.mix(0.6))
            .draw()
            .map_err(de)?;

        let (x_px, y_px) = chart.plotting_area().get_pixel_range();
        let mut layout = Layout::new(Rect {
            x0: f64::from(x_px.start),
            y0: f64::from(y_px.start),
            x1: f64::from(x_px.end),
            y1: f64::from(y_px.end),
        });
        for (i, bar) in self.bars.iter().enumerate() {
            let x0 = i as f64 + 0.2;
            let x1 = i as f64 + 0.8;
            let (cx, _) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
            let cx = f64::from(cx);
            match value(bar) {
                Some(v) => {
                    chart
                        .draw_series(std::iter::once(Rectangle::new(
                            [(x0, 0.0), (x1, v)],
                            bar.color.filled(),
                        )))
                        .map_err(de)?;
                    let (left, top) = chart.backend_coord(&(x0, v));
                    let (right, bottom) = chart.backend_coord(&(x1, 0.0));
                    layout.block(Rect {
                        x0: f64::from(left),
                        y0: f64::from(top),
                        x1: f64::from(right),
                        y1: f64::from(bottom),
                    });
                    // The whisker: the interval, capped at both ends.
                    let mut above = f64::from(top);
                    let ci = interval(bar);
                    if let Some(ci) = ci {
                        let (_, hi) = chart.backend_coord(&(x0, ci.hi));
                        let (_, lo) = chart.backend_coord(&(x0, ci.lo));
                        let style = TEXT_COLOR.mix(0.85).stroke_width(2);
                        let x = cx.round() as i32;
                        root.draw(&PathElement::new(vec![(x, hi), (x, lo)], style)).map_err(de)?;
                        for y in [hi, lo] {
                            root.draw(&PathElement::new(vec![(x - 9, y), (x + 9, y)], style)).map_err(de)?;
                        }
                        above = above.min(f64::from(hi));
                    }
                    let text = Label::new(root, fmt_ratio(v), bold_style(18.0, TEXT_COLOR), 18.0)?;
                    let r = text.rect_at(cx - text.width / 2.0, above - text.height - 6.0, 0.0);
                    layout.block(r);
                    text.draw_in(root, r, 0.0, 0.0)?;
                    if let Some(ci) = fmt_ratio_ci(ci) {
                        let slot = f64::from(
                            chart.backend_coord(&(1.0, 0.0)).0 - chart.backend_coord(&(0.0, 0.0)).0,
                        );
                        let small = fit(root, &ci, text_style(12.5, MUTED_TEXT), 12.5, slot - 6.0)?;
                        let r2 = small.rect_at(cx - small.width / 2.0, r.y0 - small.height - 3.0, 0.0);
                        layout.block(r2);
                        small.draw_in(root, r2, 0.0, 0.0)?;
                    }
                }
                None => {
                    let (_, base) = chart.backend_coord(&(x0, 0.0));
                    let text = Label::new(root, "n/a", text_style(15.0, MUTED_TEXT), 15.0)?;
                    let r = text.rect_at(cx - text.width / 2.0, f64::from(base) - text.height - 8.0, 0.0);
                    layout.block(r);
                    text.draw_in(root, r, 0.0, 0.0)?;
                }
            }
            // Three lines under the bar: workload, comparison, SLA.
            let (_, axis_y) = chart.backend_coord(&(0.0, 0.0));
            let slot = chart.backend_coord(&(1.0, 0.0)).0 - chart.backend_coord(&(0.0, 0.0)).0;
            let max_w = f64::from(slot) - 8.0;
            let mut top = f64::from(axis_y) + 10.0;
            for (text, style, size) in [
                (&bar.workload, bold_style(16.0, TEXT_COLOR), 16.0),
                (&bar.detail, text_style(13.0, MUTED_TEXT), 13.0),
                (&bar.sla, text_style(13.0, MUTED_TEXT), 13.0),
            ] {
                let label = fit(root, text, style, size, max_w)?;
                label.draw_in(root, label.rect_at(cx - label.width / 2.0, top, 0.0), 0.0, 0.0)?;
                top += size + 8.0;
            }
        }

        // The baseline at 1x, dashed.
        let (_, one) = chart.backend_coord(&(0.0, 1.0));
        let mut xx = x_px.start;
        while xx < x_px.end {
            root.draw(&PathElement::new(
                vec![(xx, one), ((xx + 10).min(x_px.end), one)],
                BLACK.mix(0.7).stroke_width(2),
            ))
            .map_err(de)?;
            xx += 16;
        }
        let base = Label::new(root, "baseline = 1x", text_style(13.0, MUTED_TEXT), 13.0)?;
        let (w, h) = (base.width + 4.0, base.height + 4.0);
        let (left, right, one) = (f64::from(x_px.start), f64::from(x_px.end), f64::from(one));
        let candidates = [
            Rect::new(right - w - 6.0, one - h - 4.0, w, h),
            Rect::new(right - w - 6.0, one + 4.0, w, h),
            Rect::new(left + 6.0, one - h - 4.0, w, h),
            Rect::new(left + 6.0, one + 4.0, w, h),
        ];
        if let Some(r) = layout.place(&candidates) {
            base.draw_in(root, r, 2.0, 0.8)?;
        }
        Ok(())
    }
}
