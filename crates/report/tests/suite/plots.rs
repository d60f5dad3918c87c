//! The plots are written, decodable, the right size, and carry their labels.

use std::fs;
use std::path::Path;

use report::{Criteria, GainBasis, ImageFormat, Options, write_report};

use super::common::data;

fn png_size(path: &Path) -> (u32, u32) {
    let img = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (img.width(), img.height())
}

#[test]
fn report_writes_every_plot_in_both_formats() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("report");
    let files = write_report(&[data("published-features")], &out, &Options::default()).expect("report");
    assert!(files.warnings.is_empty(), "{:?}", files.warnings);

    // peak_performance_gains: PNG and SVG.
    let png = out.join("peak_performance_gains.png");
    let svg = out.join("peak_performance_gains.svg");
    assert!(files.peak_gains.contains(&png) && files.peak_gains.contains(&svg));
    assert!(fs::metadata(&png).expect("png").len() > 10_000);
    let (w, h) = png_size(&png);
    assert!(w >= 1200 && h >= 600, "{w}x{h}");
    let svg_text = fs::read_to_string(&svg).expect("svg");
    // The bars lead with the gain at the SLA (allon8 unary: 11.3x; its peak gain is 11.5x).
    for label in
        ["11.3x", "8.9x", "Unary", "Streaming", "higher is better", "lower is better", "allon8", "at the SLA"]
    {
        assert!(svg_text.contains(label), "peak gains SVG lacks {label}");
    }
    assert!(!svg_text.contains("11.5x"), "the chart shows the peak gain, not the one at the SLA");

    // One plot per comparison and workload, in a folder per suite.
    assert_eq!(files.comparisons.len(), 4 * 2);
    let unary = out.join("published-features/allon8_unary.png");
    assert!(files.comparisons.contains(&unary));
    assert_eq!(png_size(&unary), (1280, 820));
    let svg_text = fs::read_to_string(out.join("published-features/allon8_unary.svg")).expect("svg");
    for label in [
        "11.3x",
        "peaks 11.5x",
        "interpolated",
        "SLA 200 ms",
        "p99 latency (ms",
        "goodput (rps",
        "off (baseline)",
        "128",
    ] {
        assert!(svg_text.contains(label), "comparison SVG lacks {label}");
    }
    let streaming = fs::read_to_string(out.join("published-features/allon8_streaming.svg")).expect("svg");
    assert!(streaming.contains("8.9x") && streaming.contains("tokens/s"));

    // The Markdown links the plots.
    let md = fs::read_to_string(&files.markdown).expect("md");
    assert!(md.contains("peak_performance_gains.png"), "{md}");
}

#[test]
fn the_peak_gain_can_lead_as_the_original_reported_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let criteria = Criteria { headline: GainBasis::Peak, ..Criteria::default() };
    let options = Options { criteria, formats: vec![ImageFormat::Svg], ..Options::default() };
    let files = write_report(&[data("published-features")], tmp.path(), &options).expect("report");
    let chart = fs::read_to_string(tmp.path().join("peak_performance_gains.svg")).expect("svg");
    assert!(chart.contains("11.5x") && !chart.contains("11.3x") && chart.contains("at peak"));
    let unary = fs::read_to_string(tmp.path().join("published-features/allon8_unary.svg")).expect("svg");
    assert!(unary.contains("peak goodput") && unary.contains("at the SLA 11.3x"));
    let md = fs::read_to_string(&files.markdown).expect("md");
    assert!(md.contains("| peak gain | gain at the SLA |") && md.contains("| **11.5x** | 11.3x |"), "{md}");
}

#[test]
fn plots_can_be_png_only_and_mark_excluded_levels() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let options = Options { formats: vec![ImageFormat::Png], ..Options::default() };
    let files = write_report(&[data("servebench")], tmp.path(), &options).expect("report");
    assert!(files.all().all(|p| p.extension().is_none_or(|e| e != "svg")));
    for p in files.peak_gains.iter().chain(&files.comparisons) {
        let (w, h) = png_size(p);
        assert!(w > 0 && h > 0);
    }
    // With SVG, the legend explains the hollow markers.
    let files = write_report(
        &[data("servebench")],
        tmp.path().join("svg"),
        &Options { formats: vec![ImageFormat::Svg], ..Options::default() },
    )
    .expect("report");
    let unary =
        files.comparisons.iter().find(|p| p.ends_with("servebench/grpc_unary.svg")).expect("grpc unary svg");
    let text = fs::read_to_string(unary).expect("svg");
    assert!(
        text.contains("hollow: client-bound or &gt; 1% errors")
            || text.contains("hollow: client-bound or > 1% errors"),
        "{text}"
    );
}

#[test]
fn no_gains_still_draws_a_chart() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("only-on");
    fs::create_dir(&dir).expect("mkdir");
    fs::copy(data("servebench/grpc_on_unary.csv"), dir.join("grpc_on_unary.csv")).expect("copy");
    let files = write_report(&[&dir], tmp.path().join("out"), &Options::default()).expect("report");
    assert_eq!(files.peak_gains.len(), 2);
    assert!(files.summary.comparisons[0].gains.is_empty());
    assert!(files.summary.to_markdown().contains("no baseline variant"));
}

#[test]
fn recsys_and_llm_figures_are_drawn() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("report");
    let inputs = [data("published-recsys"), data("published-llm"), data("llm-pair")];
    let files = write_report(&inputs, &out, &Options::default()).expect("report");
    assert!(files.warnings.is_empty(), "{:?}", files.warnings);

    // The recsys 2 x 2 against users, beside the goodput plot.
    let by_users = out.join("published-recsys/recsys-oss-nightly_recsys_by_users");
    assert!(files.figures.contains(&by_users.with_extension("png")), "{:?}", files.figures);
    assert_eq!(png_size(&by_users.with_extension("png")), (1400, 1000));
    let svg = fs::read_to_string(by_users.with_extension("svg")).expect("svg");
    for label in [
        "Throughput",
        "Mean latency",
        "p50 latency",
        "p99 latency",
        "users",
        "unoptimized (baseline)",
        "optimized",
        "500",
    ] {
        assert!(svg.contains(label), "by-users SVG lacks {label}");
    }

    // Throughput against replicas, with the ideal line; the engine's 2 x 2.
    let scaling = out.join("published-llm/replica_sweep_llm_scaling");
    assert_eq!(png_size(&scaling.with_extension("png")), (1280, 820));
    let svg = fs::read_to_string(scaling.with_extension("svg")).expect("svg");
    for label in
        ["replicas (N)", "ideal: N x best of the bare engine (vllm, 7,559", "1_ingress", "4,174", "7,107"]
    {
        assert!(svg.contains(label), "scaling SVG lacks {label}");
    }
    let pair = fs::read_to_string(out.join("llm-pair/replica_sweep_llm_scaling.svg")).expect("svg");
    assert!(pair.contains("optimized vs unoptimized at N=4: 3.2x throughput, p99 TTFT 0.25x"), "{pair}");
    let engine = out.join("published-llm/vllm_llm_engine");
    assert_eq!(png_size(&engine.with_extension("png")), (1400, 1000));
    let svg = fs::read_to_string(engine.with_extension("svg")).expect("svg");
    for label in
        ["Time to first token", "TPOT (ms)", "input tokens/s", "output tokens/s", "median", "p99", "256"]
    {
        assert!(svg.contains(label), "engine SVG lacks {label}");
    }

    // The cross-suite bars: recsys (peak, no SLA) and the LLM pair at its largest N.
    let svg = fs::read_to_string(out.join("peak_performance_gains.svg")).expect("svg");
    for label in ["RecSys", "LLM", "3.5x", "3.2x", "0.27x", "0.25x", "N = 4 · p99 TTFT"] {
        assert!(svg.contains(label), "peak gains SVG lacks {label}");
    }
}
