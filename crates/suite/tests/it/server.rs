//! An in-process HTTP/1.1 server standing in for a deployment, on a runtime of its own (so that a
//! suite's own runtime can be started and stopped around it): `POST /echo` echoes the body, `GET
//! /health` answers 200, `GET /stream?chunks=N` sends N SSE events and `[DONE]`. After `die()` it
//! answers everything with 500, as a deployment whose replicas are gone. A scripted [`Speed`]
//! makes it take a known, drifting time per request; a [`start_capped`] one serves `/echo` a few
//! at a time, so that its throughput saturates and its latency climbs past it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

/// A running server; it lives as long as the value.
pub struct Server {
    pub addr: SocketAddr,
    dead: Arc<AtomicBool>,
    _rt: tokio::runtime::Runtime,
}

/// How long the server takes per request: `base` x `factor` x e^(`drift` x seconds since
/// `since`), so two servers made with the same `since` drift alike (a machine slowing down at a
/// steady rate: the log of its speed falls linearly, which an ABBA order cancels).
#[derive(Clone, Copy)]
pub struct Speed {
    pub base: Duration,
    pub factor: f64,
    pub drift: f64,
    pub since: Instant,
}

impl Speed {
    fn delay(&self) -> Duration {
        self.base.mul_f64(self.factor * (self.drift * self.since.elapsed().as_secs_f64()).exp())
    }
}

impl Server {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// From now on every request gets a 500.
    pub fn die(&self) {
        self.dead.store(true, Ordering::SeqCst);
    }
}

async fn answer(
    req: Request<hyper::body::Incoming>,
    dead: bool,
    speed: Option<Speed>,
    cap: Option<(Arc<tokio::sync::Semaphore>, Duration)>,
) -> Response<Full<Bytes>> {
    if let Some(s) = speed {
        tokio::time::sleep(s.delay()).await;
    }
    if let Some((slots, each)) = cap.filter(|_| req.uri().path() == "/echo") {
        let _slot = slots.acquire().await;
        tokio::time::sleep(each).await;
    }
    if dead {
        let mut r = Response::new(Full::new(Bytes::from_static(b"replica gone")));
        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        return r;
    }
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    match path.as_str() {
        "/echo" => {
            let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            Response::new(Full::new(body))
        }
        "/stream" => {
            let n: usize = query.strip_prefix("chunks=").and_then(|n| n.parse().ok()).unwrap_or(3);
            let mut text = String::new();
            for i in 0..n {
                text.push_str(&format!("data: {{\"i\": {i}}}\n\n"));
            }
            text.push_str("data: [DONE]\n\n");
            let mut r = Response::new(Full::new(Bytes::from(text)));
            r.headers_mut()
                .insert("content-type", "text/event-stream".parse().unwrap_or_else(|_| unreachable!()));
            r
        }
        _ => Response::new(Full::new(Bytes::from_static(b"ok"))),
    }
}

/// Starts the server on 127.0.0.1 with a port of its own, answering at once.
pub fn start() -> Server {
    start_with(None)
}

/// Starts a server that takes `speed`'s time per request.
pub fn start_with(speed: Option<Speed>) -> Server {
    serve(speed, None)
}

/// Starts a server that answers `/echo` `capacity` at a time, each taking `each`: its throughput
/// stops rising at `capacity / each` and its latency then grows with the users.
pub fn start_capped(capacity: usize, each: Duration) -> Server {
    serve(None, Some((Arc::new(tokio::sync::Semaphore::new(capacity)), each)))
}

fn serve(speed: Option<Speed>, cap: Option<(Arc<tokio::sync::Semaphore>, Duration)>) -> Server {
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
    let addr = listener.local_addr().expect("addr");
    let dead = Arc::new(AtomicBool::new(false));
    let is_dead = dead.clone();
    rt.spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let _ = tcp.set_nodelay(true);
            let is_dead = is_dead.clone();
            let cap = cap.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let dead = is_dead.load(Ordering::SeqCst);
                    let cap = cap.clone();
                    async move { Ok::<_, Infallible>(answer(req, dead, speed, cap).await) }
                });
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), svc).await;
            });
        }
    });
    Server { addr, dead, _rt: rt }
}
