//! Values that must never be printed or written: a [`Secret`] shows `<redacted>` in `Debug`,
//! `Display` and `Serialize`, and only [`Secret::expose`] gives the value, to the one place that
//! sends it. A [`Header`] is a header (HTTP) or metadata entry (gRPC) whose value is a secret.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::{Error, Result};

/// A value that must never be printed or written.
///
/// ```
/// let token = loadgen::Secret::new("sk-live-123");
/// assert_eq!(format!("{token} {token:?}"), "<redacted> <redacted>");
/// assert_eq!(serde_json::to_string(&token).unwrap(), "\"<redacted>\"");
/// assert_eq!(token.expose(), "sk-live-123");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str("<redacted>")
    }
}

/// One header (HTTP) or metadata entry (gRPC) every request carries; its value is a [`Secret`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Header {
    /// The name, e.g. `authorization` (shown in results).
    pub name: String,
    /// The value (never shown).
    pub value: Secret,
}

impl Header {
    /// A header `name: value`.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Header { name: name.into(), value: Secret::new(value) }
    }

    /// `authorization: Bearer <token>`.
    pub fn bearer(token: &str) -> Self {
        Header::new("authorization", format!("Bearer {token}"))
    }

    /// Reads `Name: value` (as curl's `-H`); the error never shows the value.
    ///
    /// ```
    /// let h = loadgen::Header::parse("Authorization: Bearer x").unwrap();
    /// assert_eq!((h.name.as_str(), h.value.expose()), ("Authorization", "Bearer x"));
    /// assert!(loadgen::Header::parse("no colon").is_err());
    /// ```
    pub fn parse(line: &str) -> Result<Self> {
        match line.split_once(':') {
            Some((name, value)) if !name.trim().is_empty() => Ok(Header::new(name.trim(), value.trim())),
            // Not shown: without a colon, the text may be the value itself.
            _ => Err(Error::config("a header must look like 'Name: value' (this one is not shown)")),
        }
    }
}
