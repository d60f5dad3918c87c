//! `recsys-suite`: the spec's two-tier DLRM recommendation pipeline (a FastAPI ingress that
//! synthesizes feature batches, a batching ranker running MiniDLRM) on Ray Serve, the original
//! service's optimized flags against none. The suite itself is data: suites/recsys/configs.

use clap::Parser;

/// Measures what Ray Serve's flags buy a recommendation pipeline (FastAPI ingress -> DLRM ranker
/// with @serve.batch): closed-loop users send `GET /?user_id=N`, each answer must carry 32 scores
/// in [0, 1]; reports peak throughput per variant, the gain and the p99 at 400 users, and plots.
#[derive(Debug, Parser)]
#[command(
    name = "recsys-suite",
    version,
    after_help = "Examples:\n  \
        recsys-suite                            # optimized vs unoptimized, laptop-sized (~5 min) \n  \
        recsys-suite --profile spec             # the spec's sweep, 60 s per level, 100k-row tables\n  \
        recsys-suite --profile gpu              # the ranker on a GPU (needs torch and a GPU)\n  \
        recsys-suite --sweep users=10,50,200 --duration 20s\n  \
        recsys-suite --plan                     # show what would run\n\n\
        Exit status: 0 done, 1 failed, 2 bad arguments or configuration, 4 some deployments \
        failed (results partial), 130 interrupted (finished levels are kept)."
)]
struct Cli {
    #[command(flatten)]
    args: suite::SuiteArgs,
}

fn main() -> std::process::ExitCode {
    let def = suite::SuiteDef { binary: "recsys-suite", config: "suites/recsys/configs/suite.toml" };
    suite::cli::main(&def, Cli::parse().args)
}
