//! What a measuring tool needs to reach a deployment: base URLs, headers whose values stay
//! secret, and where each application answers.

use std::fmt;

use serde::{Serialize, Serializer};

/// A value that must never be printed or written: `Debug`, `Display` and `Serialize` show
/// `<redacted>`; only [`Secret::expose`] gives the value.
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
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("<redacted>")
    }
}

/// One request header (HTTP) or metadata entry (gRPC) every request must carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Header {
    /// Lower-case header name, e.g. `authorization`.
    pub name: String,
    /// The value, kept secret.
    pub value: Secret,
}

impl Header {
    /// `authorization: Bearer <token>`.
    pub fn bearer(token: &str) -> Self {
        Self { name: "authorization".to_owned(), value: Secret::new(format!("Bearer {token}")) }
    }
}

/// How a client talks to an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppKind {
    /// Unary HTTP: `POST path` with a body, answered with the same body.
    HttpEcho,
    /// Server-Sent Events: `GET path?chunks=N&ttft_ms=T&token_delay_ms=D`, N events then
    /// `data: [DONE]`.
    Sse,
    /// gRPC unary `servebench.v1.ServeBench/Echo`.
    GrpcEcho,
    /// gRPC server streaming `servebench.v1.ServeBench/Stream`.
    GrpcStream,
}

impl AppKind {
    /// Whether the application is reached over gRPC.
    pub fn is_grpc(self) -> bool {
        matches!(self, Self::GrpcEcho | Self::GrpcStream)
    }
}

/// Where one deployed application answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppEndpoint {
    /// The Serve application's name; for gRPC it is also the `application` metadata value.
    pub name: String,
    /// How to talk to it.
    pub kind: AppKind,
    /// The HTTP path to request (for gRPC apps the full method path, e.g.
    /// `/servebench.v1.ServeBench/Echo`).
    pub path: String,
}

impl AppEndpoint {
    /// The metadata a gRPC call must carry to be routed to this application.
    pub fn grpc_metadata(&self) -> (&'static str, &str) {
        ("application", &self.name)
    }
}

/// Everything a load generator needs to reach one deployment.
///
/// Serializable (for run records) with header values redacted; never write a `Target` with
/// another serializer that could see [`Secret::expose`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// Base URL of the HTTP ingress, without a trailing slash, e.g. `http://127.0.0.1:8000`.
    pub http_base: String,
    /// URI of the gRPC ingress, e.g. `http://127.0.0.1:9000` (h2c) or `https://host:443`.
    pub grpc_uri: Option<String>,
    /// Headers (HTTP) and metadata (gRPC) every request carries, e.g. a bearer token.
    pub headers: Vec<Header>,
    /// The applications deployed behind this target.
    pub apps: Vec<AppEndpoint>,
}

impl Target {
    /// The endpoint of the application named `name`.
    pub fn app(&self, name: &str) -> Option<&AppEndpoint> {
        self.apps.iter().find(|a| a.name == name)
    }

    /// The first application of the given kind.
    pub fn app_of_kind(&self, kind: AppKind) -> Option<&AppEndpoint> {
        self.apps.iter().find(|a| a.kind == kind)
    }

    /// The full URL of an HTTP application's path.
    pub fn url(&self, app: &AppEndpoint) -> String {
        format!("{}{}", self.http_base, app.path)
    }
}
