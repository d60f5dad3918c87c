//! loadgen's own HTTP/1.1 connection (the unary workload's default engine) against scripted raw
//! TCP servers: every framing RFC 9112 allows a server, answers split into single bytes, interim
//! 1xx answers, closes, and broken answers, which must be errors and never successes. The same
//! workloads also run through hyper's engine, as a cross-check.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use loadgen::workload::{Engine, Expect, HttpWorkload, Probe, UnaryConn, Workload};
use loadgen::{CancellationToken, ErrorClass, Level, Phases, Schedule, Window, run_level};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use super::stream_server::read_request;

/// How the scripted server answers one request body.
type Script = fn(&[u8]) -> Answer;

struct Answer {
    /// The bytes to send, each piece written (and flushed) on its own.
    pieces: Vec<Vec<u8>>,
    /// Close the connection after the answer.
    close: bool,
}

fn whole(bytes: impl Into<Vec<u8>>) -> Answer {
    Answer { pieces: vec![bytes.into()], close: false }
}

fn bytewise(bytes: &[u8]) -> Answer {
    Answer { pieces: bytes.iter().map(|b| vec![*b]).collect(), close: false }
}

struct Scripted {
    addr: std::net::SocketAddr,
    /// Raw request heads received.
    heads: Arc<Mutex<Vec<String>>>,
    /// Connections accepted.
    conns: Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Scripted {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn conns(&self) -> usize {
        self.conns.load(std::sync::atomic::Ordering::SeqCst)
    }
}

async fn scripted(script: Script) -> Scripted {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let conns = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (seen, accepted) = (heads.clone(), conns.clone());
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else { return };
            accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tcp.set_nodelay(true).unwrap();
            let seen = seen.clone();
            conns.spawn(async move {
                let mut buf = Vec::new();
                while let Some((head, body)) = read_request(&mut tcp, &mut buf).await {
                    seen.lock().unwrap().push(head);
                    let answer = script(&body);
                    for piece in answer.pieces {
                        if tcp.write_all(&piece).await.is_err() {
                            return;
                        }
                        tcp.flush().await.unwrap();
                        tokio::task::yield_now().await;
                    }
                    if answer.close {
                        return;
                    }
                }
            });
        }
    });
    Scripted { addr, heads, conns, task }
}

fn echo_workload(url: &str, engine: Engine, size: usize) -> HttpWorkload {
    HttpWorkload::builder(url)
        .unwrap()
        .method(http::Method::POST)
        .body_size(size)
        .expect(Expect::echo())
        .engine(engine)
        .header("x-api-key", "not-shown")
        .unwrap()
        .build()
        .unwrap()
}

/// Sends `n` requests over one connection, reconnecting when it closes; returns each outcome.
async fn calls(w: &HttpWorkload, n: u64) -> Vec<Result<(), loadgen::workload::Failure>> {
    let mut conn: Option<UnaryConn> = None;
    let mut out = Vec::new();
    for seq in 0..n {
        if conn.as_mut().is_some_and(|c| w.is_closed(c)) {
            conn = None;
        }
        let c = match &mut conn {
            Some(c) => c,
            None => conn.insert(w.connect().await.unwrap()),
        };
        let r = tokio::time::timeout(Duration::from_secs(5), w.call(c, seq, &mut Probe::detached()))
            .await
            .expect("an answer or an error, not a hang");
        if r.as_ref().is_err_and(|f| f.conn_broken) {
            conn = None;
        }
        out.push(r);
    }
    out
}

fn chunked(body: &[u8]) -> Vec<u8> {
    // Uneven chunks, an extension, a trailer.
    let mut out = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let mut rest = body;
    let mut size = 1;
    while !rest.is_empty() {
        let take = size.min(rest.len());
        out.extend_from_slice(format!("{take:x};ext=1\r\n").as_bytes());
        out.extend_from_slice(&rest[..take]);
        out.extend_from_slice(b"\r\n");
        rest = &rest[take..];
        size = size * 3 + 1;
    }
    out.extend_from_slice(b"0\r\nx-trailer: yes\r\n\r\n");
    out
}

fn with_length(status: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_echo_split_into_single_bytes_is_read_and_checked() {
    let s = scripted(|body| bytewise(&chunked(body))).await;
    for engine in [Engine::Native, Engine::Hyper] {
        let w = echo_workload(&s.url("/echo?x=1"), engine, 300);
        for r in calls(&w, 5).await {
            assert!(r.is_ok(), "{engine:?}: {r:?}");
        }
    }
    assert_eq!(s.conns(), 2, "one keep-alive connection per engine");
    // Both engines put the same request on the wire (header order and case aside).
    let heads = s.heads.lock().unwrap().clone();
    assert_eq!(heads.len(), 10);
    let lines = |h: &str| {
        let mut l: Vec<String> = h.lines().map(str::to_ascii_lowercase).collect();
        l.sort();
        l
    };
    assert_eq!(lines(&heads[0]), lines(&heads[5]), "native vs hyper");
    for h in &heads {
        let lower = h.to_ascii_lowercase();
        assert!(h.starts_with("POST /echo?x=1 HTTP/1.1\r\n"), "{h}");
        assert!(lower.contains(&format!("host: {}", s.addr)), "{h}");
        assert!(lower.contains("content-length: 300"), "{h}");
        assert!(lower.contains("x-api-key: not-shown"), "{h}");
        assert!(lower.contains("content-type: application/octet-stream"), "{h}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_carries_its_number_and_a_stale_echo_fails() {
    // Answers with the first body it ever saw: right once, wrong after.
    static FIRST: Mutex<Option<Vec<u8>>> = Mutex::new(None);
    let s = scripted(|body| {
        let first = FIRST.lock().unwrap().get_or_insert_with(|| body.to_vec()).clone();
        whole(with_length("200 OK", &first))
    })
    .await;
    let w = echo_workload(&s.url("/"), Engine::Native, 64);
    let rs = calls(&w, 3).await;
    assert!(rs[0].is_ok(), "{:?}", rs[0]);
    for r in &rs[1..] {
        let f = r.as_ref().expect_err("a stale echo is never a success");
        assert_eq!(f.class, ErrorClass::Body);
        assert!(!f.conn_broken, "a wrong body leaves a keep-alive connection usable");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interim_answers_no_length_and_http_1_0_are_understood() {
    // 100 Continue, then the echo; then a body delimited by the close.
    let s = scripted(|body| {
        let mut out = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n".to_vec();
        out.extend_from_slice(&with_length("200 OK", body));
        whole(out)
    })
    .await;
    let w = echo_workload(&s.url("/"), Engine::Native, 100);
    assert!(calls(&w, 3).await.iter().all(Result::is_ok));

    let s = scripted(|body| {
        let mut out = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
        out.extend_from_slice(body);
        Answer { pieces: vec![out], close: true }
    })
    .await;
    let w = echo_workload(&s.url("/"), Engine::Native, 100);
    assert!(calls(&w, 3).await.iter().all(Result::is_ok));
    assert_eq!(s.conns(), 3, "a body delimited by the close: one connection per request");

    // HTTP/1.0 closes after each answer unless it says keep-alive (the server here keeps the
    // connection open either way: the client must decide).
    let s = scripted(|body| {
        let mut out = format!("HTTP/1.0 200 OK\r\ncontent-length: {}\r\n\r\n", body.len()).into_bytes();
        out.extend_from_slice(body);
        whole(out)
    })
    .await;
    let w = echo_workload(&s.url("/"), Engine::Native, 100);
    assert!(calls(&w, 3).await.iter().all(Result::is_ok));
    assert_eq!(s.conns(), 3, "HTTP/1.0 without keep-alive: not reused");
    let s = scripted(|body| {
        let mut out =
            format!("HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: {}\r\n\r\n", body.len())
                .into_bytes();
        out.extend_from_slice(body);
        whole(out)
    })
    .await;
    let w = echo_workload(&s.url("/"), Engine::Native, 100);
    assert!(calls(&w, 3).await.iter().all(Result::is_ok));
    assert_eq!(s.conns(), 1, "HTTP/1.0 with keep-alive: reused");

    // 204 and 304 have no body whatever their Content-Length says; the connection is reused.
    let s = scripted(|_| whole("HTTP/1.1 204 No Content\r\ncontent-length: 50\r\n\r\n")).await;
    let w = HttpWorkload::builder(&s.url("/")).unwrap().build().unwrap();
    assert!(calls(&w, 3).await.iter().all(Result::is_ok));
    assert_eq!(s.conns(), 1);
    let s = scripted(|_| whole("HTTP/1.1 304 Not Modified\r\ncontent-length: 50\r\n\r\n")).await;
    let w = HttpWorkload::builder(&s.url("/")).unwrap().expect(Expect::status(304)).build().unwrap();
    assert!(calls(&w, 3).await.iter().all(Result::is_ok));
    assert_eq!(s.conns(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_out_of_step_or_asked_to_close_are_not_reused() {
    // More body than Content-Length: the answer counts, the connection is dropped (its next
    // bytes would be read as the next answer).
    let s = scripted(|_| whole("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokEXTRA")).await;
    let w = HttpWorkload::builder(&s.url("/")).unwrap().build().unwrap();
    assert!(calls(&w, 3).await.iter().all(Result::is_ok));
    assert_eq!(s.conns(), 3);
    // Chunked with a Content-Length too: read as chunked, then not reused.
    let s = scripted(|_| {
        whole(
            "HTTP/1.1 200 OK\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        )
    })
    .await;
    let w = HttpWorkload::builder(&s.url("/")).unwrap().build().unwrap();
    assert!(calls(&w, 2).await.iter().all(Result::is_ok));
    assert_eq!(s.conns(), 2);
    // The request says Connection: close: one request per connection, even if the server
    // keeps it open.
    let s = scripted(|_| whole(with_length("200 OK", b"ok"))).await;
    let w =
        HttpWorkload::builder(&s.url("/")).unwrap().header("Connection", "close").unwrap().build().unwrap();
    assert!(calls(&w, 3).await.iter().all(Result::is_ok));
    assert_eq!(s.conns(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extra_headers_replace_defaults_as_with_hyper() {
    let s = scripted(|body| whole(with_length("200 OK", body))).await;
    for engine in [Engine::Native, Engine::Hyper] {
        let w = HttpWorkload::builder(&s.url("/"))
            .unwrap()
            .method(http::Method::POST)
            .body_size(10)
            .header("Content-Type", "application/json")
            .unwrap()
            .header("x-a", "1")
            .unwrap()
            .header("x-a", "2")
            .unwrap()
            .engine(engine)
            .build()
            .unwrap();
        assert!(calls(&w, 1).await.iter().all(Result::is_ok));
    }
    let heads = s.heads.lock().unwrap().clone();
    for h in &heads {
        let lower = h.to_ascii_lowercase();
        assert_eq!(lower.matches("content-type:").count(), 1, "{h}");
        assert!(lower.contains("content-type: application/json"), "{h}");
        assert_eq!(lower.matches("x-a:").count(), 1, "{h}");
        assert!(lower.contains("x-a: 2"), "{h}");
    }
}

/// A hyper server that streams each request body back as it reads it.
async fn streaming_echo() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    // Small server-side socket buffers, so that what the connection can hold in flight is
    // bounded by the client's buffers (at most 4 MiB to send and 32 MiB to receive here).
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(64 * 1024).unwrap();
    socket.set_send_buffer_size(64 * 1024).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(16).unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            conns.spawn(async move {
                let svc = service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(req.into_body()))
                });
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), svc).await;
            });
        }
    });
    (addr, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_echo_streamed_back_while_it_is_sent_does_not_stall() {
    // 48 MiB: more than all socket buffers together, so a client that only reads after writing
    // everything would wait forever on a server that writes while it reads.
    let (addr, task) = streaming_echo().await;
    for engine in [Engine::Native, Engine::Hyper] {
        let w = echo_workload(&format!("http://{addr}/"), engine, 48 << 20);
        for r in calls(&w, 1).await {
            assert!(r.is_ok(), "{engine:?}: {r:?}");
        }
    }
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_with_a_private_ca() {
    let data = super::tls::dir();
    let config = super::tls::server_config(b"http/1.1");
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let acceptor = acceptor.clone();
            conns.spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let svc =
                    hyper::service::service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(req.into_body()))
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    for engine in [Engine::Native, Engine::Hyper] {
        let w = HttpWorkload::builder(&format!("https://localhost:{port}/"))
            .unwrap()
            .method(http::Method::POST)
            .body_size(200 * 1024)
            .expect(Expect::echo())
            .engine(engine)
            .ca_cert(&data.join("ca.pem"))
            .unwrap()
            .build()
            .unwrap();
        for r in calls(&w, 3).await {
            assert!(r.is_ok(), "{engine:?}: {r:?}");
        }
        // Reached by IP address, checked against a name: the certificate has "localhost" but
        // not "other.example".
        let by_ip = |name: &str| {
            HttpWorkload::builder(&format!("https://127.0.0.1:{port}/"))
                .unwrap()
                .engine(engine)
                .ca_cert(&data.join("ca.pem"))
                .unwrap()
                .tls_server_name(name)
                .build()
                .unwrap()
        };
        assert!(calls(&by_ip("localhost"), 1).await.iter().all(Result::is_ok), "{engine:?}");
        let err = by_ip("other.example").connect().await.expect_err("a name the certificate lacks");
        assert_eq!(err.class, ErrorClass::Connect, "{err:?}");
        // Without the CA the server is not trusted.
        let untrusted = HttpWorkload::builder(&format!("https://localhost:{port}/"))
            .unwrap()
            .engine(engine)
            .build()
            .unwrap();
        let err = untrusted.connect().await.expect_err("an unknown CA is refused");
        assert_eq!(err.class, ErrorClass::Connect, "{err:?}");
    }
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_answers_are_protocol_errors_never_successes() {
    let cases: [(&str, Script); 6] = [
        ("bare LF in a chunk header", |_| Answer {
            pieces: vec![b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\nok\r\n0\r\n\r\n".to_vec()],
            close: false,
        }),
        ("short body then close", |_| Answer {
            pieces: vec![with_length("200 OK", b"abc")[..40].to_vec()],
            close: true,
        }),
        ("garbage", |_| Answer { pieces: vec![b"SMTP ready\r\n\r\n".to_vec()], close: true }),
        ("bad chunk size", |_| Answer {
            pieces: vec![b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n".to_vec()],
            close: true,
        }),
        ("chunk longer than its size", |_| Answer {
            pieces: vec![
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n".to_vec(),
            ],
            close: false,
        }),
        ("closed before any answer", |_| Answer { pieces: vec![], close: true }),
    ];
    for (what, script) in cases {
        let s = scripted(script).await;
        let w = HttpWorkload::builder(&s.url("/")).unwrap().build().unwrap();
        for r in calls(&w, 2).await {
            let f = r.expect_err(what);
            assert_eq!(f.class, ErrorClass::Protocol, "{what}: {f:?}");
            assert!(f.conn_broken, "{what}: the connection must be dropped");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_and_head_requests() {
    let s = scripted(|_| whole("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\nbusy")).await;
    let w = HttpWorkload::builder(&s.url("/")).unwrap().build().unwrap();
    for r in calls(&w, 2).await {
        let f = r.expect_err("503");
        assert_eq!((f.class, f.status), (ErrorClass::Status, Some(503)));
        assert!(f.detail.contains("503 Service Unavailable"), "{}", f.detail);
    }
    // A HEAD answer announces a length but has no body.
    let s = scripted(|_| whole("HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n")).await;
    let w = HttpWorkload::builder(&s.url("/")).unwrap().method(http::Method::HEAD).build().unwrap();
    assert!(calls(&w, 3).await.iter().all(Result::is_ok));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_engines_measure_the_same_server_alike() {
    let s = super::server::echo().await;
    let mut rates = Vec::new();
    for engine in [Engine::Native, Engine::Hyper] {
        let w = echo_workload(&s.url("/echo"), engine, 10 * 1024);
        let mut l = Level::new(Schedule::closed(4));
        l.phases = Phases {
            warmup: Duration::from_millis(100).into(),
            window: Window::Duration(Duration::from_millis(700)),
            cooldown: Duration::ZERO,
        };
        let r = run_level(&Arc::new(w), &l, None, &CancellationToken::new()).await.unwrap();
        assert_eq!(r.counts.errors, 0, "{engine:?}: {:?}", r.error_samples);
        assert_eq!(r.counts.reconnects, 0);
        assert!(r.counts.ok > 100, "{engine:?}: {}", r.counts.ok);
        rates.push(r.throughput_rps);
    }
    // Same server, same load: throughput within a factor of three (the client is not the limit).
    let ratio = rates[0] / rates[1];
    assert!((0.33..3.0).contains(&ratio), "native {} vs hyper {} req/s", rates[0], rates[1]);
}

#[test]
fn headers_that_loadgen_sets_cannot_be_overridden() {
    for name in ["content-length", "Transfer-Encoding"] {
        let err = HttpWorkload::builder("http://127.0.0.1:1/").unwrap().header(name, "1").unwrap_err();
        assert!(err.to_string().contains("set by loadgen"), "{err}");
    }
}
