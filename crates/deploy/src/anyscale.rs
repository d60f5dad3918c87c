//! The Anyscale backend: one service per variant, driven through the `anyscale` CLI.
//!
//! `deploy` writes `<out_dir>/<service>.yaml` (name, image_uri, compute_config, env_vars,
//! working_dir, applications with replica counts), then runs `anyscale service deploy -f`,
//! `anyscale service wait --name`, and `anyscale service status --name --json` for
//! `query_url` and `query_auth_token`; teardown is `anyscale service terminate --name`.
//! The token goes into the [`Target`]'s headers as a [`Secret`] and is never printed or
//! written, not even in error messages.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::apps::ServeApps;
use crate::manifest::{Machine, Manifest, git_revision, now_unix_ms};
use crate::target::{Header, Target};
use crate::variant::Variant;
use crate::yaml::to_yaml;
use crate::{DeployError, Progress};

/// How Anyscale services are made.
#[derive(Debug, Clone)]
pub struct AnyscaleOptions {
    /// The `anyscale` executable (default: `anyscale` on PATH).
    pub cli: PathBuf,
    /// Service names are `<prefix>-<variant>-<layout>`.
    pub name_prefix: String,
    /// Container image of the service.
    pub image_uri: String,
    /// A registered compute config's name (Anyscale's default when `None`).
    pub compute_config: Option<String>,
    /// Anyscale cloud (optional).
    pub cloud: Option<String>,
    /// Anyscale project (optional).
    pub project: Option<String>,
    /// Where the service YAML files are written.
    pub out_dir: PathBuf,
    /// More environment variables for the service (the variant's win over these).
    pub extra_env: BTreeMap<String, String>,
    /// Limit passed to `anyscale service wait --timeout-s`.
    pub wait_timeout: Duration,
    /// The project's root (for the manifest's git revision).
    pub project_root: PathBuf,
}

impl AnyscaleOptions {
    /// Defaults: `anyscale` on PATH, image `anyscale/ray:2.60.0-py311`, files under
    /// `out_dir`.
    pub fn new(project: &crate::Project, out_dir: impl Into<PathBuf>) -> Self {
        Self {
            cli: PathBuf::from("anyscale"),
            name_prefix: "servebench".to_owned(),
            image_uri: "anyscale/ray:2.60.0-py311".to_owned(),
            compute_config: None,
            cloud: None,
            project: None,
            out_dir: out_dir.into(),
            extra_env: BTreeMap::new(),
            wait_timeout: Duration::from_secs(1800),
            project_root: project.root.clone(),
        }
    }
}

/// A deployed Anyscale service; terminated by [`AnyscaleService::terminate`] or on drop.
#[derive(Debug)]
pub struct AnyscaleService {
    /// The service's name.
    pub name: String,
    /// The service YAML that was deployed.
    pub config_path: PathBuf,
    cli: PathBuf,
    terminated: bool,
}

/// `<prefix>-<variant>-<layout>`, lower case, only `a-z 0-9 -`.
pub fn service_name(prefix: &str, variant: &str, layout: &str) -> String {
    let raw = format!("{prefix}-{variant}-{layout}").to_ascii_lowercase();
    let mut name: String = raw.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    while name.contains("--") {
        name = name.replace("--", "-");
    }
    name.trim_matches('-').chars().take(60).collect()
}

/// The service config (to be written as YAML) for `variant` running `apps`.
pub fn service_config(options: &AnyscaleOptions, name: &str, variant: &Variant, apps: &ServeApps) -> Value {
    let mut config = Map::new();
    config.insert("name".into(), json!(name));
    config.insert("image_uri".into(), json!(options.image_uri));
    if let Some(c) = &options.compute_config {
        config.insert("compute_config".into(), json!(c));
    }
    if let Some(c) = &options.cloud {
        config.insert("cloud".into(), json!(c));
    }
    if let Some(p) = &options.project {
        config.insert("project".into(), json!(p));
    }
    config.insert("working_dir".into(), json!(apps.app_dir.display().to_string()));
    let mut env: BTreeMap<String, String> = options.extra_env.clone();
    env.extend(variant.env.clone());
    config.insert("env_vars".into(), json!(env));
    config.insert("query_auth_token_enabled".into(), json!(true));
    if apps.has_grpc() {
        config.insert(
            "grpc_options".into(),
            json!({ "grpc_servicer_functions": apps.grpc_servicer_functions }),
        );
    }
    config.insert("applications".into(), apps.applications_json());
    Value::Object(config)
}

async fn run_cli(
    cli: &Path,
    args: &[&str],
    timeout: Duration,
    show_stdout_in_errors: bool,
) -> Result<String, DeployError> {
    let shown = format!("anyscale {}", args.join(" "));
    let mut command = tokio::process::Command::new(cli);
    command.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    let output = tokio::time::timeout(timeout, command.output())
        .await
        .map_err(|_| DeployError::Anyscale(format!("`{shown}` did not finish within {timeout:?}")))?
        .map_err(|e| {
            DeployError::Anyscale(format!(
                "cannot run `{}`: {e} (install it with `pip install anyscale` and log in)",
                cli.display()
            ))
        })?;
    if !output.status.success() {
        let mut message = crate::python::tail(&output.stderr);
        if show_stdout_in_errors {
            message.push('\n');
            message.push_str(&crate::python::tail(&output.stdout));
        }
        return Err(DeployError::Anyscale(format!(
            "`{shown}` failed ({}): {}",
            output.status,
            message.trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Reads `query_url` and `query_auth_token` from `anyscale service status --json` output.
/// Errors never quote the output (it holds the token).
pub fn parse_status(stdout: &str) -> Result<(String, Option<String>), DeployError> {
    let start = stdout.find('{');
    let end = stdout.rfind('}');
    let json = match (start, end) {
        (Some(s), Some(e)) if s < e => &stdout[s..=e],
        _ => {
            return Err(DeployError::Anyscale(
                "`anyscale service status --json` printed no JSON object".to_owned(),
            ));
        }
    };
    let value: Value = serde_json::from_str(json).map_err(|e| {
        DeployError::Anyscale(format!(
            "`anyscale service status --json` is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let url = value
        .get("query_url")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| DeployError::Anyscale("the service status has no `query_url`".to_owned()))?;
    let token =
        value.get("query_auth_token").and_then(Value::as_str).filter(|t| !t.is_empty()).map(str::to_owned);
    Ok((url.trim_end_matches('/').to_owned(), token))
}

/// Deploys `apps` as an Anyscale service with `variant`'s environment and waits until it
/// runs. If waiting or reading the status fails, the service is terminated.
pub async fn deploy(
    options: &AnyscaleOptions,
    variant: &Variant,
    apps: &ServeApps,
    progress: &Progress<'_>,
) -> Result<(AnyscaleService, Target, Manifest), DeployError> {
    let say = |m: &str| progress(&format!("[{}] {m}", variant.name));
    let name = service_name(&options.name_prefix, &variant.name, &apps.layout);
    let config = service_config(options, &name, variant, apps);
    std::fs::create_dir_all(&options.out_dir)
        .map_err(|source| DeployError::WriteFile { path: options.out_dir.clone(), source })?;
    let config_path = options.out_dir.join(format!("{name}.yaml"));
    let mut text = String::from(
        "# Anyscale service written by servebench's `deploy`; deploy with\n# anyscale service deploy -f <this file>\n",
    );
    text.push_str(&to_yaml(&config));
    std::fs::write(&config_path, text)
        .map_err(|source| DeployError::WriteFile { path: config_path.clone(), source })?;
    let config_arg = config_path.display().to_string();
    say(&format!("anyscale service deploy -f {config_arg}"));
    run_cli(&options.cli, &["service", "deploy", "-f", &config_arg], Duration::from_secs(900), true).await?;
    // From here on the service exists: dropping `service` terminates it.
    let service =
        AnyscaleService { name: name.clone(), config_path, cli: options.cli.clone(), terminated: false };
    say(&format!("anyscale service wait --name {name}"));
    let wait_secs = options.wait_timeout.as_secs().to_string();
    run_cli(
        &options.cli,
        &["service", "wait", "--name", &name, "--timeout-s", &wait_secs],
        options.wait_timeout + Duration::from_secs(60),
        true,
    )
    .await?;
    let status = run_cli(
        &options.cli,
        &["service", "status", "--name", &name, "--json"],
        Duration::from_secs(300),
        false,
    )
    .await?;
    let (query_url, token) = parse_status(&status)?;
    let target = Target {
        http_base: query_url.clone(),
        grpc_uri: apps.has_grpc().then(|| query_url.clone()),
        headers: token.as_deref().map(Header::bearer).into_iter().collect(),
        apps: apps.endpoints(),
    };
    if query_url.starts_with("http://") {
        crate::local::check_until_ok(&target, Duration::from_secs(120), &say).await?;
    }
    let (git_revision, git_dirty) = git_revision(&options.project_root);
    let manifest = Manifest {
        schema_version: crate::manifest::MANIFEST_SCHEMA_VERSION,
        created_unix_ms: now_unix_ms(),
        backend: "anyscale".to_owned(),
        variant: variant.name.clone(),
        flags: variant.env.clone(),
        layout: Some(apps.layout.clone()),
        replicas: apps.replica_counts(),
        ray_version: None,
        python_version: None,
        ray_logical_cpus: None,
        ray_cpu_affinity: None,
        ray_token_auth: None,
        service_name: Some(name),
        image_uri: Some(options.image_uri.clone()),
        machine: Machine::current(),
        git_revision,
        git_dirty,
        target: target.clone(),
    };
    Ok((service, target, manifest))
}

impl AnyscaleService {
    /// `anyscale service terminate --name <name>`.
    pub async fn terminate(mut self) -> Result<(), DeployError> {
        self.terminated = true;
        run_cli(&self.cli, &["service", "terminate", "--name", &self.name], Duration::from_secs(300), true)
            .await
            .map(drop)
    }
}

impl Drop for AnyscaleService {
    fn drop(&mut self) {
        if !self.terminated {
            let _ = std::process::Command::new(&self.cli)
                .args(["service", "terminate", "--name", &self.name])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}
