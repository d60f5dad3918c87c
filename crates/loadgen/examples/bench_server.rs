//! Fast local servers for the client benchmarks (`scripts/bench-streams.sh`):
//!
//! - `bench_server sse PORT EVENTS`: every request gets a chunked `text/event-stream` of EVENTS
//!   one-byte `data:` events then `[DONE]`, written in large pre-built chunks, so the client's
//!   receive-parse-record path is what is measured.
//! - `bench_server grpc PORT`: the `servebench.v1.ServeBench` service (tonic), echo and stream.
//! - `bench_server echo PORT`: HTTP/1.1 keep-alive echo, each request's body sent back (raw
//!   tokio, one current thread), for the unary echo path (`--echo`).

#![allow(clippy::print_stderr, clippy::unwrap_used)]

use std::pin::Pin;
use std::time::Duration;

use loadgen::workload::grpc::pb;
use loadgen::workload::grpc::pb::serve_bench_server::{ServeBench, ServeBenchServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

async fn sse(port: u16, events: usize) {
    // The whole response body, chunked in 64 KiB pieces.
    let mut body = Vec::new();
    for _ in 0..events {
        body.extend_from_slice(b"data: x\n\n");
    }
    body.extend_from_slice(b"data: [DONE]\n\n");
    let mut response =
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    for chunk in body.chunks(64 * 1024) {
        response.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        response.extend_from_slice(chunk);
        response.extend_from_slice(b"\r\n");
    }
    response.extend_from_slice(b"0\r\n\r\n");
    let response: &'static [u8] = Box::leak(response.into_boxed_slice());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    loop {
        let (mut tcp, _) = listener.accept().await.unwrap();
        tcp.set_nodelay(true).unwrap();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 8192];
            let mut pending = Vec::new();
            loop {
                let n = match tcp.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                pending.extend_from_slice(&buf[..n]);
                while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                    pending.drain(..end + 4);
                    if tcp.write_all(response).await.is_err() {
                        return;
                    }
                }
            }
        });
    }
}

async fn echo(port: u16) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    loop {
        let (mut tcp, _) = listener.accept().await.unwrap();
        tcp.set_nodelay(true).unwrap();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 16384];
            let mut pending = Vec::new();
            let mut out = Vec::new();
            loop {
                let n = match tcp.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                pending.extend_from_slice(&buf[..n]);
                out.clear();
                while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&pending[..end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if pending.len() < end + 4 + len {
                        break;
                    }
                    out.extend_from_slice(
                        format!("HTTP/1.1 200 OK\r\ncontent-length: {len}\r\n\r\n").as_bytes(),
                    );
                    out.extend_from_slice(&pending[end + 4..end + 4 + len]);
                    pending.drain(..end + 4 + len);
                }
                if !out.is_empty() && tcp.write_all(&out).await.is_err() {
                    return;
                }
            }
        });
    }
}

struct Svc;

type ChunkStream = Pin<Box<dyn Stream<Item = Result<pb::Chunk, Status>> + Send>>;

#[tonic::async_trait]
impl ServeBench for Svc {
    async fn echo(&self, req: Request<pb::EchoRequest>) -> Result<Response<pb::EchoReply>, Status> {
        Ok(Response::new(pb::EchoReply { payload: req.into_inner().payload }))
    }

    type StreamStream = ChunkStream;

    async fn stream(&self, req: Request<pb::StreamRequest>) -> Result<Response<ChunkStream>, Status> {
        let n = req.into_inner().chunks.max(1);
        let chunks = (0..n).map(|i| Ok(pb::Chunk { data: "x".into(), index: i }));
        Ok(Response::new(Box::pin(tokio_stream::iter(chunks))))
    }
}

async fn grpc(port: u16) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .add_service(ServeBenchServer::new(Svc))
        .serve_with_incoming(incoming)
        .await
        .unwrap();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: bench_server sse PORT EVENTS | bench_server grpc PORT | bench_server echo PORT";
    let port: u16 = args.get(2).and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("{usage}"));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    match args.get(1).map(String::as_str) {
        Some("sse") => {
            let events = args.get(3).and_then(|e| e.parse().ok()).unwrap_or(1000);
            rt.block_on(sse(port, events));
        }
        Some("grpc") => rt.block_on(grpc(port)),
        Some("echo") => rt.block_on(echo(port)),
        _ => {
            eprintln!("{usage}");
            std::thread::sleep(Duration::ZERO);
            std::process::exit(2);
        }
    }
}
