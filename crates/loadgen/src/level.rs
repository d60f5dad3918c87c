//! What one level of load is: who sends when (the [`Schedule`]) and which part of the level is
//! measured (the [`Phases`]).

use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::SmallRng;
use rand_distr::{Distribution, Exp, Gamma};

use crate::{Error, Result};

/// Longest measured window, warm-up, cool-down and request timeout: 30 days (what the suites'
/// configuration accepts too), far from any overflow of the clock.
const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);
/// Most requests in a request-count window.
const MAX_REQUESTS: u64 = 1_000_000_000_000;

/// Who sends requests, and when.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// Closed loop: `users` virtual users, each with a connection of its own, each sending its
    /// next request as soon as its previous one finished, after `think_time`.
    Closed {
        /// Number of virtual users (and connections).
        users: u32,
        /// Pause between a response and the user's next request.
        think_time: Duration,
    },
    /// Open loop: requests arrive at `rate` per second whatever the server does; at most
    /// `max_in_flight` are outstanding (one connection each). Latency counts from the scheduled
    /// arrival, so a queue that builds up shows in the numbers.
    Open {
        /// Arrivals per second.
        rate: f64,
        /// How arrivals are spaced.
        arrival: Arrival,
        /// Most requests (and connections) in flight at once.
        max_in_flight: u32,
    },
}

impl Schedule {
    /// Closed loop with `users` users and no think time.
    pub fn closed(users: u32) -> Self {
        Schedule::Closed { users, think_time: Duration::ZERO }
    }

    /// Open loop at `rate` requests/s.
    pub fn open(rate: f64, arrival: Arrival, max_in_flight: u32) -> Self {
        Schedule::Open { rate, arrival, max_in_flight }
    }

    /// The concurrency figure results report: users, or the in-flight cap.
    pub fn concurrency(&self) -> u32 {
        match self {
            Schedule::Closed { users, .. } => *users,
            Schedule::Open { max_in_flight, .. } => *max_in_flight,
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        match self {
            Schedule::Closed { users, think_time } => {
                if *users == 0 {
                    return Err(Error::config("concurrency must be at least 1"));
                }
                if *users > 1_000_000 {
                    return Err(Error::config(format!("concurrency {users} is over 1,000,000")));
                }
                if *think_time > Duration::from_secs(3600) {
                    return Err(Error::config("think time over one hour"));
                }
            }
            Schedule::Open { rate, arrival, max_in_flight } => {
                if !rate.is_finite() || *rate <= 0.0 {
                    return Err(Error::config(format!("rate must be a positive number, got {rate:e}")));
                }
                if *rate < 0.001 {
                    return Err(Error::config(format!("rate {rate:e}/s is under one arrival per 1000 s")));
                }
                if let Arrival::Gamma { burstiness } = arrival
                    && !(burstiness.is_finite() && *burstiness > 0.0)
                {
                    return Err(Error::config(format!(
                        "burstiness must be a positive number, got {burstiness}"
                    )));
                }
                if *rate > 10_000_000.0 {
                    return Err(Error::config(format!("rate {rate:e}/s is over 10,000,000/s")));
                }
                if *max_in_flight == 0 {
                    return Err(Error::config("max in flight must be at least 1"));
                }
            }
        }
        Ok(())
    }
}

/// How open-loop arrivals are spaced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arrival {
    /// Evenly: one every `1/rate` seconds.
    Constant,
    /// A Poisson process: exponentially distributed gaps with mean `1/rate`.
    Poisson,
    /// Gamma-distributed gaps with mean `1/rate` and shape `burstiness` (as `vllm bench serve`):
    /// 1 is Poisson, below 1 burstier, above 1 more even.
    Gamma {
        /// The shape of the gamma distribution.
        burstiness: f64,
    },
}

impl Arrival {
    /// The name used in results and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Arrival::Constant => "constant",
            Arrival::Poisson => "poisson",
            Arrival::Gamma { .. } => "gamma",
        }
    }
}

/// Generates the gaps between open-loop arrivals (seeded, so a run can be repeated).
#[derive(Debug)]
pub(crate) struct Arrivals {
    mean_gap_s: f64,
    exp: Option<Exp<f64>>,
    gamma: Option<Gamma<f64>>,
    rng: SmallRng,
}

impl Arrivals {
    pub(crate) fn new(rate: f64, arrival: Arrival, seed: u64) -> Result<Self> {
        let (mut exp, mut gamma) = (None, None);
        match arrival {
            Arrival::Constant => {}
            Arrival::Poisson => {
                exp = Some(Exp::new(rate).map_err(|e| Error::config(format!("Poisson rate {rate}: {e}")))?);
            }
            Arrival::Gamma { burstiness } => {
                if !burstiness.is_finite() || burstiness <= 0.0 {
                    return Err(Error::config(format!(
                        "burstiness must be a positive number, got {burstiness}"
                    )));
                }
                gamma = Some(
                    Gamma::new(burstiness, 1.0 / (rate * burstiness))
                        .map_err(|e| Error::config(format!("gamma arrivals: {e}")))?,
                );
            }
        }
        Ok(Arrivals { mean_gap_s: 1.0 / rate, exp, gamma, rng: SmallRng::seed_from_u64(seed) })
    }

    /// The next gap in seconds.
    pub(crate) fn next_gap_s(&mut self) -> f64 {
        match (&self.exp, &self.gamma) {
            (Some(exp), _) => exp.sample(&mut self.rng),
            (None, Some(g)) => g.sample(&mut self.rng),
            (None, None) => self.mean_gap_s,
        }
    }
}

/// How long the measured window lasts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Window {
    /// A fixed time.
    Duration(Duration),
    /// Until this many requests have been issued inside it.
    Requests(u64),
    /// Until the answer is known: the window ends once its throughput and p99 have converged,
    /// never before `min`, at `max` at the latest. The result says which
    /// ([`crate::PhasesInfo::window_end`]) and how long the window really was.
    ///
    /// Convergence is judged once a second, half a second before a whole second of the window,
    /// from the whole seconds so far (at least [`crate::stability::MIN_POINTS`] of them); when
    /// they have converged the window ends at that next whole second (announced ahead, so that
    /// which requests are measured is decided exactly). Converged means all of:
    ///
    /// - the 95% confidence interval of the mean per-second throughput is narrower than
    ///   `rel_half_width` of the mean on either side. The interval comes from *batch means*:
    ///   consecutive seconds are grouped into about ten batches (one second each while there are
    ///   fewer than 20) and Student's t is applied to the batch means. Per-second throughput is
    ///   autocorrelated (a pause, a garbage collection or a queue spills over into the next
    ///   seconds), which makes the plain standard error of per-second samples too small; batches
    ///   longer than that correlation are nearly independent, so their means give an honest
    ///   interval, and the batches grow with the window.
    /// - the p99 latency of the first and of the second half of the seconds so far agree: they
    ///   differ by at most `p99_tolerance` of the larger one (or by under 1 ms, scheduling noise),
    ///   each half with at least 100 successful requests (a p99 of fewer is the maximum).
    /// - the seconds so far are not unstable by the level's own stability judgement
    ///   ([`crate::Stability`]): a window never converges on a drift.
    Adaptive {
        /// The shortest the window may be.
        min: Duration,
        /// The longest the window may be.
        max: Duration,
        /// Target half-width of the 95% confidence interval of mean throughput, relative to the
        /// mean (0.05: within 5%).
        rel_half_width: f64,
        /// Largest relative difference of the p99 of the two halves of the window (0.10).
        p99_tolerance: f64,
    },
}

impl Window {
    /// The default target half-width of an adaptive window's throughput interval: 5%.
    pub const DEFAULT_REL_HALF_WIDTH: f64 = 0.05;
    /// The default tolerance between the p99 of the two halves of an adaptive window: 10%.
    pub const DEFAULT_P99_TOLERANCE: f64 = 0.10;
    /// The longest an adaptive window lasts by default ([`Window::auto`]): 60 s.
    pub const DEFAULT_ADAPTIVE_MAX: Duration = Duration::from_secs(60);

    /// An adaptive window of at most 60 s with the default targets. (It cannot end before 6 s:
    /// convergence is judged on at least [`crate::stability::MIN_POINTS`] whole seconds.)
    pub fn auto() -> Self {
        Self::adaptive(Duration::ZERO, Self::DEFAULT_ADAPTIVE_MAX)
    }

    /// An adaptive window between `min` and `max` with the default targets (throughput within
    /// 5%, p99 halves within 10%).
    ///
    /// ```
    /// use std::time::Duration;
    /// use loadgen::Window;
    /// let w = Window::adaptive(Duration::from_secs(5), Duration::from_secs(60));
    /// assert!(matches!(w, Window::Adaptive { rel_half_width: 0.05, .. }));
    /// ```
    pub fn adaptive(min: Duration, max: Duration) -> Self {
        Window::Adaptive {
            min,
            max,
            rel_half_width: Self::DEFAULT_REL_HALF_WIDTH,
            p99_tolerance: Self::DEFAULT_P99_TOLERANCE,
        }
    }

    fn validate(&self) -> Result<()> {
        match *self {
            Window::Duration(d) if d.is_zero() => {
                Err(Error::config("the measured window must be longer than zero"))
            }
            Window::Duration(d) if d > MAX_DURATION => {
                Err(Error::config("the measured window must be at most 30 days"))
            }
            Window::Requests(0) => Err(Error::config("the measured window must hold at least one request")),
            Window::Requests(n) if n > MAX_REQUESTS => {
                Err(Error::config(format!("a window of {n} requests is over 10^12")))
            }
            Window::Adaptive { min, max, rel_half_width, p99_tolerance } => {
                if max.is_zero() {
                    return Err(Error::config("the longest measured window must be longer than zero"));
                }
                if max > MAX_DURATION {
                    return Err(Error::config("the measured window must be at most 30 days"));
                }
                if min > max {
                    return Err(Error::config(format!(
                        "the shortest measured window ({min:?}) is longer than the longest ({max:?})"
                    )));
                }
                if !(rel_half_width.is_finite() && rel_half_width > 0.0 && rel_half_width <= 1.0) {
                    return Err(Error::config(format!(
                        "the convergence target must be a fraction above 0 and at most 1, got {rel_half_width}"
                    )));
                }
                if !(p99_tolerance.is_finite() && p99_tolerance > 0.0 && p99_tolerance <= 1.0) {
                    return Err(Error::config(format!(
                        "the p99 tolerance must be a fraction above 0 and at most 1, got {p99_tolerance}"
                    )));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// How long the warm-up lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Warmup {
    /// A fixed time (the default: 2 s).
    Fixed(Duration),
    /// Until the server has settled, between `min` and `max`: the warm-up ends once per-second
    /// throughput and mean latency stop moving. Judged once a second, half a second before a
    /// whole second of the level, from the last three complete seconds: each of throughput and
    /// mean latency within ±10% of its mean over them, throughput not rising and latency not
    /// falling through all three by more than 2% (still warming up); the window then starts at
    /// that next whole second. The result says which ([`crate::PhasesInfo::warmup_end`]) and how
    /// long the warm-up really was. Three seconds are the fewest that show a direction; so an
    /// automatic warm-up lasts at least 4 s.
    Auto {
        /// The shortest the warm-up may be.
        min: Duration,
        /// The longest the warm-up may be.
        max: Duration,
    },
}

impl Warmup {
    /// The longest an automatic warm-up lasts by default ([`Warmup::auto`]): 30 s.
    pub const DEFAULT_AUTO_MAX: Duration = Duration::from_secs(30);

    /// An automatic warm-up of at most 30 s.
    pub fn auto() -> Self {
        Warmup::Auto { min: Duration::ZERO, max: Self::DEFAULT_AUTO_MAX }
    }

    /// The longest the warm-up may last.
    pub fn max(&self) -> Duration {
        match *self {
            Warmup::Fixed(d) | Warmup::Auto { max: d, .. } => d,
        }
    }

    fn validate(&self) -> Result<()> {
        if self.max() > MAX_DURATION {
            return Err(Error::config("the warm-up must be at most 30 days"));
        }
        if let Warmup::Auto { min, max } = *self
            && min > max
        {
            return Err(Error::config(format!(
                "the shortest warm-up ({min:?}) is longer than the longest ({max:?})"
            )));
        }
        Ok(())
    }
}

impl From<Duration> for Warmup {
    fn from(d: Duration) -> Self {
        Warmup::Fixed(d)
    }
}

/// The phases of a level: warm-up (load, not recorded), the measured window, and cool-down
/// (no new requests; in-flight ones finish, then the level idles so the server drains before the
/// next level).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phases {
    /// Load before the window, not recorded.
    pub warmup: Warmup,
    /// The measured window.
    pub window: Window,
    /// Quiet time after the window's requests have finished.
    pub cooldown: Duration,
}

impl Default for Phases {
    fn default() -> Self {
        Phases {
            warmup: Warmup::Fixed(Duration::from_secs(2)),
            window: Window::Duration(Duration::from_secs(10)),
            cooldown: Duration::ZERO,
        }
    }
}

/// One level of a sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    /// A short name, unique in its sweep, used in file names (`c8`, `r2000`).
    pub label: String,
    /// Who sends when.
    pub schedule: Schedule,
    /// What is measured.
    pub phases: Phases,
    /// Longest a request may take before it counts as a timeout.
    pub timeout: Duration,
    /// Seed of the open-loop arrival process.
    pub seed: u64,
    /// Objectives a request must meet to count towards goodput.
    pub slo: Option<crate::Slo>,
    /// Keep a record of every request of the window in the result ([`crate::RequestRecord`]),
    /// besides the histograms (`vllm bench serve --save-detailed`). Costs memory per request.
    pub keep_requests: bool,
}

impl Level {
    /// A level with the default phases (2 s warm-up, 10 s window), a 30 s timeout and a label
    /// derived from the schedule.
    ///
    /// ```
    /// use loadgen::{Arrival, Level, Schedule};
    /// let l = Level::new(Schedule::closed(8));
    /// assert_eq!((l.label.as_str(), l.timeout.as_secs()), ("c8", 30));
    /// assert_eq!(Level::new(Schedule::open(2000.0, Arrival::Poisson, 64)).label, "r2000");
    /// assert!(Level::new(Schedule::closed(0)).validate().is_err());
    /// ```
    pub fn new(schedule: Schedule) -> Self {
        let label = match &schedule {
            Schedule::Closed { users, .. } => format!("c{users}"),
            Schedule::Open { rate, .. } => format!("r{}", fmt_rate(*rate)),
        };
        Level {
            label,
            schedule,
            phases: Phases::default(),
            timeout: Duration::from_secs(30),
            seed: 1,
            slo: None,
            keep_requests: false,
        }
    }

    /// Checks the level before anything is sent.
    pub fn validate(&self) -> Result<()> {
        self.schedule.validate()?;
        if self.label.is_empty()
            || !self.label.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(Error::config(format!(
                "level label {:?} must be non-empty ASCII letters, digits, '-', '_' or '.'",
                self.label
            )));
        }
        self.phases.window.validate()?;
        self.phases.warmup.validate()?;
        if self.phases.cooldown > MAX_DURATION {
            return Err(Error::config("the cool-down must be at most 30 days"));
        }
        if self.timeout.is_zero() {
            return Err(Error::config("the request timeout must be longer than zero"));
        }
        if self.timeout > MAX_DURATION {
            return Err(Error::config("the request timeout must be at most 30 days"));
        }
        Ok(())
    }
}

fn fmt_rate(rate: f64) -> String {
    if rate.fract() == 0.0 { format!("{rate:.0}") } else { format!("{rate}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_gaps_have_the_right_mean() {
        let mut a = Arrivals::new(1000.0, Arrival::Poisson, 7).unwrap_or_else(|e| panic!("{e}"));
        let n = 200_000;
        let mean: f64 = (0..n).map(|_| a.next_gap_s()).sum::<f64>() / n as f64;
        assert!((mean - 0.001).abs() < 0.00002, "mean gap {mean}");
    }

    #[test]
    fn gamma_gaps_have_the_right_mean_and_spread() {
        for burstiness in [0.5, 1.0, 4.0] {
            let mut a =
                Arrivals::new(100.0, Arrival::Gamma { burstiness }, 3).unwrap_or_else(|e| panic!("{e}"));
            let n = 200_000;
            let gaps: Vec<f64> = (0..n).map(|_| a.next_gap_s()).collect();
            let mean = gaps.iter().sum::<f64>() / n as f64;
            let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / n as f64;
            assert!((mean - 0.01).abs() < 0.0003, "mean {mean}");
            // Gamma(k, theta): coefficient of variation 1/sqrt(k).
            let cv = var.sqrt() / mean;
            assert!((cv - 1.0 / burstiness.sqrt()).abs() < 0.03, "cv {cv} for burstiness {burstiness}");
        }
    }

    #[test]
    fn rejects_bad_levels() {
        assert!(Level::new(Schedule::closed(0)).validate().is_err());
        assert!(Level::new(Schedule::open(0.0, Arrival::Constant, 8)).validate().is_err());
        assert!(Level::new(Schedule::open(f64::NAN, Arrival::Constant, 8)).validate().is_err());
        let mut l = Level::new(Schedule::closed(1));
        l.phases.window = Window::Duration(Duration::ZERO);
        assert!(l.validate().is_err());
        let mut l = Level::new(Schedule::closed(1));
        l.label = "a/b".into();
        assert!(l.validate().is_err());
        assert!(Level::new(Schedule::closed(4)).validate().is_ok());
        assert_eq!(Level::new(Schedule::open(2000.0, Arrival::Poisson, 8)).label, "r2000");
    }
}
