//! `features-suite`: deploys each variant of the spec's flag comparisons on Ray Serve, sweeps the
//! unary, streaming and gRPC workloads, saves every level, and writes the summary and plots.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use clap::{Parser, ValueEnum};
use deploy::{
    AnyscaleOptions, AppCatalog, Backend, ExternalOptions, LocalOptions, Project, Secret, VariantSet,
};
use suite::{Event, Plan, RunOptions, Settings, SuiteConfig, SuiteError};

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum TargetKind {
    /// A fresh single-node Ray cluster on this machine per variant.
    Local,
    /// An Anyscale service per variant (the `anyscale` CLI must be logged in).
    Anyscale,
    /// A running endpoint given by --url (one variant: name it with --variant).
    Url,
}

/// Measures what Ray Serve's performance flags buy: each comparison deploys a baseline and a
/// treatment variant, sweeps concurrency on each workload, and reports peak goodput within the
/// SLA, the gain, and plots.
#[derive(Debug, Parser)]
#[command(
    name = "features-suite",
    version,
    after_help = "Examples:\n  \
        features-suite                          # all on/off, 1 replica, unary + streaming (~10 min)\n  \
        features-suite --profile spec           # every comparison, 60 s per level (hours)\n  \
        features-suite --comparison allon8 --workload unary --sweep unary=1,8,64\n  \
        features-suite --run my-run --resume    # continue an interrupted run\n  \
        features-suite --plan                   # show what would run"
)]
struct Cli {
    /// Profile of suite.toml: default (laptop), spec (the spec's settings), smoke.
    #[arg(long, default_value = "default")]
    profile: String,

    /// The suite's configuration [default: suites/features/configs/suite.toml].
    #[arg(long)]
    config: Option<PathBuf>,

    /// Only these comparisons (comma-separated): grpc, haproxy, singleloop, allon, allon8.
    #[arg(long, value_delimiter = ',')]
    comparison: Vec<String>,

    /// Only these workloads (comma-separated): unary, streaming, grpc.
    #[arg(long, value_delimiter = ',')]
    workload: Vec<String>,

    /// Only measure these variants (comma-separated), e.g. all_on.
    #[arg(long, value_delimiter = ',')]
    variant: Vec<String>,

    /// Replace a concurrency list, NAME=1,2,4 (repeatable; names: unary, streaming).
    #[arg(long)]
    sweep: Vec<String>,

    /// Measured window per level (e.g. 60s).
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,

    /// Warm-up per level.
    #[arg(long, value_parser = parse_duration)]
    warmup: Option<Duration>,

    /// Cool-down after each level.
    #[arg(long, value_parser = parse_duration)]
    cooldown: Option<Duration>,

    /// SLA on p99 latency for a workload, WORKLOAD=MS (repeatable), e.g. unary=300.
    #[arg(long)]
    sla: Vec<String>,

    /// Levels above this error rate never count as a peak.
    #[arg(long, default_value_t = 0.01)]
    max_error_rate: f64,

    /// Name of the run's folder under --results-dir [default: the start time].
    #[arg(long)]
    run: Option<String>,

    /// Where runs land.
    #[arg(long, default_value = "results/features")]
    results_dir: PathBuf,

    /// Continue the run named by --run: keep its finished levels, run the rest.
    #[arg(long, requires = "run")]
    resume: bool,

    /// Where the variants run.
    #[arg(long, value_enum, default_value = "local")]
    target: TargetKind,

    /// --target url: base URL of the HTTP ingress.
    #[arg(long)]
    url: Option<String>,

    /// --target url: URI of the gRPC ingress (http://HOST:PORT).
    #[arg(long)]
    grpc_url: Option<String>,

    /// --target url: the environment variable that holds the bearer token (never pass the token
    /// itself on the command line).
    #[arg(long, default_value = "SERVEBENCH_TOKEN")]
    token_env: String,

    /// Local: logical CPUs each Ray cluster gets [default: enough for the layout].
    #[arg(long)]
    num_cpus: Option<u32>,

    /// Local: the CPUs of each Ray cluster (a taskset list such as 0-11) [default: on 4 or more
    /// cores, all but the client's; on fewer, all, shared with the client].
    #[arg(long, value_name = "LIST")]
    ray_cpus: Option<String>,

    /// Local: the CPUs of this client [default: on 4 or more cores, the last quarter; on fewer,
    /// all, shared with Ray].
    #[arg(long, value_name = "LIST")]
    client_cpus: Option<String>,

    /// Local: pin nothing (Ray and the client share every core).
    #[arg(long, conflicts_with_all = ["ray_cpus", "client_cpus"])]
    no_pin: bool,

    /// Print the plan (deployments, levels, time) and exit.
    #[arg(long)]
    plan: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| format!("{s:?} is not a duration like 60s or 2m ({e})"))
}

fn settings(cli: &Cli, config: &SuiteConfig) -> Result<Settings> {
    let mut s = Settings::from_profile(config, &cli.profile)?;
    if !cli.comparison.is_empty() {
        s.comparisons = cli
            .comparison
            .iter()
            .map(|c| config.comparison(c).cloned().map_err(anyhow::Error::msg))
            .collect::<Result<_>>()?;
    }
    if !cli.workload.is_empty() {
        s.workloads = cli
            .workload
            .iter()
            .map(|w| config.workload(w).cloned().map_err(anyhow::Error::msg))
            .collect::<Result<_>>()?;
    }
    s.variants = cli.variant.clone();
    for v in &s.variants {
        let used = s.comparisons.iter().any(|c| &c.baseline == v || &c.treatment == v);
        ensure!(used, "--variant {v} is in none of the selected comparisons");
    }
    for sw in &cli.sweep {
        let (name, list) =
            sw.split_once('=').with_context(|| format!("--sweep {sw:?} must look like unary=1,2,4"))?;
        let levels = list
            .split(',')
            .map(|c| {
                c.trim().parse::<u32>().with_context(|| format!("--sweep {name}: {c:?} is not a number"))
            })
            .collect::<Result<Vec<_>>>()?;
        s.sweeps.insert(name.to_owned(), levels);
    }
    for sla in &cli.sla {
        let (name, ms) =
            sla.split_once('=').with_context(|| format!("--sla {sla:?} must look like unary=200"))?;
        let ms: f64 = ms
            .trim_end_matches("ms")
            .parse()
            .with_context(|| format!("--sla {name}: {ms:?} is not a number of ms"))?;
        ensure!(ms > 0.0, "--sla {name}: must be positive");
        let mut found = false;
        for w in s.workloads.iter_mut().filter(|w| w.name == name) {
            w.sla_p99_ms = ms;
            found = true;
        }
        ensure!(found, "--sla {name}: no such workload selected");
    }
    if let Some(d) = cli.duration {
        s.duration = d;
    }
    if let Some(d) = cli.warmup {
        s.warmup = d;
    }
    if let Some(d) = cli.cooldown {
        s.cooldown = d;
    }
    ensure!((0.0..=1.0).contains(&cli.max_error_rate), "--max-error-rate must be between 0 and 1");
    s.check()?;
    Ok(s)
}

/// Which CPUs the client and each local Ray cluster run on (`None`: not pinned).
#[derive(Debug, Default, Clone, serde::Serialize)]
struct Pinning {
    client: Option<Vec<usize>>,
    ray: Option<Vec<usize>>,
    /// How it was chosen.
    how: PinSource,
}

/// How the CPUs were chosen (as the run manifest names it).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
enum PinSource {
    /// Nothing pinned.
    #[default]
    #[serde(rename = "off")]
    Off,
    /// The default split.
    #[serde(rename = "auto")]
    Auto,
    /// From --client-cpus / --ray-cpus.
    #[serde(rename = "given")]
    Given,
    /// Ray pinned, the client could not be.
    #[serde(rename = "client pinning failed")]
    ClientFailed,
}

impl Pinning {
    fn resolve(cli: &Cli) -> Result<Pinning> {
        let list = |flag: &str, l: &Option<String>| -> Result<Option<Vec<usize>>> {
            l.as_deref().map(|l| deploy::parse_cpu_list(l).with_context(|| flag.to_owned())).transpose()
        };
        let (client, ray) = (list("--client-cpus", &cli.client_cpus)?, list("--ray-cpus", &cli.ray_cpus)?);
        if cli.no_pin || cli.target != TargetKind::Local {
            return Ok(Pinning { ..Pinning::default() });
        }
        let allowed = loadgen::affinity::allowed_cpus();
        if let Some(c) = client.iter().chain(&ray).flatten().find(|c| !allowed.contains(c)) {
            bail!(
                "CPU {c} is not available to this process (it may use {})",
                deploy::format_cpu_list(&allowed)
            );
        }
        let rest = |taken: &[usize]| -> Vec<usize> {
            allowed.iter().copied().filter(|c| !taken.contains(c)).collect()
        };
        Ok(match (client, ray) {
            (None, None) => match loadgen::affinity::auto_split(&allowed) {
                Some(split) => {
                    Pinning { client: Some(split.client), ray: Some(split.server), how: PinSource::Auto }
                }
                None => Pinning { ..Pinning::default() },
            },
            (Some(client), None) => {
                let ray = rest(&client);
                ensure!(!ray.is_empty(), "--client-cpus leaves no CPU for Ray: name --ray-cpus too");
                Pinning { client: Some(client), ray: Some(ray), how: PinSource::Given }
            }
            (None, Some(ray)) => {
                let client = rest(&ray);
                ensure!(
                    !client.is_empty(),
                    "--ray-cpus leaves no CPU for the client: name --client-cpus too"
                );
                Pinning { client: Some(client), ray: Some(ray), how: PinSource::Given }
            }
            (Some(client), Some(ray)) => {
                if let Some(c) = client.iter().find(|c| ray.contains(c)) {
                    bail!(
                        "CPU {c} is in both --client-cpus and --ray-cpus: the client would compete with Ray"
                    );
                }
                Pinning { client: Some(client), ray: Some(ray), how: PinSource::Given }
            }
        })
    }

    fn describe(&self) -> String {
        let show =
            |c: &Option<Vec<usize>>| c.as_deref().map_or("any CPU".to_owned(), deploy::format_cpu_list);
        let how = match self.how {
            PinSource::Off => return "not pinned: Ray and the client share the CPUs".to_owned(),
            PinSource::Auto => "auto",
            PinSource::Given => "given",
            PinSource::ClientFailed => "client pinning failed",
        };
        format!("pinned ({how}): Ray on {}, the client on {}", show(&self.ray), show(&self.client))
    }
}

fn backend(cli: &Cli, project: &Project, dir: &Path, pinning: &Pinning) -> Result<Backend> {
    Ok(match cli.target {
        TargetKind::Local => {
            let mut o = LocalOptions::for_project(project);
            if cli.num_cpus.is_some() {
                o.num_cpus = cli.num_cpus;
            }
            o.cpu_affinity = pinning.ray.as_deref().map(deploy::format_cpu_list);
            Backend::Local(o)
        }
        _ if cli.ray_cpus.is_some() || cli.client_cpus.is_some() || cli.num_cpus.is_some() => {
            bail!("--ray-cpus, --client-cpus and --num-cpus apply to --target local only")
        }
        TargetKind::Anyscale => Backend::Anyscale(AnyscaleOptions::new(project, dir.join("anyscale"))),
        TargetKind::Url => {
            let url = cli.url.clone().context("--target url needs --url")?;
            ensure!(
                cli.variant.len() == 1,
                "--target url measures one running variant: name it with --variant"
            );
            let token = std::env::var(&cli.token_env).ok().filter(|t| !t.is_empty()).map(Secret::new);
            Backend::External(ExternalOptions {
                http_base: url,
                grpc_uri: cli.grpc_url.clone(),
                token,
                check: true,
            })
        }
    })
}

/// Prints progress: a rewritten line on a terminal, a line every 10 s otherwise.
struct Printer {
    tty: bool,
    last: Mutex<Option<Instant>>,
    started: Instant,
    total_levels: usize,
    done_levels: Mutex<usize>,
}

#[allow(clippy::print_stderr)]
impl Printer {
    fn line(&self, s: &str) {
        if self.tty {
            eprint!("\r\x1b[2K");
        }
        eprintln!("{s}");
    }

    fn event(&self, e: Event<'_>) {
        match e {
            Event::Deploying { group, index, of } => self.line(&format!(
                "== [{index}/{of}] deploying {} ({})",
                group.key(),
                group.comparisons.join(", ")
            )),
            Event::DeployLog(l) => self.line(&format!("   {l}")),
            Event::Skipped(g) => self.line(&format!("== {}: every level is on disk, skipped", g.key())),
            Event::TornDown(g) => self.line(&format!("== {} torn down", g.key())),
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
                    "   {} {workload} {}{}: {thr}, p99 {p99}{flags}",
                    group.key(),
                    r.label,
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
                    "   [{done}/{} levels, {}s] {} {workload} {} {}",
                    self.total_levels,
                    self.started.elapsed().as_secs(),
                    group.key(),
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

fn write_run_manifest(
    dir: &Path,
    cli_args: &[String],
    settings: &Settings,
    plan: &Plan,
    project: &Project,
    pinning: &Pinning,
) -> Result<()> {
    let (git_revision, git_dirty) = deploy::git_revision(&project.root);
    let manifest = serde_json::json!({
        "schema": "servebench.run/1",
        "suite": "features",
        "started_at": humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        "command": cli_args,
        "servebench_version": env!("CARGO_PKG_VERSION"),
        "git_revision": git_revision,
        "git_dirty": git_dirty,
        "machine": deploy::Machine::current(),
        "settings": settings,
        "plan": plan,
        "cpu_pinning": pinning,
    });
    let path = dir.join("manifest.json");
    let path = if path.exists() { dir.join(format!("manifest.{}.json", std::process::id())) } else { path };
    std::fs::write(&path, serde_json::to_vec_pretty(&manifest)?)
        .with_context(|| format!("writing {}", path.display()))
}

#[allow(clippy::print_stdout, clippy::print_stderr)]
async fn main_async(cli: Cli, pinning: &Pinning) -> Result<ExitCode> {
    let project = Project::discover();
    let config_path =
        cli.config.clone().unwrap_or_else(|| project.root.join("suites/features/configs/suite.toml"));
    let config = SuiteConfig::load(&config_path)?;
    let settings = settings(&cli, &config)?;
    let plan = Plan::new(&settings);
    ensure!(!plan.groups.is_empty(), "nothing to run with these selections");
    let levels = plan.levels(&settings);
    let per_level = settings.warmup + settings.duration + settings.cooldown;
    let estimate = per_level * levels as u32 + Duration::from_secs(40) * plan.groups.len() as u32;
    if cli.plan {
        println!(
            "profile {}: {} deployments, {levels} levels, about {} in all",
            settings.profile,
            plan.groups.len(),
            humantime::format_duration(Duration::from_secs(estimate.as_secs()))
        );
        for g in &plan.groups {
            let ws: Vec<String> =
                g.workloads.iter().map(|w| format!("{} {:?}", w.name, settings.sweeps[&w.sweep])).collect();
            println!("  {} for {}: {}", g.key(), g.comparisons.join(", "), ws.join("; "));
        }
        return Ok(ExitCode::SUCCESS);
    }

    let run = match &cli.run {
        Some(r) => {
            ensure!(
                !r.is_empty() && r.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
                "--run {r:?}: use letters, digits, '-', '_' and '.'"
            );
            r.clone()
        }
        None => humantime::format_rfc3339_seconds(std::time::SystemTime::now())
            .to_string()
            .replace([':', 'T'], "-")
            .trim_end_matches('Z')
            .to_owned(),
    };
    let dir = project.root.join(&cli.results_dir).join(&run);
    let backend = backend(&cli, &project, &dir, pinning)?;
    if cli.resume {
        ensure!(dir.exists(), "no run to resume at {}", dir.display());
    } else if dir.exists() {
        bail!("{} exists: pass --resume to continue it, or choose another --run", dir.display());
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    write_run_manifest(&dir, &std::env::args().collect::<Vec<_>>(), &settings, &plan, &project, pinning)?;
    eprintln!(
        "features-suite: profile {}, {} deployments, {levels} levels, about {}; results in {}",
        settings.profile,
        plan.groups.len(),
        humantime::format_duration(Duration::from_secs(estimate.as_secs())),
        dir.display()
    );
    eprintln!("features-suite: {}", pinning.describe());

    let variants = VariantSet::load(&project.variants_file("features"))?;
    let catalog = AppCatalog::load(&project.apps_file("features"))?;
    let opts = RunOptions { dir: dir.clone(), resume: cli.resume, backend, variants, catalog };
    let printer = Printer {
        tty: std::io::stderr().is_terminal(),
        last: Mutex::new(None),
        started: Instant::now(),
        total_levels: levels,
        done_levels: Mutex::new(0),
    };
    let stop = loadgen::Stop::new();
    let on_signal = stop.clone();
    tokio::spawn(async move {
        deploy::interrupt_signal().await;
        on_signal.stop();
        // `timeout` signals the process and then its group: one interrupt can arrive twice.
        let first = Instant::now();
        loop {
            deploy::interrupt_signal().await;
            if first.elapsed() > Duration::from_secs(1) {
                break;
            }
        }
        eprintln!(
            "\nfeatures-suite: interrupted twice: exiting now (each local cluster's watchdog stops it)"
        );
        std::process::exit(130);
    });
    let outcome = suite::run(&settings, &plan, &opts, &stop, &|e| printer.event(e)).await;
    if printer.tty {
        eprintln!();
    }
    if let Err(e) = &outcome {
        // Whatever finished is still worth a report.
        let _ = suite::link_comparisons(&settings, &dir);
        if matches!(e, SuiteError::Interrupted) {
            eprintln!(
                "features-suite: interrupted; resume with: features-suite --run {run} --resume (plus the same selections)"
            );
        }
    }

    write_report(&settings, &dir, cli.max_error_rate)?;
    match outcome {
        Err(SuiteError::Interrupted) => Ok(ExitCode::from(130)),
        other => {
            other?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The summary table (printed and written as Markdown) and the plots under `<dir>/report`.
#[cfg(feature = "report")]
#[allow(clippy::print_stdout, clippy::print_stderr)]
fn write_report(settings: &Settings, dir: &Path, max_error_rate: f64) -> Result<()> {
    let mut slas = report::Slas::none();
    for w in &settings.workloads {
        slas.set(&w.name, w.sla_p99_ms);
    }
    let options =
        report::Options { criteria: report::Criteria { slas, max_error_rate }, ..report::Options::default() };
    let files = report::write_report(&[dir], dir.join("report"), &options).context("writing the report")?;
    for w in &files.warnings {
        eprintln!("report: skipped {w}");
    }
    println!("{}", std::fs::read_to_string(&files.markdown).unwrap_or_default());
    eprintln!(
        "features-suite: summary {} and {} plots in {}",
        files.markdown.display(),
        files.all().count() - 1,
        dir.join("report").display()
    );
    Ok(())
}

/// Built without the `report` feature: says how to make the report where the results land.
#[cfg(not(feature = "report"))]
#[allow(clippy::print_stderr)]
fn write_report(settings: &Settings, dir: &Path, max_error_rate: f64) -> Result<()> {
    let slas: Vec<String> =
        settings.workloads.iter().map(|w| format!("--sla {}={}ms", w.name, w.sla_p99_ms)).collect();
    eprintln!(
        "features-suite: built without the `report` feature; for the summary and plots run: \
         cargo run --release -p report -- {dir} -o {dir}/report --no-default-slas {} --max-error-rate {max_error_rate}",
        slas.join(" "),
        dir = dir.display()
    );
    Ok(())
}

#[allow(clippy::print_stderr)]
fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The client's CPUs are set before the runtime starts, so that its threads inherit them.
    let pinning = match Pinning::resolve(&cli) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("features-suite: {e:#}");
            return ExitCode::from(2);
        }
    };
    let mut pinning = pinning;
    if let Some(cpus) = &pinning.client
        && let Err(e) = loadgen::affinity::pin_current_thread(cpus)
    {
        // Measuring unpinned beats not measuring; the manifest says so.
        eprintln!("features-suite: warning: {e}; the client runs unpinned");
        pinning.client = None;
        pinning.how = PinSource::ClientFailed;
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("features-suite: starting the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = match rt.block_on(main_async(cli, &pinning)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("features-suite: {e:#}");
            ExitCode::from(1)
        }
    };
    // Do not wait for blocking work left behind by an interrupt (a first-use pip install).
    rt.shutdown_timeout(Duration::from_secs(2));
    code
}
