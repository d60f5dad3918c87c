//! The external backend: a target by URL and token, checked against a fake endpoint.

use std::sync::Arc;

use deploy::{Backend, DeployRequest, ExternalOptions, Secret};

use crate::support::{Reply, Seen, features_catalog, features_variants, serve};

fn request() -> DeployRequest {
    DeployRequest {
        variant: features_variants().get("baseline").expect("baseline").clone(),
        apps: features_catalog()
            .select(&["unary", "streaming"], "8replica", &Default::default())
            .expect("apps"),
        manifest_path: None,
    }
}

#[tokio::test]
async fn an_external_endpoint_is_checked_with_its_token() {
    let handler = Arc::new(|req: &Seen| {
        if req.header("authorization") != Some("Bearer ext-token") {
            return Reply::bytes(401, "text/plain", "");
        }
        match req.path.as_str() {
            "/echo" => Reply::bytes(200, "application/octet-stream", req.body.clone()),
            p if p.starts_with("/streaming?chunks=3") => Reply::bytes(
                200,
                "text/event-stream; charset=utf-8",
                "data: a\n\ndata: b\n\ndata: c\n\ndata: [DONE]\n\n",
            ),
            _ => Reply::bytes(404, "text/plain", ""),
        }
    });
    let (addr, server) = serve(handler).await;
    let backend = Backend::External(ExternalOptions {
        http_base: format!("http://{addr}/"),
        grpc_uri: None,
        token: Some(Secret::new("ext-token")),
        check: true,
    });
    let deployment = backend.deploy(&request(), &deploy::quiet).await.expect("deploy");
    let target = deployment.target();
    assert_eq!(target.http_base, format!("http://{addr}"));
    assert_eq!(target.apps.len(), 2);
    assert_eq!(deployment.manifest().backend, "external");
    assert_eq!(deployment.manifest().replicas["unary/Echo"], 8);
    assert!(!format!("{deployment:?}").contains("ext-token"));
    deployment.shutdown().await.expect("nothing to tear down");
    server.abort();
}

#[tokio::test]
async fn a_wrong_answer_fails_the_check_and_names_the_app() {
    let handler = Arc::new(|_req: &Seen| Reply::bytes(200, "application/octet-stream", "nope"));
    let (addr, server) = serve(handler).await;
    let mut req = request();
    req.apps = features_catalog().select(&["unary"], "1replica", &Default::default()).expect("apps");
    let backend = Backend::External(ExternalOptions {
        http_base: format!("http://{addr}"),
        grpc_uri: None,
        token: None,
        check: true,
    });
    let err = backend.deploy(&req, &deploy::quiet).await.expect_err("wrong echo").to_string();
    assert!(err.contains("check of `unary` failed"), "{err}");
    assert!(err.contains("body"), "{err}");
    server.abort();
}

#[tokio::test]
async fn base_urls_with_credentials_or_bad_ports_are_refused_and_never_recorded() {
    for (url, expected) in
        [("http://127.0.0.1:99999", "99999"), ("notaurl", "no scheme"), ("http://h:1/?token=abc", "query")]
    {
        let backend = Backend::External(ExternalOptions {
            http_base: url.to_owned(),
            grpc_uri: None,
            token: None,
            check: false,
        });
        let err = backend.deploy(&request(), &deploy::quiet).await.expect_err(url).to_string();
        assert!(err.contains(expected), "{url}: {err}");
        assert!(!err.contains("abc"), "{err}");
    }
    let backend = Backend::External(ExternalOptions {
        http_base: "http://user:pass@127.0.0.1:9".to_owned(),
        grpc_uri: Some("http://u:p@127.0.0.1:9".to_owned()),
        token: None,
        check: false,
    });
    if let Ok(d) = backend.deploy(&request(), &deploy::quiet).await {
        let json = serde_json::to_string(d.manifest()).expect("json");
        assert!(!json.contains("pass") && !json.contains("u:p"), "{json}");
    }
}
