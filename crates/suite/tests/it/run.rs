//! The generic run loop without Ray: the test-data suite's comparison (two variants, two
//! workloads, two levels each) measured paired against in-process servers through the external
//! backend, then its files, index and summary; a deployment that stops serving mid-run; and two
//! servers of a known speed ratio on a drifting machine, where alternating the variants recovers
//! the ratio and measuring one after the other does not.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use deploy::{AppCatalog, Backend, ExternalOptions, LocalOptions, Project, VariantSet};
use suite::{Event, Plan, RunIndex, RunOptions, Settings, SuiteConfig, SweepStatus};

use super::config::args;
use super::server;

fn mini() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/mini/suite.toml")
}

fn external(url: &str) -> ExternalOptions {
    ExternalOptions { http_base: url.to_owned(), grpc_uri: None, token: None, check: true }
}

fn options(dir: &Path, url: &str, config: &SuiteConfig) -> RunOptions {
    let project = Project::discover();
    RunOptions {
        dir: dir.to_owned(),
        resume: false,
        backend: Backend::External(external(url)),
        endpoints: BTreeMap::new(),
        local: LocalOptions::for_project(&project),
        server_at: None,
        variants: VariantSet::load(&config.variants).unwrap(),
        catalog: AppCatalog::load(&config.apps).unwrap(),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn read_index(dir: &Path) -> RunIndex {
    serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap()
}

#[test]
fn a_suite_from_test_data_runs_end_to_end_without_ray() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = server::start();
    let config = SuiteConfig::load(&mini()).unwrap();
    let settings = Settings::new(&config, &args(&["--profile", "quick"])).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("r1");
    let opts = options(&dir, &server.url(), &config);
    let plan = Plan::new(&settings, &opts.variants, &opts.catalog).unwrap();
    let levels = Mutex::new(Vec::new());
    let outcome = runtime()
        .block_on(suite::run(&settings, &plan, "r1", &opts, &loadgen::CancellationToken::new(), &|e| {
            if let Event::Level { group, workload, result, .. } = e {
                levels.lock().unwrap().push(format!("{} {workload} {}", group.key, result.label));
            }
        }))
        .unwrap();
    assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);
    // Two variants deployed together, alternating level by level in ABBA order.
    let levels = levels.into_inner().unwrap();
    assert_eq!(
        levels,
        [
            "fast-slow-one echo c1",
            "fast-fast-one echo c1",
            "fast-fast-one echo c2",
            "fast-slow-one echo c2",
            "fast-slow-one events c1",
            "fast-fast-one events c1",
            "fast-fast-one events c2",
            "fast-slow-one events c2"
        ]
    );

    let index = read_index(&dir);
    assert_eq!(index.schema, "servebench.index/1");
    assert_eq!((index.suite.as_str(), index.run.as_str()), ("mini", "r1"));
    assert_eq!(index.studies.len(), 1);
    assert_eq!(index.studies[0].baseline.as_deref(), Some("slow"));
    assert_eq!((index.mode.as_str(), index.sweeps.len()), ("paired", 4));
    for s in &index.sweeps {
        assert_eq!(s.status, SweepStatus::Complete, "{s:?}");
        assert_eq!((s.study.as_deref(), s.paired, s.repeats), (Some("fast"), true, 1));
        let csv = std::fs::read_to_string(dir.join(&s.csv)).unwrap();
        assert_eq!(csv.lines().count(), 3, "header + 2 levels in {}", s.csv);
        for l in ["c1", "c2"] {
            let r = loadgen::read_level(&dir.join(&s.levels).join(format!("level_{l}.json"))).unwrap();
            assert_eq!(r.counts.errors, 0, "{:?}", r.error_samples);
            assert!(r.counts.ok > 0 && r.throughput_rps > 0.0);
            // An external endpoint has no server view; the level says why.
            let server = r.server.as_ref().expect("the level says why it has no server view");
            assert_eq!(server["schema"], "servebench.server/1");
            let why = server["unavailable"].as_str().unwrap_or_default();
            assert!(why.contains("external endpoint"), "{server}");
        }
        assert!(dir.join(&s.deployment).is_file(), "{}", s.deployment);
    }
    let events = loadgen::read_level(&dir.join("sweeps/fast-fast-one-events/level_c2.json")).unwrap();
    assert_eq!(events.counts.events, events.counts.ok * 5);

    // The summary of the run, from its index.
    let files = report::write_report(&[&dir], dir.join("report"), &report::Options::default()).unwrap();
    let md = std::fs::read_to_string(&files.markdown).unwrap();
    assert!(md.contains("fast") && md.contains("echo") && md.contains("events"), "{md}");
}

#[test]
fn a_deployment_that_stops_serving_is_left_and_reported() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = server::start();
    let config = SuiteConfig::load(&mini()).unwrap();
    let settings =
        Settings::new(&config, &args(&["--profile", "quick", "--workload", "echo", "--sequential"])).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("r2");
    let opts = options(&dir, &server.url(), &config);
    let plan = Plan::new(&settings, &opts.variants, &opts.catalog).unwrap();
    let outcome = runtime()
        .block_on(suite::run(&settings, &plan, "r2", &opts, &loadgen::CancellationToken::new(), &|e| {
            // The replicas die as soon as the first level is measured.
            if let Event::Level { .. } = e {
                server.die();
            }
        }))
        .unwrap();
    let failed: Vec<&str> = outcome.failed.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(failed, ["slow-one", "fast-one"], "{:?}", outcome.failed);
    assert!(outcome.failed[0].1.contains("stopped serving after level c1"), "{}", outcome.failed[0].1);
    assert!(outcome.failed[1].1.contains("deploying failed"), "{}", outcome.failed[1].1);
    let index = read_index(&dir);
    let status: Vec<SweepStatus> = index.sweeps.iter().map(|s| s.status).collect();
    assert_eq!(status, [SweepStatus::Partial, SweepStatus::Failed]);
    // The level that was measured is kept; the one after it was never run.
    assert!(dir.join("sweeps/slow-one-echo/level_c1.json").is_file());
    assert!(!dir.join("sweeps/slow-one-echo/level_c2.json").exists());
}

/// The geometric mean of fast/slow throughput over the levels both measured (same label).
fn measured_ratio(dir: &Path, slow: &str, fast: &str) -> f64 {
    let read = |stem: &str| -> BTreeMap<String, f64> {
        std::fs::read_dir(dir.join("sweeps").join(stem))
            .unwrap()
            .map(|e| loadgen::read_level(&e.unwrap().path()).unwrap())
            .map(|r| (r.label.clone(), r.throughput_rps))
            .collect()
    };
    let (s, f) = (read(slow), read(fast));
    let logs: Vec<f64> = s.iter().map(|(label, v)| (f[label] / v).ln()).collect();
    assert!(!logs.is_empty());
    (logs.iter().sum::<f64>() / logs.len() as f64).exp()
}

#[test]
fn alternating_the_variants_recovers_a_known_ratio_on_a_drifting_machine() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = SuiteConfig::load(&mini()).unwrap();
    let mut found = Vec::new();
    for mode in ["paired", "sequential"] {
        // The machine slows down steadily (by a tenth, compounding, each second of the run);
        // "fast" takes half of "slow"'s time per request: the true throughput ratio is 2. Each
        // request takes tens of milliseconds, so what a busy machine adds to it (timer rounding,
        // scheduling) stays small beside the server's time, and 8 and 16 users over 1.5 s
        // windows make each window hold hundreds of requests: the users of a closed loop finish
        // in step, so a window's count moves in whole rounds of them.
        let since = Instant::now();
        let base = Duration::from_millis(20);
        let slow = server::start_with(Some(server::Speed { base, factor: 2.0, drift: 0.1, since }));
        let fast = server::start_with(Some(server::Speed { base, factor: 1.0, drift: 0.1, since }));
        let mut list = vec![
            "--profile",
            "quick",
            "--workload",
            "echo",
            "--sweep",
            "small=8,16",
            "--duration",
            "1.5s",
            "--repeat",
            "2",
            "--full-sweep",
        ];
        if mode == "sequential" {
            list.push("--sequential");
        }
        let settings = Settings::new(&config, &args(&list)).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(mode);
        let mut opts = options(&dir, &slow.url(), &config);
        opts.endpoints.insert("slow".into(), external(&slow.url()));
        opts.endpoints.insert("fast".into(), external(&fast.url()));
        let plan = Plan::new(&settings, &opts.variants, &opts.catalog).unwrap();
        let outcome = runtime()
            .block_on(suite::run(&settings, &plan, mode, &opts, &loadgen::CancellationToken::new(), &|_| {}))
            .unwrap();
        assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);
        let (s, f) = if mode == "paired" {
            ("fast-slow-one-echo", "fast-fast-one-echo")
        } else {
            ("slow-one-echo", "fast-one-echo")
        };
        found.push(measured_ratio(&dir, s, f));
    }
    let (paired, sequential) = (found[0], found[1]);
    assert!((paired / 2.0 - 1.0).abs() < 0.15, "paired: {paired:.2} (true 2.0), sequential: {sequential:.2}");
    assert!(
        (sequential / 2.0 - 1.0).abs() > 0.3,
        "sequential should be biased by the drift: {sequential:.2}"
    );
}

#[test]
fn each_repeat_on_fresh_deployments_deploys_the_stage_again_and_resumes_by_round() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = server::start();
    let config = SuiteConfig::load(&mini()).unwrap();
    let list = ["--profile", "quick", "--workload", "echo", "--repeat", "2", "--redeploy", "--full-sweep"];
    let settings = Settings::new(&config, &args(&list)).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("r3");
    let mut opts = options(&dir, &server.url(), &config);
    let plan = Plan::new(&settings, &opts.variants, &opts.catalog).unwrap();
    assert_eq!((plan.rounds, plan.deployments(), plan.levels()), (2, 4, 8));
    let run = |opts: &RunOptions| {
        let seen = Mutex::new(Vec::new());
        let outcome = runtime()
            .block_on(suite::run(&settings, &plan, "r3", opts, &loadgen::CancellationToken::new(), &|e| {
                match e {
                    Event::Deploying { round, .. } => seen.lock().unwrap().push(format!("deploy {round:?}")),
                    Event::Level { group, result, resumed: false, .. } => {
                        seen.lock().unwrap().push(format!("{} {}", group.key, result.label))
                    }
                    Event::Skipped(g) => seen.lock().unwrap().push(format!("skip {}", g.key)),
                    _ => {}
                }
            }))
            .unwrap();
        assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);
        seen.into_inner().unwrap()
    };
    // Round 1 measures repeat 1 of every level, round 2 (on new deployments) repeat 2; the ABBA
    // order runs on across the rounds.
    assert_eq!(
        run(&opts),
        [
            "deploy (1, 2)",
            "fast-slow-one c1-r1",
            "fast-fast-one c1-r1",
            "fast-fast-one c2-r1",
            "fast-slow-one c2-r1",
            "deploy (2, 2)",
            "fast-fast-one c1-r2",
            "fast-slow-one c1-r2",
            "fast-slow-one c2-r2",
            "fast-fast-one c2-r2",
        ]
    );
    let index = read_index(&dir);
    assert!(index.redeployed);
    for s in &index.sweeps {
        assert_eq!((s.status, s.repeats, s.reason.as_deref()), (SweepStatus::Complete, 2, None), "{s:?}");
        // The CSV holds both rounds, by user count and then repeat.
        let csv = std::fs::read_to_string(dir.join(&s.csv)).unwrap();
        let labels: Vec<&str> = csv.lines().skip(1).filter_map(|l| l.split(',').nth(1)).collect();
        assert_eq!(labels, ["c1-r1", "c1-r2", "c2-r1", "c2-r2"], "{}", s.csv);
    }
    // Resuming after the second round lost a level: the first round is not deployed again.
    std::fs::remove_file(dir.join("sweeps/fast-fast-one-echo/level_c2-r2.json")).unwrap();
    opts.resume = true;
    assert_eq!(
        run(&opts),
        ["skip fast-slow-one", "skip fast-fast-one", "deploy (2, 2)", "fast-fast-one c2-r2"]
    );
    assert!(read_index(&dir).sweeps.iter().all(|s| s.status == SweepStatus::Complete));
}

#[test]
fn a_resumed_run_does_not_deploy_again_a_sweep_that_stopped_climbing() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Two requests at a time, 10 ms each: 200 req/s from c=2 on, p99 past the 60 ms SLA at c=16.
    let server = server::start_capped(2, Duration::from_millis(10));
    let config = SuiteConfig::load(&mini()).unwrap();
    let list = [
        "--profile",
        "quick",
        "--workload",
        "capped",
        "--variant",
        "slow",
        "--sweep",
        "climb=1,2,4,8,16,32,64",
        "--repeat",
        "2",
        "--same-deployment",
    ];
    let settings = Settings::new(&config, &args(&list)).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("r6");
    let mut opts = options(&dir, &server.url(), &config);
    let plan = Plan::new(&settings, &opts.variants, &opts.catalog).unwrap();
    let run = |opts: &RunOptions| {
        let seen = Mutex::new(Vec::new());
        let outcome = runtime()
            .block_on(suite::run(&settings, &plan, "r6", opts, &loadgen::CancellationToken::new(), &|e| {
                match e {
                    Event::Deploying { .. } => seen.lock().unwrap().push("deploy".to_string()),
                    Event::Level { result, resumed: false, .. } => {
                        seen.lock().unwrap().push(result.label.clone())
                    }
                    Event::Skipped(g) => seen.lock().unwrap().push(format!("skip {}", g.key)),
                    _ => {}
                }
            }))
            .unwrap();
        assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);
        seen.into_inner().unwrap()
    };
    let first = run(&opts);
    let index = read_index(&dir);
    let sweep = &index.sweeps[0];
    let why = sweep.stopped.clone().unwrap_or_else(|| panic!("stopped early: {first:?}"));
    assert!(!first.iter().any(|l| l.starts_with("c64")), "{first:?}");
    assert_eq!(sweep.status, SweepStatus::Complete);
    // Resumed: nothing deployed or measured again, and the index still says where and why it
    // stopped.
    opts.resume = true;
    let again = run(&opts);
    assert_eq!(again.len(), 1, "{again:?}");
    assert!(again[0].starts_with("skip "), "{again:?}");
    let index = read_index(&dir);
    assert_eq!(
        (index.sweeps[0].status, index.sweeps[0].stopped.as_deref()),
        (SweepStatus::Complete, Some(&*why))
    );
}

#[test]
fn an_unstable_level_is_measured_again_and_its_first_attempt_kept() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // A machine slowing down by about a third each second: no window on it is one steady state.
    let since = Instant::now();
    let server = server::start_with(Some(server::Speed {
        base: Duration::from_millis(4),
        factor: 1.0,
        drift: 0.3,
        since,
    }));
    let config = SuiteConfig::load(&mini()).unwrap();
    let list = [
        "--profile",
        "quick",
        "--workload",
        "echo",
        "--variant",
        "slow",
        "--sweep",
        "small=1",
        "--warmup",
        "0s",
        "--duration",
        "5s",
        "--retry-unstable",
        "1",
    ];
    let settings = Settings::new(&config, &args(&list)).unwrap();
    assert_eq!(settings.retry_unstable, 1);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("r4");
    let opts = options(&dir, &server.url(), &config);
    let plan = Plan::new(&settings, &opts.variants, &opts.catalog).unwrap();
    let retried = Mutex::new(Vec::new());
    runtime()
        .block_on(suite::run(&settings, &plan, "r4", &opts, &loadgen::CancellationToken::new(), &|e| {
            if let Event::Retrying { label, why, .. } = e {
                retried.lock().unwrap().push(format!("{label}: {why}"));
            }
        }))
        .unwrap();
    let retried = retried.into_inner().unwrap();
    assert_eq!(retried.len(), 1, "{retried:?}");
    let index = read_index(&dir);
    let folder = dir.join(&index.sweeps[0].levels);
    let first = loadgen::read_level(&folder.join("attempt_c1-1.json")).unwrap();
    assert!(first.stability.as_ref().is_some_and(|s| !s.stable), "{:?}", first.stability);
    let used = loadgen::read_level(&folder.join("level_c1.json")).unwrap();
    assert_eq!(used.retried.len(), 1, "{:?}", used.retried);
    assert!(used.retried[0].contains("attempt_c1-1.json") && used.retried[0].contains("unstable"));
    // The report reads the level, not the attempt kept beside it.
    let files = report::write_report(&[&dir], dir.join("report"), &report::Options::default()).unwrap();
    let json = std::fs::read_to_string(&files.json).unwrap();
    assert!(json.contains("\"c1\""), "{json}");
}

#[test]
fn a_scouted_sweep_measures_in_full_only_the_levels_that_can_be_the_peak() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Two requests at a time, 10 ms each: 100 req/s at one user, 200 from two on, and the p99
    // (users / 2 x 10 ms) past the 60 ms SLA at 16 users.
    let server = server::start_capped(2, Duration::from_millis(10));
    let config = SuiteConfig::load(&mini()).unwrap();
    let list = ["--profile", "scouted", "--variant", "slow"];
    let settings = Settings::new(&config, &args(&list)).unwrap();
    assert!(settings.adaptive.and_then(|a| a.scout).is_some(), "{:?}", settings.adaptive);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("r5");
    let opts = options(&dir, &server.url(), &config);
    let plan = Plan::new(&settings, &opts.variants, &opts.catalog).unwrap();
    let seen = Mutex::new(Vec::new());
    let outcome = runtime()
        .block_on(suite::run(&settings, &plan, "r5", &opts, &loadgen::CancellationToken::new(), &|e| {
            if let Event::Level { result, .. } = e {
                let kind = if result.scout { "scout" } else { "full" };
                seen.lock().unwrap().push(format!("{kind} {}", result.label));
            }
        }))
        .unwrap();
    assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);
    let seen = seen.into_inner().unwrap();
    eprintln!("levels in order: {seen:?}");
    let index = read_index(&dir);
    let sweep = &index.sweeps[0];
    let folder = dir.join(&sweep.levels);
    // Every level up to saturation scouted once, in order; the climb stopped there.
    let scouted: Vec<&String> = seen.iter().take_while(|s| s.starts_with("scout")).collect();
    assert!(scouted.len() >= 4, "{seen:?}");
    assert_eq!(scouted[..4], ["scout c1", "scout c2", "scout c4", "scout c8"], "{seen:?}");
    if scouted.len() < 6 {
        assert!(sweep.stopped.as_deref().is_some_and(|w| w.contains("scouting")), "{sweep:?}");
    }
    for s in &scouted {
        let label = s.trim_start_matches("scout ");
        assert!(folder.join(format!("scout_{label}.json")).is_file(), "{label}");
        // Each scouted level has its level file: the full measurement, or the scouting level.
        assert!(folder.join(format!("level_{label}.json")).is_file(), "{label}");
    }
    // Then in full: c2 (200 req/s, within the SLA) can be the peak; c1 (100) cannot.
    let full: Vec<&str> = seen.iter().filter_map(|s| s.strip_prefix("full ")).collect();
    assert!(full.contains(&"c2"), "{seen:?}");
    assert!(!full.contains(&"c1"), "{seen:?}");
    assert!(full.len() < scouted.len(), "{seen:?}");
    // Highest first: the likeliest peak, which can rule out the others. (A level added after
    // the candidates, as the peak on its scouting window alone, could be higher; here the
    // throughput is flat from c2 on, so none is.)
    let users = |l: &str| l.trim_start_matches('c').parse::<u32>().unwrap();
    assert!(full.windows(2).all(|p| users(p[0]) > users(p[1])), "{seen:?}");
    let read = |label: &str| loadgen::read_level(&folder.join(format!("level_{label}.json"))).unwrap();
    assert!(read("c1").scout);
    assert!(!read("c2").scout);
    let c2 = read("c2");
    assert!(
        c2.phases.window_s >= 1.5,
        "a full window is at least the profile's 1.5 s: {}",
        c2.phases.window_s
    );
    // The report's peak is a level measured in full; the scouting levels are shown, not peaks.
    let files = report::write_report(&[&dir], dir.join("report"), &report::Options::default()).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&files.json).unwrap()).unwrap();
    let variant = &json["comparisons"][0]["variants"][0];
    let peak = variant["peak"]["label"].as_str().expect("a peak");
    assert!(full.contains(&peak), "peak {peak}, measured in full {full:?}");
    let loads = variant["loads"].as_array().unwrap();
    assert_eq!(loads.len(), scouted.len(), "{loads:?}");
    let md = std::fs::read_to_string(&files.markdown).unwrap();
    assert!(md.contains("scouted only: it could not be the peak"), "{md}");

    // Resumed, it measures nothing again: the scouting levels and the full ones are read back,
    // and a level file that copies a scouting level is not taken for a full measurement.
    // (Read back in the order of the user list; measured, highest first.)
    let mut before: Vec<(String, bool)> =
        seen.iter().map(|s| (s.clone(), true)).filter(|(s, _)| s.starts_with("full")).collect();
    before.sort();
    let mut opts = opts;
    opts.resume = true;
    let again = Mutex::new(Vec::new());
    runtime()
        .block_on(suite::run(&settings, &plan, "r5", &opts, &loadgen::CancellationToken::new(), &|e| {
            if let Event::Level { result, resumed, .. } = e {
                let kind = if result.scout { "scout" } else { "full" };
                again.lock().unwrap().push((format!("{kind} {}", result.label), resumed));
            }
        }))
        .unwrap();
    let again = again.into_inner().unwrap();
    assert!(again.iter().all(|(_, resumed)| *resumed), "{again:?}");
    let mut full_again: Vec<(String, bool)> =
        again.into_iter().filter(|(s, _)| s.starts_with("full")).collect();
    full_again.sort();
    assert_eq!(full_again, before);
    assert!(read("c1").scout && !read("c2").scout);
}
