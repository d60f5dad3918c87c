//! Deploys one variant locally and holds it until Ctrl-C, printing the target: a manual
//! tool for poking at a real cluster.
//!
//! cargo run -p deploy --example deploy_one -- VARIANT [LAYOUT] [APPS] [--keep] [--hold]
//!   VARIANT  a name from suites/features/configs/variants.toml (e.g. all_on)
//!   LAYOUT   1replica (default) or 8replica
//!   APPS     comma-separated app names (default: unary,streaming,grpc_unary,grpc_streaming)
//!   --keep   keep the cluster's temp dir (Ray and HAProxy logs) after teardown
//!   --hold   wait for Ctrl-C before tearing down
#![allow(clippy::print_stdout, clippy::print_stderr)]

use deploy::{AppCatalog, Backend, DeployRequest, LocalOptions, Project, VariantSet};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flags: Vec<&str> = args.iter().filter(|a| a.starts_with("--")).map(String::as_str).collect();
    let positional: Vec<&str> = args.iter().filter(|a| !a.starts_with("--")).map(String::as_str).collect();
    let project = Project::discover();
    let variants = VariantSet::load(&project.variants_file("features"))?;
    let catalog = AppCatalog::load(&project.apps_file("features"))?;
    let variant = variants.get(positional.first().copied().unwrap_or("baseline"))?.clone();
    let layout = positional.get(1).copied().unwrap_or("1replica");
    let apps: Vec<&str> = positional
        .get(2)
        .copied()
        .unwrap_or("unary,streaming,grpc_unary,grpc_streaming")
        .split(',')
        .collect();
    let mut options = LocalOptions::for_project(&project);
    options.keep_temp_dir = flags.contains(&"--keep");
    let request = DeployRequest { variant, apps: catalog.select(&apps, layout)?, manifest_path: None };
    let backend = Backend::Local(options);
    let progress = |line: &str| eprintln!("{line}");
    let deployment = backend.deploy(&request, &progress).await?;
    println!("{}", serde_json::to_string_pretty(deployment.manifest())?);
    if let Some(cluster) = deployment.local() {
        println!("ray temp dir: {}", cluster.ray_temp_dir().display());
    }
    if flags.contains(&"--hold") {
        let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        eprintln!("holding; Ctrl-C tears down");
        interrupt.recv().await;
    }
    deployment.shutdown().await?;
    eprintln!("torn down");
    Ok(())
}
