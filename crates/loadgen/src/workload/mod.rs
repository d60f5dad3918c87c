//! Protocols. A [`Workload`] knows how to open a connection and how to send one request over it,
//! what to time inside the request (through the [`Probe`]) and how to validate the answer. It
//! knows nothing about when requests are sent or which ones are measured: that is the runner's.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::ErrorClass;
use crate::runner::Bounds;

/// Most gaps (and inter-token latencies) a request keeps: an endless stream of events must not
/// grow memory without bound (4 MiB per request at most).
const MAX_GAPS: usize = 1 << 20;

mod any;
mod endpoint;
pub mod grpc;
mod h1;
pub mod http;
pub mod openai;
pub mod sse;

pub use any::{AnyConn, AnyWorkload};
pub use endpoint::{Builder, HttpConn};
pub use grpc::{GrpcCall, GrpcWorkload, GrpcWorkloadBuilder};
pub use http::{Engine, Expect, HttpWorkload, HttpWorkloadBuilder, JsonCheck, UnaryConn};
pub use openai::{Api, OpenAiWorkload, OpenAiWorkloadBuilder};
pub use sse::{SseWorkload, SseWorkloadBuilder};

/// One protocol's way of sending a request. Implement it to measure a protocol loadgen does not
/// ship: `examples/jsonrpc.rs` drives JSON-RPC calls over a hand-written client through a sweep.
/// The runner owns time: a workload only marks milestones (first byte, events) on the [`Probe`]
/// and says how a request failed ([`Failure`], with the class it is counted under).
pub trait Workload: Send + Sync + 'static {
    /// A connection (or channel) owned by one virtual user.
    type Conn: Send + 'static;

    /// The protocol's name in results (`http`, `sse`, `grpc`, `openai`).
    fn protocol(&self) -> &'static str;

    /// The target as results show it. Never contains secrets.
    fn target(&self) -> String;

    /// Names (never values) of the extra headers or metadata sent.
    fn header_names(&self) -> Vec<String> {
        Vec::new()
    }

    /// Opens a connection.
    fn connect(&self) -> impl Future<Output = Result<Self::Conn, Failure>> + Send;

    /// Whether a connection can no longer be used (closed by the peer); the runner then opens a
    /// new one before the next request, and counts a reconnect. It may look at the connection
    /// without waiting (for example to notice a close the peer sent while it was idle).
    fn is_closed(&self, conn: &mut Self::Conn) -> bool;

    /// Sends request number `seq` over `conn`, reads the whole answer, validates it, and marks
    /// its milestones on `probe`.
    fn call(
        &self,
        conn: &mut Self::Conn,
        seq: u64,
        probe: &mut Probe,
    ) -> impl Future<Output = Result<(), Failure>> + Send;
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The class it is counted under.
    pub class: ErrorClass,
    /// The status the server sent, where there was one (HTTP status, gRPC code).
    pub status: Option<u16>,
    /// Whether the connection must be dropped (the runner opens a new one).
    pub conn_broken: bool,
    /// A short description for the result's error samples. Never contains header values.
    pub detail: String,
}

impl Failure {
    /// A failure that leaves the connection usable.
    pub fn new(class: ErrorClass, detail: impl Into<String>) -> Self {
        Failure { class, status: None, conn_broken: false, detail: detail.into() }
    }

    /// A failure after which the connection is dropped.
    pub fn broken(class: ErrorClass, detail: impl Into<String>) -> Self {
        Failure { class, status: None, conn_broken: true, detail: detail.into() }
    }

    /// An unexpected status.
    pub fn status(code: u16, detail: impl Into<String>) -> Self {
        Failure { class: ErrorClass::Status, status: Some(code), conn_broken: false, detail: detail.into() }
    }
}

/// Token counts of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tokens {
    /// Prompt tokens.
    pub input: u32,
    /// Generated tokens.
    pub output: u32,
    /// Reported by the server (`usage`), not counted from chunks.
    pub from_usage: bool,
}

/// Milestones of one request, marked by the workload while it runs. The runner owns the probe,
/// resets it before each request and records what was marked.
#[derive(Debug)]
pub struct Probe {
    pub(crate) first_byte: Option<Instant>,
    pub(crate) first_event: Option<Instant>,
    pub(crate) last_event: Option<Instant>,
    pub(crate) events: u32,
    /// Events received inside the measured window (for events/s).
    pub(crate) events_in_window: u32,
    /// Gaps between consecutive events, in microseconds.
    pub(crate) gaps_us: Vec<u32>,
    /// Inter-token latencies, one per token after the first, in microseconds (only when the
    /// workload marks tokens with [`Probe::tokens_at`]).
    pub(crate) itl_us: Vec<u32>,
    last_token: Option<Instant>,
    /// Token counts of the request, when the protocol knows them.
    pub(crate) tokens: Option<Tokens>,
    /// Where the window lies (the runner may move it while the level runs).
    window: Arc<Bounds>,
}

impl Probe {
    pub(crate) fn new(window: Arc<Bounds>) -> Self {
        Probe {
            first_byte: None,
            first_event: None,
            last_event: None,
            events: 0,
            events_in_window: 0,
            gaps_us: Vec::new(),
            itl_us: Vec::new(),
            last_token: None,
            tokens: None,
            window,
        }
    }

    /// A probe for driving a workload outside the runner (tests, one-off checks).
    pub fn detached() -> Self {
        Probe::new(Arc::new(Bounds::new(Instant::now(), Duration::ZERO, None)))
    }

    pub(crate) fn reset(&mut self) {
        self.first_byte = None;
        self.first_event = None;
        self.last_event = None;
        self.events = 0;
        self.events_in_window = 0;
        self.gaps_us.clear();
        self.itl_us.clear();
        self.last_token = None;
        self.tokens = None;
    }

    /// Records the request's token counts (LLM workloads). `from_usage` says whether the server
    /// reported them or they were counted from chunks.
    pub fn tokens(&mut self, input: u32, output: u32, from_usage: bool) {
        self.tokens = Some(Tokens { input, output, from_usage });
    }

    /// Marks the arrival of the first byte (or the response head) of the answer.
    pub fn first_byte(&mut self) {
        if self.first_byte.is_none() {
            self.first_byte = Some(Instant::now());
        }
    }

    /// Marks the arrival of one event (an SSE event, a gRPC message, a token chunk).
    pub fn event(&mut self) {
        self.event_at(Instant::now());
    }

    /// Marks an event that arrived at `now` (events must be marked in order).
    pub fn event_at(&mut self, now: Instant) {
        if self.first_byte.is_none() {
            self.first_byte = Some(now);
        }
        match self.last_event {
            None => self.first_event = Some(now),
            Some(prev) if self.gaps_us.len() < MAX_GAPS => {
                let gap = now.saturating_duration_since(prev).as_micros();
                self.gaps_us.push(u32::try_from(gap).unwrap_or(u32::MAX));
            }
            Some(_) => {}
        }
        self.last_event = Some(now);
        self.events += 1;
        if self.window.contains(now) {
            self.events_in_window += 1;
        }
    }

    /// Marks an event that arrived at `now` carrying `tokens` tokens (an LLM stream's chunk; a
    /// server may group several tokens into one chunk). Besides the event, it records per-token
    /// inter-token latencies: a chunk of `k` tokens that arrives a gap `g` after the previous
    /// token-carrying chunk gives `k` latencies of `g / k`; the first chunk's extra tokens arrived
    /// with the first token (`k - 1` latencies of zero). A request of `n` tokens thus has `n - 1`
    /// of them, summing to the time from its first token to its last.
    pub fn tokens_at(&mut self, now: Instant, tokens: u32) {
        self.event_at(now);
        if tokens == 0 {
            return;
        }
        let tokens =
            tokens.min(u32::try_from(MAX_GAPS.saturating_sub(self.itl_us.len())).unwrap_or(u32::MAX));
        if tokens == 0 {
            self.last_token = Some(now);
            return;
        }
        let per_token = match self.last_token {
            None => {
                self.itl_us.extend(std::iter::repeat_n(0, tokens as usize - 1));
                None
            }
            Some(prev) => {
                let gap = now.saturating_duration_since(prev).as_micros() / u128::from(tokens);
                Some(u32::try_from(gap).unwrap_or(u32::MAX))
            }
        };
        if let Some(g) = per_token {
            self.itl_us.extend(std::iter::repeat_n(g, tokens as usize));
        }
        self.last_token = Some(now);
    }

    /// Events marked so far in this request.
    pub fn events(&self) -> u32 {
        self.events
    }
}
