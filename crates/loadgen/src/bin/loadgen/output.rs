//! What the CLI prints: a live progress line on stderr and a summary table on stdout.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use loadgen::{LevelResult, Phase, PhaseEnd, Progress, ScheduleInfo};

/// Prints progress: one rewritten line on a terminal, a line every 5 s otherwise.
pub struct ProgressPrinter {
    tty: bool,
    last: Mutex<Option<Instant>>,
}

impl ProgressPrinter {
    pub fn new() -> Self {
        ProgressPrinter { tty: std::io::stderr().is_terminal(), last: Mutex::new(None) }
    }

    pub fn show(&self, p: &Progress) {
        if !self.tty {
            let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if last.is_some_and(|t| t.elapsed() < Duration::from_secs(5)) && p.phase != Phase::Cooldown {
                return;
            }
            *last = Some(Instant::now());
        }
        let mut line = format!("[{}] {:<9}", p.level, p.phase.as_str());
        if let Some(r) = p.remaining {
            line.push_str(&format!(" {:>4}s left", r.as_secs()));
        }
        if let Some(s) = &p.last_second {
            line.push_str(&format!(" | {:>9.0} req/s", s.throughput_rps));
            if s.events_per_s > 0.0 {
                line.push_str(&format!(" | {:>9.0} events/s", s.events_per_s));
            }
            if let Some(p99) = s.p99_ms {
                line.push_str(&format!(" | p99 {p99:>8.2} ms"));
            }
            line.push_str(&format!(" | errors {}", s.errors));
        }
        let mut err = std::io::stderr().lock();
        let _ = if self.tty { write!(err, "\r\x1b[2K{line}") } else { writeln!(err, "{line}") };
        let _ = err.flush();
    }

    /// Ends the progress line before other output.
    pub fn clear(&self) {
        if self.tty {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
        }
    }
}

fn ended(end: PhaseEnd) -> &'static str {
    match end {
        PhaseEnd::Converged => "converged",
        PhaseEnd::Max => "reached its longest without converging",
    }
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"))
}

/// One line per level, after it finished.
pub fn level_line(r: &LevelResult, resumed: bool) -> String {
    let l = r.latency_ms;
    format!(
        "{}{}: {:.1} req/s, p50 {} ms, p99 {} ms, {} errors of {}{}",
        r.label,
        if resumed { " (kept from disk)" } else { "" },
        r.throughput_rps,
        ms(l.map(|l| l.p50)),
        ms(l.map(|l| l.p99)),
        r.counts.errors,
        r.counts.issued,
        if !r.valid {
            "  [INVALID]"
        } else if r.client.bound {
            "  [client-bound]"
        } else if r.stability.as_ref().is_some_and(|s| !s.stable) {
            "  [unstable]"
        } else {
            ""
        }
    )
}

/// The summary table.
pub fn table(results: &[LevelResult]) -> String {
    let mut out = String::new();
    let streaming = results.iter().any(|r| r.events_per_s.is_some());
    out.push_str(&format!(
        "{:<10} {:>6} {:>9} {:>11}{} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>7}\n",
        "level",
        "users",
        "rate",
        "req/s",
        if streaming { format!(" {:>11}", "events/s") } else { String::new() },
        "mean ms",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms",
        "errors",
        "status"
    ));
    for r in results {
        let l = r.latency_ms;
        let rate = match &r.schedule {
            ScheduleInfo::Closed { .. } => "-".to_owned(),
            ScheduleInfo::Open { rate_rps, .. } => format!("{rate_rps}"),
        };
        out.push_str(&format!(
            "{:<10} {:>6} {:>9} {:>11.1}{} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>7}\n",
            r.label,
            r.concurrency(),
            rate,
            r.throughput_rps,
            if streaming {
                format!(" {:>11}", r.events_per_s.map_or_else(|| "-".to_owned(), |e| format!("{e:.0}")))
            } else {
                String::new()
            },
            ms(l.map(|l| l.mean)),
            ms(l.map(|l| l.p50)),
            ms(l.map(|l| l.p90)),
            ms(l.map(|l| l.p99)),
            ms(l.map(|l| l.p999)),
            ms(l.map(|l| l.max)),
            r.counts.errors,
            if !r.valid {
                "INVALID"
            } else if r.client.bound {
                "BOUND"
            } else if r.stability.as_ref().is_some_and(|s| !s.stable) {
                "UNSTABLE"
            } else {
                "ok"
            },
        ));
    }
    for r in results {
        if let Some(why) = &r.invalid_reason {
            out.push_str(&format!("  {}: INVALID, never a peak: {why}\n", r.label));
        }
        if let Some(s) = r.stability.as_ref().filter(|s| !s.stable) {
            out.push_str(&format!(
                "  {}: UNSTABLE, not one steady state: {}\n",
                r.label,
                s.reasons.join("; ")
            ));
        }
        let p = &r.phases;
        if let Some(end) = p.warmup_end {
            out.push_str(&format!("  {}: warm-up {:.0} s ({})\n", r.label, p.warmup_s, ended(end)));
        }
        if let Some(end) = p.window_end {
            let hw = r.stability.as_ref().and_then(|s| s.throughput_half_width);
            let ci = hw.map_or_else(String::new, |h| format!(", throughput ±{:.1}% (95%)", h * 100.0));
            out.push_str(&format!("  {}: window {:.0} s ({}){ci}\n", r.label, p.window_s, ended(end)));
        }
        if r.counts.unfinished > 0 {
            let oldest = r.unfinished_age_ms.map_or(0.0, |a| a.max / 1000.0);
            out.push_str(&format!(
                "  {}: {} requests unfinished when the level stopped waiting (oldest {oldest:.1} s)\n",
                r.label, r.counts.unfinished
            ));
        }
        for reason in &r.client.reasons {
            out.push_str(&format!("  {}: client may be the bottleneck: {reason}\n", r.label));
        }
        for note in &r.client.notes {
            out.push_str(&format!("  {}: note: {note}\n", r.label));
        }
        if r.counts.errors > 0 {
            let classes: Vec<String> =
                r.errors.iter().filter(|(_, n)| **n > 0).map(|(c, n)| format!("{c} {n}")).collect();
            out.push_str(&format!("  {}: errors: {}\n", r.label, classes.join(", ")));
            for s in r.error_samples.iter().take(3) {
                out.push_str(&format!("    e.g. {s}\n"));
            }
        }
        if r.first_event_ms.is_some() || r.goodput_rps.is_some() {
            let mut parts = Vec::new();
            if let Some(f) = r.first_event_ms {
                parts.push(format!("first event (TTFT) p50 {:.2} p99 {:.2} ms", f.p50, f.p99));
            }
            if let Some(t) = r.tpot_ms {
                parts.push(format!("TPOT p50 {:.2} p99 {:.2} ms", t.p50, t.p99));
            }
            if let Some(i) = r.itl_ms {
                parts.push(format!("ITL p50 {:.2} p99 {:.2} ms", i.p50, i.p99));
            }
            if let Some(g) = r.event_gap_ms {
                parts.push(format!("gap between events p50 {:.2} p99 {:.2} ms", g.p50, g.p99));
            }
            if let Some(t) = r.tokens {
                let out_tps = t.output as f64 / r.phases.window_s.max(f64::MIN_POSITIVE);
                parts.push(format!("output {out_tps:.0} tok/s"));
                if t.counted_from_chunks > 0 {
                    parts.push(format!(
                        "{} requests without usage (tokens counted from chunks)",
                        t.counted_from_chunks
                    ));
                }
            }
            if let Some(g) = r.goodput_rps {
                parts.push(format!("goodput {g:.1} req/s"));
            }
            out.push_str(&format!("  {}: {}\n", r.label, parts.join(" | ")));
        }
        if r.counts.reconnects > 0 {
            out.push_str(&format!("  {}: {} connections re-opened\n", r.label, r.counts.reconnects));
        }
    }
    out
}
