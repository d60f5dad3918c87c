use std::path::Path;

use deploy::{AppCatalog, AppKind};
use serde_json::json;

use crate::support::features_catalog;

#[test]
fn the_catalog_names_the_spec_apps_and_layouts() {
    let catalog = features_catalog();
    let names: Vec<&str> = catalog.apps.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["unary", "streaming", "grpc_unary", "grpc_streaming"]);
    assert!(catalog.app_dir.join("unary_app/fastapi_dep.py").is_file());
    assert!(catalog.app_dir.join("servebench_pb2_grpc.py").is_file());
    assert_eq!(catalog.layout("1replica").expect("1").num_replicas, 1);
    assert_eq!(catalog.layout("8replica").expect("8").num_replicas, 8);
    for layout in &catalog.layouts {
        assert_eq!(layout.max_ongoing_requests, 100_000);
    }
}

#[test]
fn a_selection_builds_serve_config_with_replicas_and_limits() {
    let apps = features_catalog().select(&["unary", "grpc_streaming"], "8replica").expect("select");
    let config = apps.serve_config("127.0.0.1", 18000, 19000);
    assert_eq!(config["http_options"], json!({"host": "127.0.0.1", "port": 18000}));
    assert_eq!(config["grpc_options"]["port"], 19000);
    assert_eq!(
        config["grpc_options"]["grpc_servicer_functions"],
        json!(["servebench_pb2_grpc.add_ServeBenchServicer_to_server"])
    );
    assert_eq!(config["proxy_location"], "HeadOnly");
    let unary = &config["applications"][0];
    assert_eq!(unary["name"], "unary");
    assert_eq!(unary["import_path"], "unary_app.fastapi_dep:app");
    assert_eq!(unary["route_prefix"], "/");
    assert_eq!(
        unary["deployments"][0],
        json!({
            "name": "ASGIIngressDeployment",
            "num_replicas": 8,
            "max_ongoing_requests": 100000,
            "ray_actor_options": {"num_cpus": 1.0}
        })
    );
    assert_eq!(unary["deployments"][1]["name"], "Echo");
    assert_eq!(apps.total_cpus(), 32.0);
    assert_eq!(apps.replica_counts()["grpc_streaming/GrandChildDeployment"], 8);
    let endpoints = apps.endpoints();
    assert_eq!(endpoints[0].path, "/echo");
    assert_eq!(endpoints[0].kind, AppKind::HttpEcho);
    assert_eq!(endpoints[1].path, "/servebench.v1.ServeBench/Stream");
    assert!(apps.has_grpc());
}

#[test]
fn unknown_apps_and_layouts_are_errors() {
    let catalog = features_catalog();
    let err = catalog.select(&["nope"], "1replica").expect_err("app").to_string();
    assert!(err.contains("unary"), "{err}");
    let err = catalog.select(&["unary"], "3replica").expect_err("layout").to_string();
    assert!(err.contains("8replica"), "{err}");
}

#[test]
fn catalog_validation_catches_mistakes() {
    let base = r#"
        app_dir = "."
        [[layout]]
        name = "one"
        num_replicas = 1
    "#;
    let cases = [
        (
            "[[app]]\nname = \"a\"\nkind = \"http_echo\"\nimport_path = \"m:app\"\nroute_prefix = \"/\"\ndeployments = [\"D\"]\n",
            "needs a `path`",
        ),
        (
            "[[app]]\nname = \"a\"\nkind = \"sse\"\nimport_path = \"m:app\"\nroute_prefix = \"x\"\npath = \"/x\"\ndeployments = [\"D\"]\n",
            "route_prefix",
        ),
        (
            "[[app]]\nname = \"a\"\nkind = \"grpc_echo\"\nimport_path = \"m:app\"\nroute_prefix = \"/a\"\ndeployments = []\n",
            "no deployments",
        ),
        (
            "[[app]]\nname = \"a\"\nkind = \"carrier_pigeon\"\nimport_path = \"m:app\"\nroute_prefix = \"/a\"\ndeployments = [\"D\"]\n",
            "unknown variant",
        ),
    ];
    for (app, expected) in cases {
        let text = format!("{base}\n{app}");
        let err =
            AppCatalog::parse(&text, Path::new("apps.toml"), Path::new(".")).expect_err(app).to_string();
        assert!(err.contains(expected), "{app}: {err}");
    }
}
