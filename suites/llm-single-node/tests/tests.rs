//! llm-single-node-suite: its plans, and end to end on real local Ray with the simulated engine
//! (smoke profile: one LLM replica per variant and the bare engine, a few dozen requests), then the
//! files and the index. The end-to-end test needs Ray and .venv-llm (ray[llm]), so a plain
//! `cargo test` ignores it; scripts/test.sh runs it (`-- --include-ignored`).

#![allow(clippy::unwrap_used)]

use assert_cmd::Command;

fn plan(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::cargo_bin("llm-single-node-suite").unwrap().args(args).arg("--plan").output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn users_and_prompts_scale_with_the_replicas() {
    let (code, text, err) = plan(&["--profile", "spec"]);
    assert_eq!(code, Some(0), "{err}");
    // 256 users per LLM replica: N = 8 gets 2,048; the bare engine its own sweep.
    for want in [
        "optimized-n1 for replicas: llm users [256]",
        "optimized-n8 for replicas: llm users [2048]",
        "bare for replicas: llm users [16, 32, 64, 128, 256]",
        "optimized-n8i1 for ingress1",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
    let (code, _, err) = plan(&["--layout", "n3"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("n3"), "{err}");
}

#[test]
#[ignore = "needs Ray and .venv-llm (ray[llm]): scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn smoke_replica_sweep_on_real_ray_with_the_simulated_engine() {
    let results = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("llm-single-node-suite")
        .unwrap()
        .args(["--profile", "smoke", "--run", "e2e", "--results-dir"])
        .arg(results.path())
        .timeout(std::time::Duration::from_secs(1500))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "llm-single-node-suite failed:\n{stderr}");
    let run = results.path().join("e2e");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("index.json")).unwrap()).unwrap();
    let sweeps = index["sweeps"].as_array().unwrap();
    assert_eq!(sweeps.len(), 3, "{index}");
    for s in sweeps {
        assert_eq!(s["status"], "complete", "{s}");
        let levels = run.join(s["levels"].as_str().unwrap());
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(levels.join("level_c8.json")).unwrap()).unwrap();
        assert_eq!(v["counts"]["errors"], 0, "{}: {}", levels.display(), v["error_samples"]);
        assert_eq!(v["tokens"]["output"], 24 * 128, "{}", levels.display());
    }
    assert!(sweeps.iter().any(|s| s["external"] == true && s["variant"] == "bare"));
}
