//! The original LLM suite's vLLM bench results (`tests/data/published-llm`: the bare vLLM
//! baseline and the replica sweep with one ingress) must give the published figures; replica
//! sweeps of two flag sets are compared at each N (`tests/data/llm-pair`, synthetic).

use report::{Criteria, Metric, SourceFormat, load_dir, summarize};

use super::common::{data, round};

#[test]
fn the_bare_vllm_baseline_gives_the_published_figures() {
    let loaded = load_dir(data("published-llm")).expect("loads");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let bare = loaded.sweeps.iter().find(|s| s.external).expect("results_vllm");
    assert_eq!((bare.variant.as_str(), bare.workload.as_str()), ("vllm", "llm"));
    assert_eq!(bare.format, SourceFormat::VllmJson);
    // (concurrency, output tokens/s, mean TTFT ms, mean TPOT ms). The reference README quotes
    // 694 ms at c=64; the file says 693.48 (`mean_ttft_ms`), which rounds to 693.
    let expected = [
        (16, 2072.0, 274.0, 5.6),
        (32, 3394.0, 253.0, 7.5),
        (64, 3968.0, 693.0, 10.8),
        (128, 5782.0, 896.0, 15.2),
        (256, 7559.0, 1234.0, 24.3),
    ];
    let got: Vec<(u64, f64, f64, f64)> = bare
        .levels
        .iter()
        .map(|l| {
            (
                l.concurrency,
                round(l.tokens.expect("tokens").output_per_s, 0),
                round(l.first_event_ms.mean.expect("ttft"), 0),
                round(l.tpot_ms.mean.expect("tpot"), 1),
            )
        })
        .collect();
    assert_eq!(got, expected);
    assert!(bare.levels.iter().all(|l| l.tokens.is_some_and(|t| t.input == 524_288)));
}

#[test]
fn the_replica_sweep_gives_the_published_figures() {
    let loaded = load_dir(data("published-llm")).expect("loads");
    let mut sweeps: Vec<_> = loaded.sweeps.iter().filter(|s| s.variant == "1_ingress").collect();
    sweeps.sort_by_key(|s| s.replicas);
    let got: Vec<(Option<u32>, u64, f64)> = sweeps
        .iter()
        .map(|s| {
            (s.replicas, s.levels[0].concurrency, round(s.levels[0].tokens.expect("tokens").output_per_s, 0))
        })
        .collect();
    assert_eq!(
        got,
        [(Some(1), 256, 4174.0), (Some(2), 512, 5819.0), (Some(4), 1024, 7204.0), (Some(8), 2048, 7107.0)]
    );
    let n1 = &sweeps[0].levels[0];
    assert_eq!(round(n1.first_event_ms.p99.expect("p99 TTFT"), 0), 3544.0);
    assert_eq!(round(n1.first_event_ms.p50.expect("median TTFT"), 0), 1909.0);
    assert_eq!(round(n1.tpot_ms.p99.expect("p99 TPOT"), 1), 55.9);
}

#[test]
fn the_published_folder_is_a_scaling_study_with_the_bare_engine_as_the_ideal() {
    let loaded = load_dir(data("published-llm")).expect("loads");
    assert_eq!(loaded.comparisons.len(), 0);
    assert_eq!(loaded.scalings.len(), 1);
    let summary = summarize(&loaded, &Criteria::default()).expect("summarizes");
    let s = &summary.scalings[0];
    assert_eq!((s.name.as_str(), s.workload.as_str(), s.metric), ("replica_sweep", "llm", Metric::TOKENS));
    assert_eq!(s.variants, ["1_ingress"]);
    assert_eq!(s.pair, None, "one variant: nothing to compare");
    assert!(s.gains.is_empty());
    let ideal = s.ideal.as_ref().expect("ideal line");
    assert_eq!((ideal.variant.as_str(), ideal.best.concurrency), ("vllm", 256));
    assert_eq!(round(ideal.best.throughput, 0), 7559.0);
    let n2 = s.point("1_ingress", 2).expect("N=2");
    assert_eq!(
        round(n2.efficiency.expect("efficiency"), 3),
        round(5819.4069620842665 / (2.0 * 4173.566389600382), 3)
    );
    assert_eq!(round(n2.request_throughput.expect("rps"), 1), 45.5);
    // The p99 the study reports is the TTFT.
    assert_eq!(round(s.point("1_ingress", 1).and_then(|p| p.peak.as_ref()).expect("peak").p99_ms, 0), 3544.0);
}

#[test]
fn optimized_and_unoptimized_replica_sweeps_are_paired_at_each_n() {
    let loaded = load_dir(data("llm-pair")).expect("loads");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let summary = summarize(&loaded, &Criteria::default()).expect("summarizes");
    let s = &summary.scalings[0];
    assert_eq!(s.pair, Some(("unoptimized".to_string(), "optimized".to_string())));
    let gains: Vec<(u32, f64, f64)> = s
        .gains
        .iter()
        .map(|g| {
            (g.replicas, round(g.gain.throughput_gain.expect("gain"), 2), g.gain.p99_ratio.expect("ratio"))
        })
        .collect();
    assert_eq!(gains, [(1, 3.0, 0.25), (2, 3.0, 0.25), (4, 3.2, 0.25)]);
    assert_eq!(s.headline().map(|g| g.replicas), Some(4));
    // Scaling studies compare peaks: that is the figure each gain shows.
    assert!(s.gains.iter().all(|g| g.gain.headline == report::GainBasis::Peak
        && g.gain.headline_gain().map(|h| h.gain) == g.gain.throughput_gain));
    assert_eq!(s.point("optimized", 4).and_then(|p| p.efficiency), Some(0.8));
    assert_eq!(s.point("unoptimized", 2).and_then(|p| p.efficiency), Some(0.9));
    assert_eq!(s.ideal.as_ref().map(|i| i.best.throughput), Some(2500.0));
    let md = summary.to_markdown();
    assert!(md.contains("| 4 | unoptimized | optimized | **3.2x** | 8,000 ms → 2,000 ms (0.25x) |"), "{md}");
}
