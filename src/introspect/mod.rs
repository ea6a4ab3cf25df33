//! What the server knows about its own commands: per-command statistics
//! (`INFO commandstats`), error replies by prefix (`INFO errorstats`), the
//! slow log (`SLOWLOG`), and the settings that can change at runtime
//! (`CONFIG SET maxmemory`, `slowlog-*`).
//!
//! Each worker keeps its own [`Introspect`] inside its partition, written
//! only by its own connections (no lock, no shared atomic); `INFO` and
//! `SLOWLOG` ask every worker for a copy and merge them.

pub mod slowlog;
pub mod timing;

use crate::config::EvictionPolicy;
use crate::resp::commands::COMMANDS;
pub use slowlog::{SlowEntry, Slowlog};
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed};

/// Counters of one command, as Redis's `cmdstat_<name>` line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommandCounters {
    pub calls: u64,
    pub usec: u64,
    /// Refused before running (arity, ACL, authentication, out of memory).
    pub rejected: u64,
    /// Ran and answered an error.
    pub failed: u64,
}

impl std::ops::AddAssign<&CommandCounters> for CommandCounters {
    fn add_assign(&mut self, o: &CommandCounters) {
        self.calls += o.calls;
        self.usec += o.usec;
        self.rejected += o.rejected;
        self.failed += o.failed;
    }
}

/// How a command ended, for its counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ran,
    Failed,
    Rejected,
}

/// Redis stops tracking new error prefixes past this many.
pub const MAX_ERROR_PREFIXES: usize = 128;

/// One worker's command statistics, slow log and error counts.
#[derive(Debug, Clone)]
pub struct Introspect {
    /// Indexed by [`stat_index`]: the commands of [`COMMANDS`], then the
    /// subcommands of [`SUBCOMMANDS`].
    pub commands: Vec<CommandCounters>,
    /// Error replies by prefix (`ERR`, `WRONGTYPE`, …), in first-seen order.
    pub errors: Vec<(Box<str>, u64)>,
    pub slowlog: Slowlog,
}

impl Default for Introspect {
    fn default() -> Self {
        Self {
            commands: vec![CommandCounters::default(); stat_names().len()],
            errors: Vec::new(),
            slowlog: Slowlog::default(),
        }
    }
}

impl Introspect {
    /// Counts one call of command `index` (rejected ones count no call).
    #[inline]
    pub fn record(&mut self, index: usize, usec: u64, verdict: Verdict) {
        let Some(c) = self.commands.get_mut(index) else {
            return;
        };
        match verdict {
            Verdict::Rejected => c.rejected += 1,
            Verdict::Failed => {
                c.calls += 1;
                c.usec += usec;
                c.failed += 1;
            }
            Verdict::Ran => {
                c.calls += 1;
                c.usec += usec;
            }
        }
    }

    /// Adds time to command `index`, counted before its time was known
    /// (a quick command's share of its run, see [`timing`]).
    #[inline]
    pub fn add_usec(&mut self, index: usize, usec: u64) {
        if let Some(c) = self.commands.get_mut(index) {
            c.usec += usec;
        }
    }

    /// Moves one call of `index` from "ran" to failed or rejected: its
    /// error came back later, from another partition.
    pub fn reclassify(&mut self, index: usize, verdict: Verdict) {
        let Some(c) = self.commands.get_mut(index) else {
            return;
        };
        match verdict {
            Verdict::Failed => c.failed += 1,
            Verdict::Rejected => {
                c.calls = c.calls.saturating_sub(1);
                c.rejected += 1;
            }
            Verdict::Ran => {}
        }
    }

    /// Counts one error reply by its code ([`error_prefix`]).
    pub fn error(&mut self, prefix: &str) {
        if let Some((_, n)) = self.errors.iter_mut().find(|(p, _)| **p == *prefix) {
            *n += 1;
        } else if self.errors.len() < MAX_ERROR_PREFIXES {
            self.errors.push((prefix.into(), 1));
        }
    }

    /// A copy for `INFO` (counters only) or `SLOWLOG` (with the log).
    pub fn copy(&self, slowlog: bool) -> Self {
        Self {
            commands: self.commands.clone(),
            errors: self.errors.clone(),
            slowlog: if slowlog {
                self.slowlog.clone()
            } else {
                Slowlog::default()
            },
        }
    }

    /// `CONFIG RESETSTAT`: command and error counters (the slow log stays).
    pub fn reset(&mut self) {
        self.commands.fill(CommandCounters::default());
        self.errors.clear();
    }

    /// Adds another worker's counters (the slow log is merged apart).
    pub fn merge(&mut self, o: &Introspect) {
        for (a, b) in self.commands.iter_mut().zip(&o.commands) {
            *a += b;
        }
        for (prefix, n) in &o.errors {
            match self.errors.iter_mut().find(|(p, _)| p == prefix) {
                Some((_, m)) => *m += n,
                None => self.errors.push((prefix.clone(), *n)),
            }
        }
    }

    /// Error replies counted.
    pub fn total_errors(&self) -> u64 {
        self.errors.iter().map(|(_, n)| n).sum()
    }

    /// Calls of write commands (`rdb_changes_since_last_save`, roughly).
    pub fn write_calls(&self) -> u64 {
        COMMANDS
            .iter()
            .zip(&self.commands)
            .filter(|(s, _)| s.flags.contains(&"write"))
            .map(|(_, c)| c.calls - c.failed.min(c.calls))
            .sum()
    }

    /// The `# Commandstats` lines: commands with any call or refusal.
    pub fn commandstats(&self, s: &mut String) {
        for (name, c) in stat_names().iter().zip(&self.commands) {
            if c.calls == 0 && c.rejected == 0 && c.failed == 0 {
                continue;
            }
            let per_call = if c.calls == 0 {
                0.0
            } else {
                c.usec as f64 / c.calls as f64
            };
            let _ = write!(
                s,
                "cmdstat_{}:calls={},usec={},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}\r\n",
                name, c.calls, c.usec, c.rejected, c.failed
            );
        }
    }

    /// The `# Errorstats` lines, by prefix in byte order (as Redis's rax).
    pub fn errorstats(&self, s: &mut String) {
        let mut errors: Vec<_> = self.errors.iter().collect();
        errors.sort_by(|a, b| a.0.cmp(&b.0));
        for (prefix, n) in errors {
            let _ = write!(s, "errorstat_{prefix}:count={n}\r\n");
        }
    }
}

/// Redis's error code: the first word of the message (at most 32 bytes
/// looked at), or `ERR` when that is not a code.
pub fn error_prefix(reply: &[u8]) -> &str {
    let head = &reply[..reply.len().min(32)];
    let word = head.split(|&b| b == b' ').next().unwrap_or_default();
    match std::str::from_utf8(word) {
        Ok(w) if !w.is_empty() && w.len() < head.len() && !w.contains(['\r', '\n']) => w,
        _ => "ERR",
    }
}

/// True if an error reply means the command was refused before it ran, as
/// Redis counts `rejected_calls`: out of memory (a `denyoom` command), or a
/// subcommand's arity (Redis checks it before running; corekv's container
/// commands check it themselves).
pub fn is_rejection(reply: &[u8]) -> bool {
    const ARITY: &[u8] = b"ERR wrong number of arguments for '";
    if reply.starts_with(b"OOM ") {
        return true;
    }
    let Some(rest) = reply.strip_prefix(ARITY) else {
        return false;
    };
    let name = rest.split(|&b| b == b'\'').next().unwrap_or_default();
    name.contains(&b'|')
}

/// Settings `CONFIG SET` changes at runtime, shared by every worker and
/// read only by `CONFIG GET`/`INFO`; each worker holds its own copy of
/// those it needs per command (sent by message).
#[derive(Debug)]
pub struct Runtime {
    maxmemory: AtomicUsize,
    policy: AtomicU8,
    slower_than: AtomicI64,
    max_len: AtomicUsize,
    /// The highest `used_memory` `INFO` saw (reset by `CONFIG RESETSTAT`).
    peak_memory: AtomicU64,
    /// The collections' `*-max-*` settings, in [`COLL_SETTINGS`] order.
    coll: [AtomicUsize; COLL_SETTINGS.len()],
}

/// How a collection setting's value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingKind {
    /// A count, 0 and up.
    Count,
    /// A memory value (`64`, `1kb`).
    Memory,
    /// A signed 32-bit integer (`list-max-listpack-size`).
    Signed,
}

/// The collection settings `CONFIG GET/SET` know (Redis's names; the old
/// `ziplist` names are aliases) and how each is written.
pub const COLL_SETTINGS: [(&str, &str, SettingKind); 8] = [
    (
        "hash-max-listpack-entries",
        "hash-max-ziplist-entries",
        SettingKind::Count,
    ),
    (
        "hash-max-listpack-value",
        "hash-max-ziplist-value",
        SettingKind::Memory,
    ),
    ("set-max-intset-entries", "", SettingKind::Count),
    ("set-max-listpack-entries", "", SettingKind::Count),
    ("set-max-listpack-value", "", SettingKind::Memory),
    (
        "list-max-listpack-size",
        "list-max-ziplist-size",
        SettingKind::Signed,
    ),
    (
        "zset-max-listpack-entries",
        "zset-max-ziplist-entries",
        SettingKind::Count,
    ),
    (
        "zset-max-listpack-value",
        "zset-max-ziplist-value",
        SettingKind::Memory,
    ),
];

/// Redis's defaults.
pub const SLOWLOG_SLOWER_THAN: i64 = 10_000;
pub const SLOWLOG_MAX_LEN: usize = 128;

impl Runtime {
    pub fn new(maxmemory: usize, policy: EvictionPolicy) -> Self {
        Self {
            maxmemory: AtomicUsize::new(maxmemory),
            policy: AtomicU8::new(policy_code(policy)),
            slower_than: AtomicI64::new(SLOWLOG_SLOWER_THAN),
            max_len: AtomicUsize::new(SLOWLOG_MAX_LEN),
            peak_memory: AtomicU64::new(0),
            coll: {
                let d = crate::partition::coll::Limits::default();
                [
                    d.hash_entries,
                    d.hash_value,
                    d.set_intset_entries,
                    d.set_entries,
                    d.set_value,
                    d.list_size as usize,
                    d.zset_entries,
                    d.zset_value,
                ]
                .map(AtomicUsize::new)
            },
        }
    }

    /// The collections' limits now.
    pub fn coll_limits(&self) -> crate::partition::coll::Limits {
        let v = |i: usize| self.coll[i].load(Relaxed);
        crate::partition::coll::Limits {
            hash_entries: v(0),
            hash_value: v(1),
            set_intset_entries: v(2),
            set_entries: v(3),
            set_value: v(4),
            list_size: v(5) as i64,
            zset_entries: v(6),
            zset_value: v(7),
        }
    }

    /// Sets collection setting number `i` (of [`COLL_SETTINGS`]).
    pub fn set_coll(&self, i: usize, n: usize) {
        self.coll[i].store(n, Relaxed);
    }

    /// Collection setting number `i`, as `CONFIG GET` writes it.
    pub fn coll(&self, i: usize) -> String {
        let v = self.coll[i].load(Relaxed);
        match COLL_SETTINGS[i].2 {
            SettingKind::Signed => (v as i64).to_string(),
            _ => v.to_string(),
        }
    }

    pub fn maxmemory(&self) -> usize {
        self.maxmemory.load(Relaxed)
    }

    pub fn policy(&self) -> EvictionPolicy {
        match self.policy.load(Relaxed) {
            0 => EvictionPolicy::Sieve,
            1 => EvictionPolicy::AllkeysLru,
            _ => EvictionPolicy::Noeviction,
        }
    }

    pub fn slowlog(&self) -> (i64, usize) {
        (self.slower_than.load(Relaxed), self.max_len.load(Relaxed))
    }

    pub fn set_maxmemory(&self, n: usize) {
        self.maxmemory.store(n, Relaxed);
    }

    pub fn set_policy(&self, p: EvictionPolicy) {
        self.policy.store(policy_code(p), Relaxed);
    }

    pub fn set_slowlog(&self, slower_than: i64, max_len: usize) {
        self.slower_than.store(slower_than, Relaxed);
        self.max_len.store(max_len, Relaxed);
    }

    /// Notes `used` and returns the peak so far.
    pub fn peak_memory(&self, used: u64) -> u64 {
        self.peak_memory.fetch_max(used, Relaxed).max(used)
    }

    pub fn reset_peak(&self) {
        self.peak_memory.store(0, Relaxed);
    }
}

fn policy_code(p: EvictionPolicy) -> u8 {
    match p {
        EvictionPolicy::Sieve => 0,
        EvictionPolicy::AllkeysLru => 1,
        EvictionPolicy::Noeviction => 2,
    }
}

/// What one worker applies when a setting changes (`Admin::Configure`).
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// This partition's share of `maxmemory` (0: none).
    pub budget: usize,
    pub coll: crate::partition::coll::Limits,
    pub policy: EvictionPolicy,
    pub slower_than: i64,
    pub max_len: usize,
}

impl Settings {
    /// A worker's settings from the shared ones (`maxmemory / workers`, as
    /// at start).
    pub fn from_runtime(rt: &Runtime, workers: usize) -> Self {
        let (slower_than, max_len) = rt.slowlog();
        Self {
            coll: rt.coll_limits(),
            budget: rt.maxmemory() / workers.max(1),
            policy: rt.policy(),
            slower_than,
            max_len,
        }
    }
}

/// Redis 7's subcommands of the container commands: their statistics are
/// kept apart (`cmdstat_config|get`), as Redis keeps them.
pub const SUBCOMMANDS: &[(&str, &[&str])] = &[
    (
        "acl",
        &[
            "cat", "deluser", "dryrun", "genpass", "getuser", "help", "list", "load", "log",
            "save", "setuser", "users", "whoami",
        ],
    ),
    (
        "client",
        &[
            "caching",
            "getname",
            "getredir",
            "help",
            "id",
            "info",
            "kill",
            "list",
            "no-evict",
            "no-touch",
            "pause",
            "reply",
            "setinfo",
            "setname",
            "tracking",
            "trackinginfo",
            "unblock",
            "unpause",
        ],
    ),
    (
        "cluster",
        &[
            "countkeysinslot",
            "getkeysinslot",
            "help",
            "info",
            "keyslot",
            "links",
            "myid",
            "myshardid",
            "nodes",
            "replicas",
            "shards",
            "slots",
        ],
    ),
    (
        "command",
        &[
            "count",
            "docs",
            "getkeys",
            "getkeysandflags",
            "help",
            "info",
            "list",
        ],
    ),
    ("config", &["get", "help", "resetstat", "rewrite", "set"]),
    (
        "memory",
        &["doctor", "help", "malloc-stats", "purge", "stats", "usage"],
    ),
    (
        "object",
        &["encoding", "freq", "help", "idletime", "refcount"],
    ),
    ("slowlog", &["get", "help", "len", "reset"]),
];

/// The names statistics are kept under: every command, then every
/// subcommand as `container|sub`.
pub fn stat_names() -> &'static [String] {
    static NAMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| {
        let commands = COMMANDS.iter().map(|c| c.name.to_string());
        let subs = SUBCOMMANDS
            .iter()
            .flat_map(|(c, subs)| subs.iter().map(move |s| format!("{c}|{s}")));
        commands.chain(subs).collect()
    })
}

/// Where the statistics of a call of `spec` with `sub` (its first
/// argument) go: the subcommand's for a container command (`None`: an
/// unknown subcommand, counted nowhere, as in Redis), else the command's.
/// One table look-up for a command that is no container.
#[inline]
pub fn stat_index(spec: &crate::resp::commands::CommandSpec, sub: Option<&[u8]>) -> Option<usize> {
    let index = command_index(spec);
    let Some(&(base, subs)) = containers().get(index).and_then(Option::as_ref) else {
        return Some(index);
    };
    let Some(sub) = sub else {
        return Some(index);
    };
    let i = subs
        .iter()
        .position(|s| s.as_bytes().eq_ignore_ascii_case(sub))?;
    Some(base + i)
}

/// Per command of [`COMMANDS`]: for a container, where its subcommands'
/// statistics start, and their names.
fn containers() -> &'static [Option<(usize, &'static [&'static str])>] {
    type Containers = Vec<Option<(usize, &'static [&'static str])>>;
    static TABLE: std::sync::OnceLock<Containers> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut base = COMMANDS.len();
        let mut table = vec![None; COMMANDS.len()];
        for (container, subs) in SUBCOMMANDS {
            if let Some(i) = COMMANDS.iter().position(|c| c.name == *container) {
                table[i] = Some((base, *subs));
            }
            base += subs.len();
        }
        table
    })
}

/// The index of `spec` in [`COMMANDS`].
pub fn command_index(spec: &crate::resp::commands::CommandSpec) -> usize {
    let base = COMMANDS.as_ptr() as usize;
    (spec as *const _ as usize - base) / std::mem::size_of::<crate::resp::commands::CommandSpec>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::commands::lookup;

    /// `CLIENT LIST`'s `cmd=` and commandstats share these names.
    #[test]
    fn subcommands_have_their_own_names() {
        let name = |cmd: &[u8], sub: &[u8]| {
            let spec = lookup(cmd).unwrap();
            stat_index(spec, Some(sub)).map_or(spec.name, |i| stat_names()[i].as_str())
        };
        assert_eq!(name(b"client", b"LIST"), "client|list");
        assert_eq!(name(b"client", b"nope"), "client");
        assert_eq!(name(b"get", b"k"), "get");
    }

    #[test]
    fn prefixes_as_redis() {
        assert_eq!(error_prefix(b"ERR syntax error"), "ERR");
        assert_eq!(
            error_prefix(b"WRONGTYPE Operation against a key"),
            "WRONGTYPE"
        );
        assert_eq!(error_prefix(b"OOM command not allowed"), "OOM");
        assert_eq!(error_prefix(b"nospace"), "ERR");
        assert!(is_rejection(b"OOM command not allowed"));
        assert!(is_rejection(
            b"ERR wrong number of arguments for 'config|set' command"
        ));
        assert!(!is_rejection(
            b"ERR wrong number of arguments for 'ping' command"
        ));
    }

    #[test]
    fn counts_merge_and_render() {
        let get = command_index(lookup(b"get").unwrap());
        let set = command_index(lookup(b"set").unwrap());
        assert_eq!(COMMANDS[get].name, "get");
        let mut a = Introspect::default();
        a.record(get, 5, Verdict::Ran);
        a.record(get, 0, Verdict::Rejected);
        a.error(error_prefix(b"ERR wrong number"));
        let mut b = Introspect::default();
        b.record(get, 3, Verdict::Failed);
        b.record(set, 1, Verdict::Ran);
        b.reclassify(set, Verdict::Rejected);
        b.error(error_prefix(b"OOM x"));
        a.merge(&b);
        let mut s = String::new();
        a.commandstats(&mut s);
        assert_eq!(
            s,
            "cmdstat_get:calls=2,usec=8,usec_per_call=4.00,rejected_calls=1,failed_calls=1\r\n\
             cmdstat_set:calls=0,usec=1,usec_per_call=0.00,rejected_calls=1,failed_calls=0\r\n"
        );
        let mut e = String::new();
        a.errorstats(&mut e);
        assert_eq!(e, "errorstat_ERR:count=1\r\nerrorstat_OOM:count=1\r\n");
        a.reset();
        assert_eq!(a.total_errors(), 0);
        let config = lookup(b"config").unwrap();
        let get = stat_index(config, Some(b"GET")).unwrap();
        assert_eq!(stat_names()[get], "config|get");
        assert_eq!(stat_index(config, Some(b"nosuch")), None);
        assert_eq!(stat_names()[stat_index(config, None).unwrap()], "config");
        assert!(a.commands.iter().all(|c| c.calls == 0));
    }
}
