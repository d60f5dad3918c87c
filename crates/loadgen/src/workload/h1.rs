//! A small HTTP/1.1 client connection for the unary workload, beside hyper: the request is
//! serialized once per connection (head and body in one buffer, of which an echo request rewrites
//! only its 20-digit number), sent with one write, and the answer is parsed with `httparse` from a
//! reused read buffer and checked as it arrives. It speaks exactly what a load generator needs:
//! keep-alive, `Content-Length` and chunked bodies, bodies delimited by the connection's close,
//! 1xx interim answers, `Connection: close`, and TLS through rustls.
//!
//! Anything it does not understand is a protocol error that drops the connection, never a
//! success.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::{Failure, Probe};
use crate::ErrorClass;

/// Longest response head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Most headers in a response head.
const MAX_HEADERS: usize = 100;
/// Longest chunk-size or trailer line.
const MAX_LINE: usize = 4096;
/// Read-buffer growth per read.
const READ_CHUNK: usize = 16 * 1024;

/// A plain or TLS byte stream.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// How the body of a response is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body (HEAD, 204, 304).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the server closes the connection.
    UntilClose,
}

/// The parts of a response head the client acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Head {
    pub(crate) status: u16,
    pub(crate) framing: Framing,
    /// The server closes the connection after this response.
    pub(crate) close: bool,
}

/// Parses one response head from the front of `buf`: `Ok(None)` while it is incomplete, else the
/// head and its length. `head_request`: the request was a HEAD (no body follows).
pub(crate) fn parse_head(buf: &[u8], head_request: bool) -> Result<Option<(Head, usize)>, String> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) if n <= MAX_HEAD => n,
        Ok(httparse::Status::Complete(_)) => {
            return Err(format!("response head over {} KiB", MAX_HEAD / 1024));
        }
        Ok(httparse::Status::Partial) => {
            if buf.len() > MAX_HEAD {
                return Err(format!("response head over {} KiB", MAX_HEAD / 1024));
            }
            return Ok(None);
        }
        Err(e) => return Err(format!("malformed response head: {e}")),
    };
    let status = resp.code.unwrap_or_default();
    let http10 = resp.version == Some(0);
    let (mut length, mut chunked, mut close, mut keep_alive) = (None::<u64>, false, false, false);
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value)
                .ok()
                .map(|v| v.trim_matches([' ', '\t']))
                .filter(|v| !v.is_empty() && v.len() <= 19 && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| "invalid Content-Length".to_owned())?;
            if length.is_some_and(|l| l != v) {
                return Err("conflicting Content-Length headers".to_owned());
            }
            length = Some(v);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            let v = String::from_utf8_lossy(h.value);
            // Chunked must be the last coding; anything else cannot be delimited.
            match v.rsplit(',').next().map(str::trim) {
                Some(last) if last.eq_ignore_ascii_case("chunked") => chunked = true,
                _ => return Err(format!("unsupported Transfer-Encoding {:?}", v.trim())),
            }
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in String::from_utf8_lossy(h.value).split(',') {
                let token = token.trim();
                close |= token.eq_ignore_ascii_case("close");
                keep_alive |= token.eq_ignore_ascii_case("keep-alive");
            }
        }
    }
    let framing = if head_request || status == 204 || status == 304 || (100..200).contains(&status) {
        Framing::Empty
    } else if chunked {
        Framing::Chunked
    } else if let Some(l) = length {
        Framing::Length(l)
    } else {
        Framing::UntilClose
    };
    // Transfer-Encoding with Content-Length, or in HTTP/1.0, may be a smuggling attempt: the
    // connection is not reused after it (RFC 9112, 6.1 and 6.3).
    let suspicious = chunked && (length.is_some() || http10);
    let close = close || (http10 && !keep_alive) || framing == Framing::UntilClose || suspicious;
    Ok(Some((Head { status, framing, close }, len)))
}

/// Bodies up to this size are copied into each connection's request buffer (one write per
/// request); larger ones that every request shares are written from one shared buffer.
const INLINE_BODY: usize = 64 * 1024;

/// What a connection sends: the serialized head and the body.
pub(crate) struct RequestBytes<'a> {
    pub(crate) head: &'a [u8],
    pub(crate) body: &'a Bytes,
    /// The connection rewrites the body before each send (echo numbering), so it needs its own.
    pub(crate) own_body: bool,
    /// The request is a HEAD (answers have no body).
    pub(crate) head_request: bool,
    /// The request says `Connection: close`: one request per connection.
    pub(crate) close_after: bool,
}

/// One keep-alive HTTP/1.1 connection and its buffers.
pub(crate) struct H1Conn {
    stream: Stream,
    /// Bytes read and not yet consumed.
    buf: BytesMut,
    /// The request head, then its body from `body_at` unless the body is `shared_body`.
    out: Vec<u8>,
    body_at: usize,
    shared_body: Option<Bytes>,
    head_request: bool,
    close_after: bool,
    /// Why the connection can no longer be used.
    ended: Option<&'static str>,
}

impl fmt::Debug for H1Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("H1Conn").field("ended", &self.ended).finish_non_exhaustive()
    }
}

fn protocol(detail: impl Into<String>) -> Failure {
    Failure::broken(ErrorClass::Protocol, detail)
}

const CUT_SHORT: &str = "an earlier exchange on this connection was cut short";
const UNSOLICITED: &str = "unsolicited bytes from the server";

/// Reads whatever the server has sent without waiting, into `buf`; `Ok(true)` at its end.
fn drain(stream: &mut Stream, buf: &mut BytesMut, cx: &mut Context<'_>) -> io::Result<bool> {
    let mut chunk = [0u8; 8192];
    loop {
        let mut rb = ReadBuf::new(&mut chunk);
        match Pin::new(&mut *stream).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) if rb.filled().is_empty() => return Ok(true),
            Poll::Ready(Ok(())) => buf.extend_from_slice(rb.filled()),
            Poll::Ready(Err(e)) => return Err(e),
            Poll::Pending => return Ok(false),
        }
    }
}

impl H1Conn {
    /// A connection over `stream` that sends `request` each time.
    pub(crate) fn new(stream: Stream, request: RequestBytes<'_>) -> Self {
        let inline = request.own_body || request.body.len() <= INLINE_BODY;
        let mut out = Vec::with_capacity(request.head.len() + if inline { request.body.len() } else { 0 });
        out.extend_from_slice(request.head);
        if inline {
            out.extend_from_slice(request.body);
        }
        H1Conn {
            stream,
            buf: BytesMut::with_capacity(READ_CHUNK),
            out,
            body_at: request.head.len(),
            shared_body: (!inline).then(|| request.body.clone()),
            head_request: request.head_request,
            close_after: request.close_after,
            ended: None,
        }
    }

    /// The request body, to be rewritten in place before a send (only for a connection made
    /// with `own_body`; otherwise empty).
    pub(crate) fn body_mut(&mut self) -> &mut [u8] {
        &mut self.out[self.body_at..]
    }

    /// Whether the connection is known to be unusable (without looking at the socket).
    pub(crate) fn ended(&self) -> bool {
        self.ended.is_some()
    }

    /// Whether the connection is gone: closed by the server while idle, or unusable after an
    /// answer. Looks without waiting.
    pub(crate) fn is_closed(&mut self) -> bool {
        if self.ended.is_some() {
            return true;
        }
        if !self.buf.is_empty() {
            // Bytes beyond the last answer: the connection is out of step.
            self.ended = Some(UNSOLICITED);
            return true;
        }
        let mut one = [0u8; 1];
        let mut rb = ReadBuf::new(&mut one);
        match Pin::new(&mut self.stream).poll_read(&mut Context::from_waker(Waker::noop()), &mut rb) {
            Poll::Pending => false,
            Poll::Ready(Ok(())) if rb.filled().is_empty() => {
                self.ended = Some("connection closed by the server");
                true
            }
            Poll::Ready(Ok(())) => {
                self.ended = Some(UNSOLICITED);
                true
            }
            Poll::Ready(Err(_)) => {
                self.ended = Some("the connection failed while idle");
                true
            }
        }
    }

    /// Reads more bytes into the buffer; the connection's end is an error.
    async fn fill(&mut self) -> Result<(), Failure> {
        Self::fill_parts(&mut self.stream, &mut self.buf).await
    }

    /// Writes the request. While the server takes no more, whatever it already answers is read
    /// into the buffer, so that a server streaming its answer while it reads (an echo of a large
    /// body) never waits on this client, nor this client on it.
    async fn send(&mut self) -> io::Result<()> {
        let (stream, buf) = (&mut self.stream, &mut self.buf);
        let parts: [&[u8]; 2] = [&self.out, self.shared_body.as_deref().unwrap_or_default()];
        let (mut part, mut at, mut eof) = (0usize, 0usize, false);
        std::future::poll_fn(|cx| {
            loop {
                while part < parts.len() && at == parts[part].len() {
                    part += 1;
                    at = 0;
                }
                let r = match parts.get(part) {
                    Some(p) => Pin::new(&mut *stream).poll_write(cx, &p[at..]).map_ok(Some),
                    None => Pin::new(&mut *stream).poll_flush(cx).map_ok(|()| None),
                };
                match r {
                    Poll::Ready(Ok(Some(0))) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                    Poll::Ready(Ok(Some(n))) => at += n,
                    Poll::Ready(Ok(None)) => return Poll::Ready(Ok(())),
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {
                        if !eof {
                            eof = drain(stream, buf, cx)?;
                        }
                        return Poll::Pending;
                    }
                }
            }
        })
        .await
    }

    /// Replaces the request head (for a request target that changes per request).
    pub(crate) fn set_head(&mut self, head: &[u8]) {
        self.out.splice(..self.body_at, head.iter().copied());
        self.body_at = head.len();
    }

    /// Sends the request and reads the whole answer, handing each piece of the answer's body to
    /// `on_body` in order, with the request's body beside it. Returns the final response's status;
    /// afterwards [`Self::ended`] says whether the connection is done. A failure `on_body` returns
    /// ends the exchange and the connection.
    pub(crate) async fn exchange(
        &mut self,
        probe: &mut Probe,
        on_body: &mut impl FnMut(&[u8], &[u8]) -> Result<(), Failure>,
    ) -> Result<u16, Failure> {
        if let Some(why) = self.ended {
            return Err(protocol(why));
        }
        if !self.buf.is_empty() {
            self.ended = Some(UNSOLICITED);
            return Err(protocol(UNSOLICITED));
        }
        // Until the exchange completes the connection is unusable: one cut short (a timeout
        // drops this future) must never carry another request.
        self.ended = Some(CUT_SHORT);
        match self.exchange_inner(probe, on_body).await {
            Ok((status, close)) => {
                self.ended = if close {
                    Some("the server closed the connection after its answer")
                } else if self.close_after {
                    Some("the request asked to close the connection")
                } else {
                    None
                };
                Ok(status)
            }
            Err(f) => Err(f),
        }
    }

    async fn exchange_inner(
        &mut self,
        probe: &mut Probe,
        on_body: &mut impl FnMut(&[u8], &[u8]) -> Result<(), Failure>,
    ) -> Result<(u16, bool), Failure> {
        if let Err(e) = self.send().await {
            // A server may answer early and stop reading (413): its answer still counts.
            if self.buf.is_empty() {
                return Err(protocol(format!("sending: {e}")));
            }
        }
        let head = loop {
            match parse_head(&self.buf, self.head_request).map_err(protocol)? {
                Some((head, len)) => {
                    self.buf.advance(len);
                    // 1xx answers come before the real one (101 would switch protocols: not ours).
                    if (100..200).contains(&head.status) {
                        if head.status == 101 {
                            return Err(protocol("unexpected 101 Switching Protocols"));
                        }
                        continue;
                    }
                    break head;
                }
                None => self.fill().await?,
            }
        };
        probe.first_byte();
        let sent: &[u8] = match &self.shared_body {
            Some(b) => b,
            None => &self.out[self.body_at..],
        };
        match head.framing {
            Framing::Empty => {}
            Framing::Length(mut left) => loop {
                let take = (left.min(self.buf.len() as u64)) as usize;
                if take > 0 {
                    on_body(sent, &self.buf[..take])?;
                    self.buf.advance(take);
                    left -= take as u64;
                }
                if left == 0 {
                    break;
                }
                Self::fill_parts(&mut self.stream, &mut self.buf).await?;
            },
            Framing::Chunked => Self::read_chunked(&mut self.stream, &mut self.buf, sent, on_body).await?,
            Framing::UntilClose => loop {
                if !self.buf.is_empty() {
                    on_body(sent, &self.buf)?;
                    self.buf.clear();
                }
                self.buf.reserve(READ_CHUNK);
                let n = self
                    .stream
                    .read_buf(&mut self.buf)
                    .await
                    .map_err(|e| protocol(format!("reading: {e}")))?;
                if n == 0 {
                    break;
                }
            },
        }
        Ok((head.status, head.close))
    }

    /// [`Self::fill`] on the parts of a connection (for use while its request is borrowed).
    async fn fill_parts(stream: &mut Stream, buf: &mut BytesMut) -> Result<(), Failure> {
        buf.reserve(READ_CHUNK);
        let n = stream.read_buf(buf).await.map_err(|e| protocol(format!("reading: {e}")))?;
        if n == 0 {
            return Err(protocol("connection closed by the server before the answer was complete"));
        }
        Ok(())
    }

    /// One line (without its CRLF) from the front of the buffer, reading as needed.
    async fn line(stream: &mut Stream, buf: &mut BytesMut) -> Result<BytesMut, Failure> {
        let mut searched = 0;
        loop {
            if let Some(i) = buf[searched..].windows(2).position(|w| w == b"\r\n") {
                let line = buf.split_to(searched + i);
                buf.advance(2);
                return Ok(line);
            }
            if buf.len() > MAX_LINE {
                return Err(protocol("chunk header or trailer line too long"));
            }
            searched = buf.len().saturating_sub(1);
            Self::fill_parts(stream, buf).await?;
        }
    }

    async fn read_chunked(
        stream: &mut Stream,
        buf: &mut BytesMut,
        sent: &[u8],
        on_body: &mut impl FnMut(&[u8], &[u8]) -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        loop {
            let line = Self::line(stream, buf).await?;
            let size = chunk_size(&line).ok_or_else(|| {
                let shown = String::from_utf8_lossy(&line[..line.len().min(40)]).into_owned();
                protocol(format!("bad chunk size line {shown:?}"))
            })?;
            if size == 0 {
                // Trailers until an empty line.
                while !Self::line(stream, buf).await?.is_empty() {}
                return Ok(());
            }
            let mut left = size;
            loop {
                let take = (left.min(buf.len() as u64)) as usize;
                if take > 0 {
                    on_body(sent, &buf[..take])?;
                    buf.advance(take);
                    left -= take as u64;
                }
                if left == 0 {
                    break;
                }
                Self::fill_parts(stream, buf).await?;
            }
            if !Self::line(stream, buf).await?.is_empty() {
                return Err(protocol("chunk data longer than its size"));
            }
        }
    }
}

/// The size of a chunk from its header line (`1a;ext=1`): hex digits only (leading zeros
/// allowed), optional whitespace before an extension.
fn chunk_size(line: &[u8]) -> Option<u64> {
    let hex = line.split(|&b| b == b';').next()?;
    let hex = std::str::from_utf8(hex).ok()?.trim_end_matches([' ', '\t']);
    if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let digits = hex.trim_start_matches('0');
    if digits.len() > 15 {
        return None;
    }
    if digits.is_empty() { Some(0) } else { u64::from_str_radix(digits, 16).ok() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_framed_as_rfc_9112_says() {
        let head = |s: &str| parse_head(s.as_bytes(), false).expect("parses").expect("complete").0;
        assert_eq!(head("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n").framing, Framing::Length(5));
        assert_eq!(head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").framing, Framing::Chunked);
        let h = head("HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!((h.framing, h.close), (Framing::UntilClose, true));
        assert_eq!(head("HTTP/1.1 204 No Content\r\n\r\n").framing, Framing::Empty);
        assert!(head("HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\ncontent-length: 0\r\n\r\n").close);
        assert!(head("HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n").close);
        assert!(!head("HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 0\r\n\r\n").close);
        let h = parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n", true)
            .expect("ok")
            .expect("complete")
            .0;
        assert_eq!(h.framing, Framing::Empty, "a HEAD answer has no body");
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\ncontent-le", false), Ok(None));
        for bad in [
            "HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: +1\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: 1 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n",
            "SMTP ready\r\n\r\n",
        ] {
            assert!(parse_head(bad.as_bytes(), false).is_err(), "{bad:?}");
        }
        let huge = format!("HTTP/1.1 200 OK\r\nx: {}", "a".repeat(MAX_HEAD + 1));
        assert!(parse_head(huge.as_bytes(), false).is_err());
        assert!(parse_head(format!("{huge}\r\n\r\n").as_bytes(), false).is_err(), "complete but too long");
        let h = head("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n");
        assert_eq!((h.framing, h.close), (Framing::Chunked, true), "TE wins, the connection is not reused");
    }

    #[test]
    fn chunk_sizes() {
        assert_eq!(chunk_size(b"1a"), Some(26));
        assert_eq!(chunk_size(b"0"), Some(0));
        assert_eq!(chunk_size(b"FF;name=value"), Some(255));
        assert_eq!(chunk_size(b""), None);
        assert_eq!(chunk_size(b"zz"), None);
        assert_eq!(chunk_size(b"ffffffffffffffffff"), None);
        assert_eq!(chunk_size(b"0000000000000000001a"), Some(26), "leading zeros");
        assert_eq!(chunk_size(b"1a ;ext"), Some(26), "whitespace before an extension");
        assert_eq!(chunk_size(b"+1a"), None);
        assert_eq!(chunk_size(b" 1a"), None);
    }
}
