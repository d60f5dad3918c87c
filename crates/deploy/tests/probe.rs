//! Check requests (loadgen's workloads, sent once) against fake servers: a right answer passes, a
//! wrong one fails at once and names the app, and the failure says what was wrong.

use std::sync::Arc;
use std::time::Duration;

use deploy::{AppEndpoint, Target, check_app};

use crate::support::{Reply, Seen, serve};

fn app(name: &str, spec: &str) -> AppEndpoint {
    AppEndpoint { name: name.to_owned(), check: toml::from_str(spec).expect("spec") }
}

#[tokio::test]
async fn checks_pass_on_right_answers_and_name_what_is_wrong() {
    let handler = Arc::new(|req: &Seen| match req.path.as_str() {
        "/echo" => Reply::bytes(200, "application/octet-stream", req.body.clone()),
        "/wrong" => Reply::bytes(200, "application/octet-stream", "something else"),
        "/scores" => Reply::json(200, &serde_json::json!({"scores": [0.5, 0.25]})),
        "/stream?chunks=2" => {
            Reply::bytes(200, "text/event-stream", "data: a\n\ndata: b\n\ndata: [DONE]\n\n")
        }
        _ => Reply::bytes(404, "text/plain", "no route"),
    });
    let (addr, server) = serve(handler).await;
    let target =
        Target { http_base: format!("http://{addr}"), grpc_uri: None, headers: Vec::new(), apps: Vec::new() };
    let t = Duration::from_secs(5);
    for good in [
        app(
            "echo",
            "protocol = 'http'\nmethod = 'POST'\npath = '/echo'\nbody_size = 100\nexpect = { echo = true }",
        ),
        app(
            "json",
            "protocol = 'http'\npath = '/scores'\nexpect = { json = { field = 'scores', len = 2, min = 0.0, max = 1.0 } }",
        ),
        app("sse", "protocol = 'sse'\npath = '/stream?chunks=2'\nevents = 2"),
    ] {
        check_app(&target, &good, t).await.unwrap_or_else(|e| panic!("{}: {e}", good.name));
    }
    for (bad, expected) in [
        (
            app(
                "wrong",
                "protocol = 'http'\nmethod = 'POST'\npath = '/wrong'\nbody_size = 100\nexpect = { echo = true }",
            ),
            "body",
        ),
        (
            app(
                "short",
                "protocol = 'http'\npath = '/scores'\nexpect = { json = { field = 'scores', len = 32 } }",
            ),
            "scores",
        ),
        (app("missing", "protocol = 'http'\npath = '/nope'"), "404"),
        (app("few", "protocol = 'sse'\npath = '/stream?chunks=2'\nevents = 5"), "stream"),
    ] {
        let err = check_app(&target, &bad, t).await.expect_err(&bad.name).to_string();
        assert!(err.contains(&format!("check of `{}` failed", bad.name)) && err.contains(expected), "{err}");
    }
    server.abort();
}
