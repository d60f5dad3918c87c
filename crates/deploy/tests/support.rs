//! Fake servers for the tests: an HTTP/1 server driven by a closure, on 127.0.0.1.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// What the fake answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Bytes,
}

impl Reply {
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Self { status, content_type: "application/json", body: Bytes::from(value.to_string()) }
    }

    pub fn bytes(status: u16, content_type: &'static str, body: impl Into<Bytes>) -> Self {
        Self { status, content_type, body: body.into() }
    }
}

pub type Handler = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

/// Serves HTTP/1.1 on 127.0.0.1 with `handler` until the returned task is aborted.
pub async fn serve(handler: Handler) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let handler = handler.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
                        let seen = Seen {
                            method: parts.method.to_string(),
                            path: parts.uri.path_and_query().map(|p| p.to_string()).unwrap_or_default(),
                            headers: parts
                                .headers
                                .iter()
                                .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_owned()))
                                .collect(),
                            body,
                        };
                        let reply = handler(&seen);
                        let response = Response::builder()
                            .status(reply.status)
                            .header("content-type", reply.content_type)
                            .body(Full::new(reply.body))
                            .expect("response");
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, task)
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The features suite's catalog.
pub fn features_catalog() -> deploy::AppCatalog {
    deploy::AppCatalog::load(&repo_root().join("suites/features/configs/apps.toml")).expect("apps.toml loads")
}

/// The features suite's variants.
pub fn features_variants() -> deploy::VariantSet {
    deploy::VariantSet::load(&repo_root().join("suites/features/configs/variants.toml"))
        .expect("variants.toml loads")
}

/// Real-Ray tests take turns: clusters started at once on a small machine would distort each
/// other's timings and CPU figures.
pub async fn real_ray_turn() -> tokio::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::OnceLock<tokio::sync::Mutex<()>> = std::sync::OnceLock::new();
    TURN.get_or_init(|| tokio::sync::Mutex::new(())).lock().await
}

/// A progress callback that collects lines.
pub fn collector() -> (Arc<std::sync::Mutex<Vec<String>>>, impl Fn(&str) + Send + Sync) {
    let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = lines.clone();
    (lines, move |line: &str| {
        if let Ok(mut l) = sink.lock() {
            l.push(line.to_owned());
        }
    })
}

/// The Python whose environment has the real `anyscale` CLI at the version pinned in
/// suites/requirements-dev.txt: SERVEBENCH_PYTHON_ENV's, else the project's .venv
/// (scripts/setup-python.sh makes it). Panics, saying how to get it, when there is none or
/// the version differs: the tests that call this run only where build.rs found the CLI, and
/// always under CI, where a missing CLI must fail them.
pub fn anyscale_python() -> PathBuf {
    static CHECKED: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    CHECKED
        .get_or_init(|| {
            let venv = std::env::var_os(deploy::PYTHON_ENV_VAR)
                .filter(|v| !v.is_empty())
                .map_or_else(|| repo_root().join(".venv"), PathBuf::from);
            let python = venv.join("bin/python");
            let requirements = repo_root().join("suites/requirements-dev.txt");
            let pinned = std::fs::read_to_string(&requirements)
                .ok()
                .and_then(|text| {
                    text.lines()
                        .find_map(|l| l.trim().strip_prefix("anyscale==").map(|v| v.trim().to_owned()))
                })
                .ok_or_else(|| format!("{} pins no anyscale==VERSION", requirements.display()))?;
            let fix = "run scripts/setup-python.sh (it installs suites/requirements-dev.txt into .venv)";
            let out = std::process::Command::new(&python)
                .args(["-c", "import anyscale; print(anyscale.__version__)"])
                .output()
                .map_err(|e| format!("cannot run {}: {e}; {fix}", python.display()))?;
            let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if !out.status.success() || version != pinned {
                return Err(format!(
                    "{} has anyscale {:?}, not the pinned {pinned} ({}); {fix}",
                    python.display(),
                    version,
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            Ok(python)
        })
        .clone()
        .unwrap_or_else(|e| panic!("the real anyscale CLI is needed: {e}"))
}
