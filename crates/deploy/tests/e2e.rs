//! End to end against real Ray 2.60: for the baseline and all-on variants (concurrently,
//! which also shows that two clusters do not clash), start a local cluster, deploy the
//! unary, streaming and both gRPC apps, check HTTP, SSE and gRPC answers (gRPC also with
//! the real Python grpc client), check that every listening socket of the cluster is on
//! loopback and that the flags reached Ray's processes, tear down, and check that no
//! process of the cluster is left. Then a broken app must fail with Serve's DEPLOY_FAILED
//! message and leave nothing behind.
//!
//! Runs when SERVEBENCH_E2E=1 (creating the project's .venv if needed) or when .venv has
//! Ray; otherwise it is reported as ignored (see build.rs).
#![allow(clippy::print_stderr)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use deploy::{Backend, DeployError, DeployRequest, Deployment, LocalOptions, Project, Target, Variant};
use loadgen::{Probe, Workload};

use crate::support::{features_catalog, features_variants, repo_root};

fn progress(line: &str) {
    eprintln!("{line}");
}

fn keep_temp() -> bool {
    std::env::var_os("SERVEBENCH_KEEP_TEMP").is_some()
}

fn options(temp_root: &Path) -> LocalOptions {
    let mut options = LocalOptions::for_project(&Project::at(repo_root()));
    options.temp_root = temp_root.to_path_buf();
    options.deploy_timeout = Duration::from_secs(240);
    // SERVEBENCH_KEEP_TEMP=1 keeps Ray's logs for debugging (the leftover check then fails).
    options.keep_temp_dir = keep_temp();
    options
}

/// Sends one request of the loadgen workload `spec` (TOML) to `target`; the number of events it
/// carried.
async fn call(target: &Target, spec: &str) -> Result<u32, loadgen::Failure> {
    let spec: loadgen::WorkloadSpec = toml::from_str(spec).expect("workload spec");
    let workload = spec.build(&target.endpoint()).expect("workload builds");
    let mut conn = workload.connect().await?;
    let mut probe = Probe::detached();
    workload.call(&mut conn, 7, &mut probe).await?;
    Ok(probe.events())
}

async fn check_http(target: &Target) {
    for size in [10 * 1024, 0, 1, 300 * 1024] {
        let spec = format!(
            "protocol = 'http'\nmethod = 'POST'\npath = '/echo'\nbody_size = {size}\nexpect = {{ echo = true }}"
        );
        call(target, &spec).await.unwrap_or_else(|f| panic!("POST {size} bytes: {f:?}"));
    }
    call(target, "protocol = 'http'\npath = '/echo'").await.expect("GET /echo");

    let events =
        call(target, "protocol = 'sse'\npath = '/streaming'\nevents = 50").await.expect("GET /streaming");
    assert_eq!(events, 50);
    let started = Instant::now();
    call(target, "protocol = 'sse'\npath = '/streaming?chunks=5&ttft_ms=300&token_delay_ms=50'\nevents = 5")
        .await
        .expect("GET with delays");
    assert!(started.elapsed() >= Duration::from_millis(500), "ttft and token delays");
    call(
        target,
        "protocol = 'sse'\nmethod = 'POST'\npath = '/streaming'\nbody = '{\"chunks\": 2}'\nevents = 2",
    )
    .await
    .expect("POST with a JSON body");
    call(target, "protocol = 'http'\npath = '/streaming?chunks=x'\nexpect = { status = 400 }")
        .await
        .expect("bad parameter");
}

async fn check_grpc(target: &Target) {
    call(
        target,
        "protocol = 'grpc'\ncall = 'echo'\npayload_size = 10240\nmetadata = { application = 'grpc_unary' }",
    )
    .await
    .expect("Echo");
    let events = call(
        target,
        "protocol = 'grpc'\ncall = 'stream'\nchunks = 50\nmetadata = { application = 'grpc_streaming' }",
    )
    .await
    .expect("Stream");
    assert_eq!(events, 50);
    let base = target.grpc_uri.as_deref().expect("gRPC address");

    // The same through the real Python grpc client.
    let python = repo_root().join(".venv/bin/python");
    let python =
        std::env::var_os(deploy::PYTHON_ENV_VAR).map(|v| Path::new(&v).join("bin/python")).unwrap_or(python);
    let address = base.trim_start_matches("http://").to_owned();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/grpc_check.py");
    let app_dir = features_catalog().app_dir;
    let out = tokio::process::Command::new(python)
        .arg(script)
        .arg(address)
        .env("PYTHONPATH", app_dir)
        .output()
        .await
        .expect("run grpc_check.py");
    assert!(
        out.status.success(),
        "grpc_check.py: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// (pid, "address:port") of every listening TCP socket of `pids`.
fn listening_sockets(pids: &[u32]) -> Vec<(u32, String)> {
    let mut listeners: BTreeMap<String, String> = BTreeMap::new();
    for (file, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() > 9 && f[3] == "0A" {
                listeners.insert(f[9].to_owned(), decode_address(f[1], v6));
            }
        }
    }
    let mut found = Vec::new();
    for pid in pids {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(link) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let link = link.display().to_string();
            if let Some(inode) = link.strip_prefix("socket:[").and_then(|s| s.strip_suffix(']'))
                && let Some(addr) = listeners.get(inode)
            {
                found.push((*pid, addr.clone()));
            }
        }
    }
    found
}

fn decode_address(hex: &str, v6: bool) -> String {
    let (ip, port) = hex.split_once(':').unwrap_or((hex, "0"));
    let port = u16::from_str_radix(port, 16).unwrap_or(0);
    let bytes: Vec<u8> =
        (0..ip.len() / 2).map(|i| u8::from_str_radix(&ip[2 * i..2 * i + 2], 16).unwrap_or(0)).collect();
    // /proc stores each 32-bit word in host (little-endian) order.
    let words: Vec<u8> = bytes.chunks(4).flat_map(|w| w.iter().rev().copied()).collect();
    if v6 {
        let mut segs = [0u16; 8];
        for (i, s) in segs.iter_mut().enumerate() {
            *s = u16::from_be_bytes([words[2 * i], words[2 * i + 1]]);
        }
        format!("[{}]:{port}", std::net::Ipv6Addr::from(segs))
    } else {
        format!("{}:{port}", std::net::Ipv4Addr::new(words[0], words[1], words[2], words[3]))
    }
}

fn is_loopback(addr: &str) -> bool {
    addr.starts_with("127.") || addr.starts_with("[::1]") || addr.starts_with("[::ffff:127.")
}

fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

fn environ(pid: u32) -> BTreeMap<String, String> {
    std::fs::read(format!("/proc/{pid}/environ"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter_map(|kv| {
                    let kv = String::from_utf8_lossy(kv);
                    kv.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned()))
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn exercise(deployment: Deployment, variant: &Variant, manifest_path: &Path) {
    let target = deployment.target().clone();
    let cluster = deployment.local().expect("local");
    assert!(target.http_base.starts_with("http://127.0.0.1:"));
    check_http(&target).await;
    check_grpc(&target).await;

    let pids = cluster.pids();
    assert!(pids.len() > 5, "Ray, Serve and replicas: {pids:?}");
    let open: Vec<(u32, String)> = listening_sockets(&pids)
        .into_iter()
        .filter(|(_, a)| !is_loopback(a))
        .map(|(pid, a)| (pid, format!("{a} {}", cmdline(pid))))
        .collect();
    assert!(open.is_empty(), "[{}] ports open beyond loopback: {open:?}", variant.name);

    let haproxy = pids.iter().any(|p| cmdline(*p).contains("haproxy"));
    assert_eq!(
        haproxy,
        variant.env.get("RAY_SERVE_ENABLE_HA_PROXY").map(String::as_str) == Some("1"),
        "[{}] HAProxy runs exactly when the flag is on",
        variant.name
    );
    let raylet = pids.iter().copied().find(|p| cmdline(*p).contains("/raylet ")).expect("raylet");
    let raylet_env = environ(raylet);
    // The metrics settings, the same for every variant (deploy::MetricsOptions).
    assert_eq!(raylet_env.get("RAY_metrics_report_interval_ms").map(String::as_str), Some("1000"));
    assert!(raylet_env.contains_key("RAY_SERVE_REQUEST_LATENCY_BUCKETS_MS"));
    let flags: BTreeMap<String, String> = raylet_env
        .into_iter()
        .filter(|(k, _)| {
            k.starts_with("RAY_SERVE_")
                && !k.starts_with("RAY_SERVE_HAPROXY_")
                && !k.starts_with("RAY_SERVE_FALLBACK_")
                && !k.starts_with("RAY_SERVE_DIRECT_INGRESS_")
                && k != "RAY_SERVE_REQUEST_LATENCY_BUCKETS_MS"
        })
        .collect();
    let mut expected = variant.env.clone();
    expected.remove("RAY_SERVE_HAPROXY_TCP_NODELAY");
    assert_eq!(flags, expected, "[{}] Ray's processes got exactly the variant's flags", variant.name);

    let manifest = deployment.manifest();
    assert_eq!(manifest.ray_version.as_deref(), Some("2.60.0"));
    assert_eq!(manifest.flags, variant.env);
    assert_eq!(manifest.replicas["unary/Echo"], 1);
    assert_eq!(manifest.ray_token_auth, Some(true));
    assert!(manifest.machine.cores > 0);
    let written = std::fs::read_to_string(manifest_path).expect("manifest written");
    assert!(written.contains("\"ray_version\": \"2.60.0\""), "{written}");

    let needle = cluster.process_needle().to_owned();
    let sid = cluster.session_id();
    let started = Instant::now();
    deployment.shutdown().await.expect("clean teardown");
    eprintln!("[{}] teardown took {:.1} s", variant.name, started.elapsed().as_secs_f64());
    let left = deploy::cluster_pids(sid, &needle);
    assert!(left.is_empty(), "[{}] left behind: {left:?}", variant.name);
    if !keep_temp() {
        assert!(!Path::new(needle.trim_end_matches('/')).exists(), "temp dir removed");
    }
}

enum TempRoot {
    Owned(tempfile::TempDir),
    Kept(std::path::PathBuf),
}

impl TempRoot {
    fn path(&self) -> &Path {
        match self {
            Self::Owned(dir) => dir.path(),
            Self::Kept(path) => path,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(servebench_e2e),
    ignore = "needs Ray: run with SERVEBENCH_E2E=1 (installs .venv), or create .venv (crates/deploy/README.md)"
)]
async fn real_ray_baseline_and_all_on_answer_http_sse_grpc_and_leave_nothing() {
    let _turn = crate::support::real_ray_turn().await;
    let started = Instant::now();
    // HAProxy's socket paths (97 bytes at most) live under the cluster dirs: keep it short.
    let temp_dir = tempfile::Builder::new().prefix("e").tempdir_in("/tmp").expect("temp root");
    let temp_root = if keep_temp() { TempRoot::Kept(temp_dir.keep()) } else { TempRoot::Owned(temp_dir) };
    let backend = Arc::new(Backend::Local(options(temp_root.path())));
    let variants = features_variants();
    let apps = features_catalog()
        .select(&["unary", "streaming", "grpc_unary", "grpc_streaming"], "1replica", &Default::default())
        .expect("apps");
    let mut runs = Vec::new();
    for name in ["baseline", "all_on"] {
        let variant = variants.get(name).expect("variant").clone();
        let manifest_path = temp_root.path().join(format!("{name}-manifest.json"));
        let request = DeployRequest {
            variant: variant.clone(),
            apps: apps.clone(),
            manifest_path: Some(manifest_path.clone()),
        };
        let backend = backend.clone();
        runs.push(tokio::spawn(async move {
            let t = Instant::now();
            let deployment = backend.deploy(&request, &progress).await.expect("deploy");
            eprintln!("[{name}] ready after {:.1} s", t.elapsed().as_secs_f64());
            exercise(deployment, &variant, &manifest_path).await;
        }));
    }
    for run in runs {
        run.await.expect("variant run");
    }

    // A broken app: DEPLOY_FAILED with Serve's own message, and nothing left behind.
    let mut broken = features_catalog().select(&["unary"], "1replica", &Default::default()).expect("apps");
    broken.apps[0].import_path = "unary_app.no_such_module:app".to_owned();
    let request = DeployRequest {
        variant: variants.get("baseline").expect("baseline").clone(),
        apps: broken,
        manifest_path: None,
    };
    let err = backend.deploy(&request, &progress).await.expect_err("DEPLOY_FAILED");
    match &err {
        DeployError::DeployFailed { app, message } => {
            assert_eq!(app, "unary");
            assert!(message.contains("no_such_module"), "{message}");
        }
        other => panic!("expected DEPLOY_FAILED, got {other}"),
    }

    let marker = format!("{}/", temp_root.path().display());
    let left = deploy::cluster_pids(None, &marker);
    let described: BTreeSet<String> = left.iter().map(|p| format!("{p} {}", cmdline(*p))).collect();
    assert!(described.is_empty(), "processes of the test left: {described:?}");
    if keep_temp() {
        eprintln!("kept {}", temp_root.path().display());
        return;
    }
    let dirs: Vec<_> = std::fs::read_dir(temp_root.path())
        .expect("temp root")
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.path())
        .collect();
    assert!(dirs.is_empty(), "cluster temp dirs left: {dirs:?}");
    eprintln!("end-to-end test took {:.1} s", started.elapsed().as_secs_f64());
}
