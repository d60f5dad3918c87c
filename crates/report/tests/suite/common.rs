//! Shared helpers: fixture paths and lookups.

use std::path::PathBuf;

use report::{ComparisonSummary, Summary};

/// `tests/data/<name>`.
pub fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

/// The summary of one comparison on one workload.
pub fn comparison<'a>(summary: &'a Summary, comparison: &str, workload: &str) -> &'a ComparisonSummary {
    summary
        .comparisons
        .iter()
        .find(|c| c.comparison == comparison && c.workload == workload)
        .unwrap_or_else(|| panic!("no {comparison}/{workload} in the summary"))
}

/// Rounds to one decimal, as the report prints gains.
pub fn one_decimal(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}
