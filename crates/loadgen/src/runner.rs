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
use crate::record::{LocalRecorder, Outcome, Sample, SecondBucket, Shards, stats};
use crate::result::{
    Counts, LevelResult, PhaseEnd, PhasesInfo, SCHEMA, ScheduleInfo, SeriesPoint, Slo, TokenCounts,
};
use crate::stability::{MIN_POINTS, WARMUP_POINTS, converged, settled};
use crate::workload::{Failure, Probe, Workload};
use crate::{CancellationToken, Error, ErrorClass, Level, Result, Schedule, Warmup, Window};

/// A send more than this late (open loop) counts as late.
const LATE: Duration = Duration::from_millis(1);
/// Longest gap between two open-loop arrivals (longer than any level may last).
const MAX_GAP: Duration = Duration::from_secs(400 * 24 * 3600);
/// Pause after a failed connect before the same user tries again.
const CONNECT_BACKOFF: Duration = Duration::from_millis(10);
/// An automatic warm-up or an adaptive window is judged this long before the whole second at
/// which it would end, from the seconds complete by then: long enough for the tasks' buffers to
/// reach the shards (they flush every 250 ms), and the end is known before it comes, so that
/// every request and event is placed against the final bounds.
const LOOK_AHEAD: Duration = Duration::from_millis(500);

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

/// The instant a phase began, in a [`Progress`] that announces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhaseStart {
    /// The instant the runner uses to decide which requests are measured: a request whose
    /// intended start is at or after the window's `at` (and before the drain's) is in the window.
    pub at: Instant,
    /// The same instant on the system clock (for lining it up with a server's own metrics).
    pub wall: SystemTime,
}

impl PhaseStart {
    fn new(at: Instant) -> Self {
        let now = Instant::now();
        let wall = SystemTime::now();
        let wall = if at <= now { wall - (now - at) } else { wall + (at - now) };
        PhaseStart { at, wall }
    }
}

/// A progress report: about once a second, and once at the start of each phase.
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
    /// Set when the report announces that `phase` began (and then `None` in the once-a-second
    /// reports): sent as soon as the phase begins, at most a timer's lateness after `at`, for
    /// every phase (warm-up, measure, drain, cool-down). The measured window is `[at of
    /// measure, at of drain)`, so a caller can take snapshots of the server aligned with it.
    pub phase_start: Option<PhaseStart>,
}

/// The callback progress goes to. It is called from the level's own tasks: it must return
/// quickly (send the report to a channel, spawn slow work).
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

enum Admit {
    Warmup,
    Window,
    Halt,
}

/// Where the measured window lies: its start and end in microseconds after the level's start.
/// They are provisional while an automatic warm-up or an adaptive window runs (at the longest
/// each may last), and the runner moves them earlier once it knows; it does so ahead of time
/// ([`LOOK_AHEAD`]), so that every request and event is placed against the final bounds.
#[derive(Debug)]
pub(crate) struct Bounds {
    t0: Instant,
    start_us: AtomicU64,
    /// `NO_END` for a window of a number of requests.
    end_us: AtomicU64,
}

const NO_END: u64 = u64::MAX;

impl Bounds {
    pub(crate) fn new(t0: Instant, start: Duration, end: Option<Duration>) -> Self {
        Bounds {
            t0,
            start_us: AtomicU64::new(micros(start)),
            end_us: AtomicU64::new(end.map_or(NO_END, micros)),
        }
    }

    pub(crate) fn start(&self) -> Instant {
        self.t0 + Duration::from_micros(self.start_us.load(Ordering::Acquire))
    }

    pub(crate) fn end(&self) -> Option<Instant> {
        match self.end_us.load(Ordering::Acquire) {
            NO_END => None,
            us => Some(self.t0 + Duration::from_micros(us)),
        }
    }

    fn set_start(&self, start: Instant) {
        self.start_us.store(micros(start.saturating_duration_since(self.t0)), Ordering::Release);
    }

    fn set_end(&self, end: Option<Instant>) {
        let us = end.map_or(NO_END, |e| micros(e.saturating_duration_since(self.t0)));
        self.end_us.store(us, Ordering::Release);
    }

    /// Whether `t` falls inside the window.
    pub(crate) fn contains(&self, t: Instant) -> bool {
        t >= self.start() && self.end().is_none_or(|end| t < end)
    }
}

/// State shared by the tasks of one level.
struct Shared {
    /// When the level started (request start times are kept relative to it).
    t0: Instant,
    bounds: Arc<Bounds>,
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
        if at < self.bounds.start() {
            return Admit::Warmup;
        }
        match (self.bounds.end(), self.limit) {
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

    /// Whether a request (issued in the window or not) that completed at `at` completed inside
    /// the window, so that it counts towards throughput. A window of a number of requests has no
    /// fixed end: its throughput comes from the requests issued inside it, so only those do.
    fn inside(&self, at: Instant, in_window: bool) -> bool {
        if self.limit.is_some() { in_window && at >= self.bounds.start() } else { self.bounds.contains(at) }
    }

    /// When, and how, a request that completed at `at` is recorded: its completion relative to
    /// the window's start and to the level's, and whether it completed inside the window.
    fn place(&self, at: Instant, in_window: bool) -> (i64, u64, bool) {
        (
            offset_us(at, self.bounds.start()),
            micros(at.saturating_duration_since(self.t0)),
            self.inside(at, in_window),
        )
    }

    /// After this instant a queued open-loop arrival is no longer sent.
    fn drain_deadline(&self) -> Option<Instant> {
        self.bounds.end().or_else(|| self.closed_at.get().copied()).map(|end| end + self.timeout)
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
        let (completed_us, since_t0_us, inside) = shared.place(end, in_window);
        let sample = Sample {
            in_window,
            inside,
            completed_us,
            since_t0_us,
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
        record_unsent(&mut self.rec, shared, now);
    }
}

/// Records an arrival of the window that was never sent.
fn record_unsent(rec: &mut LocalRecorder, shared: &Shared, now: Instant) {
    let (completed_us, since_t0_us, inside) = shared.place(now, true);
    let sample = Sample {
        in_window: true,
        inside,
        completed_us,
        since_t0_us,
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
    shared: Arc<Shared>,
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
        let start = own.shared.t0 + Duration::from_micros(start_us);
        let age_us = micros(now.saturating_duration_since(start));
        own.shards.unfinished(age_us);
        if in_window {
            let (completed_us, since_t0_us, inside) = own.shared.place(now, true);
            let sample = Sample {
                in_window: true,
                inside,
                completed_us,
                since_t0_us,
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

/// Sleeps until `t`; `Err` when `cancel` fires first.
async fn until(t: Instant, cancel: &CancellationToken) -> std::result::Result<(), ()> {
    tokio::select! {
        _ = sleep_until(t.into()) => Ok(()),
        _ = cancel.cancelled() => Err(()),
    }
}

/// The end of a window that starts at `start`, or its latest end for an adaptive one; `None`
/// for a window of a number of requests.
fn latest_end(window: &Window, start: Instant) -> Option<Instant> {
    match *window {
        Window::Duration(d) | Window::Adaptive { max: d, .. } => Some(start + d),
        Window::Requests(_) => None,
    }
}

/// An automatic warm-up ([`Warmup::Auto`]): judged half a second before each whole second of
/// the level from the seconds complete by then; once they have settled, the window is moved to
/// start at that whole second. Returns why the warm-up ended.
async fn auto_warmup(
    shared: &Shared,
    shards: &Shards,
    window: &Window,
    (min, max): (Duration, Duration),
    cancel: &CancellationToken,
) -> std::result::Result<PhaseEnd, ()> {
    for j in 1u64.. {
        let end = Duration::from_secs(j);
        if end >= max {
            break;
        }
        let complete = (j - 1) as usize;
        if complete < WARMUP_POINTS || end < min {
            continue;
        }
        until(shared.t0 + end - LOOK_AHEAD, cancel).await?;
        if settled(&shards.live_early(complete - WARMUP_POINTS, complete)) {
            let start = shared.t0 + end;
            shared.bounds.set_end(latest_end(window, start));
            shared.bounds.set_start(start);
            return Ok(PhaseEnd::Converged);
        }
    }
    Ok(PhaseEnd::Max)
}

/// An adaptive window ([`Window::Adaptive`]): judged half a second before each whole second of
/// the window from the seconds complete by then; once they have converged, the window is moved to
/// end at that whole second. Returns why the window ended.
async fn adaptive_window(
    shared: &Shared,
    shards: &Shards,
    (min, max): (Duration, Duration),
    (rel_half_width, p99_tolerance): (f64, f64),
    cancel: &CancellationToken,
) -> std::result::Result<PhaseEnd, ()> {
    let start = shared.bounds.start();
    // Seconds already merged across shards. (A request still in its task's buffer when its second
    // was merged is missed here, though not in the result: a task flushes every 250 ms while it
    // records, so only a request followed by a long one waits longer.)
    let mut seen: Vec<SecondBucket> = Vec::new();
    for n in 1u64.. {
        let end = Duration::from_secs(n);
        if end >= max {
            break;
        }
        let complete = (n - 1) as usize;
        if complete < MIN_POINTS || end < min {
            continue;
        }
        until(start + end - LOOK_AHEAD, cancel).await?;
        let from = seen.len();
        seen.extend(shards.live_seconds(from, complete));
        if converged(&seen, rel_half_width, p99_tolerance) {
            shared.bounds.set_end(Some(start + end));
            return Ok(PhaseEnd::Converged);
        }
    }
    Ok(PhaseEnd::Max)
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
    // The window as far as it is known: an automatic warm-up and an adaptive window are at their
    // longest until the runner knows better.
    let limit = match phases.window {
        Window::Requests(n) => Some(n),
        _ => None,
    };
    let warmup_max = phases.warmup.max();
    let latest = latest_end(&phases.window, t0 + warmup_max).map(|e| e - t0);
    let bounds = Arc::new(Bounds::new(t0, warmup_max, latest));
    let shared = Arc::new(Shared {
        t0,
        bounds: bounds.clone(),
        limit,
        tickets: AtomicU64::new(0),
        closed_at: OnceLock::new(),
        closed: Notify::new(),
        halt: AtomicBool::new(false),
        timeout: level.timeout,
        slo: level.slo,
    });
    let shards = Shards::new(usable_cores() * 4, level.keep_requests);
    let stride = u64::from(level.schedule.concurrency());
    let slots: Vec<Arc<Slot>> =
        (0..level.schedule.concurrency()).map(|_| Arc::new(Slot::default())).collect();
    let new_user = |i: usize| User {
        workload: workload.clone(),
        slot: slots[i].clone(),
        conn: None,
        connected_once: false,
        probe: Probe::new(bounds.clone()),
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

    // Set when the cool-down begins (for the once-a-second reports).
    let cooling = Arc::new(AtomicBool::new(false));
    let reporter = progress.map(|f| {
        let f = f.clone();
        let shards = shards.clone();
        let label = level.label.clone();
        let bounds = bounds.clone();
        let cooling = cooling.clone();
        tokio::spawn(async move {
            let mut tick =
                tokio::time::interval_at((t0 + Duration::from_secs(1)).into(), Duration::from_secs(1));
            loop {
                tick.tick().await;
                let now = Instant::now();
                let start = bounds.start();
                let end = bounds.end();
                let phase = if cooling.load(Ordering::Relaxed) {
                    Phase::Cooldown
                } else if now < start {
                    Phase::Warmup
                } else if end.is_none_or(|e| now < e) {
                    Phase::Measure
                } else {
                    Phase::Drain
                };
                let sec = (now.saturating_duration_since(start).as_secs() as usize).checked_sub(1);
                let last_second = if matches!(phase, Phase::Measure | Phase::Drain) {
                    sec.and_then(|s| shards.live_second(s))
                } else {
                    None
                };
                f(&Progress {
                    level: label.clone(),
                    phase,
                    elapsed: now - t0,
                    // The drain lasts until the window's requests finish (at most their timeout);
                    // an automatic warm-up and an adaptive window count to their longest.
                    remaining: match phase {
                        Phase::Drain | Phase::Cooldown => None,
                        _ => end.map(|e| (e + phases.cooldown).saturating_duration_since(now)),
                    },
                    last_second,
                    phase_start: None,
                });
            }
        })
    });
    // Announces the start of a phase at once.
    let announce = |phase: Phase, at: Instant, remaining: Option<Duration>| {
        if let Some(f) = progress {
            f(&Progress {
                level: level.label.clone(),
                phase,
                elapsed: at.saturating_duration_since(t0),
                remaining,
                last_second: None,
                phase_start: Some(PhaseStart::new(at)),
            });
        }
    };

    // Records what the level itself decides about requests (those it stops waiting for).
    let mut own = Own { rec: shards.local(0), shards: shards.clone(), shared: shared.clone() };
    announce(Phase::Warmup, t0, bounds.end().map(|e| (e + phases.cooldown).saturating_duration_since(t0)));
    let result = async {
        // Warm-up.
        let warmup_end = match phases.warmup {
            Warmup::Fixed(_) => None,
            Warmup::Auto { min, max } => {
                Some(auto_warmup(&shared, &shards, &phases.window, (min, max), cancel).await?)
            }
        };
        let window_start = bounds.start();
        until(window_start, cancel).await?;
        announce(
            Phase::Measure,
            window_start,
            bounds.end().map(|e| (e + phases.cooldown).saturating_duration_since(window_start)),
        );
        // The measured window.
        let cpu0 = process_cpu_time();
        let lag = LagProbe::start();
        let window_end = match phases.window {
            Window::Duration(_) => None,
            Window::Requests(_) => {
                tokio::select! {
                    _ = shared.closed.notified() => {}
                    _ = cancel.cancelled() => return Err(()),
                }
                None
            }
            Window::Adaptive { min, max, rel_half_width, p99_tolerance } => Some(
                adaptive_window(&shared, &shards, (min, max), (rel_half_width, p99_tolerance), cancel).await?,
            ),
        };
        if let Some(end) = bounds.end() {
            until(end, cancel).await?;
        }
        let window_closed = bounds.end().or_else(|| shared.closed_at.get().copied()).unwrap_or_else(Instant::now);
        announce(Phase::Drain, window_closed, None);
        let wall = window_start.elapsed();
        let cpu = process_cpu_time().saturating_sub(cpu0);
        let lag = lag.finish().await;
        // Requests issued in the warm-up and still in flight held their user for the whole window:
        // they are not waited for, but counted. (A window of a number of requests may close
        // sooner than a request takes: there they are waited for like the window's.)
        if limit.is_none() {
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
                    record_unsent(&mut own.rec, &shared, now);
                }
            }
        }
        let drain = window_closed.elapsed();
        cooling.store(true, Ordering::Relaxed);
        announce(Phase::Cooldown, Instant::now(), Some(phases.cooldown));
        tokio::select! {
            _ = tokio::time::sleep(phases.cooldown) => {}
            _ = cancel.cancelled() => return Err(()),
        }
        Ok(Ended { wall, cpu, lag, drain, warmup_end, window_end, window_start, window_closed })
    }
    .await;
    shared.halt.store(true, Ordering::Relaxed);
    if let Some(r) = reporter {
        r.abort();
    }
    let Ok(Ended { wall, cpu, lag, drain, warmup_end, window_end, window_start, window_closed }) = result
    else {
        tasks.abort_all();
        return Err(Error::Stopped { level: level.label.clone() });
    };
    own.rec.flush();

    let mut rec = shards.merged();
    let window_s = match phases.window {
        Window::Duration(_) | Window::Adaptive { .. } => (window_closed - window_start).as_secs_f64(),
        Window::Requests(_) => (rec.last_completion_us.max(1) as f64) / 1e6,
    };
    let completed = match phases.window {
        Window::Duration(_) | Window::Adaptive { .. } => rec.completed_in_window,
        Window::Requests(_) => rec.ok,
    };
    // The window's whole seconds (those before it stopped issuing requests) are judged.
    let whole = window_closed.saturating_duration_since(window_start).as_secs() as usize;
    let stability = crate::stability::judge(&rec.whole_seconds(whole));
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
            warmup_s: (window_start - t0).as_secs_f64(),
            window_s,
            window_requests: limit,
            cooldown_s: phases.cooldown.as_secs_f64(),
            drain_s: drain.as_secs_f64(),
            warmup_end,
            window_end,
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
        stability: Some(stability),
        server: None,
        retried: Vec::new(),
        scout: false,
    })
}

/// How a level's phases went, for its result.
struct Ended {
    wall: Duration,
    cpu: Duration,
    lag: hdrhistogram::Histogram<u64>,
    drain: Duration,
    warmup_end: Option<PhaseEnd>,
    window_end: Option<PhaseEnd>,
    window_start: Instant,
    window_closed: Instant,
}
