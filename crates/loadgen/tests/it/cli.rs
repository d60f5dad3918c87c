//! The `loadgen` binary as a user runs it.

use assert_cmd::Command;
use predicates::prelude::*;

use super::server;

fn loadgen() -> Command {
    Command::cargo_bin("loadgen").unwrap()
}

/// A runtime that keeps the test servers alive while the binary runs.
fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap()
}

#[test]
fn runs_a_sweep_and_prints_a_table() {
    let rt = rt();
    let s = rt.block_on(server::echo());
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("out.json");
    loadgen()
        .args([&s.url("/echo"), "--sweep", "1,2", "-d", "500ms", "--warmup", "100ms", "--method", "POST"])
        .args(["--body-size", "1024", "--echo", "--quiet", "--json"])
        .arg(&json)
        .arg("--out-dir")
        .arg(dir.path())
        .args(["--name", "cli"])
        .assert()
        .success()
        .stdout(predicate::str::contains("p99 ms").and(predicate::str::contains("c2")));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[0]["schema"], loadgen::SCHEMA);
    assert!(dir.path().join("cli.csv").exists());
    assert!(dir.path().join("cli/level_c1.json").exists());
}

#[test]
fn missed_sla_exits_3() {
    let rt = rt();
    let s = rt.block_on(server::delay(std::time::Duration::from_millis(5)));
    loadgen()
        .args([&s.url("/"), "-c", "1", "-d", "300ms", "--warmup", "0s", "--quiet", "--sla-p99", "1ms"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("over the SLA"));
}

#[test]
fn error_rate_limit_exits_3() {
    let rt = rt();
    let s = rt.block_on(server::status(500));
    loadgen()
        .args([
            &s.url("/"),
            "-c",
            "1",
            "-d",
            "300ms",
            "--warmup",
            "0s",
            "--quiet",
            "--max-error-rate",
            "0.01",
        ])
        .assert()
        .code(3)
        .stdout(predicate::str::contains("status"));
}

/// Every bad argument or value: status 2, one line on stderr naming the problem (its cause said
/// once), no panic, before anything is sent (the target, 127.0.0.1:1, is never reached).
#[test]
fn bad_arguments_and_values_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let no_certs = dir.path().join("empty.pem");
    std::fs::write(&no_certs, "not a certificate\n").unwrap();
    let no_certs = no_certs.to_str().unwrap().to_owned();
    let taken = dir.path().to_str().unwrap().to_owned();
    std::fs::write(dir.path().join("taken.csv"), "").unwrap();
    let u = "http://127.0.0.1:1/";
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![u, "-c", "0"], "concurrency must be at least 1"),
        (vec![u, "-c", "2000000"], "over 1,000,000"),
        (vec![u, "--sweep", "4,4"], "appears twice"),
        (vec![u, "-c", "x"], "invalid value"),
        (vec![u, "--rate", "0"], "rate must be a positive number"),
        (vec![u, "--rate", "NaN"], "rate must be a positive number"),
        (vec![u, "--rate", "inf"], "rate must be a positive number"),
        (vec![u, "--rate=-5"], "rate must be a positive number"),
        (vec![u, "--rate", "0.00001"], "one arrival per 1000 s"),
        (vec![u, "--rate", "10", "--arrival", "gamma", "--burstiness", "0"], "burstiness"),
        (vec![u, "--rate", "10", "--arrival", "gamma", "--burstiness", "NaN"], "burstiness"),
        (vec![u, "--rate", "10", "--max-in-flight", "0"], "max in flight"),
        (vec![u, "--threads", "0"], "--threads"),
        (vec![u, "--threads", "5000"], "--threads"),
        (vec![u, "-d", "0s"], "longer than zero"),
        (vec![u, "-d", "9999999999y"], "30 days"),
        (vec![u, "-d", "31d"], "30 days"),
        (vec![u, "-d", "soon"], "not a duration"),
        (vec![u, "-n", "0"], "at least one request"),
        (vec![u, "--warmup", "31d"], "30 days"),
        (vec![u, "--warmup", "5s..1s"], "the shortest is longer than the longest"),
        (vec![u, "--warmup", "soon"], "not a duration"),
        (vec![u, "--warmup", "1s.."], "not a duration"),
        (vec![u, "-d", "10s..5s"], "the shortest is longer than the longest"),
        (vec![u, "-d", "0..0s"], "longest must be longer than zero"),
        (vec![u, "-d", "1s..31d"], "30 days"),
        (vec![u, "-d", "5s..1m", "--converge", "0"], "above 0"),
        (vec![u, "-d", "5s..1m", "--converge", "150%"], "at most 100%"),
        (vec![u, "-d", "auto", "--converge", "five"], "not a fraction"),
        (vec![u, "-d", "auto", "--converge-p99=-1%"], "above 0"),
        (vec![u, "-d", "10s", "--converge", "5%"], "--converge needs an adaptive window"),
        (vec![u, "-n", "100", "--converge-p99", "5%"], "--converge-p99 needs an adaptive window"),
        (vec![u, "--cooldown", "400000h"], "cool-down must be at most 30 days"),
        (vec![u, "--timeout", "0s"], "timeout must be longer than zero"),
        (vec![u, "--timeout", "31d"], "timeout must be at most 30 days"),
        (vec![u, "--think-time", "2h"], "think time"),
        (vec![u, "--connect-timeout", "0s"], "connect timeout"),
        (vec![u, "--max-error-rate", "2"], "--max-error-rate"),
        (vec![u, "--max-error-rate", "NaN"], "--max-error-rate"),
        (vec![u, "--sla-p99", "0s"], "--sla-p99"),
        (vec![u, "--goodput", "ttft:abc"], "not a number of ms"),
        (vec![u, "--goodput", "ttft:-1"], "positive number of ms"),
        (vec![u, "--goodput", ""], "names no objective"),
        (vec![u, "--goodput", "foo:1"], "unknown goodput objective"),
        (vec![u, "--out-dir", &taken, "--name", "../x"], "result name"),
        (vec![u, "--out-dir", &taken, "--name", "taken"], "already exist"),
        (vec![u, "--json", "/nonexistent/dir/x.json"], "does not exist"),
        (vec![u, "--out-dir", "/proc/nope"], "--out-dir: creating /proc/nope"),
        (vec![u, "--resume"], "--out-dir"),
        (vec!["ftp://127.0.0.1:1/"], "must be http or https"),
        (vec!["http://127.0.0.1:99999/"], "port must be a number from 1 to 65535"),
        (vec!["http:///x"], "no host"),
        (vec!["127.0.0.1:8000"], "no scheme"),
        (vec!["http://u:p@127.0.0.1:1/"], "user info"),
        (vec!["http://127.0.0.1:1/#frag"], "fragment"),
        (vec!["http://127.0.0.1:1/{rand:5..1}"], "5 is above 1"),
        (vec!["http://127.0.0.1:1/{user}"], "unknown path template"),
        (vec![u, "-H", "NoColon"], "Name: value"),
        (vec![u, "-H", "Bad Name: v"], "not a valid header name"),
        (vec![u, "-H", "Content-Length: 5"], "set by loadgen"),
        (
            vec!["https://127.0.0.1:1/", "--ca-cert", "/nonexistent.pem"],
            "reading CA certificates from /nonexistent.pem",
        ),
        (vec!["https://127.0.0.1:1/", "--ca-cert", &no_certs], "no certificate"),
        (vec![u, "--tls-server-name", "x"], "needs an https"),
        (vec![u, "--method", "GE T"], "not an HTTP method"),
        (vec![u, "--body-size", "2000000000"], "over 1 GiB"),
        (vec![u, "--expect-status", "42"], "not an HTTP status"),
        (vec![u, "--expect-json", ""], "names no field"),
        (vec![u, "--expect-json", "x,len=abc"], "not a count"),
        (vec![u, "--expect-json", "x,min=2,max=1"], "above its max"),
        (vec![u, "--expect-json", "x,size=1"], "unknown check"),
        (vec![u, "--max-body-bytes", "0"], "max_body_bytes"),
        (vec![u, "--method", "POST", "--body", "@/nonexistent"], "reading the body from /nonexistent"),
        (vec!["sse", u, "--max-event-bytes", "0"], "max_event_bytes"),
        (vec!["sse", u, "--method", "X Y"], "not an HTTP method"),
        (vec!["sse", "http://127.0.0.1:1/s?n={seq}"], "templates"),
        (vec!["grpc", "http://127.0.0.1:1/path"], "no path"),
        (vec!["grpc", "http://127.0.0.1:1", "--connections", "0"], "at least 1"),
        (vec!["grpc", "http://127.0.0.1:1", "--payload-size", "100000000"], "64 MiB"),
        (vec!["grpc", "http://127.0.0.1:1", "-H", "bad key: v"], "metadata key"),
        (vec!["grpc", "http://127.0.0.1:99999"], "port"),
        (vec!["openai", u, "--model", "m", "--input-len", "0"], "input length"),
        (vec!["openai", u, "--model", "m", "--output-len", "0"], "output length"),
        (vec!["openai", u, "--model", " "], "model name is required"),
        (vec!["openai", u, "--model", "m", "--save-result", "/nonexistent/x.json"], "does not exist"),
        (vec!["openai", u, "--model", "m", "--save-detailed"], "--save-result"),
        (vec![u, "--no-such-flag"], "unexpected argument"),
    ];
    assert!(cases.len() >= 45);
    for (args, msg) in &cases {
        let out = loadgen().args(args).timeout(std::time::Duration::from_secs(10)).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(msg), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(err.matches("os error").count() <= 1, "the cause twice: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn unreachable_host_is_a_one_line_error_not_a_hang() {
    let addr = server::dead_port();
    loadgen()
        .args([&format!("http://{addr}/"), "-d", "60s"])
        .timeout(std::time::Duration::from_secs(10))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cannot reach").and(predicate::str::contains("refused")));
}

#[test]
fn help_explains_the_flags() {
    loadgen().arg("--help").assert().success().stdout(
        predicate::str::contains("--sweep")
            .and(predicate::str::contains("--sla-p99"))
            .and(predicate::str::contains("MIN..MAX"))
            .and(predicate::str::contains("--converge"))
            .and(predicate::str::contains("--require-stable")),
    );
}

#[test]
fn adaptive_flags_run_and_say_how_each_phase_ended() {
    let rt = rt();
    let s = rt.block_on(server::echo());
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("out.json");
    // Both phases too short to judge: they run to their longest, and a level too short to judge
    // is not unstable (--require-stable passes).
    loadgen()
        .args([&s.url("/"), "-c", "1", "--warmup", "0s..1s", "-d", "500ms..1s", "--converge", "2%"])
        .args(["--converge-p99", "20%", "--require-stable", "--quiet", "--json"])
        .arg(&json)
        .assert()
        .success()
        .stdout(
            predicate::str::contains("c1: warm-up 1 s (reached its longest without converging)")
                .and(predicate::str::contains("c1: window 1 s (reached its longest without converging)")),
        );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let p = &v[0]["phases"];
    assert_eq!((p["warmup_end"].as_str(), p["warmup_s"].as_f64()), (Some("max"), Some(1.0)));
    assert_eq!((p["window_end"].as_str(), p["window_s"].as_f64()), (Some("max"), Some(1.0)));
    assert_eq!(v[0]["stability"]["judged"], false);
    assert_eq!(v[0]["stability"]["stable"], true);
    assert!(v[0].get("server").is_none(), "the caller's field is left out when empty");
}

#[test]
fn sse_subcommand_reports_events() {
    let rt = rt();
    let s = rt.block_on(super::stream_server::serve(|body: &[u8]| {
        assert_eq!(body, br#"{"n":5}"#);
        super::stream_server::sse_events(5, std::time::Duration::ZERO, std::time::Duration::ZERO)
    }));
    loadgen()
        .args(["sse", &s.url("/streaming"), "--body", r#"{"n":5}"#, "--events", "5", "-c", "2"])
        .args(["-d", "500ms", "--warmup", "0s", "--quiet", "--max-error-rate", "0"])
        .assert()
        .success()
        .stdout(predicate::str::contains("events/s"));
    loadgen()
        .args(["sse", &s.url("/streaming"), "--body", r#"{"n":5}"#, "--events", "6", "-c", "1"])
        .args(["-d", "300ms", "--warmup", "0s", "--quiet", "--max-error-rate", "0"])
        .assert()
        .code(3)
        .stdout(predicate::str::contains("stream"));
}

#[test]
fn sigterm_stops_a_sweep_keeping_the_finished_levels() {
    let rt = rt();
    let s = rt.block_on(server::echo());
    let dir = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("loadgen");
    let child = std::process::Command::new(bin)
        .args([&s.url("/"), "--sweep", "1,2", "-d", "1s", "--warmup", "0s", "--quiet", "--name", "term"])
        .arg("--out-dir")
        .arg(dir.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once the first level (1 s) is on disk, the second (1 s) is cut short.
    let first = dir.path().join("term/level_c1.json");
    let started = std::time::Instant::now();
    while !first.exists() && started.elapsed() < std::time::Duration::from_secs(20) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let kill = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(first.exists(), "the finished level is kept");
    assert!(!dir.path().join("term/level_c2.json").exists(), "the cut level is not saved as finished");
}

#[test]
fn two_signals_within_a_second_are_one_interrupt_and_a_later_one_exits_at_once() {
    let rt = rt();
    // A server that never answers: the level can only end by being interrupted.
    let s = rt.block_on(server::silent());
    let bin = assert_cmd::cargo::cargo_bin("loadgen");
    let spawn = || {
        std::process::Command::new(&bin)
            .args([&s.url("/"), "-c", "1", "-d", "60s", "--warmup", "0s", "--quiet"])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let signal = |pid: u32, sig: &str| {
        assert!(std::process::Command::new("kill").args([sig, &pid.to_string()]).status().unwrap().success());
    };
    // `timeout` sends TERM to the process and then to its group: two signals at once. The level
    // stops cleanly (status 130, the stop is reported), not as a second interrupt.
    let child = spawn();
    std::thread::sleep(std::time::Duration::from_millis(500));
    signal(child.id(), "-TERM");
    signal(child.id(), "-INT");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted during level c1"), "{stderr}");
    assert!(!stderr.contains("twice"), "{stderr}");
    // A second interrupt well after the first exits at once, even while the first stop waits.
    let child = spawn();
    std::thread::sleep(std::time::Duration::from_millis(500));
    signal(child.id(), "-INT");
    std::thread::sleep(std::time::Duration::from_millis(1200));
    signal(child.id(), "-INT");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
}

#[test]
fn a_hung_server_fails_the_error_rate_limit_and_is_marked_invalid() {
    let rt = rt();
    let s = rt.block_on(server::silent());
    let args = [&s.url("/"), "-c", "2", "-d", "500ms", "--warmup", "200ms", "--quiet"];
    let out = loadgen().args(args).args(["--max-error-rate", "0.01"]).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(3), "{stdout}{stderr}");
    assert!(stderr.contains("error rate 1.0000 is over 0.01"), "{stderr}");
    assert!(stdout.contains("INVALID") && stdout.contains("2 requests unfinished"), "{stdout}");
    // Without a limit the run succeeds, and says what happened.
    let out = loadgen().args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("INVALID, never a peak"));
}

#[test]
fn credentials_in_a_url_are_refused_and_never_printed() {
    for args in
        [&["grpc", "http://user:SECRETPW@127.0.0.1:1"][..], &["http://user:SECRETPW@127.0.0.1:1/"][..]]
    {
        let out = loadgen().args(args).timeout(std::time::Duration::from_secs(10)).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("user info") && !stderr.contains("SECRETPW"), "{args:?}: {stderr}");
    }
}

#[test]
fn openai_save_detailed_writes_vllm_per_request_lists() {
    use super::stream_server::{openai_stream, serve};
    let rt = rt();
    let step = std::time::Duration::from_millis(2);
    let s = rt.block_on(serve(move |_| openai_stream(4, std::time::Duration::ZERO, step, true, false)));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("vllm.json");
    loadgen()
        .args(["openai", &s.url("/v1/completions"), "--model", "m", "--input-len", "8", "--output-len", "4"])
        .args(["-c", "2", "-n", "6", "--warmup", "0s", "--quiet", "--save-result"])
        .arg(&out)
        .arg("--save-detailed")
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(v["completed"], 6);
    assert_eq!(v["output_lens"], serde_json::json!([4, 4, 4, 4, 4, 4]));
    assert_eq!(v["itls"].as_array().unwrap().len(), 6);
    // --save-detailed needs --save-result.
    loadgen()
        .args(["openai", &s.url("/v1/completions"), "--model", "m", "--save-detailed"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--save-result"));
}
