//! Command-line flags, and their translation into a validated [`Plan`] before any work starts.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use clap::{Parser, ValueEnum};
use http::Method;
use loadgen::workload::{Expect, HttpWorkload};
use loadgen::{Arrival, Level, Phases, Schedule, Sweep, SweepOutput, Window};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ArrivalArg {
    Constant,
    Poisson,
}

/// Load-test an HTTP endpoint with closed-loop virtual users or open-loop arrivals, and report
/// honest throughput and latency percentiles.
#[derive(Debug, Parser)]
#[command(
    name = "loadgen",
    version,
    after_help = "Examples:\n  \
        loadgen http://127.0.0.1:8000/echo -c 64 -d 30s --method POST --body-size 10240 --echo\n  \
        loadgen http://127.0.0.1:8000/echo --sweep 1,2,4,8 --out-dir results/manual --name echo\n  \
        loadgen http://127.0.0.1:8000/ --rate 2000 --arrival poisson --sla-p99 200ms\n\n\
        Exit status: 0 done, 1 error, 2 bad arguments, 3 an SLA or error-rate limit was missed, \
        130 interrupted (finished levels are kept)."
)]
pub struct Cli {
    /// Target URL (http:// or https://).
    pub url: String,

    /// Virtual users (closed loop); a comma-separated list makes a sweep.
    #[arg(short = 'c', long, value_delimiter = ',', default_value = "8", conflicts_with = "sweep")]
    pub concurrency: Vec<u32>,

    /// Concurrency levels to sweep, e.g. 1,2,4,8 (same as a list given to -c).
    #[arg(long, value_delimiter = ',')]
    pub sweep: Option<Vec<u32>>,

    /// Open loop: arrivals per second instead of virtual users; a list makes a sweep.
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["sweep", "think_time"])]
    pub rate: Option<Vec<f64>>,

    /// Open loop: how arrivals are spaced.
    #[arg(long, value_enum, default_value = "poisson", requires = "rate")]
    pub arrival: ArrivalArg,

    /// Open loop: most requests (and connections) in flight at once.
    #[arg(long, default_value_t = 1024, requires = "rate")]
    pub max_in_flight: u32,

    /// Measured window per level (e.g. 30s, 1m, 500ms).
    #[arg(short = 'd', long, value_parser = parse_duration, default_value = "10s")]
    pub duration: Duration,

    /// Measure a number of requests per level instead of a duration.
    #[arg(short = 'n', long, conflicts_with = "duration")]
    pub requests: Option<u64>,

    /// Load before each window, not recorded.
    #[arg(long, value_parser = parse_duration, default_value = "2s")]
    pub warmup: Duration,

    /// Quiet time after each level, so the server drains before the next.
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    pub cooldown: Duration,

    /// Pause of each virtual user between a response and its next request.
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    pub think_time: Duration,

    /// Request method.
    #[arg(short = 'm', long, default_value = "GET")]
    pub method: String,

    /// Request body size in bytes [default: 10240 for POST, PUT and PATCH, else 0].
    #[arg(long)]
    pub body_size: Option<usize>,

    /// Check that each response body equals the request body (echo servers).
    #[arg(long)]
    pub echo: bool,

    /// Only this status counts as success [default: any 2xx].
    #[arg(long, conflicts_with = "echo")]
    pub expect_status: Option<u16>,

    /// Extra header, 'Name: value' (repeatable). Values are never printed or saved.
    #[arg(short = 'H', long = "header")]
    pub headers: Vec<String>,

    /// A request without a complete answer in this time is a timeout error.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub timeout: Duration,

    /// Longest time to open a connection.
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    pub connect_timeout: Duration,

    /// PEM file of CA certificates to trust for https targets (besides the web roots).
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,

    /// Write all level results as a JSON array to this file (updated after each level).
    #[arg(long)]
    pub json: Option<PathBuf>,

    /// Write the sweep's CSV and per-level JSON into this directory.
    #[arg(long)]
    pub out_dir: Option<PathBuf>,

    /// Name (file stem) of the results in --out-dir.
    #[arg(long, default_value = "loadgen", requires = "out_dir")]
    pub name: String,

    /// Continue a sweep in --out-dir: keep finished levels, run the rest.
    #[arg(long, requires = "out_dir")]
    pub resume: bool,

    /// Exit with status 3 when a level's p99 latency is above this (e.g. 200ms).
    #[arg(long, value_parser = parse_duration)]
    pub sla_p99: Option<Duration>,

    /// Exit with status 3 when a level's error rate is above this fraction (e.g. 0.01).
    #[arg(long)]
    pub max_error_rate: Option<f64>,

    /// Worker threads of the client [default: all usable cores].
    #[arg(long)]
    pub threads: Option<usize>,

    /// Seed of the open-loop arrival process.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// No progress line.
    #[arg(short, long)]
    pub quiet: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("{s:?} is not a duration like 30s, 500ms or 2m ({e})"))
}

/// Everything the run needs, validated.
pub struct Plan {
    pub workload: HttpWorkload,
    pub sweep: Sweep,
    pub json: Option<PathBuf>,
    pub sla_p99: Option<Duration>,
    pub max_error_rate: Option<f64>,
    pub threads: Option<usize>,
    pub quiet: bool,
}

impl Cli {
    pub fn plan(self) -> Result<Plan> {
        let method = Method::from_bytes(self.method.to_ascii_uppercase().as_bytes())
            .with_context(|| format!("{:?} is not an HTTP method", self.method))?;
        let has_body = matches!(method.as_str(), "POST" | "PUT" | "PATCH");
        let body_size = self.body_size.unwrap_or(if has_body { 10 * 1024 } else { 0 });
        let expect = match (self.echo, self.expect_status) {
            (true, _) => Expect::Echo,
            (false, Some(code)) => {
                ensure!((100..=999).contains(&code), "--expect-status {code} is not an HTTP status");
                Expect::Status(code)
            }
            (false, None) => Expect::Success,
        };
        let mut b = HttpWorkload::builder(&self.url)?
            .method(method)
            .body_size(body_size)
            .expect(expect)
            .connect_timeout(self.connect_timeout);
        for h in &self.headers {
            let Some((name, value)) = h.split_once(':') else {
                bail!("header {:?} must look like 'Name: value'", h.split(':').next().unwrap_or_default());
            };
            b = b.header(name, value)?;
        }
        if let Some(pem) = &self.ca_cert {
            b = b.ca_cert(pem)?;
        }
        let workload = b.build()?;

        if let Some(t) = self.threads {
            ensure!((1..=1024).contains(&t), "--threads must be between 1 and 1024");
        }
        if let Some(r) = self.max_error_rate {
            ensure!((0.0..=1.0).contains(&r), "--max-error-rate must be a fraction between 0 and 1");
        }
        let phases = Phases {
            warmup: self.warmup,
            window: match self.requests {
                Some(n) => Window::Requests(n),
                None => Window::Duration(self.duration),
            },
            cooldown: self.cooldown,
        };
        let schedules: Vec<Schedule> = match &self.rate {
            Some(rates) => {
                let arrival = match self.arrival {
                    ArrivalArg::Constant => Arrival::Constant,
                    ArrivalArg::Poisson => Arrival::Poisson,
                };
                rates.iter().map(|r| Schedule::open(*r, arrival, self.max_in_flight)).collect()
            }
            None => self
                .sweep
                .as_ref()
                .unwrap_or(&self.concurrency)
                .iter()
                .map(|c| Schedule::Closed { users: *c, think_time: self.think_time })
                .collect(),
        };
        ensure!(!schedules.is_empty(), "no level to run");
        let levels = schedules
            .into_iter()
            .map(|s| {
                let mut l = Level::new(s);
                l.phases = phases;
                l.timeout = self.timeout;
                l.seed = self.seed;
                l.validate()?;
                Ok(l)
            })
            .collect::<Result<Vec<_>>>()?;
        let output = self.out_dir.map(|dir| SweepOutput { dir, stem: self.name, resume: self.resume });
        Ok(Plan {
            workload,
            sweep: Sweep { levels, output },
            json: self.json,
            sla_p99: self.sla_p99,
            max_error_rate: self.max_error_rate,
            threads: self.threads,
            quiet: self.quiet,
        })
    }
}
