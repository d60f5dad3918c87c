//! The plan of a run: what is deployed (each distinct variant and layout once, and each server
//! outside Ray a study measures as its baseline) and which sweeps run on each, with user counts
//! and request windows already scaled for per-replica workloads.

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
    /// `<variant>-<layout>`, or the server's name: names files and progress lines.
    pub key: String,
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

/// What a run deploys and measures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Deployments, in order.
    pub groups: Vec<Group>,
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
    /// Builds the plan of `settings`, checking every variant, layout, app and server it names:
    /// a (variant, layout) shared by several studies is deployed once.
    pub fn new(settings: &Settings, variants: &VariantSet, catalog: &AppCatalog) -> Result<Plan, SuiteError> {
        let mut groups: Vec<Group> = Vec::new();
        let mut add = |key: String, subject: Subject, study: &str, sweeps: Vec<SweepPlan>| match groups
            .iter_mut()
            .find(|g| g.key == key)
        {
            Some(g) => {
                if !g.studies.iter().any(|s| s == study) {
                    g.studies.push(study.to_owned());
                }
            }
            None => groups.push(Group { key, subject, studies: vec![study.to_owned()], sweeps }),
        };
        for w in &settings.workloads {
            catalog.app(&w.app).map_err(SuiteError::Catalog)?;
        }
        for study in &settings.studies {
            for (variant, layout) in study.arms() {
                variants.get(&variant).map_err(SuiteError::Catalog)?;
                catalog.layout(&layout).map_err(SuiteError::Catalog)?;
                let scaling = matches!(study.kind, StudyKind::Scaling(_));
                if !settings.measures(&variant) || (scaling && !settings.includes_layout(&layout)) {
                    continue;
                }
                let sweeps = settings
                    .workloads
                    .iter()
                    .map(|w| {
                        let stem = format!("{variant}-{layout}-{}", w.name);
                        sweep_plan(settings, catalog, w, Some(&layout), &w.sweep, stem)
                    })
                    .collect::<Result<_, _>>()?;
                let subject = Subject::Serve { variant: variant.clone(), layout: layout.clone() };
                add(format!("{variant}-{layout}"), subject, &study.name, sweeps);
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
                    add(server.clone(), Subject::Server { name: server.clone() }, &study.name, sweeps);
                }
            }
        }
        if groups.is_empty() {
            return Err(SuiteError::Usage("nothing to run with these selections".into()));
        }
        Ok(Plan { groups })
    }

    /// Number of levels the plan runs.
    pub fn levels(&self) -> usize {
        self.groups.iter().flat_map(|g| &g.sweeps).map(|s| s.users.len()).sum()
    }
}

/// The label of a level with `users` users (`c8`).
pub fn level_label(users: u32) -> String {
    format!("c{users}")
}
