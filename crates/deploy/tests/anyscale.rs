//! The Anyscale backend. The `real_cli_` tests run the real `anyscale` CLI (pinned in
//! suites/requirements-dev.txt) against the package's own fake backend, `FakeAnyscaleClient`
//! (`tests/fake_anyscale.py` keeps its state between invocations and replaces nothing else):
//! the crate's exact invocations from deploy to terminate, with FORCE_COLOR=1, cloud and
//! project set, gRPC options, and a service of the same name in another project. A
//! hand-written fake `anyscale` stays for the failures the real one cannot produce (a failing
//! command, one that prints the token before failing, a missing CLI, a service that never
//! starts).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use deploy::{AnyscaleOptions, Backend, DeployError, DeployRequest, Project, ServeApps, Variant};
use serde_json::{Value, json};

use crate::support::{
    Reply, Seen, anyscale_python, collector, features_catalog, features_variants, repo_root, serve,
};

const TOKEN: &str = "tok-SECRET-4242";
const CLOUD: &str = "bench-cloud";
const PROJECT: &str = "bench-project";
const OTHER_PROJECT: &str = "other-project";

fn variant(name: &str) -> Variant {
    features_variants().get(name).expect("variant").clone()
}

fn apps(names: &[&str]) -> ServeApps {
    features_catalog().select(names, "1replica", &Default::default()).expect("apps")
}

fn request(variant_name: &str, app_names: &[&str]) -> DeployRequest {
    DeployRequest { variant: variant(variant_name), apps: apps(app_names), manifest_path: None }
}

fn calls(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("calls.log")).unwrap_or_default().lines().map(str::to_owned).collect()
}

fn write_executable(path: &Path, script: &str) {
    std::fs::write(path, script).expect("write script");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// An HTTP server that answers the unary and streaming apps, only with the bearer token.
async fn fake_service() -> (String, tokio::task::JoinHandle<()>) {
    let handler = Arc::new(|req: &Seen| {
        if req.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
            return Reply::bytes(401, "text/plain", "no token");
        }
        if req.path.starts_with("/echo") {
            return Reply::bytes(200, "application/octet-stream", req.body.clone());
        }
        if req.path.starts_with("/streaming") {
            return Reply::bytes(
                200,
                "text/event-stream",
                "data: {\"index\":0}\n\ndata: {\"index\":1}\n\ndata: {\"index\":2}\n\ndata: [DONE]\n\n",
            );
        }
        Reply::bytes(404, "text/plain", "")
    });
    let (addr, task) = serve(handler).await;
    (format!("http://{addr}"), task)
}

/// Options as a benchmark would set them, with `cli` and quick polling.
fn options(dir: &Path, cli: PathBuf) -> AnyscaleOptions {
    let mut options = AnyscaleOptions::new(&Project::at(repo_root()), dir.join("services"));
    options.cli = cli;
    options.compute_config = Some("bench-cpu".to_owned());
    options.cloud = Some(CLOUD.to_owned());
    options.project = Some(PROJECT.to_owned());
    options.poll_interval = Duration::from_millis(10);
    options
}

// ---------------------------------------------------------------------------------------
// The real CLI

/// The real CLI on `FakeAnyscaleClient`, its state in `dir`: a cloud, two projects and a
/// compute config exist; every run has FORCE_COLOR=1.
struct RealCli {
    dir: PathBuf,
}

impl RealCli {
    fn new(dir: &Path) -> Self {
        Self { dir: dir.to_path_buf() }
    }

    fn env(&self, service: &[(&str, &str)]) -> Vec<(String, String)> {
        let seed = json!({
            "cloud": CLOUD,
            "project": PROJECT,
            "other_projects": [OTHER_PROJECT],
            "compute_config": "bench-cpu",
        });
        let mut env = vec![
            ("FAKE_ANYSCALE_STATE".to_owned(), self.dir.join("state.pkl").display().to_string()),
            ("FAKE_ANYSCALE_SEED".to_owned(), seed.to_string()),
            ("FAKE_ANYSCALE_ROLLOUTS".to_owned(), self.dir.join("rollouts.jsonl").display().to_string()),
            ("FORCE_COLOR".to_owned(), "1".to_owned()),
        ];
        env.extend(service.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        env
    }

    /// An `anyscale` executable for the crate: logs its arguments to `calls.log`, then runs
    /// the real CLI. A service it deploys answers at `query_url` with `TOKEN` and goes
    /// through `states`, one per `service status`.
    fn executable(&self, query_url: &str, states: &str) -> PathBuf {
        let quote = |s: &str| {
            assert!(!s.contains('\''), "{s}");
            format!("'{s}'")
        };
        let mut script = format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> {}\n",
            quote(&self.dir.join("calls.log").display().to_string())
        );
        let service = [
            ("FAKE_ANYSCALE_QUERY_URL", query_url),
            ("FAKE_ANYSCALE_TOKEN", TOKEN),
            ("FAKE_ANYSCALE_STATES", states),
        ];
        for (key, value) in self.env(&service) {
            script.push_str(&format!("export {key}={}\n", quote(&value)));
        }
        script.push_str(&format!(
            "exec {} {} \"$@\"\n",
            quote(&anyscale_python().display().to_string()),
            quote(&wrapper().display().to_string())
        ));
        let path = self.dir.join("anyscale");
        write_executable(&path, &script);
        path
    }

    /// Runs the real CLI directly (not through the crate), with `service` settings.
    fn run(&self, args: &[&str], service: &[(&str, &str)]) -> std::process::Output {
        let out = std::process::Command::new(anyscale_python())
            .arg(wrapper())
            .args(args)
            .envs(self.env(service))
            .output()
            .expect("run the anyscale CLI");
        assert!(
            out.status.success(),
            "anyscale {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// `service status -o json` of `name` in `project`.
    fn status(&self, name: &str, project: &str) -> Value {
        let out = self.run(
            &["service", "status", "--name", name, "--cloud", CLOUD, "--project", project, "-o", "json"],
            &[],
        );
        serde_json::from_slice(&out.stdout).expect("status JSON")
    }

    /// The rollout requests the SDK built (what it would send to Anyscale's API), in order.
    fn rollouts(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join("rollouts.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("rollout JSON"))
            .collect()
    }
}

fn wrapper() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fake_anyscale.py")
}

fn status_call(name: &str) -> String {
    format!("service status --name {name} --cloud {CLOUD} --project {PROJECT} -o json")
}

#[tokio::test]
#[cfg_attr(
    not(servebench_anyscale_cli),
    ignore = "needs the anyscale CLI in .venv: run scripts/setup-python.sh (always runs under CI)"
)]
async fn real_cli_http_apps_deploy_answer_with_the_token_and_tear_down_whatever_the_body_returns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let real = RealCli::new(dir.path());
    let (url, server) = fake_service().await;
    let backend = Backend::Anyscale(options(dir.path(), real.executable(&url, "STARTING,RUNNING")));
    let mut req = request("all_on", &["unary", "streaming"]);
    req.manifest_path = Some(dir.path().join("manifest.json"));
    let (lines, progress) = collector();

    // The body sees the target once the service is RUNNING and both apps answered the
    // check requests (sent with the token).
    let target = deploy::run_with_deployments(
        vec![backend.deploy(&req, &progress)],
        &deploy::CancellationToken::new(),
        async |d: &[deploy::Deployment]| Ok::<_, String>(d[0].target().clone()),
    )
    .await
    .expect("deploy, body and teardown");
    assert_eq!(target.http_base, url);
    assert_eq!(target.headers[0].value.expose(), format!("Bearer {TOKEN}"));
    assert_eq!(target.grpc_uri, None);

    let name = "servebench-all-on-1replica";
    let yaml_path = dir.path().join(format!("services/{name}.yaml"));
    let status = real.status(name, PROJECT);
    assert_eq!(status["state"], "TERMINATED");
    let id = status["id"].as_str().expect("id").to_owned();
    assert_eq!(
        calls(dir.path()),
        [
            format!("service deploy -f {}", yaml_path.display()),
            status_call(name),
            status_call(name),
            format!("service terminate --id {id}"),
        ]
    );

    // The service-level env_vars are the variant's flags; the SDK put them in the request.
    let rollout = &real.rollouts()[0];
    let expected: BTreeMap<String, String> = variant("all_on").env;
    assert_eq!(rollout["config"]["env_vars"], json!(expected));
    assert_eq!(rollout["project_id"], format!("project-id-{PROJECT}"));
    assert_eq!(rollout["compute_config_id"], "compute-config-id-bench-cpu");
    assert_eq!(rollout["config"]["access"]["use_bearer_token"], true);
    assert_eq!(rollout["config"]["protocols"]["grpc"]["enabled"], false);
    let app_names: Vec<&str> = rollout["ray_serve_config"]["applications"]
        .as_array()
        .expect("applications")
        .iter()
        .map(|a| a["name"].as_str().expect("name"))
        .collect();
    assert_eq!(app_names, ["unary", "streaming"]);

    let yaml = std::fs::read_to_string(&yaml_path).expect("yaml");
    let manifest = std::fs::read_to_string(dir.path().join("manifest.json")).expect("manifest");
    let shown = lines.lock().expect("lines").join("\n");
    for text in [&yaml, &manifest, &shown] {
        assert!(!text.contains(TOKEN), "token leaked: {text}");
    }
    assert!(manifest.contains("\"backend\": \"anyscale\""), "{manifest}");
    assert!(shown.contains("is STARTING") && shown.contains("is RUNNING"), "{shown}");

    // Again, with a body that fails: the terminated service is deployed anew (same id,
    // RUNNING at the first status), and terminated again.
    std::fs::remove_file(dir.path().join("calls.log")).expect("reset log");
    let backend = Backend::Anyscale(options(dir.path(), real.executable(&url, "RUNNING")));
    let err = deploy::run_with_deployments(
        vec![backend.deploy(&req, &deploy::quiet)],
        &deploy::CancellationToken::new(),
        async |_d: &[deploy::Deployment]| Err::<(), _>("measurement failed".to_owned()),
    )
    .await
    .expect_err("body failed");
    match err {
        deploy::RunError::Body { error, teardown } => {
            assert_eq!(error, "measurement failed");
            assert!(teardown.is_empty(), "{teardown:?}");
        }
        other => panic!("unexpected {other}"),
    }
    assert_eq!(calls(dir.path())[1..], [status_call(name), format!("service terminate --id {id}")]);
    server.abort();
}

#[tokio::test]
#[cfg_attr(
    not(servebench_anyscale_cli),
    ignore = "needs the anyscale CLI in .venv: run scripts/setup-python.sh (always runs under CI)"
)]
async fn real_cli_grpc_service_gets_service_names_explicit_flags_and_is_told_from_its_namesake() {
    let dir = tempfile::tempdir().expect("tempdir");
    let real = RealCli::new(dir.path());
    let query_url = "https://servebench-test.invalid";
    let mut opts = options(dir.path(), real.executable(&format!("{query_url}/"), "UPDATING,RUNNING"));
    opts.grpc_servicers_in_image = true;
    let req = request("baseline", &["unary", "grpc_unary", "grpc_streaming"]);
    let name = "servebench-baseline-1replica";

    // A service of the same name in another project of the same cloud, RUNNING from the
    // first status on (what a status without --project would find first).
    let mut other = opts.clone();
    other.project = Some(OTHER_PROJECT.to_owned());
    let other_yaml = dir.path().join("other.yaml");
    std::fs::write(
        &other_yaml,
        deploy::to_yaml(&deploy::service_config(&other, name, &req.variant, &req.apps)),
    )
    .expect("write");
    let other_service = [
        ("FAKE_ANYSCALE_QUERY_URL", "https://other.invalid"),
        ("FAKE_ANYSCALE_TOKEN", "other-token"),
        ("FAKE_ANYSCALE_STATES", "RUNNING"),
    ];
    real.run(&["service", "deploy", "-f", &other_yaml.display().to_string()], &other_service);

    let (lines, progress) = collector();
    let deployment = Backend::Anyscale(opts).deploy(&req, &progress).await.expect("deploy");
    let target = deployment.target().clone();
    assert_eq!(target.http_base, query_url);
    assert_eq!(target.grpc_uri.as_deref(), Some(query_url));
    assert_eq!(target.headers[0].value.expose(), format!("Bearer {TOKEN}"));

    // What the SDK would send to Anyscale: gRPC enabled at the load balancer for the
    // service's gRPC service, the servicer functions for Serve, and every flag of the table
    // at Ray 2.60's default (the baseline sets none).
    let rollouts = real.rollouts();
    assert_eq!(rollouts.len(), 2);
    let rollout = &rollouts[1];
    assert_eq!(rollout["project_id"], format!("project-id-{PROJECT}"));
    let grpc = &rollout["config"]["protocols"]["grpc"];
    assert_eq!(grpc["enabled"], true, "{grpc}");
    assert_eq!(grpc["service_names"], json!(["servebench.v1.ServeBench"]));
    assert_eq!(
        rollout["ray_serve_config"]["grpc_options"]["grpc_servicer_functions"],
        json!(["servebench_pb2_grpc.add_ServeBenchServicer_to_server"])
    );
    let defaults = json!({
        "RAY_SERVE_ENABLE_HA_PROXY": "0",
        "RAY_SERVE_HAPROXY_TCP_NODELAY": "1",
        "RAY_SERVE_USE_GRPC_BY_DEFAULT": "0",
        "RAY_SERVE_THROUGHPUT_OPTIMIZED": "0",
        "RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP": "1",
        "RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "1",
    });
    assert_eq!(rollout["config"]["env_vars"], defaults);
    assert_eq!(json!(deployment.manifest().flags), defaults);
    let yaml = std::fs::read_to_string(dir.path().join(format!("services/{name}.yaml"))).expect("yaml");
    assert!(
        yaml.contains(
            "# flags the variant leaves unset, set to Ray 2.60's defaults: RAY_SERVE_ENABLE_HA_PROXY=0"
        ),
        "{yaml}"
    );

    // Dropping the deployment terminates this project's service, by id; the other one runs on.
    let id = deployment.anyscale().and_then(|s| s.id.clone()).expect("id");
    drop(deployment);
    let calls = calls(dir.path());
    assert_eq!(calls[1..], [status_call(name), status_call(name), format!("service terminate --id {id}")]);
    let ours = real.status(name, PROJECT);
    assert_eq!((&ours["id"], &ours["state"]), (&json!(id), &json!("TERMINATED")));
    let other = real.status(name, OTHER_PROJECT);
    assert_ne!(other["id"], json!(id));
    assert_eq!(other["state"], "RUNNING");
    let shown = lines.lock().expect("lines").join("\n");
    assert!(!shown.contains(TOKEN), "{shown}");
    assert!(shown.contains("is UPDATING"), "{shown}");
    assert!(shown.contains("set to Ray 2.60's defaults: RAY_SERVE_ENABLE_HA_PROXY=0"), "{shown}");
}

#[tokio::test]
#[cfg_attr(
    not(servebench_anyscale_cli),
    ignore = "needs the anyscale CLI in .venv: run scripts/setup-python.sh (always runs under CI)"
)]
async fn real_cli_a_service_that_goes_unhealthy_stops_the_wait_at_once_and_is_terminated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let real = RealCli::new(dir.path());
    let opts = options(dir.path(), real.executable("https://servebench-test.invalid", "STARTING,UNHEALTHY"));
    assert_eq!(opts.wait_timeout, Duration::from_secs(1800));
    let started = Instant::now();
    let err = Backend::Anyscale(opts)
        .deploy(&request("haproxy", &["unary"]), &deploy::quiet)
        .await
        .expect_err("fails");
    assert!(started.elapsed() < Duration::from_secs(300), "{:?}", started.elapsed());
    match &err {
        DeployError::ServiceFailed { service, state, .. } => {
            assert_eq!(service, "servebench-haproxy-1replica");
            assert_eq!(state, "UNHEALTHY");
        }
        other => panic!("unexpected {other}"),
    }
    let name = "servebench-haproxy-1replica";
    let status = real.status(name, PROJECT);
    assert_eq!(status["state"], "TERMINATED");
    let id = status["id"].as_str().expect("id");
    assert_eq!(
        calls(dir.path())[1..],
        [status_call(name), status_call(name), format!("service terminate --id {id}")]
    );
}

#[test]
#[cfg_attr(
    not(servebench_anyscale_cli),
    ignore = "needs the anyscale CLI in .venv: run scripts/setup-python.sh (always runs under CI)"
)]
fn real_cli_json_flag_is_colourised_o_json_is_not_and_printed_tokens_are_redacted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let real = RealCli::new(dir.path());
    let mut opts = options(dir.path(), PathBuf::from("unused"));
    opts.grpc_servicers_in_image = true;
    let req = request("grpc", &["grpc_unary"]);
    let name = "servebench-grpc-1replica";
    let yaml = dir.path().join("svc.yaml");
    std::fs::write(&yaml, deploy::to_yaml(&deploy::service_config(&opts, name, &req.variant, &req.apps)))
        .expect("write");
    let service = [
        ("FAKE_ANYSCALE_QUERY_URL", "https://svc.invalid/"),
        ("FAKE_ANYSCALE_TOKEN", TOKEN),
        ("FAKE_ANYSCALE_STATES", "RUNNING"),
    ];

    // `service deploy` prints the token (a curl line); the redaction finds it unaided.
    let out = real.run(&["service", "deploy", "-f", &yaml.display().to_string()], &service);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("Bearer {TOKEN}")), "{stderr}");
    let redacted = deploy::redact_anyscale_output(&stderr, &[]);
    assert!(!redacted.contains(TOKEN), "{redacted}");
    assert!(redacted.contains("Bearer <redacted>"), "{redacted}");

    // The deprecated --json colours its JSON under FORCE_COLOR: unreadable, and said so.
    let scope = ["--name", name, "--cloud", CLOUD, "--project", PROJECT];
    let out = real.run(&[&["service", "status"][..], &scope, &["--json"]].concat(), &[]);
    let coloured = String::from_utf8_lossy(&out.stdout);
    assert!(coloured.contains('\u{1b}'), "{coloured}");
    let err = deploy::parse_anyscale_status(&coloured).expect_err("colours").to_string();
    assert!(err.contains("colour"), "{err}");
    assert!(!deploy::redact_anyscale_output(&coloured, &[]).contains(TOKEN));

    // `-o json` is plain multi-line JSON, whatever FORCE_COLOR says.
    let out = real.run(&[&["service", "status"][..], &scope, &["-o", "json"]].concat(), &[]);
    let plain = String::from_utf8_lossy(&out.stdout);
    assert!(plain.trim().lines().count() > 3, "{plain}");
    let status = deploy::parse_anyscale_status(&plain).expect("parses");
    assert_eq!(status.name, name);
    assert_eq!(status.state, "RUNNING");
    assert!(status.id.starts_with("service-id-"), "{}", status.id);
    assert_eq!(status.query_url.as_deref(), Some("https://svc.invalid"));
    assert_eq!(status.query_auth_token.as_ref().map(deploy::Secret::expose), Some(TOKEN));
    assert!(!format!("{status:?}").contains(TOKEN));

    // The text (YAML) status shows the token too, its digits coloured apart from the rest:
    // replacing a known token in the raw text would miss it.
    let out = real.run(&[&["service", "status"][..], &scope].concat(), &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains(TOKEN) && text.contains("tok-SECRET-\u{1b}["), "{text}");
    let redacted = deploy::redact_anyscale_output(&text, &[TOKEN]);
    assert!(!redacted.contains("4242"), "{redacted}");
    assert!(redacted.contains("query_auth_token: <redacted>"), "{redacted}");
}

// ---------------------------------------------------------------------------------------
// A hand-written fake, for what the real CLI cannot be made to do

/// Writes a fake `anyscale` that logs each call's arguments, prints a multi-line status in
/// `state` pointing at `query_url`, and fails `fail_on` (e.g. "status") after printing the
/// token on stderr, as the real CLI's deploy does.
fn fake_cli(dir: &Path, query_url: &str, state: &str, fail_on: &str) -> PathBuf {
    let path = dir.join("anyscale");
    let script = format!(
        r#"#!/bin/sh
printf '%s\n' "$*" >> '{log}'
case "$2" in
  {fail_on}) echo "curl -H \"Authorization: Bearer {TOKEN}\" {query_url}/" >&2
          echo "query_auth_token: {TOKEN}" >&2
          echo "fake failure of $2" >&2; exit 3 ;;
  status) cat <<'EOF'
{{
    "name": "x",
    "id": "svc_1",
    "state": "{state}",
    "query_url": "{query_url}/",
    "query_auth_token": "{TOKEN}"
}}
EOF
  ;;
esac
exit 0
"#,
        log = dir.join("calls.log").display(),
    );
    write_executable(&path, &script);
    path
}

#[tokio::test]
async fn a_failed_status_terminates_by_name_and_never_shows_the_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cli = fake_cli(dir.path(), "https://svc.invalid", "RUNNING", "status");
    let backend = Backend::Anyscale(options(dir.path(), cli));
    let err = backend.deploy(&request("baseline", &["unary"]), &deploy::quiet).await.expect_err("fails");
    let err = err.to_string();
    assert!(err.contains("fake failure of status"), "{err}");
    assert!(!err.contains(TOKEN), "{err}");
    assert!(err.contains("Bearer <redacted>"), "{err}");
    // No status was read, so no id: by name.
    assert_eq!(
        calls(dir.path()).last().map(String::as_str),
        Some("service terminate --name servebench-baseline-1replica")
    );
}

#[tokio::test]
async fn a_failed_deploy_never_shows_the_token_and_leaves_nothing_to_terminate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cli = fake_cli(dir.path(), "https://svc.invalid", "RUNNING", "deploy");
    let backend = Backend::Anyscale(options(dir.path(), cli));
    let err = backend.deploy(&request("baseline", &["unary"]), &deploy::quiet).await.expect_err("fails");
    let err = err.to_string();
    assert!(err.contains("fake failure of deploy"), "{err}");
    assert!(!err.contains(TOKEN), "{err}");
    assert_eq!(calls(dir.path()).len(), 1);
}

#[tokio::test]
async fn a_service_that_never_starts_times_out_with_its_last_state_and_is_terminated_by_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cli = fake_cli(dir.path(), "https://svc.invalid", "STARTING", "none");
    let mut opts = options(dir.path(), cli);
    opts.wait_timeout = Duration::from_millis(300);
    opts.poll_interval = Duration::from_millis(50);
    let err = Backend::Anyscale(opts)
        .deploy(&request("baseline", &["unary"]), &deploy::quiet)
        .await
        .expect_err("times out");
    match &err {
        DeployError::Timeout { last, .. } => assert_eq!(last, "STARTING"),
        other => panic!("unexpected {other}"),
    }
    let calls = calls(dir.path());
    let name = "servebench-baseline-1replica";
    assert!(calls.len() >= 3, "{calls:?}");
    assert!(calls[0].starts_with("service deploy -f "), "{calls:?}");
    assert!(calls[1..calls.len() - 1].iter().all(|c| *c == status_call(name)), "{calls:?}");
    assert_eq!(calls.last().map(String::as_str), Some("service terminate --id svc_1"));
}

#[tokio::test]
async fn a_missing_cli_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = Backend::Anyscale(options(dir.path(), dir.path().join("no-such-anyscale")));
    let err = backend
        .deploy(&request("baseline", &["unary"]), &deploy::quiet)
        .await
        .expect_err("no cli")
        .to_string();
    assert!(err.contains("pip install anyscale"), "{err}");
}

// ---------------------------------------------------------------------------------------
// What is decided before the CLI runs

#[tokio::test]
async fn grpc_with_throughput_optimized_is_refused_before_anything_runs() {
    assert!(deploy::check_grpc_compat(&variant("all_on"), &apps(&["unary", "streaming"])).is_ok());
    assert!(deploy::check_grpc_compat(&variant("baseline"), &apps(&["grpc_unary"])).is_ok());
    let err =
        deploy::check_grpc_compat(&variant("all_on"), &apps(&["unary", "grpc_unary"])).expect_err("refused");
    let text = err.to_string();
    assert!(text.contains("RAY_SERVE_THROUGHPUT_OPTIMIZED=1") && text.contains("grpc_unary"), "{text}");

    let dir = tempfile::tempdir().expect("tempdir");
    let cli = fake_cli(dir.path(), "https://svc.invalid", "RUNNING", "none");
    let mut opts = options(dir.path(), cli);
    opts.grpc_servicers_in_image = true;
    let err = Backend::Anyscale(opts.clone())
        .deploy(&request("all_on", &["grpc_streaming"]), &deploy::quiet)
        .await
        .expect_err("refused");
    assert!(matches!(err, DeployError::Invalid { .. }), "{err}");
    // `extra_env` counts as much as the variant.
    opts.extra_env.insert("RAY_SERVE_THROUGHPUT_OPTIMIZED".to_owned(), "1".to_owned());
    let err = Backend::Anyscale(opts)
        .deploy(&request("grpc", &["grpc_unary"]), &deploy::quiet)
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("variant `grpc`"), "{err}");
    assert!(calls(dir.path()).is_empty());
    assert!(!dir.path().join("services").exists());
}

#[tokio::test]
async fn grpc_apps_need_servicers_in_the_image() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cli = fake_cli(dir.path(), "https://svc.invalid", "RUNNING", "none");
    let backend = Backend::Anyscale(options(dir.path(), cli));
    let err = backend.deploy(&request("grpc", &["grpc_unary"]), &deploy::quiet).await.expect_err("refused");
    let text = err.to_string();
    assert!(text.contains("grpc_servicers_in_image") && text.contains("servebench_pb2_grpc"), "{text}");
    assert!(calls(dir.path()).is_empty());
}

#[test]
fn unset_flags_get_ray_defaults_which_follow_throughput_mode() {
    let env = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    };
    assert_eq!(
        deploy::ray_serve_flag_defaults(&BTreeMap::new()),
        env(&[
            ("RAY_SERVE_ENABLE_HA_PROXY", "0"),
            ("RAY_SERVE_HAPROXY_TCP_NODELAY", "1"),
            ("RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP", "1"),
            ("RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD", "1"),
            ("RAY_SERVE_THROUGHPUT_OPTIMIZED", "0"),
            ("RAY_SERVE_USE_GRPC_BY_DEFAULT", "0"),
        ])
    );
    assert_eq!(
        deploy::ray_serve_flag_defaults(&env(&[("RAY_SERVE_THROUGHPUT_OPTIMIZED", "1")])),
        env(&[
            ("RAY_SERVE_ENABLE_HA_PROXY", "0"),
            ("RAY_SERVE_HAPROXY_TCP_NODELAY", "1"),
            ("RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP", "0"),
            ("RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD", "0"),
            ("RAY_SERVE_USE_GRPC_BY_DEFAULT", "1"),
        ])
    );
    assert!(deploy::ray_serve_flag_defaults(&variant("all_on").env).is_empty());
    assert_eq!(deploy::RAY_SERVE_FLAGS.len(), 6);

    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = options(dir.path(), PathBuf::from("anyscale"));
    let grpc = variant("grpc");
    let apps = apps(&["unary"]);
    let config = deploy::service_config(&opts, "svc", &grpc, &apps);
    assert_eq!(config["env_vars"].as_object().map(|m| m.len()), Some(6));
    assert_eq!(config["env_vars"]["RAY_SERVE_USE_GRPC_BY_DEFAULT"], "1");
    assert_eq!(config["env_vars"]["RAY_SERVE_ENABLE_HA_PROXY"], "0");
    assert!(config.get("grpc_options").is_none());
    opts.extra_env.insert("RAY_SERVE_ENABLE_HA_PROXY".to_owned(), "1".to_owned());
    let config = deploy::service_config(&opts, "svc", &grpc, &apps);
    assert_eq!(config["env_vars"]["RAY_SERVE_ENABLE_HA_PROXY"], "1");
    opts.explicit_flag_defaults = false;
    let config = deploy::service_config(&opts, "svc", &grpc, &apps);
    assert_eq!(
        config["env_vars"],
        json!({"RAY_SERVE_ENABLE_HA_PROXY": "1", "RAY_SERVE_USE_GRPC_BY_DEFAULT": "1"})
    );
}

#[test]
fn status_parsing_reads_multi_line_json_and_never_quotes_the_token() {
    let status = deploy::parse_anyscale_status(&format!(
        "log line\n{{\n    \"name\": \"svc\",\n    \"id\": \"service2_x\",\n    \"state\": \"STARTING\",\n    \
         \"query_url\": \"https://svc.example/\",\n    \"query_auth_token\": \"{TOKEN}\"\n}}\n"
    ))
    .expect("parses");
    assert_eq!(status.id, "service2_x");
    assert_eq!(status.state, "STARTING");
    assert_eq!(status.query_url.as_deref(), Some("https://svc.example"));
    assert_eq!(status.query_auth_token.as_ref().map(deploy::Secret::expose), Some(TOKEN));
    let no_url = deploy::parse_anyscale_status(
        "{\"name\": \"a\", \"id\": \"b\", \"state\": \"STARTING\", \"query_url\": null}",
    )
    .expect("parses");
    assert_eq!(no_url.query_url, None);
    for bad in [
        format!("{{\"name\": \"a\", \"state\": \"RUNNING\", \"query_auth_token\": \"{TOKEN}\"}}"),
        format!("{{\"id\": 1, \"query_auth_token\": \"{TOKEN}\""),
        format!("\u{1b}[1m{{\u{1b}[0m \"query_auth_token\": \"{TOKEN}\" }}"),
        "no json".to_owned(),
    ] {
        let err = deploy::parse_anyscale_status(&bad).expect_err(&bad).to_string();
        assert!(!err.contains(TOKEN), "{err}");
    }
}

#[test]
fn redaction_covers_the_forms_the_cli_prints() {
    let redact = |text: &str| deploy::redact_anyscale_output(text, &[]);
    assert_eq!(
        redact("curl -H \"Authorization: Bearer abc.DEF-1\" https://x/"),
        "curl -H \"Authorization: Bearer <redacted>\" https://x/"
    );
    assert_eq!(
        redact("query_auth_token: abc\nstate: RUNNING"),
        "query_auth_token: <redacted>\nstate: RUNNING"
    );
    assert_eq!(
        redact("{\"query_auth_token\": \"abc\", \"x\": 1}"),
        "{\"query_auth_token\": \"<redacted>\", \"x\": 1}"
    );
    // Colour codes go (the CLI's printer colours the digits inside a token).
    assert_eq!(
        redact(
            "\u{1b}[1;34m\"query_auth_token\"\u{1b}[0m: \u{1b}[32m\"abc-\u{1b}[1;36m42\u{1b}[0m\"\u{1b}[0m,"
        ),
        "\"query_auth_token\": \"<redacted>\","
    );
    assert_eq!(
        deploy::redact_anyscale_output("id: tok-\u{1b}[1;36m42\u{1b}[0m", &["tok-42"]),
        "id: <redacted>"
    );
    assert_eq!(redact("secondary_auth_token=abc"), "secondary_auth_token=<redacted>");
    for kept in
        ["query_auth_token_enabled: true", "query_auth_token: null", "the auth_token is set", "bearer"]
    {
        assert_eq!(redact(kept), kept);
    }
    assert_eq!(
        deploy::redact_anyscale_output("token was xyz123 here", &["xyz123"]),
        "token was <redacted> here"
    );
}

#[test]
fn service_names_are_dns_friendly() {
    assert_eq!(deploy::service_name("servebench", "all_on", "8replica"), "servebench-all-on-8replica");
    assert_eq!(deploy::service_name("X", "a__b", "--"), "x-a-b");
}
