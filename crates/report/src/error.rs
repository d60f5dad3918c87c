//! The error type of the `report` library.
//!
//! Problems with individual result files are not errors: they become [`crate::Warning`]s and the
//! file is skipped. An [`Error`] means the report as a whole could not be made (an input directory
//! that cannot be read, an output that cannot be written, a computation that failed). Each
//! variant's message says what was being done; the cause is its `source()`, never repeated in the
//! message, so printing the chain (`{:#}` with anyhow) says each thing once.

use std::path::PathBuf;

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory could not be read.
    #[error("reading {}", path.display())]
    Read {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file or directory could not be written.
    #[error("writing {}", path.display())]
    Write {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An input path is not a directory.
    #[error("reading {}: not a directory", .0.display())]
    NotADirectory(PathBuf),
    /// The polars computation of the summary failed.
    #[error("computing the summary")]
    Compute(#[from] polars::error::PolarsError),
    /// A plot could not be drawn or written.
    #[error("drawing {}: {message}", path.display())]
    Plot {
        /// The file being drawn.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The embedded fonts could not be registered.
    #[error("registering the embedded font: {0}")]
    Font(String),
    /// An option had a value that cannot be used (for example an SLA that is not a duration).
    #[error("{0}")]
    InvalidOption(String),
}

impl Error {
    pub(crate) fn read(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Read { path: path.into(), source }
    }

    pub(crate) fn write(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Write { path: path.into(), source }
    }
}

/// The result type of the `report` library.
pub type Result<T, E = Error> = std::result::Result<T, E>;
