//! `report`: the CLI over the `report` library. Parses flags into [`report::Options`], writes the
//! report, prints the Markdown summary and the files written; warnings and errors go to stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use report::{Criteria, ImageFormat, Options, SlaAssignment, Slas};

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

    /// p99 SLA of a workload, e.g. `unary=200ms`, `streaming=0.7s` (repeatable; defaults:
    /// unary=200ms, streaming=700ms).
    #[arg(long = "sla", value_name = "WORKLOAD=DURATION")]
    slas: Vec<SlaAssignment>,

    /// Drop the default SLAs (only --sla values apply; workloads without one peak at their
    /// highest throughput).
    #[arg(long)]
    no_default_slas: bool,

    /// Levels with a higher error rate (0..1) never count as a peak.
    #[arg(long, value_name = "RATE", default_value_t = 0.01)]
    max_error_rate: f64,

    /// Image formats to write (repeatable; default both).
    #[arg(long = "format", value_enum, value_name = "FORMAT")]
    formats: Vec<Format>,

    /// Write only the Markdown summary.
    #[arg(long)]
    no_plots: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Png,
    Svg,
}

impl Cli {
    fn options(&self) -> anyhow::Result<Options> {
        if !(0.0..=1.0).contains(&self.max_error_rate) {
            anyhow::bail!("--max-error-rate must be between 0 and 1, got {}", self.max_error_rate);
        }
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
        Ok(Options { criteria: Criteria { slas, max_error_rate: self.max_error_rate }, formats })
    }
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    let options = cli.options()?;
    let files = report::write_report(&cli.dirs, &cli.out, &options)
        .with_context(|| format!("writing the report to {}", cli.out.display()))?;
    for w in &files.warnings {
        eprintln!("warning: skipped {w}");
    }
    println!("{}", files.summary.to_markdown());
    for path in files.all() {
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
