//! Line charts in a grid of panels, for the figures that draw measurements against users or
//! replicas: the recsys 2 x 2 (throughput, mean, p50 and p99 latency against users), the bare LLM
//! engine's 2 x 2 (TTFT, TPOT, input and output tokens/s against concurrency) and the scaling
//! chart (throughput against replicas, with the ideal line). Each panel has its own axes (x on a
//! log scale with a tick at every measured value when it spans a factor of four or more; y linear
//! from zero), its own legend in the emptiest corner, and optional labels at the points, placed so
//! that nothing overlaps.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::axis::{Axis, Ticked};
use super::layout::{Layout, Rect};
use super::text::Label;
use super::{DrawResult, Figure, MUTED_TEXT, TEXT_COLOR, bold_style, de, text_style};

const MARKER: i32 = 4;
const LEGEND_TEXT: f64 = 13.0;
const LEGEND_ROW: f64 = 21.0;
const LEGEND_SWATCH: f64 = 34.0;
const LEGEND_PAD: f64 = 8.0;
/// Half the width of an error bar's caps, in pixels.
const BAR_CAP: f64 = 4.0;

/// How a line is stroked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dash {
    Solid,
    Dashed,
    Dotted,
}

/// One point of a line.
#[derive(Debug, Clone)]
pub(crate) struct LinePoint {
    pub x: f64,
    pub y: f64,
    /// A label written at the point.
    pub label: Option<String>,
    /// An error bar (low, high) drawn through the point.
    pub range: Option<(f64, f64)>,
}

impl LinePoint {
    pub fn new(x: f64, y: f64) -> Self {
        Self { x, y, label: None, range: None }
    }
}

/// One line of a panel.
#[derive(Debug, Clone)]
pub(crate) struct Line {
    pub name: String,
    pub color: RGBColor,
    pub dash: Dash,
    pub markers: bool,
    pub points: Vec<LinePoint>,
}

impl Line {
    pub fn new(name: impl Into<String>, color: RGBColor, dash: Dash) -> Self {
        Self { name: name.into(), color, dash, markers: dash != Dash::Dashed, points: Vec::new() }
    }
}

/// One chart of the grid.
#[derive(Debug, Clone)]
pub(crate) struct Panel {
    pub title: String,
    pub x_desc: String,
    pub y_desc: String,
    /// A linear x axis even when the values span 4x or more (a line through the origin stays
    /// straight).
    pub x_linear: bool,
    pub lines: Vec<Line>,
}

/// A titled grid of panels.
#[derive(Debug, Clone)]
pub(crate) struct LinesFigure {
    pub title: String,
    pub subtitle: String,
    pub cols: usize,
    pub size: (u32, u32),
    pub panels: Vec<Panel>,
}

/// The x axis: log with a tick at every distinct value when the values span 4x or more (unless
/// `linear`), linear otherwise (ticks at the values when there are few).
fn x_axis(values: &[f64], linear: bool) -> (Axis, Vec<f64>) {
    let mut distinct: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    let min = distinct.first().copied().unwrap_or(0.0);
    let max = distinct.last().copied().unwrap_or(1.0);
    if !linear && min > 0.0 && max / min >= 4.0 {
        let pad = (max / min).powf(0.05).max(1.15);
        let axis = Axis { log: true, lo: min / pad, hi: max * pad };
        let ticks = if distinct.len() <= 12 { distinct } else { axis.ticks() };
        return (axis, ticks);
    }
    let span = (max - min).max(max.abs() * 0.2).max(1.0);
    let axis = Axis { log: false, lo: (min - span * 0.08).max(0.0), hi: max + span * 0.08 };
    let ticks = if distinct.len() <= 12 && distinct.len() > 1 { distinct } else { axis.ticks() };
    (axis, ticks)
}

/// The y axis: linear from zero, with room above the highest value.
fn y_axis(values: &[f64]) -> Axis {
    let max = values.iter().copied().filter(|v| v.is_finite()).fold(0.0, f64::max);
    Axis { log: false, lo: 0.0, hi: if max > 0.0 { max * 1.12 } else { 1.0 } }
}

/// Points along a polyline, split into dashes of `on` pixels with `off` gaps.
fn dashes(points: &[(f64, f64)], on: f64, off: f64) -> Vec<Vec<(f64, f64)>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    let (mut drawing, mut left) = (true, on);
    for w in points.windows(2) {
        let (a, b) = (w[0], w[1]);
        let len = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
        let mut t = 0.0;
        if drawing && current.is_empty() {
            current.push(a);
        }
        while len - t > left {
            t += left;
            let p = (a.0 + (b.0 - a.0) * t / len, a.1 + (b.1 - a.1) * t / len);
            if drawing {
                current.push(p);
                out.push(std::mem::take(&mut current));
            } else {
                current.push(p);
            }
            drawing = !drawing;
            left = if drawing { on } else { off };
        }
        left -= len - t;
        if drawing {
            current.push(b);
        } else {
            current.clear();
        }
    }
    if current.len() > 1 {
        out.push(current);
    }
    out
}

fn px(p: (f64, f64)) -> (i32, i32) {
    (p.0.round() as i32, p.1.round() as i32)
}

fn stroke<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    points: &[(f64, f64)],
    color: RGBColor,
    dash: Dash,
) -> DrawResult {
    let style = color.stroke_width(2);
    let pieces = match dash {
        Dash::Solid => vec![points.to_vec()],
        Dash::Dashed => dashes(points, 10.0, 6.0),
        Dash::Dotted => dashes(points, 3.0, 4.0),
    };
    for piece in pieces {
        root.draw(&PathElement::new(piece.into_iter().map(px).collect::<Vec<_>>(), style)).map_err(de)?;
    }
    Ok(())
}

fn darker(c: RGBColor) -> RGBColor {
    RGBColor((f64::from(c.0) * 0.8) as u8, (f64::from(c.1) * 0.8) as u8, (f64::from(c.2) * 0.8) as u8)
}

impl Figure for LinesFigure {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        root.fill(&WHITE).map_err(de)?;
        let title = Label::new(root, &self.title, bold_style(24.0, TEXT_COLOR), 24.0)?;
        title.draw_in(root, title.rect_at(24.0, 12.0, 0.0), 0.0, 0.0)?;
        let subtitle = Label::new(root, &self.subtitle, text_style(16.0, MUTED_TEXT), 16.0)?;
        subtitle.draw_in(root, subtitle.rect_at(24.0, 46.0, 0.0), 0.0, 0.0)?;
        let body = root.margin(80, 8, 8, 16);
        let cols = self.cols.max(1);
        let rows = self.panels.len().div_ceil(cols).max(1);
        let areas = body.split_evenly((rows, cols));
        for (panel, area) in self.panels.iter().zip(&areas) {
            draw_panel(root, area, panel)?;
        }
        Ok(())
    }
}

fn draw_panel<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
) -> DrawResult {
    let (ax, ay) = area.get_pixel_range();
    if !panel.title.is_empty() {
        let heading = Label::new(root, &panel.title, bold_style(17.0, TEXT_COLOR), 17.0)?;
        let hx = f64::from(ax.start + ax.end) / 2.0 - heading.width / 2.0;
        heading.draw_in(root, heading.rect_at(hx, f64::from(ay.start) + 4.0, 0.0), 0.0, 0.0)?;
    }

    let xs: Vec<f64> = panel.lines.iter().flat_map(|l| l.points.iter().map(|p| p.x)).collect();
    let ys: Vec<f64> = panel
        .lines
        .iter()
        .flat_map(|l| l.points.iter().flat_map(|p| [Some(p.y), p.range.map(|r| r.1)]))
        .flatten()
        .collect();
    let (x, x_ticks) = x_axis(&xs, panel.x_linear);
    let y = y_axis(&ys);
    let x_coord = Ticked::new(x.range_t(), x_ticks.iter().map(|v| x.axis_t(*v)).collect(), Vec::new());
    let inner = area.margin(if panel.title.is_empty() { 8 } else { 30 }, 6, 6, 14);
    let mut chart = ChartBuilder::on(&inner)
        .x_label_area_size(52)
        .y_label_area_size(72)
        .build_cartesian_2d(x_coord, y.coord())
        .map_err(de)?;
    let x_fmt = |t: &f64| Axis::format(x.value_of(*t));
    let y_fmt = |t: &f64| Axis::format(y.value_of(*t));
    chart
        .configure_mesh()
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .x_desc(panel.x_desc.as_str())
        .y_desc(panel.y_desc.as_str())
        .label_style(text_style(14.0, TEXT_COLOR))
        .axis_desc_style(text_style(15.0, TEXT_COLOR))
        .bold_line_style(BLACK.mix(0.1))
        .light_line_style(TRANSPARENT)
        .axis_style(BLACK.mix(0.6))
        .draw()
        .map_err(de)?;

    let (x_px, y_px) = chart.plotting_area().get_pixel_range();
    let bounds = Rect {
        x0: f64::from(x_px.start),
        y0: f64::from(y_px.start),
        x1: f64::from(x_px.end),
        y1: f64::from(y_px.end),
    };
    let to_px = |vx: f64, vy: f64| {
        let (a, b) = chart.backend_coord(&(x.axis_t(vx), y.axis_t(vy)));
        (f64::from(a), f64::from(b))
    };
    let mut layout = Layout::new(bounds.grow(-2.0));
    let pixels: Vec<Vec<(f64, f64)>> = panel
        .lines
        .iter()
        .map(|l| l.points.iter().filter(|p| x.shows(p.x)).map(|p| to_px(p.x, p.y)).collect())
        .collect();
    // Error bars: (x, top, bottom) in pixels, per line.
    let bars: Vec<Vec<(f64, f64, f64)>> = panel
        .lines
        .iter()
        .map(|l| {
            l.points
                .iter()
                .filter(|p| x.shows(p.x))
                .filter_map(|p| {
                    let (lo, hi) = p.range?;
                    let (cx, top) = to_px(p.x, hi);
                    Some((cx, top, to_px(p.x, lo).1))
                })
                .collect()
        })
        .collect();
    for (line, pts) in panel.lines.iter().zip(&pixels) {
        for w in pts.windows(2) {
            layout.soft_line(w[0], w[1]);
        }
        if line.markers {
            for &(cx, cy) in pts {
                layout.block(Rect::around(cx, cy, f64::from(MARKER + 2)));
            }
        }
    }
    for &(cx, top, bottom) in bars.iter().flatten() {
        layout.block(Rect {
            x0: cx - BAR_CAP - 1.0,
            y0: top - 1.0,
            x1: cx + BAR_CAP + 1.0,
            y1: bottom + 1.0,
        });
    }

    // The legend, where it covers the least.
    let legend: Vec<Label> = panel
        .lines
        .iter()
        .map(|l| Label::new(root, &l.name, text_style(LEGEND_TEXT, TEXT_COLOR), LEGEND_TEXT))
        .collect::<DrawResult<_>>()?;
    let w = legend.iter().map(|l| l.width).fold(0.0, f64::max) + LEGEND_SWATCH + 2.0 * LEGEND_PAD + 6.0;
    let h = legend.len() as f64 * LEGEND_ROW + 2.0 * LEGEND_PAD - 4.0;
    let inset = 8.0;
    let candidates = [
        Rect::new(bounds.x0 + inset, bounds.y0 + inset, w, h),
        Rect::new(bounds.x1 - inset - w, bounds.y0 + inset, w, h),
        Rect::new(bounds.x1 - inset - w, bounds.y1 - inset - h, w, h),
        Rect::new(bounds.x0 + inset, bounds.y1 - inset - h, w, h),
    ];
    let legend_rect = candidates
        .iter()
        .find(|c| layout.is_free(&c.grow(4.0)))
        .or_else(|| candidates.iter().min_by_key(|c| layout.conflicts(c)))
        .copied()
        .unwrap_or(candidates[0]);
    layout.block(legend_rect);

    // Point labels.
    let mut texts = Vec::new();
    for (line, pts) in panel.lines.iter().zip(&pixels) {
        let shown = line.points.iter().filter(|p| x.shows(p.x));
        for (&(cx, cy), point) in pts.iter().zip(shown) {
            let Some(text) = &point.label else { continue };
            let label = Label::new(root, text, text_style(12.5, darker(line.color)), 12.5)?;
            let pad = 1.5;
            let (lw, lh) = (label.width + 2.0 * pad, label.height + 2.0 * pad);
            let r = f64::from(MARKER) + 4.0;
            let candidates = [
                Rect::new(cx - lw / 2.0, cy - r - lh, lw, lh),
                Rect::new(cx + r, cy - lh, lw, lh),
                Rect::new(cx - lw / 2.0, cy + r, lw, lh),
                Rect::new(cx + r, cy, lw, lh),
                Rect::new(cx - r - lw, cy - lh, lw, lh),
                Rect::new(cx - r - lw, cy, lw, lh),
                Rect::new(cx - lw / 2.0, cy - 2.2 * r - lh, lw, lh),
                Rect::new(cx - lw / 2.0, cy + 2.2 * r, lw, lh),
            ];
            if let Some(rect) = layout.place(&candidates) {
                texts.push((label, rect, pad));
            }
        }
    }

    for (line, bars) in panel.lines.iter().zip(&bars) {
        let style = line.color.mix(0.8).stroke_width(2);
        for &(cx, top, bottom) in bars {
            root.draw(&PathElement::new(vec![px((cx, top)), px((cx, bottom))], style)).map_err(de)?;
            for y in [top, bottom] {
                root.draw(&PathElement::new(vec![px((cx - BAR_CAP, y)), px((cx + BAR_CAP, y))], style))
                    .map_err(de)?;
            }
        }
    }
    for (line, pts) in panel.lines.iter().zip(&pixels) {
        stroke(root, pts, line.color, line.dash)?;
        if line.markers {
            for &p in pts {
                root.draw(&Circle::new(px(p), MARKER, line.color.filled())).map_err(de)?;
            }
        }
    }
    for (label, rect, pad) in &texts {
        label.draw_in(root, *rect, *pad, 0.75)?;
    }

    let corners = [px((legend_rect.x0, legend_rect.y0)), px((legend_rect.x1, legend_rect.y1))];
    root.draw(&Rectangle::new(corners, WHITE.mix(0.92).filled())).map_err(de)?;
    root.draw(&Rectangle::new(corners, BLACK.mix(0.25).stroke_width(1))).map_err(de)?;
    for (i, (line, label)) in panel.lines.iter().zip(&legend).enumerate() {
        let top = legend_rect.y0 + LEGEND_PAD + i as f64 * LEGEND_ROW;
        let mid = top + label.height / 2.0;
        let sx = legend_rect.x0 + LEGEND_PAD;
        stroke(root, &[(sx, mid), (sx + LEGEND_SWATCH, mid)], line.color, line.dash)?;
        if line.markers {
            root.draw(&Circle::new(px((sx + LEGEND_SWATCH / 2.0, mid)), MARKER, line.color.filled()))
                .map_err(de)?;
        }
        label.draw_in(root, label.rect_at(sx + LEGEND_SWATCH + 6.0, top, 0.0), 0.0, 0.0)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dashes_cover_the_line_in_pieces() {
        let pieces = dashes(&[(0.0, 0.0), (100.0, 0.0)], 10.0, 5.0);
        assert_eq!(pieces.len(), 7);
        assert_eq!(pieces[0], vec![(0.0, 0.0), (10.0, 0.0)]);
        assert_eq!(pieces[1], vec![(15.0, 0.0), (25.0, 0.0)]);
    }

    #[test]
    fn x_axes_are_log_with_ticks_at_the_values_when_they_double() {
        let (axis, ticks) = x_axis(&[1.0, 2.0, 4.0, 8.0], false);
        assert!(axis.log);
        assert_eq!(ticks, [1.0, 2.0, 4.0, 8.0]);
        let (axis, ticks) = x_axis(&[1.0, 2.0, 4.0, 8.0], true);
        assert!(!axis.log);
        assert_eq!(ticks, [1.0, 2.0, 4.0, 8.0]);
        let (axis, _) = x_axis(&[10.0, 20.0, 30.0], false);
        assert!(!axis.log);
    }
}
