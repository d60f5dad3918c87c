//! Does collecting the server's view move the client's figures? One local cluster (a variant of
//! the features suite, its unary app in 1 replica), a closed-loop load of USERS users, and
//! ROUNDS pairs of equal windows, one with the suite's two snapshots (taken as the window starts
//! and as it ends, as `suite` does) and one without, alternated in ABBA order; printed: each
//! window's throughput, the median of the paired ratios (with / without) and their range, and
//! what one snapshot costs this process (wall time and CPU time). The figures behind
//! docs/benchmarks.md ("What collecting the server's view costs").
//!
//! cargo run --release -p deploy --example observe_overhead -- [VARIANT] [ROUNDS] [WINDOW_S] [USERS]
//! (default: all_on 8 8 16)
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::time::{Duration, Instant};

use deploy::{AppCatalog, Backend, DeployRequest, LocalOptions, Project, VariantSet};

mod common;

/// The requests: a POST echo.
const SPEC: &str =
    "protocol = 'http'\nmethod = 'POST'\npath = '/echo'\nbody_size = 10240\nexpect = { echo = true }";

async fn load(target: &deploy::Target, users: usize, duration: Duration) -> u64 {
    common::closed_loop(target, SPEC, users, duration).await
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let variant = args.first().cloned().unwrap_or_else(|| "all_on".to_owned());
    let num = |i: usize, d: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    let (rounds, window, users) = (num(1, 8), Duration::from_secs(num(2, 8)), num(3, 16) as usize);
    let project = Project::discover();
    let catalog = AppCatalog::load(&project.apps_file("features"))?;
    let variants = VariantSet::load(&project.variants_file("features"))?;
    let apps = catalog.select(&["unary"], "1replica", &Default::default())?;
    let request = DeployRequest { variant: variants.get(&variant)?.clone(), apps, manifest_path: None };
    let deployment = Backend::Local(LocalOptions::for_project(&project))
        .deploy(&request, &|l: &str| eprintln!("{l}"))
        .await?;
    let observer = deployment.observer()?;
    let target = deployment.target().clone();
    load(&target, users, Duration::from_secs(5)).await;

    // What one snapshot costs this process.
    // The view between two snapshots counts this process's CPU (`machine.this_process_s`): ten
    // snapshots taken between them are what it shows.
    let first = observer.snapshot().await?;
    let t0 = Instant::now();
    for _ in 0..10 {
        observer.snapshot().await?;
    }
    let wall = t0.elapsed().as_secs_f64() / 10.0;
    let last = observer.snapshot().await?;
    let cpu = first.delta(&last).cpu.map_or(f64::NAN, |c| c.machine.this_process_s / 10.0);
    println!("one snapshot: {:.1} ms wall, {:.1} ms CPU of this process", wall * 1e3, cpu * 1e3);

    let mut ratios = Vec::new();
    for round in 0..rounds {
        let mut rps = [0.0f64; 2];
        let order: [bool; 2] = if round % 2 == 0 { [true, false] } else { [false, true] };
        for with in order {
            let start = with.then(|| {
                let o = observer.clone();
                tokio::spawn(async move { o.snapshot().await })
            });
            let t = Instant::now();
            let n = load(&target, users, window).await;
            let rate = n as f64 / t.elapsed().as_secs_f64();
            if let Some(start) = start {
                let a = start.await??;
                let b = observer.snapshot().await?;
                let view = a.delta(&b).with_client_requests(n);
                assert!(view.cpu.is_some(), "no CPU view");
            }
            rps[usize::from(!with)] = rate;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let ratio = rps[0] / rps[1];
        println!("round {}: with {:.1} rps, without {:.1} rps, ratio {ratio:.3}", round + 1, rps[0], rps[1]);
        ratios.push(ratio);
    }
    ratios.sort_by(f64::total_cmp);
    let median = (ratios[(ratios.len() - 1) / 2] + ratios[ratios.len() / 2]) / 2.0;
    println!(
        "{variant}, {users} users, {rounds} pairs of {} s windows: with / without median {median:.3} (range {:.3}-{:.3})",
        window.as_secs(),
        ratios[0],
        ratios[ratios.len() - 1]
    );
    deployment.shutdown().await?;
    Ok(())
}
