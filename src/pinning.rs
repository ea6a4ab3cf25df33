//! Whether workers are pinned to cores, and to which.
//!
//! Pinning a worker to a core only helps when the core is the worker's
//! alone; pinning to CPUs that other processes also use stacks every
//! process on the first cores (two `docker run --cpus 1` containers on one
//! host would both pin to core 0 while core 1 idles). So by default
//! (`--pin auto`) workers are pinned only when the process owns a CPU set of
//! exactly its worker count: its affinity mask (a container's cpuset, a
//! Kubernetes exclusive CPU set, or the whole machine for a bare process)
//! holds as many CPUs as there are workers, and no CPU quota (cgroup
//! `cpu.max`, Docker's `--cpus`, a Kubernetes CPU limit in the shared pool)
//! allows fewer. Otherwise workers float, and the log says why.

use clap::ValueEnum;

/// `--pin`: when workers are pinned to cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum PinMode {
    /// Pin only when the process owns exactly one CPU per worker.
    #[default]
    Auto,
    /// Pin worker *i* to the *i*-th allowed CPU (round robin), always.
    Always,
    /// Never pin.
    Never,
}

/// The CPUs the process may run on and how many it may use at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cpus {
    /// The affinity mask, in order.
    pub allowed: Vec<usize>,
    /// CPUs' worth of time the quota allows (the allowed count without a
    /// quota): what `std::thread::available_parallelism` reports.
    pub usable: usize,
}

impl Cpus {
    /// The process's CPUs, read from the OS.
    pub fn detect() -> Self {
        let allowed: Vec<usize> = core_affinity::get_core_ids()
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.id)
            .collect();
        let usable = std::thread::available_parallelism().map_or(allowed.len(), |n| n.get());
        Self { allowed, usable }
    }
}

/// Where each worker runs: `Some(cpu)` per worker when pinned, and the
/// reason, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub cores: Option<Vec<usize>>,
    pub reason: String,
}

/// Decides pinning for `workers` workers.
pub fn plan(mode: PinMode, cpus: &Cpus, workers: usize) -> Plan {
    let allowed = cpus.allowed.len();
    let pinned = |reason: String| Plan {
        cores: Some((0..workers).map(|i| cpus.allowed[i % allowed]).collect()),
        reason,
    };
    let floating = |reason: String| Plan {
        cores: None,
        reason,
    };
    if allowed == 0 {
        return floating("the CPUs this process may use are unknown".into());
    }
    match mode {
        PinMode::Never => floating("--pin never".into()),
        PinMode::Always => pinned("--pin always".into()),
        PinMode::Auto if workers != allowed => floating(format!(
            "{workers} workers for {allowed} allowed CPUs (--pin auto pins only when they match; \
             --pin always forces it)"
        )),
        PinMode::Auto if cpus.usable < allowed => floating(format!(
            "a CPU quota of {} CPUs over {allowed} allowed CPUs: the CPUs are shared \
             (--pin always forces it)",
            cpus.usable
        )),
        PinMode::Auto => pinned(format!("the process owns {allowed} CPUs, one per worker")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpus(allowed: &[usize], usable: usize) -> Cpus {
        Cpus {
            allowed: allowed.to_vec(),
            usable,
        }
    }

    #[test]
    fn auto_pins_only_a_cpu_set_of_exactly_the_workers() {
        // A bare process or `--cpuset-cpus 2,3` with as many workers.
        let p = plan(PinMode::Auto, &cpus(&[2, 3], 2), 2);
        assert_eq!(p.cores, Some(vec![2, 3]));
        // `docker run --cpus 1` on a 2-CPU host: mask of 2, quota of 1.
        let p = plan(PinMode::Auto, &cpus(&[0, 1], 1), 1);
        assert_eq!(p.cores, None);
        assert!(
            p.reason.contains("1 workers for 2 allowed CPUs"),
            "{}",
            p.reason
        );
        // A quota below the set, with as many workers as CPUs forced.
        let p = plan(PinMode::Auto, &cpus(&[0, 1], 1), 2);
        assert_eq!(p.cores, None);
        assert!(p.reason.contains("quota"), "{}", p.reason);
        // More workers than CPUs (tests run 4 workers on 2 cores).
        assert_eq!(plan(PinMode::Auto, &cpus(&[0, 1], 2), 4).cores, None);
    }

    #[test]
    fn always_and_never() {
        let p = plan(PinMode::Always, &cpus(&[0, 1], 1), 3);
        assert_eq!(p.cores, Some(vec![0, 1, 0]));
        assert_eq!(plan(PinMode::Never, &cpus(&[0, 1], 2), 2).cores, None);
        let unknown = plan(PinMode::Always, &cpus(&[], 1), 2);
        assert_eq!(unknown.cores, None);
    }
}
