//! Routing a batch of commands: which operations run here and now, which go
//! to which partition, and in what order their responses are written.

use crate::partition::{BatchReply, OpBatch, OpKind, OpRef, ReplyBudget};
use crate::reply::Dialect;
use crate::resp::encode as resp;
use crate::txn::{TxnError, TxnPart};
use crate::worker::WorkerCtx;
use std::sync::Arc;

/// How the per-key replies of a multi-key command become one reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    /// Each reply in turn (after an array header: `MGET`).
    Each,
    /// The sum of integer replies (`DEL`, `EXISTS`).
    Sum,
    /// Nothing (`MSET`, `WATCH`: the caller emits the reply).
    Drop,
}

/// Where one response of the batch comes from, in command order.
#[derive(Debug)]
enum Piece {
    /// Encoded in `side`, ending at this offset.
    Inline(usize),
    /// The next response of this partition's reply, for this command
    /// (its index in the command table, [`NO_COMMAND`] for none).
    Remote(u32, u16),
    /// The next `n` pieces combine into one reply.
    Combine(usize, Combine),
    /// The reply another pod sends (the next of `peers`), for this command.
    Peer(u16),
}

pub struct Plan {
    dialect: Dialect,
    groups: Vec<Option<Box<OpBatch>>>,
    order: Vec<Piece>,
    /// Replies awaited from other pods, in command order.
    peers: Vec<tokio::sync::oneshot::Receiver<crate::cluster::peer::PeerReply>>,
    side: Vec<u8>,
    /// Transactions route every operation, local ones too, into groups.
    deferred: bool,
    /// Commands handled in this batch (for `INFO`).
    pub commands: u64,
    forwarded: u64,
    /// Where this batch's keyed operations ran (connection migration).
    affinity: Affinity,
    /// Bytes of keys and values in the groups (a batch ends early past
    /// `DATA_BUDGET`, so no group nears its 4 GiB offset limit).
    data: usize,
    /// The client's reply budget, shared by the batches of one `finish`
    /// (allocated on the first forward; reset before each).
    budget: Option<Arc<ReplyBudget>>,
    /// The last `finish` stopped at the client's output limit.
    pub over_limit: bool,
    /// The command being routed (its index in the command table, or
    /// [`NO_COMMAND`]): error replies are noted against it.
    pub cmd: u16,
    /// Error replies written (by the connection, the local partition, or
    /// assembled from other partitions' replies) since the connection last
    /// took them: the command, the error's code (`INFO errorstats`), and
    /// whether it refused the command before running it.
    pub errors: Vec<NotedError>,
}

/// Where a batch's keyed operations ran, for moving a connection to the
/// worker that owns its keys (`migrate.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Affinity {
    /// No keyed operation (or none routed through the plan).
    Neutral,
    /// Every one on this other worker's partition.
    Remote(usize),
    /// Some here, or on several partitions.
    Mixed,
}

/// [`Plan::cmd`] when no command of the table is being routed.
pub const NO_COMMAND: u16 = u16::MAX;

/// An error reply a plan wrote (see [`Plan::errors`]).
#[derive(Debug)]
pub struct NotedError {
    pub cmd: u16,
    pub code: Box<str>,
    pub rejected: bool,
}

/// Notes an error reply (a RESP `-` line) written at `start` of `buf`.
#[inline(always)]
fn note_error(errors: &mut Vec<NotedError>, cmd: u16, buf: &[u8], start: usize) {
    if buf.get(start) == Some(&b'-') {
        push_error(errors, cmd, &buf[start + 1..]);
    }
}

#[cold]
#[inline(never)]
fn push_error(errors: &mut Vec<NotedError>, cmd: u16, reply: &[u8]) {
    errors.push(NotedError {
        cmd,
        code: crate::introspect::error_prefix(reply).into(),
        rejected: crate::introspect::is_rejection(reply),
    });
}

impl Plan {
    pub fn new(partitions: usize, dialect: Dialect) -> Self {
        Self {
            dialect,
            groups: (0..partitions).map(|_| None).collect(),
            order: Vec::new(),
            peers: Vec::new(),
            side: Vec::new(),
            deferred: false,
            commands: 0,
            forwarded: 0,
            affinity: Affinity::Neutral,
            data: 0,
            budget: None,
            over_limit: false,
            cmd: NO_COMMAND,
            errors: Vec::new(),
        }
    }

    /// A plan for a transaction: nothing runs until the coordinator runs it.
    pub fn deferred(partitions: usize, dialect: Dialect) -> Self {
        Self {
            deferred: true,
            ..Self::new(partitions, dialect)
        }
    }

    /// Replies of operations routed from now on are in `dialect` (`HELLO`
    /// switches between RESP2 and RESP3 with nothing pending).
    pub fn set_dialect(&mut self, dialect: Dialect) {
        debug_assert!(!self.is_pending());
        self.dialect = dialect;
    }

    pub fn is_pending(&self) -> bool {
        !self.order.is_empty()
    }

    pub fn side_len(&self) -> usize {
        self.side.len()
    }

    /// Bytes the side buffer holds allocated.
    pub fn side_capacity(&self) -> usize {
        self.side.capacity()
    }

    /// Bytes of keys and values waiting to be forwarded.
    pub fn data_len(&self) -> usize {
        self.data
    }

    pub fn take_forwarded(&mut self) -> u64 {
        std::mem::take(&mut self.forwarded)
    }

    /// Where the keyed operations since the last call ran.
    pub fn take_affinity(&mut self) -> Affinity {
        std::mem::replace(&mut self.affinity, Affinity::Neutral)
    }

    fn note_owner(&mut self, here: usize, owner: usize) {
        self.affinity = match self.affinity {
            _ if owner == here => Affinity::Mixed,
            Affinity::Neutral => Affinity::Remote(owner),
            Affinity::Remote(p) if p == owner => Affinity::Remote(p),
            _ => Affinity::Mixed,
        };
    }

    /// Where the next inline response goes: straight to `out` while nothing
    /// before it is pending, else the side buffer.
    /// A deferred plan writes nothing before its transaction commits.
    fn target<'a>(&'a mut self, out: &'a mut Vec<u8>) -> &'a mut Vec<u8> {
        if self.is_pending() || self.deferred {
            &mut self.side
        } else {
            out
        }
    }

    fn note_inline(&mut self) {
        if self.is_pending() || self.deferred {
            self.order.push(Piece::Inline(self.side.len()));
        }
    }

    /// Encodes a response produced by the connection itself.
    pub fn emit(&mut self, out: &mut Vec<u8>, encode: impl FnOnce(&mut Vec<u8>)) {
        let target = if self.is_pending() || self.deferred {
            &mut self.side
        } else {
            out
        };
        let start = target.len();
        encode(target);
        note_error(&mut self.errors, self.cmd, target, start);
        self.note_inline();
    }

    fn group(&mut self, ctx: &WorkerCtx, partition: usize, bytes: usize) -> &mut OpBatch {
        if partition != ctx.id {
            self.forwarded += 1;
        }
        self.note_owner(ctx.id, partition);
        self.data += bytes;
        let dialect = self.dialect;
        self.groups[partition].get_or_insert_with(|| Box::new(OpBatch::new(dialect)))
    }

    /// Routes one single-key operation.
    pub fn op(
        &mut self,
        ctx: &WorkerCtx,
        out: &mut Vec<u8>,
        kind: OpKind,
        key: &[u8],
        value: &[u8],
    ) {
        let owner = ctx.topology.partition_of_key(key);
        if self.runs_here(ctx, owner) {
            self.affinity = Affinity::Mixed;
            let mut partition = ctx.partition.borrow_mut();
            let op = OpRef { kind, key, value };
            if !partition.op_blocks(&op) {
                let target = if self.is_pending() || self.deferred {
                    &mut self.side
                } else {
                    out
                };
                let start = target.len();
                partition.execute(self.dialect, op, target);
                note_error(&mut self.errors, self.cmd, target, start);
                drop(partition);
                self.note_inline();
                return;
            }
        }
        let bytes = key.len() + value.len();
        self.group(ctx, owner, bytes).push(kind, key, value);
        self.order.push(Piece::Remote(owner as u32, self.cmd));
    }

    /// Routes a command another pod answers: its reply takes its place in
    /// command order when it arrives.
    pub fn peer(&mut self, reply: tokio::sync::oneshot::Receiver<crate::cluster::peer::PeerReply>) {
        self.forwarded += 1;
        self.peers.push(reply);
        self.order.push(Piece::Peer(self.cmd));
    }

    fn runs_here(&self, ctx: &WorkerCtx, owner: usize) -> bool {
        !self.deferred && owner == ctx.id && self.groups[owner].is_none()
    }

    /// Routes a multi-key command: `kind` on each `(key, value)`. When all
    /// keys share one partition (outside a transaction) the operations form
    /// an atomic run there; callers route multi-key commands whose keys
    /// span partitions through a transaction instead (`WATCH`, which needs
    /// no atomicity, is the exception).
    pub fn run(
        &mut self,
        ctx: &WorkerCtx,
        out: &mut Vec<u8>,
        kind: OpKind,
        pairs: &[(&[u8], &[u8])],
        combine: Combine,
    ) {
        let Some(&(first, _)) = pairs.first() else {
            return;
        };
        let owner = ctx.topology.partition_of_key(first);
        let single = pairs
            .iter()
            .all(|(k, _)| ctx.topology.partition_of_key(k) == owner);
        if single && self.runs_here(ctx, owner) && self.try_run_here(ctx, out, kind, pairs, combine)
        {
            return;
        }
        if combine != Combine::Each {
            self.order.push(Piece::Combine(pairs.len(), combine));
        }
        for &(key, value) in pairs {
            let p = ctx.topology.partition_of_key(key);
            let group = self.group(ctx, p, key.len() + value.len());
            group.push(kind, key, value);
            if combine != Combine::Each {
                group.count_last();
            }
            self.order.push(Piece::Remote(p as u32, self.cmd));
        }
        if single && !self.deferred {
            if let Some(group) = &mut self.groups[owner] {
                group.seal_run(pairs.len());
            }
        }
    }

    /// Runs a multi-key command on the local partition now, if none of its
    /// keys is locked.
    fn try_run_here(
        &mut self,
        ctx: &WorkerCtx,
        out: &mut Vec<u8>,
        kind: OpKind,
        pairs: &[(&[u8], &[u8])],
        combine: Combine,
    ) -> bool {
        let mut partition = ctx.partition.borrow_mut();
        if pairs.iter().any(|&(k, _)| partition.blocks(kind, k)) {
            return false;
        }
        self.affinity = Affinity::Mixed;
        let dialect = self.dialect;
        let mut sum = 0;
        for &(key, value) in pairs {
            let op = OpRef { kind, key, value };
            match combine {
                Combine::Each => partition.execute(dialect, op, self.target(out)),
                Combine::Sum | Combine::Drop => sum += partition.execute_count(op),
            }
        }
        drop(partition);
        if combine == Combine::Sum {
            resp::int(self.target(out), sum);
        }
        if combine != Combine::Drop {
            self.note_inline();
        }
        true
    }

    /// Sends the grouped operations, awaits every reply and appends all the
    /// responses to `out` in command order.
    /// `reply_limit` bounds the partitions' replies together (`None`: no
    /// limit); past it nothing is assembled and `over_limit` is set.
    pub async fn finish(
        &mut self,
        ctx: &WorkerCtx,
        out: &mut Vec<u8>,
        reply_limit: Option<usize>,
    ) -> Result<(), TxnError> {
        self.data = 0;
        if !self.is_pending() {
            return Ok(());
        }
        let budget = reply_limit.map(|left| {
            let budget = self.budget.get_or_insert_with(Default::default);
            budget.reset(left);
            Arc::clone(budget)
        });
        let mut pending = Vec::new();
        for partition in 0..self.groups.len() {
            if let Some(mut batch) = self.groups[partition].take() {
                if let Some(budget) = &budget {
                    batch.set_budget(Arc::clone(budget));
                }
                pending.push((partition, ctx.forward_batch(partition, batch)));
            }
        }
        let mut replies: Vec<Option<BatchReply>> = (0..self.groups.len()).map(|_| None).collect();
        for (partition, rx) in pending {
            let reply = rx.await.map_err(|_| TxnError::Unavailable)?;
            self.over_limit |= reply.over_limit();
            replies[partition] = Some(reply);
        }
        let mut peer_replies = Vec::with_capacity(self.peers.len());
        for rx in self.peers.drain(..) {
            // The link answers every request it took, even when it fails.
            let reply = rx.await.map_err(|_| TxnError::Unavailable)?;
            if let Some(left) = reply_limit {
                self.over_limit |= reply.len() > left;
            }
            peer_replies.push(reply);
        }
        if self.over_limit {
            self.order.clear();
            self.side.clear();
            return Ok(());
        }
        self.assemble_with_peers(&replies, &peer_replies, out);
        Ok(())
    }

    /// Turns a deferred plan into transaction parts (ascending partition
    /// order), keeping the reply order for [`assemble`](Self::assemble).
    /// `reply_limit` bounds the parts' replies together, as in
    /// [`finish`](Self::finish): partitions charge them as they build
    /// them, so a transaction's reply never grows far past the client's
    /// output limit.
    pub fn take_parts(
        &mut self,
        want_reply: bool,
        reply_limit: Option<usize>,
    ) -> Vec<(usize, TxnPart)> {
        self.data = 0;
        let budget = reply_limit.filter(|_| want_reply).map(|left| {
            let budget = Arc::new(ReplyBudget::default());
            budget.reset(left);
            budget
        });
        let mut parts = Vec::new();
        for (p, group) in self.groups.iter_mut().enumerate() {
            if let Some(mut batch) = group.take() {
                if let Some(budget) = &budget {
                    batch.set_budget(Arc::clone(budget));
                }
                let mut part = TxnPart::new(self.dialect);
                part.ops = *batch;
                part.want_reply = want_reply;
                parts.push((p, part));
            }
        }
        parts
    }

    /// Writes every response in command order: inline ones from the side
    /// buffer, the others from the partitions' replies.
    pub fn assemble(&mut self, replies: &[Option<BatchReply>], out: &mut Vec<u8>) {
        self.assemble_with_peers(replies, &[], out);
    }

    /// [`assemble`](Self::assemble), with the replies of other pods.
    fn assemble_with_peers(
        &mut self,
        replies: &[Option<BatchReply>],
        peer_replies: &[Vec<u8>],
        out: &mut Vec<u8>,
    ) {
        let mut peer_replies = peer_replies.iter();
        let mut cursors: Vec<_> = replies
            .iter()
            .map(|r| r.as_ref().map(BatchReply::segments))
            .collect();
        let mut counts: Vec<_> = replies
            .iter()
            .map(|r| r.as_ref().map(BatchReply::counts))
            .collect();
        let mut side_pos = 0;
        let mut pieces = self.order.drain(..);
        let side = &self.side;
        let errors = &mut self.errors;
        let mut next_bytes = |piece: Piece, side_pos: &mut usize| -> &[u8] {
            match piece {
                Piece::Inline(end) => {
                    let seg = &side[*side_pos..end];
                    *side_pos = end;
                    seg
                }
                Piece::Remote(p, cmd) => {
                    let seg = cursors[p as usize]
                        .as_mut()
                        .and_then(Iterator::next)
                        .unwrap_or(b"");
                    note_error(errors, cmd, seg, 0);
                    seg
                }
                Piece::Peer(cmd) => {
                    let seg = peer_replies.next().map_or(&b""[..], Vec::as_slice);
                    note_error(errors, cmd, seg, 0);
                    seg
                }
                Piece::Combine(..) => b"",
            }
        };
        while let Some(piece) = pieces.next() {
            let Piece::Combine(n, combine) = piece else {
                out.extend_from_slice(next_bytes(piece, &mut side_pos));
                continue;
            };
            let mut sum = 0;
            for piece in pieces.by_ref().take(n) {
                // A counted operation's response is empty; its number is
                // in its partition's counts, in the same order.
                if let Piece::Remote(p, _) = piece {
                    sum += counts[p as usize]
                        .as_mut()
                        .and_then(Iterator::next)
                        .copied()
                        .unwrap_or(0);
                }
                next_bytes(piece, &mut side_pos);
            }
            if combine == Combine::Sum {
                resp::int(out, sum);
            }
        }
        drop(pieces);
        self.side.clear();
        super::shrink(&mut self.side);
    }

    /// Assembles a transaction's replies, given per partition.
    pub fn assemble_parts(&mut self, replies: Vec<(usize, BatchReply)>, out: &mut Vec<u8>) {
        let mut by_partition: Vec<Option<BatchReply>> =
            (0..self.groups.len()).map(|_| None).collect();
        for (p, r) in replies {
            by_partition[p] = Some(r);
        }
        self.assemble(&by_partition, out);
    }
}
