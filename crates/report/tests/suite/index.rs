//! A run folder with an `index.json` (schema `servebench.index/1`): read from the index, not
//! guessed from names; the run's workloads set the metric and the SLA; level JSON fills in what
//! the CSV lacks; missing sweeps and unknown studies are warnings.

use std::fs;

use report::{Criteria, Metric, SourceFormat, load_dir, summarize};

use super::common::{comparison, copy_dir, data, round, sweep_of};

#[test]
fn an_index_run_is_read_from_its_index() {
    let loaded = load_dir(data("index-run")).expect("loads");
    // Nine sweeps: grpc_on-1replica-unary is listed but its files are missing, and the
    // comparison copies (allon_off_unary.csv, allon_on_unary.csv) are not read again.
    assert_eq!(loaded.sweeps.len(), 9, "{:?}", loaded.sweeps.iter().map(|s| &s.path).collect::<Vec<_>>());
    assert!(loaded.sweeps.iter().all(|s| s.suite == "features" && s.layout.is_some()));
    assert!(loaded.sweeps.iter().all(|s| !s.path.ends_with("allon_off_unary.csv")));
    let messages: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(messages.len(), 2, "{messages:#?}");
    assert!(messages.iter().any(|m| m.contains("grpc_on-1replica-unary") && m.contains("interrupted")));
    assert!(messages.iter().any(|m| m.contains("`flames`") && m.contains("unknown kind `flamegraph`")));
    assert!(loaded.warnings.iter().all(|w| w.path.ends_with("index.json")));

    let names: Vec<(&str, &str)> =
        loaded.comparisons.iter().map(|c| (c.name.as_str(), c.workload.as_str())).collect();
    assert_eq!(names, [("allon", "unary"), ("allon", "streaming"), ("grpc", "unary")]);
    let grpc = &loaded.comparisons[2];
    assert!(grpc.baseline.is_some() && grpc.treatments.is_empty(), "the treatment was not measured");
    assert_eq!(loaded.comparisons[0].at_users, Some(8));
    assert_eq!(loaded.comparisons[0].description.as_deref(), Some("all optimizations on vs off, 1 replica"));

    assert_eq!(loaded.scalings.len(), 1);
    let s = &loaded.scalings[0];
    assert_eq!((s.name.as_str(), s.workload.as_str()), ("replicas", "llm"));
    assert_eq!(s.variants, ["optimized", "unoptimized"]);
    assert_eq!(s.sweeps.len(), 4);
    assert_eq!(s.baseline.len(), 1);
    let bare = &loaded.sweeps[s.baseline[0]];
    assert!(bare.external);
    assert_eq!((bare.variant.as_str(), bare.layout.as_deref()), ("bare", Some("bare")));

    let llm = loaded.workload_info("features", "llm").expect("llm workload");
    assert_eq!((llm.metric, llm.sla_p99_ms), (Some(Metric::TOKENS), Some(None)));
    assert_eq!(loaded.workload_info("features", "streaming").and_then(|w| w.metric), Some(Metric::EVENTS));
}

#[test]
fn level_json_fills_in_what_the_csv_lacks() {
    let loaded = load_dir(data("index-run")).expect("loads");
    // CSV and JSON: each level from its JSON (the CSV has no mean time to first event).
    let on = sweep_of(&loaded, "allon", "all_on", "streaming");
    assert_eq!(on.format, SourceFormat::ServebenchCsv);
    assert_eq!(on.levels[1].first_event_ms.mean, Some(3.5));
    // CSV only.
    let on = sweep_of(&loaded, "allon", "all_on", "unary");
    assert_eq!(on.levels.iter().map(|l| l.concurrency).collect::<Vec<_>>(), [1, 8, 64]);
    assert_eq!(on.levels[2].latency_ms.p90, Some(30.0));
    // JSON only, with TTFT, TPOT and tokens.
    let opt = loaded.sweeps.iter().find(|s| s.variant == "optimized" && s.replicas == Some(2)).expect("n2");
    assert_eq!(opt.format, SourceFormat::ServebenchJson);
    let l = &opt.levels[0];
    assert_eq!(l.concurrency, 512);
    assert_eq!(l.first_event_ms.p99, Some(2700.0));
    assert_eq!(l.tpot_ms.p50, Some(29.0));
    let tokens = l.tokens.expect("tokens");
    assert_eq!((tokens.input, tokens.output), (512 * 4 * 512, 235_929));
    assert!((tokens.output_per_s - 235_929.0 / 64.0).abs() < 1e-9);
}

#[test]
fn comparisons_use_the_runs_sla_and_at_users() {
    let loaded = load_dir(data("index-run")).expect("loads");
    let summary = summarize(&loaded, &Criteria::default()).expect("summarizes");
    let unary = comparison(&summary, "allon", "unary");
    assert_eq!((unary.sla_ms, unary.metric), (Some(200.0), Metric::REQUESTS));
    assert_eq!(unary.baseline.as_deref(), Some("baseline"));
    let base = unary.peak_of("baseline").expect("peak");
    assert_eq!((base.concurrency, base.throughput), (8, 600.0));
    let g = &unary.gains[0];
    assert_eq!((g.baseline.as_str(), g.treatment.as_str()), ("baseline", "all_on"));
    assert_eq!(round(g.throughput_gain.expect("gain"), 2), 8.33);
    let at = g.at_users.as_ref().expect("at 8 users");
    assert_eq!(at.users, 8);
    assert_eq!(round(at.throughput_gain.expect("gain"), 2), 3.33);
    assert_eq!(round(at.p99_ratio.expect("ratio"), 3), 0.167);

    let streaming = comparison(&summary, "allon", "streaming");
    assert_eq!((streaming.sla_ms, streaming.metric), (Some(700.0), Metric::EVENTS));
    let g = &streaming.gains[0];
    assert_eq!(g.throughput_gain, Some(5.0));
    let at = g.at_users.as_ref().expect("at 8 users");
    assert_eq!((round(at.throughput_gain.expect("gain"), 3), at.p99_ratio), (1.667, Some(0.3)));

    let md = summary.to_markdown();
    assert!(md.contains("### At a fixed number of users"), "{md}");
    assert!(md.contains("| allon | Unary | 8 | baseline: 600 rps (p99 60.0 ms) | all_on: 2,000 rps (p99 10.0 ms) | **3.3x** |"), "{md}");

    // An explicit SLA wins over the run's.
    let loose = Criteria::from(report::Slas::default().with("unary", 500.0));
    let summary = summarize(&loaded, &loose).expect("summarizes");
    let base = comparison(&summary, "allon", "unary").peak_of("baseline").cloned().expect("peak");
    assert_eq!(base.concurrency, 64);
}

#[test]
fn a_scaling_study_has_throughput_efficiency_gains_and_the_ideal_per_n() {
    let loaded = load_dir(data("index-run")).expect("loads");
    let summary = summarize(&loaded, &Criteria::default()).expect("summarizes");
    assert_eq!(summary.scalings.len(), 1);
    let s = &summary.scalings[0];
    assert_eq!((s.metric, s.sla_ms), (Metric::TOKENS, None));
    assert_eq!(s.pair, Some(("unoptimized".to_string(), "optimized".to_string())));
    let opt1 = s.point("optimized", 1).expect("N=1");
    assert_eq!(opt1.output_throughput, Some(131_072.0 / 64.0));
    assert_eq!(opt1.request_throughput, Some(16.0));
    assert_eq!(opt1.efficiency, Some(1.0));
    let opt2 = s.point("optimized", 2).expect("N=2");
    assert_eq!(round(opt2.efficiency.expect("efficiency"), 3), 0.9);
    assert_eq!(s.point("unoptimized", 2).and_then(|p| p.efficiency), Some(0.75));
    let head = s.headline().expect("gain at the largest N");
    assert_eq!(head.replicas, 2);
    assert_eq!(round(head.gain.throughput_gain.expect("gain"), 2), 2.4);
    assert_eq!(head.gain.p99_ratio, Some(0.3));
    let ideal = s.ideal.as_ref().expect("ideal");
    assert_eq!(
        (ideal.variant.as_str(), ideal.best.concurrency, ideal.best.throughput),
        ("bare", 256, 2500.0)
    );
    let md = summary.to_markdown();
    assert!(md.contains("## Scaling: replicas · LLM"), "{md}");
    assert!(md.contains("| 2 | optimized | 512 | 32.0 | 3,686 | 90% | 2,700 ms |"), "{md}");
    assert!(md.contains("Ideal: 2,500 output tokens/s x N"), "{md}");
}

#[test]
fn a_bad_index_is_a_warning_and_the_folder_is_read_by_names() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let run = tmp.path().join("run");
    copy_dir(&data("index-run"), &run);
    fs::write(run.join("index.json"), "{ not json").expect("write");
    let loaded = load_dir(&run).expect("loads");
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.path.ends_with("index.json") && w.message.contains("malformed index"))
    );
    // The comparison copies the suite writes beside its sweeps (manifest.json: a run folder).
    assert_eq!(loaded.sweeps.len(), 2);
    assert_eq!(loaded.comparisons.len(), 1);
    assert_eq!(loaded.sweeps[0].suite, "run");

    fs::write(run.join("index.json"), r#"{"schema":"servebench.index/2","suite":"features","run":"x"}"#)
        .expect("write");
    let loaded = load_dir(&run).expect("loads");
    assert!(loaded.warnings.iter().any(|w| w.message.contains("unsupported schema `servebench.index/2`")));
}

#[test]
fn an_interrupted_run_reports_what_it_has() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let run = tmp.path().join("run");
    copy_dir(&data("index-run"), &run);
    fs::remove_dir_all(run.join("sweeps/optimized-n2-llm")).expect("rm");
    let loaded = load_dir(&run).expect("loads");
    assert!(loaded.warnings.iter().any(|w| w.message.contains("optimized-n2-llm")));
    let summary = summarize(&loaded, &Criteria::default()).expect("summarizes");
    let s = &summary.scalings[0];
    assert!(s.point("optimized", 2).is_none());
    assert_eq!(s.headline().map(|g| g.replicas), Some(1));
}

#[test]
fn a_run_whose_simulated_engine_was_slowed_says_so_and_one_at_time_factor_1_does_not() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let run = tmp.path().join("run");
    copy_dir(&data("index-run"), &run);
    let plain = summarize(&load_dir(&run).expect("loads"), &Criteria::default()).expect("summarizes");
    assert!(plain.notes.is_empty(), "{:?}", plain.notes);
    let path = run.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(&path).expect("manifest")).expect("json");
    manifest["settings"]["app_args"] = serde_json::json!({
        "bare": { "time_factor": 8.0 },
        "llm": { "engine_params": { "time_factor": 8.0 } },
        "other": { "time_factor": 1.0 },
    });
    fs::write(&path, serde_json::to_vec(&manifest).expect("json")).expect("write");
    let summary = summarize(&load_dir(&run).expect("loads"), &Criteria::default()).expect("summarizes");
    assert_eq!(summary.notes.len(), 1, "{:?}", summary.notes);
    let note = &summary.notes[0];
    assert!(
        note.contains("time factor 8") && note.contains("`bare` x8") && note.contains("`llm` x8"),
        "{note}"
    );
    assert!(!note.contains("`other`"), "{note}");
    assert!(summary.to_markdown().contains("**Note.** features: the simulated engine ran at time factor 8"));
}
