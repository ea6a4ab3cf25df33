//! The connection's side of introspection: counting each RESP command
//! into the worker's statistics and slow log, and the commands that read
//! or change them (`SLOWLOG`, `CONFIG RESETSTAT`, `CONFIG SET` of the
//! runtime settings, `INFO`).

use super::plan::{NotedError, NO_COMMAND};
use super::resp::Args;
use super::Connection;
use crate::config::EvictionPolicy;
use crate::introspect::{slowlog, Introspect, Verdict};
use crate::partition::{Admin, AdminReply};
use crate::resp::commands::{self, CommandSpec};
use crate::resp::encode as enc;
use crate::resp::info;
use crate::txn::TxnError;
use std::sync::Arc;
use std::time::Instant;

/// What the last RESP command was, for its counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) enum Call {
    /// Nothing to count (an unknown command: its error only).
    #[default]
    None,
    /// Command `index` of the table ran (it may have failed).
    Ran(u16),
    /// Refused before running: arity, authentication, ACL.
    Rejected(u16),
    /// Queued in `MULTI`: counted when `EXEC` runs it.
    Queued,
}

/// `SLOWLOG HELP`, as Redis 7 prints it.
const SLOWLOG_HELP: &[&str] = &[
    "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
    "HELP",
    "    Prints this help.",
];

/// Settings `CONFIG GET` reports that cannot change while corekv runs.
const IMMUTABLE: [&str; 11] = [
    "bind",
    "port",
    "tls-port",
    "tls-cluster",
    "databases",
    "cluster-enabled",
    "appendonly",
    "save",
    "client-query-buffer-limit",
    "io-threads",
    "protected-mode",
];

/// One parsed runtime setting.
enum Change {
    Maxmemory(usize),
    Policy(EvictionPolicy),
    SlowerThan(i64),
    MaxLen(usize),
    /// A collection setting (its index in `COLL_SETTINGS`).
    Coll(usize, usize),
    /// Setting what already holds (`save ""`, `appendonly no`).
    Nothing,
}

impl Connection {
    /// Notes the command about to run (before its lookup: none yet).
    #[inline]
    pub(super) fn begin_call(&mut self) {
        self.plan.cmd = NO_COMMAND;
        self.resp.call = Call::None;
        self.resp.quick = false;
        self.resp.out_mark = self.output_len();
    }

    /// Bytes of replies this batch holds so far.
    #[inline]
    fn output_len(&self) -> usize {
        self.out.len() + self.plan.side_len()
    }

    /// The command about to run is timed alone: the run of quick commands
    /// before it gets its time now.
    pub(super) fn time_alone(&mut self) {
        if self.resp.clock.has_pending() {
            let mut partition = self.ctx.partition.borrow_mut();
            let now = Instant::now();
            self.resp.clock.settle(&mut partition.introspect, now);
        }
    }

    /// Ends the batch's timing: the quick commands still pending get their
    /// time. Returns when the batch's last command ended.
    pub(super) fn settle_calls(&mut self) -> Instant {
        self.time_alone();
        self.resp.clock.last()
    }

    /// Notes that `spec` (with `sub`, its first argument) is the command
    /// running now.
    #[inline]
    pub(super) fn command_found(&mut self, spec: &CommandSpec, sub: Option<&[u8]>) {
        let Some(index) = crate::introspect::stat_index(spec, sub) else {
            // An unknown subcommand: `CLIENT LIST` shows the container
            // (the commands' own names come first in the statistics).
            self.info
                .command(crate::introspect::command_index(spec) as u16);
            return;
        };
        // `CLIENT LIST`'s `cmd=`: the same name the statistics use.
        let index = index as u16;
        self.info.command(index);
        self.plan.cmd = index;
        self.resp.call = Call::Ran(index);
    }

    pub(super) fn call_rejected(&mut self) {
        if let Call::Ran(i) = self.resp.call {
            self.resp.call = Call::Rejected(i);
        }
    }

    pub(super) fn call_queued(&mut self) {
        self.resp.call = Call::Queued;
    }

    /// Counts the command that just ran into the worker's statistics, and
    /// the slow log when it was slow enough. A quick command's time comes
    /// later, shared with its run ([`crate::introspect::timing`]).
    #[inline]
    pub(super) fn end_call(&mut self, args: Args<'_>) {
        let call = self.resp.call;
        let quick = self.resp.quick
            && self.output_len().saturating_sub(self.resp.out_mark) <= super::resp::QUICK_BYTES;
        let mut partition = self.ctx.partition.borrow_mut();
        let stats = &mut partition.introspect;
        let mut failed = None;
        if !self.plan.errors.is_empty() {
            failed = take_errors(stats, &mut self.plan.errors, self.plan.cmd);
        }
        let (index, verdict) = match (call, failed) {
            (Call::Ran(i), None) => (i, Verdict::Ran),
            (Call::Ran(i), Some(v)) => (i, v),
            (Call::Rejected(i), _) => (i, Verdict::Rejected),
            (Call::None | Call::Queued, _) => return,
        };
        if quick && !stats.slowlog.times_each() {
            stats.record(usize::from(index), 0, verdict);
            if verdict != Verdict::Rejected {
                self.resp.clock.defer(index);
            }
            return;
        }
        let usec = self.resp.clock.lap(Instant::now());
        stats.record(usize::from(index), usec, verdict);
        if verdict != Verdict::Rejected
            && stats.slowlog.is_slow(usec)
            && crate::introspect::stat_names()[usize::from(index)] != "exec"
        {
            let addr = self
                .peer_addr
                .map_or_else(|| "?:0".into(), |a| a.to_string().into());
            let name = self.resp.name.as_deref().unwrap_or_default();
            let redacted = redact(args);
            stats
                .slowlog
                .push(usec, redacted.iter().copied(), addr, name);
        }
    }

    /// Counts error replies that arrived after their command was counted
    /// (from other partitions, at the end of a batch).
    pub(super) fn late_errors(&mut self) {
        if self.plan.errors.is_empty() {
            return;
        }
        let mut partition = self.ctx.partition.borrow_mut();
        take_errors(&mut partition.introspect, &mut self.plan.errors, NO_COMMAND);
    }

    /// Counts the commands an `EXEC` ran, and the errors among their
    /// replies (`errors`, from the transaction's plan).
    pub(super) fn exec_calls(&mut self, queued: &[Vec<Box<[u8]>>], errors: &mut Vec<NotedError>) {
        let mut partition = self.ctx.partition.borrow_mut();
        let stats = &mut partition.introspect;
        for q in queued {
            if let Some(spec) = q.first().and_then(|n| commands::lookup(n)) {
                stats.record(crate::introspect::command_index(spec), 0, Verdict::Ran);
            }
        }
        take_errors(stats, errors, NO_COMMAND);
    }

    /// `SLOWLOG GET [count] | LEN | RESET | HELP`.
    pub(super) async fn slowlog(&mut self, args: Args<'_>) -> Result<(), TxnError> {
        let sub = args.get(1).to_ascii_uppercase();
        match (&sub[..], args.len()) {
            (b"HELP", 2) => self.emit(|o| {
                enc::array(o, SLOWLOG_HELP.len());
                SLOWLOG_HELP.iter().for_each(|l| enc::simple(o, l));
            }),
            (b"LEN", 2) => {
                let (_, max_len) = self.ctx.runtime.slowlog();
                let n: usize = self.slowlogs().await?.iter().map(Vec::len).sum();
                self.emit(|o| enc::int(o, n.min(max_len) as i64));
            }
            (b"RESET", 2) => {
                self.admin_all(|| Admin::SlowlogReset).await?;
                self.emit(enc::ok);
            }
            (b"GET", 2 | 3) => {
                let count = if args.len() == 3 {
                    match crate::partition::parse_i64(args.get(2)) {
                        Some(-1) => usize::MAX,
                        Some(n) if n >= 0 => n as usize,
                        _ => {
                            self.emit(|o| {
                                enc::error(o, "ERR count should be greater than or equal to -1")
                            });
                            return Ok(());
                        }
                    }
                } else {
                    10
                };
                let (_, max_len) = self.ctx.runtime.slowlog();
                let logs = self.slowlogs().await?;
                let entries = slowlog::merge(logs, count.min(max_len));
                self.emit(|o| encode_entries(o, &entries));
            }
            (b"LEN" | b"RESET", _) => {
                let mesg = format!(
                    "ERR wrong number of arguments for 'slowlog|{}' command",
                    String::from_utf8_lossy(&sub).to_lowercase()
                );
                self.emit(|o| enc::error(o, &mesg));
            }
            (b"GET" | b"HELP", _) => {
                let mesg = format!(
                    "ERR unknown subcommand or wrong number of arguments for '{}'. Try SLOWLOG HELP.",
                    String::from_utf8_lossy(args.get(1))
                );
                self.emit(|o| enc::error(o, &mesg));
            }
            _ => {
                let mesg = format!(
                    "ERR unknown subcommand '{}'. Try SLOWLOG HELP.",
                    String::from_utf8_lossy(args.get(1))
                );
                self.emit(|o| enc::error(o, &mesg));
            }
        }
        Ok(())
    }

    async fn slowlogs(&mut self) -> Result<Vec<Vec<slowlog::SlowEntry>>, TxnError> {
        Ok(self
            .introspects(true)
            .await?
            .into_iter()
            .map(|i| i.slowlog.entries().cloned().collect())
            .collect())
    }

    /// Every worker's statistics (with its slow log, or an empty one).
    async fn introspects(&mut self, slowlog: bool) -> Result<Vec<Introspect>, TxnError> {
        let mut all = Vec::new();
        for reply in self.admin_all(|| Admin::Introspect { slowlog }).await? {
            if let AdminReply::Introspect(i) = reply {
                all.push(*i);
            }
        }
        Ok(all)
    }

    /// `CONFIG RESETSTAT`.
    pub(super) async fn config_resetstat(&mut self) -> Result<(), TxnError> {
        self.admin_all(|| Admin::ResetStats).await?;
        self.ctx.runtime.reset_peak();
        self.emit(enc::ok);
        Ok(())
    }

    /// `CONFIG SET name value …`: the runtime settings here, the client
    /// limits in `config.rs`; all of them apply, or none.
    pub(super) async fn config_set(&mut self, pairs: &[(&[u8], &[u8])]) -> Result<(), TxnError> {
        let mut changes = Vec::new();
        let mut clients = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        for &(name, value) in pairs {
            // Redis names the argument as given, except in a value's error.
            let given = String::from_utf8_lossy(name).into_owned();
            let lower = given.to_ascii_lowercase();
            if seen.contains(&lower) {
                return self.config_error(&given, "duplicate parameter");
            }
            seen.push(lower.clone());
            match parse_runtime(&lower, &String::from_utf8_lossy(value)) {
                Some(Ok(change)) => changes.push(change),
                Some(Err(Refusal::Immutable)) => {
                    return self.config_error(&given, "can't set immutable config")
                }
                Some(Err(Refusal::Value(why))) => return self.config_error(&lower, &why),
                None => clients.push((name, value)),
            }
        }
        if let Err(mesg) = super::config::set(&self.ctx.clients, &clients) {
            self.emit(|o| enc::error(o, &mesg));
            return Ok(());
        }
        if changes.iter().any(|c| !matches!(c, Change::Nothing)) {
            self.apply(changes).await?;
        }
        self.emit(enc::ok);
        Ok(())
    }

    fn config_error(&mut self, name: &str, why: &str) -> Result<(), TxnError> {
        let mesg = format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {why}");
        self.emit(|o| enc::error(o, &mesg));
        Ok(())
    }

    /// Stores the settings, then has every partition read them.
    async fn apply(&mut self, changes: Vec<Change>) -> Result<(), TxnError> {
        let rt = &self.ctx.runtime;
        for change in changes {
            match change {
                Change::Maxmemory(n) => rt.set_maxmemory(n),
                Change::Policy(p) => rt.set_policy(p),
                Change::SlowerThan(n) => rt.set_slowlog(n, rt.slowlog().1),
                Change::MaxLen(n) => rt.set_slowlog(rt.slowlog().0, n),
                Change::Coll(i, n) => rt.set_coll(i, n),
                Change::Nothing => {}
            }
        }
        let (runtime, workers) = (Arc::clone(&self.ctx.runtime), self.ctx.topology.len());
        self.admin_all(|| Admin::Configure(Arc::clone(&runtime), workers))
            .await?;
        Ok(())
    }

    /// The runtime settings `CONFIG GET` reports.
    pub(super) fn runtime_settings(&self) -> Vec<(&'static str, String)> {
        let rt = &self.ctx.runtime;
        let (slower_than, max_len) = rt.slowlog();
        let mut settings = vec![
            ("maxmemory", rt.maxmemory().to_string()),
            ("maxmemory-policy", rt.policy().name().into()),
            ("slowlog-log-slower-than", slower_than.to_string()),
            ("slowlog-max-len", max_len.to_string()),
        ];
        for (i, (name, alias, _)) in crate::introspect::COLL_SETTINGS.iter().enumerate() {
            settings.push((name, rt.coll(i)));
            if !alias.is_empty() {
                settings.push((alias, rt.coll(i)));
            }
        }
        settings
    }

    /// `INFO [section …]`.
    pub(super) async fn info(&mut self, args: Args<'_>) -> Result<(), TxnError> {
        let mut workers = Vec::new();
        for reply in self.admin_all(|| Admin::Stats).await? {
            if let AdminReply::Stats(s) = reply {
                workers.push(*s);
            }
        }
        let mut commands = Introspect::default();
        for i in self.introspects(false).await? {
            commands.merge(&i);
        }
        let wanted: Vec<String> = args
            .iter()
            .skip(1)
            .map(|a| String::from_utf8_lossy(a).to_lowercase())
            .collect();
        let rt = &self.ctx.runtime;
        let input = info::InfoInput {
            connected_clients: workers.iter().map(|w| w.connections_open).sum(),
            blocked_clients: workers.iter().map(|w| w.blocked_clients).sum(),
            workers: &workers,
            commands: &commands,
            port: self.ctx.shared_port,
            uptime_secs: self.ctx.started.elapsed().as_secs(),
            policy: rt.policy().name(),
            maxmemory: rt.maxmemory() as u64,
            runtime: rt,
            maxclients: self.ctx.clients.maxclients(),
        };
        let text = info::render(&input, &wanted);
        let proto = self.proto();
        self.emit(|o| enc::verbatim(o, text.as_bytes(), proto));
        Ok(())
    }
}

/// Counts `errors` into `stats`; the verdict of command `current` if any
/// of them is its own (see [`crate::introspect::is_rejection`]). Errors of
/// earlier commands move those calls to failed or rejected.
fn take_errors(
    stats: &mut Introspect,
    errors: &mut Vec<NotedError>,
    current: u16,
) -> Option<Verdict> {
    let mut verdict = None;
    for NotedError {
        cmd,
        code,
        rejected,
    } in errors.drain(..)
    {
        stats.error(&code);
        let v = if rejected {
            Verdict::Rejected
        } else {
            Verdict::Failed
        };
        if cmd == NO_COMMAND {
            continue;
        }
        if cmd == current {
            verdict = verdict.or(Some(v));
        } else {
            stats.reclassify(usize::from(cmd), v);
        }
    }
    verdict
}

/// The arguments the slow log keeps: passwords redacted, as Redis does.
fn redact(args: Args<'_>) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = args.iter().collect();
    let name = out[0].to_ascii_lowercase();
    let from = match &name[..] {
        b"auth" => 1,
        b"acl" if out.len() > 1 && out[1].eq_ignore_ascii_case(b"SETUSER") => 3,
        b"hello" => out
            .iter()
            .position(|a| a.eq_ignore_ascii_case(b"AUTH"))
            .map_or(out.len(), |i| i + 1),
        _ => out.len(),
    };
    let end = if name == b"hello" {
        (from + 2).min(out.len())
    } else {
        out.len()
    };
    for a in &mut out[from.min(end)..end] {
        *a = b"(redacted)";
    }
    out
}

fn encode_entries(o: &mut Vec<u8>, entries: &[slowlog::SlowEntry]) {
    enc::array(o, entries.len());
    for e in entries {
        enc::array(o, 6);
        enc::int(o, e.id as i64);
        enc::int(o, e.time as i64);
        enc::int(o, e.usec as i64);
        enc::bulk_array(o, e.args.iter().map(|a| &**a));
        enc::bulk(o, e.addr.as_bytes());
        enc::bulk(o, &e.name);
    }
}

/// Why a setting was refused.
enum Refusal {
    Immutable,
    Value(String),
}

/// Parses a runtime (or immutable) setting; `None` for the others.
fn parse_runtime(name: &str, value: &str) -> Option<Result<Change, Refusal>> {
    if IMMUTABLE.contains(&name)
        && !(name == "save" && value.trim().is_empty())
        && !(name == "appendonly" && value.eq_ignore_ascii_case("no"))
    {
        return Some(Err(Refusal::Immutable));
    }
    let change = match name {
        "maxmemory" => crate::config::parse_size(value)
            .map(Change::Maxmemory)
            .map_err(|_| "argument must be a memory value".to_string()),
        "maxmemory-policy" => policy(value),
        "slowlog-log-slower-than" => int_in(value, -1).map(|n| Change::SlowerThan(n as i64)),
        "slowlog-max-len" => {
            int_in(value, 0).map(|n| Change::MaxLen(usize::try_from(n).unwrap_or(usize::MAX)))
        }
        "save" | "appendonly" => Ok(Change::Nothing),
        _ => coll_setting(name, value)?,
    };
    Some(change.map_err(Refusal::Value))
}

/// A collection setting (`hash-max-listpack-entries`, …; `None` for any
/// other name), parsed as Redis parses it.
fn coll_setting(name: &str, value: &str) -> Option<Result<Change, String>> {
    use crate::introspect::{SettingKind, COLL_SETTINGS};
    let (i, &(_, _, kind)) = COLL_SETTINGS
        .iter()
        .enumerate()
        .find(|(_, (n, alias, _))| *n == name || (!alias.is_empty() && *alias == name))?;
    let n = match kind {
        SettingKind::Memory => crate::config::parse_size(value)
            .map_err(|_| "argument must be a memory value".to_string())
            .and_then(|n| {
                i64::try_from(n).map_err(|_| {
                    "argument must be between 0 and 9223372036854775807 inclusive".to_string()
                })
            }),
        SettingKind::Count => int_in(value, 0).map(|n| n as i64),
        SettingKind::Signed => match value.trim().parse::<i64>() {
            Err(_) => Err("argument couldn't be parsed into an integer".to_string()),
            Ok(n) if i32::try_from(n).is_err() => {
                Err("argument must be between -2147483648 and 2147483647 inclusive".to_string())
            }
            Ok(n) => Ok(n),
        },
    };
    Some(n.map(|n| Change::Coll(i, n as usize)))
}

fn policy(value: &str) -> Result<Change, String> {
    match value.to_ascii_lowercase().as_str() {
        "sieve" => Ok(Change::Policy(EvictionPolicy::Sieve)),
        "allkeys-lru" => Ok(Change::Policy(EvictionPolicy::AllkeysLru)),
        "noeviction" => Ok(Change::Policy(EvictionPolicy::Noeviction)),
        _ => Err("argument(s) must be one of the following: sieve, allkeys-lru, noeviction".into()),
    }
}

/// Redis's integer settings: an integer, then `min..=i64::MAX`.
fn int_in(value: &str, min: i64) -> Result<i128, String> {
    let n: i128 = value
        .trim()
        .parse()
        .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
    if n < i128::from(min) || n > i128::from(i64::MAX) {
        return Err(format!(
            "argument must be between {min} and 9223372036854775807 inclusive"
        ));
    }
    Ok(n)
}
