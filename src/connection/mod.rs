//! Bytes → commands → partitions → bytes, for one client connection.
//!
//! The loop: read what the socket has, handle up to [`MAX_BATCH`] complete
//! commands, write every response with one `write`, repeat. The first byte
//! fixes the dialect for the connection's life: `*` means RESP2
//! (`resp.rs`), anything else the text protocol (`text.rs`); on the RESP
//! port (`--resp-port`) every connection speaks RESP2, so a first line
//! without `*` is an inline command, as on a Redis server.
//!
//! Within a batch, operations on the worker's own partition run at once;
//! operations on other partitions are grouped per owner into one
//! `OpBatch` each (`plan.rs`) and sent as one message per partition.
//! Responses are assembled in command order. Multi-key commands whose keys
//! span partitions, and transactions, go through the two-phase-commit
//! coordinator; they are barriers: the operations before them finish first.
//!
//! Limits that keep a client from growing server memory without bound: a
//! text line over `--max-line-bytes` is answered with one error and
//! discarded as it streams in; a RESP request over its limits is refused on
//! its header; a batch holds at most `MAX_BATCH` commands and stops early
//! once 1 MiB of responses or 64 MiB of forwarded data wait; an open
//! transaction buffers at most `--max-txn-bytes`; replies (forwarded ones
//! included, through the batch's `ReplyBudget`) are bounded by the client
//! output limit, and a write blocked on a client that does not read is
//! abandoned after the soft limit's window, `--timeout`, or the shutdown
//! drain window. An idle connection holds no buffer (`buffers.rs`), and
//! when all clients together pass `maxmemory-clients` the biggest are
//! disconnected (`evict.rs`).

mod acl;
mod auth;
mod buffers;
mod collcmd;
mod config;
pub mod evict;
mod introspect;
mod keycmd;
pub mod migrate;
mod movecmd;
mod plan;
mod queued;
pub mod registry;
mod resp;
mod servercmd;
mod strcmd;
mod stream;
mod text;
mod zsetcmd;

pub use buffers::BufferPool;
pub use evict::ClientTable;
pub use stream::Stream;

use crate::clients::ClientSlot;
use crate::partition::{Admin, AdminReply, BatchReply, Request};
use crate::reply::Dialect;
use crate::txn::{coordinator, Outcome, TxnError, TxnPart};
use crate::worker::WorkerCtx;
use buffers::BUFFER_SIZE;
use bytes::{Buf, BytesMut};
use plan::Plan;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

/// Most commands executed between two writes to the socket.
pub const MAX_BATCH: usize = 512;
/// A batch also ends once this much response data is waiting locally.
const OUT_BUDGET: usize = 1024 * 1024;
/// … or once this many bytes of keys and values wait to be forwarded (so
/// an `OpBatch`, whose offsets are `u32`, stays far below 4 GiB: requests
/// are at most `--max-request-bytes`, itself at most 2 GiB).
const DATA_BUDGET: usize = 64 * 1024 * 1024;
/// Buffers that grew past this (a huge value) are released after use.
const KEEP_BUFFER: usize = 256 * 1024;

/// The signals a connection obeys: `shutdown` (finish the batch in hand,
/// then close) and `kill` (the drain window is over: abandon blocked
/// writes and reads too).
pub struct Stops {
    pub shutdown: watch::Receiver<bool>,
    pub kill: watch::Receiver<bool>,
}

/// Why a connection ended, when it was the server's doing.
#[derive(Debug, thiserror::Error)]
enum Closed {
    #[error("output limit passed")]
    OutputLimit,
    #[error("idle timeout")]
    Idle,
    #[error("shutdown drain window over")]
    Killed,
    #[error("evicted: clients passed maxmemory-clients")]
    Evicted,
}

/// Serves one client until it quits, disconnects, moves to another
/// worker (`migrate.rs`), or the worker shuts down.
pub async fn serve(ctx: Rc<WorkerCtx>, stream: Stream, stops: Stops, slot: ClientSlot) {
    let client_id = ctx.next_client_id();
    let auth = auth::AuthState::new(&ctx, stream.peer_addr());
    let conn = Connection::with_state(ctx, stream, client_id, auth);
    conn.ctx.partition.borrow_mut().stats.connections_total += 1;
    serve_connection(conn, stops, slot).await;
}

async fn serve_connection(mut conn: Connection, stops: Stops, slot: ClientSlot) {
    let peer = conn.peer_addr;
    conn.ctx.partition.borrow_mut().stats.connections_open += 1;
    if let Err(e) = conn.run(stops).await {
        conn.count_close(&e);
        tracing::debug!(?peer, error = %e, "connection closed");
    }
    conn.rbuf.clear();
    conn.out.clear();
    conn.park_buffers();
    conn.report_buffers(0);
    conn.unwatch_all().await;
    let moving = match conn.moving.take() {
        Some((to, socket)) => Some((to, conn.take_migrant(socket, slot))),
        None => {
            drop(slot);
            None
        }
    };
    let ctx = Rc::clone(&conn.ctx);
    // `connections_open` goes down in `Drop`, also for a panicked task;
    // a moving connection's descriptor closes here (the other worker has
    // a duplicate).
    drop(conn);
    if let Some((to, migrant)) = moving {
        ctx.post_migrant(to, migrant);
    }
}

/// What a read without waiting found.
enum Read {
    Data,
    Eof,
    Empty,
}

enum Flow {
    /// Every complete command was handled; read more.
    NeedInput,
    /// The batch is full; write and continue with what is buffered.
    BatchFull,
    /// Close the connection after writing.
    Quit,
}

/// Watches a connection holds: its id, the partitions that know it, and
/// how many keys it watched (bounded, so WATCH cannot grow memory forever).
struct Watching {
    id: u64,
    partitions: Vec<bool>,
    keys: usize,
}

/// Most keys one connection may watch at once.
pub const MAX_WATCHED_KEYS: usize = 100_000;

/// The error for going past [`MAX_WATCHED_KEYS`].
pub const TOO_MANY_WATCHES: &str =
    "too many watched keys (at most 100000 per connection); UNWATCH first";

pub(crate) struct Connection {
    ctx: Rc<WorkerCtx>,
    stream: Stream,
    local_addr: Option<SocketAddr>,
    /// The client's address, captured at accept.
    peer_addr: Option<SocketAddr>,
    /// Read and write buffers: unallocated while the client is idle
    /// (`buffers.rs`).
    rbuf: BytesMut,
    out: Vec<u8>,
    /// Buffer bytes this connection last reported in `client_buffers`.
    buffer_bytes: usize,
    /// This connection's place in the worker's client table, and the
    /// signal client eviction sends it.
    table_index: usize,
    evict: Rc<evict::EvictSignal>,
    /// What `CLIENT LIST` shows of this connection (shared with the table).
    info: Rc<registry::ClientInfo>,
    plan: Plan,
    dialect: Option<Dialect>,
    /// Accepted on the RESP port: RESP whatever the first byte.
    resp_only: bool,
    /// Accepted on a core port (where another pod's key gets `-MOVED`).
    core_port: bool,
    /// Unique across the server: `CLIENT ID`, and the watch id.
    client_id: u64,
    watching: Option<Watching>,
    text: text::TextState,
    resp: resp::RespState,
    auth: auth::AuthState,
    /// The server's shutdown signal, for a connection waiting in a
    /// blocking command (set when the connection starts running).
    shutdown: Option<watch::Receiver<bool>>,
    /// Operations in a row forwarded to one other worker, and the worker
    /// the connection leaves for when it stops, with a duplicate of its
    /// socket (`migrate.rs`).
    streak: migrate::Streak,
    moving: Option<(usize, std::net::TcpStream)>,
}

impl Connection {
    fn with_state(
        ctx: Rc<WorkerCtx>,
        stream: Stream,
        client_id: u64,
        auth: auth::AuthState,
    ) -> Self {
        let plan = Plan::new(ctx.topology.len(), Dialect::Text);
        let info = Rc::new(registry::ClientInfo::new(
            client_id,
            stream.peer_addr(),
            stream.local_addr(),
            stream.fd(),
            auth.user_name(),
        ));
        let (table_index, evict) = ctx.client_table.borrow_mut().register(Rc::clone(&info));
        let local_port = stream.local_addr().map(|a| a.port());
        let resp_only = ctx.resp_port != 0 && local_port == Some(ctx.resp_port);
        let tls_shared = ctx.tls.as_ref().map(|t| t.shared_port);
        let core_port = !resp_only
            && local_port.is_some()
            && local_port != Some(ctx.shared_port)
            && local_port != tls_shared;
        Self {
            table_index,
            evict,
            info,
            auth,
            shutdown: None,
            local_addr: stream.local_addr(),
            peer_addr: stream.peer_addr(),
            ctx,
            stream,
            rbuf: BytesMut::new(),
            out: Vec::new(),
            buffer_bytes: 0,
            plan,
            dialect: None,
            resp_only,
            core_port,
            client_id,
            watching: None,
            text: text::TextState::default(),
            resp: resp::RespState::default(),
            streak: migrate::Streak::default(),
            moving: None,
        }
    }

    async fn run(&mut self, mut stops: Stops) -> io::Result<()> {
        if *stops.shutdown.borrow_and_update() {
            return Ok(());
        }
        // A second handle, so that a client that keeps the batch full
        // (never waiting for input) still stops at shutdown.
        let shutting_down = stops.shutdown.clone();
        self.shutdown = Some(stops.shutdown.clone());
        // One shutdown future for the connection's life, not one per read.
        let stop = stops.shutdown.changed();
        tokio::pin!(stop);
        // Likewise one eviction future: a new one per wait would register
        // with the `Notify` (a lock) each time.
        let signal = Rc::clone(&self.evict);
        let evicted = signal.evicted();
        tokio::pin!(evicted);
        loop {
            // `try_read`/`try_write` bypass tokio's cooperative budget; this
            // puts it back, so a client that always has input ready cannot
            // starve the worker's other tasks.
            tokio::task::coop::consume_budget().await;
            let flow = self.process().await?;
            self.check_output_limit()?;
            self.note_buffers();
            self.check_evicted()?;
            if !self.out.is_empty() {
                self.write_out(&mut stops.kill).await?;
            }
            self.note_buffers();
            self.check_evicted()?;
            // An atomic load, not a lock: shutdown is only ever set once.
            if shutting_down.has_changed().unwrap_or(true) {
                return Ok(());
            }
            match flow {
                Flow::Quit => return Ok(()),
                Flow::BatchFull => continue,
                Flow::NeedInput => {}
            }
            if self.prepare_move() {
                return Ok(());
            }
            let idle = self.ctx.clients.timeout().map(|t| Instant::now() + t);
            loop {
                match self.try_read()? {
                    Read::Data => break,
                    Read::Eof => return Ok(()),
                    Read::Empty => {}
                }
                self.note_buffers();
                self.check_evicted()?;
                tokio::select! {
                    r = self.stream.readable() => r?,
                    _ = &mut stop => return Ok(()),
                    _ = sleep_until(idle) => return Err(io::Error::other(Closed::Idle)),
                    () = &mut evicted => return Err(io::Error::other(Closed::Evicted)),
                }
            }
        }
    }

    /// Reads what the socket holds without waiting. With nothing to read
    /// and nothing buffered, the buffers go back to the worker's pool.
    fn try_read(&mut self) -> io::Result<Read> {
        if self.rbuf.capacity() == 0 {
            let mut pool = self.ctx.buffers.borrow_mut();
            self.rbuf = pool.take_read();
            if self.out.capacity() == 0 {
                self.out = pool.take_write();
            }
        } else if self.rbuf.capacity() - self.rbuf.len() < BUFFER_SIZE / 4 {
            self.rbuf.reserve(BUFFER_SIZE);
        }
        match self.stream.try_read_buf(&mut self.rbuf) {
            Ok(0) => Ok(Read::Eof),
            Ok(_) => Ok(Read::Data),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if self.rbuf.is_empty() {
                    self.park_buffers();
                }
                Ok(Read::Empty)
            }
            Err(e) => Err(e),
        }
    }

    /// Gives the (empty) buffers back to the worker's pool.
    fn park_buffers(&mut self) {
        let mut pool = self.ctx.buffers.borrow_mut();
        if self.rbuf.is_empty() {
            pool.give_read(std::mem::take(&mut self.rbuf));
        }
        if self.out.is_empty() {
            pool.give_write(std::mem::take(&mut self.out));
        }
        drop(pool);
        self.note_buffers();
    }

    /// Reports this connection's buffer bytes in the worker's stats (they
    /// count toward the partition's `--maxmemory` share).
    fn note_buffers(&mut self) {
        let now = self.rbuf.capacity()
            + self.out.capacity()
            + self.plan.side_capacity()
            + self.text.buffered_bytes()
            + self.resp.queued_bytes();
        self.report_buffers(now);
    }

    /// Publishes this connection's memory (worker total, client table);
    /// when it grew, applies `maxmemory-clients`.
    fn report_buffers(&mut self, now: usize) {
        if now == self.buffer_bytes {
            return;
        }
        // Only this worker writes its `connections` figure.
        let cell = &self.ctx.memory.connections;
        cell.store(
            (cell.load(Relaxed) + now).saturating_sub(self.buffer_bytes),
            Relaxed,
        );
        self.ctx
            .client_table
            .borrow_mut()
            .set_bytes(self.table_index, now);
        let grew = now > self.buffer_bytes;
        self.buffer_bytes = now;
        if grew {
            self.ctx.enforce_client_memory();
        }
    }

    /// Ends a connection that client eviction chose.
    fn check_evicted(&self) -> io::Result<()> {
        if self.evict.is_evicted() {
            return Err(io::Error::other(Closed::Evicted));
        }
        Ok(())
    }

    /// Closes a client whose queued output passed the hard limit.
    fn check_output_limit(&mut self) -> io::Result<()> {
        let hard = self.ctx.clients.output().hard;
        if hard > 0 && self.out.len() > hard {
            self.out = Vec::new();
            return Err(io::Error::other(Closed::OutputLimit));
        }
        Ok(())
    }

    /// Writes `out` whole. Gives up when the client stays above the soft
    /// output limit for its seconds, makes no progress for `--timeout`, or
    /// the shutdown drain window ends.
    async fn write_out(&mut self, kill: &mut watch::Receiver<bool>) -> io::Result<()> {
        let mut pos = 0;
        let mut soft_since: Option<Instant> = None;
        while pos < self.out.len() {
            match self.stream.try_write(&self.out[pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    pos += n;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            let (at, why) = self
                .write_deadline(self.out.len() - pos, &mut soft_since)
                .unzip();
            tokio::select! {
                r = self.stream.writable() => r?,
                _ = kill.wait_for(|k| *k) => return Err(io::Error::other(Closed::Killed)),
                () = sleep_until(at) => {
                    return Err(io::Error::other(why.unwrap_or(Closed::Idle)));
                }
                () = self.evict.evicted() => return Err(io::Error::other(Closed::Evicted)),
            }
        }
        self.flush_tls(kill).await?;
        self.out.clear();
        shrink(&mut self.out);
        Ok(())
    }

    /// tokio-rustls may keep the last records in the session when the
    /// socket is full; only a flush sends them. Plain sockets: nothing.
    async fn flush_tls(&mut self, kill: &mut watch::Receiver<bool>) -> io::Result<()> {
        let mut soft_since: Option<Instant> = None;
        while !self.stream.try_flush()? {
            let (at, why) = self.write_deadline(0, &mut soft_since).unzip();
            tokio::select! {
                r = self.stream.writable() => r?,
                _ = kill.wait_for(|k| *k) => return Err(io::Error::other(Closed::Killed)),
                () = sleep_until(at) => {
                    return Err(io::Error::other(why.unwrap_or(Closed::Idle)));
                }
                () = self.evict.evicted() => return Err(io::Error::other(Closed::Evicted)),
            }
        }
        Ok(())
    }

    /// When a blocked write is abandoned: the soft limit's window (from
    /// when the queue first stayed above it) or the idle timeout.
    fn write_deadline(
        &self,
        queued: usize,
        soft_since: &mut Option<Instant>,
    ) -> Option<(Instant, Closed)> {
        let now = Instant::now();
        let limit = self.ctx.clients.output();
        let soft = if limit.soft > 0 && limit.soft_secs > 0 && queued > limit.soft {
            let since = *soft_since.get_or_insert(now);
            Some(since + std::time::Duration::from_secs(limit.soft_secs))
        } else {
            *soft_since = None;
            None
        };
        let idle = self.ctx.clients.timeout().map(|t| now + t);
        match (soft, idle) {
            (Some(s), Some(i)) if i < s => Some((i, Closed::Idle)),
            (Some(s), _) => Some((s, Closed::OutputLimit)),
            (None, Some(i)) => Some((i, Closed::Idle)),
            (None, None) => None,
        }
    }

    /// Counts a close the server decided.
    fn count_close(&self, e: &io::Error) {
        let Some(why) = e.get_ref().and_then(|e| e.downcast_ref::<Closed>()) else {
            return;
        };
        let mut p = self.ctx.partition.borrow_mut();
        match why {
            Closed::OutputLimit => p.stats.output_limit_disconnections += 1,
            Closed::Idle => p.stats.idle_timeouts += 1,
            // Counted when decided (`WorkerCtx::enforce_client_memory`).
            Closed::Killed | Closed::Evicted => {}
        }
    }

    /// Handles up to `MAX_BATCH` buffered commands.
    async fn process(&mut self) -> io::Result<Flow> {
        let dialect = match (self.dialect, self.rbuf.first()) {
            (Some(d), _) => d,
            (None, None) => return Ok(Flow::NeedInput),
            (None, Some(_)) if self.resp_only => Dialect::Resp,
            (None, Some(b'*')) => Dialect::Resp,
            (None, Some(_)) => Dialect::Text,
        };
        if self.dialect.is_none() {
            self.dialect = Some(dialect);
            self.plan = Plan::new(self.ctx.topology.len(), dialect);
            if self.auth.protected {
                self.deny_protected(dialect);
                return Ok(Flow::Quit);
            }
        }
        let buf = std::mem::take(&mut self.rbuf);
        let result = match dialect {
            Dialect::Text => self.process_text(&buf).await,
            Dialect::Resp | Dialect::Resp3 => self.process_resp(&buf).await,
        };
        self.rbuf = buf;
        let (consumed, flow) = result;
        // Only whole requests are consumed: a partial one stays at the front
        // of `rbuf` (growing it moves bytes, never this front), which is what
        // lets the RESP parser resume it by offsets relative to that front.
        self.rbuf.advance(consumed.min(self.rbuf.len()));
        if self.rbuf.is_empty() && self.rbuf.capacity() > KEEP_BUFFER {
            self.rbuf = BytesMut::new();
        }
        if self.plan.over_limit {
            self.out = Vec::new();
            return Err(io::Error::other(Closed::OutputLimit));
        }
        self.count_batch();
        match flow {
            Ok(flow) => Ok(flow),
            // The transaction was the barrier: everything before it is
            // answered, so its error takes its place and the batch goes on.
            Err(e @ TxnError::LeaseExpired) => {
                self.answer_error(dialect, &e);
                Ok(Flow::BatchFull)
            }
            Err(e) => {
                tracing::warn!(worker = self.ctx.id, error = %e, "request failed; closing the connection");
                self.answer_error(dialect, &e);
                Ok(Flow::Quit)
            }
        }
    }

    /// Protected mode refused this client: one error in its dialect (known
    /// from its first byte), then the connection closes.
    fn deny_protected(&mut self, dialect: Dialect) {
        match dialect {
            Dialect::Resp | Dialect::Resp3 => {
                crate::resp::encode::error(&mut self.out, crate::acl::DENIED)
            }
            Dialect::Text => crate::response::error(&mut self.out, crate::acl::DENIED_TEXT),
        }
    }

    /// Answers a request that could not be completed. After a lost worker
    /// the connection then closes, since later replies of the batch are
    /// lost and the reply order could not be kept.
    fn answer_error(&mut self, dialect: Dialect, error: &TxnError) {
        let mesg = error.to_string();
        match dialect {
            Dialect::Text => crate::response::error(&mut self.out, &mesg),
            Dialect::Resp | Dialect::Resp3 => {
                crate::resp::encode::error(&mut self.out, &format!("ERR {mesg}"))
            }
        }
    }

    fn count_batch(&mut self) {
        let forwarded = self.plan.take_forwarded();
        self.streak.note(self.plan.take_affinity(), forwarded);
        let commands = std::mem::take(&mut self.plan.commands);
        let mut p = self.ctx.partition.borrow_mut();
        p.stats.commands += commands;
        p.stats.forwarded_out += forwarded;
    }

    /// True once enough responses wait that the batch should end.
    fn batch_is_full(&self) -> bool {
        self.out.len() + self.plan.side_len() > OUT_BUDGET || self.plan.data_len() > DATA_BUDGET
    }

    /// Encodes a response produced on this connection (not by a partition).
    fn emit(&mut self, encode: impl FnOnce(&mut Vec<u8>)) {
        self.plan.emit(&mut self.out, encode);
    }

    /// Sends the grouped operations, awaits every reply and appends all the
    /// batch's responses to `out` in command order.
    /// The partitions' replies may use what is left of the client's hard
    /// output limit; past it the batch stops (`plan.over_limit`) and the
    /// connection closes.
    async fn finish_plan(&mut self) -> Result<(), TxnError> {
        let limit = self.reply_limit(0);
        self.plan.finish(&self.ctx, &mut self.out, limit).await?;
        if self.plan.over_limit {
            return Err(TxnError::Unavailable);
        }
        Ok(())
    }

    /// What is left of the client's hard output limit for replies still to
    /// come after `pending` bytes (`None`: no limit).
    fn reply_limit(&self, pending: usize) -> Option<usize> {
        let hard = self.ctx.clients.output().hard;
        let queued = self.out.len() + self.plan.side_len() + pending;
        (hard > 0).then(|| hard.saturating_sub(queued))
    }

    /// A transaction's parts with their replies bounded by the client's
    /// output limit (see [`Plan::take_parts`]).
    fn take_parts(&self, plan: &mut Plan, want_reply: bool) -> Vec<(usize, TxnPart)> {
        let limit = self.reply_limit(plan.side_len());
        plan.take_parts(want_reply, limit)
    }

    /// After a committed transaction: if a partition stopped keeping its
    /// replies at the client's output limit, the connection closes (as
    /// after a plain batch past it), writing nothing more.
    fn check_txn_replies(&mut self, replies: &[(usize, BatchReply)]) -> Result<(), TxnError> {
        if replies.iter().any(|(_, r)| r.over_limit()) {
            self.plan.over_limit = true;
            return Err(TxnError::Unavailable);
        }
        Ok(())
    }

    /// Runs a transaction's parts through the coordinator, adding the
    /// connection's watches, then forgets the watches.
    async fn run_txn(&mut self, mut parts: Vec<(usize, TxnPart)>) -> Result<Outcome, TxnError> {
        if let Some(w) = &self.watching {
            for (p, watched) in w.partitions.iter().enumerate() {
                if *watched && !parts.iter().any(|(id, _)| *id == p) {
                    let dialect = self.dialect.unwrap_or(Dialect::Text);
                    parts.push((p, TxnPart::new(dialect)));
                }
            }
            parts.sort_unstable_by_key(|(p, _)| *p);
            for (_, part) in &mut parts {
                part.watch = Some(w.id);
            }
        }
        let outcome = self.coordinate(parts).await;
        self.unwatch_all().await;
        outcome
    }

    /// Runs a transaction through the coordinator and counts how it ended.
    async fn coordinate(&mut self, parts: Vec<(usize, TxnPart)>) -> Result<Outcome, TxnError> {
        let cross = parts.len() > 1;
        let ctx = Rc::clone(&self.ctx);
        let outcome = coordinator::run(&*ctx, parts).await?;
        let mut p = ctx.partition.borrow_mut();
        match (&outcome, cross) {
            (Outcome::Committed(_), false) => p.stats.txn_commits_single += 1,
            (Outcome::Committed(_), true) => p.stats.txn_commits_cross += 1,
            (_, false) => p.stats.txn_aborted_single += 1,
            (_, true) => p.stats.txn_aborted_cross += 1,
        }
        Ok(outcome)
    }

    /// Registers the connection's watch id with `partition` (the WATCH op
    /// itself travels with the batch).
    fn note_watch(&mut self, partition: usize) -> u64 {
        let n = self.ctx.topology.len();
        let id = self.client_id;
        let w = self.watching.get_or_insert_with(|| Watching {
            id,
            partitions: vec![false; n],
            keys: 0,
        });
        w.partitions[partition] = true;
        w.keys += 1;
        w.id
    }

    /// True if `more` keys may still be watched.
    fn may_watch(&self, more: usize) -> bool {
        self.watching.as_ref().map_or(0, |w| w.keys) + more <= MAX_WATCHED_KEYS
    }

    /// Forgets every watch of this connection.
    async fn unwatch_all(&mut self) {
        let Some(w) = self.watching.take() else {
            return;
        };
        for (p, watched) in w.partitions.iter().enumerate() {
            if *watched {
                let _ = self.ctx.send_to(p, Request::Unwatch(w.id)).await;
            }
        }
    }

    /// Asks every partition, in order, and collects the answers.
    async fn admin_all(&mut self, make: impl Fn() -> Admin) -> Result<Vec<AdminReply>, TxnError> {
        let mut replies = Vec::with_capacity(self.ctx.topology.len());
        for p in 0..self.ctx.topology.len() {
            replies.push(self.admin_one(p, make()).await?);
        }
        Ok(replies)
    }

    async fn admin_one(&mut self, partition: usize, admin: Admin) -> Result<AdminReply, TxnError> {
        let (tx, rx) = oneshot::channel();
        self.ctx
            .send_to(partition, Request::Admin(admin, tx))
            .await?;
        rx.await.map_err(|_| TxnError::Unavailable)
    }
}

/// Also runs for a connection task that panicked (or was dropped
/// mid-request), which never reaches `unwatch_all`: its watches are
/// forgotten here instead, without waiting (see `Participants::post`).
impl Drop for Connection {
    fn drop(&mut self) {
        use crate::txn::coordinator::Participants;
        // Not borrowable only while a panic unwinds out of the partition,
        // which aborts the process under the panic policy.
        if let Some(mut p) = self.ctx.partition.try_borrow_mut() {
            p.stats.connections_open -= 1;
        }
        let cell = &self.ctx.memory.connections;
        cell.store(
            cell.load(Relaxed).saturating_sub(self.buffer_bytes),
            Relaxed,
        );
        if let Ok(mut table) = self.ctx.client_table.try_borrow_mut() {
            table.remove(self.table_index);
        }
        let Some(w) = self.watching.take() else {
            return;
        };
        for (p, watched) in w.partitions.iter().enumerate() {
            if *watched {
                self.ctx.post(p, Request::Unwatch(w.id));
            }
        }
    }
}

fn shrink(buf: &mut Vec<u8>) {
    if buf.capacity() > KEEP_BUFFER && buf.is_empty() {
        *buf = Vec::new();
    }
}

/// Sleeps until `deadline`; never wakes without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
