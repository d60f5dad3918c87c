//! `report`: turns result files into the answer a reader wants: how much faster, at what latency.
//!
//! 1. [`load_dir`] / [`load_dirs`] read sweeps from result directories: this project's files
//!    (`docs/results-schema.md`) and the original suite's published formats (unary CSV, streaming
//!    CSV, Locust per-level stats JSON). Unknown or malformed files become [`Warning`]s.
//! 2. [`summarize`] computes, with polars, each variant's peak goodput at an SLA (the highest
//!    throughput among levels whose p99 meets it, never a client-bound level or one with too many
//!    errors), the gains over the baseline, and the p99s at the baseline's peak concurrency.
//! 3. [`Summary::to_markdown`], [`plot_comparison`] and [`plot_peak_gains`] present them;
//!    [`write_report`] does all of it for a list of directories (what the suites call).
//!
//! The library never prints or exits.

mod error;
mod load;
mod model;
mod plot;
mod summary;

use std::fs;
use std::path::{Path, PathBuf};

pub use error::{Error, Result};
pub use load::{Loaded, Warning, load_dir, load_dir_as, load_dirs};
pub use model::{
    BASELINE_VARIANTS, Exclusion, LatencyKind, Level, Metric, SourceFormat, Stem, Sweep, ThroughputKind,
    WorkloadFamily, is_baseline_variant, parse_stem, workload_display_name,
};
pub use plot::{ImageFormat, plot_comparison, plot_peak_gains};
pub use summary::{
    ComparisonSummary, Criteria, ExcludedLevel, Gain, PeakPoint, SlaAssignment, Slas, Summary, VariantPeak,
    summarize,
};

/// The file name (without extension) of the cross-suite bar chart.
pub const PEAK_GAINS_STEM: &str = "peak_performance_gains";
/// The file name of the Markdown summary.
pub const SUMMARY_FILE: &str = "summary.md";

/// What [`write_report`] computes and writes.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// SLAs and the error-rate limit.
    pub criteria: Criteria,
    /// Image formats of the plots (default PNG and SVG); empty for no plots.
    pub formats: Vec<ImageFormat>,
}

impl Default for Options {
    fn default() -> Self {
        Self { criteria: Criteria::default(), formats: ImageFormat::ALL.to_vec() }
    }
}

/// What [`write_report`] produced.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportFiles {
    /// The Markdown summary (`<out>/summary.md`).
    pub markdown: PathBuf,
    /// `<out>/peak_performance_gains.{png,svg}`.
    pub peak_gains: Vec<PathBuf>,
    /// `<out>/<suite>/<comparison>_<workload>.{png,svg}`, one per comparison and workload.
    pub comparisons: Vec<PathBuf>,
    /// The files that were skipped, and why.
    pub warnings: Vec<Warning>,
    /// The numbers behind it all.
    pub summary: Summary,
}

impl ReportFiles {
    /// Every file written.
    pub fn all(&self) -> impl Iterator<Item = &Path> {
        std::iter::once(self.markdown.as_path())
            .chain(self.peak_gains.iter().map(PathBuf::as_path))
            .chain(self.comparisons.iter().map(PathBuf::as_path))
    }
}

/// Reads `dirs`, computes the summary and writes the Markdown table and the plots into `out_dir`
/// (created if needed).
pub fn write_report<P: AsRef<Path>>(
    dirs: &[P],
    out_dir: impl AsRef<Path>,
    options: &Options,
) -> Result<ReportFiles> {
    let loaded = load_dirs(dirs)?;
    write_loaded(&loaded, out_dir, options)
}

/// Like [`write_report`], for sweeps already loaded.
pub fn write_loaded(loaded: &Loaded, out_dir: impl AsRef<Path>, options: &Options) -> Result<ReportFiles> {
    let out_dir = out_dir.as_ref();
    fs::create_dir_all(out_dir).map_err(|e| Error::io(out_dir, e))?;
    let summary = summarize(&loaded.sweeps, &options.criteria)?;

    let mut comparisons = Vec::new();
    let mut peak_gains = Vec::new();
    if !options.formats.is_empty() {
        for c in &summary.comparisons {
            let stem = out_dir
                .join(plot::file_safe(&c.suite))
                .join(plot::file_safe(&format!("{}_{}", c.comparison, c.workload)));
            comparisons.extend(plot_comparison(
                c,
                &loaded.sweeps,
                &options.criteria,
                &stem,
                &options.formats,
            )?);
        }
        peak_gains = plot_peak_gains(&summary, &out_dir.join(PEAK_GAINS_STEM), &options.formats)?;
    }

    let mut markdown = summary.to_markdown();
    if !peak_gains.is_empty() || !comparisons.is_empty() {
        markdown.push_str("\n## Plots\n\n");
        for p in peak_gains.iter().chain(&comparisons) {
            if p.extension().is_some_and(|e| e == "png") {
                let rel = p.strip_prefix(out_dir).unwrap_or(p);
                markdown.push_str(&format!("- [{}]({})\n", rel.display(), rel.display()));
            }
        }
    }
    if !loaded.warnings.is_empty() {
        markdown.push_str("\n## Skipped files\n\n");
        for w in &loaded.warnings {
            markdown.push_str(&format!("- `{}`: {}\n", w.path.display(), w.message));
        }
    }
    let md_path = out_dir.join(SUMMARY_FILE);
    fs::write(&md_path, markdown).map_err(|e| Error::io(&md_path, e))?;
    Ok(ReportFiles { markdown: md_path, peak_gains, comparisons, warnings: loaded.warnings.clone(), summary })
}
