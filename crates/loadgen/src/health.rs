//! The client's own health during a level: CPU time of this process and the scheduling lag of
//! its async runtime. A level is flagged when the client, not the server, may have set its
//! numbers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::record::{new_histogram, us_to_ms};
use crate::result::ClientHealth;

/// Above this share of its usable cores the client may be the bottleneck.
pub(crate) const CPU_LIMIT: f64 = 0.8;
/// Above this p99 scheduling lag (ms), together with a busy client (`LAG_CPU`), the client may be
/// the bottleneck; with an idle client the lag comes from other processes (a co-located server)
/// and is only noted.
pub(crate) const LAG_LIMIT_MS: f64 = 10.0;
/// The client CPU share above which a large lag counts against the client.
pub(crate) const LAG_CPU: f64 = 0.5;
/// Above this share of late sends (open loop) the client may be the bottleneck.
pub(crate) const LATE_LIMIT: f64 = 0.01;
/// Period of the lag probe.
const TICK: Duration = Duration::from_millis(10);

/// CPU time (user + system) this process has used so far.
#[allow(unsafe_code)]
pub(crate) fn process_cpu_time() -> Duration {
    // SAFETY: getrusage only writes into the zeroed struct we pass it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    if rc != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec as u32).saturating_mul(1000));
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Cores this process may run on (affinity and cgroup limits included).
pub(crate) fn usable_cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// Cores the load can use: the usable cores, or fewer when the runtime has fewer worker threads.
pub(crate) fn load_cores() -> usize {
    let workers = tokio::runtime::Handle::try_current().map_or(usize::MAX, |h| h.metrics().num_workers());
    usable_cores().min(workers.max(1))
}

/// Measures how late a periodic timer fires, while the window is open.
#[derive(Debug)]
pub(crate) struct LagProbe {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Histogram<u64>>,
}

impl LagProbe {
    pub(crate) fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut h = new_histogram(3);
            while !flag.load(Ordering::Relaxed) {
                let before = Instant::now();
                tokio::time::sleep(TICK).await;
                let lag = before.elapsed().saturating_sub(TICK);
                h.saturating_record(u64::try_from(lag.as_micros()).unwrap_or(u64::MAX).max(1));
            }
            h
        });
        LagProbe { stop, task }
    }

    pub(crate) async fn finish(self) -> Histogram<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap_or_else(|_| new_histogram(3))
    }
}

/// Judges the client's health from what was measured in the window.
pub(crate) fn judge(
    cpu_time: Duration,
    wall: Duration,
    lag: &Histogram<u64>,
    late: u64,
    sent: u64,
) -> ClientHealth {
    let cores = load_cores();
    let cpu = if wall.is_zero() { 0.0 } else { cpu_time.as_secs_f64() / (wall.as_secs_f64() * cores as f64) };
    let (lag_p99_ms, lag_max_ms) = if lag.is_empty() {
        (0.0, 0.0)
    } else {
        (us_to_ms(lag.value_at_quantile(0.99)), us_to_ms(lag.max()))
    };
    let mut reasons = Vec::new();
    let mut notes = Vec::new();
    if cpu > CPU_LIMIT {
        reasons.push(format!(
            "client CPU at {:.0}% of {cores} cores (limit {:.0}%)",
            cpu * 100.0,
            CPU_LIMIT * 100.0
        ));
    }
    if lag_p99_ms > LAG_LIMIT_MS {
        if cpu > LAG_CPU {
            reasons.push(format!(
                "client scheduling lag p99 {lag_p99_ms:.1} ms (limit {LAG_LIMIT_MS} ms) with the client at {:.0}% CPU",
                cpu * 100.0
            ));
        } else {
            notes.push(format!(
                "scheduling lag p99 {lag_p99_ms:.1} ms while the client used {:.0}% CPU: other processes (a \
                 co-located server?) kept the machine busy, and latencies include such delays",
                cpu * 100.0
            ));
        }
    }
    if sent > 0 && late as f64 / sent as f64 > LATE_LIMIT {
        reasons.push(format!(
            "{late} of {sent} sends started over 1 ms late (limit {:.0}%)",
            LATE_LIMIT * 100.0
        ));
    }
    ClientHealth { cpu, cores, lag_p99_ms, lag_max_ms, bound: !reasons.is_empty(), reasons, notes }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_grows_with_work() {
        let before = process_cpu_time();
        let mut x = 0u64;
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(50) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        assert!(process_cpu_time() > before);
    }

    #[test]
    fn flags_busy_clients() {
        let mut lag = new_histogram(3);
        let cores = load_cores() as u32;
        let h = judge(Duration::from_secs(cores.into()), Duration::from_secs(1), &lag, 0, 100);
        assert!(h.bound && h.reasons[0].contains("CPU"), "{h:?}");
        let h = judge(Duration::from_millis(10), Duration::from_secs(1), &lag, 5, 100);
        assert!(h.bound && h.reasons[0].contains("late"), "{h:?}");
        let h = judge(Duration::from_millis(10), Duration::from_secs(1), &lag, 0, 100);
        assert!(!h.bound, "{h:?}");
        // A large lag with an idle client is the machine's, noted but not held against the client.
        for _ in 0..100 {
            lag.record(30_000).unwrap_or_default();
        }
        let h = judge(Duration::from_millis(10), Duration::from_secs(1), &lag, 0, 100);
        assert!(!h.bound && h.notes[0].contains("lag"), "{h:?}");
        let h = judge(Duration::from_millis(700 * u64::from(cores)), Duration::from_secs(1), &lag, 0, 100);
        assert!(h.bound && h.reasons[0].contains("lag"), "{h:?}");
    }
}
