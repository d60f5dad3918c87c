//! `report`: turns result files into the answer a reader wants: how much faster, at what latency.
//!
//! 1. [`load_dir`] / [`load_dirs`] read measured sweeps ([`MeasuredSweep`]s of
//!    [`MeasuredLevel`]s) and what they are for ([`ComparisonStudy`], [`ScalingStudy`]) from
//!    result directories: a run's `index.json` and this project's files
//!    (`docs/results-schema.md`), and the original suite's published formats (unary CSV,
//!    streaming CSV, Locust per-level stats JSON, vLLM bench results). Unknown or malformed files
//!    become [`Warning`]s.
//! 2. [`summarize`] computes, with polars, each variant's peak goodput at an SLA (the highest
//!    throughput among levels whose p99 meets it, never a client-bound, unstable or invalid level
//!    or one with too many errors; a level measured R times counts by the mean of its repeats),
//!    the gains over the baseline, the p99s at the baseline's peak concurrency, and each scaling
//!    study's throughput, efficiency and gains per replica count; and, by a seeded bootstrap over
//!    the repeats and the per-second series ([`Bootstrap`], `docs/statistics.md`), a confidence
//!    interval for each of them where the data carry variation.
//!    Where the levels carry the server's view of their window ([`ServerView`]: Ray Serve's
//!    latency at the ingress and per deployment, CPU by role), each comparison also gets where
//!    the time and CPU go at the baseline's peak load ([`ServerComparison`]).
//! 3. [`Summary::to_markdown`], [`Summary::to_json`] and the `plot_*` functions present them;
//!    [`write_report`] does all of it for a list of directories (what the suites call).
//!
//! The library never prints or exits.

mod error;
mod load;
mod model;
mod plot;
mod server;
mod study;
mod summary;

use std::fs;
use std::path::{Path, PathBuf};

pub use error::{Error, Result};
pub use load::{
    INDEX_FILE, INDEX_SCHEMA, IndexComparison, IndexScaling, IndexStudy, IndexSweep, IndexWorkload, Loaded,
    REPLICA_SWEEP_STUDY, RunIndex, Warning, load_dir, load_dir_as, load_dirs,
};
pub use model::{
    BASELINE_VARIANTS, Exclusion, LatencyKind, MeasuredLevel, MeasuredSweep, Metric, Percentiles,
    SeriesPoint, SourceFormat, Stability, Stem, ThroughputKind, TokenTotals, WorkloadFamily,
    is_baseline_variant, parse_dashed_variant, parse_stem, split_repeat_label, workload_display_name,
};
pub use plot::{
    ImageFormat, plot_by_users, plot_comparison, plot_engine, plot_peak_gains, plot_scaling, plot_server_cpu,
};
pub use server::{
    CpuByRole, DeploymentView, IngressAppView, IngressView, LatencyView, MachineCpuView, RoleCpuView,
    SERVER_VIEW_SCHEMA, ServeMetrics, ServerView,
};
pub use study::{ComparisonStudy, ScalingStudy, WorkloadInfo};
pub use summary::{
    AtSla, AtUsers, Bootstrap, ComparisonSummary, Criteria, DeploymentTime, ExcludedLevel, Gain, GainBasis,
    HeadlineGain, IdealLine, Interval, LoadSummary, OTHER_ROLE, PeakPoint, SUMMARY_SCHEMA, ScalingGain,
    ScalingPoint, ScalingSummary, ServerAtLoad, ServerComparison, SlaAssignment, Slas, Summary, VariantPeak,
    summarize, summarize_with,
};

/// The file name (without extension) of the cross-suite bar chart.
pub const PEAK_GAINS_STEM: &str = "peak_performance_gains";
/// The file name of the Markdown summary.
pub const SUMMARY_FILE: &str = "summary.md";
/// The file name of the machine-readable summary (schema [`SUMMARY_SCHEMA`]).
pub const SUMMARY_JSON_FILE: &str = "summary.json";

/// What [`write_report`] computes and writes.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// SLAs and the error-rate limit.
    pub criteria: Criteria,
    /// Image formats of the plots (default PNG and SVG); empty for no plots.
    pub formats: Vec<ImageFormat>,
    /// How confidence intervals are computed (seeded: the same seed gives the same report).
    pub bootstrap: Bootstrap,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            criteria: Criteria::default(),
            formats: ImageFormat::ALL.to_vec(),
            bootstrap: Bootstrap::default(),
        }
    }
}

/// What [`write_report`] produced.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportFiles {
    /// The Markdown summary (`<out>/summary.md`).
    pub markdown: PathBuf,
    /// The summary as JSON (`<out>/summary.json`), every figure with its interval.
    pub json: PathBuf,
    /// `<out>/peak_performance_gains.{png,svg}`.
    pub peak_gains: Vec<PathBuf>,
    /// `<out>/<suite>/<comparison>_<workload>.{png,svg}`, one per comparison and workload.
    pub comparisons: Vec<PathBuf>,
    /// The other figures: `<out>/<suite>/<comparison>_<workload>_by_users.{png,svg}` (recsys),
    /// `<out>/<suite>/<comparison>_<workload>_cpu.{png,svg}` (CPU per request by role, where the
    /// levels have server views),
    /// `<out>/<suite>/<study>_<workload>_scaling.{png,svg}` and
    /// `<out>/<suite>/<engine>_<workload>_engine.{png,svg}` (the bare engine of a scaling study).
    pub figures: Vec<PathBuf>,
    /// The files that were skipped, and why.
    pub warnings: Vec<Warning>,
    /// The numbers behind it all.
    pub summary: Summary,
}

impl ReportFiles {
    /// Every file written.
    pub fn all(&self) -> impl Iterator<Item = &Path> {
        [self.markdown.as_path(), self.json.as_path()]
            .into_iter()
            .chain(self.peak_gains.iter().map(PathBuf::as_path))
            .chain(self.comparisons.iter().map(PathBuf::as_path))
            .chain(self.figures.iter().map(PathBuf::as_path))
    }
}

/// Reads `dirs`, computes the summary and writes the Markdown table, `summary.json` and the plots
/// into `out_dir` (created if needed).
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
    fs::create_dir_all(out_dir).map_err(|e| Error::write(out_dir, e))?;
    let summary = summarize_with(loaded, &options.criteria, &options.bootstrap)?;

    let mut comparisons = Vec::new();
    let mut figures = Vec::new();
    let mut peak_gains = Vec::new();
    let formats = &options.formats;
    if !formats.is_empty() {
        let stem =
            |suite: &str, name: String| out_dir.join(plot::file_safe(suite)).join(plot::file_safe(&name));
        for c in &summary.comparisons {
            let name = format!("{}_{}", c.comparison, c.workload);
            comparisons.extend(plot_comparison(
                c,
                loaded,
                &options.criteria,
                &stem(&c.suite, name.clone()),
                formats,
            )?);
            figures.extend(plot_server_cpu(c, &stem(&c.suite, format!("{name}_cpu")), formats)?);
            if WorkloadFamily::of(&c.workload) == WorkloadFamily::RecSys {
                figures.extend(plot_by_users(
                    c,
                    loaded,
                    &stem(&c.suite, format!("{name}_by_users")),
                    formats,
                )?);
            }
        }
        for s in &summary.scalings {
            let name = format!("{}_{}", s.name, s.workload);
            figures.extend(plot_scaling(s, &stem(&s.suite, format!("{name}_scaling")), formats)?);
        }
        let mut engines: Vec<usize> =
            loaded.scalings.iter().flat_map(|s| s.baseline.iter().copied()).collect();
        engines.extend((0..loaded.sweeps.len()).filter(|&i| loaded.sweeps[i].external));
        engines.sort_unstable();
        engines.dedup();
        for i in engines {
            let sweep = &loaded.sweeps[i];
            let name = format!("{}_{}_engine", sweep.variant, sweep.workload);
            figures.extend(plot_engine(sweep, &stem(&sweep.suite, name), formats)?);
        }
        peak_gains = plot_peak_gains(&summary, &out_dir.join(PEAK_GAINS_STEM), formats)?;
    }

    let mut markdown = summary.to_markdown();
    if !peak_gains.is_empty() || !comparisons.is_empty() || !figures.is_empty() {
        markdown.push_str("\n## Plots\n\n");
        for p in peak_gains.iter().chain(&comparisons).chain(&figures) {
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
    fs::write(&md_path, markdown).map_err(|e| Error::write(&md_path, e))?;
    let json_path = out_dir.join(SUMMARY_JSON_FILE);
    fs::write(&json_path, summary.to_json()).map_err(|e| Error::write(&json_path, e))?;
    Ok(ReportFiles {
        markdown: md_path,
        json: json_path,
        peak_gains,
        comparisons,
        figures,
        warnings: loaded.warnings.clone(),
        summary,
    })
}
