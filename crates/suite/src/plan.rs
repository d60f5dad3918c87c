//! The plan of a run: what is deployed and which sweeps run on each, with user counts and
//! request windows already scaled for per-replica workloads, in stages: a stage is what is
//! deployed at the same time. Paired (the default), a comparison is one stage of two deployments
//! whose levels alternate, so that slow drifts of the machine hit both alike (a baseline shared by
//! several comparisons is measured again with each); sequential, each distinct variant and layout
//! is deployed once, alone. Scaling studies and servers outside Ray are always alone.

use serde::Serialize;

use deploy::{AppCatalog, VariantSet};

use crate::config::{StudyKind, WorkloadDef};
use crate::error::SuiteError;
use crate::settings::Settings;

/// What one group deploys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Subject {
    /// Ray Serve apps with a variant's flags in a layout.
    Serve {
        /// The variant (`variants.toml`).
        variant: String,
        /// The layout (`apps.toml`).
        layout: String,
    },
    /// A server outside Ray (`[[server]]` of `apps.toml`).
    Server {
        /// Its name.
        name: String,
    },
}

/// The layout name a server's sweeps are filed under.
pub const SERVER_LAYOUT: &str = "server";

/// One sweep of one workload on one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SweepPlan {
    /// The workload.
    pub workload: String,
    /// Users of each level, in order (already multiplied for per-replica workloads).
    pub users: Vec<u32>,
    /// The request window per level, when it is a count (already multiplied).
    pub requests: Option<u64>,
    /// Replicas of the workload's `per_replica_of` deployment, when it has one.
    pub replicas: Option<u32>,
    /// File stem of its results: `<variant>-<layout>-<workload>`.
    pub stem: String,
}

/// One deployment and the sweeps run on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    /// `<variant>-<layout>`, or the server's name (`<study>-<variant>-<layout>` in a paired stage):
    /// names files and progress lines.
    pub key: String,
    /// The one study it belongs to when it is measured paired for that study alone.
    pub paired_for: Option<String>,
    /// What is deployed.
    pub subject: Subject,
    /// The studies it serves.
    pub studies: Vec<String>,
    /// Its sweeps, in order.
    pub sweeps: Vec<SweepPlan>,
}

impl Group {
    /// The variant (or server) and layout its results are filed under.
    pub fn variant_layout(&self) -> (&str, &str) {
        match &self.subject {
            Subject::Serve { variant, layout } => (variant, layout),
            Subject::Server { name } => (name, SERVER_LAYOUT),
        }
    }
}

/// What is deployed at the same time: one group, or the two of a paired comparison (baseline
/// first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stage {
    /// Its groups.
    pub groups: Vec<Group>,
}

/// What a run deploys and measures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Stages, in order.
    pub stages: Vec<Stage>,
    /// Times each level is measured.
    pub repeat: u32,
    /// Times each stage is deployed: `repeat` when each repeat is measured on fresh deployments
    /// (round `k` measures repeat `k` of every level), else 1.
    pub rounds: u32,
}

fn sweep_plan(
    settings: &Settings,
    catalog: &AppCatalog,
    w: &WorkloadDef,
    layout: Option<&str>,
    sweep: &str,
    stem: String,
) -> Result<SweepPlan, SuiteError> {
    let users = settings
        .sweeps
        .get(sweep)
        .ok_or_else(|| SuiteError::Usage(format!("no user list {sweep:?} for workload {}", w.name)))?;
    let replicas = match (&w.per_replica_of, layout) {
        (Some(d), Some(layout)) => {
            let app = catalog.app(&w.app).map_err(SuiteError::Catalog)?;
            if !app.deployments.contains(d) {
                return Err(SuiteError::Usage(format!(
                    "workload {}: app {} has no deployment {d:?} (per_replica_of)",
                    w.name, w.app
                )));
            }
            let l = catalog.layout(layout).map_err(SuiteError::Catalog)?;
            Some(catalog.replicas(l, d).map_err(SuiteError::Usage)?)
        }
        _ => None,
    };
    let k = replicas.unwrap_or(1);
    Ok(SweepPlan {
        workload: w.name.clone(),
        users: users.iter().map(|u| u.saturating_mul(k)).collect(),
        requests: settings.requests.map(|n| n.saturating_mul(u64::from(k))),
        replicas,
        stem,
    })
}

impl Plan {
    /// Builds the plan of `settings`, checking every variant, layout, app and server it names.
    pub fn new(settings: &Settings, variants: &VariantSet, catalog: &AppCatalog) -> Result<Plan, SuiteError> {
        for w in &settings.workloads {
            catalog.app(&w.app).map_err(SuiteError::Catalog)?;
        }
        let sweeps_for = |key: &str, layout: &str| -> Result<Vec<SweepPlan>, SuiteError> {
            settings
                .workloads
                .iter()
                .map(|w| {
                    sweep_plan(settings, catalog, w, Some(layout), &w.sweep, format!("{key}-{}", w.name))
                })
                .collect()
        };
        let mut stages: Vec<Stage> = Vec::new();
        // Sequential groups shared between studies are deployed once.
        let add_alone =
            |stages: &mut Vec<Stage>, key: String, subject: Subject, study: &str, sweeps: Vec<SweepPlan>| {
                match stages
                    .iter_mut()
                    .flat_map(|st| st.groups.iter_mut())
                    .find(|g| g.key == key && g.paired_for.is_none())
                {
                    Some(g) => {
                        if !g.studies.iter().any(|s| s == study) {
                            g.studies.push(study.to_owned());
                        }
                    }
                    None => stages.push(Stage {
                        groups: vec![Group {
                            key,
                            paired_for: None,
                            subject,
                            studies: vec![study.to_owned()],
                            sweeps,
                        }],
                    }),
                }
            };
        for study in &settings.studies {
            for (variant, layout) in study.arms() {
                variants.get(&variant).map_err(SuiteError::Catalog)?;
                catalog.layout(&layout).map_err(SuiteError::Catalog)?;
            }
            match &study.kind {
                StudyKind::Comparison(c)
                    if settings.paired
                        && settings.measures(&c.baseline)
                        && settings.measures(&c.treatment) =>
                {
                    let mut groups = Vec::new();
                    for variant in [&c.baseline, &c.treatment] {
                        let key = format!("{}-{variant}-{}", study.name, c.layout);
                        groups.push(Group {
                            sweeps: sweeps_for(&key, &c.layout)?,
                            key,
                            paired_for: Some(study.name.clone()),
                            subject: Subject::Serve { variant: variant.clone(), layout: c.layout.clone() },
                            studies: vec![study.name.clone()],
                        });
                    }
                    stages.push(Stage { groups });
                }
                kind => {
                    let scaling = matches!(kind, StudyKind::Scaling(_));
                    for (variant, layout) in study.arms() {
                        if !settings.measures(&variant) || (scaling && !settings.includes_layout(&layout)) {
                            continue;
                        }
                        let key = format!("{variant}-{layout}");
                        let sweeps = sweeps_for(&key, &layout)?;
                        add_alone(&mut stages, key, Subject::Serve { variant, layout }, &study.name, sweeps);
                    }
                }
            }
            if let StudyKind::Scaling(sc) = &study.kind
                && let (Some(server), Some(sweep)) = (&sc.server, &sc.server_sweep)
            {
                catalog.server(server).map_err(SuiteError::Catalog)?;
                if settings.measures(server) {
                    let sweeps = settings
                        .workloads
                        .iter()
                        .map(|w| {
                            let stem = format!("{server}-{SERVER_LAYOUT}-{}", w.name);
                            sweep_plan(settings, catalog, w, None, sweep, stem)
                        })
                        .collect::<Result<_, _>>()?;
                    add_alone(
                        &mut stages,
                        server.clone(),
                        Subject::Server { name: server.clone() },
                        &study.name,
                        sweeps,
                    );
                }
            }
        }
        if stages.is_empty() {
            return Err(SuiteError::Usage("nothing to run with these selections".into()));
        }
        let rounds = if settings.redeploy { settings.repeat } else { 1 };
        Ok(Plan { stages, repeat: settings.repeat, rounds })
    }

    /// Every group, in order.
    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.stages.iter().flat_map(|s| &s.groups)
    }

    /// Number of deployments the plan starts (rounds counted).
    pub fn deployments(&self) -> usize {
        self.groups().count() * self.rounds as usize
    }

    /// Number of levels the plan runs (repeats counted).
    pub fn levels(&self) -> usize {
        self.groups().flat_map(|g| &g.sweeps).map(|s| s.users.len()).sum::<usize>() * self.repeat as usize
    }
}

/// The label of a level with `users` users (`c8`), or of its repeat `k` of `repeats` (`c8-r2`).
pub fn level_label(users: u32, k: u32, repeats: u32) -> String {
    if repeats > 1 { format!("c{users}-r{k}") } else { format!("c{users}") }
}
