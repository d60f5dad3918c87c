//! The gRPC workload against an in-process tonic server of the same service.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use loadgen::workload::grpc::pb;
use loadgen::workload::grpc::pb::serve_bench_server::{ServeBench, ServeBenchServer};
use loadgen::workload::{GrpcCall, GrpcWorkload};
use loadgen::{CancellationToken, Level, LevelResult, Phases, Schedule, Window, run_level};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

#[derive(Clone, Default)]
struct Svc {
    /// Fail every call with this code.
    fail: Option<tonic::Code>,
    /// Corrupt echoes.
    corrupt: bool,
    /// Stop streams after this many messages.
    cut_after: Option<u32>,
    /// Calls without `application: echo_app` metadata are rejected.
    require_app: bool,
    calls: Arc<AtomicU64>,
}

type ChunkStream = Pin<Box<dyn Stream<Item = Result<pb::Chunk, Status>> + Send>>;

#[tonic::async_trait]
impl ServeBench for Svc {
    async fn echo(&self, req: Request<pb::EchoRequest>) -> Result<Response<pb::EchoReply>, Status> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if self.require_app && req.metadata().get("application").is_none_or(|v| v != "echo_app") {
            return Err(Status::not_found("no application"));
        }
        if let Some(code) = self.fail {
            return Err(Status::new(code, "configured to fail"));
        }
        let mut payload = req.into_inner().payload.to_vec();
        if self.corrupt && !payload.is_empty() {
            payload[0] ^= 1;
        }
        Ok(Response::new(pb::EchoReply { payload: payload.into() }))
    }

    type StreamStream = ChunkStream;

    async fn stream(&self, req: Request<pb::StreamRequest>) -> Result<Response<ChunkStream>, Status> {
        let r = req.into_inner();
        let n = if r.chunks == 0 { 50 } else { r.chunks };
        let n = self.cut_after.map_or(n, |c| c.min(n));
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(r.ttft_ms.into())).await;
            for i in 0..n {
                if i > 0 && r.token_delay_ms > 0 {
                    tokio::time::sleep(Duration::from_millis(r.token_delay_ms.into())).await;
                }
                if tx.send(Ok(pb::Chunk { data: "tok".into(), index: i })).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }
}

async fn serve(svc: Svc) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let task = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(ServeBenchServer::new(svc))
            .serve_with_incoming(incoming)
            .await
            .unwrap();
    });
    (addr, task)
}

fn level(users: u32, window_ms: u64) -> Level {
    let mut l = Level::new(Schedule::closed(users));
    l.phases = Phases {
        warmup: Duration::from_millis(100).into(),
        window: Window::Duration(Duration::from_millis(window_ms)),
        cooldown: Duration::ZERO,
    };
    l.timeout = Duration::from_secs(2);
    l
}

async fn run(w: GrpcWorkload, l: &Level) -> LevelResult {
    run_level(&Arc::new(w), l, None, &CancellationToken::new()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unary_echo_with_metadata() {
    let svc = Svc { require_app: true, ..Svc::default() };
    let (addr, _t) = serve(svc.clone()).await;
    let w = GrpcWorkload::builder(&format!("http://{addr}"))
        .metadata("application", "echo_app")
        .unwrap()
        .call(GrpcCall::Echo { payload_size: 10 * 1024 })
        .build()
        .unwrap();
    let r = run(w, &level(4, 800)).await;
    assert_eq!(r.counts.errors, 0, "{:?}", r.error_samples);
    assert!(r.counts.ok > 50, "ok {}", r.counts.ok);
    assert_eq!(r.protocol, "grpc");
    assert_eq!(r.headers, vec!["application".to_owned()]);
    assert!(!serde_json::to_string(&r).unwrap().contains("echo_app"), "metadata value leaked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_codes_are_counted_by_code() {
    let (addr, _t) = serve(Svc { fail: Some(tonic::Code::ResourceExhausted), ..Svc::default() }).await;
    let w = GrpcWorkload::builder(&format!("http://{addr}")).build().unwrap();
    let r = run(w, &level(2, 300)).await;
    assert_eq!(r.counts.ok, 0);
    assert_eq!(r.errors["status"], r.counts.errors);
    assert_eq!(r.status_codes["8"], r.counts.errors, "{:?}", r.status_codes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_echo_is_a_body_error() {
    let (addr, _t) = serve(Svc { corrupt: true, ..Svc::default() }).await;
    let w = GrpcWorkload::builder(&format!("http://{addr}")).build().unwrap();
    let r = run(w, &level(1, 300)).await;
    assert_eq!(r.counts.ok, 0);
    assert!(r.errors["body"] > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_streaming_is_timed_per_message() {
    let (addr, _t) = serve(Svc::default()).await;
    let w = GrpcWorkload::builder(&format!("http://{addr}"))
        .call(GrpcCall::Stream { chunks: 20, ttft_ms: 15, token_delay_ms: 3 })
        .build()
        .unwrap();
    let r = run(w, &level(2, 1200)).await;
    assert_eq!(r.counts.errors, 0, "{:?}", r.error_samples);
    assert_eq!(r.counts.events, 20 * r.counts.issued);
    let first = r.first_event_ms.unwrap().p50;
    assert!((14.0..=25.0).contains(&first), "first message p50 {first}");
    let gap = r.event_gap_ms.unwrap().p50;
    assert!((2.5..=5.0).contains(&gap), "gap p50 {gap}");
    assert!(r.events_per_s.unwrap() > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_stream_is_a_stream_error() {
    let (addr, _t) = serve(Svc { cut_after: Some(5), ..Svc::default() }).await;
    let w = GrpcWorkload::builder(&format!("http://{addr}"))
        .call(GrpcCall::Stream { chunks: 10, ttft_ms: 0, token_delay_ms: 0 })
        .build()
        .unwrap();
    let r = run(w, &level(1, 300)).await;
    assert_eq!(r.counts.ok, 0);
    assert_eq!(r.errors["stream"], r.counts.errors);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_connections_and_a_dead_server() {
    let (addr, t) = serve(Svc::default()).await;
    let w = Arc::new(GrpcWorkload::builder(&format!("http://{addr}")).connections(2).build().unwrap());
    let l = level(8, 1000);
    let kill = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        t.abort();
    };
    let stop = CancellationToken::new();
    let (r, ()) = tokio::join!(run_level(&w, &l, None, &stop), kill);
    let r = r.unwrap();
    assert!(r.counts.ok > 10);
    assert_eq!(r.counts.ok + r.counts.errors, r.counts.issued);
}

#[test]
fn bad_grpc_targets_are_rejected() {
    assert!(GrpcWorkload::builder("127.0.0.1:9000").build().is_err());
    assert!(GrpcWorkload::builder("http://127.0.0.1:9000/path").build().is_err());
    assert!(GrpcWorkload::builder("http://127.0.0.1:9000").connections(0).build().is_err());
    assert!(GrpcWorkload::builder("http://127.0.0.1:9000").metadata("bad key", "v").is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_with_a_private_ca() {
    use tokio_stream::StreamExt;
    let data = super::tls::dir();
    let config = super::tls::server_config(b"h2");
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // TLS is done here, so that the server needs no TLS feature of tonic's.
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener).then(move |tcp| {
        let acceptor = acceptor.clone();
        async move { acceptor.accept(tcp?).await.map(TlsIo) }
    });
    let task = tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(ServeBenchServer::new(Svc::default()))
            .serve_with_incoming(incoming)
            .await;
    });
    let url = format!("https://localhost:{port}");
    let w = GrpcWorkload::builder(&url).ca_cert(&data.join("ca.pem")).unwrap().build().unwrap();
    let r = run(w, &level(2, 500)).await;
    assert_eq!(r.counts.errors, 0, "{:?}", r.error_samples);
    assert!(r.counts.ok > 5, "ok {}", r.counts.ok);
    assert!(r.target.starts_with("grpcs://localhost:"), "{}", r.target);
    // The name checked can differ from the host reached.
    let w = GrpcWorkload::builder(&url)
        .ca_cert(&data.join("ca.pem"))
        .unwrap()
        .tls_server_name("other.example")
        .build()
        .unwrap();
    let r = run(w, &level(1, 300)).await;
    assert_eq!(r.counts.ok, 0);
    assert!(r.errors["connect"] > 0, "{:?}", r.errors);
    // Without the CA: connect errors, never successes.
    let w = GrpcWorkload::builder(&url).build().unwrap();
    let r = run(w, &level(1, 300)).await;
    assert_eq!(r.counts.ok, 0);
    assert!(r.errors["connect"] > 0, "{:?}", r.errors);
    task.abort();
}

/// A server-side TLS stream tonic can serve on (it wants to know the peer: nothing here).
struct TlsIo(tokio_rustls::server::TlsStream<tokio::net::TcpStream>);

impl tonic::transport::server::Connected for TlsIo {
    type ConnectInfo = ();
    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl tokio::io::AsyncRead for TlsIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for TlsIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
