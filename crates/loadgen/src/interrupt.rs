//! Interrupts (Ctrl-C, SIGTERM) for the binaries. The library never installs a signal handler by
//! itself: every run is cancelled through a [`CancellationToken`], and a binary that wants
//! signals to cancel it calls [`watch_interrupts`] once.

use std::time::{Duration, Instant};

use crate::CancellationToken;

/// Two signals closer together than this are one interrupt: `timeout` signals the process and
/// then its process group, and a terminal's Ctrl-C reaches every process of the foreground group.
const SAME_INTERRUPT: Duration = Duration::from_secs(1);

/// Cancels `token` at the first SIGINT (Ctrl-C) or SIGTERM, then returns at the next one that
/// arrives more than a second after the first, so the caller can exit at once (the convention is
/// status 130). Until it returns, those signals no longer end the process by themselves.
///
/// If the signal handlers cannot be installed it never returns and never cancels.
///
/// ```no_run
/// # async fn run(_: loadgen::CancellationToken) {}
/// # async fn demo() {
/// let token = loadgen::CancellationToken::new();
/// tokio::spawn({
///     let token = token.clone();
///     async move {
///         loadgen::watch_interrupts(token).await;
///         std::process::exit(130); // interrupted twice: do not wait for a clean stop
///     }
/// });
/// run(token).await; // stops cleanly at the first interrupt
/// # }
/// ```
pub async fn watch_interrupts(token: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
    else {
        return std::future::pending().await;
    };
    let mut next = async || {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    };
    next().await;
    token.cancel();
    let first = Instant::now();
    loop {
        next().await;
        if first.elapsed() > SAME_INTERRUPT {
            return;
        }
    }
}
