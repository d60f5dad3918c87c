//! `loadgen`: the measuring core of servebench.
//!
//! One load loop serves every protocol. A [`Workload`] says how to open a connection and how to
//! send one request (and what to time and validate inside it); the runner ([`run_level`],
//! [`run_sweep`]) decides *when* requests are sent (closed loop: virtual users; open loop:
//! arrivals at a rate), which ones are measured (warm-up, measured window, cool-down), and records
//! them in mergeable HDR histograms. A level's outcome is a [`LevelResult`], written to disk as
//! versioned JSON and as one CSV row of its sweep (see `docs/results-schema.md`).
//!
//! The library never prints or exits: progress is reported through a callback and every failure
//! of the run itself is an [`Error`]. Failures of individual requests are not errors of the run:
//! they are counted by class in the result.

pub mod affinity;
mod error;
mod health;
mod level;
mod record;
mod result;
mod runner;
mod sweep;
pub mod units;
pub mod workload;

pub use error::{Error, ErrorClass, Result};
pub use level::{Arrival, Level, Phases, Schedule, Window};
pub use result::{
    ClientHealth, Counts, LatencyStats, LevelResult, PhasesInfo, RequestRecord, SCHEMA, ScheduleInfo,
    SeriesPoint, Slo, TokenCounts, csv_header, csv_row, vllm_result, vllm_result_detailed,
};
pub use runner::{Phase, Progress, ProgressFn, Stop, run_level};
pub use sweep::{Sweep, SweepOutput, read_level, run_sweep, write_csv, write_level};
pub use workload::{Failure, Probe, Workload};
