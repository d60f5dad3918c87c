//! The SSE workload against streaming servers that behave and misbehave.

use std::sync::Arc;
use std::time::Duration;

use loadgen::workload::SseWorkload;
use loadgen::{CancellationToken, Level, LevelResult, Phases, Schedule, Window, run_level};

use super::stream_server::{Step, serve, sse_events};

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

async fn run(w: SseWorkload, l: &Level) -> LevelResult {
    run_level(&Arc::new(w), l, None, &CancellationToken::new()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_are_timed_event_by_event() {
    let s = serve(|_| sse_events(50, Duration::from_millis(20), Duration::from_millis(2))).await;
    let w = SseWorkload::builder(&s.url("/streaming")).unwrap().events(50).build().unwrap();
    let r = run(w, &level(2, 1500)).await;
    assert_eq!(r.counts.errors, 0, "{:?}", r.error_samples);
    assert!(r.counts.ok >= 4, "ok {}", r.counts.ok);
    assert_eq!(r.counts.events, 50 * r.counts.issued);
    let first = r.first_event_ms.unwrap();
    assert!((19.0..=26.0).contains(&first.p50), "first event p50 {}", first.p50);
    let gap = r.event_gap_ms.unwrap();
    assert!((1.5..=4.5).contains(&gap.p50), "gap p50 {}", gap.p50);
    // End to end = first event + 49 gaps (the server's sleeps round up to the timer's tick).
    let e2e = r.latency_ms.unwrap();
    let expect = first.p50 + 49.0 * gap.mean;
    assert!((e2e.p50 - expect).abs() < 0.15 * expect, "e2e p50 {} vs {expect}", e2e.p50);
    // Events per second: all events received in the window / window.
    let eps = r.events_per_s.unwrap();
    assert!(eps > 40.0 * r.throughput_rps && eps < 60.0 * r.throughput_rps + 200.0, "eps {eps}");
    assert!(r.ttfb_ms.unwrap().p50 <= first.p50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_ends_early_is_a_stream_error() {
    let s = serve(|_| {
        let mut steps = sse_events(10, Duration::ZERO, Duration::ZERO);
        steps.pop(); // no [DONE]
        steps
    })
    .await;
    let w = SseWorkload::builder(&s.url("/")).unwrap().build().unwrap();
    let r = run(w, &level(1, 300)).await;
    assert_eq!(r.counts.ok, 0);
    assert_eq!(r.errors["stream"], r.counts.errors);
    assert!(r.error_samples[0].contains("without [DONE]"), "{:?}", r.error_samples);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_event_count_is_a_stream_error() {
    let s = serve(|_| sse_events(49, Duration::ZERO, Duration::ZERO)).await;
    let w = SseWorkload::builder(&s.url("/")).unwrap().events(50).build().unwrap();
    let r = run(w, &level(1, 300)).await;
    assert_eq!(r.counts.ok, 0);
    assert!(r.errors["stream"] > 0);
    assert!(r.error_samples[0].contains("49 events, expected 50"), "{:?}", r.error_samples);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_stream_times_out() {
    let s = serve(|_| {
        let mut steps = sse_events(3, Duration::ZERO, Duration::ZERO);
        steps.insert(2, Step::Stall);
        steps
    })
    .await;
    let w = SseWorkload::builder(&s.url("/")).unwrap().build().unwrap();
    let mut l = level(1, 300);
    l.timeout = Duration::from_millis(300);
    let r = run(w, &l).await;
    assert_eq!(r.counts.ok, 0);
    assert!(r.errors["timeout"] >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_framing_is_counted_not_fatal() {
    let s =
        serve(|_| vec![Step::Chunk(b"data: a\n\n".to_vec()), Step::Raw(b"zz-not-a-chunk-size\r\n".to_vec())])
            .await;
    let w = SseWorkload::builder(&s.url("/")).unwrap().build().unwrap();
    let r = run(w, &level(1, 300)).await;
    assert_eq!(r.counts.ok, 0);
    assert!(r.counts.errors > 0);
    assert!(r.errors["stream"] + r.errors["protocol"] == r.counts.errors, "{:?}", r.errors);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_split_across_reads_and_crlf_are_counted() {
    let s = serve(|_| {
        vec![
            Step::Chunk(b": hello\r\ndata: one\r".to_vec()),
            Step::Sleep(Duration::from_millis(5)),
            Step::Chunk(b"\n\r\ndata: t".to_vec()),
            Step::Chunk(b"wo\ndata: more\n\ndata: [DO".to_vec()),
            Step::Chunk(b"NE]".to_vec()),
        ]
    })
    .await;
    let w = SseWorkload::builder(&s.url("/")).unwrap().events(2).build().unwrap();
    let r = run(w, &level(1, 300)).await;
    assert_eq!(r.counts.errors, 0, "{:?}", r.error_samples);
    assert!(r.counts.ok > 0);
}
