//! `RENAME`, `RENAMENX`, `COPY` and `BITOP` on a RESP connection: commands
//! that move or combine values between keys. When all their keys live on
//! one partition they are one operation there, run in place like any
//! other (no transaction); across partitions they run as a handoff
//! transaction (`txn::handoff`), and so does an `EXEC` that queues one.

use super::keycmd::{key_command, KeyCmd, NOT_INTEGER, SYNTAX};
use super::queued::{self, ToScratch};
use super::resp::{owned_ranges, Args};
use super::Connection;
use crate::partition::coll::set::SetCmd;
use crate::partition::{pack_keys, parse_i64, BitOp, OpKind, OpRef, Partition};
use crate::resp::encode as enc;
use crate::txn::handoff::{self, Handoff};
use crate::txn::TxnError;
use corekv_router::Topology;
use std::borrow::Cow;
use std::rc::Rc;

/// One parsed command: a partition operation and every key it touches.
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
    ) || super::zsetcmd::is_zset_move(name)
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
        // Sorted sets.
        name if super::zsetcmd::is_zset_move(name) => {
            super::zsetcmd::zset_move(name, args)?.map(|z| MoveCmd {
                kind: z.kind,
                key: z.key,
                value: Cow::Owned(z.value),
                keys: z.keys,
            })
        }
        _ => return None,
    })
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
