//! Values people type on command lines and in configuration files, parsed in one place for every
//! binary of the project (loadgen, the suites, report): durations (`60s`, `1m30s`, `250ms`), p99
//! SLAs per workload (`unary=200ms`, `streaming=0.7s`, `unary=200` for milliseconds),
//! concurrency lists per workload (`unary=1,2,4`), phase lengths (`10s`, `5s..60s`, `auto`) and
//! fractions (`5%`, `0.05`). Each is a [`FromStr`] type, so that a command line parser rejects bad
//! input before anything starts.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The longest duration accepted anywhere (a level, a warm-up, a timeout): 30 days.
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);

/// The most virtual users one level may have.
pub const MAX_USERS: u32 = 1_000_000;

/// A duration as people write it: `60s`, `1m30s`, `250ms`, `2h`; `0` or `0s` is zero. At most
/// [`MAX_DURATION`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span(pub Duration);

impl FromStr for Span {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t == "0" {
            return Ok(Span(Duration::ZERO));
        }
        let d = humantime::parse_duration(t)
            .map_err(|e| format!("{s:?} is not a duration like 60s, 1m30s or 250ms ({e})"))?;
        if d > MAX_DURATION {
            return Err(format!("{s:?} is longer than the 30 days allowed"));
        }
        Ok(Span(d))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl From<Span> for Duration {
    fn from(s: Span) -> Duration {
        s.0
    }
}

/// A phase's length as people write it: `10s` (fixed), `5s..60s` (adaptive, between the two),
/// or `auto` (adaptive, between the phase's default bounds): see [`crate::Window::Adaptive`] and
/// [`crate::Warmup::Auto`]. Each duration is a [`Span`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhaseSpan {
    /// A fixed length.
    Fixed(Duration),
    /// Adaptive, at least the first and at most the second.
    Between(Duration, Duration),
    /// Adaptive with the defaults.
    Auto,
}

impl FromStr for PhaseSpan {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t == "auto" {
            return Ok(PhaseSpan::Auto);
        }
        let Some((min, max)) = t.split_once("..") else {
            return t.parse::<Span>().map(|d| PhaseSpan::Fixed(d.0));
        };
        let (min, max) = (min.parse::<Span>()?.0, max.parse::<Span>()?.0);
        if max.is_zero() {
            return Err(format!("{s:?}: the longest must be longer than zero"));
        }
        if min > max {
            return Err(format!("{s:?}: the shortest is longer than the longest"));
        }
        Ok(PhaseSpan::Between(min, max))
    }
}

impl fmt::Display for PhaseSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PhaseSpan::Fixed(d) => write!(f, "{}", Span(*d)),
            PhaseSpan::Between(a, b) => write!(f, "{}..{}", Span(*a), Span(*b)),
            PhaseSpan::Auto => f.write_str("auto"),
        }
    }
}

/// A fraction above 0 and at most 1, written `5%` or `0.05`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Fraction(pub f64);

impl FromStr for Fraction {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let (num, scale) = match t.strip_suffix('%') {
            Some(n) => (n.trim(), 0.01),
            None => (t, 1.0),
        };
        let v = num
            .parse::<f64>()
            .map(|v| v * scale)
            .map_err(|_| format!("{s:?} is not a fraction like 5% or 0.05"))?;
        if !(v.is_finite() && v > 0.0 && v <= 1.0) {
            return Err(format!("{s:?} must be above 0 and at most 100%"));
        }
        Ok(Fraction(v))
    }
}

impl fmt::Display for Fraction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0 * 100.0)
    }
}

/// Milliseconds from `200ms`, `0.7s`, `1500us` or a bare number (milliseconds); positive and
/// finite.
pub fn parse_millis(v: &str) -> Option<f64> {
    let v = v.trim();
    let (num, scale) = if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix("us").or_else(|| v.strip_suffix("µs")) {
        (n, 1e-3)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1e3)
    } else {
        (v, 1.0)
    };
    let ms = num.trim().parse::<f64>().ok()? * scale;
    (ms.is_finite() && ms > 0.0 && ms <= MAX_DURATION.as_secs_f64() * 1e3).then_some(ms)
}

/// A p99 latency objective for one workload: `WORKLOAD=DURATION` (`unary=200ms`,
/// `streaming=0.7s`; a bare number is milliseconds: `unary=200`).
#[derive(Debug, Clone, PartialEq)]
pub struct SlaArg {
    /// The workload it applies to.
    pub workload: String,
    /// The p99 objective in milliseconds.
    pub p99_ms: f64,
}

impl FromStr for SlaArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (workload, value) =
            s.split_once('=').ok_or_else(|| format!("{s:?} must look like WORKLOAD=200ms"))?;
        let workload = workload.trim();
        if workload.is_empty() {
            return Err(format!("{s:?}: the workload name is empty"));
        }
        let p99_ms = parse_millis(value)
            .ok_or_else(|| format!("{s:?}: {value:?} is not a positive duration like 200ms or 0.7s"))?;
        Ok(SlaArg { workload: workload.to_owned(), p99_ms })
    }
}

/// A list of virtual-user counts for one workload's sweep: `NAME=1,2,4,8`. Every count is at least
/// 1 and at most [`MAX_USERS`]; none repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepArg {
    /// The sweep (workload) it replaces.
    pub name: String,
    /// The user counts, in the order given.
    pub users: Vec<u32>,
}

/// Parses `1,2,4,8` into user counts (each 1..=[`MAX_USERS`], no repeats).
pub fn parse_users(list: &str) -> Result<Vec<u32>, String> {
    let mut users = Vec::new();
    for part in list.split(',') {
        let n: u32 =
            part.trim().parse().map_err(|_| format!("{:?} is not a whole number of users", part.trim()))?;
        if n == 0 || n > MAX_USERS {
            return Err(format!("{n} users: must be between 1 and {MAX_USERS}"));
        }
        if users.contains(&n) {
            return Err(format!("{n} users is listed twice"));
        }
        users.push(n);
    }
    Ok(users)
}

impl FromStr for SweepArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (name, list) = s.split_once('=').ok_or_else(|| format!("{s:?} must look like unary=1,2,4"))?;
        let name = name.trim();
        if name.is_empty() {
            return Err(format!("{s:?}: the sweep name is empty"));
        }
        let users = parse_users(list).map_err(|e| format!("{s:?}: {e}"))?;
        Ok(SweepArg { name: name.to_owned(), users })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!("60s".parse::<Span>().map(|s| s.0), Ok(Duration::from_secs(60)));
        assert_eq!("1m30s".parse::<Span>().map(|s| s.0), Ok(Duration::from_secs(90)));
        assert_eq!("0".parse::<Span>().map(|s| s.0), Ok(Duration::ZERO));
        assert!("9999999999y".parse::<Span>().is_err());
        assert!("31days".parse::<Span>().is_err());
        assert!("fast".parse::<Span>().is_err());
        assert!("-1s".parse::<Span>().is_err());
    }

    #[test]
    fn phase_spans() {
        let secs = Duration::from_secs;
        assert_eq!("10s".parse(), Ok(PhaseSpan::Fixed(secs(10))));
        assert_eq!(" auto ".parse(), Ok(PhaseSpan::Auto));
        assert_eq!("5s..1m".parse(), Ok(PhaseSpan::Between(secs(5), secs(60))));
        assert_eq!("0..30s".parse(), Ok(PhaseSpan::Between(Duration::ZERO, secs(30))));
        assert_eq!("5s..5s".parse(), Ok(PhaseSpan::Between(secs(5), secs(5))));
        for bad in ["", "..", "5s..", "..5s", "10s..5s", "0..0", "1s..31d", "auto..5s", "5s...6s", "fast"] {
            assert!(bad.parse::<PhaseSpan>().is_err(), "{bad}");
        }
        for s in ["10s", "5s..1m", "auto"] {
            let p: PhaseSpan = s.parse().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(p.to_string().parse(), Ok(p));
        }
    }

    #[test]
    fn fractions() {
        assert_eq!("5%".parse(), Ok(Fraction(0.05)));
        assert_eq!("0.05".parse(), Ok(Fraction(0.05)));
        assert_eq!("100 %".parse(), Ok(Fraction(1.0)));
        for bad in ["0", "0%", "-5%", "101%", "1.5", "NaN", "inf", "five", "%", ""] {
            assert!(bad.parse::<Fraction>().is_err(), "{bad}");
        }
    }

    #[test]
    fn slas_take_units_or_milliseconds() {
        let a: SlaArg = "streaming=0.7s".parse().unwrap_or_else(|e| panic!("{e}"));
        assert!((a.p99_ms - 700.0).abs() < 1e-9);
        let a: SlaArg = "streaming=700".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((a.workload.as_str(), a.p99_ms), ("streaming", 700.0));
        let a: SlaArg = "unary=200ms".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.p99_ms, 200.0);
        for bad in ["unary", "=200", "unary=fast", "unary=-5ms", "unary=0", "unary=NaN", "unary=inf"] {
            assert!(bad.parse::<SlaArg>().is_err(), "{bad}");
        }
    }

    #[test]
    fn sweeps() {
        let s: SweepArg = "unary=1, 8,64".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((s.name.as_str(), s.users), ("unary", vec![1, 8, 64]));
        for bad in ["unary", "foo=", "unary=1,x", "unary=0", "unary=1,1", "=1", "unary=2000000"] {
            assert!(bad.parse::<SweepArg>().is_err(), "{bad}");
        }
    }
}
