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

/// The default split of `allowed` CPUs: on 4 or more, the last quarter (at least one) for the
/// client and the rest for the server; on fewer, none (both share them: a server on one or two
/// cores would lose too much).
pub fn auto_split(allowed: &[usize]) -> Option<Split> {
    if allowed.len() < 4 {
        return None;
    }
    let client_n = (allowed.len() / 4).max(1);
    let (server, client) = allowed.split_at(allowed.len() - client_n);
    Some(Split { client: client.to_vec(), server: server.to_vec() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_quarter_goes_to_the_client() {
        let cpus: Vec<usize> = (0..16).collect();
        let s = auto_split(&cpus).expect("16 cores split");
        assert_eq!(s.client, vec![12, 13, 14, 15]);
        assert_eq!(s.server, (0..12).collect::<Vec<_>>());
        let s = auto_split(&[0, 1, 2, 3]).expect("4 cores split");
        assert_eq!((s.client, s.server), (vec![3], vec![0, 1, 2]));
        assert_eq!(auto_split(&[0, 1]), None, "2 cores are shared");
        let s = auto_split(&[2, 3, 6, 7, 8]).expect("an affinity mask with gaps");
        assert_eq!((s.client, s.server), (vec![8], vec![2, 3, 6, 7]));
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
