//! The Serve REST client against a fake Serve API.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deploy::{DeployError, Secret, ServeApi};
use serde_json::json;

use crate::support::{Reply, Seen, collector, serve};

fn status_body(states: &[(&str, &str, &str)]) -> serde_json::Value {
    let mut apps = serde_json::Map::new();
    for (name, status, message) in states {
        apps.insert(
            (*name).to_owned(),
            json!({
                "status": status,
                "message": message,
                "deployments": {
                    "Ingress": {"status": if *status == "RUNNING" { "HEALTHY" } else { "UPDATING" }, "message": ""}
                }
            }),
        );
    }
    json!({"controller_info": {}, "applications": apps})
}

/// A fake dashboard: PUT fails with 500 `put_failures` times, GET walks through `gets`
/// (the last one repeats), and every request must carry the token.
fn fake_serve(
    put_failures: usize,
    gets: Vec<serde_json::Value>,
) -> (Arc<Mutex<Vec<Seen>>>, crate::support::Handler) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let puts = AtomicUsize::new(0);
    let get_count = AtomicUsize::new(0);
    let handler = Arc::new(move |req: &Seen| {
        log.lock().expect("log").push(req.clone());
        if req.header("authorization") != Some("Bearer tok") {
            return Reply::bytes(401, "text/plain", "Unauthorized");
        }
        if req.path != "/api/serve/applications/" {
            return Reply::bytes(404, "text/plain", "not found");
        }
        match req.method.as_str() {
            "PUT" => {
                if puts.fetch_add(1, Ordering::SeqCst) < put_failures {
                    Reply::bytes(500, "text/plain", "dashboard head not ready")
                } else {
                    Reply::bytes(200, "text/plain", "")
                }
            }
            "GET" => {
                let i = get_count.fetch_add(1, Ordering::SeqCst).min(gets.len() - 1);
                Reply::json(200, &gets[i])
            }
            "DELETE" => Reply::bytes(200, "text/plain", ""),
            _ => Reply::bytes(405, "text/plain", ""),
        }
    });
    (seen, handler)
}

#[tokio::test]
async fn put_retries_through_startup_errors_then_waits_for_running() {
    let (seen, handler) = fake_serve(
        2,
        vec![
            status_body(&[]),
            status_body(&[("unary", "DEPLOYING", "")]),
            status_body(&[("unary", "RUNNING", "")]),
        ],
    );
    let (addr, server) = serve(handler).await;
    let api = ServeApi::new(format!("http://{addr}"), Some(Secret::new("tok")));
    let config = json!({"applications": [{"name": "unary"}]});
    api.put_config(&config, Duration::from_secs(20)).await.expect("PUT accepted after retries");
    let (lines, progress) = collector();
    api.wait_running(&["unary"], Duration::from_secs(20), &progress).await.expect("RUNNING");
    server.abort();

    let seen = seen.lock().expect("seen");
    let puts: Vec<&Seen> = seen.iter().filter(|s| s.method == "PUT").collect();
    assert_eq!(puts.len(), 3, "two 500s, then success");
    let sent: serde_json::Value = serde_json::from_slice(&puts[2].body).expect("JSON body");
    assert_eq!(sent, config);
    assert_eq!(puts[2].header("content-type"), Some("application/json"));
    let lines = lines.lock().expect("lines");
    assert!(lines.iter().any(|l| l.contains("unary: DEPLOYING")), "{lines:?}");
}

#[tokio::test]
async fn deploy_failed_reports_serves_own_message() {
    let message = "Deploying app 'unary' failed with exception:\nModuleNotFoundError: No module named 'nope'";
    let (_seen, handler) = fake_serve(
        0,
        vec![status_body(&[("unary", "DEPLOYING", "")]), status_body(&[("unary", "DEPLOY_FAILED", message)])],
    );
    let (addr, server) = serve(handler).await;
    let api = ServeApi::new(format!("http://{addr}"), Some(Secret::new("tok")));
    let err = api
        .wait_running(&["unary"], Duration::from_secs(20), &deploy::quiet)
        .await
        .expect_err("DEPLOY_FAILED");
    server.abort();
    match &err {
        DeployError::DeployFailed { app, message: m } => {
            assert_eq!(app, "unary");
            assert_eq!(m, message);
        }
        other => panic!("unexpected {other:?}"),
    }
    let text = err.to_string();
    assert!(text.starts_with("DEPLOY_FAILED"), "{text}");
    assert!(text.contains("No module named 'nope'"), "{text}");
}

#[tokio::test]
async fn waiting_times_out_with_the_last_state() {
    let (_seen, handler) = fake_serve(0, vec![status_body(&[("unary", "DEPLOYING", "")])]);
    let (addr, server) = serve(handler).await;
    let api = ServeApi::new(format!("http://{addr}"), Some(Secret::new("tok")));
    let err = api
        .wait_running(&["unary", "streaming"], Duration::from_secs(1), &deploy::quiet)
        .await
        .expect_err("timeout")
        .to_string();
    server.abort();
    assert!(err.contains("timed out"), "{err}");
    assert!(err.contains("unary: DEPLOYING"), "{err}");
    assert!(err.contains("streaming: not listed yet"), "{err}");
}

#[tokio::test]
async fn client_errors_are_not_retried_and_name_the_answer() {
    let (seen, handler) = fake_serve(0, vec![status_body(&[])]);
    let (addr, server) = serve(handler).await;
    let api = ServeApi::new(format!("http://{addr}"), Some(Secret::new("wrong")));
    let err = api.put_config(&json!({}), Duration::from_secs(20)).await.expect_err("401").to_string();
    assert!(err.contains("401"), "{err}");
    assert_eq!(seen.lock().expect("seen").len(), 1, "no retry on 4xx");
    assert!(!err.contains("wrong"), "the token is not shown: {err}");
    let api = ServeApi::new(format!("http://{addr}"), Some(Secret::new("tok")));
    api.delete_all(Duration::from_secs(5)).await.expect("DELETE");
    server.abort();
    assert_eq!(seen.lock().expect("seen").last().map(|s| s.method.clone()), Some("DELETE".to_owned()));
}

#[tokio::test]
async fn an_unreachable_dashboard_is_retried_until_the_deadline() {
    // A port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let api = ServeApi::new(format!("http://127.0.0.1:{port}"), None);
    let started = std::time::Instant::now();
    let err = api.put_config(&json!({}), Duration::from_secs(2)).await.expect_err("unreachable").to_string();
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert!(err.contains("not accepted within"), "{err}");
}

#[test]
fn status_parsing_reads_apps_and_deployments() {
    let status = deploy::parse_status(&status_body(&[("a", "RUNNING", ""), ("b", "UNHEALTHY", "x")]));
    assert_eq!(status["a"].status, "RUNNING");
    assert_eq!(status["b"].message, "x");
    assert_eq!(status["a"].deployments["Ingress"].status, "HEALTHY");
    assert!(deploy::parse_status(&json!({})).is_empty());
}
