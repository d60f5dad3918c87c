//! Workloads described as data. A [`WorkloadSpec`] says what each request is (protocol, path,
//! body, what a correct answer looks like) and reads from TOML or JSON, tagged by `protocol`; an
//! [`Endpoint`] says where requests go (base URL, gRPC address, headers, TLS). The two together
//! build an [`AnyWorkload`], which drives any protocol through one type. The CLI and every suite
//! go from description to workload this way only.
//!
//! ```
//! use loadgen::{Endpoint, WorkloadSpec};
//!
//! let spec: WorkloadSpec = toml::from_str(r#"
//!     protocol = "http"
//!     method = "POST"
//!     path = "/recommend?user={rand:1..1000}"
//!     body_size = 64
//!     expect = { status = 200, json = { field = "scores", len = 32, min = 0.0, max = 1.0 } }
//! "#).unwrap();
//! spec.validate().unwrap();
//! let workload = spec.build(&Endpoint::new("http://127.0.0.1:8000")).unwrap();
//! assert_eq!(loadgen::Workload::protocol(&workload), "http");
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use http::Method;
use serde::{Deserialize, Serialize};

use crate::secret::Header;
use crate::url::{TargetUrl, join, redact_url};
use crate::workload::http::PathTemplate;
use crate::workload::{
    AnyWorkload, Api, Engine, GrpcCall, GrpcWorkload, HttpWorkload, OpenAiWorkload, SseWorkload,
};
use crate::{Error, Result};

/// Default cap on a body read whole (a JSON answer) and on one SSE line or event: far above what
/// a real server sends, far below what could exhaust memory.
pub const DEFAULT_MAX_BYTES: usize = 1 << 20;
/// Largest body, payload or cap a spec may ask for.
const MAX_SIZE: usize = 1 << 30;

/// One workload: what each request is and what a correct answer looks like.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "protocol", rename_all = "lowercase", deny_unknown_fields)]
pub enum WorkloadSpec {
    /// HTTP/1.1 unary requests.
    Http(HttpSpec),
    /// Server-sent event streams.
    Sse(SseSpec),
    /// gRPC calls of `servebench.v1.ServeBench`.
    Grpc(GrpcSpec),
    /// OpenAI-compatible streaming completions.
    Openai(OpenAiSpec),
}

/// `protocol = "http"`: unary requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSpec {
    /// The request method (default `GET`).
    pub method: String,
    /// The path, with an optional query string, joined to the endpoint's base URL (default `/`).
    /// It may hold templates, filled in for each request: `{seq}` (the request's number) and
    /// `{rand:A..B}` (a uniform random integer in `A..=B`, drawn from a generator seeded by
    /// [`HttpSpec::seed`] and the request's number, so a run can be repeated).
    pub path: String,
    /// A body of this many printable bytes (default 0). With `expect.echo`, each request's body
    /// starts with its number, so that every body differs.
    pub body_size: usize,
    /// A literal body instead (sent as is by every request).
    pub body: Option<String>,
    /// What a correct answer is.
    pub expect: Expect,
    /// Seed of the `{rand:A..B}` templates.
    pub seed: u64,
    /// Longest body read whole (for `expect.json`); a longer one is a `body` error (default
    /// 1 MiB).
    pub max_body_bytes: usize,
}

impl Default for HttpSpec {
    fn default() -> Self {
        HttpSpec {
            method: "GET".to_owned(),
            path: "/".to_owned(),
            body_size: 0,
            body: None,
            expect: Expect::default(),
            seed: 0,
            max_body_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

/// What a unary answer must be to count as a success; every condition set must hold. A failed
/// status is a `status` error, a failed body check a `body` error.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Expect {
    /// Exactly this status (default: any 2xx).
    pub status: Option<u16>,
    /// The body equals the request's body.
    pub echo: bool,
    /// The body is JSON that passes this check.
    pub json: Option<JsonCheck>,
}

impl Expect {
    /// Any 2xx status and a body equal to the request's.
    pub fn echo() -> Self {
        Expect { echo: true, ..Expect::default() }
    }

    /// Exactly this status.
    pub fn status(code: u16) -> Self {
        Expect { status: Some(code), ..Expect::default() }
    }

    /// Any 2xx status and a JSON body that passes `check`.
    pub fn json(check: JsonCheck) -> Self {
        Expect { json: Some(check), ..Expect::default() }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if let Some(code) = self.status
            && !(100..=999).contains(&code)
        {
            return Err(Error::config(format!("expected status {code} is not an HTTP status")));
        }
        if let Some(j) = &self.json {
            j.validate()?;
        }
        Ok(())
    }
}

/// A check of a JSON answer: `field` must be present; with `len`, `min` or `max` it must be an
/// array of numbers of that length, each within `min..=max`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonCheck {
    /// A top-level key, or a JSON pointer (`/data/0/scores`).
    pub field: String,
    /// The array's length.
    #[serde(default)]
    pub len: Option<usize>,
    /// Smallest value allowed.
    #[serde(default)]
    pub min: Option<f64>,
    /// Largest value allowed.
    #[serde(default)]
    pub max: Option<f64>,
}

impl JsonCheck {
    /// A check that `field` is present.
    pub fn field(field: impl Into<String>) -> Self {
        JsonCheck { field: field.into(), len: None, min: None, max: None }
    }

    fn validate(&self) -> Result<()> {
        if self.field.is_empty() {
            return Err(Error::config("the JSON check names no field"));
        }
        for (v, what) in [(self.min, "min"), (self.max, "max")] {
            if v.is_some_and(|v| !v.is_finite()) {
                return Err(Error::config(format!("the JSON check's {what} must be a finite number")));
            }
        }
        if let (Some(min), Some(max)) = (self.min, self.max)
            && min > max
        {
            return Err(Error::config(format!("the JSON check's min {min} is above its max {max}")));
        }
        Ok(())
    }

    /// Checks a parsed answer; the error says what is wrong.
    pub(crate) fn check(&self, v: &serde_json::Value) -> std::result::Result<(), String> {
        let found = if self.field.starts_with('/') { v.pointer(&self.field) } else { v.get(&self.field) };
        let Some(found) = found else {
            return Err(format!("the answer has no field {:?}", self.field));
        };
        if self.len.is_none() && self.min.is_none() && self.max.is_none() {
            return Ok(());
        }
        let Some(items) = found.as_array() else {
            return Err(format!("field {:?} is not an array", self.field));
        };
        if let Some(len) = self.len
            && items.len() != len
        {
            return Err(format!("field {:?} has {} items, expected {len}", self.field, items.len()));
        }
        for (i, item) in items.iter().enumerate() {
            let Some(x) = item.as_f64() else {
                return Err(format!("field {:?}[{i}] is not a number", self.field));
            };
            if self.min.is_some_and(|m| x < m) || self.max.is_some_and(|m| x > m) {
                return Err(format!(
                    "field {:?}[{i}] = {x} is outside {}..={}",
                    self.field,
                    self.min.map_or("".to_owned(), |m| m.to_string()),
                    self.max.map_or("".to_owned(), |m| m.to_string())
                ));
            }
        }
        Ok(())
    }
}

/// `protocol = "sse"`: one stream of server-sent events per request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SseSpec {
    /// The request method (default `GET`, or `POST` with a body).
    pub method: Option<String>,
    /// The path, with an optional query string (e.g. `/streaming?chunks=50`; default `/`).
    pub path: String,
    /// A request body (JSON).
    pub body: Option<String>,
    /// Each stream must carry exactly this many events before `[DONE]`.
    pub events: Option<u32>,
    /// Each stream must end with `data: [DONE]` (default: yes).
    pub require_done: bool,
    /// Longest line or event accepted; a longer one is a `stream` error (default 1 MiB).
    pub max_event_bytes: usize,
}

impl Default for SseSpec {
    fn default() -> Self {
        SseSpec {
            method: None,
            path: "/".to_owned(),
            body: None,
            events: None,
            require_done: true,
            max_event_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

/// Which gRPC call each request makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GrpcCallKind {
    /// Unary `Echo`.
    #[default]
    Echo,
    /// Server-streaming `Stream`.
    Stream,
}

/// `protocol = "grpc"`: calls of `servebench.v1.ServeBench` (`proto/servebench.proto`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrpcSpec {
    /// `echo` (default) or `stream`.
    pub call: GrpcCallKind,
    /// Echo: payload size in bytes (default 10240).
    pub payload_size: usize,
    /// Stream: messages per stream, each of which must arrive (default 50; 0: the server's
    /// default, not checked).
    pub chunks: u32,
    /// Stream: the server's delay before the first message, ms.
    pub ttft_ms: u32,
    /// Stream: the server's delay between messages, ms.
    pub token_delay_ms: u32,
    /// Metadata sent with every call, e.g. `{ application = "grpc_unary" }` (Ray Serve routes on
    /// it). The endpoint's headers are sent as metadata too.
    pub metadata: BTreeMap<String, String>,
    /// Share this many HTTP/2 connections among all users (default: one per user).
    pub connections: Option<u32>,
}

impl Default for GrpcSpec {
    fn default() -> Self {
        GrpcSpec {
            call: GrpcCallKind::Echo,
            payload_size: 10 * 1024,
            chunks: 50,
            ttft_ms: 0,
            token_delay_ms: 0,
            metadata: BTreeMap::new(),
            connections: None,
        }
    }
}

/// `protocol = "openai"`: streaming completions measured like `vllm bench serve`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAiSpec {
    /// The path (default `/v1/completions`).
    #[serde(default = "default_openai_path")]
    pub path: String,
    /// `completions` or `chat` (default: `chat` when the path ends in `/chat/completions`).
    #[serde(default)]
    pub api: Option<Api>,
    /// The model name sent with each request.
    pub model: String,
    /// Prompt length in tokens (default 512).
    #[serde(default = "default_input_len")]
    pub input_len: u32,
    /// `max_tokens` of each request (default 128).
    #[serde(default = "default_output_len")]
    pub output_len: u32,
    /// Send `ignore_eos: true`, so every request generates `output_len` tokens, and count one
    /// that reports fewer as a `stream` error (default: yes).
    #[serde(default = "yes")]
    pub ignore_eos: bool,
    /// Completions: send prompts as text instead of token-id arrays (default: no).
    #[serde(default)]
    pub text_prompts: bool,
    /// Ask for token counts on every chunk (`stream_options.continuous_usage_stats`, vLLM), so
    /// that inter-token latency is per token even when a chunk carries several (default: yes).
    #[serde(default = "yes")]
    pub continuous_usage: bool,
    /// Seed of the random prompts.
    #[serde(default)]
    pub seed: u64,
    /// Longest SSE line or event accepted; a longer one is a `stream` error (default 1 MiB).
    #[serde(default = "default_max_bytes")]
    pub max_event_bytes: usize,
}

fn default_openai_path() -> String {
    "/v1/completions".to_owned()
}
fn default_input_len() -> u32 {
    512
}
fn default_output_len() -> u32 {
    128
}
fn yes() -> bool {
    true
}
fn default_max_bytes() -> usize {
    DEFAULT_MAX_BYTES
}

impl OpenAiSpec {
    /// A spec for `model` with every default.
    pub fn new(model: impl Into<String>) -> Self {
        OpenAiSpec {
            path: default_openai_path(),
            api: None,
            model: model.into(),
            input_len: default_input_len(),
            output_len: default_output_len(),
            ignore_eos: true,
            text_prompts: false,
            continuous_usage: true,
            seed: 0,
            max_event_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

/// Where requests go and what every request carries.
#[derive(Clone, PartialEq)]
pub struct Endpoint {
    /// Base URL of the HTTP ingress (`http://HOST:PORT`, optionally with a path prefix; no query
    /// string, no user info); the HTTP, SSE and OpenAI workloads join their path to it. May be
    /// empty for gRPC.
    pub http_base: String,
    /// The gRPC server (`http://HOST:PORT`, or `https://` for TLS).
    pub grpc_uri: Option<String>,
    /// Headers (HTTP) and metadata (gRPC) every request carries, e.g. a bearer token.
    pub headers: Vec<Header>,
    /// A PEM file of CA certificates to trust besides the built-in web roots (`https://`).
    pub ca_cert: Option<PathBuf>,
    /// The name the server's certificate must carry when it is not the URL's host (`https://`).
    pub tls_server_name: Option<String>,
    /// Longest time to open a connection (default 5 s).
    pub connect_timeout: Duration,
    /// The HTTP/1.1 implementation of unary requests (default [`Engine::Native`]).
    pub engine: Engine,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("http_base", &redact_url(&self.http_base))
            .field("grpc_uri", &self.grpc_uri.as_deref().map(redact_url))
            .field("headers", &self.headers)
            .field("ca_cert", &self.ca_cert)
            .field("tls_server_name", &self.tls_server_name)
            .field("connect_timeout", &self.connect_timeout)
            .field("engine", &self.engine)
            .finish()
    }
}

impl Endpoint {
    /// An endpoint with an HTTP base URL and every default.
    pub fn new(http_base: impl Into<String>) -> Self {
        Endpoint {
            http_base: http_base.into(),
            grpc_uri: None,
            headers: Vec::new(),
            ca_cert: None,
            tls_server_name: None,
            connect_timeout: Duration::from_secs(5),
            engine: Engine::Native,
        }
    }

    /// An endpoint for a gRPC server only.
    pub fn grpc(uri: impl Into<String>) -> Self {
        Endpoint { grpc_uri: Some(uri.into()), ..Endpoint::new("") }
    }

    /// The endpoint of a full URL's origin, and the URL's path and query (what a workload's
    /// `path` is), for a caller that has one URL.
    ///
    /// ```
    /// let (ep, path) = loadgen::Endpoint::for_url("http://127.0.0.1:8000/v1/completions?x=1").unwrap();
    /// assert_eq!((ep.http_base.as_str(), path.as_str()), ("http://127.0.0.1:8000", "/v1/completions?x=1"));
    /// ```
    pub fn for_url(url: &str) -> Result<(Self, String)> {
        let u = TargetUrl::parse(url)?;
        Ok((Endpoint::new(u.origin()), u.path_and_query()))
    }

    /// The URL of `path` (which may carry a query string) under [`Endpoint::http_base`].
    pub fn url(&self, path: &str) -> Result<String> {
        if self.http_base.is_empty() {
            return Err(Error::config("the endpoint has no HTTP base URL"));
        }
        join(&self.http_base, path)
    }

    fn apply<O>(&self, b: crate::workload::Builder<O>) -> Result<crate::workload::Builder<O>> {
        let mut b = b.connect_timeout(self.connect_timeout).headers(&self.headers)?;
        if let Some(pem) = &self.ca_cert {
            b = b.ca_cert(pem)?;
        }
        if let Some(name) = &self.tls_server_name {
            b = b.tls_server_name(name);
        }
        Ok(b)
    }
}

fn parse_method(m: &str) -> Result<Method> {
    let upper = m.trim().to_ascii_uppercase();
    if upper.is_empty() || !upper.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(Error::config(format!("{m:?} is not an HTTP method")));
    }
    Method::from_bytes(upper.as_bytes()).map_err(|_| Error::config(format!("{m:?} is not an HTTP method")))
}

fn check_cap(v: usize, what: &str) -> Result<()> {
    if v == 0 || v > MAX_SIZE {
        return Err(Error::config(format!("{what} must be from 1 byte to 1 GiB, got {v}")));
    }
    Ok(())
}

fn check_plain_path(path: &str, protocol: &str) -> Result<()> {
    if path.contains(['{', '}']) {
        return Err(Error::config(format!(
            "path {path:?}: templates ({{seq}}, {{rand:A..B}}) are for the http protocol only, not {protocol}"
        )));
    }
    Ok(())
}

impl WorkloadSpec {
    /// The protocol's name in results (`http`, `sse`, `grpc`, `openai`).
    pub fn protocol(&self) -> &'static str {
        match self {
            WorkloadSpec::Http(_) => "http",
            WorkloadSpec::Sse(_) => "sse",
            WorkloadSpec::Grpc(_) => "grpc",
            WorkloadSpec::Openai(_) => "openai",
        }
    }

    /// Checks every value, before anything starts; the message names the one that is wrong.
    ///
    /// ```
    /// let spec: loadgen::WorkloadSpec = toml::from_str("protocol = \"http\"\npath = \"/x?u={rand:9..1}\"").unwrap();
    /// assert!(spec.validate().unwrap_err().to_string().contains("9 is above 1"));
    /// ```
    pub fn validate(&self) -> Result<()> {
        match self {
            WorkloadSpec::Http(s) => {
                parse_method(&s.method)?;
                PathTemplate::parse(&s.path)?;
                if s.body.is_some() && s.body_size > 0 {
                    return Err(Error::config("give a body or a body size, not both"));
                }
                if s.body_size > MAX_SIZE {
                    return Err(Error::config(format!("body size {} is over 1 GiB", s.body_size)));
                }
                s.expect.validate()?;
                check_cap(s.max_body_bytes, "max_body_bytes")?;
            }
            WorkloadSpec::Sse(s) => {
                if let Some(m) = &s.method {
                    parse_method(m)?;
                }
                check_plain_path(&s.path, "sse")?;
                check_cap(s.max_event_bytes, "max_event_bytes")?;
            }
            WorkloadSpec::Grpc(s) => {
                if s.payload_size > 64 << 20 {
                    return Err(Error::config("gRPC payloads over 64 MiB are not supported"));
                }
                if s.connections == Some(0) {
                    return Err(Error::config("shared connections must be at least 1"));
                }
                let mut b = GrpcWorkload::builder("http://127.0.0.1:1");
                for (k, v) in &s.metadata {
                    b = b.metadata(k, v)?;
                }
            }
            WorkloadSpec::Openai(s) => {
                check_plain_path(&s.path, "openai")?;
                if s.model.trim().is_empty() {
                    return Err(Error::config("the model name is required"));
                }
                for (n, what) in [(s.input_len, "input length"), (s.output_len, "output length")] {
                    if n == 0 || n > 1_000_000 {
                        return Err(Error::config(format!("{what} {n} must be 1..=1000000 tokens")));
                    }
                }
                check_cap(s.max_event_bytes, "max_event_bytes")?;
            }
        }
        Ok(())
    }

    /// Checks the spec and builds the workload it describes against `endpoint`.
    pub fn build(&self, endpoint: &Endpoint) -> Result<AnyWorkload> {
        self.validate()?;
        Ok(match self {
            WorkloadSpec::Http(s) => {
                let mut b = HttpWorkload::builder(&endpoint.url(&s.path)?)?
                    .method(parse_method(&s.method)?)
                    .expect(s.expect.clone())
                    .engine(endpoint.engine)
                    .seed(s.seed)
                    .max_body_bytes(s.max_body_bytes);
                b = match &s.body {
                    Some(body) => b.body(body.clone()),
                    None => b.body_size(s.body_size),
                };
                AnyWorkload::Http(endpoint.apply(b)?.build()?)
            }
            WorkloadSpec::Sse(s) => {
                let body = s.body.clone().unwrap_or_default();
                let method = match &s.method {
                    Some(m) => parse_method(m)?,
                    None if body.is_empty() => Method::GET,
                    None => Method::POST,
                };
                let mut b = SseWorkload::builder(&endpoint.url(&s.path)?)?
                    .method(method)
                    .body(body)
                    .require_done(s.require_done)
                    .max_event_bytes(s.max_event_bytes);
                if let Some(n) = s.events {
                    b = b.events(n);
                }
                AnyWorkload::Sse(endpoint.apply(b)?.build()?)
            }
            WorkloadSpec::Grpc(s) => {
                let uri = endpoint
                    .grpc_uri
                    .as_deref()
                    .ok_or_else(|| Error::config("the endpoint has no gRPC address (grpc_uri)"))?;
                let call = match s.call {
                    GrpcCallKind::Echo => GrpcCall::Echo { payload_size: s.payload_size },
                    GrpcCallKind::Stream => GrpcCall::Stream {
                        chunks: s.chunks,
                        ttft_ms: s.ttft_ms,
                        token_delay_ms: s.token_delay_ms,
                    },
                };
                let mut b = GrpcWorkload::builder(uri).call(call).connect_timeout(endpoint.connect_timeout);
                for (k, v) in &s.metadata {
                    b = b.metadata(k, v)?;
                }
                for h in &endpoint.headers {
                    b = b.metadata(&h.name, h.value.expose())?;
                }
                if let Some(n) = s.connections {
                    b = b.connections(n);
                }
                if let Some(pem) = &endpoint.ca_cert {
                    b = b.ca_cert(pem)?;
                }
                if let Some(name) = &endpoint.tls_server_name {
                    b = b.tls_server_name(name);
                }
                AnyWorkload::Grpc(Box::new(b.build()?))
            }
            WorkloadSpec::Openai(s) => {
                let mut b = OpenAiWorkload::builder(&endpoint.url(&s.path)?)?
                    .model(&s.model)
                    .input_len(s.input_len)
                    .output_len(s.output_len)
                    .ignore_eos(s.ignore_eos)
                    .token_ids(!s.text_prompts)
                    .continuous_usage(s.continuous_usage)
                    .seed(s.seed)
                    .max_event_bytes(s.max_event_bytes);
                if let Some(api) = s.api {
                    b = b.api(api);
                }
                AnyWorkload::Openai(endpoint.apply(b)?.build()?)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> std::result::Result<WorkloadSpec, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn reads_every_protocol_from_toml_with_defaults() {
        let s = parse("protocol = \"http\"").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s, WorkloadSpec::Http(HttpSpec::default()));
        let s = parse("protocol = \"sse\"\npath = \"/streaming?chunks=50\"\nevents = 50")
            .unwrap_or_else(|e| panic!("{e}"));
        let WorkloadSpec::Sse(sse) = &s else { panic!("{s:?}") };
        assert_eq!((sse.events, sse.require_done, sse.max_event_bytes), (Some(50), true, DEFAULT_MAX_BYTES));
        let s = parse("protocol = \"grpc\"\nmetadata = { application = \"grpc_unary\" }")
            .unwrap_or_else(|e| panic!("{e}"));
        let WorkloadSpec::Grpc(g) = &s else { panic!("{s:?}") };
        assert_eq!(
            (g.call, g.payload_size, g.metadata["application"].as_str()),
            (GrpcCallKind::Echo, 10240, "grpc_unary")
        );
        let s =
            parse("protocol = \"openai\"\nmodel = \"m\"\napi = \"chat\"").unwrap_or_else(|e| panic!("{e}"));
        let WorkloadSpec::Openai(o) = &s else { panic!("{s:?}") };
        assert_eq!(o, &OpenAiSpec { api: Some(Api::Chat), ..OpenAiSpec::new("m") });
        // A spec written out reads back the same.
        for spec in [s, WorkloadSpec::Http(HttpSpec { expect: Expect::echo(), ..HttpSpec::default() })] {
            let text = toml::to_string(&spec).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(parse(&text).unwrap_or_else(|e| panic!("{e}")), spec, "{text}");
        }
    }

    #[test]
    fn unknown_fields_and_protocols_are_refused() {
        for text in [
            "protocol = \"http\"\nbody_sise = 3",
            "protocol = \"http\"\nexpect = { stauts = 200 }",
            "protocol = \"http\"\nexpect = { json = { field = \"x\", lenght = 3 } }",
            "protocol = \"sse\"\nevent = 3",
            "protocol = \"grpc\"\ncall = \"bidi\"",
            "protocol = \"openai\"",
            "protocol = \"ftp\"",
            "path = \"/\"",
        ] {
            assert!(parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn validation_names_the_bad_value() {
        let http = |f: fn(&mut HttpSpec)| {
            let mut s = HttpSpec::default();
            f(&mut s);
            WorkloadSpec::Http(s).validate().map(|_| ()).expect_err("accepted").to_string()
        };
        assert!(http(|s| s.method = "GE T".into()).contains("method"));
        assert!(http(|s| s.path = "/x?u={rand:5..1}".into()).contains("5..1"));
        assert!(http(|s| s.path = "/x/{user}".into()).contains("{user}"));
        assert!(http(|s| s.expect.status = Some(42)).contains("42"));
        assert!(
            http(|s| s.expect.json =
                Some(JsonCheck { min: Some(2.0), max: Some(1.0), ..JsonCheck::field("x") }))
            .contains("min")
        );
        assert!(
            http(|s| {
                s.body = Some("x".into());
                s.body_size = 3;
            })
            .contains("not both")
        );
        assert!(http(|s| s.max_body_bytes = 0).contains("max_body_bytes"));
        let sse = WorkloadSpec::Sse(SseSpec { path: "/s?n={seq}".into(), ..SseSpec::default() });
        assert!(sse.validate().is_err());
        let grpc = WorkloadSpec::Grpc(GrpcSpec { connections: Some(0), ..GrpcSpec::default() });
        assert!(grpc.validate().is_err());
        let openai = WorkloadSpec::Openai(OpenAiSpec { output_len: 0, ..OpenAiSpec::new("m") });
        assert!(openai.validate().map(|_| ()).expect_err("accepted").to_string().contains("output length"));
    }

    #[test]
    fn json_checks() {
        let v: serde_json::Value =
            serde_json::json!({"scores": [0.1, 0.5, 0.9], "nested": {"a": [1]}, "s": "x"});
        let c = |field: &str, len, min, max| JsonCheck { field: field.into(), len, min, max }.check(&v);
        assert!(c("scores", Some(3), Some(0.0), Some(1.0)).is_ok());
        assert!(c("scores", None, None, None).is_ok());
        assert!(c("s", None, None, None).is_ok(), "present is enough");
        assert!(c("/nested/a", Some(1), None, None).is_ok());
        assert!(c("scores", Some(4), None, None).expect_err("accepted").contains("3 items"));
        assert!(c("scores", None, Some(0.2), None).expect_err("accepted").contains("[0]"));
        assert!(c("scores", None, None, Some(0.8)).expect_err("accepted").contains("[2]"));
        assert!(c("s", Some(1), None, None).expect_err("accepted").contains("not an array"));
        assert!(c("missing", None, None, None).expect_err("accepted").contains("no field"));
    }

    #[test]
    fn endpoints_join_paths_and_refuse_secrets_in_urls() {
        let ep = Endpoint::new("http://h:8000/prefix/");
        assert_eq!(
            ep.url("/streaming?chunks=5").unwrap_or_else(|e| panic!("{e}")),
            "http://h:8000/prefix/streaming?chunks=5"
        );
        for base in ["http://u:SECRET@h:8000", "http://h:8000/?token=SECRET", "http://h:99999"] {
            let e = Endpoint::new(base).url("/x").map(|_| ()).expect_err(base).to_string();
            assert!(!e.contains("SECRET"), "{e}");
        }
        let mut ep = Endpoint::new("http://h:8000/?token=SECRET");
        ep.headers.push(Header::bearer("SECRET"));
        assert!(!format!("{ep:?}").contains("SECRET"), "{ep:?}");
        assert!(
            WorkloadSpec::Grpc(GrpcSpec::default()).build(&Endpoint::new("http://h")).is_err(),
            "no gRPC address"
        );
    }
}
