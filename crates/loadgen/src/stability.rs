//! Whether a level's numbers describe one steady state, and when enough is known to stop: the
//! stability judgement of a finished window ([`crate::Stability`]), the convergence test of an
//! adaptive window ([`crate::Window::Adaptive`]) and the end of an automatic warm-up
//! ([`crate::Warmup::Auto`]). All work on the per-second series the recorder keeps; the
//! thresholds are the constants below, and `docs/results-schema.md` repeats them for readers of
//! result files.

use hdrhistogram::Histogram;

use crate::record::{SecondBucket, new_histogram, us_to_ms};
use crate::result::Stability;

/// The fewest points (seconds, or bins of seconds at low throughput, see [`MIN_PER_POINT`])
/// that are judged: a coefficient of variation or a slope from fewer says little. With five,
/// the throughput slope's t-test has three degrees of freedom, and the latency trends' Mann-Kendall
/// test calls a drift only when all five points move one way (so short windows, such as a
/// scout's, rarely flag a latency drift: a drift flagged there is a clear one). A shorter window
/// is *too short to judge* (`judged: false`), not unstable.
pub const MIN_POINTS: usize = 5;

/// A stretch of whole seconds in which nothing completed is a stall when the window's mean rate
/// would have completed at least this many requests in it (by chance, at that rate, the
/// probability of none is below e^-20): the server stopped, whatever the rest of the window did.
/// The stretch counts only where it is longer than the window's median latency: requests slower
/// than a second that were sent together (an LLM's users at the start of a window without
/// warm-up) finish together, and leave that long between them by nature, while a stalled server's
/// other requests keep the median short. Slow streams (an LLM answering in 10 s at one user) are
/// far below it either way.
pub const STALL_EXPECTED: f64 = 20.0;

/// Completions a point should hold on average. Counting whole requests in a second gives a
/// point a noise of about `1/sqrt(n)` of its value (45% at 5 requests a second, 14% at 50): at
/// lower throughput, consecutive seconds are grouped into bins of that many completions, so that
/// counting noise alone stays well under [`CV_MAX`].
pub const MIN_PER_POINT: f64 = 50.0;

/// Above this coefficient of variation of per-point throughput (standard deviation / mean) the
/// level is unstable: its throughput swung by a quarter of itself from second to second, so
/// its mean is not one steady state (a healthy server under steady load stays within a few
/// percent).
pub const CV_MAX: f64 = 0.25;

/// Above this relative change of throughput over the window (a least-squares line through the
/// points, from its value at the window's start to its value at the end, over the mean) the level
/// is unstable: the server got faster or slower while it was measured. Counted only when the slope
/// is also significant (its t statistic beyond the two-sided 95% quantile), so that the noise of a
/// few points is not taken for a drift.
pub const TREND_MAX: f64 = 0.15;

/// The same for per-point latency, its median and its p99 each (and a change under
/// [`P99_SLACK_MS`] is never a drift), along a robust line: the Theil-Sen slope, significant by
/// the Mann-Kendall test, so that one slow second is not taken for a drift. Latency moves more
/// than throughput from second to second, so the limit is wider; a latency that rose by a quarter over the window is a drift (a queue
/// that builds, a leak) whatever the throughput did: in an open loop, whose throughput is the
/// arrival rate while the server keeps up, latency is the only sign. The median is the steadier
/// sign; the p99 of a second rests on its slowest few requests and is judged too, for a tail that
/// grows alone.
pub const LATENCY_TREND_MAX: f64 = 0.25;

/// An adaptive window's batch means: about this many batches (see [`crate::Window::Adaptive`]).
pub const BATCHES: usize = 10;

/// An adaptive window's p99 halves must each have at least this many successful requests: the
/// p99 of fewer is their maximum.
pub const MIN_P99_REQUESTS: u64 = 100;

/// Two p99s closer than this (ms) agree whatever the tolerance: scheduling noise of the client,
/// the server and the operating system on a busy machine.
pub const P99_SLACK_MS: f64 = 1.0;

/// An automatic warm-up looks at the last this many complete seconds.
pub const WARMUP_POINTS: usize = 3;

/// An automatic warm-up ends when each of throughput and mean latency over the last
/// [`WARMUP_POINTS`] seconds is within this fraction of its mean over them, or within
/// `2/sqrt(n)` when `n` completions a second make counting noisier than that.
pub const WARMUP_TOLERANCE: f64 = 0.10;

/// A warm-up is still going on while throughput rises (or mean latency falls) through all of the
/// last [`WARMUP_POINTS`] seconds by more than this fraction of the mean.
pub const WARMUP_RISE: f64 = 0.02;

/// The two-sided 95% quantile of Student's t with `df` degrees of freedom.
pub(crate) fn t975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
        2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
        2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => TABLE[df - 1],
        _ => {
            // Cornish-Fisher expansion around the normal quantile (within 1e-3 beyond 30).
            let z: f64 = 1.959_964;
            let d = df as f64;
            z + (z.powi(3) + z) / (4.0 * d) + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * d * d)
        }
    }
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

/// Sample standard deviation (n - 1).
fn sd(x: &[f64]) -> f64 {
    let m = mean(x);
    (x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (x.len() as f64 - 1.0)).sqrt()
}

/// Coefficient of variation, `None` for a zero mean or fewer than two points.
fn cv(x: &[f64]) -> Option<f64> {
    let m = mean(x);
    (x.len() >= 2 && m > 0.0).then(|| sd(x) / m)
}

/// A least-squares line through `x` against 0, 1, 2, ...: the relative change over all the points
/// (slope x points / mean) and whether the slope is significant at 95%.
fn trend(x: &[f64]) -> Option<(f64, bool)> {
    let k = x.len();
    let m = mean(x);
    if k < 3 || m <= 0.0 {
        return None;
    }
    let tm = (k as f64 - 1.0) / 2.0;
    let sxx: f64 = (0..k).map(|i| (i as f64 - tm).powi(2)).sum();
    let slope = x.iter().enumerate().map(|(i, v)| (i as f64 - tm) * (v - m)).sum::<f64>() / sxx;
    let sse: f64 = x.iter().enumerate().map(|(i, v)| (v - (m + slope * (i as f64 - tm))).powi(2)).sum();
    let se = (sse / (k as f64 - 2.0) / sxx).sqrt();
    let significant = if se > 0.0 { (slope / se).abs() > t975(k - 2) } else { slope != 0.0 };
    Some((slope * k as f64 / m, significant))
}

/// A robust line through `x` against 0, 1, 2, ... for latency, whose per-point quantiles are
/// heavy-tailed (one slow second, a pause of the client or of the machine, sets that second's
/// p99 several times higher): the Theil-Sen slope (the median of the slopes between every two
/// points) as a relative change over all the points (slope x points / mean, as [`trend`]), and
/// whether the Mann-Kendall test finds a monotonic trend at 95% (normal approximation with the
/// correction for ties and for continuity). One outlying point moves neither much, where it
/// tilts a least-squares line through a few points by a large, significant-looking amount.
fn robust_trend(x: &[f64]) -> Option<(f64, bool)> {
    let k = x.len();
    let m = mean(x);
    if k < 3 || m <= 0.0 {
        return None;
    }
    let mut slopes = Vec::with_capacity(k * (k - 1) / 2);
    let mut s = 0i64;
    for i in 0..k {
        for j in i + 1..k {
            slopes.push((x[j] - x[i]) / (j - i) as f64);
            s += match x[j].partial_cmp(&x[i]) {
                Some(std::cmp::Ordering::Greater) => 1,
                Some(std::cmp::Ordering::Less) => -1,
                _ => 0,
            };
        }
    }
    slopes.sort_by(f64::total_cmp);
    let n = slopes.len();
    let slope = if n % 2 == 1 { slopes[n / 2] } else { (slopes[n / 2 - 1] + slopes[n / 2]) / 2.0 };
    // Variance of S under no trend, less what tied values take away.
    let mut sorted = x.to_vec();
    sorted.sort_by(f64::total_cmp);
    let ties: f64 = sorted
        .chunk_by(|a, b| a == b)
        .map(|g| g.len() as f64)
        .filter(|&t| t > 1.0)
        .map(|t| t * (t - 1.0) * (2.0 * t + 5.0))
        .sum();
    let kf = k as f64;
    let var = (kf * (kf - 1.0) * (2.0 * kf + 5.0) - ties) / 18.0;
    let significant = var > 0.0 && (s.abs() as f64 - 1.0).max(0.0) / var.sqrt() > 1.959_964;
    Some((slope * kf / m, significant))
}

/// The relative half-width of the 95% confidence interval of the mean of `x` (per-second
/// throughput) by batch means: `x` is cut into `k` batches of `m = max(1, n / BATCHES)`
/// consecutive values (the earliest `n - k m` left out), and Student's t with `k - 1` degrees of
/// freedom is applied to the batch means. `None` with fewer than two batches or a zero mean.
pub(crate) fn half_width(x: &[f64]) -> Option<f64> {
    let n = x.len();
    let m = (n / BATCHES).max(1);
    let k = n / m;
    if k < 2 {
        return None;
    }
    let used = &x[n - k * m..];
    let batches: Vec<f64> = used.chunks(m).map(mean).collect();
    let mu = mean(&batches);
    (mu > 0.0).then(|| t975(k - 1) * sd(&batches) / (k as f64).sqrt() / mu)
}

fn merged<'a>(seconds: impl IntoIterator<Item = &'a SecondBucket>) -> Histogram<u64> {
    let mut h = new_histogram(2);
    for s in seconds {
        if let Some(b) = &s.hist {
            // Histograms with identical bounds always merge.
            let _ = h.add(b);
        }
    }
    h
}

fn pct(x: f64) -> String {
    format!("{:.0}%", x.abs() * 100.0)
}

/// Judges the whole seconds of a window (`seconds`, each its successful completions and their
/// latencies).
pub(crate) fn judge(seconds: &[SecondBucket]) -> Stability {
    let n = seconds.len();
    let total: u64 = seconds.iter().map(|s| s.ok).sum();
    let throughput: Vec<f64> = seconds.iter().map(|s| s.ok as f64).collect();
    let mut st = Stability {
        seconds: n as u64,
        seconds_per_point: 1,
        points: 0,
        throughput_cv: None,
        throughput_trend: None,
        throughput_half_width: half_width(&throughput),
        p50_trend: None,
        p99_cv: None,
        p99_trend: None,
        judged: false,
        stable: true,
        reasons: Vec::new(),
    };
    // A stall is judged first: a window too short or too slow for the other measures may still
    // hold seconds in which the server did nothing at all.
    let per_second = if n > 0 { total as f64 / n as f64 } else { 0.0 };
    let mut longest = 0usize;
    let mut run = 0usize;
    for s in seconds {
        run = if s.ok == 0 { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    // Whole seconds that requests of the window's median latency leave silent by nature.
    let median_s = merged(seconds).value_at_quantile(0.5) as f64 / 1e6;
    let excess = longest.saturating_sub(median_s.floor() as usize) as f64;
    if total > 0 && excess * per_second >= STALL_EXPECTED {
        st.judged = true;
        st.stable = false;
        st.reasons.push(format!(
            "nothing completed for {longest} s of the window (its median latency is {median_s:.1} s), where its mean \
             rate ({per_second:.1}/s) would have completed about {:.0}: the server stalled",
            excess * per_second
        ));
        return st;
    }
    if n < MIN_POINTS {
        st.reasons
            .push(format!("too short to judge: {n} whole seconds in the window, {MIN_POINTS} are needed"));
        return st;
    }
    if total == 0 {
        st.reasons.push("too short to judge: nothing completed in the window's whole seconds".to_owned());
        return st;
    }
    let bin = ((MIN_PER_POINT / per_second).ceil() as usize).max(1);
    let k = n / bin;
    st.seconds_per_point = bin as u64;
    st.points = k as u64;
    if k < MIN_POINTS {
        let need = if bin == 1 {
            format!("{MIN_POINTS} are needed")
        } else {
            format!(
                "{MIN_POINTS} points of {MIN_PER_POINT:.0} completions ({} s at {per_second:.1} req/s) are needed",
                MIN_POINTS * bin
            )
        };
        st.reasons.push(format!("too short to judge: {n} whole seconds in the window, {need}"));
        return st;
    }
    // The latest k bins (the earliest seconds that do not fill a bin are left out).
    let used = &seconds[n - k * bin..];
    let points: Vec<f64> =
        used.chunks(bin).map(|c| c.iter().map(|s| s.ok).sum::<u64>() as f64 / bin as f64).collect();
    let hists: Vec<Histogram<u64>> = used.chunks(bin).map(merged).filter(|h| !h.is_empty()).collect();
    let p50s: Vec<f64> = hists.iter().map(|h| us_to_ms(h.value_at_quantile(0.5))).collect();
    let p99s: Vec<f64> = hists.iter().map(|h| us_to_ms(h.value_at_quantile(0.99))).collect();
    st.judged = true;
    st.throughput_cv = cv(&points);
    if let Some(c) = st.throughput_cv
        && c > CV_MAX
    {
        st.reasons.push(format!(
            "throughput varies by {} from {} to {} (coefficient of variation; over {} is not one steady state)",
            pct(c),
            unit(bin),
            unit(bin),
            pct(CV_MAX)
        ));
    }
    if let Some((t, significant)) = trend(&points) {
        st.throughput_trend = Some(t);
        if significant && t.abs() > TREND_MAX {
            st.reasons.push(format!(
                "throughput {} {} over the window (least-squares trend; more than {} is a drift)",
                if t < 0.0 { "fell" } else { "rose" },
                pct(t),
                pct(TREND_MAX)
            ));
        }
    }
    if p99s.len() >= MIN_POINTS {
        st.p99_cv = cv(&p99s);
        for (name, values, field) in [("median", &p50s, &mut st.p50_trend), ("p99", &p99s, &mut st.p99_trend)]
        {
            let Some((t, significant)) = robust_trend(values) else { continue };
            *field = Some(t);
            // A change by less than the slack is scheduling noise, not a drift.
            let change_ms = t.abs() * mean(values);
            if significant && t.abs() > LATENCY_TREND_MAX && change_ms > P99_SLACK_MS {
                st.reasons.push(format!(
                    "{name} latency {} {} over the window (robust trend; more than {} is a drift)",
                    if t < 0.0 { "fell" } else { "rose" },
                    pct(t),
                    pct(LATENCY_TREND_MAX)
                ));
            }
        }
    }
    st.stable = st.reasons.is_empty();
    st
}

fn unit(bin: usize) -> String {
    if bin == 1 { "second".to_owned() } else { format!("{bin}-second bin") }
}

/// Whether the seconds of an adaptive window so far have converged (see
/// [`crate::Window::Adaptive`]).
pub(crate) fn converged(seconds: &[SecondBucket], rel_half_width: f64, p99_tolerance: f64) -> bool {
    let st = judge(seconds);
    if !(st.judged && st.stable) {
        return false;
    }
    if st.throughput_half_width.is_none_or(|hw| hw > rel_half_width) {
        return false;
    }
    let half = seconds.len() / 2;
    let (a, b) = (merged(&seconds[..half]), merged(&seconds[half..]));
    if a.len() < MIN_P99_REQUESTS || b.len() < MIN_P99_REQUESTS {
        return false;
    }
    let (a, b) = (us_to_ms(a.value_at_quantile(0.99)), us_to_ms(b.value_at_quantile(0.99)));
    (a - b).abs() <= P99_SLACK_MS || (a - b).abs() <= p99_tolerance * a.max(b)
}

/// One second of a warm-up: successful completions and the sum of their latencies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct EarlySecond {
    pub ok: u64,
    pub latency_sum_us: u64,
}

/// Whether a warm-up whose last complete seconds are `seconds` has settled (see
/// [`crate::Warmup::Auto`]).
pub(crate) fn settled(seconds: &[EarlySecond]) -> bool {
    if seconds.len() < WARMUP_POINTS {
        return false;
    }
    let last = &seconds[seconds.len() - WARMUP_POINTS..];
    if last.iter().any(|s| s.ok == 0) {
        return false;
    }
    let throughput: Vec<f64> = last.iter().map(|s| s.ok as f64).collect();
    let latency: Vec<f64> = last.iter().map(|s| s.latency_sum_us as f64 / s.ok as f64).collect();
    let fewest = last.iter().map(|s| s.ok).min().unwrap_or(1) as f64;
    let tolerance = WARMUP_TOLERANCE.max(2.0 / fewest.sqrt());
    let flat = |x: &[f64]| {
        let m = mean(x);
        m > 0.0 && x.iter().all(|v| (v - m).abs() <= tolerance * m)
    };
    let rising = |x: &[f64]| {
        let m = mean(x);
        x.windows(2).all(|w| w[1] > w[0]) && x[x.len() - 1] - x[0] > WARMUP_RISE * m
    };
    let falling = |x: &[f64]| {
        let m = mean(x);
        x.windows(2).all(|w| w[1] < w[0]) && x[0] - x[x.len() - 1] > WARMUP_RISE * m
    };
    flat(&throughput) && flat(&latency) && !rising(&throughput) && !falling(&latency)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seconds with these throughputs, every request taking `latency_ms(i)`.
    fn seconds(ok: &[u64], latency_ms: impl Fn(usize) -> f64) -> Vec<SecondBucket> {
        ok.iter()
            .enumerate()
            .map(|(i, &n)| {
                let mut h = new_histogram(2);
                h.record_n((latency_ms(i) * 1000.0) as u64, n).unwrap_or_else(|e| panic!("{e}"));
                SecondBucket { ok: n, errors: 0, events: 0, hist: (n > 0).then_some(h) }
            })
            .collect()
    }

    #[test]
    fn t_quantiles_match_the_table_and_continue_smoothly() {
        assert_eq!(t975(1), 12.706);
        assert_eq!(t975(10), 2.228);
        assert!((t975(31) - 2.040).abs() < 2e-3);
        assert!((t975(60) - 2.000).abs() < 2e-3);
        assert!((t975(1000) - 1.962).abs() < 2e-3);
        assert!((2..200).all(|d| t975(d) < t975(d - 1)));
    }

    #[test]
    fn a_stall_is_unstable_even_where_the_window_is_too_slow_to_judge_otherwise() {
        // A replica killed mid-window: 80 requests a second, then three seconds of nothing
        // (2-second points of 50 completions would need 10 s: too short for the other measures).
        let s = judge(&seconds(&[80, 88, 2, 0, 0, 0], |_| 9.0));
        assert!(s.judged && !s.stable, "{s:?}");
        assert!(s.reasons[0].contains("nothing completed for 3 s"), "{s:?}");
        // One user on 10-second streams: most seconds are empty by nature.
        let slow = judge(&seconds(&[0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0], |_| 10_000.0));
        assert!(slow.stable, "{slow:?}");
        // A fast, steady window with one empty second (a GC pause) is not a stall either... at
        // 5 requests a second; at 1,000 a second it is.
        assert!(judge(&seconds(&[5, 6, 0, 5, 6, 5], |_| 5.0)).stable);
        assert!(!judge(&seconds(&[1000, 1000, 0, 1000, 1000, 1000], |_| 5.0)).stable);
    }

    #[test]
    fn slow_requests_sent_together_are_not_a_stall() {
        // 32 LLM users sent together at the start of a window without warm-up: 11 s before the
        // first of them finishes, then they finish together, every 11-12 s (2.1 a second on
        // average, so 11 silent seconds would be about 23 missing completions).
        let mut ok = vec![0u64; 45];
        for i in [11, 23, 34] {
            ok[i] = 32;
        }
        let s = judge(&seconds(&ok, |_| 11_200.0));
        assert!(s.stable, "{s:?}");
        // The same window with fast requests is a stall.
        let s = judge(&seconds(&ok, |_| 200.0));
        assert!(!s.stable, "{s:?}");
        assert!(
            s.reasons[0].contains("nothing completed for 11 s of the window (its median latency is 0.2 s)"),
            "{s:?}"
        );
        // A few requests hung through a 3 s hole do not excuse it: the median stays short.
        let mut hole = seconds(&[80, 88, 2, 0, 0, 0, 85], |_| 9.0);
        if let Some(h) = hole[6].hist.as_mut() {
            h.record_n(3_500_000, 4).unwrap_or_else(|e| panic!("{e}"));
        }
        assert!(!judge(&hole).stable);
    }

    #[test]
    fn a_steady_window_is_stable() {
        let s = judge(&seconds(&[1000, 1010, 990, 1005, 995, 1000, 1002, 998], |_| 5.0));
        assert!(s.judged && s.stable, "{s:?}");
        assert!(s.throughput_cv.is_some_and(|c| c < 0.01));
        assert!(s.throughput_trend.is_some_and(|t| t.abs() < 0.02));
        assert!(s.throughput_half_width.is_some_and(|h| h < 0.01));
        assert_eq!((s.points, s.seconds_per_point), (8, 1));
    }

    #[test]
    fn a_drift_is_named() {
        // Throughput falls from 1000 to 650 over eight seconds while latency rises.
        let ok: Vec<u64> = (0..8).map(|i| 1000 - 50 * i).collect();
        let s = judge(&seconds(&ok, |i| 5.0 + i as f64));
        assert!(s.judged && !s.stable, "{s:?}");
        assert!(s.reasons.iter().any(|r| r.contains("throughput fell")), "{:?}", s.reasons);
        assert!(s.reasons.iter().any(|r| r.contains("median latency rose")), "{:?}", s.reasons);
        assert!(s.reasons.iter().any(|r| r.contains("p99 latency rose")), "{:?}", s.reasons);
        assert!(s.throughput_trend.is_some_and(|t| t < -0.3));
    }

    #[test]
    fn one_slow_second_is_not_a_latency_drift_but_a_growing_tail_is() {
        // A steady 2 ms server at 150 requests a second whose last second's p99 is set by a
        // pause of the machine: a least-squares line through six p99s rises by far more than the
        // limit (CI saw 93%, and a significant slope); the robust line hardly moves.
        let p99s = [3.1, 2.9, 3.4, 3.0, 3.2, 9.0];
        let ls = trend(&p99s).unwrap_or_else(|| panic!("six points"));
        assert!(ls.0 > 0.8, "{ls:?}");
        let r = robust_trend(&p99s).unwrap_or_else(|| panic!("six points"));
        assert!(r.0.abs() < 0.25 && !r.1, "{r:?}");
        let mut s = seconds(&[150; 6], |_| 2.0);
        if let Some(h) = s[5].hist.as_mut() {
            h.record_n(9_000, 3).unwrap_or_else(|e| panic!("{e}"));
        }
        let st = judge(&s);
        assert!(st.judged && st.stable, "{st:?}");
        // A tail that grows second by second is a drift, with or without noise on the way.
        let grow = [3.0, 3.6, 3.3, 4.4, 5.1, 5.0, 6.2, 7.0];
        let r = robust_trend(&grow).unwrap_or_else(|| panic!("eight points"));
        assert!(r.0 > 0.5 && r.1, "{r:?}");
        let mut s = seconds(&[150; 8], |_| 2.0);
        for (i, p) in grow.iter().enumerate() {
            if let Some(h) = s[i].hist.as_mut() {
                h.record_n((p * 1000.0) as u64, 3).unwrap_or_else(|e| panic!("{e}"));
            }
        }
        let st = judge(&s);
        assert!(!st.stable && st.reasons.iter().any(|r| r.starts_with("p99 latency rose")), "{st:?}");
        // Ties (quantised latencies) and constant series: no trend, no division by zero.
        assert_eq!(robust_trend(&[4.0; 6]), Some((0.0, false)));
        assert!(robust_trend(&[4.0, 4.0, 4.0, 4.0, 4.0, 5.0]).is_some_and(|(_, sig)| !sig));
    }

    #[test]
    fn swings_are_named() {
        let s = judge(&seconds(&[1000, 300, 1000, 300, 1000, 300, 1000, 300], |_| 5.0));
        assert!(!s.stable);
        assert!(s.reasons.iter().any(|r| r.contains("varies by")), "{:?}", s.reasons);
        assert!(!s.reasons.iter().any(|r| r.contains("fell")), "no trend: {:?}", s.reasons);
    }

    #[test]
    fn short_or_slow_windows_are_too_short_to_judge_not_unstable() {
        let s = judge(&seconds(&[1000, 100, 1000], |_| 5.0));
        assert!(!s.judged && s.stable);
        assert!(s.reasons[0].starts_with("too short to judge"), "{:?}", s.reasons);
        // 5 requests a second: bins of 10 s, so 30 s are 3 points.
        let s = judge(&seconds(&[5; 30], |_| 200.0));
        assert!(!s.judged && s.stable && s.seconds_per_point == 10, "{s:?}");
        assert!(s.reasons[0].contains("50 s at 5.0 req/s"), "{:?}", s.reasons);
        // ... and 60 s are enough.
        let s = judge(&seconds(&[5; 60], |_| 200.0));
        assert!(s.judged && s.stable && s.points == 6, "{s:?}");
        assert!(!judge(&seconds(&[0; 10], |_| 1.0)).judged);
    }

    #[test]
    fn counting_noise_at_low_throughput_is_neither_a_drift_nor_a_swing() {
        use rand::SeedableRng;
        use rand_distr::{Distribution, Poisson};
        // 8 requests a second, Poisson counts: per second they vary by 35%, more than CV_MAX, and
        // a least-squares line through them moves by more than TREND_MAX now and then. In bins of
        // 7 s, with the slope's significance, few steady windows are called unstable (the t-test
        // at 95% errs on about one in twenty of those whose noise reaches TREND_MAX).
        let poisson = Poisson::new(8.0).unwrap_or_else(|e| panic!("{e}"));
        let mut flagged = Vec::new();
        for seed in 0..40 {
            let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
            let ok: Vec<u64> = (0..80).map(|_| poisson.sample(&mut rng) as u64).collect();
            let s = judge(&seconds(&ok, |_| 100.0));
            assert!(s.judged && (6..=7).contains(&s.seconds_per_point), "{s:?}");
            let raw = cv(&ok.iter().map(|&v| v as f64).collect::<Vec<_>>());
            assert!(raw.is_some_and(|c| c > CV_MAX), "per second the counts swing: {raw:?}");
            if !s.stable {
                flagged.push(s.reasons);
            }
        }
        assert!(flagged.len() <= 3, "{flagged:?}");
    }

    #[test]
    fn batch_means_grow_with_the_window() {
        assert_eq!(half_width(&[100.0]), None);
        // Constant: zero width.
        assert_eq!(half_width(&[100.0; 30]), Some(0.0));
        // Alternating seconds average out in batches of two (n = 20) but not one at a time.
        let alt: Vec<f64> = (0..20).map(|i| if i % 2 == 0 { 50.0 } else { 150.0 }).collect();
        assert_eq!(half_width(&alt), Some(0.0));
        let alt: Vec<f64> = (0..19).map(|i| if i % 2 == 0 { 50.0 } else { 150.0 }).collect();
        assert!(half_width(&alt).is_some_and(|h| h > 0.2));
    }

    #[test]
    fn convergence_needs_a_narrow_interval_and_agreeing_halves() {
        let steady = seconds(&[500, 505, 495, 500, 502, 498], |_| 4.0);
        assert!(converged(&steady, 0.05, 0.10));
        // p99 halves apart: 4 ms then 8 ms.
        let apart = seconds(&[500, 505, 495, 500, 502, 498], |i| if i < 3 { 4.0 } else { 8.0 });
        assert!(!converged(&apart, 0.05, 0.10));
        // ... unless within 1 ms.
        let close = seconds(&[500, 505, 495, 500, 502, 498], |i| if i < 3 { 0.2 } else { 0.7 });
        assert!(converged(&close, 0.05, 0.10));
        // Noisy throughput: the interval is too wide.
        let noisy = seconds(&[500, 800, 300, 650, 420, 700], |_| 4.0);
        assert!(!converged(&noisy, 0.05, 0.10));
        // Too few requests for a p99 in each half.
        let thin = seconds(&[60, 60, 60, 60, 60, 60], |_| 4.0);
        assert!(!converged(&thin[..2], 0.05, 0.10));
    }

    fn early(ok: &[u64], lat_ms: &[f64]) -> Vec<EarlySecond> {
        ok.iter()
            .zip(lat_ms)
            .map(|(&ok, &l)| EarlySecond { ok, latency_sum_us: (l * 1000.0) as u64 * ok })
            .collect()
    }

    #[test]
    fn a_warm_up_settles_when_throughput_and_latency_stop_moving() {
        assert!(settled(&early(&[60, 400, 402, 398], &[30.0, 5.0, 5.0, 5.0])));
        // Still rising.
        assert!(!settled(&early(&[60, 380, 395, 410], &[30.0, 5.0, 5.0, 5.0])));
        // Latency still falling (open loop: throughput is the arrival rate), though within 10%.
        assert!(!settled(&early(&[200, 200, 200], &[8.3, 8.0, 7.7])));
        assert!(settled(&early(&[200, 200, 200], &[8.0, 8.3, 7.7])));
        // A slow second among the three.
        assert!(!settled(&early(&[400, 60, 400], &[5.0, 30.0, 5.0])));
        assert!(!settled(&early(&[400, 400], &[5.0, 5.0])));
        assert!(!settled(&early(&[400, 0, 400], &[5.0, 5.0, 5.0])));
        // Few requests a second: counting noise widens the band (2/sqrt(9) = 67%).
        assert!(settled(&early(&[9, 14, 10], &[100.0, 110.0, 95.0])));
    }
}
