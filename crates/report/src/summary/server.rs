//! "Where the time and CPU go": each variant of a comparison at one load (the baseline's peak
//! user count, the same for every variant so that they are comparable), from the server views
//! of its levels: the client's latency against the ingress's and each deployment's processing
//! time, and the CPU per request of each role of the cluster.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::loads::{Load, median};
use crate::server::ServerView;

/// A role whose CPU per request is at least this share of its variant's total, in some variant,
/// is shown apart; the others are added up as `other`.
const ROLE_SHARE: f64 = 0.05;
/// At most this many roles are shown apart.
const MAX_ROLES: usize = 6;
/// The name of the roles added up.
pub const OTHER_ROLE: &str = "other";

/// One deployment's processing time at the compared load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentTime {
    /// `app/deployment`.
    pub name: String,
    /// Median processing time (ms; the median over repeats).
    pub p50_ms: Option<f64>,
    /// p99 processing time (ms).
    pub p99_ms: Option<f64>,
}

/// One variant at the compared load, from its server views (figures: the median over the
/// repeats of that load that have a view).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerAtLoad {
    /// The variant.
    pub variant: String,
    /// Whether it is the baseline.
    pub is_baseline: bool,
    /// How many of the load's repeats had a usable view.
    pub views: usize,
    /// Why there are no figures, when no repeat had a usable view (the first reason).
    pub unavailable: Option<String>,
    /// The client's median latency (ms).
    pub client_p50_ms: Option<f64>,
    /// The client's p99 latency (ms).
    pub client_p99_ms: Option<f64>,
    /// The ingress application the figures are of (`<protocol>/<app>`, the one with the most
    /// requests).
    pub ingress: Option<String>,
    /// Its median latency as Ray Serve recorded it (ms).
    pub ingress_p50_ms: Option<f64>,
    /// Its p99 latency (ms).
    pub ingress_p99_ms: Option<f64>,
    /// Each deployment's processing time, by name.
    pub deployments: Vec<DeploymentTime>,
    /// The client's successful requests in the window (median).
    pub client_requests: Option<f64>,
    /// CPU milliseconds per client request of each role.
    pub cpu_ms_per_request: BTreeMap<String, f64>,
    /// CPU milliseconds per client request of all roles.
    pub cpu_total_ms_per_request: Option<f64>,
}

impl ServerAtLoad {
    /// Whether it has any figure from a server view.
    pub fn has_view(&self) -> bool {
        self.views > 0
    }

    /// Client p50 minus ingress p50: time outside Ray Serve's ingress (the network, the client,
    /// HAProxy's queue where it runs in front); a difference of medians, so indicative only.
    pub fn outside_ingress_p50_ms(&self) -> Option<f64> {
        Some(self.client_p50_ms? - self.ingress_p50_ms?)
    }

    /// Ingress p50 minus the longest deployment p50: the ingress's own routing, queueing and
    /// serialization (indicative, like [`Self::outside_ingress_p50_ms`]).
    pub fn in_ingress_p50_ms(&self) -> Option<f64> {
        let longest = self
            .deployments
            .iter()
            .filter_map(|d| d.p50_ms)
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))?;
        Some(self.ingress_p50_ms? - longest)
    }

    /// CPU per request grouped by `roles` (in that order), the rest as `other` (last, when any).
    pub fn cpu_grouped(&self, roles: &[String]) -> Vec<(String, f64)> {
        let mut out: Vec<(String, f64)> = roles
            .iter()
            .map(|r| (r.clone(), self.cpu_ms_per_request.get(r).copied().unwrap_or(0.0)))
            .collect();
        let rest: f64 =
            self.cpu_ms_per_request.iter().filter(|(r, _)| !roles.contains(r)).map(|(_, v)| v).sum();
        if rest > 0.0 {
            out.push((OTHER_ROLE.to_string(), rest));
        }
        out
    }
}

/// Every variant of a comparison at the compared load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerComparison {
    /// The label of the compared user count (the baseline's peak; `None` when it has none).
    pub label: Option<String>,
    /// Its concurrency.
    pub concurrency: Option<u64>,
    /// Why nothing is compared, when nothing is.
    pub note: Option<String>,
    /// The roles shown apart, by the baseline's CPU per request (largest first); the others are
    /// `other`.
    pub roles: Vec<String>,
    /// Every variant, baseline first.
    pub variants: Vec<ServerAtLoad>,
}

impl ServerComparison {
    /// The baseline's entry.
    pub fn baseline(&self) -> Option<&ServerAtLoad> {
        self.variants.iter().find(|v| v.is_baseline)
    }

    /// Whether some variant has figures.
    pub fn has_views(&self) -> bool {
        self.variants.iter().any(ServerAtLoad::has_view)
    }
}

/// A member of a comparison: its variant, whether it is the baseline, its loads.
#[derive(Debug)]
pub(crate) struct MemberLoads<'a, 'b> {
    pub variant: &'a str,
    pub is_baseline: bool,
    pub loads: &'b [Load<'a>],
}

/// The server comparison of a comparison's members at the baseline's peak `at` (label and
/// concurrency); `None` when no level of any member has a `server` field (results written before
/// it, or imported), so that such reports have no such section.
pub(crate) fn server_comparison(
    members: &[MemberLoads<'_, '_>],
    at: Option<(&str, u64)>,
) -> Option<ServerComparison> {
    let any =
        members.iter().any(|m| m.loads.iter().flat_map(|l| &l.repeats).any(|r| r.level.server.is_some()));
    if !any {
        return None;
    }
    let Some((label, concurrency)) = at else {
        let note = if members.iter().any(|m| m.is_baseline) {
            "the baseline has no peak to compare at"
        } else {
            "no baseline to compare with"
        };
        return Some(ServerComparison {
            label: None,
            concurrency: None,
            note: Some(note.to_string()),
            roles: Vec::new(),
            variants: Vec::new(),
        });
    };
    let mut variants: Vec<ServerAtLoad> = members
        .iter()
        .map(|m| {
            let load = m.loads.iter().find(|l| l.label == label && l.concurrency == concurrency);
            at_load(m.variant, m.is_baseline, load, label)
        })
        .collect();
    variants.sort_by_key(|v| !v.is_baseline);
    let roles = roles_apart(&variants);
    Some(ServerComparison {
        label: Some(label.to_string()),
        concurrency: Some(concurrency),
        note: None,
        roles,
        variants,
    })
}

fn at_load(variant: &str, is_baseline: bool, load: Option<&Load<'_>>, label: &str) -> ServerAtLoad {
    let mut out = ServerAtLoad {
        variant: variant.to_string(),
        is_baseline,
        views: 0,
        unavailable: None,
        client_p50_ms: None,
        client_p99_ms: None,
        ingress: None,
        ingress_p50_ms: None,
        ingress_p99_ms: None,
        deployments: Vec::new(),
        client_requests: None,
        cpu_ms_per_request: BTreeMap::new(),
        cpu_total_ms_per_request: None,
    };
    let Some(load) = load else {
        out.unavailable = Some(format!("no level at {label}"));
        return out;
    };
    let levels: Vec<_> = load.repeats.iter().map(|r| r.level).collect();
    let views: Vec<&ServerView> =
        levels.iter().filter_map(|l| l.server.as_ref()).filter(|v| v.is_available()).collect();
    out.views = views.len();
    if views.is_empty() {
        out.unavailable =
            Some(levels.iter().filter_map(|l| l.server.as_ref()?.unavailable.clone()).next().unwrap_or_else(
                || "the level has no server view (written before views existed)".to_string(),
            ));
        return out;
    }
    // Negative or non-finite figures (a writer's bug) are left out.
    let med = |f: &dyn Fn(&ServerView) -> Option<f64>| {
        median(views.iter().filter_map(|v| f(v)).filter(|x| x.is_finite() && *x >= 0.0).collect())
    };
    let with_view: Vec<_> =
        levels.iter().filter(|l| l.server.as_ref().is_some_and(|v| v.is_available())).collect();
    out.client_p50_ms = median(with_view.iter().filter_map(|l| l.latency_ms.p50).collect());
    out.client_p99_ms = median(with_view.iter().filter_map(|l| l.latency_ms.p99).collect());
    out.ingress = views.iter().find_map(|v| v.main_ingress()).map(|(name, _)| name);
    out.ingress_p50_ms = med(&|v| v.main_ingress()?.1.p50_ms);
    out.ingress_p99_ms = med(&|v| v.main_ingress()?.1.p99_ms);
    let names: std::collections::BTreeSet<&String> =
        views.iter().filter_map(|v| v.metrics.as_ref()).flat_map(|m| m.deployments.keys()).collect();
    out.deployments = names
        .into_iter()
        .map(|name| {
            let processing = |v: &ServerView| v.metrics.as_ref()?.deployments.get(name)?.processing;
            DeploymentTime {
                name: name.clone(),
                p50_ms: med(&|v| processing(v)?.p50_ms),
                p99_ms: med(&|v| processing(v)?.p99_ms),
            }
        })
        .collect();
    out.client_requests = med(&|v| v.client_requests.map(|n| n as f64));
    let roles: std::collections::BTreeSet<String> =
        views.iter().flat_map(|v| v.cpu_ms_per_request().into_keys()).collect();
    out.cpu_ms_per_request = roles
        .into_iter()
        .filter_map(|role| Some((role.clone(), med(&|v| v.cpu_ms_per_request().get(&role).copied())?)))
        .collect();
    out.cpu_total_ms_per_request = med(&|v| v.cpu_total_ms_per_request());
    out
}

/// The roles shown apart: those with at least [`ROLE_SHARE`] of their variant's CPU per request
/// in some variant (at most [`MAX_ROLES`]), by the baseline's figure (then the largest
/// elsewhere), largest first; the writer's own `other` role is always added up with the rest.
fn roles_apart(variants: &[ServerAtLoad]) -> Vec<String> {
    let mut weight: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for v in variants {
        let total: f64 = v.cpu_ms_per_request.values().sum();
        if total <= 0.0 {
            continue;
        }
        for (role, ms) in &v.cpu_ms_per_request {
            if role == OTHER_ROLE || *ms < ROLE_SHARE * total {
                continue;
            }
            let e = weight.entry(role.as_str()).or_insert((0.0, 0.0));
            if v.is_baseline {
                e.0 = e.0.max(*ms);
            }
            e.1 = e.1.max(*ms);
        }
    }
    let mut roles: Vec<(&str, (f64, f64))> = weight.into_iter().collect();
    roles.sort_by(|a, b| b.1.0.total_cmp(&a.1.0).then(b.1.1.total_cmp(&a.1.1)).then(a.0.cmp(b.0)));
    roles.into_iter().take(MAX_ROLES).map(|(r, _)| r.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::{MeasuredLevel, MeasuredSweep, Metric, SourceFormat};
    use crate::summary::loads::loads_of;

    fn level(k: u32, server: Option<serde_json::Value>) -> MeasuredLevel {
        MeasuredLevel {
            label: format!("c8-r{k}"),
            repeat: Some(k),
            server: server.as_ref().map(ServerView::from_value),
            ..MeasuredLevel::closed(8, 100.0)
        }
    }

    fn cpu_view(proxy_ms: f64) -> serde_json::Value {
        json!({"schema": "servebench.server/1", "window_s": 10.0, "client_requests": 1000,
               "cpu": {"roles": {"proxy": {"cpu_s": proxy_ms, "ms_per_request": proxy_ms}}}})
    }

    #[test]
    fn repeats_give_medians_and_unavailable_ones_are_left_out() {
        let mut sweep = MeasuredSweep::new("s", "off", "unary", SourceFormat::ServebenchJson, "x");
        sweep.levels = vec![
            level(1, Some(cpu_view(1.0))),
            level(2, Some(json!({"schema": "servebench.server/1", "unavailable": "scrape failed"}))),
            level(3, Some(cpu_view(3.0))),
            level(4, Some(cpu_view(-5.0))),
        ];
        let loads = loads_of(&sweep, &Metric::REQUESTS, 0.01);
        let members = [MemberLoads { variant: "off", is_baseline: true, loads: &loads }];
        let s = server_comparison(&members, Some(("c8", 8))).expect("views");
        let v = &s.variants[0];
        assert_eq!(v.views, 3);
        assert_eq!(v.cpu_ms_per_request.get("proxy"), Some(&2.0), "the median of 1 and 3; -5 left out");
        assert_eq!(s.roles, ["proxy"]);

        // No `server` anywhere: no comparison at all; no baseline peak: a note.
        sweep.levels = vec![level(1, None)];
        let loads = loads_of(&sweep, &Metric::REQUESTS, 0.01);
        let members = [MemberLoads { variant: "off", is_baseline: true, loads: &loads }];
        assert!(server_comparison(&members, Some(("c8", 8))).is_none());
        sweep.levels = vec![level(1, Some(cpu_view(1.0)))];
        let loads = loads_of(&sweep, &Metric::REQUESTS, 0.01);
        let members = [MemberLoads { variant: "off", is_baseline: true, loads: &loads }];
        let s = server_comparison(&members, None).expect("a note");
        assert_eq!(s.note.as_deref(), Some("the baseline has no peak to compare at"));
    }
}
