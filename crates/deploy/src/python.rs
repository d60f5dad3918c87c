//! The managed Python environment: a virtual environment with `suites/requirements.txt`
//! installed, created on first use under a file lock so that two first uses at once wait
//! for each other instead of corrupting it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Environment variable naming a ready virtual environment to use as is (no install).
pub const PYTHON_ENV_VAR: &str = "SERVEBENCH_PYTHON_ENV";

/// Environment variable naming a Python interpreter that imports Ray as it is, e.g. with Ray
/// on `PYTHONPATH` and no console scripts (a machine without package registries, where Ray
/// travels as an unpacked `site-packages`): nothing is installed, `ray` is run as
/// `python -c 'from ray.scripts.scripts import main; main()'`, and the caller's `PYTHONPATH`
/// stays on the cluster's.
pub const PYTHON_INTERPRETER_VAR: &str = "SERVEBENCH_PYTHON";

/// What runs Ray's CLI in interpreter mode (the module behind the `ray` console script).
const RAY_CLI_SNIPPET: &str =
    "import sys; sys.argv[0] = 'ray'; from ray.scripts.scripts import main; sys.exit(main())";

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
    /// Use this interpreter as is: Ray must import with the caller's `PYTHONPATH` (from
    /// `SERVEBENCH_PYTHON` by [`PythonEnvOptions::for_project`]; wins over `existing`).
    pub interpreter: Option<PathBuf>,
    /// Interpreter mode: the `PYTHONPATH` that makes Ray importable (the caller's, by
    /// [`PythonEnvOptions::for_project`]).
    pub pythonpath: Option<String>,
    /// What a first install downloads and takes, said before it starts (`about 9.4 GB`).
    pub install_note: Option<String>,
    /// Free disk space a first install needs, bytes; checked before it starts.
    pub min_free_bytes: u64,
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
            interpreter: std::env::var_os(PYTHON_INTERPRETER_VAR)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            pythonpath: std::env::var("PYTHONPATH").ok().filter(|p| !p.is_empty()),
            install_note: None,
            min_free_bytes: 0,
        }
    }

    /// A suite's own environment instead of the project's (`.venv-llm` with its own pinned
    /// requirements), with what a first install costs; a ready environment named by
    /// `SERVEBENCH_PYTHON_ENV` or `SERVEBENCH_PYTHON` still wins.
    pub fn use_suite_env(&mut self, venv: &Path, requirements: &Path, install_size: &str, min_free_gb: f64) {
        self.venv = venv.to_path_buf();
        self.requirements = requirements.to_path_buf();
        self.install_note = (!install_size.is_empty()).then(|| install_size.to_owned());
        self.min_free_bytes = (min_free_gb.max(0.0) * 1e9) as u64;
    }

    /// What identifies the environment these options give (for caching a ready one).
    pub fn key(&self) -> PathBuf {
        self.interpreter.clone().or_else(|| self.existing.clone()).unwrap_or_else(|| self.venv.clone())
    }
}

/// A ready Python with Ray: a virtual environment, or an interpreter given as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonEnv {
    /// The interpreter.
    pub python: PathBuf,
    /// How `ray` runs.
    pub ray_cli: RayCli,
    /// The `PYTHONPATH` Ray was found with, which the cluster must keep (interpreter mode).
    pub pythonpath: Option<String>,
    /// Python version, e.g. `3.11.7`.
    pub python_version: String,
    /// Ray version, e.g. `2.60.0`.
    pub ray_version: String,
}

/// How Ray's CLI is started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RayCli {
    /// The environment's console script (`<venv>/bin/ray`).
    Script(PathBuf),
    /// Through the interpreter (`python -c '...main()'`), where no console script exists.
    Interpreter,
}

impl PythonEnv {
    /// Makes sure the environment exists and has the requirements installed (blocking; may
    /// take a minute on first use). `progress` hears what is being done.
    pub fn ensure(options: &PythonEnvOptions, progress: &dyn Fn(&str)) -> Result<PythonEnv, PythonError> {
        if let Some(interpreter) = &options.interpreter {
            return Self::interpreter(interpreter, options.pythonpath.as_deref());
        }
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
            let fresh = !python.is_file();
            if fresh {
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
            if options.min_free_bytes > 0
                && let Some(free) = free_bytes(venv)
                && free < options.min_free_bytes
            {
                return Err(PythonError::InstallFailed {
                    requirements: options.requirements.clone(),
                    message: format!(
                        "it needs about {:.1} GB of free disk space and {} has {:.1} GB",
                        options.min_free_bytes as f64 / 1e9,
                        venv.display(),
                        free as f64 / 1e9
                    ),
                    manual,
                });
            }
            let note = options.install_note.as_deref().unwrap_or("about a minute");
            progress(&format!(
                "installing {} into {} ({}; {note})",
                options.requirements.display(),
                venv.display(),
                if fresh { "a new environment" } else { "its requirements changed since the last install" }
            ));
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

    /// Opens a ready virtual environment without installing anything.
    pub fn open(root: &Path) -> Result<PythonEnv, PythonError> {
        let python = root.join("bin/python");
        let (python_version, ray_version) = probe(Command::new(&python), root)?;
        let ray = root.join("bin/ray");
        if !ray.is_file() {
            return Err(PythonError::Unusable {
                path: root.to_path_buf(),
                message: "it has no bin/ray".to_owned(),
            });
        }
        Ok(PythonEnv { python, ray_cli: RayCli::Script(ray), pythonpath: None, python_version, ray_version })
    }

    /// Uses `python` as it is, with `pythonpath` (see [`PYTHON_INTERPRETER_VAR`]). The cluster
    /// starts in a directory of its own: relative `PYTHONPATH` entries are made absolute, and the
    /// interpreter is the one the probe ran (`sys.executable`, not a shim that may choose another
    /// Python elsewhere).
    pub fn interpreter(python: &Path, pythonpath: Option<&str>) -> Result<PythonEnv, PythonError> {
        let cwd = std::env::current_dir().unwrap_or_default();
        let pythonpath = pythonpath.map(|p| {
            p.split(':')
                .filter(|e| !e.is_empty())
                .map(|e| cwd.join(e).display().to_string())
                .collect::<Vec<_>>()
                .join(":")
        });
        let mut command = Command::new(python);
        match &pythonpath {
            Some(p) => command.env("PYTHONPATH", p),
            None => command.env_remove("PYTHONPATH"),
        };
        let (python_version, ray_version) = probe(command, python)?;
        let mut command = Command::new(python);
        match &pythonpath {
            Some(p) => command.env("PYTHONPATH", p),
            None => command.env_remove("PYTHONPATH"),
        };
        let executable = command
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .filter(|e| !e.is_empty() && Path::new(e).is_absolute())
            .map_or_else(|| cwd.join(python), PathBuf::from);
        Ok(PythonEnv {
            python: executable,
            ray_cli: RayCli::Interpreter,
            pythonpath,
            python_version,
            ray_version,
        })
    }

    /// Its `python`.
    pub fn python(&self) -> &Path {
        &self.python
    }

    /// The program and leading arguments that run `ray ARGS...`.
    pub fn ray_command(&self) -> (PathBuf, Vec<String>) {
        match &self.ray_cli {
            RayCli::Script(path) => (path.clone(), Vec::new()),
            RayCli::Interpreter => (self.python.clone(), vec!["-c".to_owned(), RAY_CLI_SNIPPET.to_owned()]),
        }
    }
}

/// Runs `python` (a command ready but for its arguments) to learn its version and Ray's;
/// `what` names it in errors.
fn probe(mut python: Command, what: &Path) -> Result<(String, String), PythonError> {
    let unusable = |message: String| PythonError::Unusable { path: what.to_path_buf(), message };
    let program = python.get_program().to_owned();
    let output = python
        .args(["-c", "import sys, ray; print(sys.version.split()[0]); print(ray.__version__)"])
        .output()
        .map_err(|e| unusable(format!("cannot run {}: {e}", program.display())))?;
    if !output.status.success() {
        return Err(unusable(format!("`import ray` failed: {}", tail(&output.stderr))));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let mut lines = text.lines();
    let python_version = lines.next().unwrap_or_default().trim().to_owned();
    let ray_version = lines.next().unwrap_or_default().trim().to_owned();
    if ray_version.is_empty() {
        return Err(unusable(format!("`import ray` printed no version: {}", tail(&output.stdout))));
    }
    Ok((python_version, ray_version))
}

/// Free bytes on the file system holding `dir` (from `df`), if it can be told.
fn free_bytes(dir: &Path) -> Option<u64> {
    let out = Command::new("df").arg("-Pk").arg(dir).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let kib: u64 = text.lines().nth(1)?.split_whitespace().nth(3)?.parse().ok()?;
    Some(kib * 1024)
}

/// The last lines of a command's output, for error messages.
pub(crate) fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(15);
    lines[start..].join("\n")
}
