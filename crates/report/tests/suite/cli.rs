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
fn errors_are_one_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = report()
        .arg(tmp.path().join("missing"))
        .arg("--out")
        .arg(tmp.path().join("out"))
        .assert()
        .failure()
        .code(1)
        .get_output()
        .stderr
        .clone();
    let text = String::from_utf8(out).expect("utf8");
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with("error: ") && text.contains("missing"), "{text}");
}

#[test]
fn bad_sla_is_rejected() {
    report()
        .arg(data("servebench"))
        .args(["--sla", "unary=fast"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("unary=fast"));
}
