//! The `report` binary: flags, output, one-line errors.

use assert_cmd::Command;
use predicates::prelude::*;

use super::common::data;

fn report() -> Command {
    Command::new(env!("CARGO_BIN_EXE_report"))
}

#[test]
fn prints_the_table_and_the_files() {
    let tmp = tempfile::tempdir().expect("tempdir");
    report()
        .arg(data("published-features"))
        .arg("--out")
        .arg(tmp.path())
        .args(["--sla", "unary=300ms", "--format", "png"])
        .assert()
        .success()
        .stdout(predicate::str::contains("**11.1x**"))
        .stdout(predicate::str::contains("**8.9x**"))
        .stdout(
            predicate::str::contains("wrote ").and(predicate::str::contains("peak_performance_gains.png")),
        )
        .stdout(predicate::str::contains(".svg").not());
}

#[test]
fn the_headline_is_the_gain_at_the_sla_unless_asked_for_the_peak() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let run = |extra: &[&str]| {
        report()
            .arg(data("published-features"))
            .arg("--out")
            .arg(tmp.path())
            .arg("--no-plots")
            .args(extra)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone()
    };
    let default = String::from_utf8(run(&[])).expect("utf8");
    assert!(default.contains("| **11.3x** | 11.5x |"), "{default}");
    let peak = String::from_utf8(run(&["--headline", "peak"])).expect("utf8");
    assert!(peak.contains("| **11.5x** | 11.3x |"), "{peak}");
    report().arg(data("published-features")).args(["--headline", "best"]).assert().code(2);
}

#[test]
fn warns_about_skipped_files_on_stderr() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("junk.txt"), "x").expect("write");
    report()
        .arg(tmp.path())
        .arg("--out")
        .arg(tmp.path().join("out"))
        .arg("--no-plots")
        .assert()
        .success()
        .stderr(predicate::str::contains("warning: skipped").and(predicate::str::contains("junk.txt")));
}

#[test]
fn a_missing_input_says_reading_it_once_and_exits_1() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let missing = tmp.path().join("missing");
    let out = report()
        .arg(&missing)
        .arg("--out")
        .arg(tmp.path().join("out"))
        .assert()
        .code(1)
        .get_output()
        .stderr
        .clone();
    let text = String::from_utf8(out).expect("utf8");
    assert_eq!(text.lines().count(), 1, "{text}");
    assert_eq!(text.trim_end(), format!("error: reading {}: No such file or directory", missing.display()));
}

#[test]
fn an_output_that_cannot_be_written_exits_1_naming_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let blocker = tmp.path().join("file");
    std::fs::write(&blocker, "x").expect("write");
    let out = report()
        .arg(data("servebench"))
        .arg("--out")
        .arg(blocker.join("out"))
        .assert()
        .code(1)
        .get_output()
        .stderr
        .clone();
    let text = String::from_utf8(out).expect("utf8");
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with(&format!("error: writing {}: ", blocker.join("out").display())), "{text}");
    assert!(!text.contains("os error"), "{text}");
}

#[test]
fn bad_arguments_exit_2() {
    for args in [
        &["--sla", "unary=fast"][..],
        &["--sla", "unary"],
        &["--max-error-rate", "7"],
        &["--max-error-rate", "-0.1"],
        &["--max-error-rate", "lots"],
        &["--format", "gif"],
        &["--no-such-flag"],
    ] {
        let assert = report().arg(data("servebench")).args(args).arg("--no-plots").assert().code(2);
        let stderr = String::from_utf8(assert.get_output().stderr.clone()).expect("utf8");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
    }
    report()
        .arg(data("servebench"))
        .args(["--max-error-rate", "7"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("7 is not between 0 and 1"));
    report()
        .arg(data("servebench"))
        .args(["--sla", "unary=fast"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unary=fast"));
    // No input at all.
    report().assert().code(2);
}

#[test]
fn sla_in_seconds_and_in_plain_milliseconds_agree() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let run = |sla: &str| {
        let out = report()
            .arg(data("published-features"))
            .arg("--out")
            .arg(tmp.path().join(sla))
            .args(["--sla", sla, "--no-plots"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        String::from_utf8(out)
            .expect("utf8")
            .lines()
            .filter(|l| !l.starts_with("wrote "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let seconds = run("streaming=0.7s");
    assert!(seconds.contains("**8.9x**"), "{seconds}");
    assert_eq!(seconds, run("streaming=700"));
    let tighter = run("streaming=0.3s");
    assert!(tighter.contains("≤ 300 ms"), "{tighter}");
}

#[test]
fn draws_every_suite_of_the_original() {
    let tmp = tempfile::tempdir().expect("tempdir");
    report()
        .args([data("published-recsys"), data("published-llm"), data("llm-pair")])
        .arg("--out")
        .arg(tmp.path())
        .args(["--format", "png"])
        .assert()
        .success()
        .stdout(predicate::str::contains("## Scaling: published-llm · replica_sweep · LLM"))
        .stdout(predicate::str::contains("recsys-oss-nightly_recsys_by_users.png"))
        .stdout(predicate::str::contains("vllm_llm_engine.png"));
}
