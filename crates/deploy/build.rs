//! Decides whether the real-Ray end-to-end test runs: with SERVEBENCH_E2E=1 (it then
//! creates the project's .venv itself), with SERVEBENCH_PYTHON_ENV set, or when the
//! project's .venv has Ray at build time. Otherwise the test is reported as ignored, with
//! the reason. SERVEBENCH_E2E=0 turns it off.
//!
//! Likewise for the Anyscale tests that run the real `anyscale` CLI (installed from
//! suites/requirements-dev.txt): they run when .venv (or SERVEBENCH_PYTHON_ENV) has it, and
//! always under CI (`CI` set), where a missing CLI then fails them instead of skipping.
//!
//! A .venv created after the last build is noticed only when this script re-runs (set
//! SERVEBENCH_E2E=1, or `touch crates/deploy/build.rs`): watching a missing file would
//! make Cargo rebuild this crate on every command.

use std::path::Path;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(servebench_e2e)");
    println!("cargo::rustc-check-cfg=cfg(servebench_anyscale_cli)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=SERVEBENCH_E2E");
    println!("cargo::rerun-if-env-changed=SERVEBENCH_PYTHON_ENV");
    println!("cargo::rerun-if-env-changed=CI");
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let venv_ray = Path::new(&manifest_dir).join("../../.venv/bin/ray");
    let venv_exists = venv_ray.is_file();
    if venv_exists {
        // Removing the venv re-runs this script.
        println!("cargo::rerun-if-changed={}", venv_ray.display());
    }
    let enabled = match std::env::var("SERVEBENCH_E2E").unwrap_or_default().as_str() {
        "1" => true,
        "0" => false,
        _ => std::env::var_os("SERVEBENCH_PYTHON_ENV").is_some_and(|v| !v.is_empty()) || venv_exists,
    };
    if enabled {
        println!("cargo::rustc-cfg=servebench_e2e");
    }

    // The real anyscale CLI (scripts/setup-python.sh installs it from requirements-dev.txt):
    // in SERVEBENCH_PYTHON_ENV when that is set, else in .venv, as the tests look for it.
    // Watching .venv/bin notices it being installed.
    let venv_bin = Path::new(&manifest_dir).join("../../.venv/bin");
    if venv_bin.is_dir() {
        println!("cargo::rerun-if-changed={}", venv_bin.display());
    }
    let venv_cli = match std::env::var_os("SERVEBENCH_PYTHON_ENV").filter(|v| !v.is_empty()) {
        Some(env) => Path::new(&env).join("bin/anyscale").is_file(),
        None => venv_bin.join("anyscale").is_file(),
    };
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
    if venv_cli || ci {
        println!("cargo::rustc-cfg=servebench_anyscale_cli");
    }
}
