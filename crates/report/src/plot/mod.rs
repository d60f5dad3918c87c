//! Plots with plotters, as PNG and SVG, with an embedded font so they render the same on any
//! machine (no fontconfig, no system fonts).
//!
//! - [`plot_comparison`]: goodput against p99 latency for one comparison on one workload: every
//!   variant, points labelled with their concurrency, the SLA, and the gain drawn as an arrow.
//! - [`plot_peak_gains`]: `peak_performance_gains`: throughput gain and p99 as a fraction of the
//!   baseline, one bar per workload (and comparison or scaling study).
//! - [`plot_by_users`], [`plot_engine`], [`plot_scaling`]: measurements against users or
//!   replicas, in a grid of line charts (the recsys 2 x 2, the bare LLM engine's 2 x 2, the
//!   replica scaling chart).
//! - [`plot_server_cpu`]: CPU milliseconds per request by role of the cluster, stacked, one bar
//!   per variant of a comparison at the baseline's peak load (from the levels' server views).
//!
//! Text is placed by a small collision-avoiding layout ([`layout`]) so labels never overlap each
//! other, the markers or the legend.

mod axis;
mod comparison;
mod figures;
mod fonts;
mod gains;
mod layout;
mod lines;
mod server;
mod text;

use std::fs;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{Error, Result};

pub use comparison::plot_comparison;
pub use figures::{plot_by_users, plot_engine, plot_scaling};
pub use gains::plot_peak_gains;
pub use server::plot_server_cpu;

/// An image format the plots are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    /// PNG (raster).
    Png,
    /// SVG (vector; text stays text).
    Svg,
}

impl ImageFormat {
    /// Both formats.
    pub const ALL: [ImageFormat; 2] = [ImageFormat::Png, ImageFormat::Svg];

    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Svg => "svg",
        }
    }
}

/// What a drawing function returns: errors as text, turned into [`Error::Plot`] by [`render`].
pub(crate) type DrawResult<T = ()> = std::result::Result<T, String>;

/// Converts any plotters error into the text of a [`DrawResult`].
pub(crate) fn de<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// A figure that can be drawn on any plotters backend.
pub(crate) trait Figure {
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32);
    /// Draws the whole figure on `root`.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult;
}

/// Draws `figure` into `<stem>.<ext>` for every format; returns the files written.
pub(crate) fn render(figure: &impl Figure, stem: &Path, formats: &[ImageFormat]) -> Result<Vec<PathBuf>> {
    fonts::ensure_registered()?;
    if let Some(parent) = stem.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| Error::write(parent, e))?;
    }
    let mut written = Vec::new();
    for format in formats {
        let path = stem.with_extension(format.extension());
        let plot_err = |message: String| Error::Plot { path: path.clone(), message };
        match format {
            ImageFormat::Png => {
                let root = BitMapBackend::new(&path, figure.size()).into_drawing_area();
                figure.draw(&root).map_err(plot_err)?;
                root.present().map_err(|e| plot_err(de(e)))?;
            }
            ImageFormat::Svg => {
                let root = SVGBackend::new(&path, figure.size()).into_drawing_area();
                figure.draw(&root).map_err(plot_err)?;
                root.present().map_err(|e| plot_err(de(e)))?;
            }
        }
        written.push(path);
    }
    Ok(written)
}

/// Colour-blind safe colours (Okabe-Ito) for treatments; the baseline is grey.
pub(crate) const BASELINE_COLOR: RGBColor = RGBColor(110, 110, 110);
pub(crate) const TREATMENT_COLORS: [RGBColor; 5] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
];
pub(crate) const TEXT_COLOR: RGBColor = RGBColor(30, 30, 30);
pub(crate) const MUTED_TEXT: RGBColor = RGBColor(90, 90, 90);

/// A text style in the embedded font.
pub(crate) fn text_style(size: f64, color: RGBColor) -> TextStyle<'static> {
    styled(size, color, FontStyle::Normal)
}

/// A bold text style in the embedded font.
pub(crate) fn bold_style(size: f64, color: RGBColor) -> TextStyle<'static> {
    styled(size, color, FontStyle::Bold)
}

fn styled(size: f64, color: RGBColor, style: FontStyle) -> TextStyle<'static> {
    TextStyle {
        font: FontDesc::new(FontFamily::Name(fonts::FAMILY), size, style),
        color: color.to_backend_color(),
        pos: plotters::style::text_anchor::Pos::default(),
    }
}

/// What a legend adds after a variant's name to mark the baseline (` (baseline)`), nothing when
/// the name says it already.
pub(crate) fn role_suffix(variant: &str, is_baseline: bool) -> &'static str {
    if is_baseline && !variant.eq_ignore_ascii_case("baseline") { " (baseline)" } else { "" }
}

/// Turns a name into something safe to use in a file name.
pub(crate) fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_' { c } else { '_' })
        .collect()
}
