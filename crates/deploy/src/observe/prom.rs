//! The Prometheus text exposition format (version 0.0.4, what Ray's metrics agent and HAProxy's
//! `prometheus-exporter` serve), parsed into samples with their labels, and histogram families
//! put back together from their `_bucket`/`_sum`/`_count` series.
//!
//! Only what a scrape needs: `# TYPE` lines (other comments are skipped), samples with labels
//! (escapes `\\`, `\"`, `\n` in values), values including `+Inf`, `-Inf` and `NaN`, and an
//! optional timestamp, which is ignored.

use std::collections::BTreeMap;

use super::hist::Histogram;

/// The labels of one series, sorted by name.
pub type Labels = BTreeMap<String, String>;

/// What a `# TYPE` line says a family is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// A monotonic counter.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Cumulative buckets (`_bucket{le=...}`), `_sum` and `_count`.
    Histogram,
    /// Quantiles computed by the client, `_sum` and `_count`.
    Summary,
    /// Anything else (`untyped`).
    Untyped,
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series' name as written (e.g. `ray_x_bucket`).
    pub name: String,
    /// Its labels.
    pub labels: Labels,
    /// Its value.
    pub value: f64,
}

/// A line of a scrape that is not valid exposition text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}: {text:?}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
    /// The line (at most 120 characters of it).
    pub text: String,
}

/// A parsed scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exposition {
    /// Every sample, in the order of the text.
    pub samples: Vec<Sample>,
    /// Family name -> kind, from `# TYPE` lines.
    pub kinds: BTreeMap<String, MetricKind>,
}

impl Exposition {
    /// Parses exposition text.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let mut out = Exposition::default();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            let fail = |message: &str| ParseError {
                line: i + 1,
                message: message.to_owned(),
                text: raw.chars().take(120).collect(),
            };
            if line.is_empty() {
                continue;
            }
            if let Some(comment) = line.strip_prefix('#') {
                let mut words = comment.split_whitespace();
                if words.next() == Some("TYPE") {
                    let name = words.next().ok_or_else(|| fail("TYPE without a metric name"))?;
                    let kind = match words.next() {
                        Some("counter") => MetricKind::Counter,
                        Some("gauge") => MetricKind::Gauge,
                        Some("histogram") => MetricKind::Histogram,
                        Some("summary") => MetricKind::Summary,
                        Some(_) => MetricKind::Untyped,
                        None => return Err(fail("TYPE without a type")),
                    };
                    out.kinds.insert(name.to_owned(), kind);
                }
                continue;
            }
            out.samples.push(parse_sample(line).map_err(|m| fail(&m))?);
        }
        Ok(out)
    }

    /// The samples of series `name` (exact name, e.g. `ray_x_total`).
    pub fn series<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| s.name == name)
    }

    /// The histogram family `name` (without `_bucket`), one [`Histogram`] per label set (the
    /// labels without `le`). Series without a `+Inf` bucket are left out.
    pub fn histograms(&self, name: &str) -> Vec<(Labels, Histogram)> {
        let bucket = format!("{name}_bucket");
        let sum = format!("{name}_sum");
        let count = format!("{name}_count");
        #[derive(Default)]
        struct Parts {
            buckets: Vec<(f64, f64)>,
            sum: f64,
            count: f64,
        }
        let mut by_labels: BTreeMap<Labels, Parts> = BTreeMap::new();
        for s in &self.samples {
            if s.name == bucket {
                let mut labels = s.labels.clone();
                let Some(le) = labels.remove("le").and_then(|v| parse_value(&v)) else {
                    continue;
                };
                by_labels.entry(labels).or_default().buckets.push((le, s.value));
            } else if s.name == sum {
                by_labels.entry(s.labels.clone()).or_default().sum = s.value;
            } else if s.name == count {
                by_labels.entry(s.labels.clone()).or_default().count = s.value;
            }
        }
        by_labels
            .into_iter()
            .filter_map(|(labels, p)| {
                Histogram::from_cumulative(&p.buckets, p.sum, p.count).map(|h| (labels, h))
            })
            .collect()
    }
}

/// `name{labels} value [timestamp]`.
fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(|c: char| c == '{' || c.is_whitespace()).unwrap_or(line.len());
    let name = &line[..name_end];
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        return Err("a sample must start with a metric name".to_owned());
    }
    let mut rest = &line[name_end..];
    let mut labels = Labels::new();
    if let Some(after) = rest.strip_prefix('{') {
        let (parsed, tail) = parse_labels(after)?;
        labels = parsed;
        rest = tail;
    }
    let mut words = rest.split_whitespace();
    let value = words.next().ok_or("a sample without a value")?;
    let value = parse_value(value).ok_or_else(|| format!("{value:?} is not a number"))?;
    if let Some(ts) = words.next()
        && ts.parse::<i64>().is_err()
    {
        return Err(format!("{ts:?} is not a timestamp"));
    }
    if words.next().is_some() {
        return Err("more than a value and a timestamp after the labels".to_owned());
    }
    Ok(Sample { name: name.to_owned(), labels, value })
}

/// The labels after `{`, up to and including `}`; returns them and the text after `}`.
fn parse_labels(mut s: &str) -> Result<(Labels, &str), String> {
    let mut labels = Labels::new();
    loop {
        s = s.trim_start();
        if let Some(rest) = s.strip_prefix('}') {
            return Ok((labels, rest));
        }
        let eq = s.find('=').ok_or("a label without `=`")?;
        let key = s[..eq].trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("{key:?} is not a label name"));
        }
        s = s[eq + 1..].trim_start();
        s = s.strip_prefix('"').ok_or("a label value must be quoted")?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err("a label value without its closing quote".to_owned()),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => return Err("a label value ends in `\\`".to_owned()),
                },
                Some((_, c)) => value.push(c),
            }
        };
        labels.insert(key.to_owned(), value);
        s = s[end + 1..].trim_start();
        if let Some(rest) = s.strip_prefix(',') {
            s = rest;
        } else if !s.starts_with('}') {
            return Err("labels must be separated by `,`".to_owned());
        }
    }
}

/// A sample value or an `le` bound: a float, `+Inf`, `-Inf` or `NaN`.
pub fn parse_value(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => s.parse::<f64>().ok().filter(|v| v.is_finite()),
    }
}
