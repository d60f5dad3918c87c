//! A protocol loadgen does not ship, measured with loadgen's load loop: JSON-RPC 2.0 calls over
//! HTTP/1.1, with a hand-written client on a tokio `TcpStream`, driven through a sweep of two
//! levels against a JSON-RPC server this example starts itself.
//!
//! ```sh
//! cargo run --example jsonrpc -p loadgen
//! ```
//!
//! A [`Workload`] says how to open a connection and how to send one request over it (and what a
//! correct answer is); the runner decides when requests are sent and measures them.

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use loadgen::{
    CancellationToken, ErrorClass, Failure, Level, Phases, Probe, Schedule, Sweep, Warmup, Window, Workload,
    run_sweep,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Calls `add(seq, 1)` on a JSON-RPC server and checks that the answer is `seq + 1`.
#[derive(Debug)]
struct JsonRpcAdd {
    addr: SocketAddr,
}

/// One user's keep-alive connection and its read buffer.
#[derive(Debug)]
struct RpcConn {
    tcp: TcpStream,
    buf: Vec<u8>,
}

impl RpcConn {
    /// Reads one HTTP/1.1 message (an answer, or on the server a request): its head and its
    /// `Content-Length` body. Errors say what went wrong.
    async fn read_message(&mut self) -> Result<(String, Vec<u8>), String> {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .ok_or("no content-length")?;
                if len > 1 << 20 {
                    return Err("a body over 1 MiB".into());
                }
                while self.buf.len() < end + 4 + len {
                    self.fill().await?;
                }
                let body = self.buf[end + 4..end + 4 + len].to_vec();
                self.buf.drain(..end + 4 + len);
                return Ok((head, body));
            }
            if self.buf.len() > 64 * 1024 {
                return Err("a head over 64 KiB".into());
            }
            self.fill().await?;
        }
    }

    async fn fill(&mut self) -> Result<(), String> {
        let mut chunk = [0u8; 8192];
        match self.tcp.read(&mut chunk).await {
            Ok(0) => Err("the connection closed".into()),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(e) => Err(format!("reading: {e}")),
        }
    }
}

impl Workload for JsonRpcAdd {
    type Conn = RpcConn;

    fn protocol(&self) -> &'static str {
        "jsonrpc"
    }

    fn target(&self) -> String {
        format!("http://{}/rpc", self.addr)
    }

    async fn connect(&self) -> Result<RpcConn, Failure> {
        let tcp = TcpStream::connect(self.addr)
            .await
            .map_err(|e| Failure::broken(ErrorClass::Connect, format!("connecting: {e}")))?;
        tcp.set_nodelay(true).map_err(|e| Failure::broken(ErrorClass::Connect, e.to_string()))?;
        Ok(RpcConn { tcp, buf: Vec::new() })
    }

    fn is_closed(&self, _conn: &mut RpcConn) -> bool {
        // A close shows when the next request fails; that failure drops the connection.
        false
    }

    async fn call(&self, conn: &mut RpcConn, seq: u64, probe: &mut Probe) -> Result<(), Failure> {
        let body = json!({"jsonrpc": "2.0", "method": "add", "params": [seq, 1], "id": seq}).to_string();
        let request = format!(
            "POST /rpc HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        conn.tcp
            .write_all(request.as_bytes())
            .await
            .map_err(|e| Failure::broken(ErrorClass::Protocol, format!("sending: {e}")))?;
        let (head, answer) =
            conn.read_message().await.map_err(|why| Failure::broken(ErrorClass::Protocol, why))?;
        probe.first_byte();
        let status: u16 = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        if status != 200 {
            return Err(Failure::status(status, format!("HTTP {status}")));
        }
        let v: Value = serde_json::from_slice(&answer)
            .map_err(|e| Failure::new(ErrorClass::Body, format!("not JSON: {e}")))?;
        if let Some(err) = v.get("error") {
            return Err(Failure::new(ErrorClass::Status, format!("JSON-RPC error {err}")));
        }
        match (v["id"].as_u64(), v["result"].as_u64()) {
            (Some(id), Some(sum)) if id == seq && sum == seq + 1 => Ok(()),
            _ => Err(Failure::new(ErrorClass::Body, format!("wrong answer to add({seq}, 1): {v}"))),
        }
    }
}

/// A JSON-RPC server with one method, `add`, on 127.0.0.1.
async fn serve() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let mut conn = RpcConn { tcp, buf: Vec::new() };
                // Requests have the same framing as answers.
                while let Ok((_, body)) = conn.read_message().await {
                    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let answer = match (req["method"].as_str(), req["params"][0].as_u64(), req["params"][1].as_u64()) {
                        (Some("add"), Some(a), Some(b)) => json!({"jsonrpc": "2.0", "result": a + b, "id": req["id"]}),
                        _ => json!({"jsonrpc": "2.0", "error": {"code": -32601, "message": "no such method"}, "id": req["id"]}),
                    }
                    .to_string();
                    let out = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
                        answer.len()
                    );
                    if conn.tcp.write_all(out.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::main]
async fn main() -> loadgen::Result<()> {
    let addr = serve().await;
    let workload = Arc::new(JsonRpcAdd { addr });
    let phases = Phases {
        warmup: Warmup::Fixed(Duration::from_millis(200)),
        window: Window::Duration(Duration::from_secs(1)),
        cooldown: Duration::ZERO,
    };
    let levels =
        [1, 4].into_iter().map(|users| Level { phases, ..Level::new(Schedule::closed(users)) }).collect();
    let sweep = Sweep { levels, output: None };
    let results = run_sweep(&workload, &sweep, None, &CancellationToken::new(), &mut |r, _| {
        let p99 = r.p99_ms().map_or("-".to_owned(), |p| format!("{p:.3} ms"));
        println!(
            "{} ({} users): {:.0} calls/s, p99 {p99}, {} errors of {}",
            r.label,
            r.concurrency(),
            r.throughput_rps,
            r.counts.errors,
            r.counts.issued
        );
    })
    .await?;
    assert!(results.iter().all(|r| r.valid && r.counts.errors == 0), "every call must succeed");
    Ok(())
}
