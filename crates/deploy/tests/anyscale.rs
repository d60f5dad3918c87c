//! The Anyscale backend against a fake `anyscale` executable that records its calls.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use deploy::{AnyscaleOptions, Backend, DeployRequest, Project};

use crate::support::{Reply, Seen, collector, features_catalog, features_variants, repo_root, serve};

const TOKEN: &str = "tok-SECRET-4242";

/// Writes a fake `anyscale` that logs each call's arguments, keeps a copy of the deployed
/// YAML, prints a status pointing at `query_url`, and fails `fail_on` (e.g. "wait").
fn fake_cli(dir: &Path, query_url: &str, fail_on: &str) -> PathBuf {
    let path = dir.join("anyscale");
    let script = format!(
        r#"#!/bin/sh
printf '%s\n' "$*" >> '{log}'
case "$2" in
  {fail_on}) echo "fake failure of $2" >&2; exit 3 ;;
  deploy) cp "$4" '{copy}' ;;
  status) echo 'Fetching service status...'
          echo '{{"id": "svc_1", "name": "x", "state": "RUNNING", "query_url": "{query_url}/", "query_auth_token": "{TOKEN}"}}' ;;
esac
exit 0
"#,
        log = dir.join("calls.log").display(),
        copy = dir.join("deployed.yaml").display(),
    );
    std::fs::write(&path, script).expect("write fake");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

fn calls(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("calls.log")).unwrap_or_default().lines().map(str::to_owned).collect()
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

fn options(dir: &Path, cli: PathBuf) -> AnyscaleOptions {
    let mut options = AnyscaleOptions::new(&Project::at(repo_root()), dir.join("services"));
    options.cli = cli;
    options.compute_config = Some("bench-cpu".to_owned());
    options
}

fn request(variant: &str) -> DeployRequest {
    DeployRequest {
        variant: features_variants().get(variant).expect("variant").clone(),
        apps: features_catalog().select(&["unary", "streaming"], "1replica", &Default::default()).expect("apps"),
        manifest_path: None,
    }
}

#[tokio::test]
async fn deploy_waits_reads_status_and_terminates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, server) = fake_service().await;
    let cli = fake_cli(dir.path(), &url, "none");
    let backend = Backend::Anyscale(options(dir.path(), cli));
    let mut req = request("all_on");
    req.manifest_path = Some(dir.path().join("manifest.json"));
    let (lines, progress) = collector();
    let deployment = backend.deploy(&req, &progress).await.expect("deploy");

    let name = "servebench-all-on-1replica";
    let yaml_path = dir.path().join(format!("services/{name}.yaml"));
    assert_eq!(
        calls(dir.path()),
        [
            format!("service deploy -f {}", yaml_path.display()),
            format!("service wait --name {name} --timeout-s 1800"),
            format!("service status --name {name} --json"),
        ]
    );
    let yaml = std::fs::read_to_string(dir.path().join("deployed.yaml")).expect("yaml");
    for expected in [
        &format!("name: \"{name}\""),
        "image_uri: \"anyscale/ray:2.60.0-py311\"",
        "compute_config: \"bench-cpu\"",
        "  RAY_SERVE_ENABLE_HA_PROXY: \"1\"",
        "  RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD: \"0\"",
        "query_auth_token_enabled: true",
        "- name: \"unary\"",
        "  import_path: \"unary_app.fastapi_dep:app\"",
        "    num_replicas: 1",
        "    max_ongoing_requests: 100000",
    ] {
        assert!(yaml.contains(expected), "missing {expected:?} in\n{yaml}");
    }
    assert!(yaml.contains("working_dir: \""), "{yaml}");

    let target = deployment.target().clone();
    assert_eq!(target.http_base, url);
    assert_eq!(target.headers[0].value.expose(), format!("Bearer {TOKEN}"));
    assert_eq!(deployment.manifest().service_name.as_deref(), Some(name));
    let debug = format!("{deployment:?}");
    let manifest = std::fs::read_to_string(dir.path().join("manifest.json")).expect("manifest");
    for shown in [&yaml, &debug, &manifest, &lines.lock().expect("lines").join("\n")] {
        assert!(!shown.contains(TOKEN), "token leaked: {shown}");
    }
    assert!(manifest.contains("\"backend\": \"anyscale\""), "{manifest}");

    deployment.shutdown().await.expect("terminate");
    assert_eq!(
        calls(dir.path()).last().map(String::as_str),
        Some(format!("service terminate --name {name}").as_str())
    );
    server.abort();
}

#[tokio::test]
async fn a_failed_wait_terminates_the_service_and_says_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cli = fake_cli(dir.path(), "http://127.0.0.1:9", "wait");
    let backend = Backend::Anyscale(options(dir.path(), cli));
    let err = backend.deploy(&request("baseline"), &deploy::quiet).await.expect_err("wait fails").to_string();
    assert!(err.contains("fake failure of wait"), "{err}");
    let calls = calls(dir.path());
    assert_eq!(
        calls.last().map(String::as_str),
        Some("service terminate --name servebench-baseline-1replica"),
        "{calls:?}"
    );
}

#[tokio::test]
async fn dropping_a_deployment_terminates_the_service() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, server) = fake_service().await;
    let cli = fake_cli(dir.path(), &url, "none");
    let backend = Backend::Anyscale(options(dir.path(), cli));
    let deployment = backend.deploy(&request("grpc"), &deploy::quiet).await.expect("deploy");
    drop(deployment);
    assert_eq!(
        calls(dir.path()).last().map(String::as_str),
        Some("service terminate --name servebench-grpc-1replica")
    );
    server.abort();
}

#[tokio::test]
async fn a_missing_cli_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = Backend::Anyscale(options(dir.path(), dir.path().join("no-such-anyscale")));
    let err = backend.deploy(&request("baseline"), &deploy::quiet).await.expect_err("no cli").to_string();
    assert!(err.contains("pip install anyscale"), "{err}");
}

#[test]
fn status_parsing_never_quotes_the_token() {
    let (url, token) = deploy::parse_anyscale_status(&format!(
        "log line\n{{\"query_url\": \"https://svc.example/\", \"query_auth_token\": \"{TOKEN}\"}}\n"
    ))
    .expect("parses");
    assert_eq!(url, "https://svc.example");
    assert_eq!(token.as_deref(), Some(TOKEN));
    for bad in [
        format!("{{\"query_auth_token\": \"{TOKEN}\"}}"),
        format!("{{\"query_url\": 1, \"query_auth_token\": \"{TOKEN}\""),
        "no json".to_owned(),
    ] {
        let err = deploy::parse_anyscale_status(&bad).expect_err(&bad).to_string();
        assert!(!err.contains(TOKEN), "{err}");
    }
}

#[test]
fn service_names_are_dns_friendly() {
    assert_eq!(deploy::service_name("servebench", "all_on", "8replica"), "servebench-all-on-8replica");
    assert_eq!(deploy::service_name("X", "a__b", "--"), "x-a-b");
}

#[tokio::test]
async fn run_with_deployment_tears_down_after_the_body_whatever_it_returns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, server) = fake_service().await;
    let cli = fake_cli(dir.path(), &url, "none");
    let backend = Backend::Anyscale(options(dir.path(), cli));
    let terminate = "service terminate --name servebench-haproxy-1replica";

    let cancel = deploy::CancellationToken::new();
    let request = request("haproxy");
    let value = deploy::run_with_deployment(backend.deploy(&request, &deploy::quiet), &cancel, async |d: &deploy::Deployment| {
        Ok::<_, String>(d.target().http_base.clone())
    })
    .await
    .expect("body ran");
    assert_eq!(value, url);
    assert_eq!(calls(dir.path()).last().map(String::as_str), Some(terminate));

    std::fs::remove_file(dir.path().join("calls.log")).expect("reset log");
    let err = deploy::run_with_deployment(backend.deploy(&request, &deploy::quiet), &cancel, async |_d: &deploy::Deployment| {
        Err::<(), _>("measurement failed".to_owned())
    })
    .await
    .expect_err("body failed");
    match err {
        deploy::RunError::Body { error, teardown } => {
            assert_eq!(error, "measurement failed");
            assert!(teardown.is_none());
        }
        other => panic!("unexpected {other}"),
    }
    assert_eq!(calls(dir.path()).last().map(String::as_str), Some(terminate));
    server.abort();
}
