//! End to end on real local Ray: a short all-on/off comparison (both variants, two levels of a
//! few seconds), then the files, the table and the plots it wrote. It needs Ray, so it is ignored
//! by a plain `cargo test`; scripts/test.sh runs it (`-- --include-ignored`, with the Python
//! environment from scripts/setup-python.sh).

#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::path::Path;

use assert_cmd::Command;

fn csv_rows(path: &Path) -> Vec<csv::StringRecord> {
    csv::Reader::from_path(path).unwrap().records().map(Result::unwrap).collect()
}

fn column(path: &Path, name: &str) -> usize {
    csv::Reader::from_path(path).unwrap().headers().unwrap().iter().position(|h| h == name).unwrap()
}

/// One real-Ray test at a time: `cargo test` runs a binary's tests in parallel, and two paired
/// runs (four clusters) on two cores starve each other until a smoke level completes a handful
/// of requests and Ray's metrics lag past its window (a CI failure: "Serve counted 0, the client
/// 5"). A test that failed still hands the turn on.
fn real_ray_turn() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[test]
#[ignore = "needs Ray and the project's .venv: scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn smoke_comparison_on_real_ray_writes_results_summary_and_plots() {
    let _turn = real_ray_turn();
    let results = tempfile::tempdir().unwrap();
    // The client on the last CPU, Ray on the others (when there are two or more).
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let mut pin: Vec<String> = Vec::new();
    if cpus >= 2 {
        pin = vec!["--client-cpus".into(), (cpus - 1).to_string()];
    }
    let out = Command::cargo_bin("features-suite")
        .unwrap()
        .args(["--profile", "smoke", "--run", "e2e", "--results-dir"])
        .arg(results.path())
        .args(&pin)
        .timeout(std::time::Duration::from_secs(600))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "features-suite failed:\n{stderr}\n{stdout}");
    let run = results.path().join("e2e");

    // One CSV per variant x layout x workload, with both levels, and a JSON per level; the index
    // says which belongs to which study.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["schema"], "servebench.index/1");
    assert_eq!(index["studies"][0]["name"], "allon");
    assert_eq!(index["sweeps"].as_array().unwrap().len(), 2);
    for variant in ["baseline", "all_on"] {
        // Paired: both variants were deployed at once for the study, and alternated.
        let csv = run.join(format!("sweeps/allon-{variant}-1replica-unary.csv"));
        let rows = csv_rows(&csv);
        assert_eq!(rows.len(), 2, "2 levels in {}", csv.display());
        let rps: f64 = rows[0][column(&csv, "throughput_rps")].parse().unwrap();
        assert!(rps > 0.0, "no throughput measured for {variant}");
        for level in ["c1", "c4"] {
            let json = run.join(format!("sweeps/allon-{variant}-1replica-unary/level_{level}.json"));
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
            assert_eq!(v["counts"]["errors"], 0, "{}: {}", json.display(), v["error_samples"]);
            let ok = v["counts"]["ok"].as_u64().unwrap();
            assert!(ok > 0);
            // The server's view of the same window: Ray Serve's own request counts and every
            // role's CPU. Ray's metrics lag the window by about a second (the warm-up covers
            // it), so the counts agree only roughly.
            let server = &v["server"];
            assert_eq!(server["schema"], "servebench.server/1", "{server}");
            let served = server["metrics"]["deployments"]
                .as_object()
                .unwrap_or_else(|| panic!("{}: no deployments in {server}", json.display()))
                .values()
                .filter_map(|d| d["requests"].as_u64())
                .max()
                .unwrap_or(0);
            assert!(
                served * 2 >= ok && served <= ok * 2,
                "{}: Serve counted {served}, the client {ok}",
                json.display()
            );
            assert!(server["cpu"]["total_s"].as_f64().unwrap() > 0.0, "{server}");
            assert!(server["cpu"]["roles"].as_object().is_some_and(|r| r.contains_key("raylet")), "{server}");
        }
    }
    assert_eq!(index["mode"], "paired");
    for sweep in index["sweeps"].as_array().unwrap() {
        assert_eq!(sweep["status"], "complete", "{sweep}");
        assert_eq!(sweep["study"], "allon", "{sweep}");
    }
    // The manifests: the run's, and one per deployment with Ray's version and the flags.
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["suite"], "features");
    let d: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("deployments/allon-all_on-1replica.json")).unwrap())
            .unwrap();
    assert_eq!(d["flags"]["RAY_SERVE_THROUGHPUT_OPTIMIZED"], "1");
    if cpus >= 2 {
        assert_eq!(m["cpu_pinning"]["client"], serde_json::json!([cpus - 1]), "{}", m["cpu_pinning"]);
        let ray = if cpus == 2 { "0".to_owned() } else { format!("0-{}", cpus - 2) };
        assert_eq!(d["ray_cpu_affinity"], ray.as_str());
        // The client measured with the one core it had.
        let level: serde_json::Value = serde_json::from_slice(
            &std::fs::read(run.join("sweeps/allon-all_on-1replica-unary/level_c1.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(level["client"]["cores"], 1, "{}", level["client"]);
    }
    assert!(d["ray_version"].as_str().unwrap().starts_with("2.60"));

    if cfg!(feature = "report") {
        // The summary table, printed and written, with the gain.
        assert!(stdout.contains("| allon |"), "{stdout}");
        let md = std::fs::read_to_string(run.join("report/summary.md")).unwrap();
        assert!(md.contains("| gain at the SLA | peak gain |") && md.contains("allon"), "{md}");
        // The plots, PNG and SVG.
        for f in ["report/peak_performance_gains.png", "report/peak_performance_gains.svg"] {
            assert!(std::fs::metadata(run.join(f)).unwrap().len() > 1000, "{f}");
        }
        let plots: Vec<_> =
            std::fs::read_dir(run.join("report/features")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(plots.iter().any(|p| p.to_string_lossy() == "allon_unary.png"), "{plots:?}");
        assert!(plots.iter().any(|p| p.to_string_lossy() == "allon_unary.svg"), "{plots:?}");
    } else {
        // Built for carrying (scripts/device-bundle.sh): it says how to make the report.
        assert!(stderr.contains("cargo run --release -p report --"), "{stderr}");
    }

    // A second run into the same folder is refused without --resume, and --resume finds
    // everything done and deploys nothing.
    let again = Command::cargo_bin("features-suite")
        .unwrap()
        .args(["--profile", "smoke", "--run", "e2e", "--results-dir"])
        .arg(results.path())
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--resume"));
    let resumed = Command::cargo_bin("features-suite")
        .unwrap()
        .args(["--profile", "smoke", "--run", "e2e", "--resume", "--results-dir"])
        .arg(results.path())
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&resumed.stderr);
    assert!(resumed.status.success(), "{err}");
    assert!(err.contains("skipped") && !err.contains("deploying"), "{err}");
}

#[test]
fn bad_selections_get_one_line_errors_and_exit_2() {
    for (args, msg) in [
        (&["--comparison", "nope", "--plan"][..], "no study"),
        (&["--workload", "nope", "--plan"][..], "no workload"),
        (&["--sweep", "unary=1,x", "--plan"][..], "not a whole number"),
        (&["--sweep", "foo=1", "--plan"][..], "no selected workload sweeps"),
        (&["--duration", "9999999999y", "--plan"][..], "duration"),
        (&["--profile", "nope", "--plan"][..], "no profile"),
        (&["--variant", "grpc", "--plan"][..], "none of the selected studies"),
        (&["--target", "url", "--variant", "all_on", "--plan"][..], "--url"),
        (&["--target", "url", "--url", "notaurl", "--variant", "all_on", "--plan"][..], "no scheme"),
        (
            &["--target", "url", "--url", "http://127.0.0.1:99999", "--variant", "all_on", "--plan"][..],
            "99999",
        ),
        (&["--target", "url", "--url", "http://h:8000", "--plan"][..], "one running deployment"),
        (
            &["--target", "url", "--url", "http://user:SECRET@h:8000/", "--variant", "all_on", "--plan"][..],
            "user info",
        ),
        (&["--target", "url", "--url", "http://h:8000/?token=SECRET", "--variant", "all_on"][..], "query"),
        (&["--repeat", "0", "--plan"][..], "--repeat"),
        (&["--adaptive", "--requests", "10", "--plan"][..], "cannot be used with"),
        (&["--num-cpus", "0", "--plan"][..], "--num-cpus"),
        (&["--client-cpus", "4000", "--plan"][..], "not available to this process"),
        (&["--ray-cpus", "3-1", "--plan"][..], "runs backwards"),
        (&["--ray-cpus", "0", "--client-cpus", "0", "--plan"][..], "in both"),
        (&["--no-pin", "--client-cpus", "0", "--plan"][..], "cannot be used with"),
        (&["--config", "/nonexistent/suite.toml", "--plan"][..], "/nonexistent/suite.toml"),
    ] {
        let out = Command::cargo_bin("features-suite").unwrap().args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(msg), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(!err.contains("SECRET"), "a credential echoed: {err}");
    }
    let out = Command::cargo_bin("features-suite").unwrap().args(["--plan"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success()
            && text.contains("allon-baseline-1replica")
            && text.contains("allon-all_on-1replica"),
        "{text}"
    );
}

/// Every process: (pid, parent pid, command line with spaces).
fn processes() -> Vec<(u32, u32, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let (Ok(stat), Ok(cmd)) =
            (std::fs::read_to_string(e.path().join("stat")), std::fs::read(e.path().join("cmdline")))
        else {
            continue;
        };
        // `pid (comm) state ppid ...`: comm may hold spaces, so split after its last ')'.
        let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse().ok());
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        out.push((pid, ppid.unwrap_or(0), cmd));
    }
    out
}

/// Whether `cmd` names the temp folder of cluster `slot` started by process `suite` (`sb-<pid>-<n>`).
fn of_cluster(cmd: &str, suite: u32, slot: u32) -> bool {
    let tag = format!("sb-{suite}-{slot}");
    cmd.match_indices(&tag).any(|(i, _)| !cmd[i + tag.len()..].starts_with(|c: char| c.is_ascii_digit()))
}

/// The processes of cluster `slot` of the suite process `suite` whose command line contains
/// `what`: its raylet (`what` = "raylet") or the raylet's descendants (replicas, the proxy,
/// HAProxy).
fn cluster_processes(suite: u32, slot: u32, what: &str) -> Vec<(u32, String)> {
    let all = processes();
    let raylets: Vec<u32> = all
        .iter()
        .filter(|(_, _, c)| {
            c.split_whitespace().next().is_some_and(|a| a.ends_with("/raylet")) && of_cluster(c, suite, slot)
        })
        .map(|p| p.0)
        .collect();
    let mut tree = raylets.clone();
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(all.iter().filter(|p| p.1 == parent).map(|p| p.0));
        i += 1;
    }
    all.into_iter()
        .filter(|(pid, _, c)| tree.contains(pid) && c.contains(what))
        .map(|(pid, _, c)| (pid, c))
        .collect()
}

/// A fault: once the level file `after` (relative to the run folder) exists, wait `delay` (into
/// the next level's window) and kill -9 the processes of cluster `slot` whose command line
/// contains `what`.
struct Fault {
    after: &'static str,
    delay: std::time::Duration,
    slot: u32,
    what: &'static str,
}

#[test]
#[ignore = "needs Ray and the project's .venv: scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn processes_killed_mid_level_on_real_ray_never_give_a_clean_number() {
    let _turn = real_ray_turn();
    use std::time::{Duration, Instant};
    let results = tempfile::tempdir().unwrap();
    let run = results.path().join("faults");
    // Paired, A B / B A: c1 baseline then all_on, c4 all_on then baseline, c8 baseline then
    // all_on, c16 all_on then baseline. Levels of 1 s warm-up and 6 s window.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_features-suite"))
        .args(["--profile", "smoke", "--sweep", "unary=1,4,8,16", "--warmup", "1s", "--duration", "6s"])
        .args(["--full-sweep", "--run", "faults", "--results-dir"])
        .arg(results.path())
        .stdout(std::fs::File::create(results.path().join("stdout")).unwrap())
        .stderr(std::fs::File::create(results.path().join("stderr")).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id();
    let sweep = |variant: &str| format!("sweeps/allon-{variant}-1replica-unary");
    let faults = [
        // The treatment's replica, while the treatment's c1 runs (right after the baseline's).
        Fault {
            after: "sweeps/allon-baseline-1replica-unary/level_c1.json",
            delay: Duration::from_secs(3),
            slot: 1,
            what: "ServeReplica:unary:Echo",
        },
        // The baseline's Serve proxy, while the baseline's c4 runs (right after the treatment's).
        Fault {
            after: "sweeps/allon-all_on-1replica-unary/level_c4.json",
            delay: Duration::from_secs(3),
            slot: 0,
            what: "ray::ProxyActor",
        },
        // The treatment's HAProxy, while the treatment's c8 runs.
        Fault {
            after: "sweeps/allon-baseline-1replica-unary/level_c8.json",
            delay: Duration::from_secs(3),
            slot: 1,
            what: "haproxy",
        },
        // The baseline's raylet (and with it every worker of its node), while the baseline's
        // c16 runs: that deployment is gone for good.
        Fault {
            after: "sweeps/allon-all_on-1replica-unary/level_c16.json",
            delay: Duration::from_secs(3),
            slot: 0,
            what: "/raylet",
        },
    ];
    let started = Instant::now();
    let mut killed: Vec<(String, usize)> = Vec::new();
    let mut next = 0;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(started.elapsed() < Duration::from_secs(900), "features-suite hung");
        if let Some(f) = faults.get(next)
            && run.join(f.after).exists()
        {
            std::thread::sleep(f.delay);
            let victims = cluster_processes(pid, f.slot, f.what);
            for (p, _) in &victims {
                let _ = std::process::Command::new("kill").args(["-9", &p.to_string()]).status();
            }
            killed.push((f.what.to_owned(), victims.len()));
            next += 1;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stderr = std::fs::read_to_string(results.path().join("stderr")).unwrap();
    eprintln!("{stderr}");
    assert_eq!(next, faults.len(), "not every fault was injected: {killed:?}\n{stderr}");
    for (what, n) in &killed {
        assert!(*n > 0, "no process of {what:?} found to kill: {killed:?}");
    }
    let level = |variant: &str, label: &str| -> serde_json::Value {
        let f = run.join(sweep(variant)).join(format!("level_{label}.json"));
        serde_json::from_slice(&std::fs::read(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()))).unwrap()
    };
    // Serve restarts a replica, the proxy and HAProxy, and the suite waits for that between
    // levels; a node without its raylet does not come back: that deployment is left after its
    // recovery time, the other measured to the end, exit 4.
    assert_eq!(status.code(), Some(4), "{stderr}");
    for what in ["allon-baseline-1replica] serving again", "allon-all_on-1replica] serving again"] {
        assert!(stderr.contains(what), "{what:?} not said:\n{stderr}");
    }
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("index.json")).unwrap()).unwrap();
    let sweeps = index["sweeps"].as_array().unwrap();
    let status_of = |variant: &str| sweeps.iter().find(|s| s["variant"] == variant).unwrap().clone();
    assert_eq!(status_of("all_on")["status"], "complete", "{index}");
    let base = status_of("baseline");
    assert_eq!(base["status"], "partial", "{base}");
    assert!(base["reason"].as_str().is_some_and(|r| r.contains("stopped serving after level c16")), "{base}");
    // Each level a process died in shows it, never as a clean level: failed requests, or (a
    // replica: Serve holds its requests until the new one is up) seconds with nothing done,
    // which makes the window unstable. The proxy's and HAProxy's levels lost their ingress for
    // most of the window.
    let summary: serde_json::Value = if cfg!(feature = "report") {
        serde_json::from_slice(&std::fs::read(run.join("report/summary.json")).unwrap()).unwrap()
    } else {
        serde_json::Value::Null
    };
    let faulted = [
        ("all_on", "c1", false),
        ("baseline", "c4", true),
        ("all_on", "c8", true),
        ("baseline", "c16", true),
    ];
    for (variant, label, ingress) in faulted {
        let v = level(variant, label);
        let errors = v["counts"]["errors"].as_u64().unwrap_or(0);
        let issued = v["counts"]["issued"].as_u64().unwrap_or(0);
        let rate = errors as f64 / issued.max(1) as f64;
        let unstable = v["stability"]["stable"] == false;
        assert!(
            errors > 0 || unstable,
            "{variant} {label}: a process died in its window, yet all is well: {v}"
        );
        assert!(!ingress || rate > 0.2, "{variant} {label}: error rate {rate} with its ingress dead");
        // Over the error limit (1%) or unstable, it is never a peak, and the report says why.
        if (rate > 0.01 || unstable) && cfg!(feature = "report") {
            let excluded = summary["comparisons"][0]["excluded"].as_array().unwrap();
            assert!(
                excluded.iter().any(|e| e["variant"] == variant && e["label"] == label),
                "{variant} {label} ({rate}) not excluded: {excluded:?}"
            );
            let peaks = summary["comparisons"][0]["variants"].as_array().unwrap();
            let peak = peaks.iter().find(|p| p["variant"] == variant).unwrap();
            assert_ne!(peak["peak"]["label"], label, "{peak}");
        }
    }
    // Nothing is left running.
    std::thread::sleep(Duration::from_secs(2));
    let left: Vec<String> = processes()
        .into_iter()
        .filter(|(_, _, c)| (0..4).any(|slot| of_cluster(c, pid, slot)))
        .map(|p| p.2)
        .collect();
    assert!(left.is_empty(), "processes of the run left: {left:?}");
}
