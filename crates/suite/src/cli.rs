//! The body every suite binary shares, so that a suite's `main.rs` is its name, its default
//! configuration and its help text: read the configuration, check every selection and override
//! before anything starts (bad input exits 2 with one line), print the plan or run it with
//! progress on the terminal, stop cleanly on Ctrl-C or SIGTERM (the handler is installed here,
//! by the binary's call, through [`loadgen::watch_interrupts`]), and finish with the summary.
//!
//! This module is the binaries' code kept in one place: it is the only part of the library that
//! prints, and only suite binaries call it.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use deploy::{
    AnyscaleOptions, AppCatalog, Backend, ExternalOptions, LocalOptions, Project, Secret, VariantSet,
};

use loadgen::units::Span;

use crate::args::{SuiteArgs, TargetKind};
use crate::config::SuiteConfig;
use crate::error::SuiteError;
use crate::folder::{RunFolder, RunManifest, redacted_command};
use crate::pinning::Pinning;
use crate::plan::Plan;
use crate::run::{Event, Outcome, RunOptions, run};
use crate::settings::Settings;

/// What a suite binary is: its name and where its configuration lives.
#[derive(Debug, Clone, Copy)]
pub struct SuiteDef {
    /// The binary's name (`features-suite`), in messages.
    pub binary: &'static str,
    /// The configuration file, relative to the project root.
    pub config: &'static str,
}

/// Exit status of a run that finished but lost deployments on the way (they failed to come up,
/// or stopped serving mid-run): the results it has are kept, the summary says which are missing.
pub const EXIT_DEPLOYMENT_FAILED: u8 = 4;

/// Everything checked and built before a run starts.
struct Prepared {
    project: Project,
    settings: Settings,
    variants: VariantSet,
    catalog: AppCatalog,
    plan: Plan,
    pinning: Pinning,
    local: LocalOptions,
    backend: Backend,
    endpoints: std::collections::BTreeMap<String, ExternalOptions>,
    server_at: Option<ExternalOptions>,
}

fn token(var: &str) -> Option<Secret> {
    std::env::var(var).ok().filter(|t| !t.is_empty()).map(Secret::new)
}

fn url_arg(flag: &str, url: &str) -> Result<String, SuiteError> {
    deploy::check_base_url(url).map_err(|e| SuiteError::Usage(format!("{flag}: {e}")))
}

/// `VARIANT=URL` entries by variant; a plain `URL` is filed under "".
fn per_variant(
    flag: &str,
    values: &[String],
) -> Result<std::collections::BTreeMap<String, String>, SuiteError> {
    let mut map = std::collections::BTreeMap::new();
    for v in values {
        let (variant, url) = match v.split_once('=') {
            Some((variant, url)) if !variant.contains("://") && !variant.contains('/') => {
                (variant.trim(), url)
            }
            _ => ("", v.as_str()),
        };
        if map.insert(variant.to_owned(), url.trim().to_owned()).is_some() {
            return Err(SuiteError::Usage(format!(
                "{flag}: more than one URL for {}",
                if variant.is_empty() { "the deployment" } else { variant }
            )));
        }
    }
    Ok(map)
}

fn prepare(def: &SuiteDef, args: &SuiteArgs) -> Result<Prepared, SuiteError> {
    let project = Project::discover();
    let config_path = args.config.config.clone().unwrap_or_else(|| project.root.join(def.config));
    let config = SuiteConfig::load(&config_path)?;
    let settings = Settings::new(&config, args)?;
    let variants = VariantSet::load(&config.variants).map_err(SuiteError::Catalog)?;
    let catalog = AppCatalog::load(&config.apps).map_err(SuiteError::Catalog)?;
    let plan = Plan::new(&settings, &variants, &catalog)?;
    let local_target = args.target.target == TargetKind::Local;
    let pinning = Pinning::resolve(&args.pinning, local_target)?;

    let mut local = LocalOptions::for_project(&project);
    if let Some(p) = &config.python {
        local.python.use_suite_env(
            &project.root.join(&p.venv),
            &p.requirements,
            &p.install_size,
            p.min_free_gb,
        );
    }
    local.num_cpus = args.pinning.num_cpus;
    local.cpu_affinity = pinning.ray.as_deref().map(deploy::format_cpu_list);
    let t = &args.target;
    if !local_target
        && (args.pinning.ray_cpus.is_some()
            || args.pinning.client_cpus.is_some()
            || args.pinning.num_cpus.is_some())
    {
        return Err(SuiteError::Usage(
            "--ray-cpus, --client-cpus and --num-cpus apply to --target local only".into(),
        ));
    }
    let mut endpoints = std::collections::BTreeMap::new();
    let backend = match t.target {
        TargetKind::Local => Backend::Local(local.clone()),
        TargetKind::Anyscale => Backend::Anyscale(AnyscaleOptions::new(
            &project,
            std::env::temp_dir().join("servebench-anyscale"),
        )),
        TargetKind::Url => {
            let urls = per_variant("--url", &t.url)?;
            let grpc = per_variant("--grpc-url", &t.grpc_url)?;
            let external = |http: &str, grpc: Option<&String>| -> Result<ExternalOptions, SuiteError> {
                Ok(ExternalOptions {
                    http_base: url_arg("--url", http)?,
                    grpc_uri: grpc.map(|g| url_arg("--grpc-url", g)).transpose()?,
                    token: token(&t.token_env),
                    check: true,
                })
            };
            let serve: Vec<&str> = plan
                .groups()
                .filter_map(|g| match &g.subject {
                    crate::plan::Subject::Serve { variant, .. } => Some(variant.as_str()),
                    crate::plan::Subject::Server { .. } => None,
                })
                .collect();
            match urls.get("") {
                Some(url) => {
                    if urls.len() > 1 {
                        return Err(SuiteError::Usage(
                            "--url: give one URL, or VARIANT=URL for each variant".into(),
                        ));
                    }
                    if serve.len() != 1 {
                        return Err(SuiteError::Usage(format!(
                            "--target url with one URL measures one running deployment, but the selection has {}: name one with --variant (and --layout), or give VARIANT=URL for each",
                            serve.len()
                        )));
                    }
                    Backend::External(external(url, grpc.get(""))?)
                }
                None => {
                    for v in &serve {
                        let url = urls.get(*v).ok_or_else(|| {
                            SuiteError::Usage(format!("--url: no URL for variant {v} (give {v}=URL)"))
                        })?;
                        endpoints.insert((*v).to_owned(), external(url, grpc.get(*v))?);
                    }
                    if let Some(v) = urls.keys().find(|v| !serve.contains(&v.as_str())) {
                        return Err(SuiteError::Usage(format!(
                            "--url {v}=...: no selected deployment has variant {v}"
                        )));
                    }
                    Backend::Local(local.clone())
                }
            }
        }
    };
    if !t.grpc_url.is_empty() && t.target != TargetKind::Url {
        return Err(SuiteError::Usage("--grpc-url goes with --target url".into()));
    }
    let server_at = t
        .server_url
        .as_deref()
        .map(|u| {
            Ok::<_, SuiteError>(ExternalOptions {
                http_base: url_arg("--server-url", u)?,
                grpc_uri: None,
                token: token(&t.token_env),
                check: true,
            })
        })
        .transpose()?;
    Ok(Prepared { project, settings, variants, catalog, plan, pinning, local, backend, endpoints, server_at })
}

/// How long the run takes: levels and deployments, each about 40 s to stand up. Adaptive levels
/// are counted halfway between their shortest (an automatic warm-up lasts at least 4 s, an
/// adaptive window 6 s) and their longest; a request-count window as 60 s.
fn estimate(p: &Prepared) -> Duration {
    let s = &p.settings;
    let window = s.duration.unwrap_or(Duration::from_secs(60));
    let per_level = match &s.adaptive {
        None => s.warmup + window + s.cooldown,
        Some(a) => {
            let warmup = (s.warmup.max(Duration::from_secs(4)).min(a.max_warmup) + a.max_warmup) / 2;
            let window = (window.max(Duration::from_secs(6)).min(a.max_duration) + a.max_duration) / 2;
            warmup + window + s.cooldown
        }
    };
    let deploying = Duration::from_secs(40) * p.plan.deployments() as u32;
    match s.adaptive.and_then(|a| a.scout).filter(|_| p.plan.rounds == 1) {
        // Every level scouted once; about two levels per sweep measured in full.
        Some(sc) => {
            let scout = (sc.min_warmup.max(Duration::from_secs(2)) + sc.max_warmup) / 2
                + (sc.min_duration + sc.max_duration) / 2
                + s.cooldown;
            let sweeps = p.plan.groups().map(|g| g.sweeps.len()).sum::<usize>() as u32;
            let scouted = (p.plan.levels() / s.repeat.max(1) as usize) as u32;
            scout * scouted + per_level * (2 * sweeps * s.repeat).min(p.plan.levels() as u32) + deploying
        }
        None => per_level * p.plan.levels() as u32 + deploying,
    }
}

fn print_plan(p: &Prepared) {
    let s = &p.settings;
    println!(
        "{} profile {}: {} deployments in {} stage{} ({}), {} levels{}, about {} in all",
        s.suite,
        s.profile,
        p.plan.deployments(),
        p.plan.stages.len(),
        if p.plan.stages.len() == 1 { "" } else { "s" },
        if s.paired {
            "comparisons paired: both variants at once, levels alternated"
        } else {
            "one deployment at a time"
        },
        p.plan.levels(),
        match (s.repeat, p.plan.rounds) {
            (1, _) => String::new(),
            (n, 1) => format!(" ({n} repeats each, on the same deployments)"),
            (n, _) => format!(" ({n} repeats each, every repeat on fresh deployments)"),
        },
        humantime::format_duration(Duration::from_secs(estimate(p).as_secs()))
    );
    match &s.adaptive {
        Some(a) => println!(
            "  levels adaptive: warm-up {}..{} until the series stops trending, window {}..{} until throughput is within {:.0}% and p99 steady; cool-down {}",
            Span(s.warmup),
            Span(a.max_warmup),
            Span(s.duration.unwrap_or_default()),
            Span(a.max_duration),
            a.target * 100.0,
            Span(s.cooldown)
        ),
        None => println!(
            "  levels: warm-up {}, window {}, cool-down {}",
            Span(s.warmup),
            s.duration
                .map_or_else(|| format!("{} requests", s.requests.unwrap_or(0)), |d| Span(d).to_string()),
            Span(s.cooldown)
        ),
    }
    if let Some(sc) = s.adaptive.and_then(|a| a.scout) {
        if p.plan.rounds > 1 {
            println!("  no scouting pass: every repeat is measured on fresh deployments");
        } else {
            println!(
                "  scouted first: each level once (warm-up {}..{}, window {}..{} until within {:.0}%), then in full only the levels that can be the peak (--no-scout: every level in full)",
                Span(sc.min_warmup),
                Span(sc.max_warmup),
                Span(sc.min_duration),
                Span(sc.max_duration),
                sc.target * 100.0
            );
        }
    }
    for stage in &p.plan.stages {
        for (i, g) in stage.groups.iter().enumerate() {
            let sweeps: Vec<String> =
                g.sweeps.iter().map(|w| format!("{} users {:?}", w.workload, w.users)).collect();
            let lead = if i == 0 { "  " } else { "  + " };
            println!("{lead}{} for {}: {}", g.key, g.studies.join(", "), sweeps.join("; "));
        }
    }
}

/// Prints progress: a rewritten line on a terminal, a line every 10 s otherwise.
struct Printer {
    tty: bool,
    last: Mutex<Option<Instant>>,
    started: Instant,
    total_levels: usize,
    done_levels: Mutex<usize>,
}

impl Printer {
    fn line(&self, s: &str) {
        if self.tty {
            eprint!("\r\x1b[2K");
        }
        eprintln!("{s}");
    }

    fn event(&self, e: Event<'_>) {
        match e {
            Event::Deploying { groups, index, of, round: (round, rounds) } => {
                let keys: Vec<&str> = groups.iter().map(|g| g.key.as_str()).collect();
                let studies = groups.first().map(|g| g.studies.join(", ")).unwrap_or_default();
                let round = if rounds > 1 { format!(", repeat {round} of {rounds}") } else { String::new() };
                self.line(&format!(
                    "== [{index}/{of}] deploying {} (for {studies}{round})",
                    keys.join(" and ")
                ))
            }
            Event::DeployLog(l) => self.line(&format!("   {l}")),
            Event::Skipped(g) => self.line(&format!("== {}: every level is on disk, skipped", g.key)),
            Event::TornDown(groups) => {
                let keys: Vec<&str> = groups.iter().map(|g| g.key.as_str()).collect();
                self.line(&format!("== {} torn down", keys.join(" and ")))
            }
            Event::Stopped { workload, reason } => {
                self.line(&format!("   {workload}: stopped climbing: {reason}"))
            }
            Event::Failed { group, reason } => self.line(&format!("!! {}: {reason}", group.key)),
            Event::Retrying { group, workload, label, why } => self
                .line(&format!("   {} {workload} {label}: unstable ({why}); measuring it again", group.key)),
            Event::Level { group, workload, result: r, resumed } => {
                *self.done_levels.lock().unwrap_or_else(std::sync::PoisonError::into_inner) += 1;
                let thr = match r.events_per_s {
                    Some(e) => format!("{:.1} req/s, {e:.0} events/s", r.throughput_rps),
                    None => format!("{:.1} req/s", r.throughput_rps),
                };
                let p99 = r.p99_ms().map_or("-".to_owned(), |p| format!("{p:.1} ms"));
                let mut flags = String::new();
                if r.client.bound {
                    flags.push_str("  [client-bound]");
                }
                if r.error_rate() > 0.0 {
                    flags.push_str(&format!("  [{:.2}% errors]", r.error_rate() * 100.0));
                }
                self.line(&format!(
                    "   {} {workload} {}{}{}: {thr}, p99 {p99}{flags}",
                    group.key,
                    r.label,
                    if r.scout { " (scouting)" } else { "" },
                    if resumed { " (kept)" } else { "" }
                ));
            }
            Event::Progress { group, workload, progress: p } => {
                if !self.tty {
                    let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    if last.is_some_and(|t| t.elapsed() < Duration::from_secs(10)) {
                        return;
                    }
                    *last = Some(Instant::now());
                }
                let done = *self.done_levels.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let mut s = format!(
                    "   [{done}/{} levels at most, {}s] {} {workload} {} {}",
                    self.total_levels,
                    self.started.elapsed().as_secs(),
                    group.key,
                    p.level,
                    p.phase.as_str()
                );
                if let Some(r) = p.remaining {
                    s.push_str(&format!(" {}s left", r.as_secs()));
                }
                if let Some(sec) = &p.last_second {
                    s.push_str(&format!(" | {:.0} req/s", sec.throughput_rps));
                    if let Some(p99) = sec.p99_ms {
                        s.push_str(&format!(" | p99 {p99:.1} ms"));
                    }
                }
                if self.tty {
                    eprint!("\r\x1b[2K{s}");
                } else {
                    eprintln!("{s}");
                }
            }
        }
    }
}

async fn execute(
    def: &SuiteDef,
    p: Prepared,
    args: &SuiteArgs,
) -> Result<Outcome, (SuiteError, Option<std::path::PathBuf>)> {
    let results_dir =
        args.run.results_dir.clone().unwrap_or_else(|| Path::new("results").join(&p.settings.suite));
    let results_dir = p.project.root.join(results_dir);
    let folder = RunFolder::open(&results_dir, args.run.run.as_deref(), args.run.resume, &p.settings.suite)
        .map_err(|e| (e, None))?;
    let (git_revision, git_dirty) = deploy::git_revision(&p.project.root);
    let manifest = RunManifest {
        schema: "servebench.run/1",
        suite: &p.settings.suite,
        started_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        command: redacted_command(&std::env::args().collect::<Vec<_>>()),
        servebench_version: env!("CARGO_PKG_VERSION"),
        git_revision,
        git_dirty,
        machine: deploy::Machine::current(),
        target: args.target.target,
        settings: &p.settings,
        plan: &p.plan,
        cpu_pinning: &p.pinning,
    };
    folder.write_manifest(&manifest).map_err(|e| (e, Some(folder.dir.clone())))?;
    eprintln!(
        "{}: profile {}, {} deployments, {} levels, about {}; results in {}",
        def.binary,
        p.settings.profile,
        p.plan.deployments(),
        p.plan.levels(),
        humantime::format_duration(Duration::from_secs(estimate(&p).as_secs())),
        folder.dir.display()
    );
    eprintln!("{}: {}", def.binary, p.pinning.describe());

    let cancel = loadgen::CancellationToken::new();
    let watched = cancel.clone();
    let binary = def.binary;
    tokio::spawn(async move {
        loadgen::watch_interrupts(watched).await;
        eprintln!("\n{binary}: interrupted twice: exiting now (each local cluster's watchdog stops it)");
        std::process::exit(130);
    });
    let printer = Printer {
        tty: std::io::stderr().is_terminal(),
        last: Mutex::new(None),
        started: Instant::now(),
        // Scouting measures each level once more, at most.
        total_levels: match p.settings.adaptive.and_then(|a| a.scout).filter(|_| p.plan.rounds == 1) {
            Some(_) => p.plan.levels() + p.plan.levels() / p.settings.repeat.max(1) as usize,
            None => p.plan.levels(),
        },
        done_levels: Mutex::new(0),
    };
    let opts = RunOptions {
        dir: folder.dir.clone(),
        resume: args.run.resume,
        backend: p.backend,
        endpoints: p.endpoints,
        local: p.local,
        server_at: p.server_at,
        variants: p.variants,
        catalog: p.catalog,
    };
    let outcome = run(&p.settings, &p.plan, &folder.name, &opts, &cancel, &|e| printer.event(e)).await;
    if printer.tty {
        eprintln!();
    }
    if let Err(SuiteError::Interrupted) = &outcome {
        eprintln!(
            "{}: interrupted; resume with: {} --run {} --resume (plus the same selections)",
            def.binary, def.binary, folder.name
        );
    }
    // Whatever finished is worth a report.
    if let Err(e) = write_report(def, &p.settings, &folder.dir) {
        eprintln!("{}: the report could not be written: {e:#}", def.binary);
    }
    outcome.map_err(|e| (e, Some(folder.dir)))
}

/// The summary table (printed and written as Markdown) and the plots under `<dir>/report`.
#[cfg(feature = "report")]
fn write_report(def: &SuiteDef, settings: &Settings, dir: &Path) -> anyhow::Result<()> {
    let mut slas = report::Slas::none();
    for w in &settings.workloads {
        if let Some(sla) = w.sla_p99_ms {
            slas.set(&w.name, sla);
        }
    }
    let options = report::Options {
        criteria: report::Criteria { slas, max_error_rate: settings.max_error_rate, ..Default::default() },
        ..report::Options::default()
    };
    let files = report::write_report(&[dir], dir.join("report"), &options)?;
    for w in &files.warnings {
        eprintln!("report: skipped {w}");
    }
    println!("{}", std::fs::read_to_string(&files.markdown).unwrap_or_default());
    eprintln!(
        "{}: summary {} and {} plots in {}",
        def.binary,
        files.markdown.display(),
        files.all().count() - 1,
        dir.join("report").display()
    );
    Ok(())
}

/// Built without the `report` feature: says how to make the report where the results land.
#[cfg(not(feature = "report"))]
fn write_report(def: &SuiteDef, settings: &Settings, dir: &Path) -> anyhow::Result<()> {
    let slas: Vec<String> = settings
        .workloads
        .iter()
        .filter_map(|w| w.sla_p99_ms.map(|s| format!("--sla {}={s}ms", w.name)))
        .collect();
    eprintln!(
        "{}: built without the `report` feature; for the summary and plots run: \
         cargo run --release -p report -- {dir} -o {dir}/report --no-default-slas {} --max-error-rate {}",
        def.binary,
        slas.join(" "),
        settings.max_error_rate,
        dir = dir.display()
    );
    Ok(())
}

/// The whole of a suite binary after parsing its command line: exit status 0 done, 1 failed, 2
/// bad arguments or configuration, 4 finished without some deployments
/// ([`EXIT_DEPLOYMENT_FAILED`]), 130 interrupted.
pub fn main(def: &SuiteDef, args: SuiteArgs) -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut prepared = match prepare(def, &args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{}: {e}", def.binary);
            return ExitCode::from(e.exit_code());
        }
    };
    if args.run.plan {
        print_plan(&prepared);
        return ExitCode::SUCCESS;
    }
    // The client's CPUs are set before the runtime starts, so that its threads inherit them.
    if let Some(warning) = prepared.pinning.pin_client() {
        eprintln!("{}: warning: {warning}", def.binary);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{}: starting the runtime: {e}", def.binary);
            return ExitCode::from(1);
        }
    };
    let outcome = rt.block_on(execute(def, prepared, &args));
    // Do not wait for blocking work left behind by an interrupt (a first-use pip install).
    rt.shutdown_timeout(Duration::from_secs(2));
    match outcome {
        Ok(o) if o.failed.is_empty() => ExitCode::SUCCESS,
        Ok(o) => {
            for (key, reason) in &o.failed {
                eprintln!("{}: {key}: {reason}", def.binary);
            }
            eprintln!(
                "{}: {} deployment(s) failed; their results are missing or partial (exit status {EXIT_DEPLOYMENT_FAILED})",
                def.binary,
                o.failed.len()
            );
            ExitCode::from(EXIT_DEPLOYMENT_FAILED)
        }
        Err((e, _)) => {
            if !matches!(e, SuiteError::Interrupted) {
                eprintln!("{}: {}", def.binary, error_chain(&e));
            }
            ExitCode::from(e.exit_code())
        }
    }
}

/// An error and its causes, each said once (a cause whose text the message already holds is not
/// repeated).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
