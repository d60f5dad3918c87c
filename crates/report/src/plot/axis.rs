//! Axes with readable ticks: logarithmic when the data spans a factor of ten or more (ticks at
//! 1, 2, 5 x 10^k), linear otherwise (ticks at steps of 1, 2 or 5 x 10^k). Charts are drawn in
//! "axis space" (log10 of the value on a log axis) with the ticks given explicitly, so log and
//! linear axes share one chart type.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};

/// A linear coordinate in axis space with explicit ticks (bold) and grid lines (light), so one
/// chart type serves log and linear axes; labels come from the mesh's label formatter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ticked {
    range: Range<f64>,
    ticks: Vec<f64>,
    minor: Vec<f64>,
}

impl Ticked {
    /// `range`, `ticks` and `minor` in axis space.
    pub fn new(range: Range<f64>, ticks: Vec<f64>, minor: Vec<f64>) -> Self {
        Self { range, ticks, minor }
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let span = self.range.end - self.range.start;
        if span == 0.0 {
            return limit.0;
        }
        let frac = (value - self.range.start) / span;
        limit.0 + (frac * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() { self.minor.clone() } else { self.ticks.clone() }
    }

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}

/// One axis of a chart.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Axis {
    /// Logarithmic?
    pub log: bool,
    /// The lowest value shown.
    pub lo: f64,
    /// The highest value shown.
    pub hi: f64,
}

impl Axis {
    /// An axis that shows all `values` (positive values only on a log axis) with some room.
    /// `from_zero`: a linear axis starts at zero.
    pub fn fit(values: &[f64], from_zero: bool) -> Self {
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        let positive: Vec<f64> = finite.iter().copied().filter(|v| *v > 0.0).collect();
        let min = positive.iter().copied().fold(f64::INFINITY, f64::min);
        let max = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if !(min.is_finite() && max.is_finite() && max > 0.0) {
            return Self { log: false, lo: 0.0, hi: 1.0 };
        }
        if max / min >= 10.0 {
            let span = (max / min).log10();
            let pad = 10f64.powf((span * 0.06).max(0.08));
            Self { log: true, lo: min / pad, hi: max * pad }
        } else {
            let lo_data = if from_zero { 0.0 } else { finite.iter().copied().fold(f64::INFINITY, f64::min) };
            let span = (max - lo_data).max(max * 0.05);
            let lo = if from_zero { 0.0 } else { (lo_data - span * 0.1).max(0.0) };
            Self { log: false, lo, hi: max + span * 0.1 }
        }
    }

    /// Widens the top of the axis by `fraction` of its span (room for a legend or labels).
    pub fn with_headroom(mut self, fraction: f64) -> Self {
        if self.log {
            self.hi *= 10f64.powf((self.hi / self.lo).log10() * fraction);
        } else {
            self.hi += (self.hi - self.lo) * fraction;
        }
        self
    }

    /// Value -> axis space.
    pub fn axis_t(&self, v: f64) -> f64 {
        if self.log { v.max(1e-12).log10() } else { v }
    }

    /// Axis space -> value.
    pub fn value_of(&self, t: f64) -> f64 {
        if self.log { 10f64.powf(t) } else { t }
    }

    /// The range in axis space.
    pub fn range_t(&self) -> Range<f64> {
        self.axis_t(self.lo)..self.axis_t(self.hi)
    }

    /// The chart coordinate of this axis, with its ticks and (log axes) light grid lines.
    pub fn coord(&self) -> Ticked {
        Ticked::new(
            self.range_t(),
            self.ticks().into_iter().map(|v| self.axis_t(v)).collect(),
            self.minor_ticks().into_iter().map(|v| self.axis_t(v)).collect(),
        )
    }

    /// Whether `v` can be shown on this axis.
    pub fn shows(&self, v: f64) -> bool {
        v.is_finite() && (!self.log || v > 0.0)
    }

    /// The labelled ticks (values).
    pub fn ticks(&self) -> Vec<f64> {
        if self.log {
            let mut ticks = log_ticks(self.lo, self.hi, &[1.0, 2.0, 5.0]);
            if ticks.len() > 9 {
                ticks = log_ticks(self.lo, self.hi, &[1.0]);
            }
            if ticks.len() < 3 {
                ticks = log_ticks(self.lo, self.hi, &[1.0, 1.5, 2.0, 3.0, 5.0, 7.0]);
            }
            ticks
        } else {
            let step = nice_step((self.hi - self.lo) / 6.0);
            let mut ticks = Vec::new();
            let mut v = (self.lo / step).ceil() * step;
            while v <= self.hi + step * 1e-9 {
                ticks.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
                v += step;
            }
            ticks
        }
    }

    /// Faint grid lines between the ticks of a log axis (2..9 x 10^k).
    pub fn minor_ticks(&self) -> Vec<f64> {
        if !self.log {
            return Vec::new();
        }
        let major = self.ticks();
        log_ticks(self.lo, self.hi, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0])
            .into_iter()
            .filter(|v| !major.iter().any(|m| (m / v - 1.0).abs() < 1e-9))
            .collect()
    }

    /// A tick label: `0.5`, `20`, `1k`, `2.5k`, `1M`.
    pub fn format(v: f64) -> String {
        let a = v.abs();
        let trim = |s: String| {
            if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
        };
        if a >= 1e6 {
            format!("{}M", trim(format!("{:.2}", v / 1e6)))
        } else if a >= 1e3 {
            format!("{}k", trim(format!("{:.2}", v / 1e3)))
        } else if a >= 1.0 || a == 0.0 {
            trim(format!("{v:.2}"))
        } else {
            trim(format!("{v:.3}"))
        }
    }
}

fn log_ticks(lo: f64, hi: f64, multipliers: &[f64]) -> Vec<f64> {
    let mut out = Vec::new();
    let start = lo.log10().floor() as i32;
    let end = hi.log10().ceil() as i32;
    for k in start..=end {
        for m in multipliers {
            let v = m * 10f64.powi(k);
            if v >= lo * (1.0 - 1e-9) && v <= hi * (1.0 + 1e-9) {
                out.push(v);
            }
        }
    }
    out
}

/// The nice step (1, 2, 2.5 or 5 x 10^k) nearest above `raw`.
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let nice = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 2.5 {
        2.5
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_ranges_get_log_axes_with_round_ticks() {
        let a = Axis::fit(&[4.0, 12.0, 160.0, 570.0], false);
        assert!(a.log);
        let ticks = a.ticks();
        assert!(ticks.contains(&10.0) && ticks.contains(&100.0), "{ticks:?}");
        assert!(ticks.iter().all(|t| *t >= a.lo && *t <= a.hi));
    }

    #[test]
    fn narrow_ranges_get_linear_axes() {
        let a = Axis::fit(&[463.0, 908.0], true);
        assert!(!a.log);
        assert_eq!(a.lo, 0.0);
        let ticks = a.ticks();
        assert!(ticks.len() >= 4 && ticks.len() <= 10, "{ticks:?}");
    }

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(Axis::format(1000.0), "1k");
        assert_eq!(Axis::format(2500.0), "2.5k");
        assert_eq!(Axis::format(20.0), "20");
        assert_eq!(Axis::format(0.5), "0.5");
        assert_eq!(Axis::format(1_500_000.0), "1.5M");
    }
}
