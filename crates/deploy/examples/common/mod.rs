//! What the examples share: a closed-loop load without the level machinery.

use std::sync::Arc;
use std::time::{Duration, Instant};

use loadgen::Workload;

/// `users` closed-loop users sending the workload `spec` (loadgen's TOML form) to `target` for
/// `duration`; the number of successful requests.
pub async fn closed_loop(target: &deploy::Target, spec: &str, users: usize, duration: Duration) -> u64 {
    let spec: loadgen::WorkloadSpec = toml::from_str(spec).expect("spec");
    let workload = Arc::new(spec.build(&target.endpoint()).expect("workload"));
    let until = Instant::now() + duration;
    let mut tasks = Vec::new();
    for _ in 0..users {
        let w = workload.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = w.connect().await.expect("connect");
            let mut probe = loadgen::Probe::detached();
            let mut n = 0u64;
            while Instant::now() < until {
                if w.is_closed(&mut conn) {
                    conn = w.connect().await.expect("reconnect");
                }
                if w.call(&mut conn, n, &mut probe).await.is_ok() {
                    n += 1;
                }
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("user");
    }
    total
}
