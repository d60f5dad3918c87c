//! What a measuring tool needs to reach a deployment: base URLs, headers whose values stay
//! secret, and the applications behind it with the request that checks each.

use serde::{Serialize, Serializer};

pub use loadgen::{Header, Secret};

/// One deployed application: its name (for gRPC also the `application` metadata value) and the
/// request that checks it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppEndpoint {
    /// The Serve application's (or server's) name.
    pub name: String,
    /// One request that must succeed (relative to the target's ingress).
    pub check: loadgen::WorkloadSpec,
}

fn redacted<S: Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&loadgen::redact_url(url))
}

fn redacted_opt<S: Serializer>(url: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match url {
        Some(u) => redacted(u, s),
        None => s.serialize_none(),
    }
}

/// Everything a load generator needs to reach one deployment.
///
/// Serializable (for run records) with header values and URL credentials redacted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Target {
    /// Base URL of the HTTP ingress, without a trailing slash, e.g. `http://127.0.0.1:8000`.
    #[serde(serialize_with = "redacted")]
    pub http_base: String,
    /// URI of the gRPC ingress, e.g. `http://127.0.0.1:9000` (h2c) or `https://host:443`.
    #[serde(serialize_with = "redacted_opt")]
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

    /// Where loadgen sends a workload's requests.
    pub fn endpoint(&self) -> loadgen::Endpoint {
        let mut e = loadgen::Endpoint::new(self.http_base.clone());
        e.grpc_uri.clone_from(&self.grpc_uri);
        e.headers.clone_from(&self.headers);
        e
    }
}
