//! A run's folder (`results/<suite>/<run>`): its name, the checks that keep one run from
//! overwriting another (or resuming something else), and the run manifest (versions, machine,
//! settings, plan, CPU pinning, the command line with credentials removed).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::SuiteError;
use crate::pinning::Pinning;
use crate::plan::Plan;
use crate::settings::Settings;

/// A run's folder, created (or, resuming, found) and ready for results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFolder {
    /// The run's name.
    pub name: String,
    /// The folder.
    pub dir: PathBuf,
}

/// A run name from the current time: `2026-12-01-17-00-00`.
pub fn timestamp_name() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .replace([':', 'T'], "-")
        .trim_end_matches('Z')
        .to_owned()
}

impl RunFolder {
    /// The folder `results_dir/name`: new (refused if it exists) or, with `resume`, existing (and
    /// of the same suite).
    pub fn open(
        results_dir: &Path,
        name: Option<&str>,
        resume: bool,
        suite: &str,
    ) -> Result<RunFolder, SuiteError> {
        let name = name.map_or_else(timestamp_name, str::to_owned);
        let dir = results_dir.join(&name);
        if resume {
            if !dir.is_dir() {
                return Err(SuiteError::Usage(format!("no run to resume at {}", dir.display())));
            }
            let manifest = dir.join("manifest.json");
            if let Ok(text) = std::fs::read_to_string(&manifest)
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
                && v.get("suite").and_then(|s| s.as_str()).is_some_and(|s| s != suite)
            {
                return Err(SuiteError::Usage(format!(
                    "{} is a run of the {} suite, not of {suite}",
                    dir.display(),
                    v["suite"].as_str().unwrap_or_default()
                )));
            }
        } else if dir.exists() {
            return Err(SuiteError::Usage(format!(
                "{} exists: pass --resume to continue it, or choose another --run",
                dir.display()
            )));
        }
        std::fs::create_dir_all(&dir).map_err(SuiteError::io("creating", &dir))?;
        Ok(RunFolder { name, dir })
    }

    /// Writes `manifest.json` (or, resuming, `manifest.<n>.json` beside the first one).
    pub fn write_manifest(&self, m: &RunManifest<'_>) -> Result<PathBuf, SuiteError> {
        let mut path = self.dir.join("manifest.json");
        let mut n = 1;
        while path.exists() {
            path = self.dir.join(format!("manifest.{n}.json"));
            n += 1;
        }
        let json = serde_json::to_vec_pretty(m).map_err(|e| SuiteError::Io {
            action: "encoding",
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        std::fs::write(&path, json).map_err(SuiteError::io("writing", &path))?;
        Ok(path)
    }
}

/// The command line as it may be written down: URLs without user info or query, and the values
/// of options that may carry them redacted the same way.
pub fn redacted_command(args: &[String]) -> Vec<String> {
    args.iter()
        .map(|a| match a.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") && value.contains("://") => {
                format!("{flag}={}", loadgen::redact_url(value))
            }
            _ if a.contains("://") => loadgen::redact_url(a),
            _ => a.clone(),
        })
        .collect()
}

/// What `manifest.json` holds.
#[derive(Debug, Serialize)]
pub struct RunManifest<'a> {
    /// `servebench.run/1`.
    pub schema: &'static str,
    /// The suite.
    pub suite: &'a str,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// The command line, credentials removed.
    pub command: Vec<String>,
    /// servebench's version.
    pub servebench_version: &'static str,
    /// The project's git revision, if known.
    pub git_revision: Option<String>,
    /// Whether the checkout had uncommitted changes.
    pub git_dirty: Option<bool>,
    /// This machine.
    pub machine: deploy::Machine,
    /// Where the deployments ran (`local`, `anyscale`, `url`).
    pub target: crate::args::TargetKind,
    /// The settings.
    pub settings: &'a Settings,
    /// The plan.
    pub plan: &'a Plan,
    /// CPU pinning.
    pub cpu_pinning: &'a Pinning,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_reach_the_manifest() {
        let args: Vec<String> = [
            "features-suite",
            "--url",
            "http://user:pass@host:8000/?token=abc",
            "--grpc-url=https://u:p@h:9000",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let shown = redacted_command(&args).join(" ");
        assert!(!shown.contains("pass") && !shown.contains("abc") && !shown.contains("u:p"), "{shown}");
        assert!(shown.contains("host:8000") && shown.contains("h:9000"), "{shown}");
    }

    #[test]
    fn a_run_is_never_overwritten_and_resumes_only_its_own_suite() {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let f = RunFolder::open(root.path(), Some("r1"), false, "features").unwrap_or_else(|e| panic!("{e}"));
        assert!(RunFolder::open(root.path(), Some("r1"), false, "features").is_err());
        std::fs::write(f.dir.join("manifest.json"), r#"{"suite": "recsys"}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        let e = RunFolder::open(root.path(), Some("r1"), true, "features").err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("recsys suite")));
        assert!(RunFolder::open(root.path(), Some("r2"), true, "features").is_err());
    }
}
