//! Servers outside Ray Serve (`[[server]]` of `apps.toml`): a bare engine measured as a study's
//! baseline, the stand-in for `vllm serve`. The server runs as a process of its own session on a
//! free loopback port, with the suite's Python and the apps' code on its `PYTHONPATH`; it is
//! handed out once its check request passes and torn down like a local cluster (TERM, then KILL
//! of its whole session; a watchdog does it if this process dies first).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::apps::ServerDef;
use crate::local::{LOOPBACK, LocalOptions, Resources, python_env};
use crate::manifest::{Machine, Manifest, git_revision, now_unix_ms};
use crate::probe::check_app_classified;
use crate::target::{AppEndpoint, Target};
use crate::{DeployError, Progress};

/// A running server; stopped by [`ServerProcess::shutdown`] or on drop.
#[derive(Debug)]
pub struct ServerProcess {
    resources: Resources,
    port: u16,
}

impl ServerProcess {
    /// Its loopback port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The session id and command-line needle of its processes.
    pub(crate) fn scope(&self) -> (Option<u32>, String) {
        self.resources.scope()
    }

    /// The processes of the server now (pids).
    pub fn pids(&self) -> Vec<u32> {
        self.resources.pids()
    }

    /// Stops every process of the server and removes its temp dir.
    pub async fn shutdown(mut self) -> Result<(), DeployError> {
        let mut resources = self.resources.take();
        tokio::task::spawn_blocking(move || resources.teardown())
            .await
            .map_err(|e| DeployError::Teardown(format!("teardown task failed: {e}")))?
    }
}

/// `--key value` per argument (`true`: a bare `--key`; `false`/null: left out), keys with `_` as
/// `-`.
fn flag_args(args: &Map<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in args {
        let flag = format!("--{}", k.replace('_', "-"));
        match v {
            Value::Bool(true) => out.push(flag),
            Value::Bool(false) | Value::Null => {}
            Value::String(s) => out.extend([flag, s.clone()]),
            other => out.extend([flag, other.to_string()]),
        }
    }
    out
}

/// Starts `def` with `args` merged over its own, waits until its check request passes, and returns
/// it with its target and manifest. On any error everything started is stopped first.
pub async fn start(
    options: &LocalOptions,
    def: &ServerDef,
    app_dir: &Path,
    args: &Map<String, Value>,
    progress: &Progress<'_>,
) -> Result<(ServerProcess, Target, Manifest), DeployError> {
    let say = |m: &str| progress(&format!("[{}] {m}", def.name));
    let env = python_env(&options.python, &say).await?;
    let mut resources = Resources::new(options, "srv")?;
    let port = resources.port(crate::local::SERVER_PORT_SLOT)?;
    let dir = resources.dir().to_path_buf();
    let mut all_args = def.args.clone();
    all_args.extend(args.clone());
    let expand = |a: &str| {
        a.replace("{python}", &env.python().display().to_string())
            .replace("{port}", &port.to_string())
            .replace("{app_dir}", &app_dir.display().to_string())
    };
    let mut argv: Vec<String> = def.command.iter().map(|a| expand(a)).collect();
    argv.extend(flag_args(&all_args));
    let mut pythonpath = vec![app_dir.display().to_string()];
    pythonpath.extend(env.pythonpath.clone());
    let log_path = dir.join("server.log");
    let log = std::fs::File::create(&log_path)
        .map_err(|e| DeployError::io(format!("creating {}", log_path.display()), e))?;
    let log_err = log.try_clone().map_err(|e| DeployError::io("duplicating a log handle", e))?;
    let mut command = match &options.cpu_affinity {
        Some(list) => {
            let mut c = tokio::process::Command::new("taskset");
            c.args(["-c", list.as_str(), "setsid"]);
            c
        }
        None => tokio::process::Command::new("setsid"),
    };
    command
        .args(&argv)
        .env_clear()
        .envs(std::env::vars_os().filter(|(k, _)| {
            let k = k.to_string_lossy();
            !k.starts_with("RAY_") && k != "PYTHONPATH"
        }))
        .env("PYTHONPATH", pythonpath.join(":"))
        .env("SERVEBENCH_CLUSTER", dir.display().to_string())
        .envs(&def.env)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .kill_on_drop(false);
    say(&format!("starting {} on {LOOPBACK}:{port}", argv.first().map_or("", String::as_str)));
    let mut child = command.spawn().map_err(|e| DeployError::Command {
        command: argv.join(" "),
        message: format!("{e} (setsid and taskset come with util-linux)"),
    })?;
    resources.adopt_session(child.id());

    let target = Target {
        http_base: format!("http://{LOOPBACK}:{port}"),
        grpc_uri: None,
        headers: Vec::new(),
        apps: vec![AppEndpoint { name: def.name.clone(), check: def.check.clone() }],
    };
    let started = Instant::now();
    let app = &target.apps[0];
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(DeployError::Command {
                command: argv.join(" "),
                message: format!(
                    "exited ({status}) before it answered: {}",
                    crate::local::file_tail(&log_path)
                ),
            });
        }
        match check_app_classified(&target, app, Duration::from_secs(10)).await {
            Ok(()) => break,
            Err(f) if !f.transient || started.elapsed() > options.start_timeout => {
                return Err(DeployError::Check {
                    app: def.name.clone(),
                    message: format!("{}; its log: {}", f.error, crate::local::file_tail(&log_path)),
                });
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(300)).await,
        }
    }
    say(&format!("answering after {:.1} s", started.elapsed().as_secs_f64()));
    let (git_revision, git_dirty) = git_revision(&options.project_root);
    let mut flags = BTreeMap::new();
    flags.insert("command".to_owned(), argv.join(" "));
    let manifest = Manifest {
        schema_version: crate::manifest::MANIFEST_SCHEMA_VERSION,
        created_unix_ms: now_unix_ms(),
        backend: "server".to_owned(),
        variant: def.name.clone(),
        flags,
        layout: None,
        replicas: BTreeMap::new(),
        ray_version: None,
        python_version: Some(env.python_version.clone()),
        ray_logical_cpus: None,
        ray_cpu_affinity: options.cpu_affinity.clone(),
        ray_token_auth: None,
        service_name: None,
        image_uri: None,
        machine: Machine::current(),
        git_revision,
        git_dirty,
        target: target.clone(),
        metrics: None,
    };
    Ok((ServerProcess { resources, port }, target, manifest))
}
