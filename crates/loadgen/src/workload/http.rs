//! HTTP/1.1 unary requests. Every response is read to the end and validated: the status, and as
//! the [`Expect`] asks, the body (an echo of the request's, compared as it arrives) or a JSON
//! answer (read whole up to a cap, then checked). Two engines send them: loadgen's own HTTP/1.1
//! connection (the default: the request serialized once, the answer parsed in place) and hyper's,
//! kept to cross-check the first. A path may hold templates (`{seq}`, `{rand:A..B}`): only then is
//! each request's head built anew.

use std::fmt;
use std::fmt::Write as _;

use bytes::{BufMut, Bytes, BytesMut};
use http::{Method, Uri};
use http_body_util::BodyExt;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use super::endpoint::{Builder, HttpConn, HttpTarget, closing, describe};
use super::h1::{H1Conn, RequestBytes};
use super::{Failure, Probe, Workload};
pub use crate::spec::{Expect, JsonCheck};
use crate::{Error, ErrorClass, Result};

/// Length of the request number written at the front of each echo body.
const SEQ_DIGITS: usize = 20;
const MAX_BODY: usize = 1 << 30;

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

/// One piece of a path template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Seq,
    Rand(i64, i64),
}

/// A request path with templates: `{seq}` (the request's number) and `{rand:A..B}` (a uniform
/// random integer in `A..=B`, from a generator seeded by the workload's seed and the request's
/// number, so the same request always gets the same values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathTemplate {
    parts: Vec<Part>,
}

impl PathTemplate {
    /// Reads the templates of `path`; any other use of `{` or `}` is refused.
    pub(crate) fn parse(path: &str) -> Result<Self> {
        let mut parts = Vec::new();
        let mut rest = path;
        while let Some(i) = rest.find(['{', '}']) {
            if rest[i..].starts_with('}') {
                return Err(Error::config("the path has a '}' without its '{'"));
            }
            let close =
                rest[i..].find('}').ok_or_else(|| Error::config("the path has a '{' without its '}'"))?;
            if i > 0 {
                parts.push(Part::Literal(rest[..i].to_owned()));
            }
            let inner = &rest[i + 1..i + close];
            let bad = || {
                Error::config(format!(
                    "unknown path template {{{}}}: use {{seq}} or {{rand:A..B}}",
                    inner.chars().take(40).collect::<String>()
                ))
            };
            parts.push(if inner == "seq" {
                Part::Seq
            } else if let Some(range) = inner.strip_prefix("rand:") {
                let (a, b) = range.split_once("..").ok_or_else(bad)?;
                let (a, b) = (
                    a.trim().parse::<i64>().map_err(|_| bad())?,
                    b.trim().parse::<i64>().map_err(|_| bad())?,
                );
                if a > b {
                    return Err(Error::config(format!("path template {{rand:{a}..{b}}}: {a} is above {b}")));
                }
                Part::Rand(a, b)
            } else {
                return Err(bad());
            });
            rest = &rest[i + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        Ok(PathTemplate { parts })
    }

    /// Whether the path has no template (every request sends it as is).
    pub(crate) fn is_fixed(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Literal(_)))
    }

    /// The path of request `seq`, into `out`.
    pub(crate) fn render(&self, seq: u64, seed: u64, out: &mut String) {
        out.clear();
        let mut rng = None;
        for p in &self.parts {
            match p {
                Part::Literal(s) => out.push_str(s),
                Part::Seq => {
                    let _ = write!(out, "{seq}");
                }
                Part::Rand(a, b) => {
                    let rng = rng.get_or_insert_with(|| {
                        SmallRng::seed_from_u64(seed ^ seq.wrapping_mul(0x9E37_79B9_7F4A_7C15))
                    });
                    let _ = write!(out, "{}", rng.random_range(*a..=*b));
                }
            }
        }
    }
}

/// The unary workload's own options.
#[derive(Debug, Clone)]
pub struct UnaryOptions {
    body: Option<Bytes>,
    body_size: usize,
    expect: Expect,
    engine: Engine,
    seed: u64,
    max_body_bytes: usize,
}

/// Builds an [`HttpWorkload`].
pub type HttpWorkloadBuilder = Builder<UnaryOptions>;

impl Builder<UnaryOptions> {
    /// A body of this many printable bytes (default 0); with an echo check each request's body
    /// starts with its number.
    pub fn body_size(mut self, size: usize) -> Self {
        self.opts.body_size = size;
        self.opts.body = None;
        self
    }

    /// A literal body, sent as is by every request.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.opts.body = Some(body.into());
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

    /// Seed of the path's `{rand:A..B}` templates (default 0).
    pub fn seed(mut self, seed: u64) -> Self {
        self.opts.seed = seed;
        self
    }

    /// Longest body read whole (for a JSON check; default 1 MiB); a longer one is a `body` error.
    pub fn max_body_bytes(mut self, max: usize) -> Self {
        self.opts.max_body_bytes = max;
        self
    }

    /// Checks the settings and builds the workload.
    pub fn build(self) -> Result<HttpWorkload> {
        if self.opts.body_size > MAX_BODY || self.opts.body.as_ref().is_some_and(|b| b.len() > MAX_BODY) {
            return Err(Error::config("the body is over 1 GiB"));
        }
        if self.opts.max_body_bytes == 0 {
            return Err(Error::config("the body cap must be at least one byte"));
        }
        self.opts.expect.validate()?;
        let (endpoint, opts) = self.endpoint()?;
        let template = PathTemplate::parse(endpoint.path_and_query())?;
        let (literal, filler) = match opts.body {
            Some(b) => (true, b),
            None => (false, printable_filler(opts.body_size)),
        };
        let raw_head = endpoint.raw_head(filler.len(), Some(CONTENT_TYPE));
        let templated = (!template.is_fixed())
            .then(|| (template, endpoint.raw_head_parts(filler.len(), Some(CONTENT_TYPE))));
        Ok(HttpWorkload {
            endpoint,
            filler,
            literal,
            expect: opts.expect,
            engine: opts.engine,
            raw_head,
            templated,
            seed: opts.seed,
            max_body_bytes: opts.max_body_bytes,
        })
    }
}

const CONTENT_TYPE: &str = "application/octet-stream";

/// A path template, and the serialized head before and after the request target.
type Templated = (PathTemplate, (Vec<u8>, Vec<u8>));

/// HTTP/1.1 unary requests against one URL.
pub struct HttpWorkload {
    endpoint: HttpTarget,
    /// The body: generated filler or a literal.
    filler: Bytes,
    literal: bool,
    expect: Expect,
    engine: Engine,
    /// The serialized request head (native engine).
    raw_head: Vec<u8>,
    /// A templated path and the head around it, when the path has templates.
    templated: Option<Templated>,
    seed: u64,
    max_body_bytes: usize,
}

impl fmt::Debug for HttpWorkload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpWorkload")
            .field("endpoint", &self.endpoint)
            .field("body_size", &self.filler.len())
            .field("expect", &self.expect)
            .field("engine", &self.engine)
            .field("templated", &self.templated.is_some())
            .finish()
    }
}

impl HttpWorkload {
    /// Starts building a workload for `url` (`http://` or `https://`); GET with no body unless set.
    pub fn builder(url: &str) -> Result<HttpWorkloadBuilder> {
        Builder::new(
            url,
            Method::GET,
            UnaryOptions {
                body: None,
                body_size: 0,
                expect: Expect::default(),
                engine: Engine::Native,
                seed: 0,
                max_body_bytes: crate::spec::DEFAULT_MAX_BYTES,
            },
        )
    }

    /// Whether each request's body carries its number (generated echo bodies of at least 20
    /// bytes).
    fn numbers_bodies(&self) -> bool {
        self.expect.echo && !self.literal && self.filler.len() >= SEQ_DIGITS
    }

    /// The body request `seq` carries.
    fn body(&self, seq: u64) -> Bytes {
        if self.numbers_bodies() { numbered(&self.filler, seq) } else { self.filler.clone() }
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
pub struct UnaryConn(Unary);

#[derive(Debug)]
enum Unary {
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
                UnaryConn(Unary::Native(H1Conn::new(stream, request)))
            }
            Engine::Hyper => UnaryConn(Unary::Hyper(self.endpoint.connect().await?)),
        })
    }

    fn is_closed(&self, conn: &mut UnaryConn) -> bool {
        match &mut conn.0 {
            Unary::Native(c) => c.is_closed(),
            Unary::Hyper(c) => c.is_closed(),
        }
    }

    async fn call(&self, conn: &mut UnaryConn, seq: u64, probe: &mut Probe) -> Result<(), Failure> {
        match &mut conn.0 {
            Unary::Native(c) => self.call_native(c, seq, probe).await,
            Unary::Hyper(c) => self.call_hyper(c, seq, probe).await,
        }
    }
}

impl HttpWorkload {
    fn check(
        &self,
        status: u16,
        echo_ok: bool,
        sent: usize,
        received: usize,
        json: Option<&[u8]>,
    ) -> Result<(), Failure> {
        let status_ok = match self.expect.status {
            Some(code) => status == code,
            None => (200..300).contains(&status),
        };
        if !status_ok {
            let shown = http::StatusCode::from_u16(status).map_or(status.to_string(), |s| s.to_string());
            return Err(Failure::status(status, format!("HTTP {shown}")));
        }
        if self.expect.echo && !(echo_ok && received == sent) {
            return Err(Failure::new(
                ErrorClass::Body,
                format!("echo differs: sent {sent} bytes, got {received} bytes back"),
            ));
        }
        if let (Some(check), Some(body)) = (&self.expect.json, json) {
            let v: serde_json::Value = serde_json::from_slice(body)
                .map_err(|e| Failure::new(ErrorClass::Body, format!("the answer is not JSON: {e}")))?;
            check.check(&v).map_err(|why| Failure::new(ErrorClass::Body, why))?;
        }
        Ok(())
    }

    /// A collector of the body for a JSON check, refusing more than the cap.
    fn json_buffer(&self) -> Option<Vec<u8>> {
        self.expect.json.is_some().then(Vec::new)
    }

    fn too_long(&self) -> Failure {
        Failure::broken(
            ErrorClass::Body,
            format!("the answer's body is over the {}-byte limit (max_body_bytes)", self.max_body_bytes),
        )
    }

    async fn call_native(&self, conn: &mut H1Conn, seq: u64, probe: &mut Probe) -> Result<(), Failure> {
        let check = self.expect.echo;
        if self.numbers_bodies() {
            write_seq(conn.body_mut(), seq);
        }
        if let Some((template, (before, after))) = &self.templated {
            let mut target = String::with_capacity(64);
            template.render(seq, self.seed, &mut target);
            let mut head = Vec::with_capacity(before.len() + target.len() + after.len());
            head.extend_from_slice(before);
            head.extend_from_slice(target.as_bytes());
            head.extend_from_slice(after);
            conn.set_head(&head);
        }
        // The body is compared with what was sent as it arrives, never collected (except for a
        // JSON check, up to its cap).
        let (mut received, mut same) = (0usize, true);
        let mut json = self.json_buffer();
        let cap = self.max_body_bytes;
        let r = conn
            .exchange(probe, &mut |sent: &[u8], data: &[u8]| {
                let end = received + data.len();
                if check {
                    same &= sent.get(received..end).is_some_and(|s| s == data);
                }
                received = end;
                if let Some(buf) = json.as_mut() {
                    if buf.len() + data.len() > cap {
                        return Err(self.too_long());
                    }
                    buf.extend_from_slice(data);
                }
                Ok(())
            })
            .await;
        let status = r?;
        let closing = conn.ended();
        self.check(status, same, self.filler.len(), received, json.as_deref())
            .map_err(|f| if closing { Failure { conn_broken: true, ..f } } else { f })
    }

    async fn call_hyper(&self, conn: &mut HttpConn, seq: u64, probe: &mut Probe) -> Result<(), Failure> {
        let body = self.body(seq);
        let req = match &self.templated {
            None => self.endpoint.request(body.clone(), Some(CONTENT_TYPE)),
            Some((template, _)) => {
                let mut target = String::with_capacity(64);
                template.render(seq, self.seed, &mut target);
                let uri: Uri = target.parse().map_err(|e| {
                    Failure::new(ErrorClass::Protocol, format!("the path made from the template: {e}"))
                })?;
                self.endpoint.request_to(uri, body.clone(), Some(CONTENT_TYPE))
            }
        };
        let (resp, mut driver) = conn.send(req).await?;
        probe.first_byte();
        let status = resp.status();
        let closing = closing(&resp);
        // Read the body to the end (so the connection is reused), comparing it with what was sent
        // as it arrives instead of collecting it.
        let check = self.expect.echo;
        let mut json = self.json_buffer();
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
                if let Some(buf) = json.as_mut() {
                    if buf.len() + data.len() > self.max_body_bytes {
                        return Err(self.too_long());
                    }
                    buf.extend_from_slice(&data);
                }
            }
        }
        self.check(status.as_u16(), same, body.len(), received, json.as_deref())
            .map_err(|f| if closing { Failure { conn_broken: true, ..f } } else { f })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_render_per_request_and_repeat_with_the_seed() {
        let t = PathTemplate::parse("/items?user={rand:1..3}&n={seq}&b={rand:-5..-5}")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!t.is_fixed());
        let mut out = String::new();
        let mut seen = std::collections::BTreeSet::new();
        for seq in 0..200 {
            t.render(seq, 7, &mut out);
            let user: i64 =
                out["/items?user=".len()..].split('&').next().and_then(|v| v.parse().ok()).unwrap_or(-1);
            assert!((1..=3).contains(&user), "{out}");
            assert!(out.ends_with(&format!("&n={seq}&b=-5")), "{out}");
            seen.insert(user);
        }
        assert_eq!(seen.len(), 3, "every value of the range is drawn");
        let (mut a, mut b) = (String::new(), String::new());
        t.render(42, 7, &mut a);
        t.render(42, 7, &mut b);
        assert_eq!(a, b, "the same request, seed and number give the same path");
        assert!(PathTemplate::parse("/plain?x=1").unwrap_or_else(|e| panic!("{e}")).is_fixed());
        for bad in ["/{", "/}", "/{x}", "/{rand:1}", "/{rand:a..b}", "/{rand:3..1}"] {
            assert!(PathTemplate::parse(bad).is_err(), "{bad}");
        }
    }
}
