//! What every servebench suite shares: its comparisons, workloads and profiles as data
//! ([`SuiteConfig`]), the plan that deploys each distinct (variant, layout) once ([`Plan`]), and the
//! loop "for each deployment: deploy -> sweep every workload -> save -> tear down" ([`run`]), with
//! results in a resumable folder that `report` reads.
//!
//! The library never prints: it reports [`Event`]s to a callback.

mod config;
mod plan;
mod run;
mod workloads;

pub use config::{Comparison, Profile, Protocol, Settings, SuiteConfig, WorkloadDef};
pub use plan::{Group, Plan, sweep_stem};
pub use run::{Event, RunOptions, SuiteError, link_comparisons, run};
pub use workloads::AnyWorkload;
