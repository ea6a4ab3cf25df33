//! `SLOWLOG`: a bounded ring of slow commands per worker, merged newest
//! first on read. Ids come from one process-wide counter, taken only when
//! a command is slow enough to be logged.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Redis keeps at most this many arguments of a logged command …
pub const MAX_ARGS: usize = 32;
/// … and this many bytes of each.
pub const MAX_ARG_BYTES: usize = 128;

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// One logged command: Redis's six fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlowEntry {
    pub id: u64,
    /// Unix time, seconds.
    pub time: u64,
    pub usec: u64,
    pub args: Vec<Box<[u8]>>,
    pub addr: Box<str>,
    pub name: Box<[u8]>,
}

/// One worker's slow log and its thresholds (this worker's copy of
/// `slowlog-log-slower-than` and `slowlog-max-len`).
#[derive(Debug, Clone)]
pub struct Slowlog {
    entries: VecDeque<SlowEntry>,
    pub slower_than: i64,
    pub max_len: usize,
}

impl Default for Slowlog {
    fn default() -> Self {
        Self {
            entries: VecDeque::new(),
            slower_than: super::SLOWLOG_SLOWER_THAN,
            max_len: super::SLOWLOG_MAX_LEN,
        }
    }
}

impl Slowlog {
    /// True if a command of `usec` goes into the log.
    #[inline]
    pub fn is_slow(&self, usec: u64) -> bool {
        self.slower_than >= 0 && usec >= self.slower_than as u64
    }

    /// True if every command must be timed alone: a threshold so low that
    /// a quick command may pass it (see [`super::timing`]).
    #[inline]
    pub fn times_each(&self) -> bool {
        (0..super::timing::TIME_EACH_BELOW_USEC).contains(&self.slower_than)
    }

    /// Logs a command, its arguments cut as Redis cuts them.
    pub fn push<'a>(
        &mut self,
        usec: u64,
        args: impl ExactSizeIterator<Item = &'a [u8]>,
        addr: Box<str>,
        name: &[u8],
    ) {
        if self.max_len == 0 {
            return;
        }
        let entry = SlowEntry {
            id: NEXT_ID.fetch_add(1, Relaxed),
            time: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            usec,
            args: truncate(args),
            addr,
            name: name.into(),
        };
        self.entries.push_front(entry);
        self.entries.truncate(self.max_len);
    }

    pub fn set_max_len(&mut self, n: usize) {
        self.max_len = n;
        self.entries.truncate(n);
    }

    pub fn reset(&mut self) {
        self.entries.clear();
    }

    pub fn entries(&self) -> impl Iterator<Item = &SlowEntry> {
        self.entries.iter()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// As Redis: at most [`MAX_ARGS`] arguments, the last replaced by
/// `... (N more arguments)`, each cut at [`MAX_ARG_BYTES`] with
/// `... (N more bytes)`.
fn truncate<'a>(args: impl ExactSizeIterator<Item = &'a [u8]>) -> Vec<Box<[u8]>> {
    let argc = args.len();
    let kept = argc.min(MAX_ARGS);
    let mut out = Vec::with_capacity(kept);
    for (i, a) in args.take(kept).enumerate() {
        if kept != argc && i == kept - 1 {
            let more = format!("... ({} more arguments)", argc - kept + 1);
            out.push(more.into_bytes().into());
        } else if a.len() > MAX_ARG_BYTES {
            let mut cut = a[..MAX_ARG_BYTES].to_vec();
            let _ = std::io::Write::write_fmt(
                &mut cut,
                format_args!("... ({} more bytes)", a.len() - MAX_ARG_BYTES),
            );
            out.push(cut.into());
        } else {
            out.push(a.into());
        }
    }
    out
}

/// The newest `count` entries of all the workers' logs, newest first (ids
/// grow with time), at most `max_len` of them.
pub fn merge(logs: Vec<Vec<SlowEntry>>, count: usize) -> Vec<SlowEntry> {
    let mut all: Vec<SlowEntry> = logs.into_iter().flatten().collect();
    all.sort_unstable_by_key(|e| std::cmp::Reverse(e.id));
    all.truncate(count);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(log: &mut Slowlog, args: &[&[u8]]) {
        log.push(1, args.iter().copied(), "1.2.3.4:5".into(), b"n");
    }

    #[test]
    fn cuts_arguments_as_redis() {
        let mut log = Slowlog::default();
        let long = vec![b'x'; 130];
        push(&mut log, &[b"set", b"k", &long]);
        let e = log.entries().next().unwrap();
        let mut want = vec![b'x'; 128];
        want.extend_from_slice(b"... (2 more bytes)");
        assert_eq!(&*e.args[2], &want[..]);
        let many: Vec<&[u8]> = std::iter::repeat_n(&b"a"[..], 40).collect();
        push(&mut log, &many);
        let e = log.entries().next().unwrap();
        assert_eq!(e.args.len(), 32);
        assert_eq!(&*e.args[31], b"... (9 more arguments)");
    }

    #[test]
    fn bounded_and_merged_newest_first() {
        let mut a = Slowlog {
            max_len: 2,
            ..Slowlog::default()
        };
        let mut b = Slowlog::default();
        for i in 0..3u8 {
            push(&mut a, &[&[b'a', i]]);
            push(&mut b, &[&[b'b', i]]);
        }
        assert_eq!(a.len(), 2);
        let logs = vec![
            a.entries().cloned().collect(),
            b.entries().cloned().collect(),
        ];
        let merged = merge(logs, 3);
        let ids: Vec<u64> = merged.iter().map(|e| e.id).collect();
        assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");
        assert_eq!(&*merged[0].args[0], b"b\x02");
        assert_eq!(&*merged[1].args[0], b"a\x02");
        assert!(!Slowlog::default().is_slow(9_999) && Slowlog::default().is_slow(10_000));
    }
}
