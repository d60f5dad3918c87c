//! `report`: the CLI over the `report` library. Parses flags into [`report::Options`], writes the
//! report, prints the Markdown summary and the files written; warnings and errors go to stderr.
//!
//! Exit status: 0 done, 1 the report could not be made (one line on stderr, each cause said
//! once), 2 a bad argument (clap's own errors and values it cannot use alike).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use report::{Bootstrap, Criteria, GainBasis, ImageFormat, Options, SlaAssignment, Slas};

/// Peak goodput and gains across servebench suites (and the original suite's published results),
/// as a Markdown table and plots.
#[derive(Debug, Parser)]
#[command(name = "report", version)]
struct Cli {
    /// Result directories (one suite each; sub-directories are read as nested suites).
    #[arg(required = true, value_name = "DIR")]
    dirs: Vec<PathBuf>,

    /// Where to write summary.md and the plots.
    #[arg(short, long, value_name = "DIR", default_value = "report")]
    out: PathBuf,

    /// p99 SLA of a workload, e.g. `unary=200ms`, `streaming=0.7s`, `streaming=700` (ms)
    /// (repeatable; wins over a run's index.json; defaults: unary=200ms, streaming=700ms).
    #[arg(long = "sla", value_name = "WORKLOAD=DURATION")]
    slas: Vec<SlaAssignment>,

    /// Drop the default SLAs (only --sla values and runs' own index.json SLAs apply; workloads
    /// without one peak at their highest throughput).
    #[arg(long)]
    no_default_slas: bool,

    /// Levels with a higher error rate (0..1) never count as a peak.
    #[arg(long, value_name = "RATE", default_value_t = 0.01, value_parser = parse_rate)]
    max_error_rate: f64,

    /// Which gain leads (the bold figure, the plots' arrows, the cross-suite chart):
    /// `at-sla`, the goodput at the SLA interpolated between the levels around it, which moves
    /// less between runs; `peak`, the best measured level's (the original suite's figure).
    /// Both are always in the summary.
    #[arg(long, value_enum, value_name = "GAIN", default_value = "at-sla")]
    headline: Headline,

    /// Image formats to write (repeatable; default both).
    #[arg(long = "format", value_enum, value_name = "FORMAT")]
    formats: Vec<Format>,

    /// Write only the summary (Markdown and JSON).
    #[arg(long)]
    no_plots: bool,

    /// Seed of the bootstrap behind the confidence intervals (the same seed and results give
    /// the same report).
    #[arg(long, value_name = "N", default_value_t = Bootstrap::default().seed)]
    seed: u64,

    /// Bootstrap resamples per comparison (0: no confidence intervals).
    #[arg(long, value_name = "N", default_value_t = Bootstrap::default().resamples)]
    resamples: u32,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Headline {
    AtSla,
    Peak,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Png,
    Svg,
}

/// A rate between 0 and 1 (a bad one is an argument error: exit status 2).
fn parse_rate(s: &str) -> Result<f64, String> {
    let rate: f64 = s.trim().parse().map_err(|_| format!("`{s}` is not a number"))?;
    if (0.0..=1.0).contains(&rate) { Ok(rate) } else { Err(format!("{rate} is not between 0 and 1")) }
}

impl Cli {
    fn options(&self) -> Options {
        let mut slas = if self.no_default_slas { Slas::none() } else { Slas::default() };
        for a in &self.slas {
            slas.set(&a.workload, a.p99_ms);
        }
        let formats = if self.no_plots {
            Vec::new()
        } else if self.formats.is_empty() {
            ImageFormat::ALL.to_vec()
        } else {
            self.formats
                .iter()
                .map(|f| match f {
                    Format::Png => ImageFormat::Png,
                    Format::Svg => ImageFormat::Svg,
                })
                .collect()
        };
        Options {
            criteria: Criteria {
                slas,
                max_error_rate: self.max_error_rate,
                headline: match self.headline {
                    Headline::AtSla => GainBasis::AtSla,
                    Headline::Peak => GainBasis::Peak,
                },
            },
            formats,
            bootstrap: Bootstrap { seed: self.seed, resamples: self.resamples, ..Bootstrap::default() },
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    let files = report::write_report(&cli.dirs, &cli.out, &cli.options())?;
    for w in &files.warnings {
        eprintln!("warning: skipped {w}");
    }
    println!("{}", files.summary.to_markdown());
    for path in files.all() {
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// The error and its causes on one line, each said once: `reading DIR: No such file or
/// directory` (the OS error code that `std::io::Error` appends is left out).
fn one_line(e: &anyhow::Error) -> String {
    let strip_code = |s: String| match s.rfind(" (os error ") {
        Some(i) if s.ends_with(')') => s[..i].to_string(),
        _ => s,
    };
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = strip_code(cause.to_string().replace('\n', " "));
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}
