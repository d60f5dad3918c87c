//! What Ray's metrics settings cost: for Ray's defaults (10 s reports, Serve's coarse latency
//! buckets), 1 s reports alone, and 1 s reports with the fine buckets (deploy's default), one
//! local cluster each (baseline variant, the features suite's unary app, 1 replica), in turn:
//! the cluster's CPU by role while idle, then under a closed-loop load, and the client's
//! throughput. The figures behind docs/results-schema.md ("Server view").
//!
//! cargo run -p deploy --example metrics_cost -- [IDLE_S] [LOAD_S] [USERS]   (default 30 30 4)
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::time::Duration;

use deploy::{
    AppCatalog, Backend, DeployRequest, LocalOptions, MetricsOptions, Project, ServerView, Variant,
};

mod common;

/// The requests: a POST echo.
const SPEC: &str = "protocol = 'http'\nmethod = 'POST'\npath = '/echo'\nbody_size = 1024";

async fn load(target: &deploy::Target, users: usize, duration: Duration) -> u64 {
    common::closed_loop(target, SPEC, users, duration).await
}

fn describe(what: &str, view: &ServerView) {
    let Some(cpu) = &view.cpu else { return };
    let mut roles: Vec<(&String, f64)> = cpu.roles.iter().map(|(k, r)| (k, r.cores)).collect();
    roles.sort_by(|a, b| b.1.total_cmp(&a.1));
    let top: Vec<String> = roles.iter().take(6).map(|(k, c)| format!("{k} {c:.3}")).collect();
    println!(
        "  {what}: cluster {:.3} cores over {:.1} s (machine {:.2} of {} busy); {}",
        cpu.total_cores,
        view.window_s,
        cpu.machine.busy_s / view.window_s,
        cpu.machine.cpus,
        top.join(", ")
    );
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let idle = Duration::from_secs(args.first().copied().unwrap_or(30));
    let busy = Duration::from_secs(args.get(1).copied().unwrap_or(30));
    let users = args.get(2).copied().unwrap_or(4) as usize;
    let project = Project::discover();
    let catalog = AppCatalog::load(&project.apps_file("features"))?;
    let apps = catalog.select(&["unary"], "1replica", &Default::default())?;
    let configs = [
        ("Ray defaults (10 s, coarse buckets)", MetricsOptions::ray_defaults()),
        (
            "1 s reports, coarse buckets",
            MetricsOptions { report_interval_ms: Some(1000), latency_buckets_ms: None },
        ),
        ("1 s reports, fine buckets (default)", MetricsOptions::default()),
    ];
    for (name, metrics) in configs {
        let mut options = LocalOptions::for_project(&project);
        options.metrics = metrics;
        let backend = Backend::Local(options);
        let request = DeployRequest { variant: Variant::baseline(), apps: apps.clone(), manifest_path: None };
        let deployment = backend.deploy(&request, &|l: &str| eprintln!("{l}")).await?;
        let observer = deployment.observer()?;
        println!("{name}:");
        // Let start-up work settle, then measure idle.
        tokio::time::sleep(Duration::from_secs(15)).await;
        let a = observer.snapshot().await?;
        tokio::time::sleep(idle).await;
        let b = observer.snapshot().await?;
        describe("idle", &a.delta(&b));
        load(deployment.target(), users, Duration::from_secs(3)).await;
        let c = observer.snapshot().await?;
        let n = load(deployment.target(), users, busy).await;
        let d = observer.snapshot().await?;
        let view = c.delta(&d).with_client_requests(n);
        println!(
            "  load: {users} users, {:.0} requests/s; cluster {:.2} CPU ms per request",
            n as f64 / view.window_s,
            view.cpu.as_ref().and_then(|c| c.total_ms_per_request).unwrap_or(f64::NAN)
        );
        describe("load", &view);
        deployment.shutdown().await?;
    }
    Ok(())
}
