//! Recording. Each virtual user (task) owns a [`LocalRecorder`], a small buffer of finished
//! requests that it flushes into one of a few shared [`Recorder`] shards every few hundred
//! samples or a quarter of a second. The shards hold the HDR histograms (microsecond resolution,
//! 3 significant digits) and counters and are merged when the level ends. Buffering keeps the hot
//! path free of locks and keeps memory flat at 10,000 users, where a full histogram per user would
//! need gigabytes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::ErrorClass;
use crate::result::{LatencyStats, SeriesPoint};
use crate::stability::EarlySecond;

/// Highest value a histogram tracks: one hour in microseconds (larger values saturate).
const MAX_US: u64 = 3_600_000_000;
const BUFFER: usize = 256;
const FLUSH_EVERY: Duration = Duration::from_millis(250);
const MAX_ERROR_SAMPLES: usize = 8;

pub(crate) fn new_histogram(sigfig: u8) -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, sigfig).expect("static histogram bounds are valid")
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Ok,
    Err { class: ErrorClass, status: Option<u16> },
}

/// One finished request, as the runner saw it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    /// Issued (intended start) inside the measured window: its latency is recorded.
    pub in_window: bool,
    /// Completed inside the window, so that it counts towards throughput and the time series
    /// (decided by the runner, which knows where the window ends).
    pub inside: bool,
    /// Completion time relative to the window's start, in microseconds (negative: before it).
    pub completed_us: i64,
    /// Completion time relative to the level's start, in microseconds (for the warm-up).
    pub since_t0_us: u64,
    pub latency_us: u64,
    pub ttfb_us: Option<u64>,
    pub first_event_us: Option<u64>,
    /// Time per output token after the first: (e2e - first event) / (output tokens - 1).
    pub tpot_us: Option<u64>,
    pub tokens: Option<crate::workload::Tokens>,
    /// Met every service-level objective of the level.
    pub good: bool,
    pub send_delay_us: Option<u64>,
    pub late: bool,
    pub events: u32,
    pub events_in_window: u32,
    pub outcome: Outcome,
}

/// One second of the window.
#[derive(Debug, Clone, Default)]
pub(crate) struct SecondBucket {
    /// Successful completions.
    pub ok: u64,
    pub errors: u64,
    pub events: u64,
    /// Latencies of the successful completions.
    pub hist: Option<Histogram<u64>>,
}

impl SecondBucket {
    fn add(&mut self, b: &SecondBucket) {
        self.ok += b.ok;
        self.errors += b.errors;
        self.events += b.events;
        if let Some(h) = &b.hist {
            let _ = self.hist.get_or_insert_with(|| new_histogram(2)).add(h);
        }
    }
}

/// Everything recorded for one level (or one shard of it).
#[derive(Debug, Clone)]
pub(crate) struct Recorder {
    pub latency: Histogram<u64>,
    pub ttfb: Histogram<u64>,
    pub first_event: Histogram<u64>,
    pub gaps: Histogram<u64>,
    pub send_delay: Histogram<u64>,
    pub tpot: Histogram<u64>,
    /// Inter-token latency, per token (successful requests of workloads that count tokens).
    pub itl: Histogram<u64>,
    /// Ages of the requests still in flight when the level stopped waiting for them.
    pub unfinished_age: Histogram<u64>,
    /// Requests still in flight when the level stopped waiting (warm-up ones at the window's
    /// end, window ones at the drain's end).
    pub unfinished: u64,
    pub issued: u64,
    /// Successful requests issued in the window that met the level's objectives.
    pub good: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Successful requests whose token counts were counted from chunks (no `usage`).
    pub usage_fallback: u64,
    /// Successful requests that reported token counts.
    pub token_requests: u64,
    pub ok: u64,
    pub errors: [u64; ErrorClass::ALL.len()],
    pub status_codes: BTreeMap<u16, u64>,
    pub error_samples: Vec<String>,
    /// Successful completions inside the window (any issue time).
    pub completed_in_window: u64,
    /// Events received inside the window (any request).
    pub events_in_window: u64,
    /// Events of the requests issued inside the window.
    pub events: u64,
    /// Latest completion of a request issued inside the window (µs after the window start).
    pub last_completion_us: i64,
    pub late_sends: u64,
    pub reconnects: u64,
    pub series: Vec<SecondBucket>,
    /// Successful completions before the window, by second of the level (for an automatic
    /// warm-up).
    pub early: Vec<EarlySecond>,
    /// Every request issued in the window, when kept.
    pub requests: Vec<crate::RequestRecord>,
}

impl Recorder {
    pub(crate) fn new() -> Self {
        Recorder {
            latency: new_histogram(3),
            ttfb: new_histogram(3),
            first_event: new_histogram(3),
            gaps: new_histogram(3),
            send_delay: new_histogram(3),
            tpot: new_histogram(3),
            itl: new_histogram(3),
            unfinished_age: new_histogram(3),
            unfinished: 0,
            issued: 0,
            good: 0,
            input_tokens: 0,
            output_tokens: 0,
            usage_fallback: 0,
            token_requests: 0,
            ok: 0,
            errors: [0; ErrorClass::ALL.len()],
            status_codes: BTreeMap::new(),
            error_samples: Vec::new(),
            completed_in_window: 0,
            events_in_window: 0,
            events: 0,
            last_completion_us: 0,
            late_sends: 0,
            reconnects: 0,
            series: Vec::new(),
            early: Vec::new(),
            requests: Vec::new(),
        }
    }

    pub(crate) fn add(&mut self, s: &Sample) {
        let ok = s.outcome == Outcome::Ok;
        if s.in_window {
            self.issued += 1;
            if s.outcome != (Outcome::Err { class: ErrorClass::Unfinished, status: None }) {
                self.last_completion_us = self.last_completion_us.max(s.completed_us);
            }
            self.events += u64::from(s.events);
            match s.outcome {
                Outcome::Ok => {
                    self.ok += 1;
                    self.latency.saturating_record(s.latency_us.max(1));
                    if let Some(v) = s.ttfb_us {
                        self.ttfb.saturating_record(v.max(1));
                    }
                    if let Some(v) = s.first_event_us {
                        self.first_event.saturating_record(v.max(1));
                    }
                    if let Some(v) = s.tpot_us {
                        self.tpot.saturating_record(v.max(1));
                    }
                    if let Some(t) = s.tokens {
                        self.token_requests += 1;
                        self.input_tokens += u64::from(t.input);
                        self.output_tokens += u64::from(t.output);
                        self.usage_fallback += u64::from(!t.from_usage);
                    }
                    self.good += u64::from(s.good);
                }
                Outcome::Err { class, status } => {
                    self.errors[class.index()] += 1;
                    if let Some(code) = status {
                        *self.status_codes.entry(code).or_default() += 1;
                    }
                }
            }
            if let Some(v) = s.send_delay_us {
                self.send_delay.saturating_record(v.max(1));
            }
            if s.late {
                self.late_sends += 1;
            }
        }
        // Throughput, events/s and the time series count by completion time.
        self.events_in_window += u64::from(s.events_in_window);
        if s.inside {
            if ok {
                self.completed_in_window += 1;
            }
            let sec = (s.completed_us / 1_000_000) as usize;
            if self.series.len() <= sec {
                self.series.resize(sec + 1, SecondBucket::default());
            }
            let b = &mut self.series[sec];
            b.events += u64::from(s.events_in_window);
            if ok {
                b.ok += 1;
                b.hist.get_or_insert_with(|| new_histogram(2)).saturating_record(s.latency_us.max(1));
            } else {
                b.errors += 1;
            }
        } else if ok && s.completed_us < 0 {
            let sec = (s.since_t0_us / 1_000_000) as usize;
            if self.early.len() <= sec {
                self.early.resize(sec + 1, EarlySecond::default());
            }
            self.early[sec].ok += 1;
            self.early[sec].latency_sum_us += s.latency_us;
        }
    }

    pub(crate) fn note_error(&mut self, detail: &str) {
        if self.error_samples.len() < MAX_ERROR_SAMPLES && !self.error_samples.iter().any(|d| d == detail) {
            self.error_samples.push(detail.to_owned());
        }
    }

    pub(crate) fn merge(&mut self, other: &Recorder) {
        // Histograms with identical bounds always merge.
        let _ = self.latency.add(&other.latency);
        let _ = self.ttfb.add(&other.ttfb);
        let _ = self.first_event.add(&other.first_event);
        let _ = self.gaps.add(&other.gaps);
        let _ = self.send_delay.add(&other.send_delay);
        let _ = self.tpot.add(&other.tpot);
        let _ = self.itl.add(&other.itl);
        let _ = self.unfinished_age.add(&other.unfinished_age);
        self.unfinished += other.unfinished;
        self.issued += other.issued;
        self.good += other.good;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.usage_fallback += other.usage_fallback;
        self.token_requests += other.token_requests;
        self.ok += other.ok;
        for (a, b) in self.errors.iter_mut().zip(other.errors) {
            *a += b;
        }
        for (code, n) in &other.status_codes {
            *self.status_codes.entry(*code).or_default() += n;
        }
        for d in &other.error_samples {
            self.note_error(d);
        }
        self.requests.extend(other.requests.iter().cloned());
        self.completed_in_window += other.completed_in_window;
        self.events_in_window += other.events_in_window;
        self.events += other.events;
        self.last_completion_us = self.last_completion_us.max(other.last_completion_us);
        self.late_sends += other.late_sends;
        self.reconnects += other.reconnects;
        if self.series.len() < other.series.len() {
            self.series.resize(other.series.len(), SecondBucket::default());
        }
        for (a, b) in self.series.iter_mut().zip(&other.series) {
            a.add(b);
        }
        if self.early.len() < other.early.len() {
            self.early.resize(other.early.len(), EarlySecond::default());
        }
        for (a, b) in self.early.iter_mut().zip(&other.early) {
            a.ok += b.ok;
            a.latency_sum_us += b.latency_sum_us;
        }
    }

    /// Throughput and latency of second `sec` of the window, if it has any completions.
    pub(crate) fn second(&self, sec: usize) -> Option<SeriesPoint> {
        let b = self.series.get(sec)?;
        Some(SeriesPoint {
            t_s: sec as u64,
            throughput_rps: b.ok as f64,
            events_per_s: b.events as f64,
            p50_ms: b.hist.as_ref().map(|h| us_to_ms(h.value_at_quantile(0.5))),
            p99_ms: b.hist.as_ref().map(|h| us_to_ms(h.value_at_quantile(0.99))),
            errors: b.errors,
        })
    }

    /// The first `n` seconds of the window (empty ones included).
    pub(crate) fn whole_seconds(&self, n: usize) -> Vec<SecondBucket> {
        let mut v: Vec<SecondBucket> = self.series.iter().take(n).cloned().collect();
        v.resize(n, SecondBucket::default());
        v
    }

    pub(crate) fn series_points(&self, seconds: usize) -> Vec<SeriesPoint> {
        (0..seconds)
            .map(|s| {
                self.second(s).unwrap_or(SeriesPoint {
                    t_s: s as u64,
                    throughput_rps: 0.0,
                    events_per_s: 0.0,
                    p50_ms: None,
                    p99_ms: None,
                    errors: 0,
                })
            })
            .collect()
    }
}

pub(crate) fn us_to_ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Summary statistics of a histogram in milliseconds, or `None` when it is empty.
pub(crate) fn stats(h: &Histogram<u64>) -> Option<LatencyStats> {
    if h.is_empty() {
        return None;
    }
    Some(LatencyStats {
        count: h.len(),
        mean: h.mean() / 1000.0,
        min: us_to_ms(h.min()),
        p50: us_to_ms(h.value_at_quantile(0.50)),
        p90: us_to_ms(h.value_at_quantile(0.90)),
        p95: us_to_ms(h.value_at_quantile(0.95)),
        p99: us_to_ms(h.value_at_quantile(0.99)),
        p999: us_to_ms(h.value_at_quantile(0.999)),
        max: us_to_ms(h.max()),
        stdev: h.stdev() / 1000.0,
    })
}

/// The shared shards of one level.
#[derive(Debug, Clone)]
pub(crate) struct Shards {
    shards: Arc<Vec<Mutex<Recorder>>>,
    keep_requests: bool,
}

impl Shards {
    pub(crate) fn new(n: usize, keep_requests: bool) -> Self {
        let shards = (0..n.max(1)).map(|_| Mutex::new(Recorder::new())).collect();
        Shards { shards: Arc::new(shards), keep_requests }
    }

    pub(crate) fn local(&self, task: usize) -> LocalRecorder {
        LocalRecorder {
            shards: self.clone(),
            shard: task % self.shards.len(),
            // Grows as needed: at 10,000 users a full buffer each would cost ~300 MiB.
            buf: Vec::new(),
            gaps: Vec::new(),
            itl: Vec::new(),
            errors: Vec::new(),
            requests: Vec::new(),
            reconnects: 0,
            oldest: None,
        }
    }

    /// Counts a request still in flight when the level stopped waiting for it, `age_us` old.
    pub(crate) fn unfinished(&self, age_us: u64) {
        let mut r = self.shards[0].lock().unwrap_or_else(PoisonError::into_inner);
        r.unfinished += 1;
        r.unfinished_age.saturating_record(age_us.max(1));
    }

    /// Merges every shard into one recorder.
    pub(crate) fn merged(&self) -> Recorder {
        let mut all = Recorder::new();
        for s in self.shards.iter() {
            all.merge(&s.lock().unwrap_or_else(PoisonError::into_inner));
        }
        all
    }

    /// Seconds `from..to` of the window as recorded so far, across shards (requests still in a
    /// task's buffer are not in them yet).
    pub(crate) fn live_seconds(&self, from: usize, to: usize) -> Vec<SecondBucket> {
        let mut acc = vec![SecondBucket::default(); to.saturating_sub(from)];
        for s in self.shards.iter() {
            let g = s.lock().unwrap_or_else(PoisonError::into_inner);
            for (a, b) in acc.iter_mut().zip(g.series.iter().skip(from)) {
                a.add(b);
            }
        }
        acc
    }

    /// Seconds `from..to` of the level before the window, as recorded so far, across shards.
    pub(crate) fn live_early(&self, from: usize, to: usize) -> Vec<EarlySecond> {
        let mut acc = vec![EarlySecond::default(); to.saturating_sub(from)];
        for s in self.shards.iter() {
            let g = s.lock().unwrap_or_else(PoisonError::into_inner);
            for (a, b) in acc.iter_mut().zip(g.early.iter().skip(from)) {
                a.ok += b.ok;
                a.latency_sum_us += b.latency_sum_us;
            }
        }
        acc
    }

    /// The latest complete second of the window, across shards (for progress).
    pub(crate) fn live_second(&self, sec: usize) -> Option<SeriesPoint> {
        let mut acc = Recorder::new();
        acc.series = self.live_seconds(sec, sec + 1);
        acc.second(0).map(|p| SeriesPoint { t_s: sec as u64, ..p })
    }
}

/// A task's buffer in front of its shard.
#[derive(Debug)]
pub(crate) struct LocalRecorder {
    shards: Shards,
    shard: usize,
    buf: Vec<Sample>,
    gaps: Vec<u32>,
    itl: Vec<u32>,
    errors: Vec<String>,
    requests: Vec<crate::RequestRecord>,
    reconnects: u64,
    oldest: Option<Instant>,
}

impl LocalRecorder {
    /// Records one finished request: its sample, the gaps between its events, its per-token
    /// inter-token latencies (`itl_us`, when the workload counts tokens) and why it failed.
    pub(crate) fn record(
        &mut self,
        s: Sample,
        gaps_us: &[u32],
        itl_us: &[u32],
        error: Option<&str>,
        now: Instant,
    ) {
        self.buf.push(s);
        if s.in_window && self.shards.keep_requests {
            let secs = |us: u64| us as f64 / 1e6;
            let tokens = s.tokens.filter(|_| error.is_none());
            self.requests.push(crate::RequestRecord {
                start_s: (s.completed_us - i64::try_from(s.latency_us).unwrap_or(i64::MAX)) as f64 / 1e6,
                latency_s: secs(s.latency_us),
                ttft_s: s.first_event_us.map(secs),
                itls_s: if itl_us.is_empty() { gaps_us } else { itl_us }
                    .iter()
                    .map(|&g| f64::from(g) / 1e6)
                    .collect(),
                input_tokens: tokens.map_or(0, |t| t.input),
                output_tokens: tokens.map_or(0, |t| t.output),
                error: error.map(str::to_owned),
            });
        }
        if s.in_window {
            self.gaps.extend_from_slice(gaps_us);
            if s.outcome == Outcome::Ok {
                self.itl.extend_from_slice(itl_us);
            }
            if let Some(e) = error
                && self.errors.len() < MAX_ERROR_SAMPLES
                && !self.errors.iter().any(|x| x == e)
            {
                self.errors.push(e.to_owned());
            }
        }
        let oldest = *self.oldest.get_or_insert(now);
        if self.buf.len() >= BUFFER
            || self.gaps.len() >= 16 * BUFFER
            || self.itl.len() >= 16 * BUFFER
            || now - oldest >= FLUSH_EVERY
        {
            self.flush();
        }
    }

    pub(crate) fn reconnected(&mut self) {
        self.reconnects += 1;
    }

    pub(crate) fn flush(&mut self) {
        if self.buf.is_empty()
            && self.gaps.is_empty()
            && self.itl.is_empty()
            && self.reconnects == 0
            && self.errors.is_empty()
            && self.requests.is_empty()
        {
            return;
        }
        let mut r = self.shards.shards[self.shard].lock().unwrap_or_else(PoisonError::into_inner);
        for s in &self.buf {
            r.add(s);
        }
        for g in &self.gaps {
            r.gaps.saturating_record(u64::from(*g).max(1));
        }
        for g in &self.itl {
            r.itl.saturating_record(u64::from(*g).max(1));
        }
        for e in &self.errors {
            r.note_error(e);
        }
        r.reconnects += self.reconnects;
        r.requests.append(&mut self.requests);
        drop(r);
        self.buf.clear();
        self.gaps.clear();
        self.itl.clear();
        self.errors.clear();
        self.reconnects = 0;
        self.oldest = None;
    }
}

impl Drop for LocalRecorder {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A request of a window `window_us` long, completed `completed_us` after its start.
    fn sample(latency_us: u64, completed_us: i64, in_window: bool, ok: bool, window_us: i64) -> Sample {
        Sample {
            in_window,
            inside: (0..window_us).contains(&completed_us),
            completed_us,
            since_t0_us: (completed_us + 2_000_000).max(0) as u64,
            latency_us,
            ttfb_us: Some(latency_us / 2),
            first_event_us: None,
            tpot_us: None,
            tokens: None,
            good: ok,
            send_delay_us: None,
            late: false,
            events: 0,
            events_in_window: 0,
            outcome: if ok {
                Outcome::Ok
            } else {
                Outcome::Err { class: ErrorClass::Status, status: Some(503) }
            },
        }
    }

    proptest! {
        /// However requests are spread over tasks and shards, the merged level equals one
        /// recorder that saw every request: counts, every percentile, and the time series.
        #[test]
        fn sharded_recording_merges_to_the_same_level(
            reqs in prop::collection::vec(
                (1u64..60_000_000, -2_000_000i64..5_000_000, any::<bool>(), prop::bool::weighted(0.9), 0usize..16),
                1..1500),
            shards in 1usize..6,
        ) {
            let mut one = Recorder::new();
            let s = Shards::new(shards, true);
            let mut locals: Vec<LocalRecorder> = (0..16).map(|i| s.local(i)).collect();
            let now = Instant::now();
            for (lat, done, in_w, ok, task) in &reqs {
                let smp = sample(*lat, *done, *in_w, *ok, 3_000_000);
                one.add(&smp);
                locals[*task].record(smp, &[], &[], None, now);
            }
            drop(locals);
            let merged = s.merged();
            // Every request of the window is kept, none other.
            prop_assert_eq!(merged.requests.len(), reqs.iter().filter(|r| r.2).count());
            prop_assert_eq!(merged.issued, one.issued);
            prop_assert_eq!(merged.ok, one.ok);
            prop_assert_eq!(merged.errors, one.errors);
            prop_assert_eq!(&merged.status_codes, &one.status_codes);
            prop_assert_eq!(merged.completed_in_window, one.completed_in_window);
            prop_assert_eq!(stats(&merged.latency), stats(&one.latency));
            prop_assert_eq!(stats(&merged.ttfb), stats(&one.ttfb));
            prop_assert_eq!(merged.series_points(3), one.series_points(3));
            prop_assert_eq!(&merged.early, &one.early);
            // Three significant digits: the p99 is within 0.1% of the exact one.
            let mut lats: Vec<u64> = reqs.iter().filter(|r| r.2 && r.3).map(|r| r.0).collect();
            if !lats.is_empty() {
                lats.sort_unstable();
                let rank = ((0.99 * lats.len() as f64).ceil() as usize).max(1) - 1;
                let exact = lats[rank] as f64;
                let got = merged.latency.value_at_quantile(0.99) as f64;
                prop_assert!(got >= exact && got <= exact * 1.001 + 1.0, "p99 {} vs exact {}", got, exact);
            }
        }
    }

    #[test]
    fn window_accounting() {
        let mut r = Recorder::new();
        r.add(&sample(1000, -5, false, true, 1_000_000)); // warm-up request done before the window
        r.add(&sample(1000, 10, false, true, 1_000_000)); // issued in warm-up, completed in the window
        r.add(&sample(2000, 500_000, true, true, 1_000_000));
        r.add(&sample(3000, 1_200_000, true, true, 1_000_000)); // issued in the window, completed after it
        r.add(&sample(3000, 900_000, true, false, 1_000_000));
        assert_eq!(r.issued, 3);
        assert_eq!(r.ok, 2);
        assert_eq!(r.completed_in_window, 2);
        assert_eq!(r.latency.len(), 2);
        assert_eq!(r.series_points(1)[0].throughput_rps, 2.0);
        assert_eq!(r.series_points(1)[0].errors, 1);
        // The warm-up request that completed before the window, in second 1 of the level.
        assert_eq!(r.early.iter().map(|e| e.ok).collect::<Vec<_>>(), vec![0, 1]);
    }
}
