//! `deploy` stands up Ray Serve with a chosen set of performance flags and hands the suites
//! a [`Target`] to measure; it knows Ray, Anyscale and URLs, and nothing about load.
//!
//! - [`Variant`]s (flag sets) and the [`AppCatalog`] (apps and replica layouts) are data,
//!   read from `suites/<suite>/configs/{variants,apps}.toml`.
//! - A [`Backend`] turns a [`DeployRequest`] (variant + apps) into a [`Deployment`]:
//!   [`Backend::Local`] starts a fresh loopback-only Ray cluster per deployment (the
//!   default), [`Backend::Anyscale`] deploys an Anyscale service through the CLI, and
//!   [`Backend::External`] points at an endpoint someone else runs.
//! - A [`Deployment`] is a guard: [`Deployment::shutdown`] tears down and reports errors;
//!   dropping it (an error path, a panic, a cancelled future) tears down too. For a local
//!   cluster a watchdog process also stops it if this process dies without either.
//! - A server outside Ray (`[[server]]` of `apps.toml`, a bare engine) is started as a process by
//!   [`start_server`], and is a [`Deployment`] like the others.
//! - [`run_with_deployments`] is the loop body "deploy -> measure -> teardown", stopped by a
//!   [`CancellationToken`] the caller owns (this crate installs no signal handler).
//!
//! Library code never prints: progress goes to a [`Progress`] callback.

mod anyscale;
mod apps;
mod error;
mod http;
mod local;
mod manifest;
mod observe;
mod probe;
mod project;
mod python;
mod serve_api;
mod server;
mod target;
mod variant;
mod yaml;

use std::path::PathBuf;
use std::time::Duration;

pub use crate::anyscale::{
    AnyscaleOptions, AnyscaleService, AnyscaleStatus, RAY_SERVE_FLAGS, check_grpc_compat,
    parse_status as parse_anyscale_status, ray_serve_flag_defaults,
    redact_cli_output as redact_anyscale_output, service_config, service_name,
};
pub use crate::apps::{
    AppCatalog, AppDef, AppSpec, DeploymentOptions, DeploymentSpec, Layout, ReplicaCount, ServeApps,
    ServerDef,
};
pub use crate::error::DeployError;
pub use crate::local::{
    LOOPBACK, LocalCluster, LocalOptions, LocalPorts, PORTS_PER_CLUSTER, check_cpu_list, cluster_pids,
    format_cpu_list, parse_cpu_list,
};
pub use crate::manifest::{MANIFEST_SCHEMA_VERSION, Machine, Manifest, git_revision};
pub use crate::observe::{
    CpuView, DeploymentMetrics, Exposition, HaproxyMetrics, Histogram, Ingress, IngressApp, Labels, Latency,
    MachineCpu, MetricKind, MetricsInfo, MetricsOptions, MetricsView, NotObservable, Observer, ParseError,
    RAY_DEFAULT_REPORT_INTERVAL_MS, RAY_MIN_REPORT_INTERVAL_MS, RoleCpu, SERVE_METRICS_CACHE_MS,
    SERVER_VIEW_SCHEMA, Sample, ServerView, Snapshot, fine_latency_buckets_ms,
};
pub use crate::probe::check_app;
pub use crate::project::Project;
pub use crate::python::{
    PYTHON_ENV_VAR, PYTHON_INTERPRETER_VAR, PythonEnv, PythonEnvOptions, PythonError, RayCli,
};
pub use crate::serve_api::{AppStatus, DeploymentStatus, ServeApi, parse_status};
pub use crate::server::ServerProcess;
pub use crate::target::{AppEndpoint, Header, Secret, Target};
pub use crate::variant::{Variant, VariantSet};
pub use crate::yaml::to_yaml;
pub use loadgen::CancellationToken;

/// Receives one line of progress at a time (the library never prints).
pub type Progress<'a> = dyn Fn(&str) + Send + Sync + 'a;

/// A progress callback that drops everything.
pub fn quiet(_: &str) {}

/// What to deploy: a variant's flags and a selection of apps in a layout.
#[derive(Debug, Clone)]
pub struct DeployRequest {
    /// The flags.
    pub variant: Variant,
    /// The apps and their replica layout.
    pub apps: ServeApps,
    /// Where to write the manifest (JSON) once the deployment is ready, if anywhere.
    pub manifest_path: Option<PathBuf>,
}

/// An endpoint run by someone else (KubeRay, a VM cluster): nothing is deployed or torn
/// down; the apps of the request say what is expected behind it.
#[derive(Debug, Clone)]
pub struct ExternalOptions {
    /// Base URL of the HTTP ingress, e.g. `http://10.0.0.5:8000`.
    pub http_base: String,
    /// URI of the gRPC ingress, e.g. `http://10.0.0.5:9000`.
    pub grpc_uri: Option<String>,
    /// Bearer token to send, if the endpoint wants one.
    pub token: Option<Secret>,
    /// Send one check request per app before handing out the target (http:// only).
    pub check: bool,
}

/// Where deployments go.
#[derive(Debug, Clone)]
pub enum Backend {
    /// A fresh local Ray cluster per deployment (the default).
    Local(LocalOptions),
    /// An Anyscale service per deployment.
    Anyscale(AnyscaleOptions),
    /// A running endpoint given by URL.
    External(ExternalOptions),
}

#[derive(Debug)]
enum Handle {
    Local(LocalCluster),
    Anyscale(AnyscaleService),
    Server(ServerProcess),
    External,
}

/// A ready deployment: its target, its manifest, and the guard that tears it down.
#[derive(Debug)]
pub struct Deployment {
    target: Target,
    manifest: Manifest,
    handle: Handle,
}

impl Backend {
    /// The default backend for a project: local clusters with default options.
    pub fn local_for(project: &Project) -> Self {
        Self::Local(LocalOptions::for_project(project))
    }

    /// Deploys `request` and returns once every app answered its check request (local) or
    /// the service is running (Anyscale). On error nothing is left running.
    pub async fn deploy(
        &self,
        request: &DeployRequest,
        progress: &Progress<'_>,
    ) -> Result<Deployment, DeployError> {
        let deployment = match self {
            Self::Local(options) => {
                let (cluster, target, manifest) =
                    local::deploy(options, &request.variant, &request.apps, progress).await?;
                Deployment { target, manifest, handle: Handle::Local(cluster) }
            }
            Self::Anyscale(options) => {
                let (service, target, manifest) =
                    anyscale::deploy(options, &request.variant, &request.apps, progress).await?;
                Deployment { target, manifest, handle: Handle::Anyscale(service) }
            }
            Self::External(options) => {
                external(options, &request.variant, Some(&request.apps), request.apps.endpoints(), progress)
                    .await?
            }
        };
        if let Some(path) = &request.manifest_path {
            deployment.manifest.write(path)?;
        }
        Ok(deployment)
    }
}

async fn external(
    options: &ExternalOptions,
    variant: &Variant,
    apps: Option<&ServeApps>,
    endpoints: Vec<AppEndpoint>,
    progress: &Progress<'_>,
) -> Result<Deployment, DeployError> {
    let http_base = check_base_url(&options.http_base)?;
    if let Some(g) = &options.grpc_uri {
        check_base_url(g)?;
    }
    let target = Target {
        http_base,
        grpc_uri: options.grpc_uri.clone(),
        headers: options.token.as_ref().map(|t| Header::bearer(t.expose())).into_iter().collect(),
        apps: endpoints,
    };
    if options.check {
        let say = |m: &str| progress(&format!("[{}] {m}", variant.name));
        local::check_until_ok(&target, std::time::Duration::from_secs(30), &say).await?;
    }
    let project = Project::discover();
    let (git_revision, git_dirty) = manifest::git_revision(&project.root);
    let manifest = Manifest {
        schema_version: MANIFEST_SCHEMA_VERSION,
        created_unix_ms: manifest::now_unix_ms(),
        backend: "external".to_owned(),
        variant: variant.name.clone(),
        flags: variant.env.clone(),
        layout: apps.map(|a| a.layout.clone()),
        replicas: apps.map(ServeApps::replica_counts).unwrap_or_default(),
        ray_version: None,
        python_version: None,
        ray_logical_cpus: None,
        ray_cpu_affinity: None,
        ray_token_auth: None,
        service_name: None,
        image_uri: None,
        machine: Machine::current(),
        git_revision,
        git_dirty,
        target: target.clone(),
        metrics: None,
    };
    Ok(Deployment { target, manifest, handle: Handle::External })
}

/// Checks a base URL given by a user (`http://HOST:PORT`, maybe with a path): a known scheme, a
/// host, a port in range, no query string, no user info. Returns it without a trailing slash; the
/// error never shows the URL's credentials.
pub fn check_base_url(url: &str) -> Result<String, DeployError> {
    loadgen::Endpoint::new(url)
        .url("/")
        .map_err(|e| DeployError::Invalid { what: "URL", message: e.to_string() })?;
    Ok(url.trim().trim_end_matches('/').to_owned())
}

/// Starts the server `def` (a bare engine outside Ray) with `args` merged over its own: a local
/// process when `external` is `None`, else the running endpoint it names (nothing is started).
/// Once its check request passes, its manifest is written to `manifest_path`, if given.
pub async fn start_server(
    local: &LocalOptions,
    external_at: Option<&ExternalOptions>,
    def: &ServerDef,
    app_dir: &std::path::Path,
    args: &serde_json::Map<String, serde_json::Value>,
    manifest_path: Option<&std::path::Path>,
    progress: &Progress<'_>,
) -> Result<Deployment, DeployError> {
    let deployment = match external_at {
        Some(options) => {
            let variant = Variant {
                name: def.name.clone(),
                description: def.description.clone(),
                env: Default::default(),
            };
            let endpoints = vec![AppEndpoint { name: def.name.clone(), check: def.check.clone() }];
            external(options, &variant, None, endpoints, progress).await?
        }
        None => {
            let (process, target, manifest) = server::start(local, def, app_dir, args, progress).await?;
            Deployment { target, manifest, handle: Handle::Server(process) }
        }
    };
    if let Some(path) = manifest_path {
        deployment.manifest.write(path)?;
    }
    Ok(deployment)
}

impl Deployment {
    /// Where clients reach it.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// What it is.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The local cluster, for a local deployment.
    pub fn local(&self) -> Option<&LocalCluster> {
        match &self.handle {
            Handle::Local(cluster) => Some(cluster),
            _ => None,
        }
    }

    /// The Anyscale service, for an Anyscale deployment.
    pub fn anyscale(&self) -> Option<&AnyscaleService> {
        match &self.handle {
            Handle::Anyscale(service) => Some(service),
            _ => None,
        }
    }

    /// An observer of its server side ([`Observer::snapshot`], [`Snapshot::delta`]): Ray's
    /// metrics and every process's CPU for a local cluster, the processes' CPU for a server
    /// outside Ray. Anyscale services and external endpoints have none; the error says why.
    pub fn observer(&self) -> Result<Observer, NotObservable> {
        match &self.handle {
            Handle::Local(cluster) => Ok(cluster.observer()),
            Handle::Server(process) => {
                let (sid, needle) = process.scope();
                Ok(Observer::processes(sid, needle))
            }
            Handle::Anyscale(_) => Err(NotObservable {
                reason: "an Anyscale service: its metrics export port and processes are inside Anyscale's cluster, not reachable from here".to_owned(),
            }),
            Handle::External => Err(NotObservable {
                reason: "an external endpoint: its Ray metrics export port is not known here and its processes are not on this machine".to_owned(),
            }),
        }
    }

    /// Whether it still serves: every process of a local cluster or server is alive, and every
    /// app answers its check request within `timeout`. The error says what is wrong.
    pub async fn check(&self, timeout: Duration) -> Result<(), DeployError> {
        let gone = match &self.handle {
            Handle::Local(c) => c.pids().is_empty(),
            Handle::Server(s) => s.pids().is_empty(),
            Handle::Anyscale(_) | Handle::External => false,
        };
        if gone {
            return Err(DeployError::Gone("none of its processes is running any more".to_owned()));
        }
        for app in &self.target.apps {
            check_app(&self.target, app, timeout).await.map_err(|e| DeployError::Gone(e.to_string()))?;
        }
        Ok(())
    }

    /// Tears down (local: Serve, Ray, HAProxy, temp dir; server: its processes; Anyscale:
    /// terminate) and reports what failed. External endpoints are left alone.
    pub async fn shutdown(self) -> Result<(), DeployError> {
        match self.handle {
            Handle::Local(cluster) => cluster.shutdown().await,
            Handle::Anyscale(service) => service.terminate().await,
            Handle::Server(process) => process.shutdown().await,
            Handle::External => Ok(()),
        }
    }
}

/// The error of [`run_with_deployments`]: deploying, the body, or the teardown failed, or the
/// token was cancelled (after which everything was torn down).
#[derive(Debug, thiserror::Error)]
pub enum RunError<E> {
    /// Deploying one of them failed (the others were torn down; nothing is left running).
    #[error("deploy: {source}")]
    Deploy {
        /// Which deployment (its position in the list).
        index: usize,
        /// Why.
        #[source]
        source: DeployError,
    },
    /// The body failed; `teardown` holds what failed while tearing down (always reported).
    #[error("{error}{}", teardown_note(teardown))]
    Body {
        /// What the body returned.
        error: E,
        /// The teardowns' own failures.
        teardown: Vec<DeployError>,
    },
    /// The body succeeded but tearing down failed.
    #[error("teardown: {}", join(.0))]
    Teardown(Vec<DeployError>),
    /// The token was cancelled; everything was torn down (`teardown`: what failed doing so).
    #[error("cancelled; the deployments were torn down{}", teardown_note(teardown))]
    Cancelled {
        /// The teardowns' own failures.
        teardown: Vec<DeployError>,
    },
}

fn join(errors: &[DeployError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

fn teardown_note(errors: &[DeployError]) -> String {
    if errors.is_empty() { String::new() } else { format!("; and tearing down failed too: {}", join(errors)) }
}

async fn shutdown_all(deployments: Vec<Deployment>) -> Vec<DeployError> {
    let mut errors = Vec::new();
    for d in deployments {
        if let Err(e) = d.shutdown().await {
            errors.push(e);
        }
    }
    errors
}

/// Deploys every future of `deploying` in turn ([`Backend::deploy`] or [`start_server`]; several
/// serve side by side for paired measurements), runs `body` with the deployments in the same
/// order, and tears all down whatever happens: on success, on error, and when `cancel` is
/// cancelled (the body is then dropped at its next await). If one fails to deploy, those already
/// up are torn down and the rest are never started.
pub async fn run_with_deployments<T, E, F, Fut>(
    deploying: Vec<Fut>,
    cancel: &CancellationToken,
    body: F,
) -> Result<T, RunError<E>>
where
    Fut: Future<Output = Result<Deployment, DeployError>>,
    F: AsyncFnOnce(&[Deployment]) -> Result<T, E>,
{
    // One after the other: two Ray clusters starting at once on a small machine overload it
    // (Ray's node start times out), and a failure spares starting the rest. Dropping a deploy
    // future tears down whatever it had started.
    let mut deployments = Vec::with_capacity(deploying.len());
    for (index, d) in deploying.into_iter().enumerate() {
        let d = tokio::select! {
            d = d => d,
            () = cancel.cancelled() => {
                let teardown = shutdown_all(deployments).await;
                return Err(RunError::Cancelled { teardown });
            }
        };
        match d {
            Ok(d) => deployments.push(d),
            Err(source) => {
                shutdown_all(deployments).await;
                return Err(RunError::Deploy { index, source });
            }
        }
    }
    let outcome = tokio::select! {
        r = body(&deployments) => Some(r),
        () = cancel.cancelled() => None,
    };
    let teardown = shutdown_all(deployments).await;
    match outcome {
        None => Err(RunError::Cancelled { teardown }),
        Some(Ok(value)) if teardown.is_empty() => Ok(value),
        Some(Ok(_)) => Err(RunError::Teardown(teardown)),
        Some(Err(error)) => Err(RunError::Body { error, teardown }),
    }
}
