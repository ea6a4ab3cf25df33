//! Timing commands for their statistics with few clock reads. A clock read
//! costs about as much as a whole `GET` on a pipelined connection, so a
//! run of quick commands (single-key commands of bounded work, see
//! `Connection::end_call`) is timed as a whole: one read when the run
//! ends, its time split evenly among its commands. Any other command is
//! timed alone, as Redis times every command: the run before it is closed
//! first, and the clock is read again once it has run.

use super::Introspect;
use std::time::Instant;

/// `slowlog-log-slower-than` below which every command is timed alone: a
/// quick command takes a few microseconds, so above it none is slow
/// enough to be logged, and below it the slow log needs each one's time.
pub const TIME_EACH_BELOW_USEC: i64 = 1_000;

/// The clock of one connection's batch.
#[derive(Debug)]
pub struct CallClock {
    /// The last clock read: the time since then is not counted yet.
    last: Instant,
    /// The quick commands run since `last` (their statistics index), counted
    /// with no time yet.
    pending: Vec<u16>,
}

impl Default for CallClock {
    fn default() -> Self {
        Self::new(Instant::now())
    }
}

impl CallClock {
    pub fn new(now: Instant) -> Self {
        Self {
            last: now,
            pending: Vec::new(),
        }
    }

    /// Starts a batch at `now` (what passed since the last one is idle).
    #[inline]
    pub fn start(&mut self, now: Instant) {
        self.last = now;
        self.pending.clear();
    }

    /// The last clock read.
    pub fn last(&self) -> Instant {
        self.last
    }

    /// True if quick commands wait for their time.
    #[inline]
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Counts a quick command of statistics `index` in the current run.
    #[inline]
    pub fn defer(&mut self, index: u16) {
        self.pending.push(index);
    }

    /// Ends the run at `now`: its time, split evenly (the first ones get
    /// the remainder's microseconds), goes to its commands' counters.
    pub fn settle(&mut self, stats: &mut Introspect, now: Instant) {
        let usec = self.elapsed(now);
        let n = self.pending.len() as u64;
        if n == 0 {
            return;
        }
        let (share, extra) = (usec / n, usec % n);
        for (i, &index) in self.pending.iter().enumerate() {
            stats.add_usec(usize::from(index), share + u64::from((i as u64) < extra));
        }
        self.pending.clear();
    }

    /// Microseconds since the last read, for a command timed alone; the
    /// clock now reads `now`. A run still pending (a command found not to
    /// be quick only once it ran: its reply was large) is charged to this
    /// command: its own time is the bulk of it.
    pub fn lap(&mut self, now: Instant) -> u64 {
        self.pending.clear();
        self.elapsed(now)
    }

    /// Microseconds since the last read; the clock now reads `now`.
    fn elapsed(&mut self, now: Instant) -> u64 {
        let usec = now.saturating_duration_since(self.last).as_micros() as u64;
        self.last = now;
        usec
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::introspect::{command_index, Verdict};
    use crate::resp::commands::lookup;
    use std::time::Duration;

    fn index(name: &[u8]) -> usize {
        command_index(lookup(name).unwrap())
    }

    #[test]
    fn a_run_shares_its_time_to_the_microsecond() {
        let t0 = Instant::now();
        let mut clock = CallClock::new(t0);
        let mut stats = Introspect::default();
        let (get, set) = (index(b"get"), index(b"set"));
        for i in [get, set, set] {
            stats.record(i, 0, Verdict::Ran);
            clock.defer(i as u16);
        }
        clock.settle(&mut stats, t0 + Duration::from_micros(11));
        assert_eq!(stats.commands[get].usec, 4);
        assert_eq!(stats.commands[set].usec, 7);
        assert_eq!(stats.commands[set].calls, 2);
        assert!(!clock.has_pending());
        assert_eq!(clock.last(), t0 + Duration::from_micros(11));
    }

    #[test]
    fn a_command_timed_alone_counts_from_the_last_read() {
        let t0 = Instant::now();
        let mut clock = CallClock::new(t0);
        let mut stats = Introspect::default();
        clock.settle(&mut stats, t0 + Duration::from_micros(5));
        assert_eq!(clock.lap(t0 + Duration::from_micros(25)), 20);
        // A run it closes unsettled costs it nothing more.
        clock.defer(index(b"get") as u16);
        assert_eq!(clock.lap(t0 + Duration::from_micros(30)), 5);
        assert!(!clock.has_pending());
        assert!(stats.commands.iter().all(|c| c.usec == 0));
    }
}
