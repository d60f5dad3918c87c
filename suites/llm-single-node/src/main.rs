//! `llm-single-node-suite`: Ray Serve LLM (`build_openai_app`) with 1, 2, 4, 8 LLM replicas for each
//! flag set, against the bare engine without Ray, measured like `vllm bench serve`. Without a GPU
//! the engine is simulated behind Ray's real serving path. The suite itself is data:
//! suites/llm-single-node/configs.

use clap::Parser;

/// Measures Ray Serve LLM's scaling and what its flags buy: N LLM replicas (4 x N ingress) per
/// variant, 256 streaming users and 1,024 prompts of 512 tokens in / 128 out per replica, against
/// the bare engine; reports output tokens/s, TTFT, TPOT, ITL, scaling efficiency and plots.
#[derive(Debug, Parser)]
#[command(
    name = "llm-single-node-suite",
    version,
    after_help = "Examples:\n  \
        llm-single-node-suite                   # N = 1, 2 with the simulated engine (laptop-sized)\n  \
        llm-single-node-suite --profile spec    # the original's sweep (N = 1..8: a big machine)\n  \
        llm-single-node-suite --layout n1i1 --variant optimized,bare\n  \
        llm-single-node-suite --server-url http://127.0.0.1:8100   # a running vllm serve as the baseline\n  \
        llm-single-node-suite --plan            # show what would run\n\n\
        The first run installs ray[llm] (about 9.4 GB) into .venv-llm.\n\n\
        Exit status: 0 done, 1 failed, 2 bad arguments or configuration, 4 some deployments \
        failed (results partial), 130 interrupted (finished levels are kept)."
)]
struct Cli {
    #[command(flatten)]
    args: suite::SuiteArgs,
}

fn main() -> std::process::ExitCode {
    let def = suite::SuiteDef {
        binary: "llm-single-node-suite",
        config: "suites/llm-single-node/configs/suite.toml",
    };
    suite::cli::main(&def, Cli::parse().args)
}
