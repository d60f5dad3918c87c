//! `features-suite`: what each Ray Serve performance flag buys. Deploys each variant of the spec's
//! flag comparisons on Ray Serve, sweeps the unary, streaming and gRPC workloads, saves every
//! level, and writes the summary and plots. The suite itself is data: suites/features/configs.

use clap::Parser;

/// Measures what Ray Serve's performance flags buy: each comparison deploys a baseline and a
/// treatment variant, sweeps concurrency on each workload, and reports peak goodput within the
/// SLA, the gain, and plots.
#[derive(Debug, Parser)]
#[command(
    name = "features-suite",
    version,
    after_help = "Examples:\n  \
        features-suite                          # all on/off, 1 replica, unary + streaming (~16 min)\n  \
        features-suite --profile spec           # every comparison, 60 s per level (hours)\n  \
        features-suite --study allon8 --workload unary --sweep unary=1,8,64\n  \
        features-suite --run my-run --resume    # continue an interrupted run\n  \
        features-suite --plan                   # show what would run\n\n\
        Exit status: 0 done, 1 failed, 2 bad arguments or configuration, 4 some deployments \
        failed (results partial), 130 interrupted (finished levels are kept)."
)]
struct Cli {
    #[command(flatten)]
    args: suite::SuiteArgs,
}

fn main() -> std::process::ExitCode {
    let def = suite::SuiteDef { binary: "features-suite", config: "suites/features/configs/suite.toml" };
    suite::cli::main(&def, Cli::parse().args)
}
