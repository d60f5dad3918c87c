//! The manifest every deployment writes: what ran (Ray and Python versions, flags, replica
//! counts), where (the machine) and from which source (the git revision).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde::Serialize;

use crate::DeployError;
use crate::target::Target;

/// Schema version of [`Manifest`]'s JSON form.
pub const MANIFEST_SCHEMA_VERSION: u32 = 1;

/// The machine `deploy` ran on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Machine {
    /// Host name.
    pub hostname: String,
    /// `linux`, ...
    pub os: String,
    /// `x86_64`, ...
    pub arch: String,
    /// CPU cores available to this process.
    pub cores: usize,
    /// Total memory in bytes (from /proc/meminfo), if known.
    pub memory_bytes: Option<u64>,
}

impl Machine {
    /// Describes this machine.
    pub fn current() -> Self {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default();
        let memory_bytes = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find(|l| l.starts_with("MemTotal:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse::<u64>().ok())
            })
            .map(|kb| kb * 1024);
        Self {
            hostname,
            os: std::env::consts::OS.to_owned(),
            arch: std::env::consts::ARCH.to_owned(),
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            memory_bytes,
        }
    }
}

/// What one deployment was; written as `manifest.json` next to its results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Manifest {
    /// [`MANIFEST_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// When the deployment became ready, milliseconds since the Unix epoch.
    pub created_unix_ms: u64,
    /// `local`, `anyscale` or `external`.
    pub backend: String,
    /// The variant's name.
    pub variant: String,
    /// The variant's environment variables (the flags).
    pub flags: BTreeMap<String, String>,
    /// The layout's name, if apps were deployed.
    pub layout: Option<String>,
    /// Replicas per `app/deployment`.
    pub replicas: BTreeMap<String, u32>,
    /// Ray version on the cluster, if known.
    pub ray_version: Option<String>,
    /// Python version on the cluster, if known.
    pub python_version: Option<String>,
    /// Logical CPUs the local cluster was started with.
    pub ray_logical_cpus: Option<u32>,
    /// The CPUs the local cluster's processes were pinned to (`taskset -c` list), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ray_cpu_affinity: Option<String>,
    /// Whether Ray's token authentication was on (local clusters).
    pub ray_token_auth: Option<bool>,
    /// The Anyscale service's name.
    pub service_name: Option<String>,
    /// The Anyscale service's image.
    pub image_uri: Option<String>,
    /// The machine `deploy` ran on (for a local cluster also the server).
    pub machine: Machine,
    /// `git rev-parse HEAD` of the project, if it is a git checkout with commits.
    pub git_revision: Option<String>,
    /// Whether the checkout had uncommitted changes.
    pub git_dirty: Option<bool>,
    /// Where clients reach it (header values redacted).
    pub target: Target,
    /// Where the cluster's Ray metrics are exported and how often they are reported (local
    /// clusters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<crate::observe::MetricsInfo>,
}

impl Manifest {
    /// Writes the manifest as pretty JSON (header values redacted).
    pub fn write(&self, path: &Path) -> Result<(), DeployError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|source| DeployError::WriteFile { path: dir.to_path_buf(), source })?;
        }
        let mut text = serde_json::to_string_pretty(self).map_err(|e| DeployError::WriteFile {
            path: path.to_path_buf(),
            source: std::io::Error::other(e),
        })?;
        text.push('\n');
        std::fs::write(path, text)
            .map_err(|source| DeployError::WriteFile { path: path.to_path_buf(), source })
    }
}

/// `(revision, dirty)` of the git checkout at `root`, `None`s when unknown.
pub fn git_revision(root: &Path) -> (Option<String>, Option<bool>) {
    let run = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let revision = run(&["rev-parse", "HEAD"]).filter(|r| !r.is_empty());
    let dirty = revision
        .as_ref()
        .and_then(|_| run(&["status", "--porcelain", "--untracked-files=no"]))
        .map(|s| !s.is_empty());
    (revision, dirty)
}

pub(crate) fn now_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
