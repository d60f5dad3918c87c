//! This project's own result files, and files that must be skipped with a warning.

use std::fs;

use report::{Criteria, Exclusion, SourceFormat, load_dir, load_dirs, summarize};

use super::common::{comparison, data, one_decimal};

#[test]
fn reads_our_schema_csv_and_level_json() {
    let loaded = load_dir(data("servebench")).expect("loads");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(loaded.sweeps.len(), 4);
    let on_unary =
        loaded.sweeps.iter().find(|s| s.variant == "on" && s.workload == "unary").expect("grpc_on_unary");
    assert_eq!(on_unary.format, SourceFormat::ServebenchCsv);
    assert_eq!(on_unary.suite, "servebench");
    assert_eq!(loaded.comparisons.len(), 2);
    assert!(loaded.comparisons.iter().all(|c| c.name == "grpc" && c.baseline.is_some()));
    assert_eq!(on_unary.levels.len(), 5);
    let c128 = &on_unary.levels[4];
    assert_eq!((c128.label.as_str(), c128.concurrency), ("c128", 128));
    assert!(c128.client_bound);
    assert_eq!(c128.latency_ms.p99, Some(180.0));
    let on_streaming = loaded
        .sweeps
        .iter()
        .find(|s| s.variant == "on" && s.workload == "streaming")
        .expect("grpc_on_streaming (JSON only)");
    assert_eq!(on_streaming.format, SourceFormat::ServebenchJson);
    let conc: Vec<u64> = on_streaming.levels.iter().map(|l| l.concurrency).collect();
    assert_eq!(conc, [1, 8, 64]);
    assert_eq!(on_streaming.levels[2].events_per_s, Some(22600.0));
}

#[test]
fn client_bound_and_failing_levels_never_peak() {
    let loaded = load_dir(data("servebench")).expect("loads");
    let summary = summarize(&loaded, &Criteria::default()).expect("summarizes");
    let c = comparison(&summary, "grpc", "unary");
    // c64 (3.3% errors) and c128 (client-bound) are faster but do not count.
    let on = c.peak_of("on").expect("peak");
    assert_eq!((on.concurrency, on.throughput), (16, 675.0));
    let reasons: Vec<(u64, Exclusion)> =
        c.excluded.iter().map(|e| (e.concurrency, e.reason.clone())).collect();
    assert_eq!(reasons, [(64, Exclusion::Errors(0.033)), (128, Exclusion::ClientBound)]);
    assert_eq!(one_decimal(c.gains[0].throughput_gain.expect("gain")), 1.5);
    let md = summary.to_markdown();
    assert!(md.contains("c=128 (client-bound)"), "{md}");
    assert!(md.contains("c=64 (3.3% errors)"), "{md}");
    // A looser error limit lets c64 count.
    let loose = Criteria { max_error_rate: 0.05, ..Criteria::default() };
    let summary = summarize(&loaded, &loose).expect("summarizes");
    let on = comparison(&summary, "grpc", "unary").peak_of("on").cloned().expect("peak");
    assert_eq!(on.concurrency, 64);
}

#[test]
fn streaming_uses_events_and_compares_p99_at_the_baseline_peak() {
    let loaded = load_dir(data("servebench")).expect("loads");
    let summary = summarize(&loaded, &Criteria::default()).expect("summarizes");
    let c = comparison(&summary, "grpc", "streaming");
    assert_eq!(c.metric.throughput_unit(), "tokens/s");
    let g = &c.gains[0];
    assert_eq!(one_decimal(g.throughput_gain.expect("gain")), 5.0);
    assert_eq!(g.at_concurrency, Some(64));
    assert!((g.p99_ratio.expect("ratio") - 134.0 / 693.0).abs() < 1e-12);
}

#[test]
fn unknown_and_malformed_files_are_skipped_by_name() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    fs::copy(data("servebench/grpc_off_unary.csv"), dir.join("grpc_off_unary.csv")).expect("copy");
    fs::write(dir.join("notes.txt"), "hello").expect("write");
    fs::write(dir.join("garbage.csv"), "a,b\n1,2\n").expect("write");
    fs::write(dir.join("weird_off_unary.csv"), "foo,bar\n1,2\n").expect("write");
    let header = fs::read_to_string(data("servebench/grpc_off_unary.csv")).expect("read");
    let header = header.lines().next().expect("header");
    fs::write(
        dir.join("broken_on_unary.csv"),
        format!("{header}\nservebench.level/1,c1,closed,not-a-number\n"),
    )
    .expect("write");
    fs::write(dir.join("empty_on_unary.csv"), format!("{header}\n")).expect("write");
    fs::write(dir.join("binary_on_unary.csv"), [0xff, 0xfe, 0x00, 0x01]).expect("write");
    fs::create_dir(dir.join("lost_on_unary")).expect("mkdir");
    fs::write(dir.join("lost_on_unary/lost_on_unary_8.json"), "{not json").expect("write");
    fs::write(dir.join("stray.json"), "[]").expect("write");
    fs::write(dir.join("summary.md"), "# not an input").expect("write");

    let loaded = load_dir(dir).expect("a bad file never fails the load");
    assert_eq!(loaded.sweeps.len(), 1, "{:?}", loaded.sweeps);
    let named: Vec<String> = loaded
        .warnings
        .iter()
        .map(|w| w.path.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    for expected in [
        "notes.txt",
        "garbage.csv",
        "weird_off_unary.csv",
        "broken_on_unary.csv",
        "empty_on_unary.csv",
        "binary_on_unary.csv",
        "lost_on_unary_8.json",
        "stray.json",
    ] {
        assert!(named.iter().any(|n| n == expected), "no warning for {expected}: {named:?}");
    }
    assert!(!named.iter().any(|n| n == "summary.md"));
    for w in &loaded.warnings {
        assert!(w.to_string().starts_with(&w.path.display().to_string()));
    }
    // A report over the same directory still works.
    let out = tmp.path().join("out");
    let files = report::write_report(
        &[dir],
        &out,
        &report::Options { formats: Vec::new(), ..report::Options::default() },
    )
    .expect("report");
    let md = fs::read_to_string(files.markdown).expect("md");
    assert!(md.contains("## Skipped files") && md.contains("notes.txt"), "{md}");
}

#[test]
fn same_named_directories_become_distinct_suites() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for run in ["old", "new"] {
        let d = tmp.path().join(run).join("features");
        fs::create_dir_all(&d).expect("mkdir");
        fs::copy(data("servebench/grpc_off_unary.csv"), d.join("grpc_off_unary.csv")).expect("copy");
    }
    let loaded =
        load_dirs(&[tmp.path().join("old/features"), tmp.path().join("new/features")]).expect("loads");
    let suites: Vec<&str> = loaded.sweeps.iter().map(|s| s.suite.as_str()).collect();
    assert_eq!(suites.len(), 2);
    assert_ne!(suites[0], suites[1]);
    // Nested suites of the same name below two inputs stay apart too.
    let old = tmp.path().join("old");
    let new = tmp.path().join("new");
    let loaded = load_dirs(&[&old, &new]).expect("loads");
    let mut suites: Vec<String> = loaded.sweeps.iter().map(|s| s.suite.clone()).collect();
    suites.sort();
    let mut expected = vec![format!("{}/features", new.display()), format!("{}/features", old.display())];
    expected.sort();
    assert_eq!(suites, expected);
}

#[test]
fn nested_suites_are_found() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path().join("results/features");
    fs::create_dir_all(&d).expect("mkdir");
    fs::copy(data("servebench/grpc_off_unary.csv"), d.join("grpc_off_unary.csv")).expect("copy");
    let loaded = load_dir(tmp.path().join("results")).expect("loads");
    assert_eq!(loaded.sweeps.len(), 1);
    assert_eq!(loaded.sweeps[0].suite, "features");
}

#[test]
fn a_missing_directory_is_an_error() {
    let err = load_dir(data("does-not-exist")).expect_err("fails");
    assert!(err.to_string().contains("does-not-exist"), "{err}");
}

#[test]
fn a_suite_run_folder_reads_without_warnings_about_its_bookkeeping() {
    // features-suite's layout: manifest.json, deployments/, sweeps/ (measured once, paired into
    // the comparison files), report/ (an earlier report), and the comparison files themselves.
    let run = tempfile::tempdir().expect("tempdir");
    let copy = |from: &str, to: &std::path::Path| {
        fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        fs::copy(data("servebench").join(from), to).expect("copy");
    };
    copy("grpc_on_unary.csv", &run.path().join("grpc_on_unary.csv"));
    copy("grpc_off_unary.csv", &run.path().join("grpc_off_unary.csv"));
    copy("grpc_on_unary.csv", &run.path().join("sweeps/all_on-1replica-unary.csv"));
    fs::write(run.path().join("manifest.json"), r#"{"schema":"servebench.run/1"}"#).expect("write");
    fs::create_dir_all(run.path().join("deployments")).expect("mkdir");
    fs::write(run.path().join("deployments/all_on-1replica.json"), "{}").expect("write");
    fs::create_dir_all(run.path().join("report")).expect("mkdir");
    fs::write(run.path().join("report/stray.json"), "{}").expect("write");
    let loaded = load_dir(run.path()).expect("loads");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(loaded.sweeps.len(), 2, "only the comparison files are sweeps");
    // Outside a run folder the same stray files are still reported.
    fs::remove_file(run.path().join("manifest.json")).expect("rm");
    let loaded = load_dir(run.path()).expect("loads");
    assert!(!loaded.warnings.is_empty());
}
