//! Deploys one variant locally and holds it until Ctrl-C, printing the target: a manual
//! tool for poking at a real cluster.
//!
//! cargo run -p deploy --example deploy_one -- VARIANT [LAYOUT] [APPS] [--suite=NAME] [--arg=APP.KEY=VALUE]... [--keep] [--hold]
//!   VARIANT  a name from suites/<suite>/configs/variants.toml (e.g. all_on)
//!   LAYOUT   a layout of its apps.toml (default: the first)
//!   APPS     comma-separated app names (default: every app of the suite)
//!   --suite  features (default), recsys, ...
//!   --arg    an application argument over apps.toml's (a profile's `app_args`), e.g.
//!            --arg=recsys.cardinality=10000 (VALUE as JSON, else as a string)
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
    let suite = flags.iter().find_map(|f| f.strip_prefix("--suite=")).unwrap_or("features");
    let variants = VariantSet::load(&project.variants_file(suite))?;
    let catalog = AppCatalog::load(&project.apps_file(suite))?;
    let variant = variants.get(positional.first().copied().unwrap_or("baseline"))?.clone();
    let first_layout = catalog.layouts.first().map_or("", |l| l.name.as_str());
    let layout = positional.get(1).copied().unwrap_or(first_layout);
    let apps: Vec<&str> = match positional.get(2) {
        Some(list) => list.split(',').collect(),
        None => catalog.apps.iter().map(|a| a.name.as_str()).collect(),
    };
    let mut options = LocalOptions::for_project(&project);
    options.keep_temp_dir = flags.contains(&"--keep");
    let mut app_args: std::collections::BTreeMap<String, serde_json::Map<String, serde_json::Value>> =
        Default::default();
    for a in flags.iter().filter_map(|f| f.strip_prefix("--arg=")) {
        let (key, value) = a.split_once('=').ok_or_else(|| format!("--arg={a}: expected APP.KEY=VALUE"))?;
        let (app, key) = key.split_once('.').ok_or_else(|| format!("--arg={a}: expected APP.KEY=VALUE"))?;
        let value =
            serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
        app_args.entry(app.to_owned()).or_default().insert(key.to_owned(), value);
    }
    let request =
        DeployRequest { variant, apps: catalog.select(&apps, layout, &app_args)?, manifest_path: None };
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
