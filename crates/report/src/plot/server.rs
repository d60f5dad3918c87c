//! `<comparison>_<workload>_cpu`: CPU milliseconds per request by role of the cluster, one
//! stacked horizontal bar per variant (baseline on top) at the baseline's peak load, from the
//! levels' server views. Small roles are added up as `other` (the summary's grouping).

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use super::axis::{Axis, Ticked};
use super::text::Label;
use super::{DrawResult, Figure, ImageFormat, MUTED_TEXT, TEXT_COLOR, bold_style, de, render, text_style};
use crate::error::Result;
use crate::model::workload_display_name;
use crate::summary::{ComparisonSummary, OTHER_ROLE, fmt_ms};

const WIDTH: u32 = 1280;
const BAR_SLOT: f64 = 86.0;

/// Colours of the roles in order (Okabe-Ito); `other` is grey.
const ROLE_COLORS: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(240, 228, 66),
];
const OTHER_COLOR: RGBColor = RGBColor(170, 170, 170);

#[derive(Debug, Clone)]
struct CpuBar {
    name: String,
    total: Option<f64>,
    segments: Vec<(String, f64)>,
}

#[derive(Debug, Clone)]
struct CpuFigure {
    title: String,
    subtitle: String,
    roles: Vec<String>,
    bars: Vec<CpuBar>,
}

/// Draws the CPU-per-request bars of comparison `c` (pass the stem, e.g.
/// `out/features/allon_unary_cpu`) when some variant has CPU figures at the compared load;
/// returns the files written (none otherwise).
pub fn plot_server_cpu(
    c: &ComparisonSummary,
    out_stem: &Path,
    formats: &[ImageFormat],
) -> Result<Vec<PathBuf>> {
    let Some(s) = &c.server else { return Ok(Vec::new()) };
    let Some(users) = s.concurrency else { return Ok(Vec::new()) };
    let bars: Vec<CpuBar> = s
        .variants
        .iter()
        .filter(|v| !v.cpu_ms_per_request.is_empty())
        .map(|v| CpuBar {
            name: format!("{}{}", v.variant, super::role_suffix(&v.variant, v.is_baseline)),
            total: v.cpu_total_ms_per_request,
            segments: v.cpu_grouped(&s.roles),
        })
        .collect();
    if bars.is_empty() {
        return Ok(Vec::new());
    }
    let mut roles = s.roles.clone();
    if bars.iter().any(|b| b.segments.iter().any(|(r, _)| r == OTHER_ROLE)) {
        roles.push(OTHER_ROLE.to_string());
    }
    let figure = CpuFigure {
        title: format!(
            "CPU per request by role: {} · {} at c={users}",
            c.comparison,
            workload_display_name(&c.workload)
        ),
        subtitle: "CPU milliseconds per successful request over each level's window (server view), at the baseline's peak load; small roles added up as other".to_string(),
        roles,
        bars,
    };
    render(&figure, out_stem, formats)
}

fn role_color(roles: &[String], role: &str) -> RGBColor {
    if role == OTHER_ROLE {
        return OTHER_COLOR;
    }
    let i = roles.iter().position(|r| r == role).unwrap_or(0);
    ROLE_COLORS[i % ROLE_COLORS.len()]
}

impl Figure for CpuFigure {
    fn size(&self) -> (u32, u32) {
        (WIDTH, (230.0 + BAR_SLOT * self.bars.len() as f64) as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        root.fill(&WHITE).map_err(de)?;
        let title = Label::new(root, &self.title, bold_style(22.0, TEXT_COLOR), 22.0)?;
        title.draw_in(root, title.rect_at(24.0, 12.0, 0.0), 0.0, 0.0)?;
        let sub = Label::new(root, &self.subtitle, text_style(14.0, MUTED_TEXT), 14.0)?;
        sub.draw_in(root, sub.rect_at(24.0, 44.0, 0.0), 0.0, 0.0)?;

        // The legend: one swatch per role, in stacking order, wrapped.
        let (mut x, mut y) = (24.0, 72.0);
        for role in &self.roles {
            let label = Label::new(root, role, text_style(14.0, TEXT_COLOR), 14.0)?;
            if x + 22.0 + label.width > f64::from(WIDTH) - 24.0 {
                x = 24.0;
                y += 22.0;
            }
            root.draw(&Rectangle::new(
                [(x as i32, y as i32 + 1), (x as i32 + 14, y as i32 + 15)],
                role_color(&self.roles, role).filled(),
            ))
            .map_err(de)?;
            label.draw_in(root, label.rect_at(x + 20.0, y, 0.0), 0.0, 0.0)?;
            x += 20.0 + label.width + 22.0;
        }

        let max = self
            .bars
            .iter()
            .map(|b| b.total.unwrap_or(0.0).max(b.segments.iter().map(|(_, v)| v).sum()))
            .fold(0.0, f64::max);
        let axis = Axis { log: false, lo: 0.0, hi: if max > 0.0 { max * 1.18 } else { 1.0 } };
        let n = self.bars.len() as f64;
        let area = root.margin((y + 34.0) as u32, 16, 24, 24);
        let mut chart = ChartBuilder::on(&area)
            .x_label_area_size(50)
            .y_label_area_size(190)
            .build_cartesian_2d(axis.coord(), Ticked::new(0.0..n, Vec::new(), Vec::new()))
            .map_err(de)?;
        let x_fmt = |v: &f64| Axis::format(*v);
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_label_formatter(&x_fmt)
            .x_desc("CPU ms per request")
            .label_style(text_style(14.0, TEXT_COLOR))
            .axis_desc_style(text_style(15.0, TEXT_COLOR))
            .bold_line_style(BLACK.mix(0.1))
            .light_line_style(TRANSPARENT)
            .axis_style(BLACK.mix(0.6))
            .draw()
            .map_err(de)?;

        for (i, bar) in self.bars.iter().enumerate() {
            // The first bar on top.
            let (y0, y1) = (n - i as f64 - 0.78, n - i as f64 - 0.22);
            let mut at = 0.0;
            for (role, v) in &bar.segments {
                if *v <= 0.0 {
                    continue;
                }
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(at, y0), (at + v, y1)],
                        role_color(&self.roles, role).filled(),
                    )))
                    .map_err(de)?;
                at += v;
            }
            let (left, top) = chart.backend_coord(&(0.0, y1));
            let (_, bottom) = chart.backend_coord(&(0.0, y0));
            let mid = f64::from(top + bottom) / 2.0;
            let name = Label::new(root, &bar.name, bold_style(16.0, TEXT_COLOR), 16.0)?;
            name.draw_in(
                root,
                name.rect_at(f64::from(left) - name.width - 12.0, mid - name.height / 2.0, 0.0),
                0.0,
                0.0,
            )?;
            let total = bar.total.unwrap_or(at);
            let (end, _) = chart.backend_coord(&(at, y0));
            let value = Label::new(root, fmt_ms(total), bold_style(16.0, TEXT_COLOR), 16.0)?;
            value.draw_in(
                root,
                value.rect_at(f64::from(end) + 8.0, mid - value.height / 2.0, 0.0),
                0.0,
                0.0,
            )?;
        }
        Ok(())
    }
}
