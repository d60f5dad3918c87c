use std::path::Path;

use deploy::AppCatalog;
use serde_json::json;

use crate::support::features_catalog;

#[test]
fn the_catalog_names_the_spec_apps_and_layouts() {
    let catalog = features_catalog();
    let names: Vec<&str> = catalog.apps.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["unary", "streaming", "grpc_unary", "grpc_streaming"]);
    assert!(catalog.app_dir.join("unary_app/fastapi_dep.py").is_file());
    assert!(catalog.app_dir.join("servebench_pb2_grpc.py").is_file());
    let one = catalog.layout("1replica").expect("1");
    let eight = catalog.layout("8replica").expect("8");
    assert_eq!(catalog.replicas(one, "Echo"), Ok(1));
    assert_eq!(catalog.replicas(eight, "Echo"), Ok(8));
    for layout in &catalog.layouts {
        assert_eq!(layout.all.max_ongoing_requests, Some(100_000));
    }
}

#[test]
fn a_selection_builds_serve_config_with_replicas_and_limits() {
    let apps = features_catalog()
        .select(&["unary", "grpc_streaming"], "8replica", &Default::default())
        .expect("select");
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
    assert!(unary.get("args").is_none());
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
    assert_eq!(endpoints[0].name, "unary");
    assert!(matches!(endpoints[1].check, loadgen::WorkloadSpec::Grpc(_)));
    assert!(apps.has_grpc());
}

/// A catalog in the shape of the LLM and recsys suites: options per deployment, a count that is a
/// multiple of another's, pinned autoscaling, GPUs, env and args (with a profile's args over them).
#[test]
fn per_deployment_options_reach_serve_config() {
    let text = r#"
        app_dir = "."
        [[app]]
        name = "llm"
        import_path = "llm_app:build"
        route_prefix = "/"
        deployments = ["LLMServer", "OpenAiIngress"]
        args = { model = "m", max_num_seqs = 256 }
        check = { protocol = "http", path = "/v1/models" }

        [[layout]]
        name = "n2"
        all = { max_ongoing_requests = 8192, num_cpus = 0.5 }
        deployments.LLMServer = { num_replicas = 2, autoscaling = true, num_gpus = 1, env = { OMP_NUM_THREADS = "1" } }
        deployments.OpenAiIngress = { num_replicas = { of = "LLMServer", times = 4 } }

        [[server]]
        name = "bare"
        command = ["{python}", "-m", "sim", "--port", "{port}"]
        check = { protocol = "http", path = "/v1/models" }
    "#;
    let catalog = AppCatalog::parse(text, Path::new("apps.toml"), Path::new(".")).expect("parses");
    let mut extra = std::collections::BTreeMap::new();
    extra.insert("llm".to_owned(), json!({"max_num_seqs": 8}).as_object().cloned().expect("map"));
    let apps = catalog.select(&["llm"], "n2", &extra).expect("select");
    let app = &apps.applications_json()[0];
    assert_eq!(app["args"], json!({"model": "m", "max_num_seqs": 8}));
    assert_eq!(
        app["deployments"][0],
        json!({
            "name": "LLMServer",
            "autoscaling_config": {"min_replicas": 2, "max_replicas": 2, "initial_replicas": 2},
            "max_ongoing_requests": 8192,
            "ray_actor_options": {"num_cpus": 0.5, "num_gpus": 1.0, "runtime_env": {"env_vars": {"OMP_NUM_THREADS": "1"}}}
        })
    );
    assert_eq!(app["deployments"][1]["num_replicas"], 8);
    assert_eq!(apps.total_gpus(), 2.0);
    assert_eq!(catalog.server("bare").expect("server").command[0], "{python}");
}

#[test]
fn unknown_apps_and_layouts_are_errors() {
    let catalog = features_catalog();
    let none = Default::default();
    let err = catalog.select(&["nope"], "1replica", &none).expect_err("app").to_string();
    assert!(err.contains("unary"), "{err}");
    let err = catalog.select(&["unary"], "3replica", &none).expect_err("layout").to_string();
    assert!(err.contains("8replica"), "{err}");
}

#[test]
fn catalog_validation_catches_mistakes() {
    let app = |extra: &str| {
        format!(
            "[[app]]\nname = \"a\"\nimport_path = \"m:app\"\nroute_prefix = \"/\"\ndeployments = [\"D\"]\ncheck = {{ protocol = \"http\", path = \"/\" }}\n{extra}"
        )
    };
    let cases = [
        (app("").replace("route_prefix = \"/\"", "route_prefix = \"x\""), "route_prefix"),
        (app("").replace("[\"D\"]", "[]"), "no deployments"),
        (app("").replace("\"http\"", "\"carrier_pigeon\""), "carrier_pigeon"),
        (app("kind = \"http_echo\""), "kind"),
        (app("[[layout]]\nname = \"l\"\nall = { num_replicas = 0 }"), "at least 1"),
        (app("[[layout]]\nname = \"l\"\ndeployments.Nope = { num_replicas = 1 }"), "no app has a deployment"),
        (
            app("[[layout]]\nname = \"l\"\ndeployments.D = { num_replicas = { of = \"D\", times = 2 } }"),
            "circle",
        ),
        (app("[[layout]]\nname = \"l\"\nall = { num_cpus = -1 }"), "num_cpus"),
        (app("[[layout]]\nname = \"l\"\nall = { replicas = 2 }"), "replicas"),
        (app("[[server]]\nname = \"s\"\ncommand = [\"x\"]\ncheck = { protocol = \"http\" }"), "{port}"),
    ];
    for (text, expected) in cases {
        let text = format!("app_dir = \".\"\n{text}");
        let err =
            AppCatalog::parse(&text, Path::new("apps.toml"), Path::new(".")).expect_err(&text).to_string();
        assert!(err.contains(expected), "{text}: {err}");
    }
}
