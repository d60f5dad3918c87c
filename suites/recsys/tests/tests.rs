//! recsys-suite: its plan, and end to end on real local Ray (smoke profile: both variants, two short
//! levels with tiny tables), then the files, the index, the summary and the 2 x 2 plot. The
//! end-to-end test needs Ray, so a plain `cargo test` ignores it; scripts/test.sh runs it
//! (`-- --include-ignored`).

#![allow(clippy::unwrap_used)]

use assert_cmd::Command;

#[test]
fn the_plan_names_both_variants_and_the_spec_sweep() {
    let out =
        Command::cargo_bin("recsys-suite").unwrap().args(["--profile", "spec", "--plan"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for want in [
        "unoptimized-cpu",
        "optimized-cpu",
        "all_on-cpu",
        "[10, 20, 30, 40, 50, 75, 100, 150, 200, 300, 400, 500]",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
    let out =
        Command::cargo_bin("recsys-suite").unwrap().args(["--sweep", "users=0", "--plan"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
#[ignore = "needs Ray and the project's .venv: scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn smoke_comparison_on_real_ray() {
    let results = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("recsys-suite")
        .unwrap()
        .args(["--profile", "smoke", "--run", "e2e", "--results-dir"])
        .arg(results.path())
        .timeout(std::time::Duration::from_secs(900))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "recsys-suite failed:\n{stderr}\n{stdout}");
    let run = results.path().join("e2e");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["suite"], "recsys");
    assert_eq!(index["studies"][0]["at_users"], 400);
    for variant in ["unoptimized", "optimized"] {
        for level in ["c2", "c8"] {
            let path = run.join(format!("sweeps/recsys-{variant}-cpu-recsys/level_{level}.json"));
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            assert_eq!(v["counts"]["errors"], 0, "{}: {}", path.display(), v["error_samples"]);
            assert!(v["counts"]["ok"].as_u64().unwrap() > 0, "{}", path.display());
        }
    }
    let d: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("deployments/recsys-optimized-cpu.json")).unwrap())
            .unwrap();
    assert_eq!(d["flags"]["RAY_SERVE_ENABLE_HA_PROXY"], "1");
    assert_eq!(d["replicas"]["recsys/IngressDeployment"], 2);
    if cfg!(feature = "report") {
        let md = std::fs::read_to_string(run.join("report/summary.md")).unwrap();
        assert!(md.contains("recsys"), "{md}");
    }
}
