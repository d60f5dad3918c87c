//! The command line every suite binary shares, as clap `Args` groups that a binary flattens into
//! its own parser. Values are parsed by `FromStr` types ([`Span`], [`SlaArg`], [`SweepArg`]), so
//! clap rejects bad input (exit status 2) before anything starts.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use loadgen::units::{SlaArg, Span, SweepArg};

/// Where the variants run.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// A fresh single-node Ray cluster on this machine per deployment.
    Local,
    /// An Anyscale service per deployment (the `anyscale` CLI must be logged in).
    Anyscale,
    /// A running endpoint given by --url (one variant: name it with --variant).
    Url,
}

/// Which configuration and profile.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Configuration")]
pub struct ConfigArgs {
    /// Profile of the suite's configuration (see --plan): e.g. default (laptop), spec, smoke.
    #[arg(long, default_value = "default")]
    pub profile: String,

    /// The suite's configuration file [default: suites/<suite>/configs/suite.toml].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// What to run, out of the profile's selection.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Selection")]
pub struct SelectArgs {
    /// Only these studies (comma-separated), e.g. allon,allon8.
    #[arg(long, visible_alias = "comparison", value_delimiter = ',', value_name = "NAME")]
    pub study: Vec<String>,

    /// Only these workloads (comma-separated), e.g. unary,streaming.
    #[arg(long, value_delimiter = ',', value_name = "NAME")]
    pub workload: Vec<String>,

    /// Only measure these variants (comma-separated), e.g. all_on.
    #[arg(long, value_delimiter = ',', value_name = "NAME")]
    pub variant: Vec<String>,

    /// Only these layouts of scaling studies (comma-separated), e.g. n1,n2.
    #[arg(long, value_delimiter = ',', value_name = "NAME")]
    pub layout: Vec<String>,
}

/// How long and how hard each level runs, and what counts as a peak.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Levels")]
pub struct TimingArgs {
    /// Replace a sweep's user counts, NAME=1,2,4 (repeatable).
    #[arg(long, value_name = "NAME=USERS")]
    pub sweep: Vec<SweepArg>,

    /// Measured window per level, e.g. 60s.
    #[arg(long, value_name = "DURATION", conflicts_with = "requests")]
    pub duration: Option<Span>,

    /// Measured window per level as a request count (per replica for per-replica workloads).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
    pub requests: Option<u64>,

    /// Warm-up per level (load, not recorded).
    #[arg(long, value_name = "DURATION")]
    pub warmup: Option<Span>,

    /// Cool-down after each level.
    #[arg(long, value_name = "DURATION")]
    pub cooldown: Option<Span>,

    /// Request timeout.
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<Span>,

    /// p99 SLA of a workload, WORKLOAD=DURATION (repeatable): unary=300ms, streaming=0.7s,
    /// unary=300 (milliseconds).
    #[arg(long, value_name = "WORKLOAD=DURATION")]
    pub sla: Vec<SlaArg>,

    /// Measure every level N times (paired runs alternate the variants in ABBA order).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=50))]
    pub repeat: Option<u32>,

    /// Deploy one variant at a time and sweep it in full, instead of both variants of a
    /// comparison at once, alternated level by level (for targets that cannot hold two).
    #[arg(long)]
    pub sequential: bool,

    /// Measure every level of a sweep, also past saturation.
    #[arg(long)]
    pub full_sweep: bool,

    /// Measure each repeat on fresh deployments (torn down and started again between repeats),
    /// so that the intervals also cover what differs between deployments.
    #[arg(long, conflicts_with = "same_deployment")]
    pub redeploy: bool,

    /// Measure every repeat on the same deployments, also where the profile redeploys.
    #[arg(long)]
    pub same_deployment: bool,

    /// Measure a level whose window was unstable again, up to N times (0: never), and use the
    /// last attempt; the attempts not used are kept beside it (attempt_<level>-<n>.json).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=5))]
    pub retry_unstable: Option<u32>,

    /// Adaptive levels: the warm-up ends once the per-second series stops trending, the window
    /// once throughput and p99 have converged (within the profile's bounds; --warmup and
    /// --duration are then the shortest each may be).
    #[arg(long, conflicts_with_all = ["fixed_length", "requests"])]
    pub adaptive: bool,

    /// With adaptive levels, no scouting pass: every level is measured with the long bounds,
    /// also where the profile scouts the levels first.
    #[arg(long)]
    pub no_scout: bool,

    /// Fixed-length levels (--warmup, --duration), also where the profile makes them adaptive.
    #[arg(long)]
    pub fixed_length: bool,

    /// Do not collect the server's view of each level (Ray Serve's metrics, each process's CPU).
    #[arg(long)]
    pub no_server_view: bool,

    /// Levels above this error rate (0..1) never count as a peak.
    #[arg(long, default_value_t = 0.01, value_name = "RATE", value_parser = parse_rate)]
    pub max_error_rate: f64,
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let r: f64 = s.trim().parse().map_err(|_| format!("{s:?} is not a number"))?;
    if (0.0..=1.0).contains(&r) { Ok(r) } else { Err(format!("{s} is not between 0 and 1")) }
}

/// Where results go.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Results")]
pub struct RunArgs {
    /// Name of the run's folder under --results-dir [default: the start time].
    #[arg(long, value_name = "NAME", value_parser = parse_run_name)]
    pub run: Option<String>,

    /// Where runs land [default: results/<suite>].
    #[arg(long, value_name = "DIR")]
    pub results_dir: Option<PathBuf>,

    /// Continue the run named by --run: keep its finished levels, run the rest.
    #[arg(long, requires = "run")]
    pub resume: bool,

    /// Print the plan (deployments, levels, time) and exit.
    #[arg(long)]
    pub plan: bool,
}

fn parse_run_name(r: &str) -> Result<String, String> {
    if !r.is_empty()
        && r.len() <= 100
        && r.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && !r.starts_with('.')
    {
        Ok(r.to_owned())
    } else {
        Err(format!("{r:?}: use letters, digits, '-', '_' and '.' (not first)"))
    }
}

/// Where the deployments run.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Target")]
pub struct TargetArgs {
    /// Where the variants run.
    #[arg(long, value_enum, default_value = "local")]
    pub target: TargetKind,

    /// --target url: base URL of the HTTP ingress (no query string, no user info); one per
    /// variant as VARIANT=URL (repeatable) to measure running deployments paired.
    #[arg(long, value_name = "[VARIANT=]URL", required_if_eq("target", "url"))]
    pub url: Vec<String>,

    /// --target url: URI of the gRPC ingress (http://HOST:PORT), or VARIANT=URL per variant.
    #[arg(long, value_name = "[VARIANT=]URL")]
    pub grpc_url: Vec<String>,

    /// A running server to measure as a study's outside-Ray baseline instead of starting one.
    #[arg(long, value_name = "URL")]
    pub server_url: Option<String>,

    /// The environment variable that holds the bearer token for --url and --server-url (never
    /// pass the token itself on the command line).
    #[arg(long, default_value = "SERVEBENCH_TOKEN", value_name = "VAR")]
    pub token_env: String,
}

/// Where the client and local clusters run.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "CPUs")]
pub struct PinArgs {
    /// Local: logical CPUs each Ray cluster gets [default: enough for the layout].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub num_cpus: Option<u32>,

    /// Local: the CPUs of each Ray cluster (a taskset list such as 0-11) [default: on 4 or more
    /// cores, all but the client's; on fewer, all, shared with the client].
    #[arg(long, value_name = "LIST")]
    pub ray_cpus: Option<String>,

    /// Local: the CPUs of this client [default: on 4 or more cores, the last quarter; on fewer,
    /// all, shared with Ray].
    #[arg(long, value_name = "LIST")]
    pub client_cpus: Option<String>,

    /// Local: pin nothing (Ray and the client share every core).
    #[arg(long, conflicts_with_all = ["ray_cpus", "client_cpus"])]
    pub no_pin: bool,
}

/// Everything a suite binary's command line holds (each group is documented on its type).
#[derive(Debug, Clone, Args)]
#[allow(missing_docs)]
pub struct SuiteArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub timing: TimingArgs,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub pinning: PinArgs,
}
