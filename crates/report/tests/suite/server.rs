//! The server's view of each level (`server`, docs/results-schema.md "Server view"): a run whose
//! levels carry hand-written views with known numbers gets a "Where the time and CPU go" section
//! at the baseline's peak load, in `summary.md` and `summary.json`, and a CPU-by-role plot; runs
//! without views, or with unavailable ones, still render and say why.

use std::fs;
use std::path::Path;

use report::{Options, SUMMARY_JSON_FILE, Summary, load_dir, write_report};
use serde_json::{Value, json};

use super::common::{comparison, data};

const USERS: [u64; 3] = [1, 8, 32];

/// Client p50 and p99 of a level: the baseline misses the 200 ms SLA at 32 users, so its peak is
/// at 8; the treatment meets it everywhere.
fn client_latency(variant: &str, users: u64) -> (f64, f64) {
    match (variant, users) {
        ("off", 32) => (150.0, 400.0),
        ("off", _) => (5.0, 12.0),
        (_, _) => (3.0, 8.0),
    }
}

/// A server view; at 8 users the numbers the tests check, elsewhere others (so that the
/// compared level shows).
fn view(variant: &str, users: u64, requests: u64) -> Value {
    let at8 = users == 8;
    let (roles, total, ingress, processing) = if variant == "off" {
        (
            json!({
                "proxy": {"cpu_s": 19.0, "cores": 1.9, "processes": 1, "ms_per_request": if at8 { 1.9 } else { 9.99 }},
                "replica:app/Echo": {"cpu_s": 6.0, "cores": 0.6, "processes": 1, "ms_per_request": 0.6},
                "raylet": {"cpu_s": 3.0, "cores": 0.3, "processes": 1, "ms_per_request": 0.3},
                "gcs": {"cpu_s": 0.5, "cores": 0.05, "processes": 1, "ms_per_request": 0.05},
                "controller": {"cpu_s": 0.2, "cores": 0.02, "processes": 1, "ms_per_request": 0.02},
                "other": {"cpu_s": 0.1, "cores": 0.01, "processes": 2, "ms_per_request": 0.01}
            }),
            if at8 { 2.88 } else { 10.97 },
            (4.0, 10.0),
            0.5,
        )
    } else {
        (
            json!({
                "haproxy": {"cpu_s": 4.0, "cores": 0.4, "processes": 1, "ms_per_request": 0.4},
                "proxy": {"cpu_s": 3.1, "cores": 0.31, "processes": 1, "ms_per_request": if at8 { 0.31 } else { 7.77 }},
                "replica:app/Echo": {"cpu_s": 5.0, "cores": 0.5, "processes": 1, "ms_per_request": 0.5},
                "raylet": {"cpu_s": 2.0, "cores": 0.2, "processes": 1, "ms_per_request": 0.2},
                "gcs": {"cpu_s": 0.4, "cores": 0.04, "processes": 1, "ms_per_request": 0.04},
                "controller": {"cpu_s": 0.1, "cores": 0.01, "processes": 1, "ms_per_request": 0.01}
            }),
            if at8 { 1.46 } else { 8.92 },
            (2.5, 6.0),
            0.4,
        )
    };
    let latency = |p50: f64, p99: f64| {
        json!({"count": requests, "mean_ms": p50, "p50_ms": p50, "p90_ms": p99, "p99_ms": p99,
               "histogram": {"bounds": [1.0, 10.0], "counts": [0, requests, 0]}})
    };
    json!({
        "schema": "servebench.server/1", "started_unix_ms": 1_764_000_000_000u64, "window_s": 10.0,
        "client_requests": requests,
        "metrics": {
            "source": "http://127.0.0.1:8080/metrics", "report_interval_ms": 1000, "window_s": 10.05,
            "ingress": {"http": {"apps": {
                "app": {"requests": requests, "errors": 0, "by_status": {"200": requests},
                        "latency": latency(ingress.0, ingress.1)},
                "": {"requests": 1, "errors": 1, "by_status": {"404": 1}, "latency": latency(0.1, 0.2)}
            }, "ongoing_end": 0.0}},
            "deployments": {"app/Echo": {"replicas": 1, "requests": requests, "errors": 0, "routed": requests,
                                         "processing": latency(processing, processing * 3.0),
                                         "ongoing_end": 0.0, "queued_end": 0.0}}
        },
        "cpu": {"roles": roles, "total_s": total * requests as f64 / 1000.0, "total_cores": 1.0,
                "total_ms_per_request": total, "ticks_per_s": 100,
                "machine": {"cpus": 2, "busy_s": 18.0, "capacity_s": 20.0, "this_process_s": 2.0}},
        "notes": []
    })
}

/// How each level's `server` field is written.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Views {
    /// Hand-written views.
    Known,
    /// `{"schema": ..., "unavailable": ...}` for the treatment, views for the baseline.
    TreatmentUnavailable,
    /// Unavailable everywhere.
    Unavailable,
    /// No `server` field (files written before it).
    Absent,
}

/// A run of the study `allon` (`off` against `all_on` on `unary`, SLA 200 ms) at `USERS`.
fn write_run(run: &Path, views: Views) {
    for v in ["off", "all_on"] {
        let dir = run.join(format!("sweeps/{v}-1replica-unary"));
        fs::create_dir_all(&dir).expect("mkdir");
        for users in USERS {
            let throughput = if v == "off" { 100.0 * users as f64 } else { 150.0 * users as f64 };
            let requests = (throughput * 10.0) as u64;
            let (p50, p99) = client_latency(v, users);
            let mut level = json!({
                "schema": "servebench.level/1", "label": format!("c{users}"), "protocol": "http",
                "schedule": {"mode": "closed", "users": users, "think_time_ms": 0.0},
                "phases": {"warmup_s": 2.0, "window_s": 10.0, "cooldown_s": 0.0},
                "counts": {"issued": requests, "ok": requests, "errors": 0},
                "throughput_rps": throughput, "events_per_s": null,
                "latency_ms": {"count": requests, "mean": p50, "p50": p50, "p90": p99, "p99": p99},
                "client": {"cpu": 0.2, "bound": false},
                "valid": true,
            });
            let unavailable = json!({"schema": "servebench.server/1",
                                     "unavailable": "the snapshot at the window's start: no metrics port"});
            let server = match views {
                Views::Known => Some(view(v, users, requests)),
                Views::TreatmentUnavailable if v == "all_on" => Some(unavailable),
                Views::TreatmentUnavailable => Some(view(v, users, requests)),
                Views::Unavailable => Some(unavailable),
                Views::Absent => None,
            };
            if let Some(server) = server {
                level["server"] = server;
            }
            fs::write(dir.join(format!("level_c{users}.json")), level.to_string()).expect("write");
        }
    }
    let sweep = |v: &str| {
        json!({"variant": v, "layout": "1replica", "workload": "unary", "replicas": 1, "external": false,
               "levels": format!("sweeps/{v}-1replica-unary"), "study": "allon"})
    };
    let index = json!({
        "schema": "servebench.index/1", "suite": "views", "run": "synthetic",
        "workloads": [{"name": "unary", "protocol": "http", "sla_p99_ms": 200.0, "metric": "requests"}],
        "studies": [{"name": "allon", "kind": "comparison", "baseline": "off", "treatment": "all_on",
                     "layout": "1replica", "workloads": ["unary"]}],
        "sweeps": [sweep("off"), sweep("all_on")],
    });
    fs::write(run.join("index.json"), serde_json::to_string_pretty(&index).expect("json")).expect("write");
}

fn report_of(views: Views) -> (tempfile::TempDir, report::ReportFiles, String) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let run = tmp.path().join("run");
    write_run(&run, views);
    let files = write_report(&[&run], tmp.path().join("report"), &Options::default()).expect("report");
    assert!(files.warnings.is_empty(), "{:?}", files.warnings);
    let md = fs::read_to_string(&files.markdown).expect("md");
    // With `REPORT_KEEP_EXAMPLES` naming a folder, the report is also written there (to look at).
    if let Some(dir) = std::env::var_os("REPORT_KEEP_EXAMPLES") {
        let out = Path::new(&dir).join(format!("server-{views:?}"));
        write_report(&[&run], out, &Options::default()).expect("example report");
    }
    (tmp, files, md)
}

#[test]
fn levels_keep_their_server_view() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let run = tmp.path().join("run");
    write_run(&run, Views::TreatmentUnavailable);
    let loaded = load_dir(&run).expect("loads");
    let off = loaded.sweeps.iter().find(|s| s.variant == "off").expect("off");
    let view = off.levels[1].server.as_ref().expect("a view");
    assert_eq!(view.client_requests, Some(8000));
    assert_eq!(view.cpu_total_ms_per_request(), Some(2.88));
    assert_eq!(view.cpu_ms_per_request().get("proxy"), Some(&1.9));
    let (ingress, latency) = view.main_ingress().expect("ingress");
    assert_eq!((ingress.as_str(), latency.p50_ms, latency.p99_ms), ("http/app", Some(4.0), Some(10.0)));
    let on = loaded.sweeps.iter().find(|s| s.variant == "all_on").expect("all_on");
    let view = on.levels[0].server.as_ref().expect("an unavailable view");
    assert_eq!(view.unavailable.as_deref(), Some("the snapshot at the window's start: no metrics port"));
}

#[test]
fn the_summary_shows_latency_and_cpu_by_role_at_the_baselines_peak() {
    let (tmp, files, md) = report_of(Views::Known);
    let c = comparison(&files.summary, "allon", "unary");
    assert_eq!(c.peak_of("off").map(|p| p.concurrency), Some(8));
    let s = c.server.as_ref().expect("server comparison");
    assert_eq!((s.label.as_deref(), s.concurrency), (Some("c8"), Some(8)));
    assert_eq!(s.roles, ["proxy", "replica:app/Echo", "raylet", "haproxy"]);
    let on = &s.variants[1];
    assert_eq!(on.variant, "all_on");
    assert_eq!(on.cpu_ms_per_request.get("proxy"), Some(&0.31));
    assert_eq!((on.client_p50_ms, on.ingress_p50_ms), (Some(3.0), Some(2.5)));
    assert_eq!(on.ingress.as_deref(), Some("http/app"));

    assert!(md.contains("## Where the time and CPU go"), "{md}");
    assert!(md.contains("### allon · Unary at c=8"), "{md}");
    // Latency: client, ingress, processing, and the differences.
    assert!(
        md.contains("| off (baseline) | 5.00 ms / 12.0 ms | 4.00 ms / 10.0 ms | app/Echo 0.50 ms | 1.00 ms | 3.50 ms |"),
        "{md}"
    );
    assert!(
        md.contains(
            "| all_on | 3.00 ms / 8.00 ms | 2.50 ms / 6.00 ms | app/Echo 0.40 ms | 0.50 ms | 2.10 ms |"
        ),
        "{md}"
    );
    // CPU per request by role; gcs, controller and the writer's `other` are added up as other.
    assert!(
        md.contains("| variant | CPU ms/request | proxy | replica:app/Echo | raylet | haproxy | other |"),
        "{md}"
    );
    assert!(md.contains("| off (baseline) | 2.88 | 1.90 | 0.60 | 0.30 | 0.00 | 0.08 |"), "{md}");
    assert!(md.contains("| all_on | 1.46 | 0.31 | 0.50 | 0.20 | 0.40 | 0.05 |"), "{md}");
    assert!(
        md.contains(
            "- all_on: 0.31 ms of proxy CPU per request against 1.90 ms for the baseline (off); 0.71 ms of ingress CPU (proxy and HAProxy) per request against 1.90 ms; 1.46 ms in all against 2.88 ms."
        ),
        "{md}"
    );

    // summary.json carries the same figures and reads back.
    let text = fs::read_to_string(&files.json).expect("json");
    assert!(files.json.ends_with(SUMMARY_JSON_FILE));
    let v: Value = serde_json::from_str(&text).expect("json");
    let server = &v["comparisons"][0]["server"];
    assert_eq!(server["label"], "c8");
    assert_eq!(server["variants"][0]["cpu_ms_per_request"]["proxy"], 1.9);
    assert_eq!(server["variants"][1]["cpu_total_ms_per_request"], 1.46);
    assert_eq!(server["variants"][1]["deployments"][0]["p50_ms"], 0.4);
    assert_eq!(Summary::from_json(&text).expect("reads back"), files.summary);

    // The CPU plot, both formats, beside the comparison's.
    let stem = tmp.path().join("report/views/allon_unary_cpu");
    let png = stem.with_extension("png");
    let svg = stem.with_extension("svg");
    assert!(files.figures.contains(&png) && files.figures.contains(&svg), "{:?}", files.figures);
    assert!(fs::metadata(&png).expect("png").len() > 5_000);
    let img = image::open(&png).expect("decodes");
    assert!(img.width() >= 1000 && img.height() >= 300, "{}x{}", img.width(), img.height());
    let svg = fs::read_to_string(&svg).expect("svg");
    for label in [
        "CPU per request by role",
        "c=8",
        "proxy",
        "haproxy",
        "other",
        "off (baseline)",
        "all_on",
        "2.88 ms",
        "1.46 ms",
    ] {
        assert!(svg.contains(label), "CPU SVG lacks {label}");
    }
    assert!(md.contains("views/allon_unary_cpu.png"), "{md}");
}

#[test]
fn a_missing_view_is_one_line_with_the_reason() {
    // The treatment's view is unavailable: the baseline's row stays, the treatment's reason is
    // given.
    let (_tmp, files, md) = report_of(Views::TreatmentUnavailable);
    assert!(md.contains("| off (baseline) | 2.88 | 1.90 | 0.60 | 0.30 | 0.08 |"), "{md}");
    assert!(
        md.contains("No server view at c=8 for all_on: the snapshot at the window's start: no metrics port."),
        "{md}"
    );
    assert_eq!(files.figures.iter().filter(|p| p.to_string_lossy().contains("_cpu.")).count(), 2);

    // Unavailable everywhere: one line, no table, no plot.
    let (_tmp, files, md) = report_of(Views::Unavailable);
    assert!(md.contains("## Where the time and CPU go"), "{md}");
    assert!(
        md.contains(
            "- allon · Unary: no server view at c=8 for off, all_on: the snapshot at the window's start: no metrics port."
        ),
        "{md}"
    );
    assert!(
        !md.contains("CPU ms/request") && !md.contains("Each variant at the baseline's peak load"),
        "{md}"
    );
    assert!(files.figures.iter().all(|p| !p.to_string_lossy().contains("_cpu.")), "{:?}", files.figures);
}

#[test]
fn runs_without_views_have_no_such_section() {
    let (_tmp, files, md) = report_of(Views::Absent);
    assert!(files.summary.comparisons.iter().all(|c| c.server.is_none()));
    assert!(!md.contains("Where the time and CPU go"), "{md}");
    assert!(!fs::read_to_string(&files.json).expect("json").contains("\"server\""));
    assert!(files.figures.is_empty(), "{:?}", files.figures);

    // The original suite's published results.
    let tmp = tempfile::tempdir().expect("tempdir");
    let files = write_report(&[data("published-features")], tmp.path(), &Options::default()).expect("report");
    assert!(files.summary.comparisons.iter().all(|c| c.server.is_none()));
    assert!(!fs::read_to_string(&files.markdown).expect("md").contains("Where the time and CPU go"));
}
