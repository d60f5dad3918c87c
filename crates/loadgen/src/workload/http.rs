//! HTTP/1.1 unary requests. Every response is read to the end and validated: the status, and for
//! the echo workload the body, which must equal what was sent. Two engines send them: loadgen's
//! own HTTP/1.1 connection (the default: the request serialized once, the answer parsed in place)
//! and hyper's, kept to cross-check the first.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};
use http::Method;
use http_body_util::BodyExt;

use super::endpoint::{Builder, Endpoint, HttpConn, closing, describe};
use super::h1::{H1Conn, RequestBytes};
use super::{Failure, Probe, Workload};
use crate::{Error, ErrorClass, Result};

/// Length of the request number written at the front of each echo body.
const SEQ_DIGITS: usize = 20;
const MAX_BODY: usize = 1 << 30;

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

/// Which HTTP/1.1 implementation sends the requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Engine {
    /// loadgen's own connection: one write per request, the answer parsed with `httparse` from a
    /// reused buffer (about a third of hyper's CPU per request; see docs/benchmarks.md).
    #[default]
    Native,
    /// hyper's client connection.
    Hyper,
}

/// The unary workload's own options.
#[derive(Debug, Clone, Copy)]
pub struct UnaryOptions {
    body_size: usize,
    expect: Expect,
    engine: Engine,
}

/// Builds an [`HttpWorkload`].
pub type HttpWorkloadBuilder = Builder<UnaryOptions>;

impl Builder<UnaryOptions> {
    /// Size of the request body in bytes (default 0).
    pub fn body_size(mut self, size: usize) -> Self {
        self.opts.body_size = size;
        self
    }

    /// How responses are validated (default: any 2xx).
    pub fn expect(mut self, expect: Expect) -> Self {
        self.opts.expect = expect;
        self
    }

    /// Which HTTP/1.1 implementation sends the requests (default: [`Engine::Native`]).
    pub fn engine(mut self, engine: Engine) -> Self {
        self.opts.engine = engine;
        self
    }

    /// Checks the settings and builds the workload.
    pub fn build(self) -> Result<HttpWorkload> {
        if self.opts.body_size > MAX_BODY {
            return Err(Error::config(format!("body size {} is over 1 GiB", self.opts.body_size)));
        }
        let (endpoint, opts) = self.endpoint()?;
        let raw_head = endpoint.raw_head(opts.body_size, Some(CONTENT_TYPE));
        Ok(HttpWorkload {
            endpoint,
            filler: printable_filler(opts.body_size),
            expect: opts.expect,
            engine: opts.engine,
            raw_head,
        })
    }
}

const CONTENT_TYPE: &str = "application/octet-stream";

/// HTTP/1.1 unary requests against one URL.
pub struct HttpWorkload {
    endpoint: Endpoint,
    filler: Bytes,
    expect: Expect,
    engine: Engine,
    /// The serialized request head (native engine).
    raw_head: Vec<u8>,
}

impl fmt::Debug for HttpWorkload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpWorkload")
            .field("endpoint", &self.endpoint)
            .field("body_size", &self.filler.len())
            .field("expect", &self.expect)
            .field("engine", &self.engine)
            .finish()
    }
}

impl HttpWorkload {
    /// Starts building a workload for `url` (`http://` or `https://`); GET with no body unless set.
    pub fn builder(url: &str) -> Result<HttpWorkloadBuilder> {
        Builder::new(
            url,
            Method::GET,
            UnaryOptions { body_size: 0, expect: Expect::Success, engine: Engine::Native },
        )
    }

    /// Whether each request's body carries its number (echo bodies of at least 20 bytes).
    fn numbers_bodies(&self) -> bool {
        self.expect == Expect::Echo && self.filler.len() >= SEQ_DIGITS
    }

    /// The body request `seq` carries.
    fn body(&self, seq: u64) -> Bytes {
        if self.expect == Expect::Echo { numbered(&self.filler, seq) } else { self.filler.clone() }
    }
}

/// `filler` with the request number `seq` written over its start (when it is long enough), so
/// that every request carries a different body and a server that answers with a stale or cached
/// body is caught.
pub(crate) fn numbered(filler: &Bytes, seq: u64) -> Bytes {
    if filler.len() < SEQ_DIGITS {
        return filler.clone();
    }
    let mut b = BytesMut::with_capacity(filler.len());
    b.put_slice(&filler[..SEQ_DIGITS]);
    write_seq(&mut b[..SEQ_DIGITS], seq);
    b.put_slice(&filler[SEQ_DIGITS..]);
    b.freeze()
}

/// Writes `seq` as 20 zero-padded decimal digits (as `format!("{seq:020}")`).
fn write_seq(out: &mut [u8], mut seq: u64) {
    for d in out[..SEQ_DIGITS].iter_mut().rev() {
        *d = b'0' + (seq % 10) as u8;
        seq /= 10;
    }
}

/// Printable ASCII, so that text-based servers (FastAPI, JSON) can echo it unchanged.
pub(crate) fn printable_filler(size: usize) -> Bytes {
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

/// One user's connection, of the workload's engine.
#[derive(Debug)]
pub enum UnaryConn {
    /// loadgen's own.
    Native(H1Conn),
    /// hyper's.
    Hyper(HttpConn),
}

impl Workload for HttpWorkload {
    type Conn = UnaryConn;

    fn protocol(&self) -> &'static str {
        "http"
    }

    fn target(&self) -> String {
        self.endpoint.target()
    }

    fn header_names(&self) -> Vec<String> {
        self.endpoint.header_names()
    }

    async fn connect(&self) -> Result<UnaryConn, Failure> {
        Ok(match self.engine {
            Engine::Native => {
                let stream = self.endpoint.open_stream().await?;
                let request = RequestBytes {
                    head: &self.raw_head,
                    body: &self.filler,
                    own_body: self.numbers_bodies(),
                    head_request: self.endpoint.method == Method::HEAD,
                    close_after: self.endpoint.asks_close(),
                };
                UnaryConn::Native(H1Conn::new(stream, request))
            }
            Engine::Hyper => UnaryConn::Hyper(self.endpoint.connect().await?),
        })
    }

    fn is_closed(&self, conn: &mut UnaryConn) -> bool {
        match conn {
            UnaryConn::Native(c) => c.is_closed(),
            UnaryConn::Hyper(c) => c.is_closed(),
        }
    }

    async fn call(&self, conn: &mut UnaryConn, seq: u64, probe: &mut Probe) -> Result<(), Failure> {
        match conn {
            UnaryConn::Native(c) => self.call_native(c, seq, probe).await,
            UnaryConn::Hyper(c) => self.call_hyper(c, seq, probe).await,
        }
    }
}

impl HttpWorkload {
    fn check(&self, status: u16, echo_ok: bool, sent: usize, received: usize) -> Result<(), Failure> {
        let status_ok = match self.expect {
            Expect::Status(code) => status == code,
            Expect::Success | Expect::Echo => (200..300).contains(&status),
        };
        if !status_ok {
            let shown = http::StatusCode::from_u16(status).map_or(status.to_string(), |s| s.to_string());
            return Err(Failure::status(status, format!("HTTP {shown}")));
        }
        if self.expect == Expect::Echo && !(echo_ok && received == sent) {
            return Err(Failure::new(
                ErrorClass::Body,
                format!("echo differs: sent {sent} bytes, got {received} bytes back"),
            ));
        }
        Ok(())
    }

    async fn call_native(&self, conn: &mut H1Conn, seq: u64, probe: &mut Probe) -> Result<(), Failure> {
        let check = self.expect == Expect::Echo;
        if self.numbers_bodies() {
            write_seq(conn.body_mut(), seq);
        }
        // The body is compared with what was sent as it arrives, never collected.
        let (mut received, mut same) = (0usize, true);
        let r = conn
            .exchange(probe, &mut |sent: &[u8], data: &[u8]| {
                let end = received + data.len();
                if check {
                    same &= sent.get(received..end).is_some_and(|s| s == data);
                }
                received = end;
            })
            .await;
        let status = r?;
        let closing = conn.ended();
        self.check(status, same, self.filler.len(), received)
            .map_err(|f| if closing { Failure { conn_broken: true, ..f } } else { f })
    }

    async fn call_hyper(&self, conn: &mut HttpConn, seq: u64, probe: &mut Probe) -> Result<(), Failure> {
        let body = self.body(seq);
        let req = self.endpoint.request(body.clone(), Some(CONTENT_TYPE));
        let (resp, mut driver) = conn.send(req).await?;
        probe.first_byte();
        let status = resp.status();
        let closing = closing(&resp);
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
        self.check(status.as_u16(), same, body.len(), received)
            .map_err(|f| if closing { Failure { conn_broken: true, ..f } } else { f })
    }
}
