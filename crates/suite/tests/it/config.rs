//! The real suites' configurations load and plan as intended; bad configurations are refused with
//! their reason.

use std::path::{Path, PathBuf};

use clap::Parser;
use suite::{Plan, Settings, SuiteArgs, SuiteConfig};

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    args: SuiteArgs,
}

pub fn args(list: &[&str]) -> SuiteArgs {
    Cli::try_parse_from(std::iter::once("suite").chain(list.iter().copied()))
        .unwrap_or_else(|e| panic!("{e}"))
        .args
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn catalogs(c: &SuiteConfig) -> (deploy::VariantSet, deploy::AppCatalog) {
    (deploy::VariantSet::load(&c.variants).unwrap(), deploy::AppCatalog::load(&c.apps).unwrap())
}

#[test]
fn the_features_suite_plans_its_shared_baseline_once_when_sequential() {
    let c = SuiteConfig::load(&root().join("suites/features/configs/suite.toml")).unwrap();
    let (v, a) = catalogs(&c);
    let s = Settings::new(&c, &args(&["--profile", "spec", "--sequential"])).unwrap();
    let plan = Plan::new(&s, &v, &a).unwrap();
    let keys: Vec<&str> = plan.groups().map(|g| g.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "baseline-1replica",
            "grpc-1replica",
            "haproxy-1replica",
            "single_loop-1replica",
            "all_on-1replica",
            "baseline-8replica",
            "all_on-8replica"
        ]
    );
    assert_eq!(plan.stages[0].groups[0].studies, ["grpc", "haproxy", "singleloop", "allon"]);
    // 7 deployments x (9 unary + 8 streaming + 9 grpc levels).
    assert_eq!(plan.levels(), 7 * 26);

    let s = Settings::new(&c, &args(&["--variant", "all_on"])).unwrap();
    let plan = Plan::new(&s, &v, &a).unwrap();
    let keys: Vec<&str> = plan.groups().map(|g| g.key.as_str()).collect();
    assert_eq!(keys, ["all_on-1replica"]);
}

#[test]
fn paired_comparisons_deploy_both_variants_together_and_repeat_levels() {
    let c = SuiteConfig::load(&root().join("suites/features/configs/suite.toml")).unwrap();
    let (v, a) = catalogs(&c);
    let s = Settings::new(&c, &args(&["--profile", "spec", "--repeat", "3"])).unwrap();
    let plan = Plan::new(&s, &v, &a).unwrap();
    // Each comparison is a stage of its baseline and its treatment, measured for it alone.
    let stages: Vec<Vec<&str>> =
        plan.stages.iter().map(|st| st.groups.iter().map(|g| g.key.as_str()).collect()).collect();
    assert_eq!(stages[0], ["grpc-baseline-1replica", "grpc-grpc-1replica"]);
    assert_eq!(stages[4], ["allon8-baseline-8replica", "allon8-all_on-8replica"]);
    assert_eq!(stages.len(), 5);
    assert_eq!(plan.stages[1].groups[0].paired_for.as_deref(), Some("haproxy"));
    assert_eq!(plan.levels(), 10 * 26 * 3);
    let labels: Vec<String> = suite::levels(&s, &plan.stages[0].groups[0].sweeps[0], 3)
        .iter()
        .take(4)
        .map(|l| l.label.clone())
        .collect();
    assert_eq!(labels, ["c1-r1", "c1-r2", "c1-r3", "c2-r1"]);
}

#[test]
fn overrides_are_checked_against_the_configuration() {
    let c = SuiteConfig::load(&root().join("suites/features/configs/suite.toml")).unwrap();
    for (list, want) in [
        (&["--study", "nope"][..], "no study \"nope\""),
        (&["--workload", "nope"][..], "no workload"),
        (&["--sweep", "foo=1"][..], "no selected workload sweeps"),
        (&["--sla", "grpc=200"][..], "no such workload selected"),
        (&["--variant", "grpc"][..], "none of the selected studies"),
        (&["--profile", "nope"][..], "no profile"),
        (&["--layout", "n1"][..], "no selected scaling study"),
    ] {
        let e = Settings::new(&c, &args(list)).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains(want), "{list:?}: {e}");
    }
    // Both SLA spellings.
    let s = Settings::new(&c, &args(&["--sla", "streaming=0.7s", "--sla", "unary=250"])).unwrap();
    let sla = |n: &str| s.workloads.iter().find(|w| w.name == n).and_then(|w| w.sla_p99_ms);
    assert_eq!((sla("streaming"), sla("unary")), (Some(700.0), Some(250.0)));
}

#[test]
fn clap_refuses_bad_values_before_anything_starts() {
    for bad in [
        &["--duration", "9999999999y"][..],
        &["--sweep", "unary=1,x"],
        &["--sweep", "unary=0"],
        &["--sla", "unary=fast"],
        &["--num-cpus", "0"],
        &["--max-error-rate", "7"],
        &["--run", "../x"],
        &["--target", "url"],
    ] {
        let e = Cli::try_parse_from(std::iter::once("suite").chain(bad.iter().copied()));
        assert!(e.is_err(), "{bad:?} was accepted");
    }
}

#[test]
fn bad_configurations_name_their_reason() {
    let dir = tempfile::tempdir().unwrap();
    let base =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/mini/suite.toml"))
            .unwrap();
    for (from, to, want) in [
        ("name = \"echo\"", "name = \"e_cho\"", "letters and digits"),
        ("protocol = \"http\"", "protocol = \"ftp\"", "ftp"),
        ("duration_s = 0.6", "", "exactly one of duration_s and requests"),
        ("sweeps = { small = [1, 2] }", "sweeps = { small = [1, 1] }", "twice"),
        ("kind = \"comparison\"", "kind = \"shootout\"", "shootout"),
        ("baseline = \"slow\"", "baseline = \"slow\"\nbogus = 1", "bogus"),
    ] {
        let p = dir.path().join("suite.toml");
        std::fs::write(&p, base.replace(from, to)).unwrap();
        let e = SuiteConfig::load(&p).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains(want), "{from} -> {to}: {e}");
    }
}

#[test]
fn the_spec_profile_made_adaptive_takes_its_own_bounds_and_cool_down() {
    let c = SuiteConfig::load(&root().join("suites/features/configs/suite.toml")).unwrap();
    let secs = |d: Option<std::time::Duration>| d.map(|d| d.as_secs_f64());
    // Fixed, as the spec runs it: 5 s warm-up, 60 s window, 15 s cool-down.
    let s = Settings::new(&c, &args(&["--profile", "spec"])).unwrap();
    assert!(s.adaptive.is_none());
    assert_eq!((s.warmup.as_secs_f64(), secs(s.duration), s.cooldown.as_secs_f64()), (5.0, Some(60.0), 15.0));
    // Adaptive: 2-30 s of warm-up, 10-60 s of window, 2 s of cool-down.
    let s = Settings::new(&c, &args(&["--profile", "spec", "--adaptive"])).unwrap();
    let a = s.adaptive.as_ref().unwrap();
    assert_eq!((a.max_warmup.as_secs_f64(), a.max_duration.as_secs_f64()), (30.0, 60.0));
    assert_eq!((s.warmup.as_secs_f64(), secs(s.duration), s.cooldown.as_secs_f64()), (2.0, Some(10.0), 2.0));
    // The command line still wins.
    let s = Settings::new(
        &c,
        &args(&[
            "--profile",
            "spec",
            "--adaptive",
            "--duration",
            "20s",
            "--warmup",
            "3s",
            "--cooldown",
            "5s",
        ]),
    )
    .unwrap();
    assert_eq!((s.warmup.as_secs_f64(), secs(s.duration), s.cooldown.as_secs_f64()), (3.0, Some(20.0), 5.0));
    // --fixed-length on an adaptive profile keeps the profile's fixed figures.
    let s = Settings::new(&c, &args(&["--fixed-length"])).unwrap();
    assert!(s.adaptive.is_none());
    assert_eq!((s.warmup.as_secs_f64(), secs(s.duration)), (2.0, Some(4.0)));
}
