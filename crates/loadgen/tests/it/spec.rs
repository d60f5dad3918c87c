//! Workloads described as data ([`WorkloadSpec`] + [`Endpoint`]) and driven through
//! [`AnyWorkload`], against real servers; URLs and secrets as results show them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::Request;
use hyper::body::Incoming;
use loadgen::workload::{Engine, GrpcWorkload};
use loadgen::{
    AnyWorkload, CancellationToken, Endpoint, Header, Level, LevelResult, Phases, Schedule, Window,
    WorkloadSpec, run_level,
};

use super::server;

fn level(users: u32, requests: u64) -> Level {
    let mut l = Level::new(Schedule::closed(users));
    l.phases = Phases {
        warmup: Duration::ZERO.into(),
        window: Window::Requests(requests),
        cooldown: Duration::ZERO,
    };
    l.timeout = Duration::from_secs(5);
    l
}

async fn run(w: AnyWorkload, l: &Level) -> LevelResult {
    run_level(&Arc::new(w), l, None, &CancellationToken::new()).await.unwrap()
}

fn spec(toml_text: &str) -> WorkloadSpec {
    let s: WorkloadSpec = toml::from_str(toml_text).unwrap();
    s.validate().unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_echo_spec_from_toml_runs_under_a_base_url_with_a_prefix() {
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = seen.clone();
    let s = server::serve(move |req: Request<Incoming>| {
        let sink = sink.clone();
        async move {
            use http_body_util::BodyExt;
            sink.lock().unwrap().push(req.uri().to_string());
            server::ok(req.into_body().collect().await.unwrap().to_bytes())
        }
    })
    .await;
    let w = spec(
        "protocol = \"http\"\nmethod = \"POST\"\npath = \"echo\"\nbody_size = 100\nexpect = { echo = true }",
    )
    .build(&Endpoint::new(s.url("/prefix/")))
    .unwrap();
    let r = run(w, &level(2, 40)).await;
    assert_eq!((r.counts.ok, r.counts.errors), (40, 0), "{:?}", r.error_samples);
    assert_eq!(r.protocol, "http");
    assert_eq!(r.target, s.url("/prefix/echo"));
    assert!(seen.lock().unwrap().iter().all(|u| u == "/prefix/echo"), "{:?}", seen.lock().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_templates_are_filled_per_request_by_both_engines() {
    for engine in [Engine::Native, Engine::Hyper] {
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = seen.clone();
        let s = server::serve(move |req: Request<Incoming>| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(req.uri().to_string());
                server::ok("{}")
            }
        })
        .await;
        let mut ep = Endpoint::new(s.url(""));
        ep.engine = engine;
        let w = spec("protocol = \"http\"\npath = \"/items/{seq}?user={rand:10..12}\"\nseed = 3")
            .build(&ep)
            .unwrap();
        let r = run(w, &level(2, 60)).await;
        assert_eq!(r.counts.ok, 60, "{engine:?}: {:?}", r.error_samples);
        // The result shows the path as written, not one request's.
        assert!(r.target.ends_with("/items/{seq}"), "{}", r.target);
        let seen = seen.lock().unwrap();
        let mut seqs = std::collections::BTreeSet::new();
        let mut users = std::collections::BTreeSet::new();
        for uri in seen.iter() {
            let rest = uri.strip_prefix("/items/").unwrap_or_else(|| panic!("{uri}"));
            let (seq, user) = rest.split_once("?user=").unwrap_or_else(|| panic!("{uri}"));
            seqs.insert(seq.parse::<u64>().unwrap());
            let user: u32 = user.parse().unwrap();
            assert!((10..=12).contains(&user), "{uri}");
            users.insert(user);
        }
        assert_eq!(seqs.len(), seen.len(), "{engine:?}: every request has its own number");
        assert_eq!(users.len(), 3, "{engine:?}: the whole range is drawn: {users:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_answers_are_checked_and_a_wrong_one_is_a_body_error() {
    let answer = |n: usize, v: f64| {
        let scores: Vec<f64> = (0..n).map(|_| v).collect();
        serde_json::to_vec(&serde_json::json!({ "scores": scores })).unwrap()
    };
    let check =
        "protocol = \"http\"\nexpect = { json = { field = \"scores\", len = 32, min = 0.0, max = 1.0 } }";
    for engine in [Engine::Native, Engine::Hyper] {
        for (body, good) in [
            (answer(32, 0.5), true),
            (answer(31, 0.5), false),
            (answer(32, 1.5), false),
            (b"not json".to_vec(), false),
            (br#"{"other": 1}"#.to_vec(), false),
        ] {
            let shown = String::from_utf8_lossy(&body[..body.len().min(30)]).into_owned();
            let s = server::serve(move |_| {
                let body = body.clone();
                async move { server::ok(body) }
            })
            .await;
            let mut ep = Endpoint::new(s.url(""));
            ep.engine = engine;
            let r = run(spec(check).build(&ep).unwrap(), &level(1, 5)).await;
            if good {
                assert_eq!(r.counts.ok, 5, "{engine:?} {shown}: {:?}", r.error_samples);
            } else {
                assert_eq!((r.counts.ok, r.errors["body"]), (0, 5), "{engine:?} {shown}: {:?}", r.errors);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_url_with_credentials_is_refused_and_never_shown() {
    for url in ["http://user:SECRETPW@127.0.0.1:9000", "https://user:SECRETPW@127.0.0.1:9000"] {
        let e = GrpcWorkload::builder(url).build().map(|_| ()).expect_err(url).to_string();
        assert!(e.contains("user info") && !e.contains("SECRETPW"), "{e}");
        let spec = spec("protocol = \"grpc\"");
        let e = spec.build(&Endpoint::grpc(url)).map(|_| ()).expect_err(url).to_string();
        assert!(!e.contains("SECRETPW"), "{e}");
    }
    // Headers go as metadata; their values never reach the result.
    let ep =
        Endpoint { headers: vec![Header::bearer("SECRETPW")], ..Endpoint::grpc("http://127.0.0.1:9000") };
    let w = spec("protocol = \"grpc\"").build(&ep).unwrap();
    assert_eq!(loadgen::Workload::target(&w), "grpc://127.0.0.1:9000");
    assert!(!format!("{w:?}").contains("SECRETPW"));
}

#[test]
fn out_of_range_ports_missing_hosts_and_unknown_schemes_are_refused() {
    let http = spec("protocol = \"http\"");
    for base in [
        "http://127.0.0.1:99999/",
        "http://127.0.0.1:0",
        "http://:80/",
        "gopher://127.0.0.1/",
        "127.0.0.1:80",
    ] {
        assert!(http.build(&Endpoint::new(base)).is_err(), "{base} accepted");
    }
    for uri in ["http://127.0.0.1:99999", "http://", "grpc://127.0.0.1:9000"] {
        assert!(GrpcWorkload::builder(uri).build().is_err(), "{uri} accepted");
    }
}
