//! Faults from the reliability probe (docs/reliability.md), each against a scripted local server:
//! a hung server, endless bodies and streams, lines and events too long to hold, JSON answers too
//! long to read, and broken OpenAI streams. None may give a wrong number or unbounded memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use loadgen::workload::{HttpWorkload, OpenAiWorkload, SseWorkload};
use loadgen::{
    CancellationToken, Endpoint, Level, LevelResult, Phases, Schedule, Window, Workload, WorkloadSpec,
    run_level,
};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use super::server;
use super::stream_server::{self, Step, openai_grouped_stream, openai_stream, read_request};

fn level(users: u32, warmup_ms: u64, window_ms: u64, timeout_ms: u64) -> Level {
    let mut l = Level::new(Schedule::closed(users));
    l.phases = Phases {
        warmup: Duration::from_millis(warmup_ms).into(),
        window: Window::Duration(Duration::from_millis(window_ms)),
        cooldown: Duration::ZERO,
    };
    l.timeout = Duration::from_millis(timeout_ms);
    l
}

async fn run<W: Workload>(w: W, l: &Level) -> LevelResult {
    run_level(&Arc::new(w), l, None, &CancellationToken::new()).await.unwrap()
}

/// One chunk of a chunked body.
fn chunk(bytes: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", bytes.len()).into_bytes();
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
    out
}

/// A raw server that answers each request with `head` and then `piece` again and again, `every`
/// apart, forever.
async fn endless(
    head: &'static [u8],
    piece: Vec<u8>,
    every: Duration,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else { return };
            let piece = piece.clone();
            conns.spawn(async move {
                let mut buf = Vec::new();
                if read_request(&mut tcp, &mut buf).await.is_none() || tcp.write_all(head).await.is_err() {
                    return;
                }
                while tcp.write_all(&piece).await.is_ok() {
                    if !every.is_zero() {
                        tokio::time::sleep(every).await;
                    }
                }
            });
        }
    });
    (addr, task)
}

#[cfg(target_os = "linux")]
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib / 1024.0
}

/// A level in which nothing completed says so: unfinished requests counted with their ages,
/// `valid: false` with a reason, an error rate of 1, and it ends at the window's end.
fn assert_hung(r: &LevelResult, users: u64) {
    assert_eq!(r.counts.ok, 0, "{r:?}");
    assert_eq!(r.counts.unfinished, users, "{:?}", r.counts);
    assert!(!r.valid);
    let why = r.invalid_reason.as_deref().unwrap();
    assert!(why.contains("unfinished"), "{why}");
    assert_eq!(r.error_rate(), 1.0);
    assert!(r.unfinished_age_ms.unwrap().min >= 400.0, "{:?}", r.unfinished_age_ms);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_server_is_never_a_clean_level() {
    let s = server::silent().await;
    let w = HttpWorkload::builder(&s.url("/")).unwrap().build().unwrap();
    // The defaults' shape: a timeout longer than the window. Warm-up requests hang through it.
    let started = Instant::now();
    let r = run(w, &level(2, 200, 500, 30_000)).await;
    assert!(started.elapsed() < Duration::from_secs(3), "the level waited {:?}", started.elapsed());
    assert_eq!(r.counts.issued, 0);
    assert_hung(&r, 2);
    let valid = loadgen::csv_header().iter().position(|h| *h == "valid").unwrap();
    assert_eq!(loadgen::csv_row(&r)[valid], "false");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_issued_in_the_window_get_their_timeout_then_count() {
    let s = server::silent().await;
    let w = HttpWorkload::builder(&s.url("/")).unwrap().build().unwrap();
    // No warm-up: the requests are the window's; each gets its full timeout (timeout errors).
    let started = Instant::now();
    let r = run(w, &level(2, 0, 300, 700)).await;
    assert!(started.elapsed() >= Duration::from_millis(700), "{:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!((r.counts.issued, r.errors["timeout"]), (2, 2), "{:?}", r.errors);
    assert!(!r.valid && r.error_rate() == 1.0, "{r:?}");
    assert!(r.phases.drain_s >= 0.3, "drain {}", r.phases.drain_s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_body_and_an_endless_sse_stream_are_counted() {
    let (addr, _t) = endless(
        b"HTTP/1.1 200 OK\r\ncontent-length: 1000000000000\r\n\r\n",
        vec![b'x'; 1024],
        Duration::from_millis(5),
    )
    .await;
    let w = HttpWorkload::builder(&format!("http://{addr}/")).unwrap().build().unwrap();
    assert_hung(&run(w, &level(2, 200, 500, 30_000)).await, 2);

    let s = stream_server::serve(|_| vec![Step::Forever(chunk(b"data: tick\n\n"))]).await;
    let w = SseWorkload::builder(&s.url("/")).unwrap().build().unwrap();
    assert_hung(&run(w, &level(2, 200, 500, 30_000)).await, 2);
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_sse_line_fails_with_bounded_memory() {
    let head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n5\r\ndata:\r\n";
    let (addr, _t) = endless(head, chunk(&[b'x'; 64 * 1024]), Duration::ZERO).await;
    let before = rss_mib();
    let w = SseWorkload::builder(&format!("http://{addr}/")).unwrap().build().unwrap();
    let r = run(w, &level(2, 0, 1500, 30_000)).await;
    let grown = rss_mib() - before;
    // Each request fails at the 1 MiB cap, as a stream error, and the next one starts.
    assert_eq!(r.counts.ok, 0);
    assert!(r.errors["stream"] >= 4, "{:?}", r.errors);
    assert!(r.error_samples.iter().any(|e| e.contains("limit")), "{:?}", r.error_samples);
    // Unbounded, this grew by gigabytes in 2 s; other tests share the process, hence the slack.
    assert!(grown < 200.0, "RSS grew by {grown:.0} MiB");

    // The OpenAI workload reads its stream the same way.
    let w = OpenAiWorkload::builder(&format!("http://{addr}/v1/completions"))
        .unwrap()
        .model("m")
        .build()
        .unwrap();
    let r = run(w, &level(1, 0, 800, 30_000)).await;
    assert!(r.errors["stream"] >= 2 && r.counts.ok == 0, "{:?}", r.errors);
    assert!(rss_mib() - before < 200.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_event_over_the_cap_is_a_stream_error() {
    let big = format!("data: {}\n\n", "y".repeat(10 << 20));
    let s = stream_server::serve(move |_| {
        vec![Step::Chunk(big.clone().into_bytes()), Step::Chunk(b"data: [DONE]\n\n".to_vec())]
    })
    .await;
    let w = SseWorkload::builder(&s.url("/")).unwrap().build().unwrap();
    let r = run(w, &level(1, 0, 500, 10_000)).await;
    assert_eq!(r.counts.ok, 0);
    assert!(r.errors["stream"] >= 1, "{:?}", r.errors);
    // A cap above the event lets it through.
    let spec: WorkloadSpec = toml::from_str("protocol = \"sse\"\nmax_event_bytes = 20000000").unwrap();
    let r = run(spec.build(&Endpoint::new(s.url(""))).unwrap(), &level(1, 0, 500, 10_000)).await;
    assert!(r.counts.ok >= 1 && r.counts.errors == 0, "{:?}", r.error_samples);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_answer_over_the_cap_is_a_body_error() {
    let body = format!("{{\"scores\": [{}0]}}", "0.5, ".repeat(400_000));
    let s = server::serve(move |_| {
        let body = body.clone();
        async move { server::ok(body) }
    })
    .await;
    for engine in ["native", "hyper"] {
        let text = "protocol = \"http\"\nexpect = { json = { field = \"scores\" } }";
        let spec: WorkloadSpec = toml::from_str(text).unwrap();
        let mut ep = Endpoint::new(s.url(""));
        ep.engine = if engine == "native" {
            loadgen::workload::Engine::Native
        } else {
            loadgen::workload::Engine::Hyper
        };
        let r = run(spec.build(&ep).unwrap(), &level(1, 0, 300, 5_000)).await;
        assert_eq!(r.counts.ok, 0, "{engine}");
        assert_eq!(r.errors["body"], r.counts.errors, "{engine}: {:?}", r.errors);
        assert!(r.error_samples.iter().any(|e| e.contains("limit")), "{engine}: {:?}", r.error_samples);
        // With a larger cap the same answer passes.
        let spec: WorkloadSpec = toml::from_str(&format!("{text}\nmax_body_bytes = 4000000")).unwrap();
        let r = run(spec.build(&ep).unwrap(), &level(1, 0, 300, 5_000)).await;
        assert!(r.counts.ok > 0 && r.counts.errors == 0, "{engine}: {:?}", r.error_samples);
    }
}

fn openai_level(requests: u64) -> Level {
    let mut l = Level::new(Schedule::closed(1));
    l.phases = Phases {
        warmup: Duration::ZERO.into(),
        window: Window::Requests(requests),
        cooldown: Duration::ZERO,
    };
    l.timeout = Duration::from_secs(5);
    l
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_openai_streams_are_errors_of_their_class_and_the_run_goes_on() {
    // Every other answer is broken in one way; the good ones in between still count.
    type Breaker = fn(Vec<Step>) -> Vec<Step>;
    let cases: [(&str, Breaker); 5] = [
        ("malformed", |mut s| {
            s.insert(1, Step::Chunk(b"data: {\"choices\": [\n\n".to_vec()));
            s
        }),
        ("stops mid-stream", |mut s| {
            s.truncate(3);
            s.push(Step::Raw(b"20\r\ndata: {\"id\":\"x\",\"ch".to_vec()));
            s.push(Step::Close);
            s
        }),
        ("ends without [DONE]", |mut s| {
            s.pop();
            s
        }),
        ("more tokens than max_tokens", |mut s| {
            s.insert(
                1,
                Step::Chunk(
                    b"data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"text\":\"t\"}],\"usage\":{\"prompt_tokens\":32,\"completion_tokens\":4000000000}}\n\n"
                        .to_vec(),
                ),
            );
            s
        }),
        ("fewer tokens than asked", |s| {
            let mut s: Vec<Step> = s.into_iter().filter(|st| !matches!(st, Step::Chunk(b) if b.starts_with(b"data: {\"id\":\"x\",\"choices\":[],"))).collect();
            let done = s.pop().unwrap();
            s.push(Step::Chunk(
                b"data: {\"id\":\"x\",\"choices\":[],\"usage\":{\"prompt_tokens\":32,\"completion_tokens\":3}}\n\n".to_vec(),
            ));
            s.push(done);
            s
        }),
    ];
    for (what, breaker) in cases {
        let n = Arc::new(AtomicU64::new(0));
        let s = stream_server::serve(move |_| {
            let good = openai_stream(4, Duration::ZERO, Duration::ZERO, true, false);
            if n.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) { good } else { breaker(good) }
        })
        .await;
        let w = OpenAiWorkload::builder(&s.url("/v1/completions"))
            .unwrap()
            .model("m")
            .output_len(4)
            .build()
            .unwrap();
        let r = run(w, &openai_level(6)).await;
        assert_eq!((r.counts.ok, r.errors["stream"]), (3, 3), "{what}: {:?} {:?}", r.errors, r.error_samples);
        assert_eq!(r.tokens.unwrap().output, 12, "{what}: only the good streams' tokens count");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grouped_tokens_give_per_token_itl_and_chunk_gaps_apart() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::<serde_json::Value>::new()));
    let sink = seen.clone();
    // 4 chunks of 5 tokens, 50 ms apart: 20 tokens.
    let s = stream_server::serve(move |body: &[u8]| {
        sink.lock().unwrap().push(serde_json::from_slice(body).unwrap());
        openai_grouped_stream(4, 5, Duration::from_millis(10), Duration::from_millis(50))
    })
    .await;
    let w = OpenAiWorkload::builder(&s.url("/v1/completions"))
        .unwrap()
        .model("m")
        .output_len(20)
        .build()
        .unwrap();
    let mut l = openai_level(4);
    l.keep_requests = true;
    let r = run(w, &l).await;
    assert_eq!(r.counts.ok, 4, "{:?}", r.error_samples);
    assert_eq!(seen.lock().unwrap()[0]["stream_options"]["continuous_usage_stats"], true);
    let itl = r.itl_ms.unwrap();
    let gap = r.event_gap_ms.unwrap();
    // Per token: 15 latencies of ~10 ms and the first chunk's 4 zeros per request.
    assert_eq!(itl.count, 4 * 19);
    assert!((9.0..=13.0).contains(&itl.p50), "ITL p50 {}", itl.p50);
    assert!(itl.min <= 0.01, "the first chunk's extra tokens arrive with the first: {}", itl.min);
    assert!((48.0..=60.0).contains(&gap.p50), "chunk gap p50 {}", gap.p50);
    // TPOT spreads the 150 ms after the first token over 19 tokens.
    let tpot = r.tpot_ms.unwrap();
    assert!((7.0..=9.5).contains(&tpot.p50), "TPOT p50 {}", tpot.p50);
    // vLLM's per-request list holds the per-token latencies.
    let d = loadgen::vllm_result_detailed(&r, "m", "openai");
    assert_eq!(d["itls"][0].as_array().unwrap().len(), 19);
    assert!((d["mean_itl_ms"].as_f64().unwrap() - itl.mean).abs() < 1e-9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_count_window_waits_for_warm_up_requests_longer_than_it() {
    // The first connection answers in 20 ms, the others in 400 ms.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _server = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        for i in 0.. {
            let Ok((mut tcp, _)) = listener.accept().await else { return };
            let delay = Duration::from_millis(if i == 0 { 20 } else { 400 });
            conns.spawn(async move {
                let mut buf = Vec::new();
                while read_request(&mut tcp, &mut buf).await.is_some() {
                    tokio::time::sleep(delay).await;
                    if tcp.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let w = HttpWorkload::builder(&format!("http://{addr}/")).unwrap().build().unwrap();
    // The fast user takes the window's one request while the slow one is still in its warm-up
    // request: that request is slower than the window, not unfinished.
    let mut l = level(2, 100, 1, 5_000);
    l.phases.window = Window::Requests(1);
    let r = run(w, &l).await;
    assert_eq!((r.counts.ok, r.counts.errors, r.counts.unfinished), (1, 0, 0), "{:?}", r.counts);
    assert!(r.valid, "{:?}", r.invalid_reason);
    assert_eq!(r.error_rate(), 0.0);
}
