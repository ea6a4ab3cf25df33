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
//!
//! Owning the CPU set is not owning the cores: a client, an application
//! or a batch job on the same machine may run on them too, and a pinned
//! worker whose core is busy waits even when another core is free (on a
//! 2-core VM running corekv, its clients and `redis-benchmark`, every row
//! of the benchmark was slower pinned). So under `--pin auto` each pinned
//! worker watches how long it waits, runnable, for its core (the kernel's
//! run-queue delay, `/proc/thread-self/schedstat`): once it has waited at
//! least [`CONTENDED_SHARE`] of the time over [`CONTENDED_WINDOWS`]
//! consecutive windows of [`WINDOW`], it lets go of its core and floats
//! over the whole CPU set for the rest of the run ([`CoreWatch`]).
//!
//! The same measure, over shorter windows, tells every worker whether it
//! waits for a CPU now ([`Contention`]): under `--migrate auto` only such
//! a worker moves connections to the worker that owns their keys
//! (`connection/migrate.rs`).

use std::time::{Duration, Instant};

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
    /// Under `--pin auto`, the CPU set a pinned worker floats over once its
    /// core turns out to be shared ([`CoreWatch`]); `None`: pins stay.
    pub release_to: Option<Vec<usize>>,
    pub reason: String,
}

/// Decides pinning for `workers` workers.
pub fn plan(mode: PinMode, cpus: &Cpus, workers: usize) -> Plan {
    let allowed = cpus.allowed.len();
    let pinned = |reason: String| Plan {
        cores: Some((0..workers).map(|i| cpus.allowed[i % allowed]).collect()),
        release_to: None,
        reason,
    };
    let floating = |reason: String| Plan {
        cores: None,
        release_to: None,
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
        PinMode::Auto => Plan {
            release_to: Some(cpus.allowed.clone()),
            ..pinned(format!(
                "the process owns {allowed} CPUs, one per worker (a worker that waits for \
                 its core, shared with another process, lets go of it)"
            ))
        },
    }
}

/// How long each measurement of a pinned worker's waiting covers.
pub const WINDOW: Duration = Duration::from_secs(1);
/// The share of a window a pinned worker may wait for its core before the
/// window counts as contended: 50 ms per second. A worker alone on its
/// core waits far less (kernel threads only; 1% was seen under full load).
pub const CONTENDED_SHARE: f64 = 0.05;
/// Consecutive contended windows before a worker lets go of its core, so
/// one burst of another process does not unpin it.
pub const CONTENDED_WINDOWS: u32 = 2;

/// Cumulative run-queue wait samples cut into windows: each window of at
/// least a given span ends with the share of it the thread spent waiting.
#[derive(Debug, Default)]
struct WaitWindows {
    /// The start of the current window, and the wait counter then.
    start: Option<(Instant, u64)>,
}

impl WaitWindows {
    /// Takes a sample: `wait_ns`, the thread's total time spent runnable
    /// but waiting for a CPU, at `now`. Once `span` has passed since the
    /// window began, ends it and returns the share of it spent waiting
    /// (a late sample makes one long window, not several).
    fn sample(&mut self, now: Instant, wait_ns: u64, span: Duration) -> Option<f64> {
        let Some((start, start_wait)) = self.start else {
            self.start = Some((now, wait_ns));
            return None;
        };
        let took = now.saturating_duration_since(start);
        if took < span {
            return None;
        }
        self.start = Some((now, wait_ns));
        Some(wait_ns.saturating_sub(start_wait) as f64 / took.as_nanos() as f64)
    }
}

/// A pinned worker's watch over its core (`--pin auto`): fed the worker's
/// cumulative run-queue wait now and then, it says when to let go.
#[derive(Debug, Default)]
pub struct CoreWatch {
    windows: WaitWindows,
    /// Contended windows in a row, up to now.
    contended: u32,
    /// Set once the worker has let go: the watch is done.
    released: bool,
}

/// What a [`CoreWatch`] decided after a sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// Stay as is.
    Keep,
    /// Let go of the core: the last window's share of time spent waiting.
    Release { waited: f64 },
}

impl CoreWatch {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes a sample: `wait_ns`, the worker's total time spent runnable
    /// but waiting for a CPU, at `now`.
    pub fn observe(&mut self, now: Instant, wait_ns: u64) -> Verdict {
        if self.released {
            return Verdict::Keep;
        }
        let Some(waited) = self.windows.sample(now, wait_ns, WINDOW) else {
            return Verdict::Keep;
        };
        if waited < CONTENDED_SHARE {
            self.contended = 0;
            return Verdict::Keep;
        }
        self.contended += 1;
        if self.contended < CONTENDED_WINDOWS {
            return Verdict::Keep;
        }
        self.released = true;
        Verdict::Release { waited }
    }
}

/// How long each measurement behind `--migrate auto` covers: short, so a
/// worker sees within a fraction of a second that it waits for a CPU.
pub const CONTENTION_WINDOW: Duration = Duration::from_millis(100);

/// Quiet windows in a row after which a contended worker is no longer
/// (a second): a pause between a client's bursts does not free the cores.
pub const QUIET_WINDOWS: u32 = 10;

/// Whether a worker waits for a CPU (`--migrate auto`): contended from a
/// [`CONTENTION_WINDOW`] in which it spent [`CONTENDED_SHARE`] or more of
/// the time runnable but not running, until [`QUIET_WINDOWS`] in a row
/// spent less. A hop between workers then costs a wait for a CPU on top
/// of its messages, so moving a connection to the worker that owns its
/// keys pays; on cores of their own the workers share a hot key's work
/// better by forwarding.
#[derive(Debug, Default)]
pub struct Contention {
    windows: WaitWindows,
    /// Quiet windows still needed before the worker is not contended; 0:
    /// it is not.
    quiet_needed: u32,
}

impl Contention {
    /// Takes a sample (as [`CoreWatch::observe`]); true while contended.
    pub fn observe(&mut self, now: Instant, wait_ns: u64) -> bool {
        if let Some(waited) = self.windows.sample(now, wait_ns, CONTENTION_WINDOW) {
            if waited >= CONTENDED_SHARE {
                self.quiet_needed = QUIET_WINDOWS;
            } else {
                self.quiet_needed = self.quiet_needed.saturating_sub(1);
            }
        }
        self.quiet_needed > 0
    }
}

/// The calling thread's total time spent runnable but waiting for a CPU,
/// in nanoseconds (the second field of `/proc/thread-self/schedstat`);
/// `None` where the kernel does not keep it.
pub fn thread_wait_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().nth(1)?.parse().ok()
}

/// Lets the calling thread run on any of `cpus` (its pin undone).
pub fn float_current_thread(cpus: &[usize]) -> std::io::Result<()> {
    // SAFETY: a zeroed `cpu_set_t` is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        if cpu < libc::CPU_SETSIZE as usize {
            // SAFETY: `cpu` is below the set's size.
            unsafe { libc::CPU_SET(cpu, &mut set) };
        }
    }
    // SAFETY: `set` is a valid `cpu_set_t` of the size passed; pid 0 is
    // the calling thread.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
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
        // … and such a pin is let go of, over the same set, if contended.
        assert_eq!(p.release_to, Some(vec![2, 3]));
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

    const MS: u64 = 1_000_000;

    #[test]
    fn watch_lets_go_after_two_contended_windows_in_a_row() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut w = CoreWatch::new();
        assert_eq!(w.observe(at(0), 0), Verdict::Keep);
        // Samples inside a window decide nothing, however much was waited.
        assert_eq!(w.observe(at(500), 400 * MS), Verdict::Keep);
        // Window 1: 100 ms of 1 s waited (10%): contended, but only one.
        assert_eq!(w.observe(at(1000), 100 * MS), Verdict::Keep);
        // Window 2: 10 ms (1%): quiet, the count starts over.
        assert_eq!(w.observe(at(2000), 110 * MS), Verdict::Keep);
        // Windows 3 and 4: 60 ms and 300 ms of a second.
        assert_eq!(w.observe(at(3000), 170 * MS), Verdict::Keep);
        match w.observe(at(4000), 470 * MS) {
            Verdict::Release { waited } => assert!((waited - 0.3).abs() < 1e-9, "{waited}"),
            v => panic!("expected a release, got {v:?}"),
        }
        // Released once: the watch has nothing more to say.
        assert_eq!(w.observe(at(6000), 2470 * MS), Verdict::Keep);
    }

    #[test]
    fn watch_keeps_a_worker_that_waits_under_the_share() {
        let t0 = Instant::now();
        let mut w = CoreWatch::new();
        let mut wait = 0;
        for s in 0..=60u64 {
            // 40 ms of each second (4%), sampled every 100 ms.
            for tenth in 0..10u64 {
                let v = w.observe(t0 + Duration::from_millis(s * 1000 + tenth * 100), wait);
                assert_eq!(v, Verdict::Keep, "second {s}");
                wait += 4 * MS;
            }
        }
    }

    #[test]
    fn watch_measures_long_gaps_between_samples_as_one_window() {
        // A tick that came 3 s late (the worker was busy): 120 ms of 3 s
        // is 4%, under the share.
        let t0 = Instant::now();
        let mut w = CoreWatch::new();
        w.observe(t0, 0);
        assert_eq!(
            w.observe(t0 + Duration::from_secs(3), 120 * MS),
            Verdict::Keep
        );
        assert_eq!(
            w.observe(t0 + Duration::from_secs(4), 200 * MS),
            Verdict::Keep
        );
        assert!(matches!(
            w.observe(t0 + Duration::from_secs(5), 300 * MS),
            Verdict::Release { .. }
        ));
    }

    #[test]
    fn contention_starts_in_one_window_and_ends_after_a_quiet_second() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut c = Contention::default();
        assert!(!c.observe(at(0), 0));
        // Inside the first window nothing is decided, however much waited.
        assert!(!c.observe(at(50), 9 * MS));
        // Window 1: 10 ms of 100 (10%): contended at once.
        assert!(c.observe(at(100), 10 * MS));
        // Nine quiet windows (1% each) are not enough to end it…
        let mut wait = 10 * MS;
        for w in 2..=10 {
            wait += MS;
            assert!(c.observe(at(w * 100), wait), "window {w}");
        }
        // … a tenth is.
        wait += MS;
        assert!(!c.observe(at(1100), wait));
        // A sample 2 s late is one window: 60 ms of 2 s (3%), quiet.
        wait += 60 * MS;
        assert!(!c.observe(at(3100), wait));
        // 5 ms of 100 (5%) is contended: the share is inclusive…
        wait += 5 * MS;
        assert!(c.observe(at(3200), wait));
        // … and one more contended window in the quiet run starts it over.
        for w in 33..=49 {
            wait += if w == 40 { 20 * MS } else { MS };
            assert!(c.observe(at(w * 100), wait), "window {w}");
        }
        wait += MS;
        assert!(!c.observe(at(5000), wait));
    }

    #[test]
    fn this_thread_can_read_its_wait_and_float() {
        // Linux with schedstat: the counter exists and only grows.
        if let Some(a) = thread_wait_ns() {
            let b = thread_wait_ns().expect("read twice");
            assert!(b >= a);
        }
        let cpus = Cpus::detect();
        if cpus.allowed.is_empty() {
            return;
        }
        // On its own thread, so the test harness's affinity is untouched.
        std::thread::spawn(move || {
            assert!(core_affinity::set_for_current(core_affinity::CoreId {
                id: cpus.allowed[0]
            }));
            assert_eq!(Cpus::detect().allowed, vec![cpus.allowed[0]]);
            float_current_thread(&cpus.allowed).expect("float");
            assert_eq!(Cpus::detect().allowed, cpus.allowed);
        })
        .join()
        .expect("thread");
    }

    #[test]
    fn always_and_never() {
        let p = plan(PinMode::Always, &cpus(&[0, 1], 1), 3);
        assert_eq!(p.cores, Some(vec![0, 1, 0]));
        // `always` means always: no watch lets go of the pins.
        assert_eq!(p.release_to, None);
        assert_eq!(plan(PinMode::Never, &cpus(&[0, 1], 2), 2).cores, None);
        let unknown = plan(PinMode::Always, &cpus(&[], 1), 2);
        assert_eq!(unknown.cores, None);
    }
}
