//! The plan of a run: each distinct (variant, layout) is deployed once and every selected
//! workload is swept on it; comparisons then pair those sweeps.

use serde::Serialize;

use crate::config::{Settings, WorkloadDef};

/// One deployment and the sweeps run on it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    /// The variant (flag set).
    pub variant: String,
    /// The replica layout.
    pub layout: String,
    /// Workloads swept on it.
    pub workloads: Vec<WorkloadDef>,
    /// Comparisons that use it.
    pub comparisons: Vec<String>,
}

impl Group {
    /// Name of the group in files and progress lines.
    pub fn key(&self) -> String {
        format!("{}-{}", self.variant, self.layout)
    }

    /// The apps the deployment must serve.
    pub fn apps(&self) -> Vec<&str> {
        let mut apps: Vec<&str> = Vec::new();
        for w in &self.workloads {
            if !apps.contains(&w.app.as_str()) {
                apps.push(&w.app);
            }
        }
        apps
    }
}

/// The file stem of one measured sweep.
pub fn sweep_stem(variant: &str, layout: &str, workload: &str) -> String {
    format!("{variant}-{layout}-{workload}")
}

/// What a run deploys and measures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// Deployments in order.
    pub groups: Vec<Group>,
}

impl Plan {
    /// Builds the plan of `settings`: baselines shared between comparisons are deployed once.
    pub fn new(settings: &Settings) -> Self {
        let mut groups: Vec<Group> = Vec::new();
        for c in &settings.comparisons {
            for variant in [&c.baseline, &c.treatment] {
                if !settings.variants.is_empty() && !settings.variants.contains(variant) {
                    continue;
                }
                match groups.iter_mut().find(|g| &g.variant == variant && g.layout == c.layout) {
                    Some(g) => g.comparisons.push(c.name.clone()),
                    None => groups.push(Group {
                        variant: variant.clone(),
                        layout: c.layout.clone(),
                        workloads: settings.workloads.clone(),
                        comparisons: vec![c.name.clone()],
                    }),
                }
            }
        }
        Plan { groups }
    }

    /// Number of levels the plan runs.
    pub fn levels(&self, settings: &Settings) -> usize {
        self.groups
            .iter()
            .flat_map(|g| &g.workloads)
            .map(|w| settings.sweeps.get(&w.sweep).map_or(0, Vec::len))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SuiteConfig;

    fn config() -> SuiteConfig {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../suites/features/configs/suite.toml");
        SuiteConfig::load(&path).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_shared_baseline_is_deployed_once() {
        let c = config();
        let s = Settings::from_profile(&c, "spec").unwrap_or_else(|e| panic!("{e}"));
        let plan = Plan::new(&s);
        let keys: Vec<String> = plan.groups.iter().map(Group::key).collect();
        assert_eq!(
            keys,
            [
                "baseline-1replica",
                "grpc-1replica",
                "haproxy-1replica",
                "single_loop-1replica",
                "all_on-1replica",
                "baseline-8replica",
                "all_on-8replica"
            ]
        );
        assert_eq!(plan.groups[0].comparisons, ["grpc", "haproxy", "singleloop", "allon"]);
        // 7 deployments x (9 unary + 8 streaming + 9 grpc levels).
        assert_eq!(plan.levels(&s), 7 * 26);
        assert_eq!(plan.groups[0].apps(), ["unary", "streaming", "grpc_unary"]);
    }

    #[test]
    fn variants_can_be_selected() {
        let c = config();
        let mut s = Settings::from_profile(&c, "default").unwrap_or_else(|e| panic!("{e}"));
        s.variants = vec!["all_on".into()];
        let plan = Plan::new(&s);
        assert_eq!(plan.groups.len(), 1);
        assert_eq!(plan.groups[0].key(), "all_on-1replica");
    }

    #[test]
    fn bad_configs_are_rejected_with_their_reason() {
        let bad = "[[comparison]]\nname='a_b'\nbaseline='x'\ntreatment='y'\nlayout='l'\n[[workload]]\nname='u'\napp='a'\nprotocol='http'\nsla_p99_ms=1\nsweep='s'\n[profile.p]\ncomparisons=[]\nworkloads=[]\nwarmup_s=0\nduration_s=1\ncooldown_s=0\ntimeout_s=1\nsweeps={}\n";
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = dir.path().join("s.toml");
        std::fs::write(&p, bad).unwrap_or_else(|e| panic!("{e}"));
        let e = SuiteConfig::load(&p).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("letters and digits"), "{e}");
        std::fs::write(&p, bad.replace("a_b", "ab").replace("protocol='http'", "protocol='ftp'"))
            .unwrap_or_else(|e| panic!("{e}"));
        let e = SuiteConfig::load(&p).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("ftp"), "{e}");
    }
}
