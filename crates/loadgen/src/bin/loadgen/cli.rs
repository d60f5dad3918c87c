//! Command-line flags, and their translation into a validated [`Invocation`] before any work
//! starts: flags -> [`WorkloadSpec`] and [`Endpoint`] -> [`AnyWorkload`], the one path from a
//! description to a workload that the suites take too. Every error here is a bad argument (exit
//! status 2).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use clap::{Args, Parser, Subcommand, ValueEnum};
use loadgen::spec::{Expect, GrpcCallKind, JsonCheck};
use loadgen::units::{Fraction, PhaseSpan};
use loadgen::workload::{Api, Engine};
use loadgen::{
    AnyWorkload, Arrival, Endpoint, GrpcSpec, Header, HttpSpec, Level, OpenAiSpec, Phases, Schedule, Slo,
    SseSpec, Sweep, SweepOutput, Warmup, Window, WorkloadSpec,
};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ArrivalArg {
    Constant,
    Poisson,
    Gamma,
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
        loadgen http://127.0.0.1:8000/ --sweep 1,4,16 --warmup auto -d 5s..60s --converge 5% --require-stable\n  \
        loadgen sse http://127.0.0.1:8000/streaming --events 50 --sweep 1,2,4,8\n  \
        loadgen grpc http://127.0.0.1:9000 -H 'application: grpc_unary' -c 16\n  \
        loadgen openai http://127.0.0.1:8000/v1/completions --model m --input-len 512 --output-len 128 \\\n      \
        -c 256 -n 1024 --warmup 0s --goodput 'ttft:2000 tpot:100' --save-result vllm.json\n\n\
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
    /// OpenAI-compatible streaming completions, measured like `vllm bench serve` (TTFT, TPOT, ITL).
    Openai {
        #[command(flatten)]
        openai: OpenAiArgs,
        #[command(flatten)]
        common: Common,
    },
    /// gRPC (servebench.v1.ServeBench in proto/servebench.proto): unary Echo or server streaming.
    Grpc {
        #[command(flatten)]
        grpc: GrpcArgs,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CallArg {
    Echo,
    Stream,
}

/// OpenAI options.
#[derive(Debug, Args)]
pub struct OpenAiArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    /// Model name sent with each request.
    #[arg(long)]
    pub model: String,

    /// Prompt length in tokens.
    #[arg(long, default_value_t = 512)]
    pub input_len: u32,

    /// max_tokens of each request.
    #[arg(long, default_value_t = 128)]
    pub output_len: u32,

    /// Let generation stop at end-of-sequence (default: ignore_eos, so every request makes
    /// --output-len tokens, and one that reports fewer is an error).
    #[arg(long)]
    pub allow_eos: bool,

    /// /v1/completions: send prompts as text instead of token-id arrays.
    #[arg(long)]
    pub text_prompts: bool,

    /// The API the URL serves [default: chat when the path ends in /chat/completions].
    #[arg(long, value_enum)]
    pub api: Option<ApiArg>,

    /// Do not ask for token counts on every chunk (stream_options.continuous_usage_stats, vLLM);
    /// inter-token latency is then per chunk.
    #[arg(long)]
    pub no_continuous_usage: bool,

    /// Longest SSE line or event accepted, in bytes; a longer one is a stream error.
    #[arg(long, default_value_t = loadgen::spec::DEFAULT_MAX_BYTES)]
    pub max_event_bytes: usize,

    /// Also write each level as `vllm bench serve --save-result` does, to this file (a sweep adds
    /// the level's label to the name).
    #[arg(long)]
    pub save_result: Option<PathBuf>,

    /// With --save-result: also the per-request lists, as `vllm bench serve --save-detailed`
    /// (start_times, input_lens, output_lens, ttfts, itls, errors; no generated_texts).
    #[arg(long, requires = "save_result")]
    pub save_detailed: bool,
}

/// `--api`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ApiArg {
    /// /v1/completions.
    Completions,
    /// /v1/chat/completions.
    Chat,
}

impl OpenAiArgs {
    fn spec(&self, seed: u64) -> Result<(WorkloadSpec, Endpoint)> {
        let (endpoint, path) = self.target.endpoint()?;
        let spec = OpenAiSpec {
            path,
            api: self.api.map(|a| match a {
                ApiArg::Completions => Api::Completions,
                ApiArg::Chat => Api::Chat,
            }),
            input_len: self.input_len,
            output_len: self.output_len,
            ignore_eos: !self.allow_eos,
            text_prompts: self.text_prompts,
            continuous_usage: !self.no_continuous_usage,
            seed,
            max_event_bytes: self.max_event_bytes,
            ..OpenAiSpec::new(self.model.clone())
        };
        Ok((WorkloadSpec::Openai(spec), endpoint))
    }
}

/// gRPC options.
#[derive(Debug, Args)]
pub struct GrpcArgs {
    /// Server address, http://HOST:PORT, or https://HOST:PORT for TLS.
    pub url: String,

    /// PEM file of CA certificates to trust for https targets (besides the web roots).
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,

    /// https: the name the server's certificate must carry, when not the URL's host.
    #[arg(long)]
    pub tls_server_name: Option<String>,

    /// The call: unary Echo, or the server-streaming Stream.
    #[arg(long, value_enum, default_value = "echo")]
    pub call: CallArg,

    /// Echo payload size in bytes.
    #[arg(long, default_value_t = 10240)]
    pub payload_size: usize,

    /// Stream: messages per stream (each must arrive).
    #[arg(long, default_value_t = 50)]
    pub chunks: u32,

    /// Stream: server delay before the first message, ms.
    #[arg(long, default_value_t = 0)]
    pub ttft_ms: u32,

    /// Stream: server delay between messages, ms.
    #[arg(long, default_value_t = 0)]
    pub token_delay_ms: u32,

    /// Metadata, 'key: value' (repeatable), e.g. 'application: grpc_unary'. Values are never printed.
    #[arg(short = 'H', long = "metadata")]
    pub metadata: Vec<String>,

    /// Share this many HTTP/2 connections among all users [default: one per user].
    #[arg(long)]
    pub connections: Option<u32>,

    /// Longest time to open a connection.
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    pub connect_timeout: Duration,
}

impl GrpcArgs {
    fn spec(&self) -> Result<(WorkloadSpec, Endpoint)> {
        let spec = GrpcSpec {
            call: match self.call {
                CallArg::Echo => GrpcCallKind::Echo,
                CallArg::Stream => GrpcCallKind::Stream,
            },
            payload_size: self.payload_size,
            chunks: self.chunks,
            ttft_ms: self.ttft_ms,
            token_delay_ms: self.token_delay_ms,
            connections: self.connections,
            ..GrpcSpec::default()
        };
        let mut endpoint = Endpoint::grpc(&self.url);
        // Metadata values may be secrets (an authorization token): they travel as the endpoint's
        // headers, never shown.
        endpoint.headers = self.metadata.iter().map(|m| Header::parse(m)).collect::<loadgen::Result<_>>()?;
        endpoint.ca_cert.clone_from(&self.ca_cert);
        endpoint.tls_server_name.clone_from(&self.tls_server_name);
        endpoint.connect_timeout = self.connect_timeout;
        Ok((WorkloadSpec::Grpc(spec), endpoint))
    }
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

    /// https: the name the server's certificate must carry, when not the URL's host.
    #[arg(long)]
    pub tls_server_name: Option<String>,

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

    /// A literal request body instead, or @FILE to read it from a file.
    #[arg(long, conflicts_with = "body_size")]
    pub body: Option<String>,

    /// Check that each response body equals the request body (echo servers).
    #[arg(long)]
    pub echo: bool,

    /// Only this status counts as success [default: any 2xx].
    #[arg(long)]
    pub expect_status: Option<u16>,

    /// Check a JSON answer: FIELD[,len=N][,min=X][,max=Y], e.g. 'scores,len=32,min=0,max=1'
    /// (FIELD is a top-level key or a JSON pointer such as /data/0/scores).
    #[arg(long)]
    pub expect_json: Option<String>,

    /// Longest body read whole (for --expect-json), in bytes; a longer one is a body error.
    #[arg(long, default_value_t = loadgen::spec::DEFAULT_MAX_BYTES)]
    pub max_body_bytes: usize,

    /// The HTTP/1.1 implementation: native (loadgen's own, lighter) or hyper (to cross-check).
    #[arg(long, value_enum, default_value = "native")]
    pub engine: EngineArg,
}

/// `--engine`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum EngineArg {
    /// loadgen's own HTTP/1.1 connection.
    Native,
    /// hyper's client connection.
    Hyper,
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

    /// Longest SSE line or event accepted, in bytes; a longer one is a stream error.
    #[arg(long, default_value_t = loadgen::spec::DEFAULT_MAX_BYTES)]
    pub max_event_bytes: usize,
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

    /// Open loop, gamma arrivals: the shape (1 = Poisson, below 1 burstier).
    #[arg(long, default_value_t = 1.0, requires = "rate")]
    pub burstiness: f64,

    /// Goodput objectives, e.g. 'ttft:200 tpot:50 e2el:2000' (ms): successful requests that meet
    /// them all count towards goodput.
    #[arg(long)]
    pub goodput: Option<String>,

    /// Open loop: most requests (and connections) in flight at once.
    #[arg(long, default_value_t = 1024, requires = "rate")]
    pub max_in_flight: u32,

    /// Measured window per level: a time (30s, 1m, 500ms); or MIN..MAX (5s..60s), an adaptive
    /// window that ends once throughput and p99 have converged (see --converge) and at MAX at the
    /// latest; or auto (0s..60s).
    #[arg(short = 'd', long, default_value = "10s")]
    pub duration: PhaseSpan,

    /// Adaptive window: end it once the 95% confidence interval of mean throughput is within
    /// this of the mean on either side (5% or 0.05) [default: 5%].
    #[arg(long)]
    pub converge: Option<Fraction>,

    /// Adaptive window: ...and the p99 latencies of its first and second half differ by at most
    /// this [default: 10%].
    #[arg(long)]
    pub converge_p99: Option<Fraction>,

    /// Measure a number of requests per level instead of a duration.
    #[arg(short = 'n', long, conflicts_with = "duration")]
    pub requests: Option<u64>,

    /// Load before each window, not recorded: a time (2s); or MIN..MAX (0s..30s), a warm-up
    /// that ends once per-second throughput and latency stop moving (at least 4 s); or auto
    /// (0s..30s).
    #[arg(long, default_value = "2s")]
    pub warmup: PhaseSpan,

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

    /// Exit with status 3 when a level is judged unstable (its throughput swung or drifted, or
    /// its p99 drifted, during the window).
    #[arg(long)]
    pub require_stable: bool,

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

/// Parses 'ttft:200 tpot:50 e2el:2000' (milliseconds, any subset, in any order).
fn parse_slo(s: &str) -> Result<Slo> {
    let mut slo = Slo::default();
    for part in s.split([' ', ',']).filter(|p| !p.is_empty()) {
        let (k, v) =
            part.split_once(':').with_context(|| format!("goodput objective {part:?} must be NAME:MS"))?;
        let ms: f64 =
            v.trim_end_matches("ms").parse().with_context(|| format!("{v:?} is not a number of ms"))?;
        ensure!(ms.is_finite() && ms > 0.0, "goodput objective {part:?} must be a positive number of ms");
        match k {
            "ttft" => slo.ttft_ms = Some(ms),
            "tpot" => slo.tpot_ms = Some(ms),
            "e2el" => slo.e2el_ms = Some(ms),
            _ => bail!("unknown goodput objective {k:?}: use ttft, tpot or e2el"),
        }
    }
    ensure!(slo != Slo::default(), "--goodput names no objective");
    Ok(slo)
}

/// Parses 'FIELD[,len=N][,min=X][,max=Y]'.
fn parse_json_check(s: &str) -> Result<JsonCheck> {
    let mut parts = s.split(',').map(str::trim);
    let field = parts.next().unwrap_or_default();
    ensure!(!field.is_empty(), "--expect-json names no field");
    let mut check = JsonCheck::field(field);
    for part in parts {
        let (k, v) =
            part.split_once('=').with_context(|| format!("--expect-json: {part:?} must be NAME=VALUE"))?;
        match k {
            "len" => {
                check.len =
                    Some(v.parse().with_context(|| format!("--expect-json: len {v:?} is not a count"))?)
            }
            "min" => {
                check.min =
                    Some(v.parse().with_context(|| format!("--expect-json: min {v:?} is not a number"))?)
            }
            "max" => {
                check.max =
                    Some(v.parse().with_context(|| format!("--expect-json: max {v:?} is not a number"))?)
            }
            _ => bail!("--expect-json: unknown check {k:?}: use len, min or max"),
        }
    }
    Ok(check)
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("{s:?} is not a duration like 30s, 500ms or 2m ({e})"))
}

/// A request body given as text or @FILE.
fn read_body(arg: &str) -> Result<String> {
    match arg.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading the body from {path}")),
        None => Ok(arg.to_owned()),
    }
}

/// A file to write: its folder must exist.
fn check_writable(path: &Path, flag: &str) -> Result<()> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    ensure!(parent.is_dir(), "{flag}: the folder {} does not exist", parent.display());
    ensure!(!path.is_dir(), "{flag}: {} is a folder", path.display());
    Ok(())
}

/// Where vLLM-style results go (OpenAI only).
pub struct VllmOut {
    pub path: PathBuf,
    pub model: String,
    pub backend: &'static str,
    pub several: bool,
    pub detailed: bool,
}

/// Everything a run needs, validated.
pub struct Invocation {
    pub workload: AnyWorkload,
    pub sweep: Sweep,
    pub json: Option<PathBuf>,
    pub sla_p99: Option<Duration>,
    pub max_error_rate: Option<f64>,
    pub require_stable: bool,
    pub threads: Option<usize>,
    pub quiet: bool,
    pub vllm: Option<VllmOut>,
}

impl TargetArgs {
    /// The endpoint of the URL's origin, with the shared target settings, and the URL's path.
    fn endpoint(&self) -> Result<(Endpoint, String)> {
        let (mut endpoint, path) = Endpoint::for_url(self.url.as_deref().unwrap_or_default())?;
        endpoint.headers = self.headers.iter().map(|h| Header::parse(h)).collect::<loadgen::Result<_>>()?;
        endpoint.ca_cert.clone_from(&self.ca_cert);
        endpoint.tls_server_name.clone_from(&self.tls_server_name);
        endpoint.connect_timeout = self.connect_timeout;
        Ok((endpoint, path))
    }
}

impl HttpArgs {
    fn spec(&self, seed: u64) -> Result<(WorkloadSpec, Endpoint)> {
        let (mut endpoint, path) = self.target.endpoint()?;
        endpoint.engine = match self.engine {
            EngineArg::Native => Engine::Native,
            EngineArg::Hyper => Engine::Hyper,
        };
        let has_body = matches!(self.method.trim().to_ascii_uppercase().as_str(), "POST" | "PUT" | "PATCH");
        let body = self.body.as_deref().map(read_body).transpose()?;
        let body_size = match (&body, self.body_size) {
            (Some(_), _) => 0,
            (None, Some(n)) => n,
            (None, None) if has_body => 10 * 1024,
            (None, None) => 0,
        };
        let spec = HttpSpec {
            method: self.method.clone(),
            path,
            body_size,
            body,
            expect: Expect {
                status: self.expect_status,
                echo: self.echo,
                json: self.expect_json.as_deref().map(parse_json_check).transpose()?,
            },
            seed,
            max_body_bytes: self.max_body_bytes,
        };
        Ok((WorkloadSpec::Http(spec), endpoint))
    }
}

impl SseArgs {
    fn spec(&self) -> Result<(WorkloadSpec, Endpoint)> {
        let (endpoint, path) = self.target.endpoint()?;
        let spec = SseSpec {
            method: self.method.clone(),
            path,
            body: self.body.as_deref().map(read_body).transpose()?,
            events: self.events,
            require_done: !self.no_done,
            max_event_bytes: self.max_event_bytes,
        };
        Ok((WorkloadSpec::Sse(spec), endpoint))
    }
}

impl Cli {
    /// Checks every argument and builds what the run needs; any error is a bad argument.
    pub fn invocation(self) -> Result<Invocation> {
        let mut vllm = None;
        let (spec, endpoint, common) = match self.command {
            None => {
                let (s, e) = self.http.spec(self.common.seed)?;
                (s, e, self.common)
            }
            Some(Command::Http { http, common }) => {
                let (s, e) = http.spec(common.seed)?;
                (s, e, common)
            }
            Some(Command::Sse { sse, common }) => {
                let (s, e) = sse.spec()?;
                (s, e, common)
            }
            Some(Command::Grpc { grpc, common }) => {
                let (s, e) = grpc.spec()?;
                (s, e, common)
            }
            Some(Command::Openai { openai, common }) => {
                let (s, e) = openai.spec(common.seed)?;
                if let Some(path) = &openai.save_result {
                    check_writable(path, "--save-result")?;
                    vllm = Some((path.clone(), openai.save_detailed));
                }
                (s, e, common)
            }
        };
        let workload = spec.build(&endpoint)?;
        let mut invocation = common.invocation(workload)?;
        if let (Some((path, detailed)), AnyWorkload::Openai(w)) = (vllm, &invocation.workload) {
            for l in &mut invocation.sweep.levels {
                l.keep_requests = detailed;
            }
            invocation.vllm = Some(VllmOut {
                path,
                model: w.model().to_owned(),
                backend: match w.api() {
                    Api::Completions => "openai",
                    Api::Chat => "openai-chat",
                },
                several: invocation.sweep.levels.len() > 1,
                detailed,
            });
        }
        Ok(invocation)
    }
}

impl Common {
    fn invocation(self, workload: AnyWorkload) -> Result<Invocation> {
        if let Some(t) = self.threads {
            ensure!((1..=1024).contains(&t), "--threads must be between 1 and 1024");
        }
        if let Some(r) = self.max_error_rate {
            ensure!((0.0..=1.0).contains(&r), "--max-error-rate must be a fraction between 0 and 1");
        }
        if let Some(sla) = self.sla_p99 {
            ensure!(
                !sla.is_zero() && sla <= Duration::from_secs(24 * 3600),
                "--sla-p99 must be longer than zero and at most a day"
            );
        }
        if let Some(path) = &self.json {
            check_writable(path, "--json")?;
        }
        let window = match (self.requests, self.duration) {
            (Some(n), _) => Window::Requests(n),
            (None, PhaseSpan::Fixed(d)) => Window::Duration(d),
            (None, PhaseSpan::Between(min, max)) => Window::adaptive(min, max),
            (None, PhaseSpan::Auto) => Window::auto(),
        };
        let window = match window {
            Window::Adaptive { min, max, rel_half_width, p99_tolerance } => Window::Adaptive {
                min,
                max,
                rel_half_width: self.converge.map_or(rel_half_width, |f| f.0),
                p99_tolerance: self.converge_p99.map_or(p99_tolerance, |f| f.0),
            },
            w => {
                for (flag, given) in
                    [("--converge", self.converge.is_some()), ("--converge-p99", self.converge_p99.is_some())]
                {
                    ensure!(!given, "{flag} needs an adaptive window: -d MIN..MAX or -d auto");
                }
                w
            }
        };
        let phases = Phases {
            warmup: match self.warmup {
                PhaseSpan::Fixed(d) => Warmup::Fixed(d),
                PhaseSpan::Between(min, max) => Warmup::Auto { min, max },
                PhaseSpan::Auto => Warmup::auto(),
            },
            window,
            cooldown: self.cooldown,
        };
        let schedules: Vec<Schedule> = match &self.rate {
            Some(rates) => {
                let arrival = match self.arrival {
                    ArrivalArg::Constant => Arrival::Constant,
                    ArrivalArg::Poisson => Arrival::Poisson,
                    ArrivalArg::Gamma => Arrival::Gamma { burstiness: self.burstiness },
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
        let slo = self.goodput.as_deref().map(parse_slo).transpose()?;
        let levels = schedules
            .into_iter()
            .map(|s| {
                let mut l = Level::new(s);
                l.phases = phases;
                l.timeout = self.timeout;
                l.seed = self.seed;
                l.slo = slo;
                l
            })
            .collect();
        if let Some(dir) = &self.out_dir {
            std::fs::create_dir_all(dir).with_context(|| format!("--out-dir: creating {}", dir.display()))?;
        }
        let output = self.out_dir.map(|dir| SweepOutput { dir, stem: self.name, resume: self.resume });
        let sweep = Sweep { levels, output };
        sweep.validate()?;
        Ok(Invocation {
            workload,
            sweep,
            json: self.json,
            sla_p99: self.sla_p99,
            max_error_rate: self.max_error_rate,
            require_stable: self.require_stable,
            threads: self.threads,
            quiet: self.quiet,
            vllm: None,
        })
    }
}
