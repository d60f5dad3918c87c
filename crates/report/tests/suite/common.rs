//! Shared helpers: fixture paths and lookups.

use std::path::PathBuf;

use report::{ComparisonSummary, Loaded, MeasuredSweep, Summary};

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

/// The sweep of `variant` in `comparison` on `workload`.
pub fn sweep_of<'a>(
    loaded: &'a Loaded,
    comparison: &str,
    variant: &str,
    workload: &str,
) -> &'a MeasuredSweep {
    loaded
        .comparisons
        .iter()
        .filter(|c| c.name == comparison && c.workload == workload)
        .flat_map(|c| c.sweeps())
        .map(|i| &loaded.sweeps[i])
        .find(|s| s.variant == variant)
        .unwrap_or_else(|| panic!("no {comparison}_{variant}_{workload}"))
}

/// Rounds to `decimals` decimals.
pub fn round(v: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (v * scale).round() / scale
}

/// Copies the folder `from` into `to`, recursively.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read fixture") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}
