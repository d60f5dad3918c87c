//! What every HTTP-based workload shares: where to connect (plain or TLS), the extra headers, and
//! one keep-alive HTTP/1.1 connection per virtual user, driven through hyper's connection API (no
//! pool, so N users are N connections) with TCP_NODELAY.
//!
//! The connection is polled inside the user's own task, next to the request, instead of in a task
//! of its own: that saves two task wake-ups and a channel hop per request, the largest cost of the
//! client after the kernel's.

use std::fmt;
use std::future::{Future, poll_fn};
use std::path::Path;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HOST, HeaderName, HeaderValue};
use http::{Method, Request, Uri};
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::Failure;
use super::h1::Stream;
use crate::url::TargetUrl;
use crate::{Error, ErrorClass, Result};

/// Builds an HTTP-based workload: the settings every protocol over HTTP shares, plus the
/// protocol's own options `O` (see each workload's `builder`).
#[derive(Debug)]
pub struct Builder<O> {
    url: TargetUrl,
    pub(crate) method: Method,
    headers: Vec<(HeaderName, HeaderValue)>,
    extra_roots: Vec<CertificateDer<'static>>,
    server_name: Option<String>,
    connect_timeout: Duration,
    pub(crate) opts: O,
}

impl<O> Builder<O> {
    pub(crate) fn new(url: &str, method: Method, opts: O) -> Result<Self> {
        let url = TargetUrl::parse(url)?;
        Ok(Builder {
            url,
            method,
            headers: Vec::new(),
            extra_roots: Vec::new(),
            server_name: None,
            connect_timeout: Duration::from_secs(5),
            opts,
        })
    }

    /// The request method.
    pub fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// How long opening a connection may take (default 5 s; at most an hour).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// Adds every header of `headers` ([`Builder::header`]).
    pub fn headers<'h>(mut self, headers: impl IntoIterator<Item = &'h crate::Header>) -> Result<Self> {
        for h in headers {
            self = self.header(&h.name, h.value.expose())?;
        }
        Ok(self)
    }

    /// Adds a header sent with every request. Its value is never shown or written.
    pub fn header(mut self, name: &str, value: &str) -> Result<Self> {
        let n = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| Error::config(format!("{:?} is not a valid header name", name.trim())))?;
        if n == http::header::CONTENT_LENGTH || n == http::header::TRANSFER_ENCODING {
            return Err(Error::config(format!("header {n} is set by loadgen from the body")));
        }
        let mut v = HeaderValue::from_str(value.trim())
            .map_err(|_| Error::config(format!("the value of header {n} is not valid (not shown)")))?;
        v.set_sensitive(true);
        self.headers.push((n, v));
        Ok(self)
    }

    /// Trusts the CA certificates in a PEM file besides the built-in web roots.
    pub fn ca_cert(mut self, pem: &Path) -> Result<Self> {
        self.extra_roots.extend(read_ca_certs(pem)?);
        Ok(self)
    }

    /// The name the server's certificate must carry (and the SNI sent), when it is not the URL's
    /// host: for a target reached by IP address or through another name.
    pub fn tls_server_name(mut self, name: &str) -> Self {
        self.server_name = Some(name.trim().to_owned());
        self
    }

    /// The endpoint these settings describe, and the protocol's options. `path`: the request
    /// target to use instead of the URL's (an HTTP path template's first rendering).
    pub(crate) fn endpoint(self) -> Result<(HttpTarget, O)> {
        let url = self.url;
        let target = url.redacted.clone();
        let target_err = |reason: String| Error::Target { target: target.clone(), reason };
        if self.connect_timeout.is_zero() || self.connect_timeout > Duration::from_secs(3600) {
            return Err(Error::config("the connect timeout must be longer than zero and at most an hour"));
        }
        let host_header = HeaderValue::from_str(&url.authority)
            .map_err(|_| target_err("host is not a valid Host header".to_owned()))?;
        let tls = if url.https {
            let name = tls_name(self.server_name.as_deref().unwrap_or(&url.host)).map_err(target_err)?;
            Some((tls_connector(self.extra_roots, b"http/1.1")?, name))
        } else {
            if self.server_name.is_some() {
                return Err(target_err("a TLS server name needs an https:// URL".to_owned()));
            }
            None
        };
        let path = url.path_and_query();
        let uri: Uri = path.parse().map_err(|e| target_err(format!("path: {e}")))?;
        let endpoint = HttpTarget {
            target,
            host: url.host,
            port: url.port,
            host_header,
            path,
            uri,
            method: self.method,
            headers: self.headers,
            tls,
            connect_timeout: self.connect_timeout,
        };
        Ok((endpoint, self.opts))
    }
}

/// The CA certificates of a PEM file.
pub(crate) fn read_ca_certs(pem: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let err =
        |source: Box<dyn std::error::Error + Send + Sync>| Error::CaCert { path: pem.to_owned(), source };
    let certs = CertificateDer::pem_file_iter(pem)
        .map_err(|e| err(Box::new(e)))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| err(Box::new(e)))?;
    if certs.is_empty() {
        return Err(err("the file holds no certificate".into()));
    }
    Ok(certs)
}

/// The name a server's certificate is checked against.
pub(crate) fn tls_name(name: &str) -> std::result::Result<ServerName<'static>, String> {
    ServerName::try_from(name.to_owned()).map_err(|e| format!("{name:?} is not a TLS server name: {e}"))
}

/// A TLS client trusting the built-in web roots and `extra_roots`, offering `alpn`.
pub(crate) fn tls_connector(extra_roots: Vec<CertificateDer<'static>>, alpn: &[u8]) -> Result<TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for c in extra_roots {
        roots.add(c).map_err(|e| Error::config(format!("CA certificate rejected: {e}")))?;
    }
    let mut cfg =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::config(format!("TLS: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    cfg.alpn_protocols = vec![alpn.to_vec()];
    Ok(TlsConnector::from(Arc::new(cfg)))
}

/// Where and how an HTTP workload connects, and the headers it sends.
pub(crate) struct HttpTarget {
    target: String,
    host: String,
    port: u16,
    host_header: HeaderValue,
    /// The request target (path and query) as given.
    path: String,
    uri: Uri,
    pub(crate) method: Method,
    headers: Vec<(HeaderName, HeaderValue)>,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    connect_timeout: Duration,
}

impl fmt::Debug for HttpTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values stay out of every rendering.
        f.debug_struct("HttpTarget")
            .field("target", &self.target)
            .field("method", &self.method)
            .field("headers", &self.header_names())
            .finish_non_exhaustive()
    }
}

impl HttpTarget {
    pub(crate) fn target(&self) -> String {
        self.target.clone()
    }

    /// The request target (path and query) as given.
    pub(crate) fn path_and_query(&self) -> &str {
        &self.path
    }

    pub(crate) fn header_names(&self) -> Vec<String> {
        self.headers.iter().map(|(n, _)| n.as_str().to_owned()).collect()
    }

    /// A request to the endpoint's path with `body`, its Host and extra headers set.
    pub(crate) fn request(&self, body: Bytes, content_type: Option<&'static str>) -> Request<Full<Bytes>> {
        self.request_to(self.uri.clone(), body, content_type)
    }

    /// [`Self::request`] to another request target (`uri`: a path and query).
    pub(crate) fn request_to(
        &self,
        uri: Uri,
        body: Bytes,
        content_type: Option<&'static str>,
    ) -> Request<Full<Bytes>> {
        let has_body = !body.is_empty();
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = uri;
        let h = req.headers_mut();
        h.insert(HOST, self.host_header.clone());
        if let Some(ct) = content_type.filter(|_| has_body) {
            h.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        for (n, v) in &self.headers {
            h.insert(n.clone(), v.clone());
        }
        req
    }

    async fn tcp(&self) -> Result<TcpStream, Failure> {
        let connect = TcpStream::connect((self.host.as_str(), self.port));
        let tcp = tokio::time::timeout(self.connect_timeout, connect)
            .await
            .map_err(|_| {
                Failure::broken(
                    ErrorClass::Connect,
                    format!("connecting to {}:{} took over {:?}", self.host, self.port, self.connect_timeout),
                )
            })?
            .map_err(|e| {
                Failure::broken(
                    ErrorClass::Connect,
                    format!("connecting to {}:{}: {e}", self.host, self.port),
                )
            })?;
        tcp.set_nodelay(true)
            .map_err(|e| Failure::broken(ErrorClass::Connect, format!("setting TCP_NODELAY: {e}")))?;
        Ok(tcp)
    }

    /// Opens the byte stream of a connection: TCP, and TLS over it for `https`.
    pub(crate) async fn open_stream(&self) -> Result<Stream, Failure> {
        let tcp = self.tcp().await?;
        match &self.tls {
            None => Ok(Stream::Plain(tcp)),
            Some((connector, name)) => {
                let tls = tokio::time::timeout(self.connect_timeout, connector.connect(name.clone(), tcp))
                    .await
                    .map_err(|_| Failure::broken(ErrorClass::Connect, "TLS handshake timed out"))?
                    .map_err(|e| Failure::broken(ErrorClass::Connect, format!("TLS handshake: {e}")))?;
                Ok(Stream::Tls(Box::new(tls)))
            }
        }
    }

    /// Opens one keep-alive HTTP/1.1 connection driven by hyper.
    pub(crate) async fn connect(&self) -> Result<HttpConn, Failure> {
        let stream = self.open_stream().await?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| Failure::broken(ErrorClass::Connect, format!("HTTP handshake: {}", describe(&e))))?;
        Ok(HttpConn { sender, conn: Box::pin(conn), ended: None })
    }

    /// The serialized head of a request with a body of `body_len` bytes (what [`Self::request`]
    /// builds, as bytes on the wire): request line, Host, Content-Type, the extra headers, and
    /// Content-Length where there is a body or the method expects one. As there, an extra header
    /// replaces a default or an earlier one of the same name.
    pub(crate) fn raw_head(&self, body_len: usize, content_type: Option<&'static str>) -> Vec<u8> {
        let (mut h, rest) = self.raw_head_parts(body_len, content_type);
        h.extend_from_slice(self.path.as_bytes());
        h.extend_from_slice(&rest);
        h
    }

    /// [`Self::raw_head`] in two parts, for a request target that changes per request: what comes
    /// before the target (`METHOD `) and what comes after it (` HTTP/1.1`, the fields, the blank
    /// line).
    pub(crate) fn raw_head_parts(
        &self,
        body_len: usize,
        content_type: Option<&'static str>,
    ) -> (Vec<u8>, Vec<u8>) {
        let mut fields: Vec<(HeaderName, HeaderValue)> = vec![(HOST, self.host_header.clone())];
        if let Some(ct) = content_type.filter(|_| body_len > 0) {
            fields.push((http::header::CONTENT_TYPE, HeaderValue::from_static(ct)));
        }
        for (n, v) in &self.headers {
            match fields.iter_mut().find(|(have, _)| have == n) {
                Some(field) => field.1 = v.clone(),
                None => fields.push((n.clone(), v.clone())),
            }
        }
        let before = format!("{} ", self.method).into_bytes();
        let mut h = Vec::with_capacity(256);
        h.extend_from_slice(b" HTTP/1.1\r\n");
        for (n, v) in &fields {
            h.extend_from_slice(n.as_str().as_bytes());
            h.extend_from_slice(b": ");
            h.extend_from_slice(v.as_bytes());
            h.extend_from_slice(b"\r\n");
        }
        let expects_body = matches!(self.method, Method::POST | Method::PUT | Method::PATCH);
        if body_len > 0 || expects_body {
            h.extend_from_slice(format!("content-length: {body_len}\r\n").as_bytes());
        }
        h.extend_from_slice(b"\r\n");
        (before, h)
    }

    /// Whether the extra headers ask the server to close each connection (`Connection: close`).
    pub(crate) fn asks_close(&self) -> bool {
        self.headers.iter().any(|(n, v)| {
            n == http::header::CONNECTION
                && v.to_str().is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
        })
    }
}

/// The part of a [`super::Workload`] implementation that every workload over an [`HttpTarget`]
/// (a field named `endpoint`) shares: the connection type, the protocol's name, the target and
/// header names, connecting, and noticing a closed connection.
macro_rules! over_endpoint {
    ($protocol:literal) => {
        type Conn = $crate::workload::endpoint::HttpConn;

        fn protocol(&self) -> &'static str {
            $protocol
        }

        fn target(&self) -> String {
            self.endpoint.target()
        }

        fn header_names(&self) -> Vec<String> {
            self.endpoint.header_names()
        }

        async fn connect(&self) -> Result<Self::Conn, Failure> {
            self.endpoint.connect().await
        }

        fn is_closed(&self, conn: &mut Self::Conn) -> bool {
            conn.is_closed()
        }
    };
}
pub(crate) use over_endpoint;

type ConnFuture = Pin<Box<dyn Future<Output = hyper::Result<()>> + Send>>;

/// One user's HTTP/1.1 connection: the request handle and the connection it drives.
pub struct HttpConn {
    sender: SendRequest<Full<Bytes>>,
    conn: ConnFuture,
    ended: Option<String>,
}

impl fmt::Debug for HttpConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpConn").field("ended", &self.ended).finish_non_exhaustive()
    }
}

/// The connection half of an [`HttpConn`], polled next to the request it carries.
pub(crate) struct Driver<'a> {
    conn: &'a mut ConnFuture,
    ended: &'a mut Option<String>,
}

impl Driver<'_> {
    fn poll_conn(&mut self, cx: &mut Context<'_>) {
        if self.ended.is_none()
            && let Poll::Ready(r) = self.conn.as_mut().poll(cx)
        {
            *self.ended = Some(match r {
                Ok(()) => "connection closed by the server".to_owned(),
                Err(e) => format!("connection failed: {}", describe(&e)),
            });
        }
    }

    /// Runs `fut` while driving the connection, until `fut` is done or the connection ends.
    pub(crate) async fn drive<T>(&mut self, fut: impl Future<Output = T>) -> Result<T, Failure> {
        let mut fut = pin!(fut);
        poll_fn(|cx| {
            if let Poll::Ready(v) = fut.as_mut().poll(cx) {
                return Poll::Ready(Ok(v));
            }
            self.poll_conn(cx);
            if let Some(why) = self.ended.as_ref() {
                // The connection may have finished the answer just before it ended.
                if let Poll::Ready(v) = fut.as_mut().poll(cx) {
                    return Poll::Ready(Ok(v));
                }
                return Poll::Ready(Err(Failure::broken(ErrorClass::Protocol, why.clone())));
            }
            Poll::Pending
        })
        .await
    }
}

impl HttpConn {
    /// Whether the connection is gone; lets it notice a close that arrived while it was idle.
    pub(crate) fn is_closed(&mut self) -> bool {
        let (sender, mut driver) = self.split();
        driver.poll_conn(&mut Context::from_waker(Waker::noop()));
        driver.ended.is_some() || sender.is_closed()
    }

    /// Waits until a request can be sent, then sends it; returns the response head and the
    /// driver that must keep polling the connection while the body is read.
    pub(crate) async fn send(
        &mut self,
        req: Request<Full<Bytes>>,
    ) -> Result<(http::Response<hyper::body::Incoming>, Driver<'_>), Failure> {
        let (sender, mut driver) = self.split();
        driver.drive(sender.ready()).await?.map_err(|e| {
            Failure::broken(ErrorClass::Protocol, format!("connection not ready: {}", describe(&e)))
        })?;
        let resp = driver
            .drive(sender.send_request(req))
            .await?
            .map_err(|e| Failure::broken(ErrorClass::Protocol, describe(&e)))?;
        Ok((resp, driver))
    }

    fn split(&mut self) -> (&mut SendRequest<Full<Bytes>>, Driver<'_>) {
        (&mut self.sender, Driver { conn: &mut self.conn, ended: &mut self.ended })
    }
}

pub(crate) fn describe(e: &hyper::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

/// Whether the response asks to close the connection after it.
pub(crate) fn closing<B>(resp: &http::Response<B>) -> bool {
    resp.headers()
        .get(http::header::CONNECTION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("close"))
}
