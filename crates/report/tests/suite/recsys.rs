//! The original recsys suite's Locust dumps (`tests/data/published-recsys`, about 1,000 entries per
//! file, one per distinct URL): merged into one level each, they must give the published figures,
//! and the folder pair is a comparison of optimized against unoptimized.

use report::{Criteria, SourceFormat, load_dir, summarize};

use super::common::{data, round, sweep_of};

const COMPARISON: &str = "recsys-oss-nightly";

#[test]
fn merged_locust_entries_give_the_published_rps_and_p99() {
    let loaded = load_dir(data("published-recsys")).expect("loads");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    // (users, rps, p99 ms)
    let expected = [
        ("unoptimized", [(10, 156.8, 84.0), (20, 280.6, 160.0), (30, 377.5, 180.0), (500, 438.8, 1800.0)]),
        ("optimized", [(10, 167.8, 80.0), (20, 332.8, 98.0), (30, 465.2, 150.0), (500, 1540.1, 480.0)]),
    ];
    for (variant, levels) in expected {
        let sweep = sweep_of(&loaded, COMPARISON, variant, "recsys");
        assert_eq!(sweep.format, SourceFormat::LocustJson);
        let got: Vec<(u64, f64, f64)> = sweep
            .levels
            .iter()
            .map(|l| (l.concurrency, round(l.throughput_rps, 1), l.latency_ms.p99.expect("p99")))
            .collect();
        assert_eq!(got, levels, "{variant}");
        assert!(sweep.levels.iter().all(|l| l.error_rate == Some(0.0)));
        assert!(sweep.levels.iter().all(|l| l.latency_ms.mean.is_some() && l.latency_ms.p50.is_some()));
    }
}

#[test]
fn optimized_is_compared_with_unoptimized() {
    let loaded = load_dir(data("published-recsys")).expect("loads");
    assert_eq!(loaded.comparisons.len(), 1);
    let c = &loaded.comparisons[0];
    assert_eq!((c.name.as_str(), c.workload.as_str()), (COMPARISON, "recsys"));
    assert_eq!(loaded.sweeps[c.baseline.expect("baseline")].variant, "unoptimized");
    assert_eq!(c.treatments.len(), 1);
    assert_eq!(loaded.sweeps[c.treatments[0]].variant, "optimized");

    // No SLA for recsys by default: the peak is the highest throughput (500 users), the p99s are
    // compared there.
    let summary = summarize(&loaded, &Criteria::default()).expect("summarizes");
    let s = &summary.comparisons[0];
    assert_eq!(s.sla_ms, None);
    let g = &s.gains[0];
    assert_eq!(round(g.throughput_gain.expect("gain"), 2), 3.51);
    assert_eq!(g.at_concurrency, Some(500));
    assert_eq!((g.baseline_p99_ms, g.treatment_p99_ms), (Some(1800.0), Some(480.0)));
    let md = summary.to_markdown();
    assert!(md.contains("| recsys-oss-nightly | RecSys | none |"), "{md}");
}
