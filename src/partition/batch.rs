//! A batch of operations for one partition, and its encoded replies.
//!
//! A connection groups the commands it read in one go by owning partition and
//! sends each group as one `OpBatch`: one allocation for all keys and values,
//! one message, one wake-up. The owner appends each encoded response to one
//! `BatchReply` buffer, so replies travel back as one allocation too.
//!
//! Consecutive operations can form an *atomic run* (a multi-key command such
//! as `MGET a b` whose keys share a partition): the partition runs it only
//! when none of its keys is locked, and then runs it whole.

use super::ops::OpKind;
use crate::clients::WorkerMemory;
use crate::reply::Dialect;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

/// Most bytes of keys and values one batch carries: its offsets are `u32`.
/// (Connections end a batch long before: see `connection::DATA_BUDGET`.)
pub const MAX_BATCH_BYTES: usize = u32::MAX as usize;

/// Reply bytes a connection may still receive before its output limit: one
/// per connection, shared by the batches it has in flight (on any worker).
/// Partitions take from it in `CHARGE_CHUNK` steps, so a reply costs at
/// most one atomic operation per 64 KiB.
#[derive(Debug, Default)]
pub struct ReplyBudget {
    left: AtomicUsize,
}

/// How much reply a partition builds between two charges to the budget.
pub const CHARGE_CHUNK: usize = 64 * 1024;

impl ReplyBudget {
    /// Sets what is left (the connection does this before each batch).
    pub fn reset(&self, left: usize) {
        self.left.store(left, Relaxed);
    }

    /// Gives `n` bytes back.
    pub fn give(&self, n: usize) {
        self.left.fetch_add(n, Relaxed);
    }

    /// Takes `n` bytes; false (and nothing taken) when fewer are left.
    pub fn take(&self, n: usize) -> bool {
        self.left
            .fetch_update(Relaxed, Relaxed, |left| left.checked_sub(n))
            .is_ok()
    }
}

#[derive(Debug, Clone)]
struct Op {
    kind: OpKind,
    key: Range<u32>,
    value: Range<u32>,
    /// Length of the atomic run starting here (1 for a lone operation).
    run: u32,
    /// Its answer is a count to sum, not bytes ([`BatchReply::counts`]).
    counted: bool,
}

/// Operations in command order, their bytes packed in one buffer.
#[derive(Debug)]
pub struct OpBatch {
    pub dialect: Dialect,
    data: Vec<u8>,
    ops: Vec<Op>,
    /// Operations already executed (a batch can wait on a locked key).
    pub(super) next: usize,
    pub(super) reply: BatchReply,
    /// The client's reply budget (`None`: unlimited).
    budget: Option<Arc<ReplyBudget>>,
}

/// One operation as the partition sees it.
#[derive(Debug, Clone, Copy)]
pub struct OpRef<'a> {
    pub kind: OpKind,
    pub key: &'a [u8],
    pub value: &'a [u8],
}

impl OpBatch {
    pub fn new(dialect: Dialect) -> Self {
        Self {
            dialect,
            data: Vec::new(),
            ops: Vec::new(),
            next: 0,
            reply: BatchReply::default(),
            budget: None,
        }
    }

    /// Limits the reply to what `budget` allows (the client's output limit).
    pub fn set_budget(&mut self, budget: Arc<ReplyBudget>) {
        self.budget = Some(budget);
    }

    /// True if `key` and `value` still fit: the batch's offsets are `u32`.
    pub fn fits(&self, key: &[u8], value: &[u8]) -> bool {
        self.data.len() + key.len() + value.len() <= MAX_BATCH_BYTES
    }

    /// Appends one operation. The caller checks [`fits`](Self::fits)
    /// (requests are far smaller than 4 GiB, so only a huge pipeline can
    /// get there); past it this panics rather than wrapping an offset.
    pub fn push(&mut self, kind: OpKind, key: &[u8], value: &[u8]) {
        assert!(self.fits(key, value), "OpBatch past 4 GiB");
        let key = self.append(key);
        let value = self.append(value);
        self.ops.push(Op {
            kind,
            key,
            value,
            run: 1,
            counted: false,
        });
    }

    /// Charges the reply built since the last charge to the budget, once
    /// it has grown by [`CHARGE_CHUNK`] (`force`: whatever it is). False
    /// when the budget is spent: the reply is then marked over the limit
    /// and the rest of the batch skipped (the client will be disconnected,
    /// as Redis closes a client past its output limit without running the
    /// rest of its pipeline).
    pub(super) fn charge(&mut self, force: bool) -> bool {
        if charge(self.budget.as_deref(), &mut self.reply, force) {
            return true;
        }
        self.next = self.ops.len();
        false
    }

    /// Charges `reply` (built for this batch's operations) to the budget
    /// like [`charge`](Self::charge). Past the budget the reply is freed
    /// here, on the thread that allocated it (so the idle release can
    /// return it to the OS), and marked over the limit.
    pub(super) fn charge_reply(&self, reply: &mut BatchReply, force: bool) -> bool {
        charge(self.budget.as_deref(), reply, force)
    }

    /// Gives back what a discarded reply took from the budget (a
    /// transaction attempt that is retried).
    pub fn refund(&self, n: usize) {
        if let Some(budget) = &self.budget {
            budget.give(n);
        }
    }

    /// Makes the last `n` pushed operations one atomic run.
    /// The last operation pushed answers a count to be summed (or
    /// dropped) by the connection: the partition records the number
    /// instead of encoding a reply.
    pub fn count_last(&mut self) {
        if let Some(op) = self.ops.last_mut() {
            op.counted = true;
        }
    }

    pub fn is_counted(&self, i: usize) -> bool {
        self.ops[i].counted
    }

    pub fn seal_run(&mut self, n: usize) {
        if n > 1 {
            let start = self.ops.len() - n;
            self.ops[start].run = u32::try_from(n).unwrap_or(u32::MAX);
        }
    }

    fn append(&mut self, bytes: &[u8]) -> Range<u32> {
        let start = offset(self.data.len());
        self.data.extend_from_slice(bytes);
        start..offset(self.data.len())
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Bytes of keys and values carried.
    pub fn data_len(&self) -> usize {
        self.data.len()
    }

    pub fn op(&self, i: usize) -> OpRef<'_> {
        op_ref(&self.data, &self.ops[i])
    }

    /// Calls `f` with each operation of `run`, whether it is counted, and
    /// the reply (borrowed in place: no copy of it per operation).
    #[inline]
    pub(super) fn run_each(
        &mut self,
        run: Range<usize>,
        mut f: impl FnMut(OpRef<'_>, bool, &mut BatchReply),
    ) {
        for op in &self.ops[run] {
            f(op_ref(&self.data, op), op.counted, &mut self.reply);
        }
    }

    pub fn ops(&self) -> impl Iterator<Item = OpRef<'_>> {
        (0..self.ops.len()).map(|i| self.op(i))
    }

    /// True if no operation writes.
    pub fn is_read_only(&self) -> bool {
        self.ops.iter().all(|o| o.kind.is_read())
    }

    /// The unexecuted atomic run at `next`: its range of operations.
    pub(super) fn next_run(&self) -> Option<Range<usize>> {
        let op = self.ops.get(self.next)?;
        Some(self.next..self.next + op.run as usize)
    }

    pub(super) fn into_reply(self) -> BatchReply {
        self.reply
    }
}

#[inline]
fn op_ref<'a>(data: &'a [u8], op: &Op) -> OpRef<'a> {
    let bytes = |r: &Range<u32>| &data[r.start as usize..r.end as usize];
    OpRef {
        kind: op.kind,
        key: bytes(&op.key),
        value: bytes(&op.value),
    }
}

/// Charges `reply` to `budget` (see [`OpBatch::charge`]).
fn charge(budget: Option<&ReplyBudget>, reply: &mut BatchReply, force: bool) -> bool {
    let Some(budget) = budget else {
        return true;
    };
    let used = reply.out.len();
    let new = used - reply.charged.min(used);
    if new == 0 || (new < CHARGE_CHUNK && !force) {
        return true;
    }
    if !budget.take(new) {
        *reply = BatchReply {
            over_limit: true,
            charged: reply.charged,
            ..BatchReply::default()
        };
        return false;
    }
    reply.charged = used;
    true
}

/// A data offset as `u32`; [`OpBatch::fits`] keeps the data under 4 GiB,
/// so this never wraps.
fn offset(n: usize) -> u32 {
    u32::try_from(n).expect("OpBatch past 4 GiB")
}

/// Encoded responses, one segment per operation, in order.
#[derive(Debug, Default)]
pub struct BatchReply {
    out: Vec<u8>,
    /// Where each response ends (`usize`: a reply has no size cap but the
    /// client's output limit, and that may be off).
    ends: Vec<usize>,
    /// The numbers of counted operations, in order (each also has an empty
    /// response in `ends`, so responses and operations stay aligned).
    counts: Vec<i64>,
    /// The client's output limit was reached: the reply is incomplete.
    over_limit: bool,
    /// Bytes taken from the client's reply budget (a transaction's reply
    /// gives them back if its attempt is retried).
    charged: usize,
    /// The reply's bytes, counted in the building worker's client memory
    /// until the reply is dropped (delivered and copied out, or lost).
    held: Option<Held>,
}

/// Memory counted in a worker's [`WorkerMemory::in_flight`] while its
/// holder lives; dropped on any thread.
#[derive(Debug)]
struct Held {
    cell: Arc<WorkerMemory>,
    bytes: usize,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.cell.in_flight.fetch_sub(self.bytes, Relaxed);
    }
}

impl BatchReply {
    /// Counts the reply's heap bytes in `cell` (the building worker's
    /// replies in flight) until it is dropped; returns the new total.
    pub(super) fn hold(&mut self, cell: &Arc<WorkerMemory>) -> usize {
        let bytes = self.heap_bytes();
        let total = cell.in_flight.fetch_add(bytes, Relaxed) + bytes;
        self.held = Some(Held {
            cell: Arc::clone(cell),
            bytes,
        });
        total
    }

    /// Bytes the reply holds allocated.
    pub fn heap_bytes(&self) -> usize {
        self.out.capacity()
            + self.ends.capacity() * std::mem::size_of::<usize>()
            + self.counts.capacity() * std::mem::size_of::<i64>()
    }

    /// Bytes this reply took from the client's budget.
    pub fn charged(&self) -> usize {
        self.charged
    }

    /// Appends one response: `encode` writes it to the buffer.
    pub fn push_with(&mut self, encode: impl FnOnce(&mut Vec<u8>)) {
        encode(&mut self.out);
        self.ends.push(self.out.len());
    }

    /// A counted operation's number (and its empty response).
    pub fn push_count(&mut self, n: i64) {
        self.counts.push(n);
        self.ends.push(self.out.len());
    }

    /// The counted operations' numbers, in order.
    pub fn counts(&self) -> std::slice::Iter<'_, i64> {
        self.counts.iter()
    }

    /// True if the client's output limit cut this reply short.
    pub fn over_limit(&self) -> bool {
        self.over_limit
    }

    /// Bytes of encoded responses.
    pub fn bytes(&self) -> usize {
        self.out.len()
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The responses in order, one per operation.
    pub fn segments(&self) -> Segments<'_> {
        Segments {
            reply: self,
            index: 0,
            start: 0,
        }
    }
}

/// Iterator over a [`BatchReply`]'s responses.
pub struct Segments<'a> {
    reply: &'a BatchReply,
    index: usize,
    start: usize,
}

impl<'a> Iterator for Segments<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let end = *self.reply.ends.get(self.index)?;
        let seg = &self.reply.out[self.start..end];
        self.index += 1;
        self.start = end;
        Some(seg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_round_trip_in_order_with_runs() {
        let mut b = OpBatch::new(Dialect::Text);
        b.push(OpKind::Put, b"k1", b"v1");
        b.push(OpKind::Get, b"k2", b"");
        b.push(OpKind::Get, b"k3", b"");
        b.seal_run(2);
        assert_eq!(b.len(), 3);
        assert_eq!(b.op(0).key, b"k1");
        assert_eq!(b.op(0).value, b"v1");
        assert_eq!(b.op(2).key, b"k3");
        assert_eq!(b.next_run(), Some(0..1));
        b.next = 1;
        assert_eq!(b.next_run(), Some(1..3));
        b.next = 3;
        assert_eq!(b.next_run(), None);
        assert!(!b.is_read_only());
    }

    #[test]
    fn reply_segments() {
        let mut r = BatchReply::default();
        r.push_with(|o| o.extend_from_slice(b"one\n"));
        r.push_with(|_| {});
        r.push_with(|o| o.extend_from_slice(b"three\n"));
        let segs: Vec<_> = r.segments().collect();
        assert_eq!(segs, [&b"one\n"[..], b"", b"three\n"]);
    }

    #[test]
    fn budget_is_shared_and_never_overdrawn() {
        let budget = ReplyBudget::default();
        budget.reset(100);
        assert!(budget.take(60));
        assert!(!budget.take(41), "only 40 left");
        assert!(budget.take(40));
        assert!(!budget.take(1));
    }
}
