//! Small HTTP/1.1 servers for the tests: echo, fixed delay, failing, closing, slow, dying.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

pub type Resp = Response<Full<Bytes>>;

/// A running server; dropping it stops the server and closes every connection.
pub struct Server {
    pub addr: SocketAddr,
    pub requests: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops the server now: the listener and all connections close.
    pub fn kill(&self) {
        self.task.abort();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a server whose every request is answered by `handler`.
pub async fn serve<F, Fut>(handler: F) -> Server
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Resp> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicU64::new(0));
    let count = requests.clone();
    let task = tokio::spawn(async move {
        // Connections live in this set, so aborting the server task closes them all.
        let mut conns = JoinSet::new();
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            tcp.set_nodelay(true).unwrap();
            let h = handler.clone();
            let count = count.clone();
            conns.spawn(async move {
                let svc = service_fn(move |req| {
                    count.fetch_add(1, Ordering::Relaxed);
                    let h = h.clone();
                    async move { Ok::<_, Infallible>(h(req).await) }
                });
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), svc).await;
            });
        }
    });
    Server { addr, requests, task }
}

pub fn ok(body: impl Into<Bytes>) -> Resp {
    Response::new(Full::new(body.into()))
}

pub async fn echo() -> Server {
    serve(|req: Request<Incoming>| async move {
        let body = req.into_body().collect().await.unwrap().to_bytes();
        ok(body)
    })
    .await
}

/// Answers after `delay`, slept on a blocking thread so the delay is accurate to well under 1 ms.
pub async fn delay(delay: Duration) -> Server {
    serve(move |_req| async move {
        tokio::task::spawn_blocking(move || std::thread::sleep(delay)).await.unwrap();
        ok("")
    })
    .await
}

pub async fn status(code: u16) -> Server {
    serve(move |_req| async move {
        let mut r = ok("nope");
        *r.status_mut() = hyper::StatusCode::from_u16(code).unwrap();
        r
    })
    .await
}

/// Answers every request with `Connection: close`.
pub async fn closing() -> Server {
    serve(|_req| async move {
        let mut r = ok("bye");
        r.headers_mut().insert(hyper::header::CONNECTION, "close".parse().unwrap());
        r
    })
    .await
}

/// Echoes with the last byte changed.
pub async fn bad_echo() -> Server {
    serve(|req: Request<Incoming>| async move {
        let mut body = req.into_body().collect().await.unwrap().to_bytes().to_vec();
        if let Some(b) = body.last_mut() {
            *b = b'!';
        }
        ok(body)
    })
    .await
}

/// Records the value of one header of each request.
pub async fn header_recorder(name: &'static str, seen: Arc<std::sync::Mutex<Vec<String>>>) -> Server {
    serve(move |req: Request<Incoming>| {
        let seen = seen.clone();
        async move {
            if let Some(v) = req.headers().get(name) {
                seen.lock().unwrap().push(v.to_str().unwrap().to_owned());
            }
            ok("")
        }
    })
    .await
}

/// A port on 127.0.0.1 where nothing listens.
pub fn dead_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// A raw HTTP/1.1 server that answers one request per connection (without `Connection: close`)
/// and then closes the connection after `linger`, like a server with a short keep-alive timeout.
pub async fn one_shot(linger: Duration) -> Server {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicU64::new(0));
    let count = requests.clone();
    let task = tokio::spawn(async move {
        let mut conns = JoinSet::new();
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else { return };
            let count = count.clone();
            conns.spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                count.fetch_add(1, Ordering::Relaxed);
                let _ = tcp.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await;
                tokio::time::sleep(linger).await;
            });
        }
    });
    Server { addr, requests, task }
}

/// A raw TCP server that accepts connections and never answers (it reads and discards what it
/// is sent), like a hung server.
pub async fn silent() -> Server {
    use tokio::io::AsyncReadExt;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicU64::new(0));
    let count = requests.clone();
    let task = tokio::spawn(async move {
        let mut conns = JoinSet::new();
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else { return };
            count.fetch_add(1, Ordering::Relaxed);
            conns.spawn(async move {
                let mut sink = [0u8; 4096];
                while matches!(tcp.read(&mut sink).await, Ok(n) if n > 0) {}
            });
        }
    });
    Server { addr, requests, task }
}
