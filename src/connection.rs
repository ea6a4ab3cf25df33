//! Bytes → lines → commands → partitions → bytes, for one client connection.
//!
//! The loop: read what the socket has, parse up to [`MAX_BATCH`] complete
//! lines, execute them, write every response with one `write`, repeat. Within
//! a batch, commands for the worker's own partition run immediately; commands
//! for other partitions are grouped per owner into one [`OpBatch`] each and
//! sent as one message per partition. Responses are assembled in command
//! order, so replies always leave in the order the commands came.
//!
//! Limits that keep a client from growing server memory without bound: a
//! line over `--max-line-bytes` is answered with one error and discarded as
//! it streams in; a batch holds at most `MAX_BATCH` commands; an open
//! transaction buffers at most `--max-txn-bytes`.

use crate::partition::{BatchReply, OpBatch, OpKind, Request};
use crate::protocol::{self, Command, Parsed};
use crate::response;
use crate::txn::{coordinator, Buffered, TxnBuffer, TxnError};
use crate::worker::WorkerCtx;
use bytes::{Buf, BytesMut};
use std::io;
use std::rc::Rc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch};

/// Most commands executed between two writes to the socket.
pub const MAX_BATCH: usize = 512;
/// A batch also ends once this much response data is waiting locally (large
/// values), so one connection cannot make the server buffer without bound.
const OUT_BUDGET: usize = 1024 * 1024;
const READ_CHUNK: usize = 16 * 1024;
/// Buffers that grew past this (a huge value) are released after use.
const KEEP_BUFFER: usize = 256 * 1024;

/// Serves one client until it quits, disconnects, or the worker shuts down.
pub async fn serve(ctx: Rc<WorkerCtx>, stream: TcpStream, shutdown: watch::Receiver<bool>) {
    let peer = stream.peer_addr().ok();
    let mut conn = Connection::new(ctx, stream);
    if let Err(e) = conn.run(shutdown).await {
        tracing::debug!(?peer, error = %e, "connection closed");
    }
}

/// Where one response of the batch comes from, in command order.
enum Piece {
    /// Already encoded in `Plan::side`, ending at this offset.
    Inline(usize),
    /// The next response of this partition's batch reply.
    Remote(usize),
}

/// The batch being executed: operations waiting for other partitions, and
/// the order in which their responses interleave with the inline ones.
#[derive(Default)]
struct Plan {
    groups: Vec<Option<Box<OpBatch>>>,
    order: Vec<Piece>,
    side: Vec<u8>,
}

impl Plan {
    fn is_pending(&self) -> bool {
        !self.order.is_empty()
    }
}

enum Flow {
    /// Every complete line was handled; read more.
    NeedInput,
    /// The batch is full; write and continue with the buffered lines.
    BatchFull,
    Quit,
}

struct Connection {
    ctx: Rc<WorkerCtx>,
    stream: TcpStream,
    rbuf: BytesMut,
    out: Vec<u8>,
    plan: Plan,
    /// Inside an over-long line: drop bytes up to the next newline.
    discarding: bool,
    txn: Option<TxnBuffer>,
}

impl Connection {
    fn new(ctx: Rc<WorkerCtx>, stream: TcpStream) -> Self {
        let n = ctx.topology.len();
        let plan = Plan {
            groups: (0..n).map(|_| None).collect(),
            ..Plan::default()
        };
        Self {
            ctx,
            stream,
            rbuf: BytesMut::with_capacity(READ_CHUNK),
            out: Vec::with_capacity(READ_CHUNK),
            plan,
            discarding: false,
            txn: None,
        }
    }

    async fn run(&mut self, mut shutdown: watch::Receiver<bool>) -> io::Result<()> {
        loop {
            let flow = self.process().await?;
            if !self.out.is_empty() {
                self.stream.write_all(&self.out).await?;
                self.out.clear();
                shrink(&mut self.out);
            }
            if matches!(flow, Flow::Quit) || *shutdown.borrow() {
                return Ok(());
            }
            if matches!(flow, Flow::BatchFull) {
                continue;
            }
            if self.rbuf.capacity() - self.rbuf.len() < READ_CHUNK / 4 {
                self.rbuf.reserve(READ_CHUNK);
            }
            tokio::select! {
                n = self.stream.read_buf(&mut self.rbuf) => {
                    if n? == 0 {
                        return Ok(());
                    }
                }
                _ = shutdown.changed() => return Ok(()),
            }
        }
    }

    /// Handles up to `MAX_BATCH` buffered lines.
    async fn process(&mut self) -> io::Result<Flow> {
        if self.discarding && !self.skip_overlong_tail() {
            return Ok(Flow::NeedInput);
        }
        let buf = std::mem::take(&mut self.rbuf);
        let (consumed, flow) = self.process_lines(&buf).await;
        self.rbuf = buf;
        self.rbuf.advance(consumed);
        if self.rbuf.is_empty() && self.rbuf.capacity() > KEEP_BUFFER {
            self.rbuf = BytesMut::with_capacity(READ_CHUNK);
        }
        flow.map_err(|e| io::Error::other(e.to_string()))
    }

    /// Drops the rest of an over-long line; true once it has all gone.
    fn skip_overlong_tail(&mut self) -> bool {
        match memchr::memchr(b'\n', &self.rbuf) {
            Some(nl) => {
                self.rbuf.advance(nl + 1);
                self.discarding = false;
                true
            }
            None => {
                self.rbuf.clear();
                false
            }
        }
    }

    async fn process_lines(&mut self, buf: &[u8]) -> (usize, Result<Flow, TxnError>) {
        let max_line = self.ctx.limits.max_line_bytes;
        let mut pos = 0;
        let mut flow = Flow::BatchFull;
        for _ in 0..MAX_BATCH {
            match protocol::parse(&buf[pos..], max_line) {
                Parsed::Incomplete => {
                    flow = Flow::NeedInput;
                    break;
                }
                Parsed::Overlong => {
                    self.emit(|o| response::error(o, &overlong(max_line)));
                    self.discarding = true;
                    pos = buf.len();
                    flow = Flow::NeedInput;
                    break;
                }
                Parsed::Empty { consumed } => pos += consumed,
                Parsed::Invalid { error, consumed } => {
                    pos += consumed;
                    self.emit(|o| response::error(o, &error.to_string()));
                }
                Parsed::Complete { command, consumed } => {
                    pos += consumed;
                    match self.command(command).await {
                        Ok(true) => {}
                        Ok(false) => {
                            flow = Flow::Quit;
                            break;
                        }
                        Err(e) => return (pos, Err(e)),
                    }
                }
            }
            if self.out.len() + self.plan.side.len() > OUT_BUDGET {
                break;
            }
        }
        if let Err(e) = self.finish_plan().await {
            return (pos, Err(e));
        }
        (pos, Ok(flow))
    }

    /// Executes one command; false means the connection should close.
    async fn command(&mut self, command: Command<'_>) -> Result<bool, TxnError> {
        match command {
            Command::Get { key } => self.get(key),
            Command::Put { key, value } => self.write(key, Some(value)),
            Command::Del { key } => self.write(key, None),
            Command::Start => self.start(),
            Command::Commit => self.commit().await?,
            Command::Rollback => match self.txn.take() {
                Some(_) => self.emit(response::ok),
                None => self.emit(|o| response::error(o, NO_TXN)),
            },
            Command::Ping => self.emit(|o| response::ok_value(o, b"PONG")),
            Command::Help => self.emit(|o| response::ok_value(o, protocol::HELP.as_bytes())),
            Command::Topology => {
                let json = self.ctx.topology_json.clone();
                self.emit(|o| response::ok_json(o, json.as_bytes()));
            }
            Command::Quit => {
                self.finish_plan().await?;
                self.emit(response::ok);
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn get(&mut self, key: &[u8]) {
        let buffered = match &self.txn {
            Some(txn) => txn.lookup(key),
            None => Buffered::Untouched,
        };
        match buffered {
            Buffered::Written(Some(v)) => {
                let target = target(&mut self.plan, &mut self.out);
                response::ok_value(target, v);
                note_inline(&mut self.plan);
            }
            Buffered::Written(None) => self.emit(|o| response::error(o, response::NOT_FOUND)),
            Buffered::Untouched => self.op(OpKind::Get, key, b""),
        }
    }

    fn write(&mut self, key: &[u8], value: Option<&[u8]>) {
        let Some(txn) = &mut self.txn else {
            match value {
                Some(v) => self.op(OpKind::Put, key, v),
                None => self.op(OpKind::Del, key, b""),
            }
            return;
        };
        let max = self.ctx.limits.max_txn_bytes;
        let result = match value {
            Some(v) => txn.put(key, v, max),
            None => txn.del(key, max),
        };
        match result {
            Ok(()) => self.emit(response::ok),
            Err(e) => self.emit(|o| response::error(o, &e.to_string())),
        }
    }

    fn start(&mut self) {
        if self.txn.is_some() {
            self.emit(|o| response::error(o, "transaction already started"));
        } else {
            self.txn = Some(TxnBuffer::default());
            self.emit(response::ok);
        }
    }

    /// `COMMIT` is a barrier: operations before it complete first, so a
    /// pipelined `PUT a 1` … `COMMIT` (writing `a`) cannot be reordered.
    async fn commit(&mut self) -> Result<(), TxnError> {
        let Some(txn) = self.txn.take() else {
            self.emit(|o| response::error(o, NO_TXN));
            return Ok(());
        };
        self.finish_plan().await?;
        let ctx = Rc::clone(&self.ctx);
        match coordinator::commit(&*ctx, &ctx.topology, txn).await {
            Ok(()) => self.emit(response::ok),
            Err(e @ TxnError::TooLarge(_)) => self.emit(|o| response::error(o, &e.to_string())),
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Routes one plain operation: run it now if this worker owns the key
    /// and nothing here must go first, else add it to its partition's group.
    fn op(&mut self, kind: OpKind, key: &[u8], value: &[u8]) {
        let ctx = &self.ctx;
        let owner = ctx.topology.partition_of_key(key);
        if owner == ctx.id && self.plan.groups[owner].is_none() {
            let mut partition = ctx.partition.borrow_mut();
            if !partition.is_locked(key) {
                let target = target(&mut self.plan, &mut self.out);
                partition.execute(kind, key, value, target);
                note_inline(&mut self.plan);
                return;
            }
        }
        self.plan.groups[owner]
            .get_or_insert_with(Box::default)
            .push(kind, key, value);
        self.plan.order.push(Piece::Remote(owner));
    }

    /// Encodes a response produced on this connection (not by a partition).
    fn emit(&mut self, encode: impl FnOnce(&mut Vec<u8>)) {
        encode(target(&mut self.plan, &mut self.out));
        note_inline(&mut self.plan);
    }

    /// Sends the grouped operations, awaits every reply and appends all the
    /// batch's responses to `out` in command order.
    async fn finish_plan(&mut self) -> Result<(), TxnError> {
        if !self.plan.is_pending() {
            return Ok(());
        }
        let mut pending = Vec::new();
        for (partition, group) in self.plan.groups.iter_mut().enumerate() {
            if let Some(batch) = group.take() {
                let (tx, rx) = oneshot::channel();
                self.ctx
                    .send_to(partition, Request::Batch(batch, tx))
                    .await?;
                pending.push((partition, rx));
            }
        }
        let mut replies: Vec<Option<BatchReply>> =
            (0..self.plan.groups.len()).map(|_| None).collect();
        for (partition, rx) in pending {
            replies[partition] = Some(rx.await.map_err(|_| TxnError::Unavailable)?);
        }
        self.assemble(&replies);
        Ok(())
    }

    fn assemble(&mut self, replies: &[Option<BatchReply>]) {
        let mut cursors: Vec<_> = replies
            .iter()
            .map(|r| r.as_ref().map(BatchReply::segments))
            .collect();
        let mut side_pos = 0;
        for piece in self.plan.order.drain(..) {
            match piece {
                Piece::Inline(end) => {
                    self.out.extend_from_slice(&self.plan.side[side_pos..end]);
                    side_pos = end;
                }
                Piece::Remote(p) => {
                    let seg = cursors[p].as_mut().and_then(Iterator::next);
                    self.out
                        .extend_from_slice(seg.expect("one reply per operation"));
                }
            }
        }
        self.plan.side.clear();
        shrink(&mut self.plan.side);
    }
}

const NO_TXN: &str = "no transaction in progress (use START)";

fn overlong(max: usize) -> String {
    protocol::ParseError::LineTooLong(max).to_string()
}

/// Where the next inline response goes: straight to `out` while no earlier
/// response is still pending on another partition, else the side buffer.
fn target<'a>(plan: &'a mut Plan, out: &'a mut Vec<u8>) -> &'a mut Vec<u8> {
    if plan.is_pending() {
        &mut plan.side
    } else {
        out
    }
}

fn note_inline(plan: &mut Plan) {
    if plan.is_pending() {
        plan.order.push(Piece::Inline(plan.side.len()));
    }
}

fn shrink(buf: &mut Vec<u8>) {
    if buf.capacity() > KEEP_BUFFER && buf.is_empty() {
        *buf = Vec::with_capacity(READ_CHUNK);
    }
}
