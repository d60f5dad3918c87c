//! The processes of a local cluster: found by session id (every Ray process inherits the
//! session `ray start` was started in with `setsid`), by the cluster's temp dir in their
//! command line, and as descendants of those; stopped with TERM, then KILL.
//!
//! `ray stop` is not used: it stops every Ray process of the machine, including other
//! benchmark clusters.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One process from /proc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcInfo {
    pub pid: u32,
    pub ppid: u32,
    pub sid: u32,
    pub zombie: bool,
    pub cmdline: String,
}

/// Every process visible in /proc.
pub fn list() -> Vec<ProcInfo> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // "pid (comm) state ppid pgrp session ..."; comm may hold spaces and parens.
            let rest = &stat[stat.rfind(')')? + 1..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let cmdline = std::fs::read(entry.path().join("cmdline"))
                .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
                .unwrap_or_default();
            Some(ProcInfo {
                pid,
                zombie: fields.first() == Some(&"Z"),
                ppid: fields.get(1)?.parse().ok()?,
                sid: fields.get(3)?.parse().ok()?,
                cmdline,
            })
        })
        .collect()
}

/// The live (non-zombie) processes of the cluster: in session `sid`, or with `needle` in
/// their command line, and all their descendants; never this process.
pub fn cluster_pids(sid: Option<u32>, needle: &str) -> Vec<u32> {
    let procs = list();
    let zombies: BTreeSet<u32> = procs.iter().filter(|p| p.zombie).map(|p| p.pid).collect();
    find(&procs, sid, needle).into_iter().filter(|pid| !zombies.contains(pid)).collect()
}

/// Like [`cluster_pids`], zombies included (they have ended, and their parent has not collected
/// them yet: until it does, their CPU time is in their own /proc entry, not in the parent's).
pub fn cluster_pids_with_zombies(sid: Option<u32>, needle: &str) -> Vec<u32> {
    find(&list(), sid, needle).into_iter().collect()
}

fn find(procs: &[ProcInfo], sid: Option<u32>, needle: &str) -> BTreeSet<u32> {
    let me = std::process::id();
    let mut found: BTreeSet<u32> = procs
        .iter()
        .filter(|p| sid.is_some_and(|s| p.sid == s) || p.cmdline.contains(needle))
        .map(|p| p.pid)
        .collect();
    let mut children: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for p in procs {
        children.entry(p.ppid).or_default().push(p.pid);
    }
    let mut stack: Vec<u32> = found.iter().copied().collect();
    while let Some(pid) = stack.pop() {
        for &child in children.get(&pid).map(Vec::as_slice).unwrap_or_default() {
            if found.insert(child) {
                stack.push(child);
            }
        }
    }
    found.remove(&me);
    found
}

fn signal(pids: &[u32], name: &str) {
    if pids.is_empty() {
        return;
    }
    let _ = Command::new("kill")
        .arg("-s")
        .arg(name)
        .args(pids.iter().map(u32::to_string))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Stops the cluster's processes: TERM, up to `grace` for them to exit, then KILL and up to
/// five more seconds. Returns what is still alive (`command line`s), empty on success.
/// Blocking.
pub fn terminate(sid: Option<u32>, needle: &str, grace: Duration) -> Vec<String> {
    let pids = cluster_pids(sid, needle);
    if pids.is_empty() {
        return Vec::new();
    }
    signal(&pids, "TERM");
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && !cluster_pids(sid, needle).is_empty() {
        std::thread::sleep(Duration::from_millis(100));
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = cluster_pids(sid, needle);
        if left.is_empty() {
            return Vec::new();
        }
        if Instant::now() >= deadline {
            let procs = list();
            return left
                .iter()
                .map(|pid| {
                    let cmd = procs
                        .iter()
                        .find(|p| p.pid == *pid)
                        .map(|p| p.cmdline.chars().take(120).collect::<String>())
                        .unwrap_or_default();
                    format!("{pid} {cmd}")
                })
                .collect();
        }
        signal(&left, "KILL");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A watchdog process that stops the cluster (session `sid`) and removes its temp dir if
/// this process dies without tearing down (SIGKILL, an unhandled Ctrl-C, a crash).
#[derive(Debug)]
pub struct Watchdog {
    child: Option<Child>,
}

const WATCHDOG: &str = r#"owner="$1"; sid="$2"; dir="$3"
while kill -0 "$owner" 2>/dev/null; do sleep 1; done
pkill -TERM -s "$sid" 2>/dev/null
sleep 3
pkill -KILL -s "$sid" 2>/dev/null
rm -rf "$dir"
"#;

impl Watchdog {
    /// Starts the watchdog in its own process group (so a terminal's Ctrl-C does not reach
    /// it). Failure to start is not fatal: teardown still happens on the normal paths.
    pub fn start(sid: u32, dir: &std::path::Path) -> Self {
        use std::os::unix::process::CommandExt;
        let child = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("servebench-watchdog")
            .arg(std::process::id().to_string())
            .arg(sid.to_string())
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .ok();
        Self { child }
    }

    /// Stops the watchdog (after a normal teardown).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop();
    }
}
