//! HTTP/1.1 unary requests. Every response is read to the end and validated: the status, and for
//! the echo workload the body, which must equal what was sent.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};
use http::Method;
use http_body_util::BodyExt;

use super::endpoint::{Builder, Endpoint, closing, describe, over_endpoint};
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

/// The unary workload's own options.
#[derive(Debug, Clone, Copy)]
pub struct UnaryOptions {
    body_size: usize,
    expect: Expect,
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

    /// Checks the settings and builds the workload.
    pub fn build(self) -> Result<HttpWorkload> {
        if self.opts.body_size > MAX_BODY {
            return Err(Error::config(format!("body size {} is over 1 GiB", self.opts.body_size)));
        }
        let (endpoint, opts) = self.endpoint()?;
        Ok(HttpWorkload { endpoint, filler: printable_filler(opts.body_size), expect: opts.expect })
    }
}

/// HTTP/1.1 unary requests against one URL.
pub struct HttpWorkload {
    endpoint: Endpoint,
    filler: Bytes,
    expect: Expect,
}

impl fmt::Debug for HttpWorkload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpWorkload")
            .field("endpoint", &self.endpoint)
            .field("body_size", &self.filler.len())
            .field("expect", &self.expect)
            .finish()
    }
}

impl HttpWorkload {
    /// Starts building a workload for `url` (`http://` or `https://`); GET with no body unless set.
    pub fn builder(url: &str) -> Result<HttpWorkloadBuilder> {
        Builder::new(url, Method::GET, UnaryOptions { body_size: 0, expect: Expect::Success })
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
    b.put_slice(format!("{seq:0SEQ_DIGITS$}").as_bytes());
    b.put_slice(&filler[SEQ_DIGITS..]);
    b.freeze()
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

impl Workload for HttpWorkload {
    over_endpoint!("http");

    async fn call(&self, conn: &mut Self::Conn, seq: u64, probe: &mut Probe) -> Result<(), Failure> {
        let body = self.body(seq);
        let req = self.endpoint.request(body.clone(), Some("application/octet-stream"));
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
