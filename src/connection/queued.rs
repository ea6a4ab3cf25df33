//! The commands an `EXEC` runs, dispatched once for both ways it runs
//! them: routed through the transaction's [`Plan`] (its keys prepared on
//! their partitions), or executed on the scratch partition of a handoff
//! transaction (`movecmd::exec_handoff`). Each queued command answers as
//! `EXEC` would for it, an error for arguments only checked now included.

use super::keycmd::{key_command, KeyCmd};
use super::plan::{Combine, Plan};
use super::resp::Args;
use crate::partition::{OpKind, OpRef, Partition};
use crate::reply::Dialect;
use crate::resp::commands;
use crate::resp::encode as enc;
use crate::worker::WorkerCtx;

/// Where the queued commands' operations go.
pub(super) trait Target {
    /// One operation, its reply encoded in order.
    fn op(&mut self, op: OpRef<'_>);
    /// The same operation on several keys, their replies combined.
    fn many(&mut self, kind: OpKind, pairs: &[(&[u8], &[u8])], combine: Combine);
    /// A reply made by the connection itself.
    fn emit(&mut self, encode: impl FnOnce(&mut Vec<u8>));
}

/// Runs one queued command into `target`.
pub(super) fn run(target: &mut impl Target, args: Args<'_>) {
    let name = commands::lookup(args.get(0)).map_or("", |s| s.name);
    match key_command(name, args) {
        Some(Ok(KeyCmd::One(kind, key, value))) => target.op(OpRef { kind, key, value }),
        Some(Ok(KeyCmd::Packed(kind, key, value))) => target.op(OpRef {
            kind,
            key,
            value: &value,
        }),
        Some(Ok(KeyCmd::Many {
            kind,
            pairs,
            combine,
            header,
            then_ok,
        })) => {
            if header {
                target.emit(|o| enc::array(o, pairs.len()));
            }
            target.many(kind, &pairs, combine);
            if then_ok {
                target.emit(enc::ok);
            }
        }
        // Refused when queued; never here.
        Some(Ok(KeyCmd::SetAllAbsent(_))) => {
            target.emit(|o| enc::error(o, "ERR 'msetnx' is not allowed inside MULTI"))
        }
        Some(Err(mesg)) => target.emit(|o| enc::error(o, &mesg)),
        None => match super::movecmd::parse(name, args) {
            Some(Ok(cmd)) => target.op(cmd.op()),
            Some(Err(mesg)) => target.emit(|o| enc::error(o, &mesg)),
            None => other(target, name, args),
        },
    }
}

/// The commands besides key commands that `MULTI` queues.
fn other(target: &mut impl Target, name: &str, args: Args<'_>) {
    match (name, args.len()) {
        ("ping", 1) => target.emit(|o| enc::simple(o, "PONG")),
        ("ping", 2) => target.emit(|o| enc::bulk(o, args.get(1))),
        ("ping", _) => {
            target.emit(|o| enc::error(o, "ERR wrong number of arguments for 'ping' command"))
        }
        ("echo", _) => target.emit(|o| enc::bulk(o, args.get(1))),
        // The watches were checked when the transaction committed.
        ("unwatch", _) => target.emit(enc::ok),
        _ => target.emit(|o| enc::error(o, "ERR command not allowed in MULTI")),
    }
}

/// An `EXEC` whose keys are prepared on their partitions: its plan.
pub(super) struct ToPlan<'a> {
    pub plan: &'a mut Plan,
    pub ctx: &'a WorkerCtx,
    pub out: &'a mut Vec<u8>,
}

impl Target for ToPlan<'_> {
    fn op(&mut self, op: OpRef<'_>) {
        self.plan.op(self.ctx, self.out, op.kind, op.key, op.value);
    }

    fn many(&mut self, kind: OpKind, pairs: &[(&[u8], &[u8])], combine: Combine) {
        self.plan.run(self.ctx, self.out, kind, pairs, combine);
    }

    fn emit(&mut self, encode: impl FnOnce(&mut Vec<u8>)) {
        self.plan.emit(self.out, encode);
    }
}

/// A handoff `EXEC`: the scratch partition holding its keys' states.
pub(super) struct ToScratch<'a> {
    pub scratch: &'a mut Partition,
    pub dialect: Dialect,
    pub out: &'a mut Vec<u8>,
}

impl Target for ToScratch<'_> {
    fn op(&mut self, op: OpRef<'_>) {
        self.scratch.execute(self.dialect, op, self.out);
    }

    fn many(&mut self, kind: OpKind, pairs: &[(&[u8], &[u8])], combine: Combine) {
        let mut sum = 0;
        for &(key, value) in pairs {
            let op = OpRef { kind, key, value };
            if combine == Combine::Each {
                self.scratch.execute(self.dialect, op, self.out);
            } else {
                sum += self.scratch.execute_count(op);
            }
        }
        if combine == Combine::Sum {
            enc::int(self.out, sum);
        }
    }

    fn emit(&mut self, encode: impl FnOnce(&mut Vec<u8>)) {
        encode(self.out);
    }
}
