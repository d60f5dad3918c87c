//! Why a suite run could not start or stopped, each with its cause kept (typed sources, not
//! strings), and the exit status each maps to.

use std::path::PathBuf;

/// Everything that can stop a suite run.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// A configuration file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A configuration file is malformed or names something unknown.
    #[error("{path}: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The command line's selections or overrides do not fit the configuration.
    #[error("{0}")]
    Usage(String),
    /// The variants or apps file (or a deployment's options) is wrong.
    #[error(transparent)]
    Catalog(deploy::DeployError),
    /// A file of the run could not be written or read.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A deployment failed to come up (nothing of it is left running).
    #[error("deploying {deployment}: {source}")]
    Deploy {
        /// The deployment's key.
        deployment: String,
        /// The cause.
        #[source]
        source: deploy::DeployError,
    },
    /// Tearing a deployment down failed (also reported when the run itself failed).
    #[error("tearing down {deployment}: {source}")]
    Teardown {
        /// The deployment's key.
        deployment: String,
        /// The cause.
        #[source]
        source: deploy::DeployError,
    },
    /// A sweep could not run or its results could not be written.
    #[error("{deployment}, {workload}: {source}")]
    Sweep {
        /// The deployment's key.
        deployment: String,
        /// The workload.
        workload: String,
        /// The cause.
        #[source]
        source: loadgen::Error,
    },
    /// Ctrl-C or SIGTERM: finished levels are on disk and every deployment was torn down.
    #[error("interrupted; finished levels are kept (continue with --resume)")]
    Interrupted,
}

impl SuiteError {
    /// The exit status the README promises: 2 for bad arguments or configuration, 130 for an
    /// interrupt, 1 for a run that failed.
    pub fn exit_code(&self) -> u8 {
        match self {
            SuiteError::Read { .. }
            | SuiteError::Config { .. }
            | SuiteError::Usage(_)
            | SuiteError::Catalog(_) => 2,
            SuiteError::Interrupted => 130,
            _ => 1,
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> SuiteError {
        let path = path.into();
        move |source| SuiteError::Io { action, path, source }
    }
}
