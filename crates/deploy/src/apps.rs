//! The application catalog (`apps.toml`): which Ray Serve apps exist, what they serve, and
//! the replica layouts they run in; and the Serve config built from a selection of them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::DeployError;
use crate::target::{AppEndpoint, AppKind};
use crate::variant::is_identifier;

/// gRPC method paths of `proto/servebench.proto`.
pub const GRPC_ECHO_METHOD: &str = "/servebench.v1.ServeBench/Echo";
/// See [`GRPC_ECHO_METHOD`].
pub const GRPC_STREAM_METHOD: &str = "/servebench.v1.ServeBench/Stream";

/// One application of the catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppDef {
    /// Serve application name.
    pub name: String,
    /// How clients talk to it.
    pub kind: AppKind,
    /// `module:attribute` of the bound application, relative to the catalog's `app_dir`.
    pub import_path: String,
    /// Serve route prefix.
    pub route_prefix: String,
    /// HTTP path clients request (HTTP kinds only; gRPC kinds use the method path).
    #[serde(default)]
    pub path: Option<String>,
    /// The deployments of the app, ingress first.
    pub deployments: Vec<String>,
}

/// How many replicas each deployment gets and what each reserves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layout {
    /// Name, e.g. `1replica`.
    pub name: String,
    /// Replicas of every deployment.
    pub num_replicas: u32,
    /// Serve's `max_ongoing_requests` of every deployment.
    #[serde(default = "default_max_ongoing")]
    pub max_ongoing_requests: u32,
    /// Logical CPUs each replica reserves (`ray_actor_options.num_cpus`).
    #[serde(default = "default_num_cpus")]
    pub num_cpus: f64,
}

fn default_max_ongoing() -> u32 {
    100_000
}

fn default_num_cpus() -> f64 {
    1.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    app_dir: PathBuf,
    #[serde(default)]
    grpc_servicer_functions: Vec<String>,
    #[serde(rename = "app", default)]
    apps: Vec<AppDef>,
    #[serde(rename = "layout", default)]
    layouts: Vec<Layout>,
}

/// The parsed `apps.toml`.
#[derive(Debug, Clone, PartialEq)]
pub struct AppCatalog {
    /// Absolute directory of the apps' Python code.
    pub app_dir: PathBuf,
    /// `grpc_options.grpc_servicer_functions` of Serve's config.
    pub grpc_servicer_functions: Vec<String>,
    /// The applications, in file order.
    pub apps: Vec<AppDef>,
    /// The layouts, in file order.
    pub layouts: Vec<Layout>,
}

impl AppCatalog {
    /// Reads and validates a catalog; `app_dir` is resolved against the file's directory.
    pub fn load(path: &Path) -> Result<Self, DeployError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| DeployError::ReadFile { path: path.to_path_buf(), source })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, path, base)
    }

    /// Parses a catalog from TOML text; relative `app_dir` is resolved against `base`.
    pub fn parse(text: &str, path: &Path, base: &Path) -> Result<Self, DeployError> {
        let invalid =
            |message: String| DeployError::Config { what: "app catalog", path: path.to_path_buf(), message };
        let file: CatalogFile = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let app_dir = if file.app_dir.is_absolute() { file.app_dir } else { base.join(file.app_dir) };
        let app_dir = std::fs::canonicalize(&app_dir).unwrap_or(app_dir);
        let mut names = std::collections::BTreeSet::new();
        let mut prefixes = std::collections::BTreeSet::new();
        for app in &file.apps {
            if !is_identifier(&app.name) || !names.insert(app.name.clone()) {
                return Err(invalid(format!(
                    "app name `{}` is empty, has odd characters or is listed twice",
                    app.name
                )));
            }
            if !app.route_prefix.starts_with('/') || !prefixes.insert(app.route_prefix.clone()) {
                return Err(invalid(format!(
                    "app `{}`: route_prefix `{}` must start with / and be unique",
                    app.name, app.route_prefix
                )));
            }
            if !app.import_path.contains(':') && !app.import_path.contains('.') {
                return Err(invalid(format!(
                    "app `{}`: import_path `{}` is not module:attribute",
                    app.name, app.import_path
                )));
            }
            if app.deployments.is_empty() {
                return Err(invalid(format!("app `{}` lists no deployments", app.name)));
            }
            if !app.kind.is_grpc() && app.path.as_deref().is_none_or(|p| !p.starts_with('/')) {
                return Err(invalid(format!(
                    "app `{}`: an HTTP app needs a `path` starting with /",
                    app.name
                )));
            }
        }
        for layout in &file.layouts {
            if layout.num_replicas == 0 || layout.num_cpus.is_nan() || layout.num_cpus < 0.0 {
                return Err(invalid(format!(
                    "layout `{}`: num_replicas must be > 0 and num_cpus >= 0",
                    layout.name
                )));
            }
        }
        Ok(Self {
            app_dir,
            grpc_servicer_functions: file.grpc_servicer_functions,
            apps: file.apps,
            layouts: file.layouts,
        })
    }

    /// The layout named `name`.
    pub fn layout(&self, name: &str) -> Result<&Layout, DeployError> {
        self.layouts.iter().find(|l| l.name == name).ok_or_else(|| {
            let known: Vec<&str> = self.layouts.iter().map(|l| l.name.as_str()).collect();
            DeployError::NotFound(format!("no layout `{name}`; known: {}", known.join(", ")))
        })
    }

    /// The apps named in `names` (in that order) in the layout named `layout`.
    pub fn select(&self, names: &[&str], layout: &str) -> Result<ServeApps, DeployError> {
        let layout = self.layout(layout)?.clone();
        let mut apps = Vec::with_capacity(names.len());
        for name in names {
            let def = self.apps.iter().find(|a| a.name == *name).ok_or_else(|| {
                let known: Vec<&str> = self.apps.iter().map(|a| a.name.as_str()).collect();
                DeployError::NotFound(format!("no app `{name}`; known: {}", known.join(", ")))
            })?;
            apps.push(AppSpec::from_def(def, &layout));
        }
        if apps.is_empty() {
            return Err(DeployError::NotFound("no app selected".to_owned()));
        }
        Ok(ServeApps {
            app_dir: self.app_dir.clone(),
            grpc_servicer_functions: self.grpc_servicer_functions.clone(),
            layout: layout.name,
            apps,
        })
    }
}

/// One deployment of an app as it will be deployed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploymentSpec {
    /// Deployment name (the class name unless renamed in code).
    pub name: String,
    /// Replicas.
    pub num_replicas: u32,
    /// `max_ongoing_requests`.
    pub max_ongoing_requests: u32,
    /// `ray_actor_options.num_cpus`.
    pub num_cpus: f64,
}

/// One app as it will be deployed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppSpec {
    /// Serve application name.
    pub name: String,
    /// How clients talk to it.
    pub kind: AppKind,
    /// `module:attribute`.
    pub import_path: String,
    /// Serve route prefix.
    pub route_prefix: String,
    /// What clients request: an HTTP path or a gRPC method path.
    pub path: String,
    /// Its deployments.
    pub deployments: Vec<DeploymentSpec>,
}

impl AppSpec {
    fn from_def(def: &AppDef, layout: &Layout) -> Self {
        let path = match def.kind {
            AppKind::GrpcEcho => GRPC_ECHO_METHOD.to_owned(),
            AppKind::GrpcStream => GRPC_STREAM_METHOD.to_owned(),
            AppKind::HttpEcho | AppKind::Sse => def.path.clone().unwrap_or_default(),
        };
        Self {
            name: def.name.clone(),
            kind: def.kind,
            import_path: def.import_path.clone(),
            route_prefix: def.route_prefix.clone(),
            path,
            deployments: def
                .deployments
                .iter()
                .map(|name| DeploymentSpec {
                    name: name.clone(),
                    num_replicas: layout.num_replicas,
                    max_ongoing_requests: layout.max_ongoing_requests,
                    num_cpus: layout.num_cpus,
                })
                .collect(),
        }
    }

    /// This app's entry of Serve's `applications` list.
    pub fn to_json(&self) -> Value {
        let deployments: Vec<Value> = self
            .deployments
            .iter()
            .map(|d| {
                json!({
                    "name": d.name,
                    "num_replicas": d.num_replicas,
                    "max_ongoing_requests": d.max_ongoing_requests,
                    "ray_actor_options": { "num_cpus": d.num_cpus },
                })
            })
            .collect();
        json!({
            "name": self.name,
            "route_prefix": self.route_prefix,
            "import_path": self.import_path,
            "deployments": deployments,
        })
    }

    /// Where clients reach it.
    pub fn endpoint(&self) -> AppEndpoint {
        AppEndpoint { name: self.name.clone(), kind: self.kind, path: self.path.clone() }
    }
}

/// A selection of apps in one layout: what one deployment stands up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServeApps {
    /// Absolute directory of the apps' Python code.
    pub app_dir: PathBuf,
    /// `grpc_options.grpc_servicer_functions`.
    pub grpc_servicer_functions: Vec<String>,
    /// The layout's name.
    pub layout: String,
    /// The apps.
    pub apps: Vec<AppSpec>,
}

impl ServeApps {
    /// Serve's `applications` list.
    pub fn applications_json(&self) -> Value {
        Value::Array(self.apps.iter().map(AppSpec::to_json).collect())
    }

    /// A complete Serve config (what `PUT /api/serve/applications/` takes) for a cluster
    /// whose HTTP ingress listens on `host:http_port` and gRPC ingress on `grpc_port`.
    pub fn serve_config(&self, host: &str, http_port: u16, grpc_port: u16) -> Value {
        json!({
            "proxy_location": "HeadOnly",
            "http_options": { "host": host, "port": http_port },
            "grpc_options": {
                "port": grpc_port,
                "grpc_servicer_functions": self.grpc_servicer_functions,
            },
            "applications": self.applications_json(),
        })
    }

    /// Whether any app is reached over gRPC.
    pub fn has_grpc(&self) -> bool {
        self.apps.iter().any(|a| a.kind.is_grpc())
    }

    /// Logical CPUs all replicas reserve together.
    pub fn total_cpus(&self) -> f64 {
        self.apps.iter().flat_map(|a| &a.deployments).map(|d| f64::from(d.num_replicas) * d.num_cpus).sum()
    }

    /// Replica counts keyed `app/deployment`.
    pub fn replica_counts(&self) -> BTreeMap<String, u32> {
        self.apps
            .iter()
            .flat_map(|a| {
                a.deployments.iter().map(move |d| (format!("{}/{}", a.name, d.name), d.num_replicas))
            })
            .collect()
    }

    /// Where clients reach each app.
    pub fn endpoints(&self) -> Vec<AppEndpoint> {
        self.apps.iter().map(AppSpec::endpoint).collect()
    }
}
