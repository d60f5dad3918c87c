//! The managed Python environment: a virtual environment with `suites/requirements.txt`
//! installed, created on first use under a file lock so that two first uses at once wait
//! for each other instead of corrupting it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Environment variable naming a ready virtual environment to use as is (no install).
pub const PYTHON_ENV_VAR: &str = "SERVEBENCH_PYTHON_ENV";

const STAMP: &str = ".servebench-requirements";
const LOCK: &str = ".servebench.lock";

/// Why the Python environment could not be prepared; each says what to run by hand.
#[derive(Debug, thiserror::Error)]
pub enum PythonError {
    /// No Python interpreter to create the environment with.
    #[error(
        "`{python}` was not found ({source}); install Python 3.10-3.12 (e.g. `apt-get install python3 python3-venv`), then run: {manual}"
    )]
    PythonMissing {
        python: String,
        manual: String,
        #[source]
        source: std::io::Error,
    },
    /// `python -m venv` failed (often: the venv/ensurepip module is missing).
    #[error(
        "creating the virtual environment failed: {message}; on Debian `apt-get install python3-venv` provides venv and pip; by hand: {manual}"
    )]
    VenvFailed { message: String, manual: String },
    /// `pip install` failed.
    #[error("installing {requirements} failed: {message}; by hand: {manual}")]
    InstallFailed { requirements: PathBuf, message: String, manual: String },
    /// A named environment is not usable.
    #[error("the Python environment {path} is not usable: {message}")]
    Unusable { path: PathBuf, message: String },
    /// File system trouble (lock, stamp).
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// Where the environment comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonEnvOptions {
    /// The virtual environment's directory (created if missing).
    pub venv: PathBuf,
    /// The requirements file to install.
    pub requirements: PathBuf,
    /// The interpreter that creates the environment (`python3`).
    pub base_python: String,
    /// Use this ready environment as is, installing nothing (from `SERVEBENCH_PYTHON_ENV`
    /// by [`PythonEnvOptions::for_project`]).
    pub existing: Option<PathBuf>,
}

impl PythonEnvOptions {
    /// The project's defaults: `.venv` and `suites/requirements.txt` under the root, or the
    /// environment named by `SERVEBENCH_PYTHON_ENV`.
    pub fn for_project(project: &crate::Project) -> Self {
        Self {
            venv: project.venv(),
            requirements: project.requirements(),
            base_python: "python3".to_owned(),
            existing: std::env::var_os(PYTHON_ENV_VAR).filter(|v| !v.is_empty()).map(PathBuf::from),
        }
    }
}

/// A ready virtual environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonEnv {
    /// Its directory.
    pub root: PathBuf,
    /// Python version, e.g. `3.11.7`.
    pub python_version: String,
    /// Ray version, e.g. `2.60.0`.
    pub ray_version: String,
}

impl PythonEnv {
    /// Makes sure the environment exists and has the requirements installed (blocking; may
    /// take a minute on first use). `progress` hears what is being done.
    pub fn ensure(options: &PythonEnvOptions, progress: &dyn Fn(&str)) -> Result<PythonEnv, PythonError> {
        if let Some(existing) = &options.existing {
            return Self::open(existing);
        }
        let venv = &options.venv;
        let manual = format!(
            "{} -m venv {} && {}/bin/pip install -r {}",
            options.base_python,
            venv.display(),
            venv.display(),
            options.requirements.display()
        );
        std::fs::create_dir_all(venv)
            .map_err(|source| PythonError::Io { context: format!("creating {}", venv.display()), source })?;
        let lock_path = venv.join(LOCK);
        let lock =
            std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).map_err(
                |source| PythonError::Io { context: format!("opening {}", lock_path.display()), source },
            )?;
        if lock.try_lock().is_err() {
            progress("waiting for another process preparing the Python environment");
            lock.lock().map_err(|source| PythonError::Io {
                context: format!("locking {}", lock_path.display()),
                source,
            })?;
        }
        let requirements = std::fs::read(&options.requirements).map_err(|source| PythonError::Io {
            context: format!("reading {}", options.requirements.display()),
            source,
        })?;
        let stamp_path = venv.join(STAMP);
        let python = venv.join("bin/python");
        let up_to_date =
            python.is_file() && std::fs::read(&stamp_path).is_ok_and(|stamp| stamp == requirements);
        if !up_to_date {
            if !python.is_file() {
                progress(&format!("creating the virtual environment {}", venv.display()));
                let output =
                    Command::new(&options.base_python).args(["-m", "venv"]).arg(venv).output().map_err(
                        |source| PythonError::PythonMissing {
                            python: options.base_python.clone(),
                            manual: manual.clone(),
                            source,
                        },
                    )?;
                if !output.status.success() {
                    return Err(PythonError::VenvFailed { message: tail(&output.stderr), manual });
                }
            }
            progress(&format!("installing {} (first use; about a minute)", options.requirements.display()));
            let output = Command::new(&python)
                .args(["-m", "pip", "install", "--disable-pip-version-check", "-q", "-r"])
                .arg(&options.requirements)
                .output()
                .map_err(|source| PythonError::InstallFailed {
                    requirements: options.requirements.clone(),
                    message: source.to_string(),
                    manual: manual.clone(),
                })?;
            if !output.status.success() {
                return Err(PythonError::InstallFailed {
                    requirements: options.requirements.clone(),
                    message: tail(&output.stderr),
                    manual,
                });
            }
            std::fs::write(&stamp_path, &requirements).map_err(|source| PythonError::Io {
                context: format!("writing {}", stamp_path.display()),
                source,
            })?;
        }
        let env = Self::open(venv);
        drop(lock);
        env
    }

    /// Opens a ready environment without installing anything.
    pub fn open(root: &Path) -> Result<PythonEnv, PythonError> {
        let unusable = |message: String| PythonError::Unusable { path: root.to_path_buf(), message };
        let python = root.join("bin/python");
        let output = Command::new(&python)
            .args(["-c", "import sys, ray; print(sys.version.split()[0]); print(ray.__version__)"])
            .output()
            .map_err(|e| unusable(format!("cannot run {}: {e}", python.display())))?;
        if !output.status.success() {
            return Err(unusable(format!("`import ray` failed: {}", tail(&output.stderr))));
        }
        let text = String::from_utf8_lossy(&output.stdout);
        let mut lines = text.lines();
        let python_version = lines.next().unwrap_or_default().trim().to_owned();
        let ray_version = lines.next().unwrap_or_default().trim().to_owned();
        if !root.join("bin/ray").is_file() {
            return Err(unusable("it has no bin/ray".to_owned()));
        }
        Ok(PythonEnv { root: root.to_path_buf(), python_version, ray_version })
    }

    /// Its `python`.
    pub fn python(&self) -> PathBuf {
        self.root.join("bin/python")
    }

    /// An executable of its `bin/` (e.g. `ray`).
    pub fn bin(&self, name: &str) -> PathBuf {
        self.root.join("bin").join(name)
    }
}

/// The last lines of a command's output, for error messages.
pub(crate) fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(15);
    lines[start..].join("\n")
}
