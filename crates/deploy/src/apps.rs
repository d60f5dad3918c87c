//! The application catalog (`apps.toml`): which Ray Serve apps exist, how each is checked once
//! deployed, the replica layouts they run in (options per deployment), and the servers outside
//! Ray that a study may measure as its baseline; and the Serve config built from a selection.
//!
//! ```toml
//! app_dir = "../app"
//!
//! [[app]]
//! name = "recsys"
//! import_path = "recsys_app.app:build"
//! route_prefix = "/"
//! deployments = ["IngressDeployment", "RankerDeployment"]
//! args = { cardinality = 100000 }
//! check = { protocol = "http", path = "/?user_id=1", expect = { json = { field = "scores", len = 32 } } }
//!
//! [[layout]]
//! name = "default"
//! all = { num_replicas = 1, max_ongoing_requests = 1000, num_cpus = 1.0 }
//! deployments.IngressDeployment = { num_replicas = 2 }
//! deployments.RankerDeployment = { env = { OMP_NUM_THREADS = "1" } }
//! ```
//!
//! A replica count may be a multiple of another deployment's (`{ of = "LLMServer", times = 4 }`),
//! and `autoscaling = true` pins autoscaling at that count (min = max = initial).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::DeployError;
use crate::variant::is_identifier;

/// How many replicas a deployment gets: a number, or a multiple of another deployment's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ReplicaCount {
    /// Exactly this many.
    Fixed(u32),
    /// `times` x the replicas of deployment `of` (in the same layout).
    Multiple {
        /// The other deployment.
        of: String,
        /// The factor.
        times: u32,
    },
}

/// Options of a deployment; in a layout, `all` sets them for every deployment and
/// `deployments.<name>` overrides them for one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentOptions {
    /// Replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_replicas: Option<ReplicaCount>,
    /// Pin autoscaling at the replica count (`autoscaling_config` with min = max = initial).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<bool>,
    /// Serve's `max_ongoing_requests`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ongoing_requests: Option<u32>,
    /// Logical CPUs each replica reserves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_cpus: Option<f64>,
    /// GPUs each replica reserves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_gpus: Option<f64>,
    /// Serve's `user_config`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_config: Option<Map<String, Value>>,
    /// Environment variables of the replicas (`runtime_env.env_vars`), e.g. BLAS thread counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<BTreeMap<String, String>>,
}

impl DeploymentOptions {
    /// `self`, with `over`'s settings winning where it has them.
    fn merged(&self, over: &DeploymentOptions) -> DeploymentOptions {
        DeploymentOptions {
            num_replicas: over.num_replicas.clone().or_else(|| self.num_replicas.clone()),
            autoscaling: over.autoscaling.or(self.autoscaling),
            max_ongoing_requests: over.max_ongoing_requests.or(self.max_ongoing_requests),
            num_cpus: over.num_cpus.or(self.num_cpus),
            num_gpus: over.num_gpus.or(self.num_gpus),
            user_config: over.user_config.clone().or_else(|| self.user_config.clone()),
            env: match (&self.env, &over.env) {
                (Some(a), Some(b)) => Some(a.iter().chain(b).map(|(k, v)| (k.clone(), v.clone())).collect()),
                (a, b) => b.clone().or_else(|| a.clone()),
            },
        }
    }
}

/// One application of the catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppDef {
    /// Serve application name; for gRPC also the `application` metadata value.
    pub name: String,
    /// `module:attribute` of the bound application or of an app builder, relative to `app_dir`.
    pub import_path: String,
    /// Serve route prefix.
    pub route_prefix: String,
    /// The deployments of the app, ingress first.
    pub deployments: Vec<String>,
    /// Serve's `args` for an app builder.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub args: Map<String, Value>,
    /// One request that must succeed before the deployment is handed out (relative to the
    /// cluster's HTTP or gRPC ingress).
    pub check: loadgen::WorkloadSpec,
}

impl AppDef {
    /// Whether clients reach it over gRPC.
    pub fn is_grpc(&self) -> bool {
        matches!(self.check, loadgen::WorkloadSpec::Grpc(_))
    }
}

/// A named replica layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layout {
    /// Name, e.g. `1replica`.
    pub name: String,
    /// Options of every deployment.
    #[serde(default)]
    pub all: DeploymentOptions,
    /// Options of single deployments, by deployment name.
    #[serde(default)]
    pub deployments: BTreeMap<String, DeploymentOptions>,
    /// Logical CPUs a local cluster needs at least, where apps reserve more in code than their
    /// options say (an LLM engine's placement group).
    #[serde(default)]
    pub logical_cpus: Option<u32>,
}

/// A server outside Ray Serve (a bare engine: the stand-in for `vllm serve`), started as a
/// process for a study's baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerDef {
    /// Name used in results (`bare`).
    pub name: String,
    /// What it is.
    #[serde(default)]
    pub description: String,
    /// The command line; `{python}` is the suite's Python, `{port}` a free loopback port,
    /// `{app_dir}` the apps' code.
    pub command: Vec<String>,
    /// More environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Arguments appended as `--key value` (`true` as a bare `--key`), overridable by profiles.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub args: Map<String, Value>,
    /// One request that must succeed before it is measured.
    pub check: loadgen::WorkloadSpec,
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
    #[serde(rename = "server", default)]
    servers: Vec<ServerDef>,
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
    /// Servers outside Ray, in file order.
    pub servers: Vec<ServerDef>,
}

fn names<'a>(it: impl Iterator<Item = &'a str>) -> String {
    it.collect::<Vec<_>>().join(", ")
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
        let catalog = Self {
            app_dir,
            grpc_servicer_functions: file.grpc_servicer_functions,
            apps: file.apps,
            layouts: file.layouts,
            servers: file.servers,
        };
        catalog.check().map_err(invalid)?;
        Ok(catalog)
    }

    fn check(&self) -> Result<(), String> {
        let mut seen = std::collections::BTreeSet::new();
        let mut prefixes = std::collections::BTreeSet::new();
        for app in &self.apps {
            if !is_identifier(&app.name) || !seen.insert(app.name.as_str()) {
                return Err(format!(
                    "app name `{}` is empty, has odd characters or is listed twice",
                    app.name
                ));
            }
            if !app.route_prefix.starts_with('/') || !prefixes.insert(app.route_prefix.as_str()) {
                return Err(format!(
                    "app `{}`: route_prefix `{}` must start with / and be unique",
                    app.name, app.route_prefix
                ));
            }
            if !app.import_path.contains(':') && !app.import_path.contains('.') {
                return Err(format!(
                    "app `{}`: import_path `{}` is not module:attribute",
                    app.name, app.import_path
                ));
            }
            if app.deployments.is_empty() {
                return Err(format!("app `{}` lists no deployments", app.name));
            }
            app.check.validate().map_err(|e| format!("app `{}`: check: {e}", app.name))?;
        }
        let deployments: std::collections::BTreeSet<&str> =
            self.apps.iter().flat_map(|a| a.deployments.iter().map(String::as_str)).collect();
        let mut seen = std::collections::BTreeSet::new();
        for layout in &self.layouts {
            if !is_identifier(&layout.name) || !seen.insert(layout.name.as_str()) {
                return Err(format!(
                    "layout name `{}` is empty, has odd characters or is listed twice",
                    layout.name
                ));
            }
            for (name, o) in std::iter::once(("all", &layout.all))
                .chain(layout.deployments.iter().map(|(k, v)| (k.as_str(), v)))
            {
                let ctx = |m: String| format!("layout `{}`, {name}: {m}", layout.name);
                if name != "all" && !deployments.contains(name) {
                    return Err(ctx(format!(
                        "no app has a deployment of that name (known: {})",
                        names(deployments.iter().copied())
                    )));
                }
                check_options(o).map_err(ctx)?;
            }
            // Every count resolves (no unknown or circular `of`).
            for app in &self.apps {
                for d in &app.deployments {
                    self.replicas(layout, d).map_err(|m| format!("layout `{}`: {m}", layout.name))?;
                }
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for s in &self.servers {
            if !is_identifier(&s.name) || !seen.insert(s.name.as_str()) {
                return Err(format!(
                    "server name `{}` is empty, has odd characters or is listed twice",
                    s.name
                ));
            }
            if s.command.is_empty() || !s.command.iter().any(|a| a.contains("{port}")) {
                return Err(format!(
                    "server `{}`: the command must be non-empty and take `{{port}}`",
                    s.name
                ));
            }
            s.check.validate().map_err(|e| format!("server `{}`: check: {e}", s.name))?;
        }
        Ok(())
    }

    /// The layout named `name`.
    pub fn layout(&self, name: &str) -> Result<&Layout, DeployError> {
        self.layouts.iter().find(|l| l.name == name).ok_or_else(|| {
            DeployError::NotFound(format!(
                "no layout `{name}`; known: {}",
                names(self.layouts.iter().map(|l| l.name.as_str()))
            ))
        })
    }

    /// The app named `name`.
    pub fn app(&self, name: &str) -> Result<&AppDef, DeployError> {
        self.apps.iter().find(|a| a.name == name).ok_or_else(|| {
            DeployError::NotFound(format!(
                "no app `{name}`; known: {}",
                names(self.apps.iter().map(|a| a.name.as_str()))
            ))
        })
    }

    /// The server named `name`.
    pub fn server(&self, name: &str) -> Result<&ServerDef, DeployError> {
        self.servers.iter().find(|s| s.name == name).ok_or_else(|| {
            DeployError::NotFound(format!(
                "no server `{name}`; known: {}",
                names(self.servers.iter().map(|s| s.name.as_str()))
            ))
        })
    }

    /// The options of `deployment` in `layout`.
    fn options(layout: &Layout, deployment: &str) -> DeploymentOptions {
        match layout.deployments.get(deployment) {
            Some(own) => layout.all.merged(own),
            None => layout.all.clone(),
        }
    }

    /// The replica count of `deployment` in `layout` (1 when the layout says nothing).
    pub fn replicas(&self, layout: &Layout, deployment: &str) -> Result<u32, String> {
        let mut at = deployment.to_owned();
        let mut factor: u64 = 1;
        for _ in 0..8 {
            match Self::options(layout, &at).num_replicas {
                None => return Ok(u32::try_from(factor).unwrap_or(u32::MAX)),
                Some(ReplicaCount::Fixed(n)) => {
                    return u32::try_from(factor * u64::from(n))
                        .map_err(|_| format!("{deployment}: too many replicas"));
                }
                Some(ReplicaCount::Multiple { of, times }) => {
                    factor *= u64::from(times);
                    at = of;
                }
            }
        }
        Err(format!("{deployment}: replica counts refer to each other in a circle"))
    }

    /// The apps named in `names` (in that order) in the layout named `layout`, with `args`
    /// merged over each app's own (by app name).
    pub fn select(
        &self,
        names: &[&str],
        layout: &str,
        args: &BTreeMap<String, Map<String, Value>>,
    ) -> Result<ServeApps, DeployError> {
        let layout = self.layout(layout)?;
        let mut apps = Vec::with_capacity(names.len());
        for name in names {
            let def = self.app(name)?;
            let mut app_args = def.args.clone();
            if let Some(extra) = args.get(*name) {
                app_args.extend(extra.clone());
            }
            let mut deployments = Vec::new();
            for d in &def.deployments {
                let o = Self::options(layout, d);
                let num_replicas = self.replicas(layout, d).map_err(DeployError::NotFound)?;
                deployments.push(DeploymentSpec {
                    name: d.clone(),
                    num_replicas,
                    autoscaling: o.autoscaling.unwrap_or(false),
                    max_ongoing_requests: o.max_ongoing_requests,
                    num_cpus: o.num_cpus,
                    num_gpus: o.num_gpus,
                    user_config: o.user_config,
                    env: o.env.unwrap_or_default(),
                });
            }
            apps.push(AppSpec {
                name: def.name.clone(),
                import_path: def.import_path.clone(),
                route_prefix: def.route_prefix.clone(),
                args: app_args,
                check: def.check.clone(),
                deployments,
            });
        }
        if apps.is_empty() {
            return Err(DeployError::NotFound("no app selected".to_owned()));
        }
        Ok(ServeApps {
            app_dir: self.app_dir.clone(),
            grpc_servicer_functions: self.grpc_servicer_functions.clone(),
            layout: layout.name.clone(),
            logical_cpus: layout.logical_cpus,
            apps,
        })
    }
}

fn check_options(o: &DeploymentOptions) -> Result<(), String> {
    let resource = |what: &str, v: Option<f64>| match v {
        Some(v) if !(v.is_finite() && v >= 0.0) => Err(format!("{what} must be a number >= 0")),
        _ => Ok(()),
    };
    resource("num_cpus", o.num_cpus)?;
    resource("num_gpus", o.num_gpus)?;
    match &o.num_replicas {
        Some(ReplicaCount::Fixed(0)) | Some(ReplicaCount::Multiple { times: 0, .. }) => {
            Err("num_replicas must be at least 1".to_owned())
        }
        _ if o.max_ongoing_requests == Some(0) => Err("max_ongoing_requests must be at least 1".to_owned()),
        _ => Ok(()),
    }
}

/// One deployment of an app as it will be deployed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploymentSpec {
    /// Deployment name.
    pub name: String,
    /// Replicas.
    pub num_replicas: u32,
    /// Autoscaling pinned at `num_replicas`.
    pub autoscaling: bool,
    /// `max_ongoing_requests` (Serve's or the code's default when `None`).
    pub max_ongoing_requests: Option<u32>,
    /// `ray_actor_options.num_cpus` (the code's, or Ray's 1, when `None`).
    pub num_cpus: Option<f64>,
    /// `ray_actor_options.num_gpus`.
    pub num_gpus: Option<f64>,
    /// `user_config`.
    pub user_config: Option<Map<String, Value>>,
    /// `ray_actor_options.runtime_env.env_vars`.
    pub env: BTreeMap<String, String>,
}

impl DeploymentSpec {
    fn to_json(&self) -> Value {
        let mut d = Map::new();
        d.insert("name".into(), json!(self.name));
        if self.autoscaling {
            let n = self.num_replicas;
            d.insert(
                "autoscaling_config".into(),
                json!({ "min_replicas": n, "max_replicas": n, "initial_replicas": n }),
            );
        } else {
            d.insert("num_replicas".into(), json!(self.num_replicas));
        }
        if let Some(m) = self.max_ongoing_requests {
            d.insert("max_ongoing_requests".into(), json!(m));
        }
        // Serve replaces the code's whole `ray_actor_options` with the config's: write it only when
        // the layout sets something in it (an LLM deployment's runtime_env must survive).
        let mut actor = Map::new();
        if let Some(c) = self.num_cpus {
            actor.insert("num_cpus".into(), json!(c));
        }
        if let Some(g) = self.num_gpus {
            actor.insert("num_gpus".into(), json!(g));
        }
        if !self.env.is_empty() {
            actor.insert("runtime_env".into(), json!({ "env_vars": self.env }));
        }
        if !actor.is_empty() {
            d.insert("ray_actor_options".into(), Value::Object(actor));
        }
        if let Some(u) = &self.user_config {
            d.insert("user_config".into(), Value::Object(u.clone()));
        }
        Value::Object(d)
    }
}

/// One app as it will be deployed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppSpec {
    /// Serve application name.
    pub name: String,
    /// `module:attribute`.
    pub import_path: String,
    /// Serve route prefix.
    pub route_prefix: String,
    /// Serve's `args`.
    pub args: Map<String, Value>,
    /// The request that checks it.
    pub check: loadgen::WorkloadSpec,
    /// Its deployments.
    pub deployments: Vec<DeploymentSpec>,
}

impl AppSpec {
    /// This app's entry of Serve's `applications` list.
    pub fn to_json(&self) -> Value {
        let mut app = json!({
            "name": self.name,
            "route_prefix": self.route_prefix,
            "import_path": self.import_path,
            "deployments": self.deployments.iter().map(DeploymentSpec::to_json).collect::<Vec<_>>(),
        });
        if !self.args.is_empty() {
            app["args"] = Value::Object(self.args.clone());
        }
        app
    }

    /// Whether clients reach it over gRPC.
    pub fn is_grpc(&self) -> bool {
        matches!(self.check, loadgen::WorkloadSpec::Grpc(_))
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
    /// Logical CPUs a local cluster needs at least (the layout's `logical_cpus`).
    pub logical_cpus: Option<u32>,
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
        self.apps.iter().any(AppSpec::is_grpc)
    }

    /// Logical CPUs all replicas reserve together (1 each where the layout does not say; an app
    /// may reserve more in code, as an LLM engine's placement group does).
    pub fn total_cpus(&self) -> f64 {
        self.apps
            .iter()
            .flat_map(|a| &a.deployments)
            .map(|d| f64::from(d.num_replicas) * d.num_cpus.unwrap_or(1.0))
            .sum()
    }

    /// GPUs all replicas reserve together.
    pub fn total_gpus(&self) -> f64 {
        self.apps
            .iter()
            .flat_map(|a| &a.deployments)
            .map(|d| f64::from(d.num_replicas) * d.num_gpus.unwrap_or(0.0))
            .sum()
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

    /// Where clients reach each app and how it is checked.
    pub fn endpoints(&self) -> Vec<crate::target::AppEndpoint> {
        self.apps
            .iter()
            .map(|a| crate::target::AppEndpoint { name: a.name.clone(), check: a.check.clone() })
            .collect()
    }
}
