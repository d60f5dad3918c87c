//! The Anyscale backend: one service per variant, driven through the `anyscale` CLI
//! (checked against the real CLI, 0.26.112, and tested with it: `tests/anyscale.rs`).
//!
//! `deploy` first refuses what cannot work on Anyscale (gRPC apps with
//! `RAY_SERVE_THROUGHPUT_OPTIMIZED=1`, see [`check_grpc_compat`]; gRPC servicers that the image
//! does not have). It then writes `<out_dir>/<service>.yaml` (a `ServiceConfig` of the CLI:
//! name, image, compute config, cloud, project, `working_dir`, the variant's flags in the
//! service-level `env_vars`, `grpc_options` with `service_names`, the applications), runs
//! `anyscale service deploy -f`, and polls `anyscale service status --name --cloud --project
//! -o json` until the service is RUNNING, stopping at once when it goes UNHEALTHY,
//! SYSTEM_FAILURE, TERMINATING or TERMINATED. The status gives the service's `id`, `query_url`
//! and `query_auth_token`; teardown is `anyscale service terminate --id`.
//!
//! The token goes into the [`Target`]'s headers as a [`Secret`]. The CLI prints it too (`service
//! deploy` ends with a `curl -H "Authorization: Bearer …"` line, `service status` shows
//! `query_auth_token`), so whatever of the CLI's output is ever shown (errors) passes through
//! [`redact_cli_output`] first.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::apps::ServeApps;
use crate::manifest::{Machine, Manifest, git_revision, now_unix_ms};
use crate::target::{Header, Secret, Target};
use crate::variant::Variant;
use crate::yaml::to_yaml;
use crate::{DeployError, Progress};

/// The Serve flags of the spec's table. Every Anyscale service gets each of them explicitly
/// (see [`AnyscaleOptions::explicit_flag_defaults`]).
pub const RAY_SERVE_FLAGS: [&str; 6] = [
    "RAY_SERVE_ENABLE_HA_PROXY",
    "RAY_SERVE_HAPROXY_TCP_NODELAY",
    "RAY_SERVE_USE_GRPC_BY_DEFAULT",
    "RAY_SERVE_THROUGHPUT_OPTIMIZED",
    "RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP",
    "RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD",
];

const THROUGHPUT_OPTIMIZED: &str = "RAY_SERVE_THROUGHPUT_OPTIMIZED";

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
    /// Anyscale cloud. Set it, and `project`: `service status` is then asked for the service
    /// of that cloud and project; without them the CLI returns the first service of that
    /// name in any project.
    pub cloud: Option<String>,
    /// Anyscale project (see `cloud`).
    pub project: Option<String>,
    /// Where the service YAML files are written.
    pub out_dir: PathBuf,
    /// More environment variables for the service (the variant's win over these).
    pub extra_env: BTreeMap<String, String>,
    /// How long to wait for the service to be RUNNING (default 1800 s).
    pub wait_timeout: Duration,
    /// Time between two `service status` polls while waiting (default 10 s).
    pub poll_interval: Duration,
    /// Give the service, for each of [`RAY_SERVE_FLAGS`] that neither the variant nor
    /// `extra_env` sets, Ray 2.60's default ([`ray_serve_flag_defaults`]); default on. Without
    /// it an unset flag is whatever the image's environment says, not Ray's default.
    pub explicit_flag_defaults: bool,
    /// Whether `image_uri` has the modules of the catalog's `grpc_servicer_functions`
    /// importable (default off). Anyscale's proxies import them when they start, from the
    /// image: the applications' `working_dir` is not theirs. gRPC apps are refused without it.
    pub grpc_servicers_in_image: bool,
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
            poll_interval: Duration::from_secs(10),
            explicit_flag_defaults: true,
            grpc_servicers_in_image: false,
            project_root: project.root.clone(),
        }
    }

    /// `--cloud C --project P`, for the ones that are set.
    fn scope_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(cloud) = &self.cloud {
            args.extend(["--cloud".to_owned(), cloud.clone()]);
        }
        if let Some(project) = &self.project {
            args.extend(["--project".to_owned(), project.clone()]);
        }
        args
    }
}

/// A deployed Anyscale service; terminated by [`AnyscaleService::terminate`] or on drop.
#[derive(Debug)]
pub struct AnyscaleService {
    /// The service's name.
    pub name: String,
    /// The service's id, from its status (terminating goes by id, never by a name that
    /// another project may use too); `None` until a status was read.
    pub id: Option<String>,
    /// The service YAML that was deployed.
    pub config_path: PathBuf,
    cli: PathBuf,
    token: Option<Secret>,
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

/// Ray 2.60's default of each of [`RAY_SERVE_FLAGS`] that `env` does not set, given the ones
/// it does (ray/serve/_private/constants.py): `RAY_SERVE_THROUGHPUT_OPTIMIZED=1` turns the
/// defaults of gRPC-by-default to "1" and of the router loop and user-code thread to "0".
pub fn ray_serve_flag_defaults(env: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let throughput = env.get(THROUGHPUT_OPTIMIZED).is_some_and(|v| v == "1");
    let (separate_loops, grpc) = if throughput { ("0", "1") } else { ("1", "0") };
    let default = |flag: &str| match flag {
        "RAY_SERVE_ENABLE_HA_PROXY" | "RAY_SERVE_THROUGHPUT_OPTIMIZED" => "0",
        "RAY_SERVE_USE_GRPC_BY_DEFAULT" => grpc,
        "RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP" | "RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD" => {
            separate_loops
        }
        // RAY_SERVE_HAPROXY_TCP_NODELAY
        _ => "1",
    };
    RAY_SERVE_FLAGS
        .iter()
        .filter(|flag| !env.contains_key(**flag))
        .map(|flag| ((*flag).to_owned(), default(flag).to_owned()))
        .collect()
}

/// The service-level `env_vars` of `variant`'s service: `extra_env` and the variant's (which
/// win), and Ray's defaults of the flags of the table that neither sets (when
/// [`AnyscaleOptions::explicit_flag_defaults`]).
fn service_env(options: &AnyscaleOptions, variant: &Variant) -> BTreeMap<String, String> {
    let mut env = options.extra_env.clone();
    env.extend(variant.env.clone());
    if options.explicit_flag_defaults {
        env.extend(ray_serve_flag_defaults(&env));
    }
    env
}

/// The gRPC service loadgen calls and the apps serve (`proto/servebench.proto`).
const GRPC_SERVICE: &str = "servebench.v1.ServeBench";

/// The gRPC services behind the apps (`servebench.v1.ServeBench` for
/// `/servebench.v1.ServeBench/Echo`): Anyscale's load balancer routes gRPC only for the
/// `grpc_options.service_names` of the service.
fn grpc_service_names(apps: &ServeApps) -> Vec<String> {
    let names: BTreeSet<String> = apps
        .apps
        .iter()
        .filter_map(|a| match &a.check {
            loadgen::WorkloadSpec::Grpc(_) => Some(GRPC_SERVICE.to_owned()),
            _ => None,
        })
        .collect();
    names.into_iter().collect()
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
    config.insert("env_vars".into(), json!(service_env(options, variant)));
    config.insert("query_auth_token_enabled".into(), json!(true));
    if apps.has_grpc() {
        config.insert(
            "grpc_options".into(),
            json!({
                "service_names": grpc_service_names(apps),
                "grpc_servicer_functions": apps.grpc_servicer_functions,
            }),
        );
    }
    config.insert("applications".into(), apps.applications_json());
    Value::Object(config)
}

/// Refuses `variant` with `apps` on Anyscale when the apps include gRPC and the variant sets
/// `RAY_SERVE_THROUGHPUT_OPTIMIZED=1`: Anyscale documents that flag as not to be used with
/// `grpc_options`, so the measurement could not be trusted.
pub fn check_grpc_compat(variant: &Variant, apps: &ServeApps) -> Result<(), DeployError> {
    check_grpc_env(&variant.name, &variant.env, apps)
}

fn check_grpc_env(
    variant: &str,
    env: &BTreeMap<String, String>,
    apps: &ServeApps,
) -> Result<(), DeployError> {
    if !apps.has_grpc() || env.get(THROUGHPUT_OPTIMIZED).is_none_or(|v| v != "1") {
        return Ok(());
    }
    let grpc: Vec<&str> = apps.apps.iter().filter(|a| a.is_grpc()).map(|a| a.name.as_str()).collect();
    Err(DeployError::Invalid {
        what: "Anyscale deployment",
        message: format!(
            "variant `{variant}` sets RAY_SERVE_THROUGHPUT_OPTIMIZED=1, which Anyscale documents as not \
             to be used with grpc_options, and the gRPC apps ({}) need grpc_options: deploy only HTTP \
             apps with this variant on Anyscale, or measure gRPC with the local backend",
            grpc.join(", ")
        ),
    })
}

fn check_grpc_image(options: &AnyscaleOptions, apps: &ServeApps) -> Result<(), DeployError> {
    if !apps.has_grpc() || options.grpc_servicers_in_image {
        return Ok(());
    }
    Err(DeployError::Invalid {
        what: "Anyscale deployment",
        message: format!(
            "the gRPC apps need {} importable when Anyscale's proxies start, that is from the image \
             (an application's working_dir is not the proxies'); `{}` does not have them: use an image \
             built with {} on its Python path and set AnyscaleOptions::grpc_servicers_in_image",
            apps.grpc_servicer_functions.join(", "),
            options.image_uri,
            apps.app_dir.display()
        ),
    })
}

/// What a state of `anyscale service status` means to a deploy waiting for RUNNING.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Awaited {
    Running,
    /// UNHEALTHY, SYSTEM_FAILURE, TERMINATING, TERMINATED: stop waiting.
    Failed,
    /// STARTING, UPDATING, ROLLING_OUT, ROLLING_BACK, UNKNOWN (the CLI's name for a state it
    /// does not know), and anything newer: keep waiting.
    Pending,
}

fn awaited(state: &str) -> Awaited {
    match state {
        "RUNNING" => Awaited::Running,
        "UNHEALTHY" | "SYSTEM_FAILURE" | "TERMINATING" | "TERMINATED" => Awaited::Failed,
        _ => Awaited::Pending,
    }
}

/// What `anyscale service status -o json` says about a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnyscaleStatus {
    /// The service's id (what `service terminate --id` takes).
    pub id: String,
    /// Its name.
    pub name: String,
    /// STARTING, RUNNING, UPDATING, ROLLING_OUT, ROLLING_BACK, UNHEALTHY, TERMINATING,
    /// TERMINATED, UNKNOWN or SYSTEM_FAILURE.
    pub state: String,
    /// `query_url` without its trailing `/`, if the status has one.
    pub query_url: Option<String>,
    /// `query_auth_token`, if the service has one.
    pub query_auth_token: Option<Secret>,
}

/// Reads `anyscale service status -o json` output. Errors never quote the output (it holds
/// the token).
pub fn parse_status(stdout: &str) -> Result<AnyscaleStatus, DeployError> {
    const WHAT: &str = "`anyscale service status -o json`";
    if stdout.contains('\u{1b}') {
        return Err(DeployError::Anyscale(format!(
            "{WHAT} printed terminal colour codes: its JSON cannot be read (is this the deprecated \
             `--json`, which colours its output under FORCE_COLOR?)"
        )));
    }
    let json = match (stdout.find('{'), stdout.rfind('}')) {
        (Some(s), Some(e)) if s < e => &stdout[s..=e],
        _ => return Err(DeployError::Anyscale(format!("{WHAT} printed no JSON object"))),
    };
    let value: Value = serde_json::from_str(json).map_err(|e| {
        DeployError::Anyscale(format!("{WHAT} is not valid JSON (line {}, column {})", e.line(), e.column()))
    })?;
    let text = |key: &str| value.get(key).and_then(Value::as_str).filter(|s| !s.is_empty());
    let required = |key: &str| {
        text(key)
            .map(str::to_owned)
            .ok_or_else(|| DeployError::Anyscale(format!("the service status has no `{key}`")))
    };
    Ok(AnyscaleStatus {
        id: required("id")?,
        name: required("name")?,
        state: required("state")?,
        query_url: text("query_url").map(|u| u.trim_end_matches('/').to_owned()),
        query_auth_token: text("query_auth_token").map(Secret::new),
    })
}

/// `text` as it may be shown: colour codes removed (under FORCE_COLOR the CLI's printer
/// colours the digits inside a token, so a token is not always one piece of the raw text),
/// then each of `known` (tokens already read) and whatever follows `Bearer ` or an
/// `auth_token` key (`query_auth_token: …`, `"query_auth_token": "…"`, `auth_token=…`)
/// replaced by `<redacted>`: the forms of the CLI's text, YAML and JSON output.
pub fn redact_cli_output(text: &str, known: &[&str]) -> String {
    const REDACTED: &str = "<redacted>";
    let mut text = strip_ansi(text);
    for secret in known.iter().filter(|s| !s.is_empty()) {
        text = text.replace(secret, REDACTED);
    }
    let lower = text.to_ascii_lowercase();
    let bytes = text.as_bytes();
    let is_end = |b: u8| b.is_ascii_whitespace() || matches!(b, b'"' | b'\'' | b',' | b'}' | b']');
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for (marker, keyed) in [("bearer", false), ("auth_token", true)] {
        let mut from = 0;
        while let Some(found) = lower[from..].find(marker) {
            let key_end = from + found + marker.len();
            from = key_end;
            // Past the separator: whitespace after `Bearer`; quotes, `:` or `=` and whitespace
            // after a key (which must end there and be followed by `:` or `=`).
            let mut i = key_end;
            let mut assigned = false;
            loop {
                match bytes.get(i) {
                    Some(b' ' | b'\t') => i += 1,
                    Some(b'"' | b'\'') if keyed => i += 1,
                    Some(b':' | b'=') if keyed => {
                        assigned = true;
                        i += 1;
                    }
                    _ => break,
                }
            }
            if i == key_end || (keyed && !assigned) {
                continue;
            }
            let mut end = i;
            while end < bytes.len() && !is_end(bytes[end]) {
                end += 1;
            }
            let value = &text[i..end];
            if !value.is_empty() && !matches!(value, REDACTED | "null" | "None" | "true" | "false") {
                ranges.push((i, end));
            }
        }
    }
    ranges.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end) in ranges {
        if start < at {
            continue;
        }
        out.push_str(&text[at..start]);
        out.push_str(REDACTED);
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

/// The end of a command's output as it may be shown ([`redact_cli_output`]).
fn shown_tail(bytes: &[u8], known: &[&str]) -> String {
    crate::python::tail(redact_cli_output(&String::from_utf8_lossy(bytes), known).as_bytes())
}

/// `text` without ANSI escape sequences (ESC `[` … final byte).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if ('\u{40}'..='\u{7e}').contains(&c) {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Runs the CLI; a failure's error shows the end of its output, redacted (`known`: tokens
/// already read, besides what [`redact_cli_output`] finds by itself).
async fn run_cli(
    cli: &Path,
    args: &[String],
    timeout: Duration,
    known: &[&str],
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
        let mut message = shown_tail(&output.stderr, known);
        let stdout = shown_tail(&output.stdout, known);
        if !stdout.is_empty() {
            message.push('\n');
            message.push_str(&stdout);
        }
        return Err(DeployError::Command {
            command: shown,
            message: format!("{}: {}", output.status, message.trim()),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
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
    let mut set_env = options.extra_env.clone();
    set_env.extend(variant.env.clone());
    let env = service_env(options, variant);
    check_grpc_env(&variant.name, &env, apps)?;
    check_grpc_image(options, apps)?;
    let name = service_name(&options.name_prefix, &variant.name, &apps.layout);
    let config = service_config(options, &name, variant, apps);
    std::fs::create_dir_all(&options.out_dir)
        .map_err(|source| DeployError::WriteFile { path: options.out_dir.clone(), source })?;
    let config_path = options.out_dir.join(format!("{name}.yaml"));
    let mut text = String::from(
        "# Anyscale service written by servebench's `deploy`; deploy with\n# anyscale service deploy -f <this file>\n",
    );
    // The flags of the table the service gets as Ray's defaults, said in the file and here.
    let defaults: Vec<String> =
        env.iter().filter(|(k, _)| !set_env.contains_key(*k)).map(|(k, v)| format!("{k}={v}")).collect();
    if !defaults.is_empty() {
        let line =
            format!("flags the variant leaves unset, set to Ray 2.60's defaults: {}", defaults.join(" "));
        say(&line);
        text.push_str(&format!("# {line} (not left to the image's environment)\n"));
    }
    text.push_str(&to_yaml(&config));
    std::fs::write(&config_path, text)
        .map_err(|source| DeployError::WriteFile { path: config_path.clone(), source })?;
    let config_arg = config_path.display().to_string();
    say(&format!("anyscale service deploy -f {config_arg}"));
    run_cli(&options.cli, &args(&["service", "deploy", "-f", &config_arg]), Duration::from_secs(900), &[])
        .await?;
    // From here on the service exists: dropping `service` terminates it.
    let mut service = AnyscaleService {
        name: name.clone(),
        id: None,
        config_path,
        cli: options.cli.clone(),
        token: None,
        terminated: false,
    };
    if options.cloud.is_none() || options.project.is_none() {
        say(
            "no cloud or project set: `anyscale service status` may find a service of the same name in another project",
        );
    }
    let status = wait_running(options, &mut service, &say).await?;
    let query_url = status.query_url.clone().ok_or_else(|| {
        DeployError::Anyscale(format!("service `{name}` is RUNNING but its status has no `query_url`"))
    })?;
    let target = Target {
        http_base: query_url.clone(),
        grpc_uri: apps.has_grpc().then(|| query_url.clone()),
        headers: status.query_auth_token.as_ref().map(|t| Header::bearer(t.expose())).into_iter().collect(),
        apps: apps.endpoints(),
    };
    if query_url.starts_with("http://") {
        crate::local::check_until_ok(&target, Duration::from_secs(120), &say).await?;
    }
    // The flags the service got: the variant's, and those of the table it got from
    // `extra_env` or as Ray's defaults.
    let mut flags = variant.env.clone();
    flags.extend(env.into_iter().filter(|(k, _)| RAY_SERVE_FLAGS.contains(&k.as_str())));
    let (git_revision, git_dirty) = git_revision(&options.project_root);
    let manifest = Manifest {
        schema_version: crate::manifest::MANIFEST_SCHEMA_VERSION,
        created_unix_ms: now_unix_ms(),
        backend: "anyscale".to_owned(),
        variant: variant.name.clone(),
        flags,
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
        metrics: None,
    };
    Ok((service, target, manifest))
}

/// Polls `service status` until the service is RUNNING (its status is returned), goes to a
/// state it does not come back from, or `wait_timeout` passes. Records the service's id and
/// token on `service` as soon as a status shows them.
async fn wait_running(
    options: &AnyscaleOptions,
    service: &mut AnyscaleService,
    say: &(dyn Fn(&str) + Send + Sync),
) -> Result<AnyscaleStatus, DeployError> {
    let started = Instant::now();
    let deadline = started + options.wait_timeout;
    let mut status_args = args(&["service", "status", "--name", &service.name]);
    status_args.extend(options.scope_args());
    status_args.extend(args(&["-o", "json"]));
    say(&format!("waiting for RUNNING: {}", status_args.join(" ")));
    let mut last_state = String::new();
    loop {
        let known: Vec<&str> = service.token.iter().map(Secret::expose).collect();
        let stdout = run_cli(&options.cli, &status_args, Duration::from_secs(300), &known).await?;
        let status = parse_status(&stdout)?;
        service.id = Some(status.id.clone());
        if status.query_auth_token.is_some() {
            service.token.clone_from(&status.query_auth_token);
        }
        if status.state != last_state {
            say(&format!("{} is {} ({} s)", service.name, status.state, started.elapsed().as_secs()));
            last_state.clone_from(&status.state);
        }
        match awaited(&status.state) {
            Awaited::Running => return Ok(status),
            Awaited::Failed => {
                return Err(DeployError::ServiceFailed {
                    service: service.name.clone(),
                    state: status.state,
                    secs: started.elapsed().as_secs(),
                });
            }
            Awaited::Pending => {}
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(DeployError::Timeout {
                what: format!("Anyscale service `{}` to be RUNNING", service.name),
                secs: options.wait_timeout.as_secs(),
                last: status.state,
            });
        }
        tokio::time::sleep(options.poll_interval.min(deadline - now)).await;
    }
}

impl AnyscaleService {
    /// `service terminate --id <id>`; by `--name` only when no status was ever read (the
    /// CLI then looks in every project, and fails if the name is not unique).
    fn terminate_args(&self) -> Vec<String> {
        match &self.id {
            Some(id) => args(&["service", "terminate", "--id", id]),
            None => args(&["service", "terminate", "--name", &self.name]),
        }
    }

    /// Terminates the service (`anyscale service terminate --id <id>`).
    pub async fn terminate(mut self) -> Result<(), DeployError> {
        self.terminated = true;
        let known: Vec<&str> = self.token.iter().map(Secret::expose).collect();
        run_cli(&self.cli, &self.terminate_args(), Duration::from_secs(300), &known).await.map(drop)
    }
}

impl Drop for AnyscaleService {
    fn drop(&mut self) {
        if !self.terminated {
            let _ = std::process::Command::new(&self.cli)
                .args(self.terminate_args())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Awaited, awaited, strip_ansi};

    #[test]
    fn every_state_of_the_cli_is_classified() {
        assert_eq!(awaited("RUNNING"), Awaited::Running);
        for failed in ["UNHEALTHY", "SYSTEM_FAILURE", "TERMINATING", "TERMINATED"] {
            assert_eq!(awaited(failed), Awaited::Failed, "{failed}");
        }
        for pending in ["STARTING", "UPDATING", "ROLLING_OUT", "ROLLING_BACK", "UNKNOWN", "NEW_STATE"] {
            assert_eq!(awaited(pending), Awaited::Pending, "{pending}");
        }
    }

    #[test]
    fn colour_codes_are_stripped() {
        assert_eq!(strip_ansi("\u{1b}[1;34m\"id\"\u{1b}[0m: 1"), "\"id\": 1");
        assert_eq!(strip_ansi("plain é"), "plain é");
    }
}
