//! Which CPUs the client runs on. A client that shares cores with the server it measures takes
//! CPU from it, and its own scheduling then moves the server's figures; pinning the client to
//! cores of its own (and the server to the others) keeps the two apart.

/// The CPUs this thread may run on (its affinity mask), ascending; empty if it cannot be read.
#[allow(unsafe_code)]
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: sched_getaffinity writes at most size_of::<cpu_set_t>() bytes into the zeroed set
    // we own; CPU_ISSET only reads it, for indices below CPU_SETSIZE.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize).filter(|&i| libc::CPU_ISSET(i, &set)).collect()
    }
}

/// Restricts the calling thread, and every thread it starts afterwards (a runtime's workers), to
/// `cpus`. Call it before building the runtime.
#[allow(unsafe_code)]
pub fn pin_current_thread(cpus: &[usize]) -> crate::Result<()> {
    if cpus.is_empty() {
        return Err(crate::Error::config("no CPUs to pin the client to"));
    }
    if let Some(&c) = cpus.iter().find(|&&c| c >= libc::CPU_SETSIZE as usize) {
        return Err(crate::Error::config(format!("CPU {c} is beyond what can be pinned")));
    }
    // SAFETY: the set is a zeroed value we own; CPU_SET writes indices checked above;
    // sched_setaffinity only reads it.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in cpus {
            libc::CPU_SET(c, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if rc != 0 {
        return Err(crate::Error::config(format!(
            "pinning the client to CPUs {cpus:?}: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

/// How a machine's CPUs are shared between the client and a server on the same machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// The client's CPUs.
    pub client: Vec<usize>,
    /// The server's CPUs.
    pub server: Vec<usize>,
}

/// The default split of `allowed` CPUs, by physical core (hyperthread siblings stay together,
/// as the machine's topology tells): on 4 or more cores, the last quarter of the cores (at least
/// one) for the client and the rest for the server; on fewer, none (both share them: a server on
/// one or two cores would lose too much).
pub fn auto_split(allowed: &[usize]) -> Option<Split> {
    split_by_core(allowed, &thread_siblings)
}

/// [`auto_split`] with the topology given: `siblings(cpu)` lists the CPUs sharing its core.
pub fn split_by_core(allowed: &[usize], siblings: &dyn Fn(usize) -> Option<Vec<usize>>) -> Option<Split> {
    // Each core, named by its lowest allowed CPU, with its allowed CPUs, in order.
    let mut cores: std::collections::BTreeMap<usize, Vec<usize>> = std::collections::BTreeMap::new();
    for &cpu in allowed {
        let key = siblings(cpu)
            .and_then(|s| s.into_iter().filter(|c| allowed.contains(c)).min())
            .map_or(cpu, |k| k.min(cpu));
        cores.entry(key).or_default().push(cpu);
    }
    let n = cores.len();
    if n < 4 {
        return None;
    }
    let client_cores = (n / 4).max(1);
    let (mut client, mut server) = (Vec::new(), Vec::new());
    for (i, cpus) in cores.into_values().enumerate() {
        if i >= n - client_cores {
            client.extend(cpus);
        } else {
            server.extend(cpus);
        }
    }
    client.sort_unstable();
    server.sort_unstable();
    Some(Split { client, server })
}

/// The CPUs sharing `cpu`'s core, from sysfs (`None` where it does not say).
fn thread_siblings(cpu: usize) -> Option<Vec<usize>> {
    let path = format!("/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list");
    let text = std::fs::read_to_string(path).ok()?;
    let mut cpus = Vec::new();
    for part in text.trim().split(',') {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let (lo, hi): (usize, usize) = (lo.trim().parse().ok()?, hi.trim().parse().ok()?);
        if lo > hi || hi - lo > 4096 {
            return None;
        }
        cpus.extend(lo..=hi);
    }
    Some(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_quarter_goes_to_the_client() {
        let alone = |_: usize| None;
        let cpus: Vec<usize> = (0..16).collect();
        let s = split_by_core(&cpus, &alone).expect("16 cores split");
        assert_eq!(s.client, vec![12, 13, 14, 15]);
        assert_eq!(s.server, (0..12).collect::<Vec<_>>());
        let s = split_by_core(&[0, 1, 2, 3], &alone).expect("4 cores split");
        assert_eq!((s.client, s.server), (vec![3], vec![0, 1, 2]));
        assert_eq!(split_by_core(&[0, 1], &alone), None, "2 cores are shared");
        let s = split_by_core(&[2, 3, 6, 7, 8], &alone).expect("an affinity mask with gaps");
        assert_eq!((s.client, s.server), (vec![8], vec![2, 3, 6, 7]));
    }

    #[test]
    fn hyperthread_siblings_stay_on_one_side() {
        // 8 cores x 2 threads, numbered as Linux usually does: CPU n and n + 8 share a core.
        let smt = |c: usize| Some(vec![c % 8, c % 8 + 8]);
        let cpus: Vec<usize> = (0..16).collect();
        let s = split_by_core(&cpus, &smt).expect("8 cores split");
        assert_eq!(s.client, vec![6, 7, 14, 15], "the last two cores, both threads each");
        assert_eq!(s.server, vec![0, 1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13]);
        // 2 cores x 2 threads: too few cores to split.
        let small = |c: usize| Some(vec![c % 2, c % 2 + 2]);
        assert_eq!(split_by_core(&[0, 1, 2, 3], &small), None);
        // This machine's own topology gives some answer without panicking.
        let _ = auto_split(&allowed_cpus());
    }

    #[test]
    fn pinning_this_thread_narrows_what_it_may_use() {
        let allowed = allowed_cpus();
        assert!(!allowed.is_empty());
        let one = allowed[allowed.len() - 1];
        std::thread::spawn(move || {
            pin_current_thread(&[one]).expect("pin");
            assert_eq!(allowed_cpus(), vec![one]);
            // Threads it starts inherit the mask.
            let child = std::thread::spawn(allowed_cpus).join().expect("child");
            assert_eq!(child, vec![one]);
        })
        .join()
        .expect("pinned thread");
        assert!(pin_current_thread(&[]).is_err());
    }
}
