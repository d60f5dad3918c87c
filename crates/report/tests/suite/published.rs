//! The original suite's published results (`allon*`): the importers and the peak-gain logic must
//! reproduce the published headline figures.

use report::{Criteria, GainBasis, Slas, SourceFormat, load_dir, summarize};

use super::common::{comparison, data, one_decimal, sweep_of};

fn summary_at(slas: Slas) -> report::Summary {
    let loaded = load_dir(data("published-features")).expect("loads");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    summarize(&loaded, &Criteria::from(slas)).expect("summarizes")
}

#[test]
fn all_published_sweeps_are_read() {
    let loaded = load_dir(data("published-features")).expect("loads");
    assert_eq!(loaded.sweeps.len(), 8, "{:?}", loaded.sweeps);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    for s in &loaded.sweeps {
        assert_eq!(s.suite, "published-features");
        let expected = if s.workload == "unary" {
            SourceFormat::OriginalUnaryCsv
        } else {
            SourceFormat::OriginalStreamingCsv
        };
        assert_eq!(s.format, expected, "{}", s.path.display());
        assert!(s.levels.len() >= 8);
    }
    // The unary CSVs with a Locust folder learn their error rates from it.
    let allon8_off = sweep_of(&loaded, "allon8", "off", "unary");
    assert!(allon8_off.levels.iter().all(|l| l.error_rate == Some(0.0)));
}

#[test]
fn unary_gain_at_300ms_is_11_1x() {
    let summary = summary_at(Slas::default().with("unary", 300.0));
    let c = comparison(&summary, "allon8", "unary");
    let base = c.peak_of("off").expect("baseline peak");
    let treat = c.peak_of("on").expect("treatment peak");
    assert_eq!((base.concurrency, base.throughput), (128, 1279.49));
    assert_eq!((treat.concurrency, treat.throughput), (128, 14220.59));
    assert_eq!(c.gains.len(), 1);
    assert_eq!(one_decimal(c.gains[0].throughput_gain.expect("gain")), 11.1);
}

#[test]
fn unary_gain_at_200ms_is_11_5x() {
    let summary = summary_at(Slas::default());
    let c = comparison(&summary, "allon8", "unary");
    assert_eq!(c.sla_ms, Some(200.0));
    let base = c.peak_of("off").expect("baseline peak");
    assert_eq!((base.concurrency, base.throughput, base.p99_ms), (64, 1237.08, 160.0));
    let g = &c.gains[0];
    assert_eq!((g.baseline.as_str(), g.treatment.as_str()), ("off", "on"));
    assert_eq!(one_decimal(g.throughput_gain.expect("gain")), 11.5);
    // p99 of both variants at the baseline's peak concurrency (64): 160 ms -> 18 ms.
    assert_eq!(g.at_concurrency, Some(64));
    assert_eq!(g.baseline_p99_ms, Some(160.0));
    assert_eq!(g.treatment_p99_ms, Some(18.0));
    assert!((g.p99_ratio.expect("ratio") - 18.0 / 160.0).abs() < 1e-12);
}

#[test]
fn streaming_gain_at_700ms_is_8_9x() {
    let summary = summary_at(Slas::default());
    let c = comparison(&summary, "allon8", "streaming");
    assert_eq!(c.sla_ms, Some(700.0));
    assert_eq!(c.metric.throughput_unit(), "tokens/s");
    let base = c.peak_of("off").expect("baseline peak");
    let treat = c.peak_of("on").expect("treatment peak");
    assert_eq!(base.concurrency, 64);
    assert_eq!(treat.concurrency, 128);
    assert_eq!(base.throughput.round(), 15573.0);
    assert_eq!(treat.throughput.round(), 138257.0);
    // e2e_p99 is in seconds in the original CSV.
    assert!((base.p99_ms - 430.8143558938173).abs() < 1e-9);
    assert_eq!(one_decimal(c.gains[0].throughput_gain.expect("gain")), 8.9);
}

#[test]
fn one_replica_all_on_matches_the_published_ablation() {
    // "all on 463 -> 2,221" (1 replica, unary, 200 ms).
    let summary = summary_at(Slas::default());
    let c = comparison(&summary, "allon", "unary");
    assert_eq!(c.peak_of("off").expect("peak").throughput.round(), 463.0);
    assert_eq!(c.peak_of("on").expect("peak").throughput.round(), 2221.0);
}

#[test]
fn each_gain_says_which_figure_it_shows() {
    let s = summary_at(Slas::default());
    for g in s.comparisons.iter().flat_map(|c| &c.gains) {
        assert_eq!(g.headline, GainBasis::AtSla);
        assert_eq!(
            g.headline_gain().map(|h| (h.gain, h.basis)),
            g.at_sla_gain.map(|v| (v, GainBasis::AtSla))
        );
    }
    // Without an SLA there is no goodput at it: the peak gain (highest throughput) is shown.
    let none = summary_at(Slas::none());
    for g in none.comparisons.iter().flat_map(|c| &c.gains) {
        assert!(g.at_sla_gain.is_none());
        assert_eq!(g.headline, GainBasis::Peak);
        assert_eq!(g.headline_gain().map(|h| h.gain), g.throughput_gain);
    }
    // A summary.json written before the headline (no such fields) reads as led by the peak.
    let mut json = serde_json::to_value(&s).expect("json");
    json["criteria"].as_object_mut().expect("criteria").remove("headline");
    for c in json["comparisons"].as_array_mut().expect("comparisons") {
        for g in c["gains"].as_array_mut().expect("gains") {
            g.as_object_mut().expect("gain").remove("headline");
        }
    }
    let old: report::Summary = serde_json::from_value(json).expect("reads");
    assert_eq!(old.criteria.headline, GainBasis::Peak);
    assert!(old.comparisons.iter().flat_map(|c| &c.gains).all(|g| g.headline == GainBasis::Peak));
}

#[test]
fn markdown_shows_the_gains() {
    let md = summary_at(Slas::default()).to_markdown();
    // The gain at the SLA leads (in bold), the peak gain beside it.
    assert!(md.contains("| gain at the SLA | peak gain |"), "{md}");
    assert!(md.contains("(p99 34.0 ms) | **11.3x** | 11.5x |"), "{md}");
    assert!(md.contains("| **8.9x** | 8.9x |"), "{md}");
    assert!(md.contains("off: 1,237 rps @ c=64 (p99 160 ms)"), "{md}");
    assert!(md.contains("on: 138,257 tokens/s @ c=128"), "{md}");
    assert!(md.contains("| allon8 | Unary | ≤ 200 ms |"), "{md}");
}

#[test]
fn locust_json_alone_reproduces_the_unary_csv() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for variant in ["off", "on"] {
        let stem = format!("allon8_{variant}_unary");
        let from = data("published-features").join(&stem);
        let to = tmp.path().join(&stem);
        std::fs::create_dir_all(&to).expect("mkdir");
        for entry in std::fs::read_dir(&from).expect("read fixture") {
            let entry = entry.expect("entry");
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    }
    let from_json = load_dir(tmp.path()).expect("loads");
    assert!(from_json.warnings.is_empty(), "{:?}", from_json.warnings);
    let from_csv = load_dir(data("published-features")).expect("loads");
    for variant in ["off", "on"] {
        let sweep = sweep_of(&from_json, "allon8", variant, "unary");
        assert_eq!(sweep.format, SourceFormat::LocustJson);
        let csv = sweep_of(&from_csv, "allon8", variant, "unary");
        assert_eq!(sweep.levels.len(), csv.levels.len());
        for (j, c) in sweep.levels.iter().zip(&csv.levels) {
            assert_eq!(j.concurrency, c.concurrency);
            assert!((j.throughput_rps - c.throughput_rps).abs() < 0.006, "{j:?} vs {c:?}");
            assert_eq!(j.latency_ms.p99, c.latency_ms.p99, "c={}", c.concurrency);
            // The CSV rounds the mean to 0.01 ms; the p50 is Locust's own bucketed median.
            let (jm, cm) = (j.latency_ms.mean.expect("mean"), c.latency_ms.mean.expect("mean"));
            assert!((jm - cm).abs() < 0.006, "c={}: {jm} vs {cm}", c.concurrency);
            assert_eq!(j.latency_ms.p50, c.latency_ms.p50, "c={}", c.concurrency);
        }
    }
    let summary = summarize(&from_json, &Criteria::default()).expect("summarizes");
    let c = comparison(&summary, "allon8", "unary");
    assert_eq!(one_decimal(c.gains[0].throughput_gain.expect("gain")), 11.5);
}
