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
//! - [`run_with_deployment`] is the loop body "deploy -> measure -> teardown" with Ctrl-C
//!   handling, for the suites.
//!
//! Library code never prints: progress goes to a [`Progress`] callback.

mod anyscale;
mod apps;
mod error;
mod http;
mod local;
mod manifest;
mod probe;
mod project;
mod python;
mod serve_api;
mod target;
mod variant;
mod yaml;

use std::future::Future;
use std::path::PathBuf;

pub use crate::anyscale::{
    AnyscaleOptions, AnyscaleService, AnyscaleStatus, RAY_SERVE_FLAGS, check_grpc_compat,
    parse_status as parse_anyscale_status, ray_serve_flag_defaults,
    redact_cli_output as redact_anyscale_output, service_config, service_name,
};
pub use crate::apps::{
    AppCatalog, AppDef, AppSpec, DeploymentSpec, GRPC_ECHO_METHOD, GRPC_STREAM_METHOD, Layout, ServeApps,
};
pub use crate::error::DeployError;
pub use crate::http::{GrpcReply, HttpResponse, grpc_call, request as http_request};
pub use crate::local::{
    LOOPBACK, LocalCluster, LocalOptions, LocalPorts, PORTS_PER_CLUSTER, check_cpu_list, cluster_pids,
    format_cpu_list, parse_cpu_list,
};
pub use crate::manifest::{MANIFEST_SCHEMA_VERSION, Machine, Manifest, git_revision};
pub use crate::probe::{check_app, check_payload, decode_fields, encode_bytes_field, parse_sse};
pub use crate::project::Project;
pub use crate::python::{
    PYTHON_ENV_VAR, PYTHON_INTERPRETER_VAR, PythonEnv, PythonEnvOptions, PythonError, RayCli,
};
pub use crate::serve_api::{AppStatus, DeploymentStatus, ServeApi, parse_status};
pub use crate::target::{AppEndpoint, AppKind, Header, Secret, Target};
pub use crate::variant::{Variant, VariantSet};
pub use crate::yaml::to_yaml;

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
            Self::External(options) => external(options, request, progress).await?,
        };
        if let Some(path) = &request.manifest_path {
            deployment.manifest.write(path)?;
        }
        Ok(deployment)
    }
}

async fn external(
    options: &ExternalOptions,
    request: &DeployRequest,
    progress: &Progress<'_>,
) -> Result<Deployment, DeployError> {
    let target = Target {
        http_base: options.http_base.trim_end_matches('/').to_owned(),
        grpc_uri: options.grpc_uri.clone(),
        headers: options.token.as_ref().map(|t| Header::bearer(t.expose())).into_iter().collect(),
        apps: request.apps.endpoints(),
    };
    if options.check {
        let say = |m: &str| progress(&format!("[{}] {m}", request.variant.name));
        local::check_until_ok(&target, std::time::Duration::from_secs(30), &say).await?;
    }
    let machine = Machine::current();
    let project = Project::discover();
    let (git_revision, git_dirty) = manifest::git_revision(&project.root);
    let manifest = Manifest {
        schema_version: MANIFEST_SCHEMA_VERSION,
        created_unix_ms: manifest::now_unix_ms(),
        backend: "external".to_owned(),
        variant: request.variant.name.clone(),
        flags: request.variant.env.clone(),
        layout: Some(request.apps.layout.clone()),
        replicas: request.apps.replica_counts(),
        ray_version: None,
        python_version: None,
        ray_logical_cpus: None,
        ray_cpu_affinity: None,
        ray_token_auth: None,
        service_name: None,
        image_uri: None,
        machine,
        git_revision,
        git_dirty,
        target: target.clone(),
    };
    Ok(Deployment { target, manifest, handle: Handle::External })
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

    /// Tears down (local: Serve, Ray, HAProxy, temp dir; Anyscale: terminate) and reports
    /// what failed. External endpoints are left alone.
    pub async fn shutdown(self) -> Result<(), DeployError> {
        match self.handle {
            Handle::Local(cluster) => cluster.shutdown().await,
            Handle::Anyscale(service) => service.terminate().await,
            Handle::External => Ok(()),
        }
    }
}

/// The error of [`run_with_deployment`]: deploying, the body, or the teardown failed, or
/// Ctrl-C or SIGTERM arrived (after which everything was torn down).
#[derive(Debug, thiserror::Error)]
pub enum RunError<E> {
    /// Deploying failed (nothing is left running).
    #[error("deploy: {0}")]
    Deploy(DeployError),
    /// The body failed; `teardown` says whether tearing down failed too.
    #[error("{error}")]
    Body { error: E, teardown: Option<DeployError> },
    /// The body succeeded but tearing down failed.
    #[error("teardown: {0}")]
    Teardown(DeployError),
    /// Ctrl-C (SIGINT) or SIGTERM arrived; everything was torn down.
    #[error("interrupted (Ctrl-C or SIGTERM); the deployment was torn down")]
    Interrupted,
}

/// Deploys `request`, runs `body` with the target, and tears down whatever happens: on
/// success, on error, and on Ctrl-C or SIGTERM (which this function listens for while it runs,
/// through [`interrupt_signal`]).
pub async fn run_with_deployment<T, E, F, Fut>(
    backend: &Backend,
    request: &DeployRequest,
    progress: &Progress<'_>,
    body: F,
) -> Result<T, RunError<E>>
where
    F: FnOnce(Target) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let ctrl_c = interrupt_signal();
    tokio::pin!(ctrl_c);
    let deployment = tokio::select! {
        d = backend.deploy(request, progress) => d.map_err(RunError::Deploy)?,
        // Dropping the deploy future tears down whatever it had started.
        _ = &mut ctrl_c => return Err(RunError::Interrupted),
    };
    let outcome = tokio::select! {
        r = body(deployment.target().clone()) => Some(r),
        _ = &mut ctrl_c => None,
    };
    let teardown = deployment.shutdown().await.err();
    match (outcome, teardown) {
        (None, _) => Err(RunError::Interrupted),
        (Some(Ok(value)), None) => Ok(value),
        (Some(Ok(_)), Some(t)) => Err(RunError::Teardown(t)),
        (Some(Err(error)), teardown) => Err(RunError::Body { error, teardown }),
    }
}

/// Completes when the process receives SIGINT (Ctrl-C) or SIGTERM (what `timeout`, `kill` and
/// container runtimes send). Every pending call hears the same signal. Once a program has called
/// this, those signals no longer end it by themselves: it must act on them.
pub async fn interrupt_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        // No signal handling in this runtime: never interrupted.
        _ => std::future::pending().await,
    }
}
