//! Gains you can trust on a noisy machine (issue 14): each level judges its own stability, an
//! adaptive window ends once its answer is known, an automatic warm-up ends once the server has
//! settled, and the phase changes are announced with the instants that bound the window. Each
//! against a scripted server whose speed is known.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use loadgen::workload::HttpWorkload;
use loadgen::{
    Arrival, CancellationToken, Level, LevelResult, Phase, PhaseEnd, Phases, Progress, ProgressFn, Schedule,
    Warmup, Window, run_level,
};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use rand_distr::{Distribution, Uniform};

use super::server::{self, Server, ok};

/// Sleeps `d` on a blocking thread (accurate to well under a millisecond).
async fn pause(d: Duration) {
    tokio::task::spawn_blocking(move || std::thread::sleep(d)).await.unwrap();
}

/// A server whose latency is `latency(time since it started)`.
async fn scripted(latency: impl Fn(Duration) -> Duration + Send + Sync + 'static) -> Server {
    let born = Instant::now();
    let latency = Arc::new(latency);
    server::serve(move |_req| {
        let d = latency(born.elapsed());
        async move {
            pause(d).await;
            ok("")
        }
    })
    .await
}

fn level(schedule: Schedule, warmup: Warmup, window: Window) -> Level {
    let mut l = Level::new(schedule);
    l.phases = Phases { warmup, window, cooldown: Duration::ZERO };
    l
}

async fn run(s: &Server, l: &Level, progress: Option<&ProgressFn>) -> LevelResult {
    let w = Arc::new(HttpWorkload::builder(&s.url("/")).unwrap().build().unwrap());
    run_level(&w, l, progress, &CancellationToken::new()).await.unwrap()
}

/// Phase announcements heard: the phase, its start and when the callback heard of it.
type Heard = Arc<Mutex<Vec<(Phase, Instant, Instant)>>>;

/// A progress callback that keeps every phase announcement.
fn announcements() -> (ProgressFn, Heard) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = seen.clone();
    let f: ProgressFn = Arc::new(move |p: &Progress| {
        if let Some(s) = p.phase_start {
            keep.lock().unwrap().push((p.phase, s.at, Instant::now()));
        }
    });
    (f, seen)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_slows_down_is_flagged_unstable_with_its_trend() {
    // Latency rises linearly from 4 ms by 3 ms a second: over a 6 s window throughput falls by
    // about four fifths and latency grows fivefold. (At 1.5 ms a second a busy CI machine, whose
    // sleeps overshoot by several ms, saw the median rise only 63%.)
    let s = scripted(|t| Duration::from_micros(4000 + (3000.0 * t.as_secs_f64()) as u64)).await;
    let r =
        run(&s, &level(Schedule::closed(2), Warmup::Fixed(Duration::ZERO), Window::Duration(secs(6))), None)
            .await;
    let st = r.stability.clone().unwrap();
    assert!(st.judged && !st.stable, "{st:?}");
    assert_eq!((st.seconds, st.points), (6, 6));
    assert!(st.throughput_trend.is_some_and(|t| t < -0.3), "{st:?}");
    assert!(st.p50_trend.is_some_and(|t| t > 0.5), "{st:?}");
    // (The p99 of a second rests on its slowest two or three requests: on a busy machine it
    // spikes, so it is reported here but its verdict is left to the unit tests.)
    assert!(st.p99_trend.is_some() && st.p99_cv.is_some(), "{st:?}");
    assert!(st.reasons.iter().any(|r| r.starts_with("throughput fell")), "{:?}", st.reasons);
    assert!(st.reasons.iter().any(|r| r.starts_with("median latency rose")), "{st:?} {:?}", r.series);
    // The level itself measured fine: it is valid, only not one steady state.
    assert!(r.valid && r.counts.errors == 0);
    // Written and read back, the verdict is there for the report.
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["stability"]["stable"], false);
    let row = loadgen::csv_row(&r);
    let col = |name: &str| &row[loadgen::csv_header().iter().position(|h| *h == name).unwrap()];
    assert_eq!(col("stable"), "false");
    assert!(col("throughput_trend").parse::<f64>().unwrap() < -0.3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steady_server_ends_an_adaptive_window_once_converged() {
    // Open loop at an even 150 requests a second against a 2 ms server: every second is alike.
    let s = server::delay(Duration::from_millis(2)).await;
    let max = secs(30);
    let l = level(
        Schedule::open(150.0, Arrival::Constant, 64),
        Warmup::Fixed(Duration::from_millis(300)),
        // The p99 of a few thousand requests is known to about 10% only: on a busy machine the
        // halves' tails may differ more, so this test allows 50% (the mechanism is the same).
        Window::Adaptive {
            min: secs(1),
            max,
            rel_half_width: Window::DEFAULT_REL_HALF_WIDTH,
            p99_tolerance: 0.5,
        },
    );
    let (progress, seen) = announcements();
    let r = run(&s, &l, Some(&progress)).await;
    assert_eq!(r.phases.window_end, Some(PhaseEnd::Converged), "{:?}", r.stability);
    // Convergence is judged on at least 5 whole seconds, so the window lasts at least 6 s; a
    // steady server converges at once, far from the 30 s allowed.
    let w = r.phases.window_s;
    assert!((6.0..=12.0).contains(&w), "window {w} s");
    assert_eq!(w.fract(), 0.0, "an adaptive window ends on a whole second: {w}");
    assert_eq!(r.series.len() as f64, w);
    assert!((r.throughput_rps / 150.0 - 1.0).abs() < 0.05, "{} req/s", r.throughput_rps);
    let st = r.stability.unwrap();
    assert!(st.judged && st.stable && st.throughput_half_width.is_some_and(|h| h <= 0.05), "{st:?}");
    // The announced window is the measured one.
    let seen = seen.lock().unwrap().clone();
    let at = |p: Phase| seen.iter().find(|s| s.0 == p).unwrap().1;
    assert_eq!((at(Phase::Drain) - at(Phase::Measure)).as_secs_f64(), w);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_noisy_server_runs_an_adaptive_window_to_its_max() {
    // Random latency (1 to 40 ms), and every third second a burst in which each request takes
    // 150 ms more: per-second throughput swings far beyond any 5% interval.
    let born = Instant::now();
    let rng = Arc::new(Mutex::new(SmallRng::seed_from_u64(14)));
    let jitter = Uniform::new(1_000u64, 40_000).unwrap();
    let s = server::serve(move |_req| {
        let burst = born.elapsed().as_secs() % 3 == 1;
        let us = jitter.sample(&mut *rng.lock().unwrap()) + if burst { 150_000 } else { 0 };
        async move {
            pause(Duration::from_micros(us)).await;
            ok("")
        }
    })
    .await;
    let l = level(Schedule::closed(4), Warmup::Fixed(Duration::ZERO), Window::adaptive(secs(1), secs(8)));
    let r = run(&s, &l, None).await;
    assert_eq!(r.phases.window_end, Some(PhaseEnd::Max), "{:?}", r.stability);
    assert_eq!(r.phases.window_s, 8.0);
    assert!(r.valid && r.throughput_rps > 0.0);
    let st = r.stability.unwrap();
    assert!(st.throughput_half_width.is_some_and(|h| h > 0.05), "{st:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_automatic_warm_up_ends_after_the_slow_start() {
    // 50 ms a request for the first 2 s (a cold server), then 10 ms.
    let s =
        scripted(|t| if t < secs(2) { Duration::from_millis(50) } else { Duration::from_millis(10) }).await;
    let max = secs(12);
    let l = level(
        Schedule::closed(2),
        Warmup::Auto { min: Duration::ZERO, max },
        Window::Duration(Duration::from_millis(1500)),
    );
    let r = run(&s, &l, None).await;
    assert_eq!(r.phases.warmup_end, Some(PhaseEnd::Converged));
    // Three fast seconds after the slow two are the earliest evidence: the window starts at 6 s
    // or a little later, on a whole second, before the longest warm-up.
    let w = r.phases.warmup_s;
    assert!((6.0..12.0).contains(&w) && w.fract() == 0.0, "warm-up {w} s");
    assert_eq!(r.phases.window_s, 1.5);
    // No slow request is in the window.
    let lat = r.latency_ms.unwrap();
    assert!(lat.max < 50.0, "{lat:?}");
    assert!(r.counts.issued > 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_automatic_warm_up_that_never_settles_ends_at_its_max() {
    // Latency keeps rising: throughput keeps falling.
    let s = scripted(|t| Duration::from_micros(2000 + (3000.0 * t.as_secs_f64()) as u64)).await;
    let l = level(
        Schedule::closed(2),
        Warmup::Auto { min: Duration::ZERO, max: secs(5) },
        Window::Duration(Duration::from_millis(500)),
    );
    let r = run(&s, &l, None).await;
    assert_eq!(r.phases.warmup_end, Some(PhaseEnd::Max));
    assert_eq!(r.phases.warmup_s, 5.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phase_changes_are_announced_at_once_with_the_window_s_own_instants() {
    // The server notes when each request arrives, on the same clock.
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let log = arrivals.clone();
    let s = server::serve(move |_req| {
        log.lock().unwrap().push(Instant::now());
        async move {
            pause(Duration::from_millis(4)).await;
            ok("")
        }
    })
    .await;
    let users = 2;
    let mut l = level(
        Schedule::closed(users),
        Warmup::Fixed(Duration::from_millis(300)),
        Window::Duration(Duration::from_millis(1000)),
    );
    l.phases.cooldown = Duration::from_millis(100);
    l.keep_requests = true;
    let (progress, seen) = announcements();
    let before = Instant::now();
    let r = run(&s, &l, Some(&progress)).await;
    let seen = seen.lock().unwrap().clone();
    let phases: Vec<Phase> = seen.iter().map(|s| s.0).collect();
    assert_eq!(phases, [Phase::Warmup, Phase::Measure, Phase::Drain, Phase::Cooldown]);
    for (phase, at, heard) in &seen {
        assert!(heard >= at, "{phase:?} heard before it began");
    }
    let at = |p: Phase| seen.iter().find(|s| s.0 == p).unwrap().1;
    let (start, end) = (at(Phase::Measure), at(Phase::Drain));
    assert!(at(Phase::Warmup) >= before);
    assert_eq!(start - at(Phase::Warmup), Duration::from_millis(300));
    assert_eq!(end - start, Duration::from_millis(1000));
    // Every request of the window was meant to start inside [start, end).
    let reqs = r.requests.as_ref().unwrap();
    assert_eq!(reqs.len() as u64, r.counts.issued);
    assert!(reqs.iter().all(|q| (0.0..1.0).contains(&q.start_s)), "a request outside the window");
    // And the server saw the window's requests between the two instants: each user may cross
    // each boundary with one request (sent before, arrived after), no more.
    let arrived = arrivals.lock().unwrap().iter().filter(|t| **t >= start && **t < end).count() as i64;
    let issued = r.counts.issued as i64;
    assert!(issued > 100);
    assert!((arrived - issued).abs() <= i64::from(users), "server saw {arrived}, loadgen issued {issued}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_count_window_announces_when_it_closed() {
    let requests = Arc::new(AtomicU64::new(0));
    let count = requests.clone();
    let s = server::serve(move |_req| {
        count.fetch_add(1, Ordering::Relaxed);
        async move {
            pause(Duration::from_millis(2)).await;
            ok("")
        }
    })
    .await;
    let mut l = level(Schedule::closed(2), Warmup::Fixed(Duration::from_millis(100)), Window::Requests(200));
    l.keep_requests = true;
    let (progress, seen) = announcements();
    let r = run(&s, &l, Some(&progress)).await;
    let seen = seen.lock().unwrap().clone();
    let at = |p: Phase| seen.iter().find(|s| s.0 == p).unwrap().1;
    assert_eq!(r.counts.issued, 200);
    // The drain began when the 201st request was refused: after every request of the window was
    // meant to start.
    let last = r.requests.unwrap().iter().map(|q| q.start_s).fold(0.0, f64::max);
    assert!((at(Phase::Drain) - at(Phase::Measure)).as_secs_f64() >= last);
    // Fewer than 5 whole seconds: too short to judge, which is not unstable.
    let st = r.stability.unwrap();
    assert!(!st.judged && st.stable && st.reasons[0].starts_with("too short to judge"), "{st:?}");
}
