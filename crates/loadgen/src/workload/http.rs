//! HTTP/1.1 unary requests: one keep-alive connection per virtual user, driven through hyper's
//! connection API (no pool, so N users are N connections), TCP_NODELAY, optional TLS (rustls with
//! ring). Every response is read to the end and validated: the status, and for the echo workload
//! the body, which must equal what was sent.
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

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_TYPE, HOST, HeaderName, HeaderValue};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::{Failure, Probe, Workload};
use crate::{Error, ErrorClass, Result};

/// Length of the request number written at the front of each echo body, so that every request
/// carries a different body and a server that answers with a stale or cached body is caught.
const SEQ_DIGITS: usize = 20;

/// What a response must be to count as a success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Any 2xx status; the body is read but not checked.
    Success,
    /// Exactly this status.
    Status(u16),
    /// A 2xx status and a body equal to the request's body.
    Echo,
}

/// Builds an [`HttpWorkload`].
#[derive(Debug)]
pub struct HttpWorkloadBuilder {
    uri: Uri,
    method: Method,
    body_size: usize,
    expect: Expect,
    headers: Vec<(HeaderName, HeaderValue)>,
    extra_roots: Vec<CertificateDer<'static>>,
    connect_timeout: Duration,
}

/// HTTP/1.1 unary requests against one URL.
pub struct HttpWorkload {
    target: String,
    host: String,
    port: u16,
    host_header: HeaderValue,
    uri: Uri,
    method: Method,
    headers: Vec<(HeaderName, HeaderValue)>,
    filler: Bytes,
    expect: Expect,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    connect_timeout: Duration,
}

impl fmt::Debug for HttpWorkload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values stay out of every rendering.
        f.debug_struct("HttpWorkload")
            .field("target", &self.target)
            .field("method", &self.method)
            .field("headers", &self.headers.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>())
            .field("body_size", &self.filler.len())
            .field("expect", &self.expect)
            .finish_non_exhaustive()
    }
}

fn target_err(target: &str, reason: impl Into<String>) -> Error {
    Error::Target { target: target.to_owned(), reason: reason.into() }
}

impl HttpWorkload {
    /// Starts building a workload for `url` (`http://` or `https://`).
    pub fn builder(url: &str) -> Result<HttpWorkloadBuilder> {
        let uri: Uri = url.parse().map_err(|e| target_err(url, format!("not a URL ({e})")))?;
        match uri.scheme_str() {
            Some("http" | "https") => {}
            Some(s) => return Err(target_err(url, format!("scheme {s:?} is not http or https"))),
            None => return Err(target_err(url, "no scheme: write http://HOST:PORT/PATH")),
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(target_err(url, "no host"));
        }
        Ok(HttpWorkloadBuilder {
            uri,
            method: Method::GET,
            body_size: 0,
            expect: Expect::Success,
            headers: Vec::new(),
            extra_roots: Vec::new(),
            connect_timeout: Duration::from_secs(5),
        })
    }

    /// The body request `seq` carries.
    fn body(&self, seq: u64) -> Bytes {
        if self.expect == Expect::Echo && self.filler.len() >= SEQ_DIGITS {
            let mut b = BytesMut::with_capacity(self.filler.len());
            b.put_slice(format!("{seq:0SEQ_DIGITS$}").as_bytes());
            b.put_slice(&self.filler[SEQ_DIGITS..]);
            b.freeze()
        } else {
            self.filler.clone()
        }
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
}

fn printable_filler(size: usize) -> Bytes {
    // Printable ASCII, so that text-based servers (FastAPI, JSON) can echo it unchanged.
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut x: u32 = 0x9E37_79B9;
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            ALPHABET[(x % ALPHABET.len() as u32) as usize]
        })
        .collect::<Vec<u8>>()
        .into()
}

impl HttpWorkloadBuilder {
    /// The request method (default GET).
    pub fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// Size of the request body in bytes (default 0).
    pub fn body_size(mut self, size: usize) -> Self {
        self.body_size = size;
        self
    }

    /// How responses are validated (default: any 2xx).
    pub fn expect(mut self, expect: Expect) -> Self {
        self.expect = expect;
        self
    }

    /// How long opening a connection may take (default 5 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// Adds a header sent with every request. Its value is never shown or written.
    pub fn header(mut self, name: &str, value: &str) -> Result<Self> {
        let n = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| Error::config(format!("{name:?} is not a valid header name")))?;
        let mut v = HeaderValue::from_str(value.trim())
            .map_err(|_| Error::config(format!("the value of header {n} is not valid (not shown)")))?;
        v.set_sensitive(true);
        self.headers.push((n, v));
        Ok(self)
    }

    /// Trusts the CA certificates in a PEM file besides the built-in web roots.
    pub fn ca_cert(mut self, pem: &Path) -> Result<Self> {
        let certs = CertificateDer::pem_file_iter(pem)
            .map_err(|e| Error::config(format!("reading CA certificates from {}: {e}", pem.display())))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::config(format!("reading CA certificates from {}: {e}", pem.display())))?;
        if certs.is_empty() {
            return Err(Error::config(format!("no certificate in {}", pem.display())));
        }
        self.extra_roots.extend(certs);
        Ok(self)
    }

    /// Checks the settings and builds the workload.
    pub fn build(self) -> Result<HttpWorkload> {
        const MAX_BODY: usize = 1 << 30;
        if self.body_size > MAX_BODY {
            return Err(Error::config(format!("body size {} is over 1 GiB", self.body_size)));
        }
        let uri = self.uri;
        let https = uri.scheme_str() == Some("https");
        let host = uri.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
        let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a).to_owned();
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
        // Results show the URL without user info or query string (either may hold a secret).
        let target = format!("{}://{}{}", uri.scheme_str().unwrap_or("http"), authority, uri.path());
        let host_header = HeaderValue::from_str(&authority)
            .map_err(|_| target_err(&target, "host is not a valid Host header"))?;
        let tls = if https {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            for c in self.extra_roots {
                roots.add(c).map_err(|e| Error::config(format!("CA certificate rejected: {e}")))?;
            }
            let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::config(format!("TLS: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
            cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
            let name = ServerName::try_from(host.clone())
                .map_err(|e| target_err(&target, format!("not a TLS server name: {e}")))?;
            Some((TlsConnector::from(Arc::new(cfg)), name))
        } else {
            None
        };
        let uri: Uri = path.parse().map_err(|e| target_err(&target, format!("path: {e}")))?;
        Ok(HttpWorkload {
            target,
            host,
            port,
            host_header,
            uri,
            method: self.method,
            headers: self.headers,
            filler: printable_filler(self.body_size),
            expect: self.expect,
            tls,
            connect_timeout: self.connect_timeout,
        })
    }
}

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
struct Driver<'a> {
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
    async fn drive<T>(&mut self, fut: impl Future<Output = T>) -> Result<T, Failure> {
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
    fn split(&mut self) -> (&mut SendRequest<Full<Bytes>>, Driver<'_>) {
        (&mut self.sender, Driver { conn: &mut self.conn, ended: &mut self.ended })
    }
}

fn describe(e: &hyper::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

impl Workload for HttpWorkload {
    type Conn = HttpConn;

    fn protocol(&self) -> &'static str {
        "http"
    }

    fn target(&self) -> String {
        self.target.clone()
    }

    fn header_names(&self) -> Vec<String> {
        self.headers.iter().map(|(n, _)| n.as_str().to_owned()).collect()
    }

    async fn connect(&self) -> Result<Self::Conn, Failure> {
        let tcp = self.tcp().await?;
        let handshake_err = |e: hyper::Error| {
            Failure::broken(ErrorClass::Connect, format!("HTTP handshake: {}", describe(&e)))
        };
        match &self.tls {
            None => {
                let (sender, conn) =
                    hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.map_err(handshake_err)?;
                Ok(HttpConn { sender, conn: Box::pin(conn), ended: None })
            }
            Some((connector, name)) => {
                let tls = tokio::time::timeout(self.connect_timeout, connector.connect(name.clone(), tcp))
                    .await
                    .map_err(|_| Failure::broken(ErrorClass::Connect, "TLS handshake timed out"))?
                    .map_err(|e| Failure::broken(ErrorClass::Connect, format!("TLS handshake: {e}")))?;
                let (sender, conn) =
                    hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.map_err(handshake_err)?;
                Ok(HttpConn { sender, conn: Box::pin(conn), ended: None })
            }
        }
    }

    fn is_closed(&self, conn: &mut Self::Conn) -> bool {
        // Let the connection notice a close that arrived while it was idle, without waiting.
        let (sender, mut driver) = conn.split();
        driver.poll_conn(&mut Context::from_waker(Waker::noop()));
        driver.ended.is_some() || sender.is_closed()
    }

    async fn call(&self, conn: &mut Self::Conn, seq: u64, probe: &mut Probe) -> Result<(), Failure> {
        let (sender, mut driver) = conn.split();
        driver.drive(sender.ready()).await?.map_err(|e| {
            Failure::broken(ErrorClass::Protocol, format!("connection not ready: {}", describe(&e)))
        })?;
        let body = self.body(seq);
        let mut req = Request::new(Full::new(body.clone()));
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.uri.clone();
        let h = req.headers_mut();
        h.insert(HOST, self.host_header.clone());
        if !body.is_empty() {
            h.insert(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
        }
        for (n, v) in &self.headers {
            h.insert(n.clone(), v.clone());
        }
        let resp = driver
            .drive(sender.send_request(req))
            .await?
            .map_err(|e| Failure::broken(ErrorClass::Protocol, describe(&e)))?;
        probe.first_byte();
        let status = resp.status();
        let closing = resp
            .headers()
            .get(CONNECTION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        // Read the body to the end (so the connection is reused), comparing it with what was sent
        // as it arrives instead of collecting it.
        let check = self.expect == Expect::Echo;
        let mut body_in = resp.into_body();
        let (mut received, mut same) = (0usize, true);
        while let Some(frame) = driver.drive(body_in.frame()).await? {
            let frame = frame.map_err(|e| {
                Failure::broken(ErrorClass::Protocol, format!("reading the body: {}", describe(&e)))
            })?;
            if let Ok(data) = frame.into_data() {
                let end = received + data.len();
                if check {
                    same &= body.get(received..end).is_some_and(|sent| sent == &data[..]);
                }
                received = end;
            }
        }
        let fail = |f: Failure| if closing { Failure { conn_broken: true, ..f } } else { f };
        let status_ok = match self.expect {
            Expect::Status(code) => status.as_u16() == code,
            Expect::Success | Expect::Echo => status.is_success(),
        };
        if !status_ok {
            return Err(fail(Failure::status(status.as_u16(), format!("HTTP {status}"))));
        }
        if check && !(same && received == body.len()) {
            return Err(fail(Failure::new(
                ErrorClass::Body,
                format!("echo differs: sent {} bytes, got {received} bytes back", body.len()),
            )));
        }
        Ok(())
    }
}
