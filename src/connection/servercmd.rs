//! Server and keyspace commands beyond the data path: `CLIENT
//! LIST/INFO/KILL/HELP` (every worker's connections, by message passing),
//! `TIME`, `RANDOMKEY`, `MEMORY USAGE/HELP`, `OBJECT`, `WAIT` and
//! `SHUTDOWN`, with Redis 7's arguments, replies and errors.

use super::keycmd::{NOT_INTEGER, SYNTAX};
use super::registry::{self, ClientAnswer, ClientQuery, Filter};
use super::resp::Args;
use super::Connection;
use crate::partition::{parse_i64, Admin, AdminReply, KeyInfo};
use crate::resp::commands::CommandSpec;
use crate::resp::encode as enc;
use crate::txn::TxnError;
use std::hash::{BuildHasher, Hasher};

/// The `CLIENT` subcommands answered here (the others: `resp.rs`).
pub(super) fn is_client_server(sub: &[u8]) -> bool {
    ["LIST", "KILL", "INFO", "HELP", "UNBLOCK"]
        .iter()
        .any(|s| sub.eq_ignore_ascii_case(s.as_bytes()))
}

const CLIENT_HELP: &[&str] = &[
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "    * ID <client-id>",
    "      Kill connections by client id.",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "    * ID <client-id> [<client-id> ...]",
    "      Return clients of specified IDs only.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "SETINFO <LIB-NAME|LIB-VER> <value>",
    "    Accepted (corekv keeps no library information).",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "HELP",
    "    Prints this help.",
];

/// Redis 7.0's text: every subcommand is served.
const OBJECT_HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
];

const MEMORY_HELP: &[&str] = &[
    "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
    "HELP",
    "    Prints this help.",
];

pub const NO_LFU: &str = "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";
pub const NO_IDLE_TIME: &str =
    "ERR corekv does not track access times, idle time not tracked (see README).";
/// What Redis answers when the shutdown cannot proceed (here: `SAVE`
/// asked of a server that has nothing to save to).
pub const SHUTDOWN_FAILED: &str = "ERR Errors trying to SHUTDOWN. Check logs.";
/// Redis's refcount of a shared small integer (`OBJ_SHARED_REFCOUNT`).
const SHARED_REFCOUNT: i64 = i32::MAX as i64;

fn help(out: &mut Vec<u8>, lines: &[&str]) {
    enc::array(out, lines.len());
    lines.iter().for_each(|l| enc::simple(out, l));
}

fn arity_error(container: &str, sub: &[u8]) -> String {
    format!(
        "ERR wrong number of arguments for '{container}|{}' command",
        String::from_utf8_lossy(sub).to_lowercase()
    )
}

fn unknown_sub(container: &str, sub: &[u8]) -> String {
    format!(
        "ERR unknown subcommand '{}'. Try {container} HELP.",
        String::from_utf8_lossy(sub)
    )
}

/// A fresh random number (`RANDOMKEY`'s choice): std's `RandomState` is
/// seeded per thread and stepped per instance.
fn random_seed() -> u64 {
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

/// Which `SHUTDOWN` flags were given; `ABORT` alone or with nothing else.
#[derive(Default)]
struct ShutdownFlags {
    save: bool,
    nosave: bool,
    force: bool,
    abort: bool,
    now: bool,
}

fn parse_shutdown(args: Args<'_>) -> Result<ShutdownFlags, &'static str> {
    let mut f = ShutdownFlags::default();
    for a in args.iter().skip(1) {
        match &a.to_ascii_uppercase()[..] {
            b"SAVE" => f.save = true,
            b"NOSAVE" => f.nosave = true,
            b"FORCE" => f.force = true,
            b"ABORT" => f.abort = true,
            b"NOW" => f.now = true,
            _ => return Err(SYNTAX),
        }
    }
    let others = f.save || f.nosave || f.force || f.now;
    if (f.abort && others) || (f.save && f.nosave) {
        return Err(SYNTAX);
    }
    Ok(f)
}

impl Connection {
    /// Publishes the state `CLIENT LIST` shows that changes with commands
    /// (after each batch: a few `Cell` stores).
    pub(super) fn note_client_state(&self) {
        self.info.set_multi(self.resp.queued());
        let v3 = self.proto() == enc::Proto::V3;
        self.info.set_resp(if v3 { 3 } else { 2 });
    }

    /// `CLIENT LIST`, `INFO`, `KILL`, `HELP`; false when the connection
    /// killed itself (it closes after the reply).
    pub(super) async fn client_server(&mut self, args: Args<'_>) -> Result<bool, TxnError> {
        let sub = args.get(1);
        let rest: Vec<&[u8]> = args.iter().skip(2).collect();
        let upper = sub.to_ascii_uppercase();
        match (&upper[..], rest.len()) {
            (b"LIST", _) => self.client_list(&rest).await?,
            (b"INFO", 0) => {
                self.note_client_state();
                let mut line = String::new();
                self.info.line(self.buffer_bytes, &mut line);
                let proto = self.proto();
                self.emit(|o| enc::verbatim(o, line.as_bytes(), proto));
            }
            (b"KILL", 1..) => return self.client_kill(&rest).await,
            (b"UNBLOCK", 1 | 2) => self.client_unblock(&rest).await?,
            (b"HELP", 0) => self.emit(|o| help(o, CLIENT_HELP)),
            _ => {
                let mesg = arity_error("client", sub);
                self.emit(|o| enc::error(o, &mesg));
            }
        }
        Ok(true)
    }

    /// Asks every worker at once, then collects the answers in order.
    async fn ask_all_clients(
        &mut self,
        filter: Filter,
        kill: bool,
    ) -> Result<Vec<ClientAnswer>, TxnError> {
        let workers = self.ctx.topology.len();
        let pending: Vec<_> = (0..workers)
            .map(|w| {
                let f = filter.clone();
                let q = if kill {
                    ClientQuery::Kill(f)
                } else {
                    ClientQuery::List(f)
                };
                self.ctx.ask_clients(w, q)
            })
            .collect();
        let mut answers = Vec::with_capacity(workers);
        for rx in pending {
            answers.push(rx.await.map_err(|_| TxnError::Unavailable)?);
        }
        Ok(answers)
    }

    /// `CLIENT UNBLOCK id [TIMEOUT|ERROR]`: 1 if the client was blocked
    /// (it answers as at its timeout, or `-UNBLOCKED …`), else 0.
    async fn client_unblock(&mut self, rest: &[&[u8]]) -> Result<(), TxnError> {
        let Some(id) = crate::partition::parse_i64(rest[0]) else {
            self.emit(|o| enc::error(o, "ERR value is not an integer or out of range"));
            return Ok(());
        };
        let error = match rest.get(1) {
            None => false,
            Some(r) if r.eq_ignore_ascii_case(b"timeout") => false,
            Some(r) if r.eq_ignore_ascii_case(b"error") => true,
            Some(_) => {
                self.emit(|o| {
                    enc::error(o, "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
                });
                return Ok(());
            }
        };
        let pending: Vec<_> = (0..self.ctx.topology.len())
            .map(|w| {
                self.ctx
                    .ask_clients(w, ClientQuery::Unblock(id as u64, error))
            })
            .collect();
        let mut unblocked = 0;
        for rx in pending {
            if let ClientAnswer::Killed(n) = rx.await.map_err(|_| TxnError::Unavailable)? {
                unblocked += n;
            }
        }
        self.emit(|o| enc::int(o, unblocked as i64));
        Ok(())
    }

    async fn client_list(&mut self, rest: &[&[u8]]) -> Result<(), TxnError> {
        let filter = match registry::parse_list(rest) {
            Ok(f) => f,
            Err(mesg) => {
                self.emit(|o| enc::error(o, &mesg));
                return Ok(());
            }
        };
        self.note_client_state();
        let mut lines: Vec<(u64, String)> = Vec::new();
        for answer in self.ask_all_clients(filter, false).await? {
            if let ClientAnswer::Lines(text) = answer {
                lines.extend(text.lines().map(|l| (line_id(l), format!("{l}\n"))));
            }
        }
        // As Redis lists them: by id.
        lines.sort_unstable_by_key(|(id, _)| *id);
        let text: String = lines.into_iter().map(|(_, l)| l).collect();
        let proto = self.proto();
        self.emit(|o| enc::verbatim(o, text.as_bytes(), proto));
        Ok(())
    }

    async fn client_kill(&mut self, rest: &[&[u8]]) -> Result<bool, TxnError> {
        let kill = match registry::parse_kill(rest) {
            Ok(k) => k,
            Err(mesg) => {
                self.emit(|o| enc::error(o, &mesg));
                return Ok(true);
            }
        };
        if let Some(user) = &kill.filter.user {
            if self.ctx.acl().1.user(user.as_bytes()).is_none() {
                let mesg = format!("ERR No such user '{user}'");
                self.emit(|o| enc::error(o, &mesg));
                return Ok(true);
            }
        }
        // The others are closed by their workers; this connection decides
        // about itself, so that it can answer before it closes.
        let me = !kill.skipme && kill.filter.matches(&self.info);
        let mut others = kill.filter.clone();
        others.skip = Some(self.client_id);
        let mut killed = usize::from(me);
        for answer in self.ask_all_clients(others, true).await? {
            if let ClientAnswer::Killed(n) = answer {
                killed += n;
            }
        }
        match (kill.old_form, killed) {
            (true, 0) => self.emit(|o| enc::error(o, registry::NO_SUCH_CLIENT)),
            (true, _) => self.emit(enc::ok),
            (false, n) => self.emit(|o| enc::int(o, n as i64)),
        }
        Ok(!me)
    }

    /// `TIME`, `RANDOMKEY`, `MEMORY`, `OBJECT`, `WAIT`, `SHUTDOWN`; false
    /// when the connection must close (`SHUTDOWN`).
    pub(super) async fn server_command(
        &mut self,
        spec: &CommandSpec,
        args: Args<'_>,
    ) -> Result<bool, TxnError> {
        match spec.name {
            "time" => self.emit(time),
            "randomkey" => self.random_key().await?,
            "memory" => self.memory(args).await?,
            "object" => self.object(args).await?,
            "wait" => self.wait(args),
            "shutdown" => return self.shutdown(args).await,
            _ => unreachable!("dispatched by name"),
        }
        Ok(true)
    }

    /// A random key of a random non-empty partition: the partitions are
    /// asked in turn from a random one until one has a live key.
    async fn random_key(&mut self) -> Result<(), TxnError> {
        self.finish_plan().await?;
        let seed = random_seed();
        let n = self.ctx.topology.len();
        let start = (seed >> 32) as usize % n;
        for i in 0..n {
            let partition = (start + i) % n;
            if let AdminReply::Key(Some(key)) =
                self.admin_one(partition, Admin::RandomKey(seed)).await?
            {
                self.emit(|o| enc::bulk(o, &key));
                return Ok(());
            }
        }
        let proto = self.proto();
        self.emit(|o| enc::null(o, proto));
        Ok(())
    }

    /// The key's value facts, from its partition (`None`: no such key).
    async fn key_info(&mut self, key: &[u8]) -> Result<Option<KeyInfo>, TxnError> {
        self.finish_plan().await?;
        let partition = self.ctx.topology.partition_of_key(key);
        match self
            .admin_one(partition, Admin::KeyInfo(key.into()))
            .await?
        {
            AdminReply::KeyInfo(info) => Ok(info),
            _ => Ok(None),
        }
    }

    async fn memory(&mut self, args: Args<'_>) -> Result<(), TxnError> {
        let sub = args.get(1);
        if sub.eq_ignore_ascii_case(b"HELP") {
            match args.len() {
                2 => self.emit(|o| help(o, MEMORY_HELP)),
                _ => self.emit(|o| enc::error(o, &arity_error("memory", sub))),
            }
            return Ok(());
        }
        if !sub.eq_ignore_ascii_case(b"USAGE") {
            let mesg = unknown_sub("MEMORY", sub);
            self.emit(|o| enc::error(o, &mesg));
            return Ok(());
        }
        if args.len() < 3 {
            self.emit(|o| enc::error(o, &arity_error("memory", sub)));
            return Ok(());
        }
        // `SAMPLES` samples nested values: strings have none, so it is
        // checked and ignored.
        let mut i = 3;
        while i < args.len() {
            if !args.get(i).eq_ignore_ascii_case(b"SAMPLES") || i + 1 >= args.len() {
                self.emit(|o| enc::error(o, SYNTAX));
                return Ok(());
            }
            match parse_i64(args.get(i + 1)) {
                None => {
                    self.emit(|o| enc::error(o, NOT_INTEGER));
                    return Ok(());
                }
                Some(n) if n < 0 => {
                    self.emit(|o| enc::error(o, SYNTAX));
                    return Ok(());
                }
                Some(_) => i += 2,
            }
        }
        let info = self.key_info(args.get(2)).await?;
        let proto = self.proto();
        match info {
            Some(info) => self.emit(|o| enc::int(o, info.memory as i64)),
            None => self.emit(|o| enc::null(o, proto)),
        }
        Ok(())
    }

    async fn object(&mut self, args: Args<'_>) -> Result<(), TxnError> {
        let sub = args.get(1);
        let upper = sub.to_ascii_uppercase();
        let known = matches!(
            &upper[..],
            b"ENCODING" | b"FREQ" | b"IDLETIME" | b"REFCOUNT"
        );
        match (&upper[..], args.len()) {
            (b"HELP", 2) => self.emit(|o| help(o, OBJECT_HELP)),
            (b"HELP", _) => self.emit(|o| enc::error(o, &arity_error("object", sub))),
            (_, 3) if known => {
                let info = self.key_info(args.get(2)).await?;
                let proto = self.proto();
                let Some(info) = info else {
                    self.emit(|o| enc::null(o, proto));
                    return Ok(());
                };
                match &upper[..] {
                    b"ENCODING" => self.emit(|o| enc::bulk(o, info.encoding.as_bytes())),
                    b"FREQ" => self.emit(|o| enc::error(o, NO_LFU)),
                    b"IDLETIME" => self.emit(|o| enc::error(o, NO_IDLE_TIME)),
                    _ => {
                        let shared = info.shared && self.ctx.limits.policy_name() != "allkeys-lru";
                        let n = if shared { SHARED_REFCOUNT } else { 1 };
                        self.emit(|o| enc::int(o, n));
                    }
                }
            }
            _ if known => self.emit(|o| enc::error(o, &arity_error("object", sub))),
            _ => {
                let mesg = unknown_sub("OBJECT", sub);
                self.emit(|o| enc::error(o, &mesg));
            }
        }
        Ok(())
    }

    /// `WAIT numreplicas timeout`: corekv has no replicas, so 0 at once
    /// (Redis waits out the timeout when asked for more replicas than it
    /// has).
    fn wait(&mut self, args: Args<'_>) {
        if parse_i64(args.get(1)).is_none() {
            return self.emit(|o| enc::error(o, NOT_INTEGER));
        }
        match parse_i64(args.get(2)) {
            None => self.emit(|o| enc::error(o, "ERR timeout is not an integer or out of range")),
            Some(t) if t < 0 => self.emit(|o| enc::error(o, "ERR timeout is negative")),
            Some(_) => self.emit(|o| enc::int(o, 0)),
        }
    }

    /// `SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]`: the same graceful
    /// shutdown as SIGTERM (connections get `--shutdown-timeout`); the
    /// client gets no reply, its connection closes. corekv keeps nothing
    /// on disk, so `SAVE` cannot be honoured: it fails as a failed save
    /// does in Redis, unless `FORCE`.
    async fn shutdown(&mut self, args: Args<'_>) -> Result<bool, TxnError> {
        let flags = match parse_shutdown(args) {
            Ok(f) => f,
            Err(mesg) => {
                self.emit(|o| enc::error(o, mesg));
                return Ok(true);
            }
        };
        if flags.abort {
            self.emit(|o| enc::error(o, "ERR No shutdown in progress."));
            return Ok(true);
        }
        if flags.save && !flags.force {
            tracing::warn!(
                "SHUTDOWN SAVE refused: corekv has no persistence (use NOSAVE, or FORCE)"
            );
            self.emit(|o| enc::error(o, SHUTDOWN_FAILED));
            return Ok(true);
        }
        self.finish_plan().await?;
        tracing::info!(client = self.client_id, "SHUTDOWN requested");
        self.ctx.request_shutdown();
        Ok(false)
    }
}

/// `TIME`: seconds and microseconds of the Unix time, as bulk strings.
fn time(out: &mut Vec<u8>) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    enc::array(out, 2);
    enc::bulk(out, now.as_secs().to_string().as_bytes());
    enc::bulk(out, now.subsec_micros().to_string().as_bytes());
}

/// The id of a `CLIENT LIST` line (`id=N …`).
fn line_id(line: &str) -> u64 {
    line.strip_prefix("id=")
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_ids_parse() {
        assert_eq!(line_id("id=42 addr=x"), 42);
        assert_eq!(line_id("junk"), 0);
    }

    #[test]
    fn time_has_two_numbers() {
        let mut out = Vec::new();
        time(&mut out);
        let s = String::from_utf8(out).unwrap();
        let parts: Vec<&str> = s.split("\r\n").collect();
        assert_eq!(parts[0], "*2");
        assert!(parts[2].parse::<u64>().unwrap() > 1_700_000_000);
        assert!(parts[4].parse::<u32>().unwrap() < 1_000_000);
    }
}
