//! Command-line flags, and their translation into a validated [`Plan`] before any work starts.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use clap::{Args, Parser, Subcommand, ValueEnum};
use http::Method;
use loadgen::workload::{Builder, Expect, HttpWorkload, SseWorkload};
use loadgen::{Arrival, Level, Phases, Schedule, Sweep, SweepOutput, Window};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ArrivalArg {
    Constant,
    Poisson,
}

/// Load-test an endpoint with closed-loop virtual users or open-loop arrivals, and report honest
/// throughput and latency percentiles. Without a subcommand the target is HTTP/1.1 unary.
#[derive(Debug, Parser)]
#[command(
    name = "loadgen",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Examples:\n  \
        loadgen http://127.0.0.1:8000/echo -c 64 -d 30s --method POST --body-size 10240 --echo\n  \
        loadgen http://127.0.0.1:8000/echo --sweep 1,2,4,8 --out-dir results/manual --name echo\n  \
        loadgen http://127.0.0.1:8000/ --rate 2000 --arrival poisson --sla-p99 200ms\n  \
        loadgen sse http://127.0.0.1:8000/streaming --events 50 --sweep 1,2,4,8\n\n\
        Exit status: 0 done, 1 error, 2 bad arguments, 3 an SLA or error-rate limit was missed, \
        130 interrupted (finished levels are kept)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub http: HttpArgs,

    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// HTTP/1.1 unary requests (the default).
    Http {
        #[command(flatten)]
        http: HttpArgs,
        #[command(flatten)]
        common: Common,
    },
    /// Server-sent event streams over HTTP/1.1: time to first event, gaps, events per second.
    Sse {
        #[command(flatten)]
        sse: SseArgs,
        #[command(flatten)]
        common: Common,
    },
}

/// Where to send, and what the target shares across protocols.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Target URL (http:// or https://).
    #[arg(required = true)]
    pub url: Option<String>,

    /// Extra header, 'Name: value' (repeatable). Values are never printed or saved.
    #[arg(short = 'H', long = "header")]
    pub headers: Vec<String>,

    /// PEM file of CA certificates to trust for https targets (besides the web roots).
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,

    /// Longest time to open a connection.
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    pub connect_timeout: Duration,
}

/// HTTP/1.1 unary options.
#[derive(Debug, Args)]
pub struct HttpArgs {
    #[command(flatten)]
    pub target: TargetArgs,

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
}

/// SSE options.
#[derive(Debug, Args)]
pub struct SseArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    /// Request method [default: GET, or POST when --body is given].
    #[arg(short = 'm', long)]
    pub method: Option<String>,

    /// JSON request body, or @FILE to read it from a file.
    #[arg(long)]
    pub body: Option<String>,

    /// Each stream must carry exactly this many events before [DONE].
    #[arg(long)]
    pub events: Option<u32>,

    /// Do not require streams to end with `data: [DONE]`.
    #[arg(long)]
    pub no_done: bool,
}

/// Levels, sweeps, limits and outputs: the same for every protocol.
#[derive(Debug, Args)]
pub struct Common {
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

    /// A request without a complete answer in this time is a timeout error.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub timeout: Duration,

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

/// The workload a run drives.
pub enum AnyWorkload {
    Http(HttpWorkload),
    Sse(SseWorkload),
}

/// Everything the run needs, validated.
pub struct Plan {
    pub workload: AnyWorkload,
    pub sweep: Sweep,
    pub json: Option<PathBuf>,
    pub sla_p99: Option<Duration>,
    pub max_error_rate: Option<f64>,
    pub threads: Option<usize>,
    pub quiet: bool,
}

fn parse_method(m: &str) -> Result<Method> {
    Method::from_bytes(m.to_ascii_uppercase().as_bytes())
        .with_context(|| format!("{m:?} is not an HTTP method"))
}

impl TargetArgs {
    /// Applies the shared target settings to a workload builder.
    fn apply<O>(&self, mut b: Builder<O>) -> Result<Builder<O>> {
        b = b.connect_timeout(self.connect_timeout);
        for h in &self.headers {
            let Some((name, value)) = h.split_once(':') else {
                bail!("header {:?} must look like 'Name: value'", h.split(':').next().unwrap_or_default());
            };
            b = b.header(name, value)?;
        }
        if let Some(pem) = &self.ca_cert {
            b = b.ca_cert(pem)?;
        }
        Ok(b)
    }

    fn url(&self) -> &str {
        self.url.as_deref().unwrap_or_default()
    }
}

impl HttpArgs {
    fn workload(&self) -> Result<HttpWorkload> {
        let method = parse_method(&self.method)?;
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
        let b = HttpWorkload::builder(self.target.url())?.method(method).body_size(body_size).expect(expect);
        Ok(self.target.apply(b)?.build()?)
    }
}

impl SseArgs {
    fn workload(&self) -> Result<SseWorkload> {
        let body = match self.body.as_deref() {
            Some(b) => match b.strip_prefix('@') {
                Some(path) => std::fs::read(path).with_context(|| format!("reading the body from {path}"))?,
                None => b.as_bytes().to_vec(),
            },
            None => Vec::new(),
        };
        let method = match &self.method {
            Some(m) => parse_method(m)?,
            None if body.is_empty() => Method::GET,
            None => Method::POST,
        };
        let mut b =
            SseWorkload::builder(self.target.url())?.method(method).body(body).require_done(!self.no_done);
        if let Some(n) = self.events {
            b = b.events(n);
        }
        Ok(self.target.apply(b)?.build()?)
    }
}

impl Cli {
    pub fn plan(self) -> Result<Plan> {
        let (workload, common) = match self.command {
            None => (AnyWorkload::Http(self.http.workload()?), self.common),
            Some(Command::Http { http, common }) => (AnyWorkload::Http(http.workload()?), common),
            Some(Command::Sse { sse, common }) => (AnyWorkload::Sse(sse.workload()?), common),
        };
        common.plan(workload)
    }
}

impl Common {
    fn plan(self, workload: AnyWorkload) -> Result<Plan> {
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
