//! `loadgen`: the measuring core of servebench.
//!
//! One load loop serves every protocol. A [`Workload`] says how to open a connection and how to
//! send one request (and what to time and validate inside it); the runner ([`run_level`],
//! [`run_sweep`]) decides *when* requests are sent (closed loop: virtual users; open loop:
//! arrivals at a rate), which ones are measured (warm-up, measured window, cool-down), and records
//! them in mergeable HDR histograms. A level's outcome is a [`LevelResult`], written to disk as
//! versioned JSON and as one CSV row of its sweep (see `docs/results-schema.md`).
//!
//! The library never prints, exits or installs signal handlers: progress is reported through a
//! callback, a run is cancelled through a [`CancellationToken`], and every failure of the run
//! itself is an [`Error`]. Failures of individual requests are not errors of the run: they are
//! counted by class in the result.
//!
//! # A tour
//!
//! - **What to send**: a [`WorkloadSpec`] describes a workload as data (TOML or JSON, tagged by
//!   `protocol`: [`HttpSpec`], [`SseSpec`], [`GrpcSpec`], [`OpenAiSpec`]), checked by
//!   [`WorkloadSpec::validate`] before anything starts.
//! - **Where to send it**: an [`Endpoint`] (HTTP base URL, gRPC address, [`Header`]s whose values
//!   are [`Secret`]s, TLS settings, the HTTP engine). [`WorkloadSpec::build`] joins the two into
//!   an [`AnyWorkload`], which drives any protocol through one type. The builders in
//!   [`workload`] give the same workloads from code, and a protocol of your own is a type that
//!   implements [`Workload`].
//! - **How hard**: a [`Level`] is a [`Schedule`] (closed loop: [`Schedule::closed`]; open loop:
//!   [`Schedule::open`]) with its [`Phases`], timeout and objectives; a [`Sweep`] is a list of
//!   levels and where their results go ([`SweepOutput`], resumable).
//! - **Running**: [`run_level`] and [`run_sweep`] take a [`CancellationToken`]; a binary that
//!   wants Ctrl-C and SIGTERM to cancel it calls [`watch_interrupts`].
//! - **Results**: [`LevelResult`] (read back with [`read_level`]); URLs in results and messages
//!   go through [`redact_url`], header values never appear.
//!
//! ```no_run
//! use std::sync::Arc;
//! use loadgen::{CancellationToken, Endpoint, Level, Schedule, Sweep, WorkloadSpec, run_sweep};
//!
//! # async fn demo() -> loadgen::Result<()> {
//! let spec: WorkloadSpec = toml::from_str(r#"
//!     protocol = "http"
//!     method = "POST"
//!     path = "/echo"
//!     body_size = 1024
//!     expect = { echo = true }
//! "#).expect("a valid spec");
//! let workload = Arc::new(spec.build(&Endpoint::new("http://127.0.0.1:8000"))?);
//! let sweep = Sweep { levels: vec![Level::new(Schedule::closed(1)), Level::new(Schedule::closed(8))], output: None };
//! let results = run_sweep(&workload, &sweep, None, &CancellationToken::new(), &mut |r, _| {
//!     eprintln!("{}: {:.0} req/s", r.label, r.throughput_rps);
//! })
//! .await?;
//! # Ok(()) }
//! ```

// The README's example is compiled and run as a test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub mod affinity;
mod error;
mod health;
mod interrupt;
mod level;
mod record;
mod result;
mod runner;
mod secret;
pub mod spec;
pub mod stability;
mod sweep;
pub mod units;
mod url;
pub mod workload;

pub use error::{Error, ErrorClass, Result};
pub use interrupt::watch_interrupts;
pub use level::{Arrival, Level, Phases, Schedule, Warmup, Window};
pub use result::{
    ClientHealth, Counts, LatencyStats, LevelResult, PhaseEnd, PhasesInfo, RequestRecord, SCHEMA,
    ScheduleInfo, SeriesPoint, Slo, Stability, TokenCounts, csv_header, csv_row, vllm_result,
    vllm_result_detailed,
};
pub use runner::{Phase, PhaseStart, Progress, ProgressFn, run_level};
pub use secret::{Header, Secret};
pub use spec::{Endpoint, GrpcSpec, HttpSpec, OpenAiSpec, SseSpec, WorkloadSpec};
pub use sweep::{Sweep, SweepOutput, read_level, run_sweep, write_csv, write_level};
pub use tokio_util::sync::CancellationToken;
pub use url::{UNREADABLE_URL, redact_url};
pub use workload::{AnyWorkload, Failure, Probe, Workload};
