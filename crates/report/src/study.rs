//! What the measured sweeps are for: which are compared with which ([`ComparisonStudy`]), which
//! are the points of a scaling curve ([`ScalingStudy`]), and what a run says about its workloads
//! ([`WorkloadInfo`]). A run's `index.json` says all of this (`docs/results-schema.md`); for older
//! runs and the original suite's files the loader infers it from file and folder names.
//!
//! Studies refer to sweeps by their position in [`crate::Loaded::sweeps`], so a sweep measured
//! once can serve several studies.

use crate::model::Metric;

/// A run's word on one workload (from its index).
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadInfo {
    /// The suite.
    pub suite: String,
    /// The workload's name.
    pub name: String,
    /// The protocol it speaks (`http`, `sse`, `grpc`, `openai`).
    pub protocol: Option<String>,
    /// The p99 SLA in milliseconds: `Some(None)` when the run says there is none (the peak is the
    /// highest throughput), `None` when the run does not say.
    pub sla_p99_ms: Option<Option<f64>>,
    /// What throughput and latency mean for it, when the run says.
    pub metric: Option<Metric>,
}

/// A baseline and its treatments on one workload, compared at their peak goodput.
#[derive(Debug, Clone, PartialEq)]
pub struct ComparisonStudy {
    /// The suite.
    pub suite: String,
    /// The comparison's name (`allon8`, `recsys-oss-nightly`).
    pub name: String,
    /// What it compares, when the run says.
    pub description: Option<String>,
    /// The workload.
    pub workload: String,
    /// The baseline sweep (index into [`crate::Loaded::sweeps`]), if it was measured.
    pub baseline: Option<usize>,
    /// The treatment sweeps (indices into [`crate::Loaded::sweeps`]).
    pub treatments: Vec<usize>,
    /// A user count at which the gain and the p99 fraction are also reported.
    pub at_users: Option<u64>,
}

impl ComparisonStudy {
    /// The baseline (if any) and then the treatments.
    pub fn sweeps(&self) -> impl Iterator<Item = usize> + '_ {
        self.baseline.into_iter().chain(self.treatments.iter().copied())
    }
}

/// Throughput against the number of replicas N, for each variant, on one workload.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalingStudy {
    /// The suite.
    pub suite: String,
    /// The study's name (`replicas`, `replica_sweep`).
    pub name: String,
    /// What it measures, when the run says.
    pub description: Option<String>,
    /// The workload.
    pub workload: String,
    /// The variants, in the order the run gives (the first two are compared unless `optimized`
    /// and `unoptimized` are both there).
    pub variants: Vec<String>,
    /// The sweeps of the variants, one per variant and N (indices into
    /// [`crate::Loaded::sweeps`]; each has [`crate::MeasuredSweep::replicas`]).
    pub sweeps: Vec<usize>,
    /// The bare engine's sweeps (external; its best throughput x N is the ideal line).
    pub baseline: Vec<usize>,
}
