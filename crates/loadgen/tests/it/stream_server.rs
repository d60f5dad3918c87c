//! A raw HTTP/1.1 server for streams (SSE and OpenAI-style), written by hand so tests can make it
//! misbehave: stall, end early, break the chunked encoding.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// What the server sends for each request: a list of steps.
#[derive(Clone, Debug)]
pub enum Step {
    /// Wait.
    Sleep(Duration),
    /// Send these bytes as one chunk of the body.
    Chunk(Vec<u8>),
    /// Send these raw bytes (to break the framing).
    Raw(Vec<u8>),
    /// Stop sending anything, keep the connection open.
    Stall,
    /// Close the connection now, in the middle of the answer.
    Close,
    /// Send these raw bytes again and again, a millisecond apart, forever (an endless body or
    /// stream).
    Forever(Vec<u8>),
}

pub struct StreamServer {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl StreamServer {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for StreamServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one request: its head (as sent) and a body of `content-length` bytes; `None` at the end
/// of the stream.
pub async fn read_request(tcp: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(String, Vec<u8>)> {
    let mut chunk = [0u8; 16384];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let len: usize = head
                .to_ascii_lowercase()
                .lines()
                .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = tcp.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = buf[end + 4..end + 4 + len].to_vec();
            buf.drain(..end + 4 + len);
            return Some((head, body));
        }
        let n = tcp.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Serves every request with the steps `script(request body)` returns, as a chunked
/// `text/event-stream` response.
pub async fn serve(script: impl Fn(&[u8]) -> Vec<Step> + Send + Sync + 'static) -> StreamServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let script = Arc::new(script);
    let task = tokio::spawn(async move {
        let mut conns = JoinSet::new();
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else { return };
            tcp.set_nodelay(true).unwrap();
            let script = script.clone();
            conns.spawn(async move {
                let mut buf = Vec::new();
                while let Some((_head, body)) = read_request(&mut tcp, &mut buf).await {
                    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
                    if tcp.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    for step in script(&body) {
                        let r = match step {
                            Step::Sleep(d) => {
                                // A blocking sleep is accurate to well under a millisecond,
                                // unlike the runtime's timer.
                                tokio::task::spawn_blocking(move || std::thread::sleep(d)).await.unwrap();
                                Ok(())
                            }
                            Step::Chunk(b) => {
                                let mut out = format!("{:x}\r\n", b.len()).into_bytes();
                                out.extend_from_slice(&b);
                                out.extend_from_slice(b"\r\n");
                                tcp.write_all(&out).await
                            }
                            Step::Raw(b) => tcp.write_all(&b).await,
                            Step::Stall => {
                                tokio::time::sleep(Duration::from_secs(3600)).await;
                                Ok(())
                            }
                            Step::Close => return,
                            Step::Forever(b) => loop {
                                if let Err(e) = tcp.write_all(&b).await {
                                    break Err(e);
                                }
                                tokio::time::sleep(Duration::from_millis(1)).await;
                            },
                        };
                        if r.is_err() {
                            return;
                        }
                    }
                    if tcp.write_all(b"0\r\n\r\n").await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    StreamServer { addr, task }
}

/// `n` SSE events (`data: token-i`), each after `gap`, then `[DONE]`.
pub fn sse_events(n: usize, first: Duration, gap: Duration) -> Vec<Step> {
    let mut steps = vec![Step::Sleep(first)];
    for i in 0..n {
        if i > 0 && !gap.is_zero() {
            steps.push(Step::Sleep(gap));
        }
        steps.push(Step::Chunk(format!("data: token-{i}\n\n").into_bytes()));
    }
    steps.push(Step::Chunk(b"data: [DONE]\n\n".to_vec()));
    steps
}

/// An OpenAI-style completion stream whose chunks carry several tokens each, with the running
/// token count on every chunk (vLLM's `continuous_usage_stats`): `chunks` chunks of `per_chunk`
/// tokens `gap` apart after `first`, then a usage chunk and `[DONE]`.
pub fn openai_grouped_stream(chunks: usize, per_chunk: usize, first: Duration, gap: Duration) -> Vec<Step> {
    let mut steps = vec![Step::Sleep(first)];
    for i in 0..chunks {
        if i > 0 {
            steps.push(Step::Sleep(gap));
        }
        let done = (i + 1) * per_chunk;
        let c = format!(
            r#"data: {{"id":"x","choices":[{{"index":0,"text":"t{i}"}}],"usage":{{"prompt_tokens":32,"completion_tokens":{done},"total_tokens":{}}}}}"#,
            32 + done
        );
        steps.push(Step::Chunk(format!("{c}\n\n").into_bytes()));
    }
    let total = chunks * per_chunk;
    let u = format!(
        r#"data: {{"id":"x","choices":[],"usage":{{"prompt_tokens":32,"completion_tokens":{total},"total_tokens":{}}}}}"#,
        32 + total
    );
    steps.push(Step::Chunk(format!("{u}\n\n").into_bytes()));
    steps.push(Step::Chunk(b"data: [DONE]\n\n".to_vec()));
    steps
}

/// An OpenAI-style completion stream: `n` token chunks `gap` apart after `first`, then a usage
/// chunk (if `usage`), then `[DONE]`.
pub fn openai_stream(n: usize, first: Duration, gap: Duration, usage: bool, chat: bool) -> Vec<Step> {
    let mut steps = vec![Step::Sleep(first)];
    for i in 0..n {
        if i > 0 {
            steps.push(Step::Sleep(gap));
        }
        let c = if chat {
            format!(r#"data: {{"id":"x","choices":[{{"index":0,"delta":{{"content":"t{i}"}}}}]}}"#)
        } else {
            format!(r#"data: {{"id":"x","choices":[{{"index":0,"text":"t{i}"}}]}}"#)
        };
        steps.push(Step::Chunk(format!("{c}\n\n").into_bytes()));
    }
    if usage {
        let u = format!(
            r#"data: {{"id":"x","choices":[],"usage":{{"prompt_tokens":32,"completion_tokens":{n},"total_tokens":{}}}}}"#,
            32 + n
        );
        steps.push(Step::Chunk(format!("{u}\n\n").into_bytes()));
    }
    steps.push(Step::Chunk(b"data: [DONE]\n\n".to_vec()));
    steps
}
