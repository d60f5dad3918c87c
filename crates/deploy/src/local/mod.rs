//! The local backend: a fresh single-node Ray cluster per deployment, on loopback ports of
//! its own, in a temp dir of its own, with the variant's flags exported before `ray start`.
//!
//! Lifecycle: reserve a port block -> write the loopback shim -> `setsid ray start --head`
//! (a watchdog stops the cluster if this process dies) -> `PUT /api/serve/applications/`
//! -> wait for RUNNING -> one check request per app -> [`LocalCluster`]. Teardown (explicit
//! [`LocalCluster::shutdown`], or `Drop`, also when a deploy future is cancelled):
//! `DELETE` Serve's apps, TERM then KILL every process of the cluster's session (Ray,
//! Serve, HAProxy), remove the temp dir, release the ports.

mod ports;
mod procs;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::apps::ServeApps;
use crate::manifest::{Machine, Manifest, git_revision, now_unix_ms};
use crate::observe::{MetricsInfo, MetricsOptions};
use crate::probe::check_app_classified;
use crate::python::{PythonEnv, PythonEnvOptions};
use crate::serve_api::ServeApi;
use crate::target::{Secret, Target};
use crate::variant::Variant;
use crate::{DeployError, Progress};

pub use ports::BLOCK_SIZE as PORTS_PER_CLUSTER;
use ports::{PortBlock, slot};
pub use procs::cluster_pids;
pub(crate) use procs::cluster_pids_with_zombies;

/// The loopback address every port of a local cluster binds to.
pub const LOOPBACK: &str = "127.0.0.1";

/// The longest cluster dir (`<temp_root>/sb-<pid>-<n>`) HAProxy's socket paths allow.
const MAX_DIR_LEN: usize = 25;

const SHIM: &str = include_str!("../../python/sitecustomize.py");

/// How local clusters are started.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// The Python environment with Ray (created on first use).
    pub python: PythonEnvOptions,
    /// Logical CPUs Ray advertises; `None`: enough for the layout's replicas, at least 8,
    /// whatever the machine has (so an 8-replica layout schedules on 2 cores).
    pub num_cpus: Option<u32>,
    /// Pin every process of the cluster to these CPUs (a `taskset -c` list such as `0-11`), so
    /// that a client pinned to the others does not compete with it; `None`: no pinning.
    pub cpu_affinity: Option<String>,
    /// `--object-store-memory` in bytes; `None`: Ray's default.
    pub object_store_memory: Option<u64>,
    /// Where each cluster's temp dir is made; keep it short (Unix socket paths live there).
    pub temp_root: PathBuf,
    /// Keep the temp dir (Ray's logs) after teardown.
    pub keep_temp_dir: bool,
    /// Ray's token authentication (`RAY_AUTH_MODE=token`, a random token per cluster).
    pub token_auth: bool,
    /// Load the loopback shim, which rebinds the servers Ray 2.60 binds to all interfaces.
    pub loopback_shim: bool,
    /// More environment variables for the cluster (the variant's win over these).
    pub extra_env: BTreeMap<String, String>,
    /// Limit for `ray start`.
    pub start_timeout: Duration,
    /// Limit for the apps to reach RUNNING.
    pub deploy_timeout: Duration,
    /// Limit for the check requests to succeed.
    pub check_timeout: Duration,
    /// The project's root (for the manifest's git revision).
    pub project_root: PathBuf,
    /// How Ray reports its metrics (the same for every variant; `extra_env` and the variant's
    /// flags win over it): default a 1 s report interval and fine latency buckets, so that
    /// [`crate::Observer`] snapshots are meaningful for windows of 10 s and more.
    pub metrics: MetricsOptions,
}

impl LocalOptions {
    /// Defaults for a project checkout.
    pub fn for_project(project: &crate::Project) -> Self {
        Self {
            python: PythonEnvOptions::for_project(project),
            num_cpus: None,
            cpu_affinity: None,
            object_store_memory: None,
            temp_root: short_temp_root(),
            keep_temp_dir: false,
            token_auth: true,
            loopback_shim: true,
            extra_env: BTreeMap::new(),
            start_timeout: Duration::from_secs(120),
            deploy_timeout: Duration::from_secs(600),
            check_timeout: Duration::from_secs(60),
            project_root: project.root.clone(),
            metrics: MetricsOptions::default(),
        }
    }
}

/// The ports of a running local cluster (all on 127.0.0.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalPorts {
    pub gcs: u16,
    pub dashboard: u16,
    pub serve_http: u16,
    pub serve_grpc: u16,
    /// Ray's metrics export port (Prometheus text at `/metrics`).
    pub metrics_export: u16,
    /// HAProxy's Prometheus exporter (`/metrics`), when the variant runs HAProxy.
    pub haproxy_metrics: u16,
}

/// What must be undone, owned from the moment anything was started: dropping it (also by
/// cancelling the deploy future) stops every process of its session, removes its temp dir and
/// releases its ports. Local clusters and servers outside Ray ([`crate::server`]) share it.
#[derive(Debug)]
pub(crate) struct Resources {
    dir: PathBuf,
    needle: String,
    sid: Option<u32>,
    watchdog: Option<procs::Watchdog>,
    keep_dir: bool,
    ports: Option<PortBlock>,
    done: bool,
}

/// The port of a server outside Ray within its block.
pub(crate) const SERVER_PORT_SLOT: u16 = slot::SERVE_HTTP;

impl Resources {
    /// A fresh temp dir `<temp_root>/sb-<pid>-<n>` (`tag` is only for the reader of errors) and
    /// a reserved block of loopback ports.
    pub(crate) fn new(options: &LocalOptions, tag: &str) -> Result<Self, DeployError> {
        let n = CLUSTER_COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = options.temp_root.join(format!("sb-{}-{n}", std::process::id()));
        // HAProxy accepts Unix socket paths of at most 97 bytes, and Ray puts its sockets at
        // <dir>/h/<56-hex node id>/metrics.sock: <dir> may have at most 25 bytes.
        if dir.as_os_str().len() > MAX_DIR_LEN {
            return Err(DeployError::Config {
                what: "temp_root",
                path: dir,
                message: format!(
                    "a cluster dir may have at most {MAX_DIR_LEN} bytes: HAProxy's socket paths below it are limited to 97; use a short temp_root such as /tmp"
                ),
            });
        }
        let block = PortBlock::reserve()?;
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| DeployError::io(format!("creating the {tag} dir {}", dir.display()), e))?;
        Ok(Resources {
            needle: format!("{}/", dir.display()),
            dir,
            sid: None,
            watchdog: None,
            keep_dir: options.keep_temp_dir,
            ports: Some(block),
            done: false,
        })
    }

    /// The temp dir.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The port at `offset` of the reserved block.
    pub(crate) fn port(&self, offset: u16) -> Result<u16, DeployError> {
        self.ports
            .as_ref()
            .map(|b| b.port(offset))
            .ok_or_else(|| DeployError::Teardown("the port block was released".to_owned()))
    }

    /// Owns the session `sid` (a `setsid` child's pid) from now on, with a watchdog that stops it
    /// if this process dies without tearing down.
    pub(crate) fn adopt_session(&mut self, sid: Option<u32>) {
        self.sid = sid;
        if let Some(sid) = sid {
            self.watchdog = Some(procs::Watchdog::start(sid, &self.dir));
        }
    }

    /// The session id and the command-line needle that find its processes.
    pub(crate) fn scope(&self) -> (Option<u32>, String) {
        (self.sid, self.needle.clone())
    }

    /// The live processes of the session now.
    pub(crate) fn pids(&self) -> Vec<u32> {
        procs::cluster_pids(self.sid, &self.needle)
    }

    /// Moves everything out (for a teardown elsewhere), leaving an empty shell whose drop does
    /// nothing.
    pub(crate) fn take(&mut self) -> Resources {
        std::mem::replace(
            self,
            Resources {
                dir: PathBuf::new(),
                needle: String::new(),
                sid: None,
                watchdog: None,
                keep_dir: true,
                ports: None,
                done: true,
            },
        )
    }

    /// Stops every process, removes the temp dir, releases the ports. Blocking.
    pub(crate) fn teardown(&mut self) -> Result<(), DeployError> {
        if self.done {
            return Ok(());
        }
        self.done = true;
        let left = procs::terminate(self.sid, &self.needle, Duration::from_secs(5));
        if let Some(mut w) = self.watchdog.take() {
            w.stop();
        }
        let mut problems = Vec::new();
        if !left.is_empty() {
            problems.push(format!("processes still alive: {}", left.join("; ")));
        }
        if !self.keep_dir
            && let Err(e) = std::fs::remove_dir_all(&self.dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            problems.push(format!("removing {}: {e}", self.dir.display()));
        }
        self.ports.take();
        if problems.is_empty() { Ok(()) } else { Err(DeployError::Teardown(problems.join("; "))) }
    }
}

impl Drop for Resources {
    fn drop(&mut self) {
        let _ = self.teardown();
    }
}

/// A running local Ray cluster with Serve apps deployed.
#[derive(Debug)]
pub struct LocalCluster {
    resources: Resources,
    api: ServeApi,
    ports: LocalPorts,
    log_dir: PathBuf,
    metrics: MetricsInfo,
}

impl LocalCluster {
    /// The cluster's ports.
    pub fn ports(&self) -> LocalPorts {
        self.ports
    }

    /// Ray's temp dir (logs under `session_latest/logs`); removed at teardown unless
    /// `keep_temp_dir`.
    pub fn ray_temp_dir(&self) -> &Path {
        &self.log_dir
    }

    /// The processes of the cluster now (pids).
    pub fn pids(&self) -> Vec<u32> {
        self.resources.pids()
    }

    /// Where its metrics are and how they are reported.
    pub fn metrics(&self) -> &MetricsInfo {
        &self.metrics
    }

    /// An observer of its metrics and processes.
    pub fn observer(&self) -> crate::Observer {
        let (sid, needle) = self.resources.scope();
        crate::Observer::local(
            self.metrics.export_url.clone(),
            self.metrics.haproxy_url.clone(),
            self.metrics.report_interval_ms.max(crate::observe::RAY_MIN_REPORT_INTERVAL_MS),
            sid,
            needle,
        )
    }

    /// The string every process of the cluster has in its command line (its temp dir), for
    /// checks that nothing is left.
    pub fn process_needle(&self) -> &str {
        &self.resources.needle
    }

    /// The session id of the cluster's processes.
    pub fn session_id(&self) -> Option<u32> {
        self.resources.sid
    }

    /// Shuts Serve down, stops every process of the cluster and removes its temp dir;
    /// reports what could not be cleaned.
    pub async fn shutdown(mut self) -> Result<(), DeployError> {
        let delete = self.api.delete_all(Duration::from_secs(10)).await;
        let mut resources = self.resources.take();
        let teardown = tokio::task::spawn_blocking(move || resources.teardown())
            .await
            .map_err(|e| DeployError::Teardown(format!("teardown task failed: {e}")))?;
        teardown?;
        // A failed DELETE is not an error once every process is gone; Serve died with Ray.
        let _ = delete;
        Ok(())
    }
}

/// `std::env::temp_dir()` when it is short enough for HAProxy's socket paths, else /tmp.
fn short_temp_root() -> PathBuf {
    let tmp = std::env::temp_dir();
    if tmp.as_os_str().len() <= 8 { tmp } else { PathBuf::from("/tmp") }
}

/// HAProxy's `[ALERT]` lines from the logs under `hap_dir`, if any (why HAProxy is not up).
fn haproxy_alerts(hap_dir: &Path) -> Vec<String> {
    let mut alerts = Vec::new();
    let Ok(nodes) = std::fs::read_dir(hap_dir) else {
        return alerts;
    };
    for node in nodes.flatten() {
        let Ok(files) = std::fs::read_dir(node.path()) else {
            continue;
        };
        for file in files.flatten() {
            if file.file_name().to_string_lossy().ends_with(".stderr.log")
                && let Ok(text) = std::fs::read_to_string(file.path())
            {
                alerts.extend(text.lines().filter(|l| l.contains("[ALERT]")).map(str::to_owned));
            }
        }
    }
    alerts.truncate(5);
    alerts
}

static CLUSTER_COUNTER: AtomicU32 = AtomicU32::new(0);

/// Ready environments of this process, so that `import ray` is probed once per venv.
static PYTHON_ENVS: Mutex<BTreeMap<PathBuf, PythonEnv>> = Mutex::new(BTreeMap::new());

pub(crate) async fn python_env(
    options: &PythonEnvOptions,
    say: &(dyn Fn(&str) + Send + Sync),
) -> Result<PythonEnv, DeployError> {
    let key = options.key();
    if let Some(env) = PYTHON_ENVS.lock().ok().and_then(|m| m.get(&key).cloned()) {
        return Ok(env);
    }
    if options.interpreter.is_some() {
        say(&format!("using {} as it is (Ray from its PYTHONPATH)", key.display()));
    } else if options.existing.is_some() {
        say(&format!("using the Python environment {} as it is", key.display()));
    } else {
        say(&format!(
            "checking the Python environment {} (installed from {} where missing or out of date)",
            key.display(),
            options.requirements.display()
        ));
    }
    let owned = options.clone();
    // The install's progress crosses from the blocking task to `say` through a channel.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let task = tokio::task::spawn_blocking(move || {
        PythonEnv::ensure(&owned, &|m: &str| {
            let _ = tx.send(m.to_owned());
        })
    });
    tokio::pin!(task);
    let env = loop {
        tokio::select! {
            r = &mut task => break r.map_err(|e| DeployError::Teardown(format!("python task failed: {e}")))??,
            Some(m) = rx.recv() => say(&m),
        }
    };
    if let Ok(mut map) = PYTHON_ENVS.lock() {
        map.insert(key, env.clone());
    }
    Ok(env)
}

fn random_token() -> Result<String, DeployError> {
    use std::io::Read;
    let mut bytes = [0u8; 24];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| DeployError::io("reading /dev/urandom", e))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

pub(crate) fn file_tail(path: &Path) -> String {
    std::fs::read(path).map(|b| crate::python::tail(&b)).unwrap_or_default()
}

/// Starts a local cluster for `variant`, deploys `apps`, checks them, and returns the
/// running cluster with its target and manifest. On any error everything started is torn
/// down before returning.
pub async fn deploy(
    options: &LocalOptions,
    variant: &Variant,
    apps: &ServeApps,
    progress: &Progress<'_>,
) -> Result<(LocalCluster, Target, Manifest), DeployError> {
    let say = |m: &str| progress(&format!("[{}] {m}", variant.name));
    if let Some(list) = &options.cpu_affinity {
        check_cpu_list(list)?;
    }
    let env = python_env(&options.python, &say).await?;
    let mut resources = Resources::new(options, "cluster")?;
    let dir = resources.dir().to_path_buf();
    let base = resources.port(0)?;
    let port = |offset: u16| base + offset;
    let ray_dir = dir.join("ray");
    let hap_dir = dir.join("h");
    let shim_dir = dir.join("shim");
    for d in [&ray_dir, &hap_dir, &shim_dir] {
        std::fs::create_dir_all(d).map_err(|e| DeployError::io(format!("creating {}", d.display()), e))?;
    }
    std::fs::write(shim_dir.join("sitecustomize.py"), SHIM)
        .map_err(|e| DeployError::io("writing the loopback shim", e))?;

    let token = if options.token_auth { Some(Secret::new(random_token()?)) } else { None };
    let needed = (apps.total_cpus().ceil() as u32).max(apps.logical_cpus.unwrap_or(0));
    let num_cpus = options.num_cpus.unwrap_or(needed.max(8));
    let ports = LocalPorts {
        gcs: port(slot::GCS),
        dashboard: port(slot::DASHBOARD),
        serve_http: port(slot::SERVE_HTTP),
        serve_grpc: port(slot::SERVE_GRPC),
        metrics_export: port(slot::METRICS_EXPORT),
        haproxy_metrics: port(slot::HAPROXY_METRICS),
    };

    // The cluster's environment: the caller's without any RAY_* (so only the variant's
    // flags are set) and without PYTHONPATH, then ours, then the variant's.
    let mut cluster_env: BTreeMap<String, String> = BTreeMap::new();
    let mut set = |k: &str, v: String| {
        cluster_env.insert(k.to_owned(), v);
    };
    set("SERVEBENCH_CLUSTER", dir.display().to_string());
    set("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0".to_owned());
    set("RAY_USAGE_STATS_ENABLED", "0".to_owned());
    match &token {
        Some(t) => {
            set("RAY_AUTH_MODE", "token".to_owned());
            set("RAY_AUTH_TOKEN", t.expose().to_owned());
        }
        None => set("RAY_AUTH_MODE", "disabled".to_owned()),
    }
    let mut pythonpath = Vec::new();
    if options.loopback_shim {
        pythonpath.push(shim_dir.display().to_string());
        set("SERVEBENCH_BIND_HOST", LOOPBACK.to_owned());
    }
    pythonpath.push(apps.app_dir.display().to_string());
    // Interpreter mode: Ray itself comes from the caller's PYTHONPATH.
    pythonpath.extend(env.pythonpath.clone());
    set("PYTHONPATH", pythonpath.join(":"));
    let hap = |f: &str| hap_dir.join(f).display().to_string();
    set("RAY_SERVE_HAPROXY_CONFIG_FILE_LOC", hap("haproxy.cfg"));
    set("RAY_SERVE_HAPROXY_SOCKET_PATH", hap("admin.sock"));
    set("RAY_SERVE_HAPROXY_SERVER_STATE_BASE", hap_dir.display().to_string());
    set("RAY_SERVE_HAPROXY_SERVER_STATE_FILE", hap("server-state"));
    set("RAY_SERVE_HAPROXY_METRICS_SOCKET_PATH", hap("metrics.sock"));
    set("RAY_SERVE_HAPROXY_STATS_PORT", port(slot::HAPROXY_STATS).to_string());
    set("RAY_SERVE_HAPROXY_METRICS_PORT", port(slot::HAPROXY_METRICS).to_string());
    set("RAY_SERVE_FALLBACK_PROXY_HTTP_PORT", port(slot::FALLBACK_HTTP).to_string());
    set("RAY_SERVE_FALLBACK_PROXY_GRPC_PORT", port(slot::FALLBACK_GRPC).to_string());
    set("RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT", port(slot::DIRECT_HTTP).to_string());
    set(
        "RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT",
        port(slot::DIRECT_HTTP + slot::DIRECT_HTTP_LEN - 1).to_string(),
    );
    set("RAY_SERVE_DIRECT_INGRESS_MIN_GRPC_PORT", port(slot::DIRECT_GRPC).to_string());
    set(
        "RAY_SERVE_DIRECT_INGRESS_MAX_GRPC_PORT",
        port(slot::DIRECT_GRPC + slot::DIRECT_GRPC_LEN - 1).to_string(),
    );
    for (k, v) in options.metrics.env() {
        set(&k, v);
    }
    for (k, v) in options.extra_env.iter().chain(&variant.env) {
        set(k, v.clone());
    }
    let metrics = MetricsInfo::from_env(&cluster_env, ports.metrics_export, ports.haproxy_metrics);

    let mut args: Vec<String> = vec![
        "start".into(),
        "--head".into(),
        format!("--node-ip-address={LOOPBACK}"),
        format!("--port={}", ports.gcs),
        format!("--dashboard-host={LOOPBACK}"),
        format!("--dashboard-port={}", ports.dashboard),
        format!("--dashboard-agent-listen-port={}", port(slot::DASHBOARD_AGENT_LISTEN)),
        format!("--dashboard-agent-grpc-port={}", port(slot::DASHBOARD_AGENT_GRPC)),
        format!("--runtime-env-agent-port={}", port(slot::RUNTIME_ENV_AGENT)),
        format!("--metrics-export-port={}", port(slot::METRICS_EXPORT)),
        format!("--ray-client-server-port={}", port(slot::RAY_CLIENT_SERVER)),
        format!("--node-manager-port={}", port(slot::NODE_MANAGER)),
        format!("--object-manager-port={}", port(slot::OBJECT_MANAGER)),
        format!("--min-worker-port={}", port(slot::WORKERS)),
        format!("--max-worker-port={}", port(slot::WORKERS + slot::WORKERS_LEN - 1)),
        format!("--temp-dir={}", ray_dir.display()),
        format!("--num-cpus={num_cpus}"),
        "--include-dashboard=true".into(),
        "--disable-usage-stats".into(),
    ];
    if let Some(bytes) = options.object_store_memory {
        args.push(format!("--object-store-memory={bytes}"));
    }

    say(&format!(
        "starting Ray {} on 127.0.0.1 (dashboard :{}, {num_cpus} logical CPUs)",
        env.ray_version, ports.dashboard
    ));
    let log_path = dir.join("ray-start.log");
    let log = std::fs::File::create(&log_path)
        .map_err(|e| DeployError::io(format!("creating {}", log_path.display()), e))?;
    let log_err = log.try_clone().map_err(|e| DeployError::io("duplicating a log handle", e))?;
    let (ray_program, ray_prefix) = env.ray_command();
    let mut command = match &options.cpu_affinity {
        Some(list) => {
            let mut c = tokio::process::Command::new("taskset");
            c.args(["-c", list.as_str(), "setsid"]);
            c
        }
        None => tokio::process::Command::new("setsid"),
    };
    let launcher =
        if options.cpu_affinity.is_some() { "taskset -c LIST setsid ray start" } else { "setsid ray start" };
    command
        .arg(ray_program)
        .args(ray_prefix)
        .args(&args)
        .env_clear()
        .envs(std::env::vars_os().filter(|(k, _)| {
            let k = k.to_string_lossy();
            !k.starts_with("RAY_") && k != "PYTHONPATH"
        }))
        .envs(&cluster_env)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .kill_on_drop(false);
    let mut child = command.spawn().map_err(|e| DeployError::Command {
        command: launcher.to_owned(),
        message: format!("{e} (setsid and taskset come with util-linux)"),
    })?;
    // `setsid` runs `ray start` as the leader of a new session, which every process of the
    // cluster inherits: its pid is the session id.
    resources.adopt_session(child.id());
    let status = tokio::time::timeout(options.start_timeout, child.wait())
        .await
        .map_err(|_| DeployError::RayStart {
            log_dir: ray_dir.clone(),
            message: format!("did not finish within {:?}: {}", options.start_timeout, file_tail(&log_path)),
        })?
        .map_err(|e| DeployError::io("waiting for ray start", e))?;
    if !status.success() {
        return Err(DeployError::RayStart {
            log_dir: ray_dir.join("session_latest/logs"),
            message: format!("{status}: {}", file_tail(&log_path)),
        });
    }

    let api = ServeApi::new(format!("http://{LOOPBACK}:{}", ports.dashboard), token.clone());
    let names: Vec<&str> = apps.apps.iter().map(|a| a.name.as_str()).collect();
    say(&format!("applying the Serve config ({})", names.join(", ")));
    let config = apps.serve_config(LOOPBACK, ports.serve_http, ports.serve_grpc);
    api.put_config(&config, Duration::from_secs(90)).await?;
    let started = Instant::now();
    api.wait_running(&names, options.deploy_timeout, &|m: &str| say(m)).await?;
    say(&format!("applications RUNNING after {:.1} s", started.elapsed().as_secs_f64()));

    let target = Target {
        http_base: format!("http://{LOOPBACK}:{}", ports.serve_http),
        grpc_uri: apps.has_grpc().then(|| format!("http://{LOOPBACK}:{}", ports.serve_grpc)),
        headers: Vec::new(),
        apps: apps.endpoints(),
    };
    if let Err(error) = check_until_ok(&target, options.check_timeout, &say).await {
        let alerts = haproxy_alerts(&hap_dir);
        return Err(if alerts.is_empty() {
            error
        } else {
            DeployError::Check {
                app: "HAProxy".to_owned(),
                message: format!("{error}; {}", alerts.join("; ")),
            }
        });
    }

    let (git_revision, git_dirty) = git_revision(&options.project_root);
    let manifest = Manifest {
        schema_version: crate::manifest::MANIFEST_SCHEMA_VERSION,
        created_unix_ms: now_unix_ms(),
        backend: "local".to_owned(),
        variant: variant.name.clone(),
        flags: variant.env.clone(),
        layout: Some(apps.layout.clone()),
        replicas: apps.replica_counts(),
        ray_version: Some(env.ray_version.clone()),
        python_version: Some(env.python_version.clone()),
        ray_logical_cpus: Some(num_cpus),
        ray_cpu_affinity: options.cpu_affinity.clone(),
        ray_token_auth: Some(token.is_some()),
        service_name: None,
        image_uri: None,
        machine: Machine::current(),
        git_revision,
        git_dirty,
        target: target.clone(),
        metrics: Some(metrics.clone()),
    };
    let cluster = LocalCluster { resources, api, ports, log_dir: ray_dir, metrics };
    Ok((cluster, target, manifest))
}

/// A `taskset -c` CPU list: numbers and ranges separated by commas (`0-11`, `0,2,4-7`), each
/// range ascending.
pub fn check_cpu_list(list: &str) -> Result<(), DeployError> {
    parse_cpu_list(list).map(|_| ())
}

/// The CPUs of a `taskset -c` list (see [`check_cpu_list`]), ascending, without repeats.
pub fn parse_cpu_list(list: &str) -> Result<Vec<usize>, DeployError> {
    let bad = |why: &str| DeployError::Invalid {
        what: "cpu_affinity",
        message: format!("{list:?} is not a CPU list like 0-11 or 0,2,4-7: {why}"),
    };
    if list.is_empty() {
        return Err(bad("it is empty"));
    }
    let mut cpus = Vec::new();
    for part in list.split(',') {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let lo: usize = lo.trim().parse().map_err(|_| bad(&format!("{part:?} is not a number or range")))?;
        let hi: usize = hi.trim().parse().map_err(|_| bad(&format!("{part:?} is not a number or range")))?;
        if lo > hi {
            return Err(bad(&format!("{part:?} runs backwards")));
        }
        if hi >= 4096 {
            return Err(bad(&format!("{part:?} names a CPU beyond 4095")));
        }
        cpus.extend(lo..=hi);
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(cpus)
}

/// A CPU list in `taskset -c` form, ranges folded (`[0, 1, 2, 5]` -> `0-2,5`).
pub fn format_cpu_list(cpus: &[usize]) -> String {
    let mut sorted = cpus.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j + 1 < sorted.len() && sorted[j + 1] == sorted[j] + 1 {
            j += 1;
        }
        parts.push(if i == j { sorted[i].to_string() } else { format!("{}-{}", sorted[i], sorted[j]) });
        i = j + 1;
    }
    parts.join(",")
}

/// Sends each app's check request until it succeeds or `timeout` runs out (a route can
/// take a moment to reach the proxy or HAProxy after RUNNING).
pub(crate) async fn check_until_ok(
    target: &Target,
    timeout: Duration,
    say: &(dyn Fn(&str) + Send + Sync),
) -> Result<(), DeployError> {
    let deadline = Instant::now() + timeout;
    for app in &target.apps {
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let limit = remaining.clamp(Duration::from_secs(1), Duration::from_secs(30));
            match check_app_classified(target, app, limit).await {
                Ok(()) => {
                    say(&format!("check of {} ({}) passed", app.name, app.check.protocol()));
                    break;
                }
                Err(f) if !f.transient || Instant::now() >= deadline => return Err(f.error),
                Err(_) => tokio::time::sleep(Duration::from_millis(300)).await,
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{check_cpu_list, format_cpu_list, parse_cpu_list};

    #[test]
    fn cpu_lists_round_trip() {
        assert_eq!(parse_cpu_list("0,2,4-7,3").expect("parses"), vec![0, 2, 3, 4, 5, 6, 7]);
        assert_eq!(format_cpu_list(&[0, 2, 3, 4, 5, 6, 7]), "0,2-7");
        assert_eq!(format_cpu_list(&[12, 13, 14, 15]), "12-15");
        assert_eq!(format_cpu_list(&[]), "");
        assert!(parse_cpu_list("0-5000").is_err());
    }

    #[test]
    fn cpu_lists_are_checked() {
        for ok in ["0", "0-11", "0,2,4-7", "12-15"] {
            assert!(check_cpu_list(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a", "0-", "3-1", "0;1", "-1", "0,,1"] {
            let err = check_cpu_list(bad).expect_err(bad).to_string();
            assert!(err.contains("is not a CPU list"), "{err}");
        }
    }
}
