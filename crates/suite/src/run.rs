//! The loop every suite runs: for each group of the plan, deploy, sweep every workload level by
//! level (each level saved as it ends, the deployment's health checked after it), tear down (also
//! on error and cancellation), and keep the run's index up to date. A deployment that fails to
//! come up or stops serving is recorded and the run goes on with the next one; the [`Outcome`]
//! says which failed.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deploy::{AppCatalog, Backend, DeployRequest, Deployment, ExternalOptions, LocalOptions, RunError, VariantSet};
use loadgen::{CancellationToken, Level, LevelResult, Phases, Progress, ProgressFn, Schedule, SweepOutput, Window};

use crate::config::WorkloadDef;
use crate::error::SuiteError;
use crate::index::{RunIndex, SweepStatus, deployment_file};
use crate::plan::{Group, Plan, Subject, SweepPlan, level_label};
use crate::settings::Settings;

/// Where and how a run goes.
#[derive(Debug)]
pub struct RunOptions {
    /// The run's folder (`results/<suite>/<run>`).
    pub dir: PathBuf,
    /// Keep levels already in `dir` and run only the missing ones.
    pub resume: bool,
    /// Where Serve deployments go.
    pub backend: Backend,
    /// How servers outside Ray are started locally.
    pub local: LocalOptions,
    /// A running server to measure instead of starting one (`--server-url`).
    pub server_at: Option<ExternalOptions>,
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
        /// Its position in the plan (1-based).
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
    /// A deployment failed to come up or stopped serving; the run goes on without it.
    Failed {
        /// The group.
        group: &'a Group,
        /// Why.
        reason: &'a str,
    },
    /// The deployment was torn down.
    TornDown(&'a Group),
}

/// The callback events go to.
pub type OnEvent<'a> = dyn Fn(Event<'_>) + Send + Sync + 'a;

/// How a run ended when it ran to its end.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Groups that failed to deploy or stopped serving, with the reason.
    pub failed: Vec<(String, String)>,
}

/// The levels of one sweep.
pub fn levels(settings: &Settings, sweep: &SweepPlan) -> Vec<Level> {
    sweep
        .users
        .iter()
        .map(|users| {
            let mut l = Level::new(Schedule::closed(*users));
            l.label = level_label(*users);
            l.phases = Phases {
                warmup: settings.warmup,
                window: match (sweep.requests, settings.duration) {
                    (Some(n), _) => Window::Requests(n),
                    (None, Some(d)) => Window::Duration(d),
                    (None, None) => Window::Duration(Duration::from_secs(10)),
                },
                cooldown: settings.cooldown,
            };
            l.timeout = settings.timeout;
            l
        })
        .collect()
}

fn output(dir: &Path, sweep: &SweepPlan, resume: bool) -> SweepOutput {
    SweepOutput { dir: dir.join("sweeps"), stem: sweep.stem.clone(), resume }
}

fn group_done(settings: &Settings, dir: &Path, group: &Group) -> bool {
    group.sweeps.iter().all(|s| {
        let out = output(dir, s, true);
        levels(settings, s).iter().all(|l| out.level_path(&l.label).exists())
    })
}

/// Whether the deployment still serves, asked up to three times over a few seconds (a busy server
/// may miss one check right after a heavy level).
async fn still_serving(deployment: &Deployment, cancel: &CancellationToken) -> Result<(), String> {
    let mut last = String::new();
    for attempt in 0..3 {
        if attempt > 0 {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(2)) => {}
                () = cancel.cancelled() => return Ok(()),
            }
        }
        match deployment.check(Duration::from_secs(10)).await {
            Ok(()) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}

/// What measuring a group ended with (cancellation and hard errors are `Err`).
enum GroupEnd {
    Done,
    Gone(String),
}

struct Ctx<'a> {
    settings: &'a Settings,
    opts: &'a RunOptions,
    index: &'a Mutex<RunIndex>,
    cancel: &'a CancellationToken,
    on_event: &'a OnEvent<'a>,
}

impl Ctx<'_> {
    fn mark(&self, stem: &str, status: SweepStatus, reason: Option<String>) -> Result<(), SuiteError> {
        let mut index = self.index.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        index.set(stem, status, reason);
        index.write(&self.opts.dir)
    }

    fn workload(&self, name: &str) -> Result<&WorkloadDef, SuiteError> {
        self.settings
            .workloads
            .iter()
            .find(|w| w.name == name)
            .ok_or_else(|| SuiteError::Usage(format!("no workload {name:?} selected")))
    }

    /// Runs one level, forwarding its progress as events.
    async fn level(
        &self,
        group: &Group,
        name: &str,
        workload: &Arc<loadgen::AnyWorkload>,
        level: &Level,
    ) -> Result<LevelResult, loadgen::Error> {
        // Progress comes from the load's own tasks, so the callback must own what it uses.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Progress>();
        let progress: ProgressFn = Arc::new(move |p: &Progress| {
            let _ = tx.send(p.clone());
        });
        let run = loadgen::run_level(workload, level, Some(&progress), self.cancel);
        tokio::pin!(run);
        loop {
            tokio::select! {
                r = &mut run => return r,
                Some(p) = rx.recv() => (self.on_event)(Event::Progress { group, workload: name, progress: &p }),
            }
        }
    }

    /// Sweeps every workload of `group` on `deployment`.
    async fn measure(&self, group: &Group, deployment: &Deployment) -> Result<GroupEnd, SuiteError> {
        let endpoint = deployment.target().endpoint();
        for (i, sweep) in group.sweeps.iter().enumerate() {
            let w = self.workload(&sweep.workload)?;
            let fail = |source| SuiteError::Sweep { deployment: group.key.clone(), workload: w.name.clone(), source };
            let workload = Arc::new(w.request.build(&endpoint).map_err(fail)?);
            let out = output(&self.opts.dir, sweep, self.opts.resume);
            let folder = out.dir.join(&out.stem);
            std::fs::create_dir_all(&folder).map_err(SuiteError::io("creating", &folder))?;
            let mut results: Vec<LevelResult> = Vec::new();
            for level in levels(self.settings, sweep) {
                let path = out.level_path(&level.label);
                if self.opts.resume && path.exists() {
                    let r = loadgen::read_level(&path).map_err(fail)?;
                    (self.on_event)(Event::Level { group, workload: &w.name, result: &r, resumed: true });
                    results.push(r);
                    continue;
                }
                let r = match self.level(group, &w.name, &workload, &level).await {
                    Ok(r) => r,
                    Err(loadgen::Error::Stopped { .. }) => {
                        self.mark(&sweep.stem, SweepStatus::Partial, Some("interrupted".into()))?;
                        return Err(SuiteError::Interrupted);
                    }
                    Err(e) => return Err(fail(e)),
                };
                loadgen::write_level(&path, &r).map_err(fail)?;
                results.push(r);
                loadgen::write_csv(&out.csv_path(), &results).map_err(fail)?;
                if let Some(r) = results.last() {
                    (self.on_event)(Event::Level { group, workload: &w.name, result: r, resumed: false });
                }
                if let Err(reason) = still_serving(deployment, self.cancel).await {
                    let reason = format!("stopped serving after level {}: {reason}", level.label);
                    self.mark(&sweep.stem, SweepStatus::Partial, Some(reason.clone()))?;
                    for rest in &group.sweeps[i + 1..] {
                        self.mark(&rest.stem, SweepStatus::Failed, Some(reason.clone()))?;
                    }
                    return Ok(GroupEnd::Gone(reason));
                }
            }
            self.mark(&sweep.stem, SweepStatus::Complete, None)?;
        }
        Ok(GroupEnd::Done)
    }

    fn deploying<'b>(
        &'b self,
        group: &'b Group,
        log: &'b deploy::Progress<'b>,
    ) -> Result<impl Future<Output = Result<Deployment, deploy::DeployError>> + 'b, SuiteError> {
        let opts = self.opts;
        let manifest = self.opts.dir.join(deployment_file(group));
        let apps: Vec<&str> = {
            let mut apps: Vec<&str> = Vec::new();
            for s in &group.sweeps {
                let app = self.workload(&s.workload)?.app.as_str();
                if !apps.contains(&app) {
                    apps.push(app);
                }
            }
            apps
        };
        enum What {
            Serve(DeployRequest),
            Server(deploy::ServerDef),
        }
        let what = match &group.subject {
            Subject::Serve { variant, layout } => {
                let variant = opts.variants.get(variant).map_err(SuiteError::Catalog)?.clone();
                let apps = opts.catalog.select(&apps, layout, &self.settings.app_args).map_err(SuiteError::Catalog)?;
                What::Serve(DeployRequest { variant, apps, manifest_path: Some(manifest.clone()) })
            }
            Subject::Server { name } => What::Server(opts.catalog.server(name).map_err(SuiteError::Catalog)?.clone()),
        };
        let args = self.settings.app_args.get(group.variant_layout().0).cloned().unwrap_or_default();
        Ok(async move {
            match what {
                What::Serve(request) => opts.backend.deploy(&request, log).await,
                What::Server(def) => {
                    deploy::start_server(
                        &opts.local,
                        opts.server_at.as_ref(),
                        &def,
                        &opts.catalog.app_dir,
                        &args,
                        Some(&manifest),
                        log,
                    )
                    .await
                }
            }
        })
    }
}

/// Runs `plan`: deploys each group, sweeps its workloads into `opts.dir/sweeps`, tears down, and
/// keeps `opts.dir/index.json` current. Returns at the first hard error (a file that cannot be
/// written, a teardown that failed, cancellation); everything finished stays on disk, and
/// `resume` continues from there.
pub async fn run(
    settings: &Settings,
    plan: &Plan,
    run_name: &str,
    opts: &RunOptions,
    cancel: &CancellationToken,
    on_event: &OnEvent<'_>,
) -> Result<Outcome, SuiteError> {
    settings.check()?;
    let deployments = opts.dir.join("deployments");
    std::fs::create_dir_all(&deployments).map_err(SuiteError::io("creating", &deployments))?;
    let index = Mutex::new(RunIndex::planned(settings, plan, run_name));
    if opts.resume {
        // Keep what an earlier attempt found out about finished sweeps.
        let mut i = index.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for g in &plan.groups {
            for s in &g.sweeps {
                let out = output(&opts.dir, s, true);
                if levels(settings, s).iter().all(|l| out.level_path(&l.label).exists()) {
                    i.set(&s.stem, SweepStatus::Complete, None);
                }
            }
        }
    }
    index.lock().unwrap_or_else(std::sync::PoisonError::into_inner).write(&opts.dir)?;
    let ctx = Ctx { settings, opts, index: &index, cancel, on_event };
    let mut outcome = Outcome::default();
    for (i, group) in plan.groups.iter().enumerate() {
        if cancel.is_cancelled() {
            return Err(SuiteError::Interrupted);
        }
        if opts.resume && group_done(settings, &opts.dir, group) {
            on_event(Event::Skipped(group));
            for s in &group.sweeps {
                let out = output(&opts.dir, s, true);
                for l in levels(settings, s) {
                    if let Ok(r) = loadgen::read_level(&out.level_path(&l.label)) {
                        on_event(Event::Level { group, workload: &s.workload, result: &r, resumed: true });
                    }
                }
            }
            continue;
        }
        on_event(Event::Deploying { group, index: i + 1, of: plan.groups.len() });
        let log = |line: &str| on_event(Event::DeployLog(line));
        let deploying = ctx.deploying(group, &log)?;
        let result = deploy::run_with_deployment(deploying, cancel, async |d: &Deployment| ctx.measure(group, d).await).await;
        on_event(Event::TornDown(group));
        let failed = |reason: String, outcome: &mut Outcome| -> Result<(), SuiteError> {
            on_event(Event::Failed { group, reason: &reason });
            outcome.failed.push((group.key.clone(), reason));
            Ok(())
        };
        match result {
            Ok(GroupEnd::Done) => {}
            Ok(GroupEnd::Gone(reason)) => failed(reason, &mut outcome)?,
            Err(RunError::Deploy(source)) => {
                let reason = format!("deploying failed: {source}");
                for s in &group.sweeps {
                    ctx.mark(&s.stem, SweepStatus::Failed, Some(reason.clone()))?;
                }
                failed(reason, &mut outcome)?;
            }
            Err(RunError::Body { error, teardown }) => {
                if let Some(t) = teardown {
                    on_event(Event::Failed { group, reason: &format!("tearing down failed too: {t}") });
                }
                return Err(error);
            }
            Err(RunError::Teardown(source)) => return Err(SuiteError::Teardown { deployment: group.key.clone(), source }),
            Err(RunError::Cancelled { teardown }) => {
                if let Some(t) = teardown {
                    on_event(Event::Failed { group, reason: &format!("tearing down failed: {t}") });
                }
                return Err(SuiteError::Interrupted);
            }
        }
        // Give the machine a moment between clusters.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(outcome)
}
