//! The one load loop. It decides when each request is sent (closed loop: each virtual user right
//! after its previous answer; open loop: at scheduled arrival times), which requests are measured
//! (issued inside the window), and turns what the shards recorded into a [`LevelResult`].
//!
//! Time is taken in one place: a request's latency runs from its *intended* start (the user's
//! send time, or the scheduled arrival) to the end of its answer.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::sleep_until;

use crate::health::{LagProbe, judge, process_cpu_time, usable_cores};
use crate::level::Arrivals;
use crate::record::{LocalRecorder, Outcome, Sample, Shards, stats};
use crate::result::{Counts, LevelResult, PhasesInfo, SCHEMA, ScheduleInfo, SeriesPoint, Slo, TokenCounts};
use crate::workload::{Failure, Probe, Workload};
use crate::{CancellationToken, Error, ErrorClass, Level, Result, Schedule, Window};

/// A send more than this late (open loop) counts as late.
const LATE: Duration = Duration::from_millis(1);
/// Longest gap between two open-loop arrivals (longer than any level may last).
const MAX_GAP: Duration = Duration::from_secs(400 * 24 * 3600);
/// Pause after a failed connect before the same user tries again.
const CONNECT_BACKOFF: Duration = Duration::from_millis(10);

/// Where a level is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Load is applied but not recorded.
    Warmup,
    /// The measured window.
    Measure,
    /// No new requests; waiting for those in flight.
    Drain,
    /// Idle before the next level.
    Cooldown,
}

impl Phase {
    /// A short name for progress lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Warmup => "warm-up",
            Phase::Measure => "measure",
            Phase::Drain => "drain",
            Phase::Cooldown => "cool-down",
        }
    }
}

/// A progress report, sent about once a second.
#[derive(Debug, Clone)]
pub struct Progress {
    /// The level's label.
    pub level: String,
    /// The phase.
    pub phase: Phase,
    /// Time since the level started.
    pub elapsed: Duration,
    /// Planned time left in the level, when it is known (a request-count window and the drain
    /// have none).
    pub remaining: Option<Duration>,
    /// The last complete second of the window: throughput, p99, errors.
    pub last_second: Option<SeriesPoint>,
}

/// The callback progress goes to.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

enum Admit {
    Warmup,
    Window,
    Halt,
}

/// State shared by the tasks of one level.
struct Shared {
    /// When the level started (request start times are kept relative to it).
    t0: Instant,
    window_start: Instant,
    window_end: Option<Instant>,
    limit: Option<u64>,
    tickets: AtomicU64,
    closed_at: OnceLock<Instant>,
    closed: Notify,
    halt: AtomicBool,
    timeout: Duration,
    slo: Option<Slo>,
}

/// Whether a successful request met every objective that is set. A missing measurement (no first
/// token, no per-token time) fails an objective on it.
fn meets(slo: &Slo, latency_us: u64, first_event_us: Option<u64>, tpot_us: Option<u64>) -> bool {
    let within =
        |limit: Option<f64>, v: Option<u64>| limit.is_none_or(|l| v.is_some_and(|v| v as f64 / 1000.0 <= l));
    within(slo.e2el_ms, Some(latency_us))
        && within(slo.ttft_ms, first_event_us)
        && within(slo.tpot_ms, tpot_us)
}

impl Shared {
    /// Whether a request meant to start at `at` may be issued, and whether it is measured.
    fn admit(&self, at: Instant) -> Admit {
        if self.halt.load(Ordering::Relaxed) {
            return Admit::Halt;
        }
        if at < self.window_start {
            return Admit::Warmup;
        }
        match (self.window_end, self.limit) {
            (Some(end), _) if at >= end => Admit::Halt,
            (_, Some(limit)) => {
                if self.tickets.fetch_add(1, Ordering::Relaxed) < limit {
                    Admit::Window
                } else {
                    if self.closed_at.set(at).is_ok() {
                        self.closed.notify_one();
                    }
                    Admit::Halt
                }
            }
            _ => Admit::Window,
        }
    }

    /// After this instant a queued open-loop arrival is no longer sent.
    fn drain_deadline(&self) -> Option<Instant> {
        self.window_end.or_else(|| self.closed_at.get().copied()).map(|end| end + self.timeout)
    }
}

fn offset_us(t: Instant, base: Instant) -> i64 {
    if t >= base {
        i64::try_from((t - base).as_micros()).unwrap_or(i64::MAX)
    } else {
        -i64::try_from((base - t).as_micros()).unwrap_or(i64::MAX)
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// What a user's request in flight is, for the runner to see: the request's number and whether it
/// was issued in the window (0 when none is in flight), and its intended start. The runner can
/// take a request over when the level stops waiting for it ([`Slot::abandon`]); the user then
/// records nothing for it. Its own cache line: every user writes its slot on each request.
#[repr(align(64))]
#[derive(Debug, Default)]
struct Slot {
    token: AtomicU64,
    start_us: AtomicU64,
}

const IDLE: u64 = 0;
const ABANDONED: u64 = u64::MAX;

impl Slot {
    /// A request starts; returns its token.
    fn begin(&self, seq: u64, in_window: bool, start_us: u64) -> u64 {
        let token = ((seq + 1) << 1) | u64::from(in_window);
        self.start_us.store(start_us, Ordering::Relaxed);
        self.token.store(token, Ordering::Release);
        token
    }

    /// The request ended; false when the runner took it over first (it must not be recorded).
    fn end(&self, token: u64) -> bool {
        self.token.compare_exchange(token, IDLE, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// Takes over the request in flight, if there is one and `pick(in_window)` says so: returns
    /// whether it was issued in the window and its intended start.
    fn abandon(&self, pick: impl Fn(bool) -> bool) -> Option<(bool, u64)> {
        let token = self.token.load(Ordering::Acquire);
        if token == IDLE || token == ABANDONED || !pick(token & 1 == 1) {
            return None;
        }
        let start_us = self.start_us.load(Ordering::Relaxed);
        self.token
            .compare_exchange(token, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| (token & 1 == 1, start_us))
    }
}

/// How a user's request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    Ok,
    Failed(ErrorClass),
    /// The runner took it over (the level stopped waiting for it): the user stops.
    Abandoned,
}

/// One virtual user's connection and probe.
struct User<W: Workload> {
    workload: Arc<W>,
    slot: Arc<Slot>,
    conn: Option<W::Conn>,
    connected_once: bool,
    probe: Probe,
    rec: LocalRecorder,
    /// The next request's number: users number their requests `i, i + n, i + 2n, ...`, so that
    /// numbers are unique across the level without shared state.
    seq: u64,
    stride: u64,
}

impl<W: Workload> User<W> {
    async fn send(&mut self) -> Result<(), Failure> {
        if self.conn.as_mut().is_some_and(|c| self.workload.is_closed(c)) {
            self.conn = None;
        }
        let conn = match &mut self.conn {
            Some(c) => c,
            None => {
                let c = self.workload.connect().await?;
                if self.connected_once {
                    self.rec.reconnected();
                }
                self.connected_once = true;
                self.conn.insert(c)
            }
        };
        let r = self.workload.call(conn, self.seq, &mut self.probe).await;
        self.seq += self.stride;
        if let Err(f) = &r
            && f.conn_broken
        {
            self.conn = None;
        }
        r
    }

    /// Sends one request meant to start at `intended` and records it; `scheduled` says whether
    /// `intended` is an open-loop arrival time (whose send may be late).
    async fn request(
        &mut self,
        shared: &Shared,
        intended: Instant,
        in_window: bool,
        scheduled: bool,
    ) -> Sent {
        let token =
            self.slot.begin(self.seq, in_window, micros(intended.saturating_duration_since(shared.t0)));
        let started = Instant::now();
        self.probe.reset();
        let r = match tokio::time::timeout(shared.timeout, self.send()).await {
            Ok(r) => r,
            Err(_) => {
                self.conn = None;
                Err(Failure::broken(
                    ErrorClass::Timeout,
                    format!("no complete answer within {:?}", shared.timeout),
                ))
            }
        };
        if !self.slot.end(token) {
            return Sent::Abandoned;
        }
        let end = Instant::now();
        let delay = started.saturating_duration_since(intended);
        let open = scheduled;
        let (outcome, detail) = match &r {
            Ok(()) => (Outcome::Ok, None),
            Err(f) => (Outcome::Err { class: f.class, status: f.status }, Some(f.detail.as_str())),
        };
        let latency_us = micros(end - intended);
        let first_event_us = self.probe.first_event.map(|t| micros(t.saturating_duration_since(intended)));
        let tokens = self.probe.tokens.filter(|_| r.is_ok());
        // vLLM's definition: the time after the first token, spread over the tokens after it.
        let tpot_us = match (tokens, first_event_us) {
            (Some(t), Some(first)) if t.output > 1 => {
                Some(latency_us.saturating_sub(first) / u64::from(t.output - 1))
            }
            _ => None,
        };
        let good = r.is_ok() && shared.slo.is_none_or(|slo| meets(&slo, latency_us, first_event_us, tpot_us));
        let sample = Sample {
            in_window,
            completed_us: offset_us(end, shared.window_start),
            latency_us,
            ttfb_us: self.probe.first_byte.map(|t| micros(t.saturating_duration_since(intended))),
            first_event_us,
            tpot_us,
            tokens,
            good,
            send_delay_us: open.then(|| micros(delay)),
            late: open && delay > LATE,
            events: self.probe.events,
            events_in_window: self.probe.events_in_window,
            outcome,
        };
        self.rec.record(sample, &self.probe.gaps_us, &self.probe.itl_us, detail, end);
        match r {
            Ok(()) => Sent::Ok,
            Err(f) => Sent::Failed(f.class),
        }
    }

    fn record_unsent(&mut self, shared: &Shared, now: Instant) {
        record_unsent(&mut self.rec, shared.window_start, now);
    }
}

/// Records an arrival of the window that was never sent.
fn record_unsent(rec: &mut LocalRecorder, window_start: Instant, now: Instant) {
    let sample = Sample {
        in_window: true,
        completed_us: offset_us(now, window_start),
        latency_us: 0,
        ttfb_us: None,
        first_event_us: None,
        tpot_us: None,
        tokens: None,
        good: false,
        send_delay_us: None,
        late: false,
        events: 0,
        events_in_window: 0,
        outcome: Outcome::Err { class: ErrorClass::Unsent, status: None },
    };
    rec.record(
        sample,
        &[],
        &[],
        Some("arrival never sent: all connections busy until the drain deadline"),
        now,
    );
}

async fn closed_user<W: Workload>(mut user: User<W>, shared: Arc<Shared>, think: Duration) {
    loop {
        let intended = Instant::now();
        let in_window = match shared.admit(intended) {
            Admit::Halt => break,
            Admit::Warmup => false,
            Admit::Window => true,
        };
        match user.request(&shared, intended, in_window, false).await {
            Sent::Abandoned => return,
            Sent::Failed(ErrorClass::Connect) => tokio::time::sleep(CONNECT_BACKOFF).await,
            Sent::Ok | Sent::Failed(_) => {}
        }
        if !think.is_zero() {
            tokio::time::sleep(think).await;
        }
    }
    user.rec.flush();
}

#[derive(Clone, Copy)]
struct Ticket {
    scheduled: Instant,
    in_window: bool,
}

async fn open_worker<W: Workload>(
    mut user: User<W>,
    shared: Arc<Shared>,
    rx: async_channel::Receiver<Ticket>,
) {
    while let Ok(t) = rx.recv().await {
        let now = Instant::now();
        let too_late =
            shared.halt.load(Ordering::Relaxed) || shared.drain_deadline().is_some_and(|d| now > d);
        if too_late {
            if t.in_window {
                user.record_unsent(&shared, now);
            }
            continue;
        }
        if user.request(&shared, t.scheduled, t.in_window, true).await == Sent::Abandoned {
            return;
        }
    }
    user.rec.flush();
}

async fn dispatch(
    shared: Arc<Shared>,
    mut arrivals: Arrivals,
    start: Instant,
    tx: async_channel::Sender<Ticket>,
    cancel: CancellationToken,
) {
    let mut next = start;
    'outer: loop {
        let now = Instant::now();
        while next <= now {
            let in_window = match shared.admit(next) {
                Admit::Halt => break 'outer,
                Admit::Warmup => false,
                Admit::Window => true,
            };
            if tx.send(Ticket { scheduled: next, in_window }).await.is_err() {
                break 'outer;
            }
            // A gap past the end of any level (a very bursty gamma draw) ends the arrivals.
            let gap = Duration::try_from_secs_f64(arrivals.next_gap_s()).unwrap_or(Duration::MAX);
            match next.checked_add(gap.min(MAX_GAP)) {
                Some(t) => next = t,
                None => break 'outer,
            }
        }
        tokio::select! {
            _ = sleep_until(next.into()) => {}
            _ = cancel.cancelled() => break,
        }
    }
}

/// Why a level measured nothing, if it did not: no request issued in the window succeeded, or
/// none completed inside it.
fn invalid_reason(rec: &crate::record::Recorder, completed: u64, errors: u64) -> Option<String> {
    let oldest = || rec.unfinished_age.max() as f64 / 1e6;
    if rec.ok == 0 && rec.unfinished > 0 {
        Some(format!(
            "no request issued in the window succeeded: {} requests were still unfinished when the level stopped \
             waiting for them (the oldest after {:.1} s), and {errors} failed: the server hung, or requests take \
             longer than the window",
            rec.unfinished,
            oldest()
        ))
    } else if rec.ok == 0 && rec.issued == 0 {
        Some("no request was issued in the window".to_owned())
    } else if rec.ok == 0 {
        Some(format!("no request issued in the window succeeded ({errors} failed)"))
    } else if completed == 0 {
        Some("no request completed inside the window (requests take longer than the window): its throughput is unknown".to_owned())
    } else {
        None
    }
}

/// How long the drain waits past a request's timeout before counting it as unfinished (timers
/// fire a little late on a busy machine).
const DRAIN_MARGIN: Duration = Duration::from_millis(200);

/// The level's own recording, of the requests it stops waiting for.
struct Own {
    rec: LocalRecorder,
    shards: Shards,
    t0: Instant,
    window_start: Instant,
}

/// Takes over every request in flight that `pick(in_window)` selects: its user's task ends and
/// the request is counted as unfinished (and, if issued in the window, as an error of that class).
fn abandon(
    slots: &[Arc<Slot>],
    aborts: &[tokio::task::AbortHandle],
    own: &mut Own,
    pick: &dyn Fn(bool) -> bool,
) {
    let now = Instant::now();
    for (slot, abort) in slots.iter().zip(aborts) {
        let Some((in_window, start_us)) = slot.abandon(pick) else { continue };
        abort.abort();
        let start = own.t0 + Duration::from_micros(start_us);
        let age_us = micros(now.saturating_duration_since(start));
        own.shards.unfinished(age_us);
        if in_window {
            let sample = Sample {
                in_window: true,
                completed_us: offset_us(now, own.window_start),
                latency_us: age_us,
                ttfb_us: None,
                first_event_us: None,
                tpot_us: None,
                tokens: None,
                good: false,
                send_delay_us: None,
                late: false,
                events: 0,
                events_in_window: 0,
                outcome: Outcome::Err { class: ErrorClass::Unfinished, status: None },
            };
            let detail = format!(
                "no complete answer {:.1} s after it was sent, when the level stopped waiting",
                age_us as f64 / 1e6
            );
            own.rec.record(sample, &[], &[], Some(&detail), now);
        }
    }
}

/// Runs one level against `workload` and returns what it measured.
///
/// Failed requests are counted, never returned as errors; an error means the level could not be
/// run (bad configuration) or was cancelled through `cancel` ([`Error::Stopped`]).
pub async fn run_level<W: Workload>(
    workload: &Arc<W>,
    level: &Level,
    progress: Option<&ProgressFn>,
    cancel: &CancellationToken,
) -> Result<LevelResult> {
    level.validate()?;
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let phases = level.phases;
    let t0 = Instant::now();
    let window_start = t0 + phases.warmup;
    let (window_end, limit, window_len) = match phases.window {
        Window::Duration(d) => (Some(window_start + d), None, Some(d)),
        Window::Requests(n) => (None, Some(n), None),
    };
    let shared = Arc::new(Shared {
        t0,
        window_start,
        window_end,
        limit,
        tickets: AtomicU64::new(0),
        closed_at: OnceLock::new(),
        closed: Notify::new(),
        halt: AtomicBool::new(false),
        timeout: level.timeout,
        slo: level.slo,
    });
    let shards = Shards::new(usable_cores() * 4, window_len, level.keep_requests);
    let stride = u64::from(level.schedule.concurrency());
    let slots: Vec<Arc<Slot>> =
        (0..level.schedule.concurrency()).map(|_| Arc::new(Slot::default())).collect();
    let new_user = |i: usize| User {
        workload: workload.clone(),
        slot: slots[i].clone(),
        conn: None,
        connected_once: false,
        probe: Probe::new(window_start, window_end),
        rec: shards.local(i),
        seq: i as u64,
        stride,
    };

    let mut tasks = JoinSet::new();
    // Each user's task, to end it when the level takes its request over.
    let mut aborts = Vec::with_capacity(slots.len());
    // Open loop: arrivals still queued when the level stops waiting are counted as unsent.
    let mut queued = None;
    match &level.schedule {
        Schedule::Closed { users, think_time } => {
            for i in 0..*users as usize {
                aborts.push(tasks.spawn(closed_user(new_user(i), shared.clone(), *think_time)));
            }
        }
        Schedule::Open { rate, arrival, max_in_flight } => {
            let (tx, rx) = async_channel::unbounded();
            queued = Some(rx.clone());
            for i in 0..*max_in_flight as usize {
                aborts.push(tasks.spawn(open_worker(new_user(i), shared.clone(), rx.clone())));
            }
            let arrivals = Arrivals::new(*rate, *arrival, level.seed)?;
            tasks.spawn(dispatch(shared.clone(), arrivals, t0, tx, cancel.clone()));
        }
    }

    let reporter = progress.map(|f| {
        let f = f.clone();
        let shards = shards.clone();
        let label = level.label.clone();
        let planned_end = window_end.map(|e| e + phases.cooldown);
        tokio::spawn(async move {
            let mut tick =
                tokio::time::interval_at((t0 + Duration::from_secs(1)).into(), Duration::from_secs(1));
            loop {
                tick.tick().await;
                let now = Instant::now();
                let in_window = now >= window_start && window_end.is_none_or(|e| now < e);
                let phase = if now < window_start {
                    Phase::Warmup
                } else if in_window {
                    Phase::Measure
                } else {
                    Phase::Drain
                };
                let sec = (now.saturating_duration_since(window_start).as_secs() as usize).checked_sub(1);
                let last_second =
                    if phase == Phase::Warmup { None } else { sec.and_then(|s| shards.live_second(s)) };
                f(&Progress {
                    level: label.clone(),
                    phase,
                    elapsed: now - t0,
                    // The drain lasts until the window's requests finish (at most their timeout).
                    remaining: planned_end
                        .filter(|_| phase != Phase::Drain)
                        .map(|e| e.saturating_duration_since(now)),
                    last_second,
                });
            }
        })
    });

    // Records what the level itself decides about requests (those it stops waiting for).
    let mut own = Own { rec: shards.local(0), shards: shards.clone(), t0, window_start };
    let result = async {
        // Warm-up.
        tokio::select! {
            _ = sleep_until(window_start.into()) => {}
            _ = cancel.cancelled() => return Err(()),
        }
        // The measured window.
        let cpu0 = process_cpu_time();
        let lag = LagProbe::start();
        match window_end {
            Some(end) => tokio::select! {
                _ = sleep_until(end.into()) => {}
                _ = cancel.cancelled() => return Err(()),
            },
            None => tokio::select! {
                _ = shared.closed.notified() => {}
                _ = cancel.cancelled() => return Err(()),
            },
        }
        let window_closed = window_end.or_else(|| shared.closed_at.get().copied()).unwrap_or_else(Instant::now);
        let wall = window_start.elapsed();
        let cpu = process_cpu_time().saturating_sub(cpu0);
        let lag = lag.finish().await;
        // Requests issued in the warm-up and still in flight held their user for the whole window:
        // they are not waited for, but counted. (A window of a number of requests may close
        // sooner than a request takes: there they are waited for like the window's.)
        if window_end.is_some() {
            abandon(&slots, &aborts, &mut own, &|in_window| !in_window);
        }
        // Drain: no new requests; those issued in the window get their full timeout (and a
        // margin for the timer), then whatever is still in flight is counted as unfinished.
        let deadline = window_closed + level.timeout + DRAIN_MARGIN;
        let drained = tokio::select! {
            r = tokio::time::timeout_at(deadline.into(), async { while tasks.join_next().await.is_some() {} }) => r.is_ok(),
            _ = cancel.cancelled() => return Err(()),
        };
        if !drained {
            shared.halt.store(true, Ordering::Relaxed);
            let mut rounds = 0;
            loop {
                abandon(&slots, &aborts, &mut own, &|_| true);
                let joined = tokio::time::timeout(Duration::from_millis(200), async {
                    while tasks.join_next().await.is_some() {}
                });
                rounds += 1;
                if joined.await.is_ok() {
                    break;
                }
                if rounds >= 10 {
                    tasks.abort_all();
                }
            }
        }
        if let Some(rx) = &queued {
            let now = Instant::now();
            while let Ok(t) = rx.try_recv() {
                if t.in_window {
                    record_unsent(&mut own.rec, window_start, now);
                }
            }
        }
        let drain = window_closed.elapsed();
        if let Some(f) = progress {
            f(&Progress {
                level: level.label.clone(),
                phase: Phase::Cooldown,
                elapsed: t0.elapsed(),
                remaining: Some(phases.cooldown),
                last_second: None,
            });
        }
        tokio::select! {
            _ = tokio::time::sleep(phases.cooldown) => {}
            _ = cancel.cancelled() => return Err(()),
        }
        Ok((wall, cpu, lag, drain))
    }
    .await;
    shared.halt.store(true, Ordering::Relaxed);
    if let Some(r) = reporter {
        r.abort();
    }
    let Ok((wall, cpu, lag, drain)) = result else {
        tasks.abort_all();
        return Err(Error::Stopped { level: level.label.clone() });
    };
    own.rec.flush();

    let mut rec = shards.merged(window_len);
    let window_s = match phases.window {
        Window::Duration(d) => d.as_secs_f64(),
        Window::Requests(_) => (rec.last_completion_us.max(1) as f64) / 1e6,
    };
    let completed = match phases.window {
        Window::Duration(_) => rec.completed_in_window,
        Window::Requests(_) => rec.ok,
    };
    let errors_total: u64 = rec.errors.iter().sum();
    let unsent = rec.errors[ErrorClass::Unsent.index()];
    let client = judge(cpu, wall, &lag, rec.late_sends, rec.issued.saturating_sub(unsent));
    let seconds = window_s.ceil() as usize;
    let invalid_reason = invalid_reason(&rec, completed, errors_total);
    Ok(LevelResult {
        schema: SCHEMA.to_owned(),
        label: level.label.clone(),
        protocol: workload.protocol().to_owned(),
        target: workload.target(),
        headers: workload.header_names(),
        schedule: match &level.schedule {
            Schedule::Closed { users, think_time } => {
                ScheduleInfo::Closed { users: *users, think_time_ms: think_time.as_secs_f64() * 1000.0 }
            }
            Schedule::Open { rate, arrival, max_in_flight } => ScheduleInfo::Open {
                rate_rps: *rate,
                arrival: arrival.as_str().to_owned(),
                max_in_flight: *max_in_flight,
            },
        },
        phases: PhasesInfo {
            warmup_s: phases.warmup.as_secs_f64(),
            window_s,
            window_requests: limit,
            cooldown_s: phases.cooldown.as_secs_f64(),
            drain_s: drain.as_secs_f64(),
        },
        started_at,
        counts: Counts {
            issued: rec.issued,
            ok: rec.ok,
            errors: errors_total,
            completed_in_window: completed,
            late_sends: rec.late_sends,
            unsent,
            reconnects: rec.reconnects,
            events: rec.events,
            unfinished: rec.unfinished,
        },
        throughput_rps: completed as f64 / window_s,
        events_per_s: (rec.events > 0).then(|| rec.events_in_window as f64 / window_s),
        latency_ms: stats(&rec.latency),
        ttfb_ms: stats(&rec.ttfb),
        first_event_ms: stats(&rec.first_event),
        event_gap_ms: stats(&rec.gaps),
        send_delay_ms: stats(&rec.send_delay),
        tpot_ms: stats(&rec.tpot),
        itl_ms: stats(&rec.itl),
        unfinished_age_ms: stats(&rec.unfinished_age),
        tokens: (rec.token_requests > 0).then_some(TokenCounts {
            input: rec.input_tokens,
            output: rec.output_tokens,
            counted_from_chunks: rec.usage_fallback,
        }),
        slo: level.slo,
        goodput_rps: level.slo.map(|_| rec.good as f64 / window_s),
        errors: ErrorClass::ALL.iter().map(|c| (c.as_str().to_owned(), rec.errors[c.index()])).collect(),
        status_codes: rec.status_codes.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        error_samples: rec.error_samples.clone(),
        series: rec.series_points(seconds),
        client,
        valid: invalid_reason.is_none(),
        invalid_reason,
        requests: level.keep_requests.then(|| {
            let mut all = std::mem::take(&mut rec.requests);
            all.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
            all
        }),
    })
}
