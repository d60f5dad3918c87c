//! The loop every suite runs: for each deployment of the plan, deploy, sweep every workload,
//! save each level as it ends, tear down (also on error and Ctrl-C); then pair the sweeps into
//! the comparisons' files, named like the original suite's (`<comparison>_<off|on>_<workload>`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use deploy::{AppCatalog, Backend, DeployError, DeployRequest, RunError, VariantSet};
use loadgen::{Level, LevelResult, Phases, Progress, ProgressFn, Schedule, Stop, Sweep, SweepOutput, Window};

use crate::config::{Settings, WorkloadDef};
use crate::plan::{Group, Plan, sweep_stem};
use crate::workloads::AnyWorkload;

/// Why a suite run stopped.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// Bad configuration or settings.
    #[error("{0}")]
    Config(String),
    /// A deployment failed (nothing of it is left running).
    #[error("deploying {group}: {source}")]
    Deploy {
        /// The group.
        group: String,
        /// The cause.
        #[source]
        source: DeployError,
    },
    /// Tearing a deployment down failed.
    #[error("tearing down {group}: {source}")]
    Teardown {
        /// The group.
        group: String,
        /// The cause.
        #[source]
        source: DeployError,
    },
    /// A sweep could not run or its results could not be written.
    #[error("{group}, {workload}: {source}")]
    Sweep {
        /// The group.
        group: String,
        /// The workload.
        workload: String,
        /// The cause.
        #[source]
        source: loadgen::Error,
    },
    /// A file could not be written.
    #[error("{0}")]
    Io(String),
    /// Ctrl-C: finished levels are on disk and the deployment was torn down.
    #[error("interrupted; finished levels are kept (continue with --resume)")]
    Interrupted,
}

/// Where and how a run goes.
#[derive(Debug)]
pub struct RunOptions {
    /// The run's folder (`results/features/<run>`).
    pub dir: PathBuf,
    /// Keep levels already in `dir` and run only the missing ones.
    pub resume: bool,
    /// Where deployments go.
    pub backend: Backend,
    /// The variants file's contents.
    pub variants: VariantSet,
    /// The apps file's contents.
    pub catalog: AppCatalog,
}

/// What a run reports as it goes.
#[derive(Debug)]
pub enum Event<'a> {
    /// A deployment starts.
    Deploying {
        /// Its group.
        group: &'a Group,
        /// Its position in the plan (1-based) and the plan's size.
        index: usize,
        /// Deployments in the plan.
        of: usize,
    },
    /// A line from `deploy`.
    DeployLog(&'a str),
    /// Every level of the group is on disk already (resume).
    Skipped(&'a Group),
    /// About once a second during a level.
    Progress {
        /// The group.
        group: &'a Group,
        /// The workload.
        workload: &'a str,
        /// Where the level is.
        progress: &'a Progress,
    },
    /// A level finished (or was found on disk).
    Level {
        /// The group.
        group: &'a Group,
        /// The workload.
        workload: &'a str,
        /// Its result.
        result: &'a LevelResult,
        /// Taken from disk by resume.
        resumed: bool,
    },
    /// The deployment was torn down.
    TornDown(&'a Group),
}

/// The callback events go to.
pub type OnEvent<'a> = dyn Fn(Event<'_>) + Send + Sync + 'a;

fn levels(settings: &Settings, w: &WorkloadDef) -> Vec<Level> {
    settings
        .sweeps
        .get(&w.sweep)
        .into_iter()
        .flatten()
        .map(|c| {
            let mut l = Level::new(Schedule::closed(*c));
            l.phases = Phases {
                warmup: settings.warmup,
                window: Window::Duration(settings.duration),
                cooldown: settings.cooldown,
            };
            l.timeout = settings.timeout;
            l
        })
        .collect()
}

fn sweep_output(dir: &Path, group: &Group, w: &WorkloadDef, resume: bool) -> SweepOutput {
    SweepOutput { dir: dir.join("sweeps"), stem: sweep_stem(&group.variant, &group.layout, &w.name), resume }
}

fn group_done(settings: &Settings, dir: &Path, group: &Group) -> bool {
    group.workloads.iter().all(|w| {
        let out = sweep_output(dir, group, w, true);
        levels(settings, w).iter().all(|l| out.level_path(&l.label).exists())
    })
}

async fn sweep_one<W: loadgen::Workload>(
    workload: W,
    sweep: &Sweep,
    stop: &Stop,
    group: &Group,
    name: &str,
    on_event: &OnEvent<'_>,
) -> Result<(), loadgen::Error> {
    let workload = Arc::new(workload);
    // Progress is reported from the load's own tasks, so the callback must own what it uses.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Progress>();
    let progress: ProgressFn = Arc::new(move |p: &Progress| {
        let _ = tx.send(p.clone());
    });
    let mut on_level = |r: &LevelResult, resumed: bool| {
        on_event(Event::Level { group, workload: name, result: r, resumed });
    };
    let run = loadgen::run_sweep(&workload, sweep, Some(&progress), stop, &mut on_level);
    tokio::pin!(run);
    loop {
        tokio::select! {
            r = &mut run => return r.map(|_| ()),
            Some(p) = rx.recv() => on_event(Event::Progress { group, workload: name, progress: &p }),
        }
    }
}

/// Runs `plan`: deploys each group, sweeps its workloads into `opts.dir/sweeps`, tears down, and
/// finally writes the comparisons' files. Stops at the first failure; everything finished stays
/// on disk, and `resume` continues from there.
pub async fn run(
    settings: &Settings,
    plan: &Plan,
    opts: &RunOptions,
    stop: &Stop,
    on_event: &OnEvent<'_>,
) -> Result<(), SuiteError> {
    settings.check()?;
    let io = |what: &str, p: &Path, e: std::io::Error| SuiteError::Io(format!("{what} {}: {e}", p.display()));
    let deployments = opts.dir.join("deployments");
    std::fs::create_dir_all(&deployments).map_err(|e| io("creating", &deployments, e))?;
    for (i, group) in plan.groups.iter().enumerate() {
        if stop.is_stopped() {
            return Err(SuiteError::Interrupted);
        }
        if opts.resume && group_done(settings, &opts.dir, group) {
            on_event(Event::Skipped(group));
            for w in &group.workloads {
                let out = sweep_output(&opts.dir, group, w, true);
                for l in levels(settings, w) {
                    if let Ok(r) = loadgen::read_level(&out.level_path(&l.label)) {
                        on_event(Event::Level { group, workload: &w.name, result: &r, resumed: true });
                    }
                }
            }
            continue;
        }
        let key = group.key();
        let variant =
            opts.variants.get(&group.variant).map_err(|e| SuiteError::Config(e.to_string()))?.clone();
        let apps = opts
            .catalog
            .select(&group.apps(), &group.layout)
            .map_err(|e| SuiteError::Config(e.to_string()))?;
        let request =
            DeployRequest { variant, apps, manifest_path: Some(deployments.join(format!("{key}.json"))) };
        on_event(Event::Deploying { group, index: i + 1, of: plan.groups.len() });
        let log = |line: &str| on_event(Event::DeployLog(line));
        let body = |target: deploy::Target| async move {
            for w in &group.workloads {
                let sweep = Sweep {
                    levels: levels(settings, w),
                    output: Some(sweep_output(&opts.dir, group, w, opts.resume)),
                };
                let fail =
                    |source| SuiteError::Sweep { group: group.key(), workload: w.name.clone(), source };
                let r = match AnyWorkload::new(w, &target)? {
                    AnyWorkload::Http(x) => sweep_one(x, &sweep, stop, group, &w.name, on_event).await,
                    AnyWorkload::Sse(x) => sweep_one(x, &sweep, stop, group, &w.name, on_event).await,
                    AnyWorkload::Grpc(x) => sweep_one(*x, &sweep, stop, group, &w.name, on_event).await,
                };
                match r {
                    Ok(()) => {}
                    Err(loadgen::Error::Stopped { .. }) => return Err(SuiteError::Interrupted),
                    Err(e) => return Err(fail(e)),
                }
            }
            Ok::<(), SuiteError>(())
        };
        let outcome = deploy::run_with_deployment(&opts.backend, &request, &log, body).await;
        on_event(Event::TornDown(group));
        match outcome {
            Ok(()) => {}
            Err(RunError::Deploy(source)) => return Err(SuiteError::Deploy { group: key, source }),
            Err(RunError::Body { error, .. }) => return Err(error),
            Err(RunError::Teardown(source)) => return Err(SuiteError::Teardown { group: key, source }),
            Err(RunError::Interrupted) => {
                stop.stop();
                return Err(SuiteError::Interrupted);
            }
        }
        // Give the machine a moment between clusters.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    link_comparisons(settings, &opts.dir)?;
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    if to.exists() {
        std::fs::remove_dir_all(to)?;
    }
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

/// Writes each comparison's pair of sweeps as `<comparison>_off_<workload>` (baseline) and
/// `<comparison>_on_<workload>` (CSV and level folder) in `dir`, from the measured sweeps; a
/// sweep measured once serves every comparison that shares it. Returns the stems written.
pub fn link_comparisons(settings: &Settings, dir: &Path) -> Result<Vec<String>, SuiteError> {
    let mut written = Vec::new();
    for c in &settings.comparisons {
        for w in &settings.workloads {
            for (variant, side) in [(&c.baseline, "off"), (&c.treatment, "on")] {
                let stem = sweep_stem(variant, &c.layout, &w.name);
                let from_csv = dir.join("sweeps").join(format!("{stem}.csv"));
                if !from_csv.exists() {
                    continue;
                }
                let to = format!("{}_{side}_{}", c.name, w.name);
                let err =
                    |e: std::io::Error| SuiteError::Io(format!("writing {to} in {}: {e}", dir.display()));
                std::fs::copy(&from_csv, dir.join(format!("{to}.csv"))).map_err(err)?;
                copy_dir(&dir.join("sweeps").join(&stem), &dir.join(&to)).map_err(err)?;
                written.push(to);
            }
        }
    }
    Ok(written)
}
