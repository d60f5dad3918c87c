//! gRPC over HTTP/2 (tonic): unary `Echo` and server-streaming `Stream` calls of the
//! `servebench.v1.ServeBench` service in `proto/servebench.proto`, which the features suite's Ray
//! Serve apps serve too. Each virtual user has an HTTP/2 connection of its own unless a number of
//! shared connections is set. Metadata (Ray Serve routes on `application`) goes with every call;
//! gRPC status codes are counted by code under the `status` class. `https://` targets are reached
//! over TLS (rustls, ALPN `h2`; the built-in web roots and any CA given with `ca_cert`).

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue};
use tonic::transport::{Channel, Endpoint};

use super::endpoint::{read_ca_certs, tls_connector, tls_name};
use crate::url::TargetUrl;

use super::http::{numbered, printable_filler};
use super::{Failure, Probe, Workload};
use crate::{Error, ErrorClass, Result};

/// The code generated from `proto/servebench.proto` (checked in; see `tests/it/codegen.rs`).
#[allow(missing_docs, missing_debug_implementations, clippy::all, clippy::unwrap_used, rust_2018_idioms)]
pub mod pb {
    include!("servebench.v1.rs");
}

use pb::serve_bench_client::ServeBenchClient;

/// Which call each request makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrpcCall {
    /// `Echo` with a payload of this many bytes; the reply must carry it back.
    Echo {
        /// Payload size in bytes.
        payload_size: usize,
    },
    /// `Stream`: the server sends `chunks` messages, the first after `ttft_ms`, then one every
    /// `token_delay_ms`; exactly `chunks` must arrive.
    Stream {
        /// Messages per stream (0: the server's default, and no count check).
        chunks: u32,
        /// Delay before the first message, ms.
        ttft_ms: u32,
        /// Delay between messages, ms.
        token_delay_ms: u32,
    },
}

/// Builds a [`GrpcWorkload`].
#[derive(Debug)]
pub struct GrpcWorkloadBuilder {
    url: String,
    call: GrpcCall,
    metadata: Vec<(AsciiMetadataKey, AsciiMetadataValue)>,
    connections: Option<u32>,
    connect_timeout: Duration,
    extra_roots: Vec<CertificateDer<'static>>,
    server_name: Option<String>,
}

impl GrpcWorkloadBuilder {
    /// The name the server's certificate must carry (and the SNI sent), when it is not the URL's
    /// host (`https://` targets reached by IP address or through another name).
    pub fn tls_server_name(mut self, name: &str) -> Self {
        self.server_name = Some(name.trim().to_owned());
        self
    }

    /// Trusts the CA certificates in a PEM file besides the built-in web roots (`https://`).
    pub fn ca_cert(mut self, pem: &Path) -> Result<Self> {
        self.extra_roots.extend(read_ca_certs(pem)?);
        Ok(self)
    }

    /// Adds metadata sent with every call (for example `application`). Its value is never shown
    /// or written.
    pub fn metadata(mut self, name: &str, value: &str) -> Result<Self> {
        let key = AsciiMetadataKey::from_bytes(name.trim().to_ascii_lowercase().as_bytes())
            .map_err(|_| Error::config(format!("{:?} is not a valid gRPC metadata key", name.trim())))?;
        let mut v = AsciiMetadataValue::try_from(value.trim())
            .map_err(|_| Error::config(format!("the value of metadata {key} is not valid (not shown)")))?;
        v.set_sensitive(true);
        self.metadata.push((key, v));
        Ok(self)
    }

    /// The call each request makes (default: `Echo` with 10 KiB).
    pub fn call(mut self, call: GrpcCall) -> Self {
        self.call = call;
        self
    }

    /// Share this many HTTP/2 connections among all users instead of one per user.
    pub fn connections(mut self, n: u32) -> Self {
        self.connections = Some(n);
        self
    }

    /// How long opening a connection may take (default 5 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// Checks the settings and builds the workload.
    pub fn build(self) -> Result<GrpcWorkload> {
        let url = TargetUrl::parse(&self.url)?;
        let target_err = |reason: String| Error::Target { target: url.redacted.clone(), reason };
        if !(url.path.is_empty() || url.path == "/") || url.query.is_some() {
            return Err(target_err("a gRPC target has no path or query: write http://HOST:PORT".into()));
        }
        let https = url.https;
        let uri: http::Uri = url.origin().parse().map_err(|e| target_err(format!("not a URL ({e})")))?;
        if self.connections == Some(0) {
            return Err(Error::config("shared connections must be at least 1"));
        }
        if let GrpcCall::Echo { payload_size } = self.call
            && payload_size > 64 << 20
        {
            return Err(Error::config("gRPC payloads over 64 MiB are not supported"));
        }
        if self.connect_timeout.is_zero() || self.connect_timeout > Duration::from_secs(3600) {
            return Err(Error::config("the connect timeout must be longer than zero and at most an hour"));
        }
        let tls = if https {
            let name = tls_name(self.server_name.as_deref().unwrap_or(&url.host)).map_err(target_err)?;
            Some(TlsConnect {
                tls: tls_connector(self.extra_roots, b"h2")?,
                name,
                host: url.host.clone(),
                port: url.port,
            })
        } else {
            if self.server_name.is_some() {
                return Err(target_err("a TLS server name needs an https:// URL".into()));
            }
            None
        };
        let endpoint = Endpoint::from(uri)
            .connect_timeout(self.connect_timeout)
            .tcp_nodelay(true)
            .http2_adaptive_window(true);
        let filler = match self.call {
            GrpcCall::Echo { payload_size } => printable_filler(payload_size),
            GrpcCall::Stream { .. } => Bytes::new(),
        };
        let shared =
            self.connections.map(|n| (0..n).map(|_| tokio::sync::OnceCell::new()).collect::<Vec<_>>());
        Ok(GrpcWorkload {
            endpoint,
            // As results show it: the redacted URL, scheme grpc:// or grpcs://.
            target: format!(
                "{}://{}",
                if https { "grpcs" } else { "grpc" },
                url.redacted.split_once("://").map_or("", |(_, rest)| rest).trim_end_matches('/')
            ),
            tls,
            call: self.call,
            metadata: self.metadata,
            filler,
            shared,
            next: AtomicUsize::new(0),
        })
    }
}

/// gRPC calls against one server.
pub struct GrpcWorkload {
    endpoint: Endpoint,
    target: String,
    tls: Option<TlsConnect>,
    call: GrpcCall,
    metadata: Vec<(AsciiMetadataKey, AsciiMetadataValue)>,
    filler: Bytes,
    shared: Option<Vec<tokio::sync::OnceCell<Channel>>>,
    next: AtomicUsize,
}

impl fmt::Debug for GrpcWorkload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcWorkload")
            .field("target", &self.target)
            .field("call", &self.call)
            .field("metadata", &self.metadata.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>())
            .field("connections", &self.shared.as_ref().map(Vec::len))
            .finish_non_exhaustive()
    }
}

impl GrpcWorkload {
    /// Starts building a workload for `url` (`http://HOST:PORT`).
    pub fn builder(url: &str) -> GrpcWorkloadBuilder {
        GrpcWorkloadBuilder {
            url: url.to_owned(),
            call: GrpcCall::Echo { payload_size: 10 * 1024 },
            metadata: Vec::new(),
            connections: None,
            connect_timeout: Duration::from_secs(5),
            extra_roots: Vec::new(),
            server_name: None,
        }
    }

    fn request<T>(&self, msg: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(msg);
        let md = req.metadata_mut();
        for (k, v) in &self.metadata {
            md.insert(k.clone(), v.clone());
        }
        req
    }

    async fn channel(&self) -> Result<Channel, Failure> {
        let open = || async {
            let channel = match &self.tls {
                None => self.endpoint.connect().await,
                Some(tls) => self.endpoint.connect_with_connector(tls.clone()).await,
            };
            channel.map_err(|e| {
                Failure::broken(ErrorClass::Connect, format!("connecting to {}: {}", self.target, chain(&e)))
            })
        };
        match &self.shared {
            None => open().await,
            Some(pool) => {
                let slot = &pool[self.next.fetch_add(1, Ordering::Relaxed) % pool.len()];
                slot.get_or_try_init(open).await.cloned()
            }
        }
    }
}

/// Opens TCP + TLS (ALPN `h2`) connections for tonic, which is built without TLS of its own.
#[derive(Clone)]
struct TlsConnect {
    tls: TlsConnector,
    name: ServerName<'static>,
    host: String,
    port: u16,
}

impl tower_service::Service<http::Uri> for TlsConnect {
    type Response = TokioIo<TlsStream<TcpStream>>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: http::Uri) -> Self::Future {
        let me = self.clone();
        Box::pin(async move {
            let tcp = TcpStream::connect((me.host.as_str(), me.port)).await?;
            tcp.set_nodelay(true)?;
            let tls = me.tls.connect(me.name, tcp).await?;
            if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
                return Err(std::io::Error::other("the server did not agree to HTTP/2 (ALPN h2)"));
            }
            Ok(TokioIo::new(tls))
        })
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

/// A status from the server, or from the transport when the connection broke.
fn status_failure(s: &tonic::Status) -> Failure {
    use tonic::Code;
    let detail = format!("gRPC {:?}: {}", s.code(), s.message());
    match s.code() {
        Code::Unavailable | Code::Unknown if std::error::Error::source(s).is_some() => {
            Failure::broken(ErrorClass::Protocol, format!("{detail} ({})", chain(s)))
        }
        Code::DeadlineExceeded => Failure::new(ErrorClass::Timeout, detail),
        code => Failure { class: ErrorClass::Status, status: Some(code as u16), conn_broken: false, detail },
    }
}

impl Workload for GrpcWorkload {
    type Conn = ServeBenchClient<Channel>;

    fn protocol(&self) -> &'static str {
        "grpc"
    }

    fn target(&self) -> String {
        self.target.clone()
    }

    fn header_names(&self) -> Vec<String> {
        self.metadata.iter().map(|(k, _)| k.as_str().to_owned()).collect()
    }

    async fn connect(&self) -> Result<Self::Conn, Failure> {
        Ok(ServeBenchClient::new(self.channel().await?).max_decoding_message_size(128 << 20))
    }

    fn is_closed(&self, _conn: &mut Self::Conn) -> bool {
        // A broken call marks its connection broken; tonic reports nothing earlier.
        false
    }

    async fn call(&self, conn: &mut Self::Conn, seq: u64, probe: &mut Probe) -> Result<(), Failure> {
        match self.call {
            GrpcCall::Echo { .. } => {
                let payload = numbered(&self.filler, seq);
                let reply = conn
                    .echo(self.request(pb::EchoRequest { payload: payload.clone() }))
                    .await
                    .map_err(|s| status_failure(&s))?;
                probe.first_byte();
                let got = reply.into_inner().payload;
                if got != payload {
                    return Err(Failure::new(
                        ErrorClass::Body,
                        format!("echo differs: sent {} bytes, got {} bytes back", payload.len(), got.len()),
                    ));
                }
                Ok(())
            }
            GrpcCall::Stream { chunks, ttft_ms, token_delay_ms } => {
                let mut stream = conn
                    .stream(self.request(pb::StreamRequest { chunks, ttft_ms, token_delay_ms }))
                    .await
                    .map_err(|s| status_failure(&s))?
                    .into_inner();
                probe.first_byte();
                let mut n = 0u32;
                loop {
                    match stream.message().await {
                        Ok(Some(_)) => {
                            n += 1;
                            probe.event();
                        }
                        Ok(None) => break,
                        Err(s) => {
                            let mut f = status_failure(&s);
                            if f.class == ErrorClass::Protocol {
                                f.class = ErrorClass::Stream;
                                f.detail = format!("stream broke off after {n} messages: {}", f.detail);
                            }
                            return Err(f);
                        }
                    }
                }
                if chunks > 0 && n != chunks {
                    return Err(Failure::new(
                        ErrorClass::Stream,
                        format!("stream carried {n} messages, expected {chunks}"),
                    ));
                }
                Ok(())
            }
        }
    }
}
