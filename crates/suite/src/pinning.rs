//! CPU pinning: on machines with enough cores the client and the local Ray clusters run on CPUs of
//! their own (hyperthread siblings kept together), so that the client never takes CPU from the
//! server it measures; on small machines they share. Recorded in the run manifest.

use crate::args::PinArgs;
use crate::error::SuiteError;

/// Which CPUs the client and each local Ray cluster run on (`None`: not pinned).
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Pinning {
    pub client: Option<Vec<usize>>,
    pub ray: Option<Vec<usize>>,
    /// How it was chosen.
    pub how: PinSource,
}

/// How the CPUs were chosen (as the run manifest names it).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum PinSource {
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
    /// The split the command line asks for (`target_local`: whether local clusters are used at
    /// all; nothing is pinned otherwise).
    pub fn resolve(args: &PinArgs, target_local: bool) -> Result<Pinning, SuiteError> {
        let list = |flag: &str, l: &Option<String>| -> Result<Option<Vec<usize>>, SuiteError> {
            l.as_deref()
                .map(|l| deploy::parse_cpu_list(l).map_err(|e| SuiteError::Usage(format!("{flag}: {e}"))))
                .transpose()
        };
        let (client, ray) = (list("--client-cpus", &args.client_cpus)?, list("--ray-cpus", &args.ray_cpus)?);
        if args.no_pin || !target_local {
            return Ok(Pinning { ..Pinning::default() });
        }
        let allowed = loadgen::affinity::allowed_cpus();
        if let Some(c) = client.iter().chain(&ray).flatten().find(|c| !allowed.contains(c)) {
            return Err(SuiteError::Usage(format!(
                "CPU {c} is not available to this process (it may use {})",
                deploy::format_cpu_list(&allowed)
            )));
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
                if ray.is_empty() {
                    return Err(SuiteError::Usage(
                        "--client-cpus leaves no CPU for Ray: name --ray-cpus too".into(),
                    ));
                }
                Pinning { client: Some(client), ray: Some(ray), how: PinSource::Given }
            }
            (None, Some(ray)) => {
                let client = rest(&ray);
                if client.is_empty() {
                    return Err(SuiteError::Usage(
                        "--ray-cpus leaves no CPU for the client: name --client-cpus too".into(),
                    ));
                }
                Pinning { client: Some(client), ray: Some(ray), how: PinSource::Given }
            }
            (Some(client), Some(ray)) => {
                if let Some(c) = client.iter().find(|c| ray.contains(c)) {
                    return Err(SuiteError::Usage(format!(
                        "CPU {c} is in both --client-cpus and --ray-cpus: the client would compete with Ray"
                    )));
                }
                Pinning { client: Some(client), ray: Some(ray), how: PinSource::Given }
            }
        })
    }

    /// One line saying what was pinned where.
    pub fn describe(&self) -> String {
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

impl Pinning {
    /// Pins the calling thread (before the runtime starts, so that its threads inherit it) to the
    /// client's CPUs. Measuring unpinned beats not measuring: when that fails, the client runs
    /// unpinned, the pinning says so, and the reason is returned for the user.
    pub fn pin_client(&mut self) -> Option<String> {
        let cpus = self.client.as_ref()?;
        match loadgen::affinity::pin_current_thread(cpus) {
            Ok(()) => None,
            Err(e) => {
                self.client = None;
                self.how = PinSource::ClientFailed;
                Some(format!("{e}; the client runs unpinned"))
            }
        }
    }
}
