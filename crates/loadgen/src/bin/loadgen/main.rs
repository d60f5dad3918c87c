//! The `loadgen` command: flags -> validated plan -> library sweep -> progress, table, files,
//! exit status.

mod cli;
mod output;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Parser;
use loadgen::{CancellationToken, LevelResult, ProgressFn, Workload, run_sweep};

use crate::cli::{Cli, Invocation, VllmOut};
use crate::output::{ProgressPrinter, level_line, table};

/// Exit status of a bad argument or value.
const USAGE: u8 = 2;

#[allow(clippy::print_stderr)]
fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version.
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            eprintln!("loadgen: {}", one_line(&e.render().to_string()));
            return ExitCode::from(USAGE);
        }
    };
    let invocation = match cli.invocation() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("loadgen: {e:#}");
            return ExitCode::from(USAGE);
        }
    };
    // One thread: a current-thread runtime, which skips the work-stealing machinery.
    let mut rt = match invocation.threads {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(t) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(t);
            b
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    let rt = match rt.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadgen: starting the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(invocation)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("loadgen: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// clap's message on one line: its lines up to the usage, joined.
fn one_line(message: &str) -> String {
    let lines: Vec<&str> = message
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty())
        .collect();
    let joined = lines.join(" ");
    joined.strip_prefix("error: ").unwrap_or(&joined).to_owned()
}

fn write_json(path: &std::path::Path, results: &[LevelResult]) -> Result<()> {
    let json = serde_json::to_vec_pretty(results)?;
    std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))
}

/// When a run counts as failed.
struct Limits {
    sla_p99: Option<std::time::Duration>,
    max_error_rate: Option<f64>,
    require_stable: bool,
}

impl VllmOut {
    fn write(&self, r: &LevelResult) -> Result<()> {
        let path = if self.several {
            let stem = self.path.file_stem().and_then(|s| s.to_str()).unwrap_or("vllm");
            let ext = self.path.extension().and_then(|s| s.to_str()).unwrap_or("json");
            self.path.with_file_name(format!("{stem}_{}.{ext}", r.label))
        } else {
            self.path.clone()
        };
        let v = if self.detailed {
            loadgen::vllm_result_detailed(r, &self.model, self.backend)
        } else {
            loadgen::vllm_result(r, &self.model, self.backend)
        };
        std::fs::write(&path, serde_json::to_vec_pretty(&v)?)
            .with_context(|| format!("writing {}", path.display()))
    }
}

#[allow(clippy::print_stderr, clippy::print_stdout)]
async fn run(invocation: Invocation) -> Result<ExitCode> {
    let Invocation { workload, sweep, json, sla_p99, max_error_rate, require_stable, quiet, vllm, .. } =
        invocation;
    let limits = Limits { sla_p99, max_error_rate, require_stable };
    let vllm = vllm.as_ref();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cancel = CancellationToken::new();
    tokio::spawn({
        let cancel = cancel.clone();
        async move {
            // The first SIGINT or SIGTERM stops the level, keeping what finished; a second one
            // does not wait for the level to wind down.
            loadgen::watch_interrupts(cancel).await;
            eprintln!("\nloadgen: interrupted twice: exiting now");
            std::process::exit(130);
        }
    });
    let workload = Arc::new(workload);
    // One connection first: an unreachable target is a one-line error, not a run of errors.
    tokio::select! {
        c = workload.connect() => {
            c.map_err(|f| anyhow::anyhow!("cannot reach {}: {}", workload.target(), f.detail))?;
        }
        _ = cancel.cancelled() => {
            eprintln!("loadgen: interrupted before the first level");
            return Ok(ExitCode::from(130));
        }
    }

    let printer = Arc::new(ProgressPrinter::new());
    let progress: Option<ProgressFn> = (!quiet).then(|| {
        let p = printer.clone();
        Arc::new(move |pr: &loadgen::Progress| p.show(pr)) as ProgressFn
    });

    let mut done: Vec<LevelResult> = Vec::new();
    let mut json_err = None;
    let mut on_level = |r: &LevelResult, resumed: bool| {
        printer.clear();
        if !quiet {
            eprintln!("{}", level_line(r, resumed));
        }
        done.push(r.clone());
        if let Some(v) = vllm
            && let Err(e) = v.write(r)
        {
            json_err = Some(e);
        }
        if let Some(path) = &json
            && let Err(e) = write_json(path, &done)
        {
            json_err = Some(e);
        }
    };
    let outcome = run_sweep(&workload, &sweep, progress.as_ref(), &cancel, &mut on_level).await;
    printer.clear();
    if let Some(e) = json_err {
        return Err(e);
    }
    let results = match outcome {
        Ok(r) => r,
        Err(loadgen::Error::Stopped { level }) => {
            if !done.is_empty() {
                println!("{}", table(&done));
            }
            let kept = match &sweep.output {
                Some(o) => format!(" in {}", o.dir.display()),
                None => String::new(),
            };
            eprintln!(
                "loadgen: interrupted during level {level}; {} finished level(s) kept{kept}",
                done.len()
            );
            return Ok(ExitCode::from(130));
        }
        Err(e @ (loadgen::Error::Config(_) | loadgen::Error::Target { .. })) => {
            eprintln!("loadgen: {:#}", anyhow::Error::from(e));
            return Ok(ExitCode::from(USAGE));
        }
        Err(e) => return Err(e.into()),
    };
    println!("{}", table(&results));
    if let Some(o) = &sweep.output {
        eprintln!("results: {} and {}/", o.csv_path().display(), o.dir.join(&o.stem).display());
    }

    let mut missed = Vec::new();
    for r in &results {
        if let Some(sla) = limits.sla_p99 {
            let limit = sla.as_secs_f64() * 1000.0;
            match r.p99_ms() {
                Some(p99) if p99 <= limit => {}
                Some(p99) => {
                    missed.push(format!("{}: p99 {p99:.2} ms is over the SLA of {limit} ms", r.label))
                }
                None => missed.push(format!("{}: no successful request, so no p99 to meet the SLA", r.label)),
            }
        }
        if let Some(max) = limits.max_error_rate {
            if r.error_rate() > max {
                missed.push(format!("{}: error rate {:.4} is over {max}", r.label, r.error_rate()));
            } else if !r.valid {
                missed.push(format!(
                    "{}: the level measured nothing: {}",
                    r.label,
                    r.invalid_reason.as_deref().unwrap_or("no reason given")
                ));
            }
        }
        if limits.require_stable
            && let Some(s) = r.stability.as_ref().filter(|s| !s.stable)
        {
            missed.push(format!("{}: the level was unstable: {}", r.label, s.reasons.join("; ")));
        }
    }
    if !missed.is_empty() {
        for m in &missed {
            eprintln!("loadgen: {m}");
        }
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}
