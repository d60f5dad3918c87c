//! Server-sent events over HTTP/1.1 (the features suite's streaming chain sends 50 `data:` events
//! per request, then `data: [DONE]`). Each event is marked on the probe, so the level records time
//! to first byte, time to first event, the gaps between events and events per second, besides the
//! end-to-end latency. A stream that ends before `[DONE]` or with the wrong number of events is an
//! error of its own class (`stream`).

use std::fmt;

use bytes::Bytes;
use http::Method;
use http::header::{ACCEPT, HeaderValue};
use http_body_util::BodyExt;

use super::endpoint::{Builder, HttpTarget, closing, describe, over_endpoint};
use super::{Failure, Probe, Workload};
use crate::{ErrorClass, Result};

/// The data of the event that ends a stream.
pub(crate) const DONE: &[u8] = b"[DONE]";

/// An incremental parser of the `text/event-stream` format (WHATWG HTML, "server-sent events"):
/// lines end in `\n`, `\r\n` or `\r` and may be split anywhere across reads; `data:` lines of one
/// event are joined with `\n`; lines starting with `:` are comments; a blank line ends an event;
/// `event`, `id` and `retry` fields are accepted and ignored. [`SseParser::finish`] treats a last
/// line without its newline as complete.
///
/// A line or an event's data longer than the parser's limit is an error ([`TooLong`]): memory
/// stays bounded whatever the server sends.
#[derive(Debug, Clone)]
pub(crate) struct SseParser {
    line: Vec<u8>,
    data: Vec<u8>,
    has_data: bool,
    skip_lf: bool,
    limit: usize,
}

/// An SSE line or event longer than the parser's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooLong {
    /// The limit, in bytes.
    pub(crate) limit: usize,
}

impl fmt::Display for TooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an SSE line or event is over the {}-byte limit (max_event_bytes)", self.limit)
    }
}

impl std::error::Error for TooLong {}

impl Default for SseParser {
    fn default() -> Self {
        Self::with_limit(crate::spec::DEFAULT_MAX_BYTES)
    }
}

impl SseParser {
    /// A parser that refuses lines and events longer than `limit` bytes.
    pub(crate) fn with_limit(limit: usize) -> Self {
        SseParser { line: Vec::new(), data: Vec::new(), has_data: false, skip_lf: false, limit }
    }

    /// Feeds the next bytes of the stream; `on_event` gets the data of every event completed.
    pub(crate) fn feed(&mut self, mut chunk: &[u8], on_event: &mut impl FnMut(&[u8])) -> Result<(), TooLong> {
        if chunk.is_empty() {
            return Ok(());
        }
        if self.skip_lf {
            self.skip_lf = false;
            if chunk.first() == Some(&b'\n') {
                chunk = &chunk[1..];
            }
        }
        while let Some(pos) = memchr::memchr2(b'\n', b'\r', chunk) {
            let (line, rest) = chunk.split_at(pos);
            let mut rest = &rest[1..];
            if chunk[pos] == b'\r' {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    None => self.skip_lf = true,
                    Some(_) => {}
                }
            }
            if self.line.len() + line.len() > self.limit {
                return Err(TooLong { limit: self.limit });
            }
            if self.line.is_empty() {
                self.line_done(line, on_event)?;
            } else {
                let mut full = std::mem::take(&mut self.line);
                full.extend_from_slice(line);
                self.line_done(&full, on_event)?;
                full.clear();
                self.line = full;
            }
            chunk = rest;
        }
        if self.line.len() + chunk.len() > self.limit {
            return Err(TooLong { limit: self.limit });
        }
        self.line.extend_from_slice(chunk);
        Ok(())
    }

    /// Ends the stream: a last line without newline counts, and a pending event is delivered.
    pub(crate) fn finish(&mut self, on_event: &mut impl FnMut(&[u8])) -> Result<(), TooLong> {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.line_done(&line, on_event)?;
        }
        self.line_done(b"", on_event)
    }

    fn line_done(&mut self, line: &[u8], on_event: &mut impl FnMut(&[u8])) -> Result<(), TooLong> {
        if line.is_empty() {
            if self.has_data {
                // Every data line added a '\n'; the last one is not part of the data.
                let n = self.data.len().saturating_sub(1);
                on_event(&self.data[..n]);
                self.data.clear();
                self.has_data = false;
            }
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(());
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        if field == b"data" {
            if self.data.len() + value.len() > self.limit {
                return Err(TooLong { limit: self.limit });
            }
            self.data.extend_from_slice(value);
            self.data.push(b'\n');
            self.has_data = true;
        }
        Ok(())
    }
}

/// The SSE workload's own options.
#[derive(Debug, Clone)]
pub struct SseOptions {
    body: Bytes,
    events: Option<u32>,
    require_done: bool,
    max_event_bytes: usize,
}

/// Builds an [`SseWorkload`].
pub type SseWorkloadBuilder = Builder<SseOptions>;

impl Builder<SseOptions> {
    /// A JSON request body (POST it with `.method(Method::POST)`).
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.opts.body = body.into();
        self
    }

    /// Each stream must carry exactly this many events before `[DONE]`.
    pub fn events(mut self, n: u32) -> Self {
        self.opts.events = Some(n);
        self
    }

    /// Whether a stream must end with `data: [DONE]` (default: yes).
    pub fn require_done(mut self, yes: bool) -> Self {
        self.opts.require_done = yes;
        self
    }

    /// Longest line or event accepted (default 1 MiB); a longer one is a `stream` error and
    /// drops the connection.
    pub fn max_event_bytes(mut self, max: usize) -> Self {
        self.opts.max_event_bytes = max;
        self
    }

    /// Builds the workload.
    pub fn build(self) -> Result<SseWorkload> {
        if self.opts.max_event_bytes == 0 {
            return Err(crate::Error::config("the event cap must be at least one byte"));
        }
        let (endpoint, opts) = self.endpoint()?;
        Ok(SseWorkload { endpoint, opts })
    }
}

/// Streams of server-sent events, one per request.
pub struct SseWorkload {
    endpoint: HttpTarget,
    opts: SseOptions,
}

impl fmt::Debug for SseWorkload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SseWorkload")
            .field("endpoint", &self.endpoint)
            .field("events", &self.opts.events)
            .field("require_done", &self.opts.require_done)
            .finish_non_exhaustive()
    }
}

impl SseWorkload {
    /// Starts building a workload for `url`: GET, no body, `[DONE]` required.
    pub fn builder(url: &str) -> Result<SseWorkloadBuilder> {
        Builder::new(
            url,
            Method::GET,
            SseOptions {
                body: Bytes::new(),
                events: None,
                require_done: true,
                max_event_bytes: crate::spec::DEFAULT_MAX_BYTES,
            },
        )
    }
}

/// What a stream carried.
#[derive(Debug, Default)]
pub(crate) struct StreamTally {
    pub events: u32,
    pub done: bool,
    pub after_done: u32,
}

/// Reads an SSE body to its end, marking each event (before `[DONE]`) on the probe and handing
/// its data to `on_data`. A line or event over `limit` bytes is a `stream` error that drops the
/// connection.
pub(crate) async fn read_stream(
    conn_driver: &mut super::endpoint::Driver<'_>,
    body: hyper::body::Incoming,
    limit: usize,
    probe: &mut Probe,
    on_data: &mut impl FnMut(&[u8]),
) -> Result<StreamTally, Failure> {
    let mut parser = SseParser::with_limit(limit);
    let too_long = |e: TooLong| Failure::broken(ErrorClass::Stream, e.to_string());
    let mut tally = StreamTally::default();
    let mut body = body;
    let mut on_event = |data: &[u8]| {
        if tally.done {
            tally.after_done += 1;
        } else if data == DONE {
            tally.done = true;
        } else {
            tally.events += 1;
            probe.event();
            on_data(data);
        }
    };
    // A connection that ends mid-stream is a stream that broke off.
    let broke_off = |f: Failure| Failure {
        class: ErrorClass::Stream,
        detail: format!("stream broke off: {}", f.detail),
        ..f
    };
    while let Some(frame) = conn_driver.drive(body.frame()).await.map_err(broke_off)? {
        let frame = frame.map_err(|e| {
            Failure::broken(ErrorClass::Stream, format!("stream broke off: {}", describe(&e)))
        })?;
        if let Ok(data) = frame.into_data() {
            parser.feed(&data, &mut on_event).map_err(too_long)?;
        }
    }
    parser.finish(&mut on_event).map_err(too_long)?;
    Ok(tally)
}

impl Workload for SseWorkload {
    over_endpoint!("sse");

    async fn call(&self, conn: &mut Self::Conn, _seq: u64, probe: &mut Probe) -> Result<(), Failure> {
        let mut req = self.endpoint.request(self.opts.body.clone(), Some("application/json"));
        req.headers_mut().insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        let (resp, mut driver) = conn.send(req).await?;
        probe.first_byte();
        let status = resp.status();
        let closing = closing(&resp);
        let fail = |f: Failure| if closing { Failure { conn_broken: true, ..f } } else { f };
        if !status.is_success() {
            // Read the error body so the connection can be reused.
            let mut body = resp.into_body();
            while let Some(Ok(_)) = driver.drive(body.frame()).await? {}
            return Err(fail(Failure::status(status.as_u16(), format!("HTTP {status}"))));
        }
        let tally =
            read_stream(&mut driver, resp.into_body(), self.opts.max_event_bytes, probe, &mut |_| {}).await?;
        if self.opts.require_done && !tally.done {
            return Err(fail(Failure::new(
                ErrorClass::Stream,
                format!("stream ended after {} events without [DONE]", tally.events),
            )));
        }
        if let Some(n) = self.opts.events
            && tally.events != n
        {
            return Err(fail(Failure::new(
                ErrorClass::Stream,
                format!("stream carried {} events, expected {n}", tally.events),
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse_in_chunks(input: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
        let mut p = SseParser::default();
        let mut out = Vec::new();
        let mut on = |d: &[u8]| out.push(d.to_vec());
        let mut last = 0;
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        cuts.sort_unstable();
        for c in cuts {
            p.feed(&input[last..c], &mut on).unwrap_or_else(|e| panic!("{e}"));
            last = c;
        }
        p.feed(&input[last..], &mut on).unwrap_or_else(|e| panic!("{e}"));
        p.finish(&mut on).unwrap_or_else(|e| panic!("{e}"));
        out
    }

    #[test]
    fn parses_the_format() {
        let input = b": comment\r\ndata: one\r\n\r\nevent: tick\ndata:two\ndata:  three\n\nid: 7\nretry: 10\n\ndata\n\ndata: last";
        let got = parse_in_chunks(input, &[]);
        assert_eq!(got, vec![b"one".to_vec(), b"two\n three".to_vec(), b"".to_vec(), b"last".to_vec()]);
        // Bare \r line endings.
        assert_eq!(parse_in_chunks(b"data: a\r\rdata: b\r\r", &[]), vec![b"a".to_vec(), b"b".to_vec()]);
        // An event without its blank line at the end of the stream still counts.
        assert_eq!(parse_in_chunks(b"data: [DONE]\n", &[]), vec![b"[DONE]".to_vec()]);
    }

    #[test]
    fn lines_and_events_over_the_limit_are_refused() {
        let mut on = |_: &[u8]| {};
        // A line that never ends, fed in small pieces, stops at the limit.
        let mut p = SseParser::with_limit(100);
        let mut fed = 0;
        let r = loop {
            match p.feed(b"data: xxxxxxxxxxxxxxxxxxxxxxxx", &mut on) {
                Ok(()) => fed += 1,
                Err(e) => break e,
            }
        };
        assert_eq!(r, TooLong { limit: 100 });
        assert!(fed <= 4, "{fed} pieces accepted");
        // One long line in one piece.
        let long = format!("data: {}\n\n", "y".repeat(200));
        assert!(SseParser::with_limit(100).feed(long.as_bytes(), &mut on).is_err());
        // An event of many short data lines.
        let many = "data: zzzzzzzzz\n".repeat(20);
        assert!(SseParser::with_limit(100).feed(many.as_bytes(), &mut on).is_err());
        // At the limit is fine.
        let mut got = Vec::new();
        let fits = format!("data: {}\n\n", "w".repeat(94));
        SseParser::with_limit(100)
            .feed(fits.as_bytes(), &mut |d: &[u8]| got.push(d.len()))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got, vec![94]);
    }

    fn arb_stream() -> impl Strategy<Value = (Vec<u8>, Vec<Vec<u8>>)> {
        let event = prop::collection::vec(prop::collection::vec(0x20u8..0x7f, 0..20), 1..4);
        let eol = prop::sample::select(vec![&b"\n"[..], &b"\r\n"[..], &b"\r"[..]]);
        prop::collection::vec((event, eol, any::<bool>()), 0..20).prop_map(|events| {
            let mut bytes = Vec::new();
            let mut expected = Vec::new();
            for (lines, eol, comment) in events {
                if comment {
                    bytes.extend_from_slice(b": keep-alive");
                    bytes.extend_from_slice(eol);
                }
                for l in &lines {
                    bytes.extend_from_slice(b"data: ");
                    bytes.extend_from_slice(l);
                    bytes.extend_from_slice(eol);
                }
                bytes.extend_from_slice(eol);
                // A data value keeps its own leading spaces after the one that is stripped.
                expected.push(lines.join(&b'\n'));
            }
            (bytes, expected)
        })
    }

    proptest! {
        /// Whatever the line endings and however the stream is cut into reads, the parser yields
        /// the same events as the one-piece parse, which are the events written.
        #[test]
        fn chunking_never_changes_the_events((bytes, expected) in arb_stream(), cuts in prop::collection::vec(any::<usize>(), 0..12)) {
            prop_assert_eq!(parse_in_chunks(&bytes, &[]), expected.clone());
            prop_assert_eq!(parse_in_chunks(&bytes, &cuts), expected);
        }

        /// Arbitrary bytes never panic the parser, whatever its limit.
        #[test]
        fn never_panics(bytes in prop::collection::vec(any::<u8>(), 0..400), cuts in prop::collection::vec(any::<usize>(), 0..8), limit in 1usize..500) {
            let mut p = SseParser::with_limit(limit);
            let mut on = |_: &[u8]| {};
            let mut last = 0;
            let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
            cuts.sort_unstable();
            for c in cuts {
                let _ = p.feed(&bytes[last..c], &mut on);
                last = c;
            }
            let _ = p.feed(&bytes[last..], &mut on);
            let _ = p.finish(&mut on);
        }
    }
}
