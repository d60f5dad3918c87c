//! What every servebench suite shares, so that a suite is a folder of data plus a few lines of
//! Rust:
//!
//! - [`SuiteConfig`]: the suite as data (`suite.toml`): studies (a baseline against a treatment,
//!   or variants across replica layouts against a server outside Ray), workloads (an app measured
//!   one way, a [`loadgen::WorkloadSpec`]) and profiles.
//! - [`SuiteArgs`]: the command line every suite binary flattens into its own; [`Settings`]: a
//!   profile with its overrides, checked before anything starts.
//! - [`Plan`]: what is deployed (each distinct variant and layout once) and which sweeps run.
//! - [`run`]: the loop "for each deployment: deploy -> sweep -> save each level -> check health ->
//!   tear down", stopped by a [`loadgen::CancellationToken`], keeping the run's [`RunIndex`].
//! - [`cli::main`]: the body of a suite binary (the only module that prints).

mod args;
pub mod cli;
mod config;
mod error;
mod folder;
mod index;
mod pinning;
mod plan;
mod run;
mod settings;

pub use args::{ConfigArgs, PinArgs, RunArgs, SelectArgs, SuiteArgs, TargetArgs, TargetKind, TimingArgs};
pub use cli::{EXIT_DEPLOYMENT_FAILED, SuiteDef};
pub use config::{
    ComparisonStudy, Metric, Profile, PythonConfig, ScalingStudy, Study, StudyKind, SuiteConfig, WorkloadDef,
};
pub use error::SuiteError;
pub use folder::{RunFolder, RunManifest, redacted_command, timestamp_name};
pub use index::{INDEX_SCHEMA, IndexStudy, IndexSweep, IndexWorkload, RunIndex, SweepStatus};
pub use pinning::{PinSource, Pinning};
pub use plan::{Group, Plan, SERVER_LAYOUT, Stage, Subject, SweepPlan, level_label};
pub use run::{Event, OnEvent, Outcome, RunOptions, level, levels, run};
pub use settings::Settings;
