//! Errors of a run (bad configuration, files that cannot be written) and the classes that
//! failed requests are counted under. An error's message says what failed; its cause is its
//! [`std::error::Error::source`], never repeated in the message (print the chain, as
//! `anyhow`'s `{:#}` does, to see both).

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can make a run itself fail. Failed requests are not `Error`s: they are counted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting is out of range or inconsistent; the message names it.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The target could not be understood.
    #[error("invalid target {target:?}: {reason}")]
    Target {
        /// The target as given (never carries header values).
        target: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The CA certificates of a PEM file could not be read.
    #[error("reading CA certificates from {}", path.display())]
    CaCert {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A result file could not be written or read.
    #[error("{action} {}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A result could not be encoded or decoded.
    #[error("{action} {}", path.display())]
    Format {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The run was cancelled (Ctrl-C, or its [`crate::CancellationToken`]) before the level
    /// finished; finished levels are on disk.
    #[error("stopped before level {level:?} finished")]
    Stopped {
        /// The level that was interrupted.
        level: String,
    },
}

impl Error {
    pub(crate) fn config(msg: impl Into<String>) -> Self {
        Error::Config(msg.into())
    }
}

/// The class a failed request is counted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorClass {
    /// The connection could not be opened (refused, unreachable, TLS handshake failed).
    Connect,
    /// No complete answer within the request timeout.
    Timeout,
    /// The server answered with an unexpected status (HTTP status, gRPC status code).
    Status,
    /// The answer arrived but its content was wrong (for example an echo that differs).
    Body,
    /// The protocol broke: connection reset mid-request, malformed response.
    Protocol,
    /// A stream ended early or carried a malformed event.
    Stream,
    /// Open loop: an arrival scheduled inside the window that could never be sent.
    Unsent,
    /// Issued in the window and still without a complete answer when the level stopped waiting
    /// for it (its timeout plus a margin after the window).
    Unfinished,
}

impl ErrorClass {
    /// All classes, in the order results list them.
    pub const ALL: [ErrorClass; 8] = [
        ErrorClass::Connect,
        ErrorClass::Timeout,
        ErrorClass::Status,
        ErrorClass::Body,
        ErrorClass::Protocol,
        ErrorClass::Stream,
        ErrorClass::Unsent,
        ErrorClass::Unfinished,
    ];

    /// The name used in result files.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Connect => "connect",
            ErrorClass::Timeout => "timeout",
            ErrorClass::Status => "status",
            ErrorClass::Body => "body",
            ErrorClass::Protocol => "protocol",
            ErrorClass::Stream => "stream",
            ErrorClass::Unsent => "unsent",
            ErrorClass::Unfinished => "unfinished",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

pub(crate) fn io_err(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { action, path, source }
}
