//! The error type of the `deploy` crate: every failure says what was being done and how to
//! fix it where there is something to do by hand.

use std::path::PathBuf;

/// Everything that can go wrong while deploying, checking or tearing down.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// A configuration file could not be read.
    #[error("cannot read {path}: {source}")]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A configuration file is malformed or names something unknown.
    #[error("invalid {what} in {path}: {message}")]
    Config { what: &'static str, path: PathBuf, message: String },
    /// An option has a value that cannot work.
    #[error("invalid {what}: {message}")]
    Invalid { what: &'static str, message: String },
    /// Something was asked for that does not exist (a variant, an app, a layout).
    #[error("{0}")]
    NotFound(String),
    /// The Python environment could not be prepared.
    #[error(transparent)]
    Python(#[from] crate::python::PythonError),
    /// A command could not be started or failed.
    #[error("`{command}` failed: {message}")]
    Command { command: String, message: String },
    /// Ray did not start.
    #[error("ray start failed: {message} (Ray's logs: {log_dir}, kept only with keep_temp_dir)")]
    RayStart { log_dir: PathBuf, message: String },
    /// No free block of loopback ports was found.
    #[error("no free block of {size} loopback ports between {low} and {high}")]
    NoFreePorts { size: u16, low: u16, high: u16 },
    /// The Serve REST API answered with an error or could not be reached.
    #[error("Serve REST API {method} {url}: {message}")]
    ServeApi { method: &'static str, url: String, message: String },
    /// Serve reported that an application failed to deploy; `message` is Serve's own.
    #[error("DEPLOY_FAILED: application `{app}`: {message}")]
    DeployFailed { app: String, message: String },
    /// Applications did not reach RUNNING in time.
    #[error("timed out after {secs} s waiting for {what}; last state: {last}")]
    Timeout { what: String, secs: u64, last: String },
    /// A check request got a wrong answer.
    #[error("check of `{app}` failed: {message}")]
    Check { app: String, message: String },
    /// An HTTP or gRPC exchange failed.
    #[error("{0}")]
    Http(String),
    /// An Anyscale service went to a state it does not come back from (UNHEALTHY,
    /// SYSTEM_FAILURE, TERMINATING, TERMINATED) while it was awaited.
    #[error("Anyscale service `{service}` went {state} {secs} s after deploying, instead of RUNNING")]
    ServiceFailed { service: String, state: String, secs: u64 },
    /// The anyscale CLI failed or answered something unexpected.
    #[error("anyscale: {0}")]
    Anyscale(String),
    /// Tearing down left something behind or failed.
    #[error("teardown: {0}")]
    Teardown(String),
    /// A deployment that was running no longer serves (its processes died, its apps fail their
    /// check).
    #[error("the deployment no longer serves: {0}")]
    Gone(String),
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    WriteFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A metrics endpoint (Ray's export port, HAProxy's exporter) did not answer.
    #[error("scraping {url}: {message}")]
    Scrape { url: String, message: String },
    /// A metrics endpoint answered something that is not Prometheus exposition text.
    #[error("metrics from {url}: {source}")]
    MetricsFormat {
        url: String,
        #[source]
        source: crate::observe::ParseError,
    },
    /// Some other I/O failure.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl DeployError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io { context: context.into(), source }
    }
}
