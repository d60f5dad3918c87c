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

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
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
        Ok(httparse::Status::Complete(n)) => n,
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
                .and_then(|v| v.trim().parse::<u64>().ok())
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
    let close = close || (http10 && !keep_alive) || framing == Framing::UntilClose;
    Ok(Some((Head { status, framing, close }, len)))
}

/// One keep-alive HTTP/1.1 connection and its buffers.
pub struct H1Conn {
    stream: Stream,
    /// Bytes read and not yet consumed.
    buf: BytesMut,
    /// The request: head, then body from `body_at`.
    out: Vec<u8>,
    body_at: usize,
    /// The request is a HEAD (answers have no body).
    head_request: bool,
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

impl H1Conn {
    /// A connection over `stream` that sends `head` followed by `body` as its request.
    pub(crate) fn new(stream: Stream, head: &[u8], body: &[u8], head_request: bool) -> Self {
        let mut out = Vec::with_capacity(head.len() + body.len());
        out.extend_from_slice(head);
        out.extend_from_slice(body);
        H1Conn {
            stream,
            buf: BytesMut::with_capacity(READ_CHUNK),
            out,
            body_at: head.len(),
            head_request,
            ended: None,
        }
    }

    /// The request body, to be rewritten in place before a send.
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
            // Bytes nobody asked for: the connection is out of step.
            self.ended = Some("unsolicited bytes from the server");
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
            Poll::Ready(_) => {
                self.ended = Some("unsolicited bytes from the server");
                true
            }
        }
    }

    /// Reads more bytes into the buffer; the connection's end is an error.
    async fn fill(&mut self, probe: &mut Probe) -> Result<(), Failure> {
        self.buf.reserve(READ_CHUNK);
        let n = self.stream.read_buf(&mut self.buf).await.map_err(|e| protocol(format!("reading: {e}")))?;
        if n == 0 {
            self.ended = Some("connection closed by the server");
            return Err(protocol("connection closed by the server before the answer was complete"));
        }
        probe.first_byte();
        Ok(())
    }

    /// Sends the request and reads the whole answer, handing each piece of the answer's body to
    /// `on_body` in order, with the request's body beside it. Returns the final response's status;
    /// afterwards [`Self::is_closed`] says whether the connection can carry another request.
    pub(crate) async fn exchange(
        &mut self,
        probe: &mut Probe,
        on_body: &mut impl FnMut(&[u8], &[u8]),
    ) -> Result<u16, Failure> {
        if let Some(why) = self.ended {
            return Err(protocol(why));
        }
        let result = self.exchange_inner(probe, on_body).await;
        if result.is_err() && self.ended.is_none() {
            self.ended = Some("a failed exchange");
        }
        result
    }

    async fn exchange_inner(
        &mut self,
        probe: &mut Probe,
        on_body: &mut impl FnMut(&[u8], &[u8]),
    ) -> Result<u16, Failure> {
        self.stream.write_all(&self.out).await.map_err(|e| protocol(format!("sending: {e}")))?;
        self.stream.flush().await.map_err(|e| protocol(format!("sending: {e}")))?;
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
                None => self.fill(probe).await?,
            }
        };
        match head.framing {
            Framing::Empty => {}
            Framing::Length(mut left) => loop {
                let take = (left.min(self.buf.len() as u64)) as usize;
                if take > 0 {
                    on_body(&self.out[self.body_at..], &self.buf[..take]);
                    self.buf.advance(take);
                    left -= take as u64;
                }
                if left == 0 {
                    break;
                }
                self.fill(probe).await?;
            },
            Framing::Chunked => self.read_chunked(probe, on_body).await?,
            Framing::UntilClose => loop {
                if !self.buf.is_empty() {
                    on_body(&self.out[self.body_at..], &self.buf);
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
        if head.close {
            self.ended = Some("the server closed the connection after its answer");
        }
        Ok(head.status)
    }

    /// One line (without its CRLF) from the front of the buffer, reading as needed.
    async fn line(&mut self, probe: &mut Probe) -> Result<BytesMut, Failure> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.buf.split_to(i);
                self.buf.advance(2);
                return Ok(line);
            }
            if self.buf.len() > MAX_LINE {
                return Err(protocol("chunk header or trailer line too long"));
            }
            self.fill(probe).await?;
        }
    }

    async fn read_chunked(
        &mut self,
        probe: &mut Probe,
        on_body: &mut impl FnMut(&[u8], &[u8]),
    ) -> Result<(), Failure> {
        loop {
            let line = self.line(probe).await?;
            let size = chunk_size(&line).ok_or_else(|| {
                protocol(format!(
                    "bad chunk size line {:?}",
                    String::from_utf8_lossy(&line[..line.len().min(40)])
                ))
            })?;
            if size == 0 {
                // Trailers until an empty line.
                while !self.line(probe).await?.is_empty() {}
                return Ok(());
            }
            let mut left = size;
            loop {
                let take = (left.min(self.buf.len() as u64)) as usize;
                if take > 0 {
                    on_body(&self.out[self.body_at..], &self.buf[..take]);
                    self.buf.advance(take);
                    left -= take as u64;
                }
                if left == 0 {
                    break;
                }
                self.fill(probe).await?;
            }
            if !self.line(probe).await?.is_empty() {
                return Err(protocol("chunk data longer than its size"));
            }
        }
    }
}

/// The size of a chunk from its header line (`1a;ext=1`).
fn chunk_size(line: &[u8]) -> Option<u64> {
    let hex = line.split(|&b| b == b';').next()?;
    let hex = std::str::from_utf8(hex).ok()?.trim();
    if hex.is_empty() || hex.len() > 15 {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
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
            "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n",
            "SMTP ready\r\n\r\n",
        ] {
            assert!(parse_head(bad.as_bytes(), false).is_err(), "{bad:?}");
        }
        let huge = format!("HTTP/1.1 200 OK\r\nx: {}", "a".repeat(MAX_HEAD + 1));
        assert!(parse_head(huge.as_bytes(), false).is_err());
    }

    #[test]
    fn chunk_sizes() {
        assert_eq!(chunk_size(b"1a"), Some(26));
        assert_eq!(chunk_size(b"0"), Some(0));
        assert_eq!(chunk_size(b"FF;name=value"), Some(255));
        assert_eq!(chunk_size(b""), None);
        assert_eq!(chunk_size(b"zz"), None);
        assert_eq!(chunk_size(b"ffffffffffffffffff"), None);
    }
}
