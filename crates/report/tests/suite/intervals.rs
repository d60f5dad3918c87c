//! Confidence intervals on synthetic runs written here: a paired study (both variants at once,
//! ABBA, R repeats, per-second series) whose true gain is known. The interval contains it and
//! narrows with more repeats and longer windows; pairing narrows it when the machine drifts;
//! unstable and invalid levels never peak; old results get no interval; summary.json round-trips;
//! a seed gives the same report every time.

use std::fs;
use std::path::{Path, PathBuf};

use report::{
    Bootstrap, Criteria, Exclusion, ImageFormat, Options, SUMMARY_JSON_FILE, Summary, load_dir, summarize,
    summarize_with, write_report,
};
use serde_json::{Value, json};

use super::common::{comparison, data};

/// The true capacity of each variant: throughput at `users` is `cap * users / (users + 8)`, so
/// the treatment (twice the capacity) is exactly 2x the baseline at every user count.
const BASELINE_CAP: f64 = 1000.0;
const TREATMENT_CAP: f64 = 2000.0;
const TRUE_GAIN: f64 = 2.0;
const USERS: [u64; 5] = [1, 4, 16, 32, 64];

/// SplitMix64 and Box-Muller: the tests' own noise, the same on every machine.
struct Noise(u64);

impl Noise {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.uniform().max(1e-12), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// How a synthetic run is measured.
#[derive(Debug, Clone, Copy)]
struct Spec {
    repeats: u32,
    seconds: usize,
    /// Written as `paired` in the index (the data are the same either way).
    paired: bool,
    /// The machine's drift between repeats, shared by both variants of a pair (relative sd).
    drift: f64,
    /// Each level's own noise (relative sd).
    level_noise: f64,
    /// The per-second noise (relative sd; AR(1) with coefficient 0.5).
    second_noise: f64,
    seed: u64,
}

impl Default for Spec {
    fn default() -> Self {
        Self {
            repeats: 3,
            seconds: 10,
            paired: true,
            drift: 0.08,
            level_noise: 0.02,
            second_noise: 0.06,
            seed: 42,
        }
    }
}

fn variant_cap(variant: &str) -> f64 {
    if variant == "baseline" { BASELINE_CAP } else { TREATMENT_CAP }
}

/// p99 in ms: the baseline passes the 200 ms SLA up to 32 users, the treatment too.
fn p99_of(variant: &str, users: u64) -> f64 {
    let per_user = if variant == "baseline" { 6.0 } else { 5.5 };
    per_user * users as f64
}

fn level_file(run: &Path, variant: &str, users: u64, k: u32) -> PathBuf {
    run.join(format!("sweeps/{variant}-1replica-unary/level_c{users}-r{k}.json"))
}

/// Writes a paired run (`index.json` and level JSON) of the study `allon`: `baseline` against
/// `all_on` on `unary` (requests/s, p99 SLA 200 ms), `USERS` x `spec.repeats`.
fn write_run(run: &Path, spec: Spec) {
    let mut noise = Noise(spec.seed);
    let variants = ["baseline", "all_on"];
    for v in variants {
        fs::create_dir_all(run.join(format!("sweeps/{v}-1replica-unary"))).expect("mkdir");
    }
    for &users in &USERS {
        for k in 1..=spec.repeats {
            // ABBA: the pair ran back to back, so both see the same state of the machine.
            let drift = 1.0 + spec.drift * noise.normal();
            for v in variants {
                let mean = variant_cap(v) * users as f64 / (users as f64 + 8.0)
                    * drift
                    * (1.0 + spec.level_noise * noise.normal());
                let mut e = 0.0;
                let series: Vec<f64> = (0..spec.seconds)
                    .map(|_| {
                        e = 0.5 * e + spec.second_noise * (1.0f64 - 0.25).sqrt() * noise.normal();
                        (mean * (1.0 + e)).max(0.0)
                    })
                    .collect();
                write_level(run, v, users, k, spec.seconds, &series, p99_of(v, users));
            }
        }
    }
    let sweep = |v: &str| {
        json!({"variant": v, "layout": "1replica", "workload": "unary", "replicas": 1, "external": false,
               "csv": format!("sweeps/{v}-1replica-unary.csv"), "levels": format!("sweeps/{v}-1replica-unary"),
               "deployment": format!("deployments/{v}-1replica.json"),
               "study": "allon", "repeats": spec.repeats, "paired": spec.paired})
    };
    let index = json!({
        "schema": "servebench.index/1", "suite": "noisy", "run": "synthetic",
        "mode": if spec.paired { "paired" } else { "sequential" },
        "workloads": [{"name": "unary", "protocol": "http", "sla_p99_ms": 200.0, "metric": "requests"}],
        "studies": [{"name": "allon", "kind": "comparison", "baseline": "baseline", "treatment": "all_on",
                     "layout": "1replica", "workloads": ["unary"], "at_users": 16}],
        "sweeps": [sweep("baseline"), sweep("all_on")],
    });
    fs::write(run.join("index.json"), serde_json::to_string_pretty(&index).expect("json")).expect("write");
}

fn write_level(run: &Path, variant: &str, users: u64, k: u32, seconds: usize, series: &[f64], p99: f64) {
    let throughput = series.iter().sum::<f64>() / seconds as f64;
    let completed = (throughput * seconds as f64).round() as u64;
    let level = json!({
        "schema": "servebench.level/1", "label": format!("c{users}-r{k}"), "protocol": "http",
        "target": "http://127.0.0.1:8000/x", "headers": [],
        "schedule": {"mode": "closed", "users": users, "think_time_ms": 0.0},
        "phases": {"warmup_s": 1.0, "window_s": seconds as f64, "cooldown_s": 0.0},
        "counts": {"issued": completed, "ok": completed, "errors": 0, "completed_in_window": completed},
        "throughput_rps": throughput, "events_per_s": null,
        "latency_ms": {"count": completed, "mean": p99 / 3.0, "p50": p99 / 4.0, "p90": p99 / 2.0, "p99": p99},
        "series": series.iter().enumerate().map(|(t, v)| json!({"t_s": t, "throughput_rps": v,
            "events_per_s": 0.0, "p50_ms": p99 / 4.0, "p99_ms": p99, "errors": 0})).collect::<Vec<_>>(),
        "client": {"cpu": 0.2, "cores": 2, "lag_p99_ms": 0.3, "lag_max_ms": 1.0, "bound": false, "reasons": [], "notes": []},
        "stability": {"cv": 0.05, "trend": 0.0, "stable": true, "reasons": []},
        "valid": true, "invalid_reason": null,
    });
    let path = level_file(run, variant, users, k);
    fs::write(path, serde_json::to_string(&level).expect("json")).expect("write");
}

/// Edits one level file.
fn patch(run: &Path, variant: &str, users: u64, k: u32, edit: impl FnOnce(&mut Value)) {
    let path = level_file(run, variant, users, k);
    let mut v: Value = serde_json::from_str(&fs::read_to_string(&path).expect("read")).expect("json");
    edit(&mut v);
    fs::write(&path, v.to_string()).expect("write");
}

fn run_with(spec: Spec) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let run = tmp.path().join("run");
    write_run(&run, spec);
    (tmp, run)
}

fn gain_ci(run: &Path) -> (f64, report::Interval) {
    let loaded = load_dir(run).expect("loads");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let summary = summarize(&loaded, &Criteria::default()).expect("summarizes");
    let g = &comparison(&summary, "allon", "unary").gains[0];
    (g.throughput_gain.expect("gain"), g.throughput_gain_ci.expect("an interval"))
}

/// When `REPORT_KEEP_EXAMPLES` names a folder, the report of `run` is also written there (to
/// look at the figures).
fn keep_example(run: &Path, name: &str) {
    if let Some(dir) = std::env::var_os("REPORT_KEEP_EXAMPLES") {
        let out = Path::new(&dir).join(name);
        write_report(&[run], &out, &Options { formats: vec![ImageFormat::Png], ..Options::default() })
            .expect("example report");
    }
}

#[test]
fn a_paired_study_reads_as_one_user_count_per_repeat_group() {
    let (_tmp, run) = run_with(Spec::default());
    let loaded = load_dir(&run).expect("loads");
    assert_eq!(loaded.sweeps.len(), 2);
    assert!(
        loaded.sweeps.iter().all(|s| s.paired && s.repeats == Some(3) && s.study.as_deref() == Some("allon"))
    );
    assert_eq!(loaded.sweeps[0].levels.len(), USERS.len() * 3);
    assert_eq!(loaded.sweeps[0].levels[1].label, "c1-r2");
    assert_eq!(loaded.sweeps[0].levels[1].repeat, Some(2));
    assert_eq!(loaded.sweeps[0].levels[1].series.len(), 10);
    let summary = summarize(&loaded, &Criteria::default()).expect("summarizes");
    let c = comparison(&summary, "allon", "unary");
    assert!(c.paired);
    let base = &c.variants[0];
    assert_eq!(base.levels, 15);
    assert_eq!(base.loads.len(), USERS.len());
    assert!(base.loads.iter().all(|l| l.repeats == 3 && l.valid && l.stable && l.throughput_ci.is_some()));
    let peak = base.peak.as_ref().expect("peak");
    assert_eq!((peak.label.as_str(), peak.concurrency, peak.repeats), ("c32", 32, 3));
    let ci = peak.throughput_ci.expect("peak interval");
    assert!(ci.contains(peak.throughput), "{ci:?} {}", peak.throughput);
    let at = c.gains[0].at_users.as_ref().expect("at 16 users");
    assert!(at.throughput_gain_ci.expect("interval").contains(TRUE_GAIN), "{at:?}");
}

/// Over `runs` synthetic runs (seeds 1000, 1001, ...): how many gain intervals hold the true
/// gain, and their mean width.
fn coverage(spec: Spec, runs: u64) -> (u64, f64) {
    let mut hits = 0;
    let mut width = 0.0;
    for seed in 1000..1000 + runs {
        let (_tmp, run) = run_with(Spec { seed, ..spec });
        let (_, ci) = gain_ci(&run);
        hits += u64::from(ci.contains(TRUE_GAIN));
        width += ci.width();
    }
    (hits, width / runs as f64)
}

#[test]
fn the_gains_interval_holds_the_true_ratio_and_narrows_with_more_data() {
    // One run, as a reader sees it: 3 repeats of 10 s.
    let (_tmp, run) = run_with(Spec::default());
    let (gain, ci) = gain_ci(&run);
    assert!(ci.contains(TRUE_GAIN), "true gain {TRUE_GAIN} outside {ci:?} (point {gain})");
    assert!(ci.contains(gain), "{ci:?} {gain}");
    keep_example(&run, "paired-r3-10s");
    let (_tmp, run) = run_with(Spec { repeats: 10, seconds: 60, ..Spec::default() });
    keep_example(&run, "paired-r10-60s");

    // Many runs: a 95% interval holds the true gain about 9 times in 10 with 3 repeats (about
    // 92% in 120 runs; docs/statistics.md), and 10 repeats of 60 s give intervals less than
    // half as wide as 3 of 10 s.
    let (short_hits, short_width) = coverage(Spec::default(), 20);
    let (long_hits, long_width) = coverage(Spec { repeats: 10, seconds: 60, ..Spec::default() }, 10);
    assert!(short_hits >= 17, "3 x 10 s: {short_hits} of 20 intervals hold the true gain");
    assert!(long_hits >= 8, "10 x 60 s: {long_hits} of 10 intervals hold the true gain");
    assert!(long_width < short_width / 2.0, "mean width 10 x 60 s {long_width} vs 3 x 10 s {short_width}");
}

#[test]
fn pairing_cancels_the_drift_both_variants_saw() {
    // Large drift between repeats, shared by the pair: resampled jointly it cancels in the
    // ratio; resampled independently it does not.
    let spec = Spec { drift: 0.25, repeats: 4, seed: 11, ..Spec::default() };
    let (_tmp, paired) = run_with(spec);
    let (_tmp2, sequential) = run_with(Spec { paired: false, ..spec });
    let (g1, paired_ci) = gain_ci(&paired);
    let (g2, independent_ci) = gain_ci(&sequential);
    assert_eq!(g1, g2, "the same data");
    assert!(paired_ci.contains(TRUE_GAIN), "{paired_ci:?}");
    assert!(
        paired_ci.width() * 2.0 < independent_ci.width(),
        "paired {paired_ci:?} vs independent {independent_ci:?}"
    );
}

#[test]
fn an_unstable_level_is_never_the_peak() {
    let (_tmp, run) = run_with(Spec::default());
    // c64 of the treatment within the SLA: it is the peak...
    for k in 1..=3 {
        patch(&run, "all_on", 64, k, |v| v["latency_ms"]["p99"] = json!(150.0));
    }
    let summary = summarize(&load_dir(&run).expect("loads"), &Criteria::default()).expect("summarizes");
    assert_eq!(comparison(&summary, "allon", "unary").peak_of("all_on").map(|p| p.concurrency), Some(64));
    // One unstable repeat of three is left out: c64 counts from the other two, and says so.
    let unstable = |reason: &str| json!({"cv": 0.31, "trend": -0.3, "stable": false, "reasons": [reason]});
    patch(&run, "all_on", 64, 2, |v| v["stability"] = unstable("throughput fell 30% over the window"));
    let summary = summarize(&load_dir(&run).expect("loads"), &Criteria::default()).expect("summarizes");
    let c = comparison(&summary, "allon", "unary");
    assert_eq!(c.peak_of("all_on").map(|p| p.concurrency), Some(64));
    assert!(c.excluded.iter().all(|e| e.left_out && e.label == "c64-r2"), "{:?}", c.excluded);
    let md = summary.to_markdown();
    assert!(
        md.contains("c=64 r2 (unstable: throughput fell 30% over the window; only this repeat left out: c=64 counts from the others)"),
        "{md}"
    );
    // ... until two of the three are: then no repeat of c64 counts.
    patch(&run, "all_on", 64, 3, |v| v["stability"] = unstable("median latency rose 40% over the window"));
    let loaded = load_dir(&run).expect("loads");
    let summary = summarize(&loaded, &Criteria::default()).expect("summarizes");
    let c = comparison(&summary, "allon", "unary");
    let peak = c.peak_of("all_on").expect("peak");
    assert_eq!(peak.concurrency, 32);
    let c64 = c.variants[1].loads.iter().find(|l| l.concurrency == 64).expect("c64");
    assert!(!c64.stable && c64.valid && !c64.counts && !c64.peak);
    let excluded: Vec<_> =
        c.excluded.iter().map(|e| (e.label.as_str(), e.repeat, e.reason.clone())).collect();
    assert_eq!(
        excluded,
        [
            ("c64-r2", Some(2), Exclusion::Unstable(vec!["throughput fell 30% over the window".into()])),
            ("c64-r3", Some(3), Exclusion::Unstable(vec!["median latency rose 40% over the window".into()]))
        ]
    );
    assert!(c.excluded.iter().all(|e| !e.left_out));
    // In every resample too: the peak's interval stays below c64's throughput.
    let ci = peak.throughput_ci.expect("interval");
    assert!(ci.hi < c64.throughput.expect("mean"), "{ci:?} {c64:?}");
    let md = summary.to_markdown();
    assert!(md.contains("c=64 r2 (unstable: throughput fell 30% over the window)"), "{md}");
    assert!(md.contains("## Excluded levels"), "{md}");
}

#[test]
fn an_invalid_level_is_never_the_peak() {
    let (_tmp, run) = run_with(Spec::default());
    for k in 1..=3 {
        patch(&run, "baseline", 64, k, |v| v["latency_ms"]["p99"] = json!(150.0));
    }
    let summary = summarize(&load_dir(&run).expect("loads"), &Criteria::default()).expect("summarizes");
    assert_eq!(comparison(&summary, "allon", "unary").peak_of("baseline").map(|p| p.concurrency), Some(64));
    patch(&run, "baseline", 64, 3, |v| {
        v["valid"] = json!(false);
        v["invalid_reason"] = json!("no request issued in the window succeeded");
        v["throughput_rps"] = json!(0.0);
    });
    let summary = summarize(&load_dir(&run).expect("loads"), &Criteria::default()).expect("summarizes");
    let c = comparison(&summary, "allon", "unary");
    assert_eq!(c.peak_of("baseline").map(|p| p.concurrency), Some(32));
    let c64 = c.variants[0].loads.iter().find(|l| l.concurrency == 64).expect("c64");
    assert!(!c64.valid && !c64.counts);
    assert_eq!(c64.repeats, 3);
    // The mean leaves the invalid repeat out while valid ones exist.
    assert!(c64.throughput.expect("mean") > 800.0, "{c64:?}");
    assert!(matches!(&c.excluded[0].reason, Exclusion::Invalid(r) if r.contains("succeeded")));
    assert!(summary.to_markdown().contains("c=64 r3 (invalid: no request issued in the window succeeded)"));
}

#[test]
fn the_summary_and_the_plots_show_the_intervals() {
    let (tmp, run) = run_with(Spec::default());
    patch(&run, "all_on", 64, 1, |v| v["stability"] = json!({"stable": false, "reasons": ["cv 0.4 > 0.1"]}));
    let out = tmp.path().join("report");
    let files = write_report(&[&run], &out, &Options::default()).expect("report");
    let md = fs::read_to_string(&files.markdown).expect("md");
    let gain = &files.summary.comparisons[0].gains[0];
    let ci = gain.throughput_gain_ci.expect("interval");
    let shown = format!("**{:.1}x** (95% CI {:.1}-{:.1})", gain.throughput_gain.expect("gain"), ci.lo, ci.hi);
    assert!(md.contains(&shown), "{shown} not in {md}");
    assert!(md.contains("rps (95% CI "), "{md}");
    assert!(md.contains("percentile bootstrap (2,000 resamples, seed 1)"), "{md}");
    assert!(md.contains("15 (5 x 3 repeats"), "{md}");
    let svg = fs::read_to_string(out.join("noisy/allon_unary.svg")).expect("svg");
    for text in
        ["95% CI", "bars: 95% CI of the mean throughput", "hollow: unstable (in some repeat), not a peak"]
    {
        assert!(svg.contains(text), "comparison SVG lacks {text}");
    }
    let gains = fs::read_to_string(out.join("peak_performance_gains.svg")).expect("svg");
    assert!(gains.contains("95% CI"), "peak gains SVG lacks its interval");
}

#[test]
fn summary_json_round_trips() {
    let (tmp, run) = run_with(Spec::default());
    patch(&run, "baseline", 4, 1, |v| v["valid"] = json!(false));
    let out = tmp.path().join("report");
    let files =
        write_report(&[&run], &out, &Options { formats: Vec::new(), ..Options::default() }).expect("report");
    assert_eq!(files.json, out.join(SUMMARY_JSON_FILE));
    let text = fs::read_to_string(&files.json).expect("json");
    let back = Summary::from_json(&text).expect("reads back");
    assert_eq!(back, files.summary);
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["schema"], "servebench.summary/1");
    let load = &v["comparisons"][0]["variants"][0]["loads"][1];
    assert_eq!(
        (load["label"].as_str(), load["repeats"].as_u64(), load["valid"].as_bool()),
        (Some("c4"), Some(3), Some(false))
    );
    assert!(load["throughput_ci"]["lo"].as_f64().is_some() && load["throughput"].as_f64().is_some());
    assert!(v["comparisons"][0]["gains"][0]["throughput_gain_ci"]["hi"].as_f64().is_some());
    assert_eq!(v["comparisons"][0]["excluded"][0]["reason"]["invalid"], "measured nothing");
    assert!(Summary::from_json(&text.replace("servebench.summary/1", "servebench.summary/9")).is_err());
}

#[test]
fn a_seed_gives_the_same_report_every_time() {
    let (tmp, run) = run_with(Spec::default());
    let write = |name: &str, seed: u64| {
        let out = tmp.path().join(name);
        let bootstrap = Bootstrap { seed, ..Bootstrap::default() };
        let options = Options { formats: vec![ImageFormat::Svg], bootstrap, ..Options::default() };
        write_report(&[&run], &out, &options).expect("report");
        let read = |f: &str| fs::read_to_string(out.join(f)).expect("read");
        (read("summary.json"), read("summary.md"), read("noisy/allon_unary.svg"))
    };
    let first = write("a", 5);
    let again = write("b", 5);
    assert!(first == again, "the same seed gave different reports");
    let other = write("c", 6);
    assert_ne!(first.0, other.0, "another seed, other resamples");

    // No resamples: no intervals, the same peaks.
    let loaded = load_dir(&run).expect("loads");
    let none =
        summarize_with(&loaded, &Criteria::default(), &Bootstrap { resamples: 0, ..Bootstrap::default() })
            .expect("summarizes");
    let with = summarize(&loaded, &Criteria::default()).expect("summarizes");
    let (a, b) = (comparison(&none, "allon", "unary"), comparison(&with, "allon", "unary"));
    assert_eq!(a.peak_of("all_on").map(|p| p.throughput), b.peak_of("all_on").map(|p| p.throughput));
    assert!(a.gains[0].throughput_gain_ci.is_none() && !none.has_intervals());
}

#[test]
fn results_without_repeats_or_series_get_no_interval() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("report");
    let files = write_report(&[data("published-features")], &out, &Options::default()).expect("report");
    let s = &files.summary;
    assert!(!s.has_intervals());
    for c in &s.comparisons {
        assert!(c.gains.iter().all(|g| g.throughput_gain_ci.is_none()));
        assert!(
            c.variants
                .iter()
                .all(|v| v.peak.as_ref().is_none_or(|p| p.throughput_ci.is_none() && p.repeats == 1))
        );
        assert!(
            c.variants.iter().flat_map(|v| &v.loads).all(|l| l.throughput_ci.is_none() && l.repeats == 1)
        );
    }
    let md = fs::read_to_string(&files.markdown).expect("md");
    assert!(!md.contains("CI") && md.contains("**11.3x** | 11.5x |"), "{md}");
    assert!(
        !fs::read_to_string(out.join("published-features/allon8_unary.svg")).expect("svg").contains("bars:")
    );
    assert!(files.comparisons.iter().all(|p| p.exists()));
    let back = Summary::from_json(&fs::read_to_string(&files.json).expect("json")).expect("reads back");
    assert_eq!(&back, s);
}
