//! `RENAME`, `RENAMENX`, `COPY` and `BITOP` on a RESP connection: commands
//! that move or combine values between keys. When all their keys live on
//! one partition they are one operation there, run in place like any
//! other (no transaction); across partitions they run as a handoff
//! transaction (`txn::handoff`), and so does an `EXEC` that queues one.

use super::keycmd::{key_command, KeyCmd, NOT_INTEGER, SYNTAX};
use super::queued::{self, ToScratch};
use super::resp::{owned_ranges, Args};
use super::Connection;
use crate::partition::coll::{list::ListCmd, set::SetCmd, zset::ZSetCmd};
use crate::partition::Admin;
use crate::partition::{pack_keys, parse_i64, BitOp, OpKind, OpRef, Partition};
use crate::resp::encode as enc;
use crate::txn::handoff::{self, Handoff};
use crate::txn::TxnError;
use corekv_router::Topology;
use std::borrow::Cow;
use std::rc::Rc;

/// One parsed command: a partition operation and every key it touches.
#[derive(Clone)]
pub(super) struct MoveCmd<'a> {
    kind: OpKind,
    key: &'a [u8],
    value: Cow<'a, [u8]>,
    keys: Vec<&'a [u8]>,
}

type Parsed<'a> = Result<MoveCmd<'a>, Cow<'static, str>>;

/// True if `name` is one of this module's commands.
pub(super) fn is_move(name: &str) -> bool {
    matches!(
        name,
        "rename"
            | "renamenx"
            | "copy"
            | "bitop"
            | "smove"
            | "sinter"
            | "sintercard"
            | "sunion"
            | "sdiff"
            | "sinterstore"
            | "sunionstore"
            | "sdiffstore"
            | "lmove"
            | "rpoplpush"
            | "lmpop"
            | "zmpop"
            | "blpop"
            | "brpop"
            | "blmove"
            | "brpoplpush"
            | "blmpop"
            | "bzpopmin"
            | "bzpopmax"
            | "bzmpop"
    ) || super::zsetcmd::is_zset_move(name)
}

/// Longest wait kept as a deadline, in ms (about 285,000 years); a longer
/// one waits forever, which no client can tell apart.
const FOREVER_MS: f64 = 9.0e15;

/// How long a blocking command may wait, in ms (0: forever), from Redis's
/// timeout argument (seconds, a float: hex floats and `inf` included),
/// converted and refused exactly as Redis 7.0 does (`float::timeout_ms`).
fn timeout_ms(arg: &[u8]) -> Result<u64, &'static str> {
    let ms = crate::partition::float::timeout_ms(arg)?;
    Ok(if ms as f64 > FOREVER_MS { 0 } else { ms as u64 })
}

/// A blocking command (`BLPOP`, `BRPOP`, `BLMOVE`, `BRPOPLPUSH`,
/// `BLMPOP`, `BZPOPMIN`, `BZPOPMAX`, `BZMPOP`) parsed as the one attempt it makes each time it wakes, with
/// its timeout in ms (0: forever); `None` for any other command.
pub(super) fn parse_blocking<'a>(
    name: &str,
    args: Args<'a>,
) -> Option<Result<(MoveCmd<'a>, u64), Cow<'static, str>>> {
    let last = args.len() - 1;
    let parsed = match name {
        "blpop" | "brpop" => timeout_ms(args.get(last)).map_err(Cow::from).map(|ms| {
            let keys: Vec<&[u8]> = (1..last).map(|i| args.get(i)).collect();
            let cmd = MoveCmd {
                kind: OpKind::List(ListCmd::BPop {
                    left: name == "blpop",
                }),
                key: keys[0],
                value: Cow::Owned(pack_keys(keys[1..].iter().copied())),
                keys,
            };
            (cmd, ms)
        }),
        "bzpopmin" | "bzpopmax" => timeout_ms(args.get(last)).map_err(Cow::from).map(|ms| {
            let keys: Vec<&[u8]> = (1..last).map(|i| args.get(i)).collect();
            let cmd = MoveCmd {
                kind: OpKind::ZSetType(ZSetCmd::BPop {
                    max: name == "bzpopmax",
                }),
                key: keys[0],
                value: Cow::Owned(pack_keys(keys[1..].iter().copied())),
                keys,
            };
            (cmd, ms)
        }),
        "blmove" | "brpoplpush" => {
            let sides = if name == "blmove" {
                side(args.get(3)).and_then(|from| Ok((from, side(args.get(4))?)))
            } else {
                Ok((false, true))
            };
            sides.and_then(|(from_left, to_left)| {
                let ms = timeout_ms(args.get(last))?;
                let cmd = MoveCmd {
                    kind: OpKind::List(ListCmd::Move { from_left, to_left }),
                    key: args.get(1),
                    value: Cow::Owned(pack_keys([args.get(2)])),
                    keys: vec![args.get(1), args.get(2)],
                };
                Ok((cmd, ms))
            })
        }
        // Their timeout is read last, as Redis reads it.
        "blmpop" => lmpop(args, 2).and_then(|cmd| Ok((cmd, timeout_ms(args.get(1))?))),
        "bzmpop" => zmpop(args, 2).and_then(|cmd| Ok((cmd, timeout_ms(args.get(1))?))),
        _ => return None,
    };
    Some(parsed)
}

/// `LEFT` or `RIGHT` (any case): true for left.
fn side(arg: &[u8]) -> Result<bool, Cow<'static, str>> {
    if arg.eq_ignore_ascii_case(b"left") {
        Ok(true)
    } else if arg.eq_ignore_ascii_case(b"right") {
        Ok(false)
    } else {
        Err(SYNTAX.into())
    }
}

/// Parses one of the commands (arity already checked), with Redis's order
/// of checks and errors; `None` for any other command.
pub(super) fn parse<'a>(name: &str, args: Args<'a>) -> Option<Parsed<'a>> {
    let pair = |kind| {
        Ok(MoveCmd {
            kind,
            key: args.get(1),
            value: Cow::Borrowed(args.get(2)),
            keys: vec![args.get(1), args.get(2)],
        })
    };
    Some(match name {
        "rename" => pair(OpKind::Rename { nx: false }),
        "renamenx" => pair(OpKind::Rename { nx: true }),
        "copy" => copy_options(args).and_then(|replace| pair(OpKind::Copy { replace })),
        "bitop" => bitop(args),
        "smove" => Ok(MoveCmd {
            kind: OpKind::SetType(SetCmd::Move),
            key: args.get(1),
            value: Cow::Owned(pack_keys([args.get(2), args.get(3)])),
            keys: vec![args.get(1), args.get(2)],
        }),
        "sinter" | "sunion" | "sdiff" | "sinterstore" | "sunionstore" | "sdiffstore" => {
            let cmd = match name {
                "sinter" => SetCmd::Inter,
                "sunion" => SetCmd::Union,
                "sdiff" => SetCmd::Diff,
                "sinterstore" => SetCmd::InterStore,
                "sunionstore" => SetCmd::UnionStore,
                _ => SetCmd::DiffStore,
            };
            Ok(MoveCmd {
                kind: OpKind::SetType(cmd),
                key: args.get(1),
                value: Cow::Owned(pack_keys(args.iter().skip(2))),
                keys: args.iter().skip(1).collect(),
            })
        }
        "sintercard" => sintercard(args),
        "lmove" | "rpoplpush" => {
            let side = |i: usize| {
                let a = args.get(i);
                if a.eq_ignore_ascii_case(b"left") {
                    Ok(true)
                } else if a.eq_ignore_ascii_case(b"right") {
                    Ok(false)
                } else {
                    Err(Cow::from(SYNTAX))
                }
            };
            let sides = if name == "lmove" {
                side(3).and_then(|from| Ok((from, side(4)?)))
            } else {
                Ok((false, true))
            };
            sides.map(|(from_left, to_left)| MoveCmd {
                kind: OpKind::List(ListCmd::Move { from_left, to_left }),
                key: args.get(1),
                value: Cow::Owned(pack_keys([args.get(2)])),
                keys: vec![args.get(1), args.get(2)],
            })
        }
        "lmpop" => lmpop(args, 1),
        "zmpop" => zmpop(args, 1),
        // Sorted sets.
        name if super::zsetcmd::is_zset_move(name) => {
            super::zsetcmd::zset_move(name, args)?.map(|z| MoveCmd {
                kind: z.kind,
                key: z.key,
                value: Cow::Owned(z.value),
                keys: z.keys,
            })
        }
        // Inside `MULTI` a blocking command runs once, never waits.
        _ => return parse_blocking(name, args).map(|r| r.map(|(cmd, _)| cmd)),
    })
}

/// `LMPOP numkeys key … LEFT|RIGHT [COUNT n]` (`first`: where numkeys
/// is; 2 for `BLMPOP`, after its timeout).
pub(super) fn lmpop(args: Args<'_>, first: usize) -> Parsed<'_> {
    let (keys, left, count) = mpop_args(args, first, b"left", b"right")?;
    Ok(MoveCmd {
        kind: OpKind::List(ListCmd::MPop { left, count }),
        key: keys[0],
        value: Cow::Owned(pack_keys(keys[1..].iter().copied())),
        keys,
    })
}

/// `ZMPOP numkeys key … MIN|MAX [COUNT n]` (`first`: where numkeys is; 2
/// for `BZMPOP`, after its timeout).
fn zmpop(args: Args<'_>, first: usize) -> Parsed<'_> {
    let (keys, min, count) = mpop_args(args, first, b"min", b"max")?;
    Ok(MoveCmd {
        kind: OpKind::ZSetType(ZSetCmd::MPop { max: !min, count }),
        key: keys[0],
        value: Cow::Owned(pack_keys(keys[1..].iter().copied())),
        keys,
    })
}

/// What `LMPOP` and `ZMPOP` share: the keys, true for the end named
/// `first_end` (`LEFT`, `MIN`), and the count (1 without `COUNT`).
type MPopArgs<'a> = (Vec<&'a [u8]>, bool, u64);

/// The arguments `LMPOP` and `ZMPOP` share, with Redis 7.0's checks in its
/// order; the end is `first_end` or `other_end` (any case).
fn mpop_args<'a>(
    args: Args<'a>,
    first: usize,
    first_end: &[u8],
    other_end: &[u8],
) -> Result<MPopArgs<'a>, Cow<'static, str>> {
    let n = parse_i64(args.get(first))
        .filter(|&n| n > 0)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or("ERR numkeys should be greater than 0")?;
    let end = first + 1 + n;
    if n > args.len() || end >= args.len() {
        return Err(SYNTAX.into());
    }
    let at_first_end = if args.get(end).eq_ignore_ascii_case(first_end) {
        true
    } else if args.get(end).eq_ignore_ascii_case(other_end) {
        false
    } else {
        return Err(SYNTAX.into());
    };
    let mut count = None;
    let mut j = end + 1;
    while j < args.len() {
        if args.get(j).eq_ignore_ascii_case(b"count") && j + 1 < args.len() && count.is_none() {
            let c = parse_i64(args.get(j + 1))
                .filter(|&c| c > 0)
                .ok_or("ERR count should be greater than 0")?;
            count = Some(c as u64);
            j += 2;
        } else {
            return Err(SYNTAX.into());
        }
    }
    let keys = (first + 1..end).map(|i| args.get(i)).collect();
    Ok((keys, at_first_end, count.unwrap_or(1)))
}

/// `SINTERCARD numkeys key [key …] [LIMIT limit]`, with Redis 7.0's
/// checks in its order.
fn sintercard(args: Args<'_>) -> Parsed<'_> {
    const NUMKEYS: &str = "ERR numkeys should be greater than 0";
    let n = parse_i64(args.get(1)).filter(|&n| n > 0).ok_or(NUMKEYS)?;
    let n = usize::try_from(n).map_err(|_| NUMKEYS)?;
    if n > args.len() - 2 {
        return Err("ERR Number of keys can't be greater than number of args".into());
    }
    let mut limit = 0u64;
    let mut j = 2 + n;
    while j < args.len() {
        if args.get(j).eq_ignore_ascii_case(b"limit") && j + 1 < args.len() {
            limit = parse_i64(args.get(j + 1))
                .and_then(|l| u64::try_from(l).ok())
                .ok_or("ERR LIMIT can't be negative")?;
            j += 2;
        } else {
            return Err(SYNTAX.into());
        }
    }
    let keys: Vec<&[u8]> = (2..2 + n).map(|i| args.get(i)).collect();
    Ok(MoveCmd {
        kind: OpKind::SetType(SetCmd::InterCard { limit }),
        key: keys[0],
        value: Cow::Owned(pack_keys(keys[1..].iter().copied())),
        keys,
    })
}

/// `COPY`'s options, checked in order as Redis does; only database 0
/// exists here.
fn copy_options(args: Args<'_>) -> Result<bool, Cow<'static, str>> {
    let mut replace = false;
    let mut j = 3;
    while j < args.len() {
        let arg = args.get(j);
        if arg.eq_ignore_ascii_case(b"replace") {
            replace = true;
        } else if arg.eq_ignore_ascii_case(b"db") && j + 1 < args.len() {
            let db = parse_i64(args.get(j + 1)).ok_or(NOT_INTEGER)?;
            if i32::try_from(db).is_err() {
                return Err(
                    "ERR value is out of range, value must between -2147483648 and 2147483647"
                        .into(),
                );
            }
            if db != 0 {
                return Err("ERR DB index is out of range".into());
            }
            j += 1;
        } else {
            return Err(SYNTAX.into());
        }
        j += 1;
    }
    if args.get(1) == args.get(2) {
        return Err("ERR source and destination objects are the same".into());
    }
    Ok(replace)
}

fn bitop(args: Args<'_>) -> Parsed<'_> {
    let op = BitOp::parse(args.get(1)).ok_or(SYNTAX)?;
    if op == BitOp::Not && args.len() != 4 {
        return Err("ERR BITOP NOT must be called with a single source key.".into());
    }
    let sources: Vec<&[u8]> = args.iter().skip(3).collect();
    let mut keys = vec![args.get(2)];
    keys.extend(&sources);
    Ok(MoveCmd {
        kind: OpKind::BitOp(op),
        key: args.get(2),
        value: Cow::Owned(pack_keys(sources)),
        keys,
    })
}

impl MoveCmd<'_> {
    pub(super) fn op(&self) -> OpRef<'_> {
        OpRef {
            kind: self.kind,
            key: self.key,
            value: &self.value,
        }
    }

    fn spans_partitions(&self, topology: &Topology) -> bool {
        let first = topology.partition_of_key(self.keys[0]);
        self.keys
            .iter()
            .any(|k| topology.partition_of_key(k) != first)
    }
}

/// True if an `EXEC` of `queued` needs a handoff transaction: one of its
/// commands moves or combines values across partitions.
pub(super) fn exec_needs_handoff(topology: &Topology, queued: &[Vec<Box<[u8]>>]) -> bool {
    queued.iter().any(|q| {
        let name = q
            .first()
            .and_then(|n| crate::resp::commands::lookup(n))
            .map_or("", |s| s.name);
        is_move(name)
            && with_args(
                q,
                |args| matches!(parse(name, args), Some(Ok(cmd)) if cmd.spans_partitions(topology)),
            )
    })
}

/// Calls `f` with a queued command's arguments.
fn with_args<T>(queued: &[Box<[u8]>], f: impl FnOnce(Args<'_>) -> T) -> T {
    let ranges = owned_ranges(queued);
    let frame = queued.concat();
    f(Args::new(&frame, &ranges))
}

impl Connection {
    /// Runs a parsed command: in place on its one partition, or as a
    /// handoff transaction across partitions.
    pub(super) async fn move_command(&mut self, cmd: Parsed<'_>) -> Result<(), TxnError> {
        let cmd = match cmd {
            Ok(cmd) => cmd,
            Err(mesg) => {
                self.emit(|o| enc::error(o, &mesg));
                return Ok(());
            }
        };
        let ctx = Rc::clone(&self.ctx);
        if !cmd.spans_partitions(&ctx.topology) {
            self.plan
                .op(&ctx, &mut self.out, cmd.kind, cmd.key, &cmd.value);
            return Ok(());
        }
        self.finish_plan().await?;
        let dialect = self.resp_dialect();
        let parts = handoff::parts(&ctx.topology, cmd.keys.iter().copied(), dialect);
        let outcome = handoff::run(&*ctx, parts, |states| {
            let mut scratch = Partition::scratch(states);
            scratch.set_coll_limits(ctx.runtime.coll_limits());
            let mut reply = Vec::new();
            scratch.execute(dialect, cmd.op(), &mut reply);
            (scratch.changes(states, &ctx.topology), reply)
        })
        .await?;
        self.emit_handoff(outcome);
        Ok(())
    }

    /// `EXEC` as a handoff transaction: every key of the queued commands
    /// (and the watched ones) locked and read, the commands run on a
    /// scratch partition in order, their writes committed together.
    /// `refused` holds, per queued command, the error the ACL now gives.
    pub(super) async fn exec_handoff(
        &mut self,
        queued: &[Vec<Box<[u8]>>],
        refused: Vec<Option<String>>,
    ) -> Result<(), TxnError> {
        let ctx = Rc::clone(&self.ctx);
        let dialect = self.resp_dialect();
        let keys: Vec<Vec<Box<[u8]>>> = queued.iter().map(|q| with_args(q, keys_of)).collect();
        let mut parts = handoff::parts(&ctx.topology, keys.iter().flatten().map(|k| &**k), dialect);
        if let Some(w) = &self.watching {
            for (p, watched) in w.partitions.iter().enumerate() {
                if *watched && !parts.iter().any(|(id, _)| *id == p) {
                    let mut part = crate::txn::TxnPart::new(dialect);
                    part.snapshot = true;
                    parts.push((p, part));
                }
            }
            parts.sort_unstable_by_key(|(p, _)| *p);
            for (_, part) in &mut parts {
                part.watch = Some(w.id);
            }
        }
        let outcome = handoff::run(&*ctx, parts, |states| {
            let mut scratch = Partition::scratch(states);
            scratch.set_coll_limits(ctx.runtime.coll_limits());
            let mut reply = Vec::new();
            enc::array(&mut reply, queued.len());
            for (q, refused) in queued.iter().zip(&refused) {
                match refused {
                    Some(mesg) => enc::error(&mut reply, mesg),
                    None => with_args(q, |args| {
                        let mut target = ToScratch {
                            scratch: &mut scratch,
                            dialect,
                            out: &mut reply,
                        };
                        queued::run(&mut target, args)
                    }),
                }
            }
            (scratch.changes(states, &ctx.topology), reply)
        })
        .await;
        self.unwatch_all().await;
        self.emit_handoff(outcome?);
        Ok(())
    }

    /// A blocking command outside `MULTI`: its attempt, and while that
    /// finds nothing, a wait until a key it names is written (every
    /// partition holding one of them signals it), its timeout passes,
    /// `CLIENT UNBLOCK`, or the client goes away; then it tries again.
    /// The client is registered before each attempt that may wait, so a
    /// push between the attempt and the wait is never missed. False when
    /// the connection should close.
    pub(super) async fn block_command(
        &mut self,
        cmd: MoveCmd<'_>,
        wait_ms: u64,
    ) -> Result<bool, TxnError> {
        if self.attempt(&cmd).await? {
            return Ok(true);
        }
        let deadline = (wait_ms > 0)
            .then(|| tokio::time::Instant::now() + std::time::Duration::from_millis(wait_ms));
        let notify = std::sync::Arc::new(tokio::sync::Notify::new());
        let mut parts: Vec<(usize, Vec<Box<[u8]>>)> = Vec::new();
        for key in &cmd.keys {
            let p = self.ctx.topology.partition_of_key(key);
            match parts.iter_mut().find(|(q, _)| *q == p) {
                Some((_, keys)) => keys.push((*key).into()),
                None => parts.push((p, vec![(*key).into()])),
            }
        }
        loop {
            for (p, keys) in &parts {
                let block = Admin::Block {
                    id: self.client_id,
                    keys: keys.clone(),
                    notify: std::sync::Arc::clone(&notify),
                };
                self.admin_one(*p, block).await?;
            }
            let done = self.attempt(&cmd).await?;
            let woke = if done {
                Woke::Done
            } else {
                self.wait_blocked(&notify, deadline).await
            };
            for (p, keys) in &parts {
                let unblock = Admin::Unblock {
                    id: self.client_id,
                    keys: keys.clone(),
                };
                self.admin_one(*p, unblock).await?;
            }
            let proto = self.proto();
            match woke {
                Woke::Done => return Ok(true),
                Woke::Written => continue,
                // Redis answers every blocking command's timeout with a
                // null array (`BLMOVE` too, whose attempt's nil is a null
                // bulk string).
                Woke::Timeout | Woke::Unblocked(false) => {
                    self.emit(|o| enc::null_array(o, proto));
                    return Ok(true);
                }
                Woke::Unblocked(true) => {
                    self.emit(|o| enc::error(o, "UNBLOCKED client unblocked via CLIENT UNBLOCK"));
                    return Ok(true);
                }
                Woke::Closed => return Ok(false),
            }
        }
    }

    /// Runs a blocking command's attempt; true if it answered (an element
    /// or an error), false (nothing written) if it found nothing.
    async fn attempt(&mut self, cmd: &MoveCmd<'_>) -> Result<bool, TxnError> {
        self.finish_plan().await?;
        let start = self.out.len();
        self.move_command(Ok(cmd.clone())).await?;
        self.finish_plan().await?;
        let reply = &self.out[start..];
        if matches!(reply, b"*-1\r\n" | b"$-1\r\n" | b"_\r\n") {
            self.out.truncate(start);
            return Ok(false);
        }
        Ok(true)
    }

    /// Writes what the client is owed, then waits for one of the things
    /// that end a blocking command's wait.
    async fn wait_blocked(
        &mut self,
        notify: &tokio::sync::Notify,
        deadline: Option<tokio::time::Instant>,
    ) -> Woke {
        if self.flush_blocked().await.is_err() {
            return Woke::Closed;
        }
        let signal = Rc::clone(&self.evict);
        let mut shutdown = self.shutdown.clone();
        signal.set_blocked(true);
        self.info.set_blocked(true);
        self.ctx.partition.borrow_mut().stats.blocked_clients += 1;
        let mut watch_socket = true;
        let woke = loop {
            let closing = async {
                match shutdown.as_mut() {
                    Some(s) => {
                        let _ = s.wait_for(|down| *down).await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = notify.notified() => break Woke::Written,
                () = async {
                    match deadline {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                } => break Woke::Timeout,
                error = signal.unblocked() => break Woke::Unblocked(error),
                () = signal.evicted() => break Woke::Closed,
                () = closing => break Woke::Closed,
                closed = self.stream.closed_or_data(), if watch_socket => {
                    if closed {
                        break Woke::Closed;
                    }
                    // Pipelined commands wait their turn.
                    watch_socket = false;
                }
            }
        };
        signal.set_blocked(false);
        self.info.set_blocked(false);
        self.ctx.partition.borrow_mut().stats.blocked_clients -= 1;
        woke
    }

    /// Writes the pending replies before a wait (the client sees every
    /// reply before the blocking command's).
    async fn flush_blocked(&mut self) -> std::io::Result<()> {
        let mut pos = 0;
        while pos < self.out.len() {
            match self.stream.try_write(&self.out[pos..]) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => pos += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    self.stream.writable().await?;
                }
                Err(e) => return Err(e),
            }
        }
        while !self.stream.try_flush()? {
            self.stream.writable().await?;
        }
        self.out.clear();
        Ok(())
    }

    /// Answers a handoff transaction's outcome (a failed watch only ends an
    /// `EXEC`: a nil array) and counts it.
    fn emit_handoff(&mut self, outcome: Handoff<Vec<u8>>) {
        {
            let stats = &mut self.ctx.partition.borrow_mut().stats;
            match outcome {
                Handoff::Committed(_) => stats.txn_commits_cross += 1,
                _ => stats.txn_aborted_cross += 1,
            }
        }
        let proto = self.proto();
        match outcome {
            Handoff::Committed(reply) => self.emit(|o| o.extend_from_slice(&reply)),
            Handoff::OutOfMemory => self.emit(|o| enc::error(o, crate::reply::OOM_RESP)),
            Handoff::WatchFailed => self.emit(|o| enc::null_array(o, proto)),
        }
    }
}

/// Why a blocking command stopped waiting.
enum Woke {
    /// Its attempt answered.
    Done,
    /// A key it waits on was written: try again.
    Written,
    Timeout,
    /// `CLIENT UNBLOCK` (`true`: with `ERROR`).
    Unblocked(bool),
    /// The client went away, was killed or evicted, or the server stops.
    Closed,
}

/// The keys a queued command touches.
fn keys_of(args: Args<'_>) -> Vec<Box<[u8]>> {
    let name = crate::resp::commands::lookup(args.get(0)).map_or("", |s| s.name);
    let keys: Vec<&[u8]> = match key_command(name, args) {
        Some(Ok(KeyCmd::One(_, key, _) | KeyCmd::Packed(_, key, _))) => vec![key],
        Some(Ok(KeyCmd::Many { pairs, .. } | KeyCmd::SetAllAbsent(pairs))) => {
            pairs.iter().map(|(k, _)| *k).collect()
        }
        _ => match parse(name, args) {
            Some(Ok(cmd)) => cmd.keys,
            _ => Vec::new(),
        },
    };
    keys.into_iter().map(Box::from).collect()
}

#[cfg(test)]
mod tests {
    use super::timeout_ms;

    /// Redis 7.0's answers (`redis-server` 7.0.15, `BLPOP nokey <t>`); a
    /// timeout Redis accepts but no client outlives waits forever (0).
    #[test]
    fn timeouts_parse_as_redis_7_0() {
        const NEGATIVE: Result<u64, &str> = Err("ERR timeout is negative");
        const NOT_FLOAT: Result<u64, &str> = Err("ERR timeout is not a float or out of range");
        let cases: &[(&[u8], Result<u64, &str>)] = &[
            (b"1", Ok(1000)),
            (b"0.0001", Ok(1)),
            (b"1e-300", Ok(1)),
            (b"0", Ok(0)),
            (b"-0", Ok(0)),
            (b"1e15", Ok(0)),
            (b"0x10", Ok(16_000)),
            (b"+1", Ok(1000)),
            (b"9223372036854775.807", Ok(0)),
            (b"-1", NEGATIVE),
            (b"-inf", NEGATIVE),
            (b"inf", NEGATIVE),
            (b"1e16", NEGATIVE),
            (b"1e300", NEGATIVE),
            (b"99999999999999999999", NEGATIVE),
            (b"abc", NOT_FLOAT),
            (b"nan", NOT_FLOAT),
            (b"", NOT_FLOAT),
            (b" 1", NOT_FLOAT),
            (b"1 ", NOT_FLOAT),
            (b"1e", NOT_FLOAT),
            (b"1e5000", NOT_FLOAT),
            (b"1\x000", NOT_FLOAT),
        ];
        for &(arg, want) in cases {
            assert_eq!(timeout_ms(arg), want, "{:?}", String::from_utf8_lossy(arg));
        }
    }
}
