//! RESP2 on a connection: requests → commands → plan, with Redis semantics.

use super::keycmd::{key_command, unknown_command, KeyCmd, NOT_INTEGER, SYNTAX};
use super::plan::{Combine, Plan};
use super::{Connection, Flow, MAX_BATCH};
use crate::cluster::peer::Wire;
use crate::cluster::Placement;
use crate::partition::coll::pack;
use crate::partition::{parse_i64, Admin, AdminReply, Ahead, OpKind, SlotStep, PREFETCH_WINDOW};
use crate::reply::Dialect;
use crate::resp::commands::{self, CommandSpec};
use crate::resp::encode as enc;
use crate::resp::inline::{self, Inline};
use crate::resp::{self, cluster, Parsed, ProtocolError};
use crate::txn::{Check, Outcome, TxnError};
use std::ops::Range;
use std::rc::Rc;

#[derive(Default)]
pub struct RespState {
    /// Bytes the next request needs before it is worth parsing again.
    need: usize,
    /// The arguments of the request being parsed; while it is incomplete,
    /// those read so far, with `progress` saying where parsing resumes.
    args: Vec<Range<usize>>,
    progress: resp::Progress,
    /// The arguments of the requests [`Connection::look_ahead`] parses.
    ahead: Vec<Range<usize>>,
    /// An inline request's arguments when it had quotes to resolve.
    unescaped: Vec<u8>,
    /// How much of a pending inline line was already searched for its end.
    inline_scanned: usize,
    multi: Option<Multi>,
    pub(super) name: Option<Vec<u8>>,
    /// The command running now, for its counters (`introspect.rs`).
    pub(super) call: super::introspect::Call,
    /// The command running now is quick: timed with the others of its
    /// run, not alone (see [`crate::introspect::timing`]).
    pub(super) quick: bool,
    /// Output bytes (`out` and the plan's side buffer) before it ran.
    pub(super) out_mark: usize,
    pub(super) clock: crate::introspect::timing::CallClock,
}

impl RespState {
    /// Bytes an open `MULTI` queues (client memory).
    pub(super) fn queued_bytes(&self) -> usize {
        self.multi.as_ref().map_or(0, |m| m.bytes)
    }

    /// No `MULTI` open (a half-parsed request would be in the read
    /// buffer): nothing ties the connection to its worker.
    pub(super) fn is_idle(&self) -> bool {
        self.multi.is_none()
    }

    /// Commands and bytes an open `MULTI` queued (`CLIENT LIST`).
    pub(super) fn queued(&self) -> Option<(usize, usize)> {
        self.multi.as_ref().map(|m| (m.queued.len(), m.bytes))
    }
}

/// What [`Connection::route`] left to do for a request.
enum Then<'a> {
    /// Answered; false: the connection closes.
    Done(bool),
    /// `EXEC` refused before it ran: discard the transaction.
    ExecAbort(String),
    /// A key command over several keys.
    Keys(KeyCmd<'a>),
    /// Any other command of the table.
    Other(&'static CommandSpec),
}

/// What [`Connection::next_request`] found at the front of the buffer.
enum Next {
    Incomplete,
    Invalid(ProtocolError),
    /// A request of this many bytes, its arguments ranges of those bytes
    /// (`Source::Line`, arrays too) or of the unescaped copy.
    Complete(usize, inline::Source),
}

/// An unescape buffer that grew past this (a huge quoted inline request)
/// is released after the batch.
const INLINE_KEEP: usize = 64 * 1024;

/// Redis Cluster's error for keys that do not share a node (corekv: a pod).
const CROSSSLOT: &str = "CROSSSLOT Keys in request don't hash to the same slot";

/// `WATCH` on the shared or RESP port of a key another pod owns.
const WATCH_REMOTE: &str =
    "ERR WATCH of a key another pod owns is not supported on this port; use a cluster client (core ports)";

/// An open `MULTI`: the queued commands, as owned arguments.
#[derive(Default)]
struct Multi {
    queued: Vec<Vec<Box<[u8]>>>,
    bytes: usize,
    /// A command was refused while queueing: `EXEC` must abort.
    failed: bool,
    /// With several pods: a queued command's keys are on this pod.
    local: bool,
    /// With several pods: the queued commands' keys are on another pod
    /// (this global partition's), where `EXEC` sends the transaction.
    remote: Option<usize>,
}

/// The arguments of one request, borrowed from the read buffer.
#[derive(Clone, Copy)]
pub(super) struct Args<'a> {
    frame: &'a [u8],
    ranges: &'a [Range<usize>],
}

impl<'a> Args<'a> {
    pub(super) fn new(frame: &'a [u8], ranges: &'a [Range<usize>]) -> Self {
        Self { frame, ranges }
    }

    pub(super) fn len(&self) -> usize {
        self.ranges.len()
    }

    pub(super) fn get(&self, i: usize) -> &'a [u8] {
        &self.frame[self.ranges[i].clone()]
    }

    pub(super) fn iter(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + Clone + 'a {
        self.iter_from(0)
    }

    /// The arguments from the `from`th on (none if there are fewer).
    pub(super) fn iter_from(
        &self,
        from: usize,
    ) -> impl ExactSizeIterator<Item = &'a [u8]> + Clone + 'a {
        let frame = self.frame;
        self.ranges[from.min(self.ranges.len())..]
            .iter()
            .map(move |r| &frame[r.clone()])
    }
}

/// Keys one `KEYS` step collects (visiting at most ten times as many slab
/// positions): tens of microseconds of a worker's time in a release build.
const KEYS_STEP: usize = 500;
/// Bytes of a `KEYS` reply copied to the output between two yields.
const KEYS_COPY: usize = 1 << 20;
/// Keys found by a stepped scan, encoded as bulk strings, one piece per
/// step (one growing buffer would copy itself as it doubles).
#[derive(Default)]
struct Found {
    n: usize,
    bytes: usize,
    pieces: Vec<Vec<u8>>,
}

impl Found {
    /// Encodes `keys` as a piece of the reply.
    fn push(&mut self, keys: &[Box<[u8]>]) {
        let mut piece = Vec::new();
        keys.iter().for_each(|k| enc::bulk(&mut piece, k));
        self.n += keys.len();
        self.bytes += piece.len();
        self.pieces.push(piece);
    }
}

/// A quick command (see [`crate::introspect::timing`]): one key, its work
/// bounded apart from copying its request and reply, at most this long
/// each (the reply is checked once written).
pub(super) const QUICK_BYTES: usize = 16 * 1024;

/// Largest `SCAN … COUNT` honoured per step.
const MAX_SCAN_COUNT: usize = 10_000;

impl Connection {
    /// Handles up to `MAX_BATCH` requests of `buf`; returns the bytes used.
    /// As in Redis, a request that starts with `*` is an array of bulk
    /// strings, anything else an inline request (one line).
    pub(super) async fn process_resp(&mut self, buf: &[u8]) -> (usize, Result<Flow, TxnError>) {
        let limits = resp::Limits {
            max_bulk: self.ctx.clients.max_value(),
            max_request: self.ctx.limits.max_request_bytes,
        };
        let mut args = std::mem::take(&mut self.resp.args);
        let mut unescaped = std::mem::take(&mut self.resp.unescaped);
        let mut pos = 0;
        let mut flow = Flow::BatchFull;
        let mut failed = None;
        // Requests before this offset of `buf` were looked ahead at.
        let mut looked = 0;
        self.resp.clock.start(std::time::Instant::now());
        for _ in 0..MAX_BATCH {
            if buf.len() - pos < self.resp.need.max(1) {
                flow = Flow::NeedInput;
                break;
            }
            if pos >= looked && !self.resp.progress.is_started() {
                looked = pos + self.look_ahead(&buf[pos..], limits);
            }
            // An incomplete request is always the last in `buf`; the caller
            // keeps it at the front of the read buffer, so the next call
            // resumes it at `pos == 0` with its offsets still valid.
            let rest = &buf[pos..];
            let (consumed, frame) = match self.next_request(rest, limits, &mut args, &mut unescaped)
            {
                Next::Incomplete => {
                    flow = Flow::NeedInput;
                    break;
                }
                Next::Invalid(e) => {
                    let mesg = e.to_string();
                    self.emit(|o| enc::error(o, &mesg));
                    pos = buf.len();
                    flow = Flow::Quit;
                    break;
                }
                Next::Complete(consumed, inline::Source::Line) => (consumed, &rest[..consumed]),
                Next::Complete(consumed, inline::Source::Unescaped) => (consumed, &unescaped[..]),
            };
            pos += consumed;
            if args.is_empty() {
                continue;
            }
            self.plan.commands += 1;
            let request = Args {
                frame,
                ranges: &args,
            };
            let result = match self.route(request) {
                Then::Done(open) => Ok(open),
                then => self.resp_command(then, request).await,
            };
            if result.is_ok() {
                self.end_call(request);
            }
            match result {
                Ok(true) => {}
                Ok(false) => {
                    flow = Flow::Quit;
                    break;
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
            if self.batch_is_full() {
                break;
            }
        }
        self.resp.args = args;
        let served = self.settle_calls();
        self.info.served_at(served);
        self.note_client_state();
        if unescaped.capacity() <= INLINE_KEEP {
            self.resp.unescaped = unescaped;
        }
        if let Some(e) = failed {
            return (pos, Err(e));
        }
        if let Err(e) = self.finish_plan().await {
            return (pos, Err(e));
        }
        self.late_errors();
        (pos, Ok(flow))
    }

    /// Parses up to [`PREFETCH_WINDOW`] requests at the front of `buf`
    /// without running them, and has the partition start loading what
    /// those that run here will look up (`partition/prefetch.rs`), so that
    /// a pipeline's cache misses overlap instead of each request waiting
    /// for its own. Returns how many bytes of `buf` it covered: through its
    /// last request when the window filled, else all of them (the rest is
    /// incomplete or inline, the partition is small, or the first requests
    /// had nothing to prefetch: not worth another look until the next
    /// read, so a pipeline of other commands is not parsed twice).
    fn look_ahead(&mut self, buf: &[u8], limits: resp::Limits) -> usize {
        // Fewer bytes than this hold fewer than PREFETCH_MIN_OPS requests.
        const MIN_BYTES: usize = 80;
        // Requests looked at before giving up when none can be prefetched.
        const GIVE_UP: usize = 8;
        // A scratch list of arguments past this is not kept (a request of
        // many arguments was looked at).
        const KEEP_RANGES: usize = 256;
        if buf.len() < MIN_BYTES || self.resp.multi.is_some() {
            return buf.len();
        }
        let partition = self.ctx.partition.borrow_mut();
        if !partition.wants_prefetch() {
            return buf.len();
        }
        let mut ranges = std::mem::take(&mut self.resp.ahead);
        let mut ahead = [Ahead::default(); PREFETCH_WINDOW];
        let (mut n, mut seen, mut pos, mut looked) = (0, 0, 0, buf.len());
        while buf.get(pos) == Some(&b'*') {
            if seen == PREFETCH_WINDOW {
                looked = pos;
                break;
            }
            if seen == GIVE_UP && n == 0 {
                break;
            }
            let rest = &buf[pos..];
            let Parsed::Complete { consumed } = resp::parse(rest, limits, &mut ranges) else {
                break;
            };
            pos += consumed;
            seen += 1;
            let mut args = [&b""[..]; 3];
            for (arg, range) in args.iter_mut().zip(&ranges) {
                *arg = &rest[range.clone()];
            }
            let Some(a) = Ahead::of_request(&args[..ranges.len().min(3)]) else {
                continue;
            };
            if self.ctx.topology.partition_of_key(a.key) == self.ctx.id {
                ahead[n] = a;
                n += 1;
            }
        }
        partition.prefetch(&ahead[..n]);
        if ranges.capacity() <= KEEP_RANGES {
            self.resp.ahead = ranges;
        }
        looked
    }

    /// Parses the request at the front of `rest`: an array resumes where
    /// the last read left it; an inline line resumes its search for `\n`.
    #[inline]
    fn next_request(
        &mut self,
        rest: &[u8],
        limits: resp::Limits,
        args: &mut Vec<Range<usize>>,
        unescaped: &mut Vec<u8>,
    ) -> Next {
        let state = &mut self.resp;
        if !state.progress.is_started() && rest.first() != Some(&b'*') {
            let max_line = self.ctx.limits.max_line_bytes;
            let scanned = &mut state.inline_scanned;
            return match inline::parse(rest, max_line, scanned, args, unescaped) {
                Inline::Incomplete => {
                    state.need = rest.len() + 1;
                    Next::Incomplete
                }
                Inline::Invalid(e) => Next::Invalid(e),
                Inline::Complete { consumed, source } => {
                    state.need = 0;
                    Next::Complete(consumed, source)
                }
            };
        }
        match resp::parse_resume(rest, limits, args, &mut state.progress) {
            Parsed::Incomplete { need } => {
                state.need = need.unwrap_or(0);
                Next::Incomplete
            }
            Parsed::Invalid(e) => Next::Invalid(e),
            Parsed::Complete { consumed } => {
                state.need = 0;
                Next::Complete(consumed, inline::Source::Line)
            }
        }
    }

    /// Answers one request as far as it can without waiting: every
    /// refusal, `MULTI` queueing and single-key commands (the hot path,
    /// with no future); the rest is left to [`Self::resp_command`].
    fn route<'a>(&mut self, args: Args<'a>) -> Then<'a> {
        let name = args.get(0);
        self.begin_call();
        let Some(spec) = commands::lookup(name) else {
            let mesg = unknown_command(args);
            self.refuse_in_multi();
            self.emit(|o| enc::error(o, &mesg));
            return Then::Done(true);
        };
        self.command_found(spec, (args.len() > 1).then(|| args.get(1)));
        if !spec.arity_ok(args.len()) {
            self.call_rejected();
            let mesg = format!("ERR wrong number of arguments for '{}' command", spec.name);
            return self.refuse(spec, mesg);
        }
        if !self.gate_open() {
            if let Err(denied) = self.check_resp(spec, |i| args.get(i), args.len()) {
                self.call_rejected();
                if matches!(denied, super::auth::Denied::Gone) {
                    return Then::Done(false);
                }
                return self.refuse(spec, denied.message());
            }
        }
        if self.ctx.peers.is_some()
            && spec.first != 0
            && (self.resp.multi.is_none() || spec.name != "watch")
            && self.cluster_route(spec, args)
        {
            // Refused or handed to a link: bounded work here.
            self.resp.quick = true;
            return Then::Done(true);
        }
        if self.resp.multi.is_some()
            && !matches!(spec.name, "exec" | "discard" | "multi" | "watch" | "quit")
        {
            let errors = self.plan.errors.len();
            self.queue(spec, args);
            if self.plan.errors.len() == errors {
                self.call_queued();
            }
            return Then::Done(true);
        }
        match key_command(spec.name, args) {
            Some(Ok(KeyCmd::One(kind, key, value))) => {
                if kind.is_quick() && args.frame.len() <= QUICK_BYTES {
                    self.resp.quick = true;
                } else {
                    self.time_alone();
                }
                self.plan.op(&self.ctx, &mut self.out, kind, key, value);
                Then::Done(true)
            }
            Some(Ok(KeyCmd::Packed(kind, key, value))) => {
                if kind.is_quick() && args.frame.len() <= QUICK_BYTES {
                    self.resp.quick = true;
                } else {
                    self.time_alone();
                }
                self.plan.op(&self.ctx, &mut self.out, kind, key, &value);
                pack::recycle(value);
                Then::Done(true)
            }
            Some(Ok(cmd)) => {
                self.time_alone();
                Then::Keys(cmd)
            }
            Some(Err(mesg)) => {
                self.resp.quick = true;
                self.emit(|o| enc::error(o, &mesg));
                Then::Done(true)
            }
            None => {
                self.time_alone();
                Then::Other(spec)
            }
        }
    }

    /// Answers a command refused before it ran with `mesg`; as Redis, a
    /// refused `EXEC` discards the transaction.
    fn refuse<'a>(&mut self, spec: &CommandSpec, mesg: String) -> Then<'a> {
        if spec.name == "exec" {
            return Then::ExecAbort(mesg);
        }
        self.refuse_in_multi();
        self.emit(|o| enc::error(o, &mesg));
        Then::Done(true)
    }

    /// Finishes what [`Self::route`] left; false means the connection
    /// should close.
    async fn resp_command(&mut self, then: Then<'_>, args: Args<'_>) -> Result<bool, TxnError> {
        match then {
            Then::Done(open) => return Ok(open),
            Then::ExecAbort(mesg) => self.exec_abort(&mesg).await,
            Then::Keys(cmd) => self.key_command(cmd).await?,
            Then::Other(spec) => {
                if let Some(parsed) = super::movecmd::parse_blocking(spec.name, args) {
                    return match parsed {
                        Ok((cmd, ms)) => self.block_command(cmd, ms).await,
                        Err(mesg) => {
                            self.emit(|o| enc::error(o, &mesg));
                            Ok(true)
                        }
                    };
                }
                let Some(cmd) = super::movecmd::parse(spec.name, args) else {
                    return self.other_command(spec, args).await;
                };
                self.move_command(cmd).await?;
            }
        }
        Ok(true)
    }

    /// With several pods (`--cluster-size`): answers a command whose keys
    /// this pod does not own all alone, and returns true. Keys on several
    /// pods: `-CROSSSLOT`. Keys of one other pod: `-MOVED` on a core port
    /// (Redis Cluster's redirection); on the shared and RESP ports the
    /// command is forwarded to the owner, and a transaction is sent whole
    /// at `EXEC` (its keys, and any watched ones, on one pod).
    fn cluster_route(&mut self, spec: &CommandSpec, args: Args<'_>) -> bool {
        let ctx = Rc::clone(&self.ctx);
        let Some(peers) = ctx.peers.as_ref() else {
            return false;
        };
        let map = peers.map();
        let keys = commands::key_positions(spec, args.len())
            .chain(commands::movable_key_positions(
                spec,
                |i| args.get(i),
                args.len(),
            ))
            .map(|i| args.get(i));
        let placement = map.placement(keys);
        let refuse = |this: &mut Self, mesg: &str| {
            this.call_rejected();
            this.refuse_in_multi();
            this.emit(|o| enc::error(o, mesg));
            true
        };
        match placement {
            Placement::Split => refuse(self, CROSSSLOT),
            Placement::Here => {
                if let Some(multi) = &mut self.resp.multi {
                    if multi.remote.is_some() {
                        return refuse(self, CROSSSLOT);
                    }
                    multi.local = true;
                }
                false
            }
            Placement::There {
                slot, partition, ..
            } => {
                if self.core_port {
                    let (host, port) = map.addr_of(partition);
                    let mesg = format!("MOVED {slot} {host}:{port}");
                    return refuse(self, &mesg);
                }
                let pod = partition / map.workers;
                let watching = self.watching.is_some();
                if let Some(multi) = &mut self.resp.multi {
                    let other = multi.remote.is_some_and(|p| p / map.workers != pod);
                    if multi.local || watching || other {
                        return refuse(self, CROSSSLOT);
                    }
                    multi.remote.get_or_insert(partition);
                    return false;
                }
                if spec.name == "watch" {
                    return refuse(self, WATCH_REMOTE);
                }
                let request = {
                    let parts: Vec<&[u8]> = args.iter().collect();
                    corekv_router::resp::request(&parts)
                };
                let wire = self.wire();
                let reply = peers.send(partition, wire, request, 1);
                self.plan.peer(reply);
                true
            }
        }
    }

    /// `EXEC` of a transaction whose keys another pod owns: `MULTI`, the
    /// queued commands and `EXEC`, sent there as one request.
    fn exec_remote(&mut self, partition: usize, queued: &[Vec<Box<[u8]>>]) {
        let ctx = Rc::clone(&self.ctx);
        let Some(peers) = ctx.peers.as_ref() else {
            return;
        };
        let mut request = corekv_router::resp::request(&[b"MULTI"]);
        for q in queued {
            let parts: Vec<&[u8]> = q.iter().map(|a| &a[..]).collect();
            corekv_router::resp::push_request(&mut request, &parts);
        }
        corekv_router::resp::push_request(&mut request, &[b"EXEC"]);
        let wire = self.wire();
        let reply = peers.send(partition, wire, request, queued.len() + 2);
        self.plan.peer(reply);
    }

    /// The protocol of the links this connection's forwarded commands take.
    fn wire(&self) -> Wire {
        match self.proto() {
            enc::Proto::V2 => Wire::Resp2,
            enc::Proto::V3 => Wire::Resp3,
        }
    }

    /// The RESP version this connection speaks.
    pub(super) fn proto(&self) -> enc::Proto {
        self.resp_dialect().proto()
    }

    /// `Resp` or `Resp3` (`HELLO` switches).
    pub(super) fn resp_dialect(&self) -> Dialect {
        self.dialect.unwrap_or(Dialect::Resp)
    }

    /// As Redis: a refused `EXEC` (arity, ACL) discards the transaction,
    /// and its watches, inside `MULTI` or not.
    async fn exec_abort(&mut self, error: &str) {
        self.resp.multi = None;
        self.unwatch_all().await;
        let reason = error.strip_prefix("ERR ").unwrap_or(error);
        let mesg = format!("EXECABORT Transaction discarded because of: {reason}");
        self.emit(|o| enc::error(o, &mesg));
    }

    fn refuse_in_multi(&mut self) {
        if let Some(m) = &mut self.resp.multi {
            m.failed = true;
        }
    }

    /// Queues a command inside `MULTI`, after checking it could run there.
    /// As in Redis, only the name and arity are checked now: a command whose
    /// arguments are wrong answers its error in `EXEC`'s reply, and the
    /// others run.
    fn queue(&mut self, spec: &CommandSpec, args: Args<'_>) {
        let allowed = matches!(spec.name, "ping" | "echo" | "unwatch")
            || key_command(spec.name, args).is_some()
            || super::movecmd::is_move(spec.name);
        let refused = match spec.name {
            // Redis refuses it too (its `no-multi` flag), with this text.
            "shutdown" => Some("ERR Command not allowed inside a transaction".to_string()),
            name if !allowed || name == "msetnx" => {
                Some(format!("ERR '{name}' is not allowed inside MULTI"))
            }
            _ => None,
        };
        let max = self.ctx.limits.max_txn_bytes;
        let multi = self.resp.multi.as_mut().expect("in MULTI");
        let size: usize = args.iter().map(|a| a.len() + 16).sum();
        let refused = refused.or_else(|| {
            (multi.bytes + size > max)
                .then(|| format!("ERR transaction too large (max {max} bytes)"))
        });
        // Queued commands are client memory: they count toward --maxmemory,
        // and past it the command is refused (the EXEC then aborts), as
        // Redis refuses to queue a `denyoom` command when out of memory.
        let refused = refused.or_else(|| {
            let fits = self.ctx.partition.borrow_mut().reserve_client_bytes(size);
            (!fits).then(|| crate::reply::OOM_RESP.to_string())
        });
        let multi = self.resp.multi.as_mut().expect("in MULTI");
        match refused {
            Some(mesg) => {
                multi.failed = true;
                self.emit(|o| enc::error(o, &mesg));
            }
            None => {
                multi.bytes += size;
                multi.queued.push(args.iter().map(Box::from).collect());
                self.emit(|o| enc::simple(o, "QUEUED"));
            }
        }
        self.note_buffers();
    }

    async fn key_command(&mut self, cmd: KeyCmd<'_>) -> Result<(), TxnError> {
        let ctx = Rc::clone(&self.ctx);
        match cmd {
            KeyCmd::One(kind, key, value) => self.plan.op(&ctx, &mut self.out, kind, key, value),
            KeyCmd::Packed(kind, key, value) => {
                self.plan.op(&ctx, &mut self.out, kind, key, &value);
                pack::recycle(value);
            }
            KeyCmd::Many {
                kind,
                pairs,
                combine,
                header,
                then_ok,
            } => {
                let topo = &ctx.topology;
                let first = topo.partition_of_key(pairs[0].0);
                if pairs.iter().all(|(k, _)| topo.partition_of_key(k) == first) {
                    if header {
                        self.emit(|o| enc::array(o, pairs.len()));
                    }
                    self.plan.run(&ctx, &mut self.out, kind, &pairs, combine);
                    if then_ok {
                        self.emit(enc::ok);
                    }
                } else {
                    self.spread(kind, &pairs, combine, header, then_ok).await?;
                }
            }
            KeyCmd::SetAllAbsent(pairs) => {
                self.finish_plan().await?;
                let mut plan = Plan::deferred(ctx.topology.len(), self.resp_dialect());
                plan.run(&ctx, &mut self.out, OpKind::Put, &pairs, Combine::Drop);
                let mut parts = self.take_parts(&mut plan, false);
                for (_, part) in &mut parts {
                    part.check = Check::AllAbsent;
                }
                match self.coordinate(parts).await? {
                    Outcome::Committed(_) => self.emit(|o| enc::int(o, 1)),
                    Outcome::OutOfMemory => self.emit(|o| enc::error(o, crate::reply::OOM_RESP)),
                    _ => self.emit(|o| enc::int(o, 0)),
                }
            }
        }
        Ok(())
    }

    /// A multi-key command over several partitions: one atomic transaction
    /// (exclusive locks for writes, shared ones for reads).
    async fn spread(
        &mut self,
        kind: OpKind,
        pairs: &[(&[u8], &[u8])],
        combine: Combine,
        header: bool,
        then_ok: bool,
    ) -> Result<(), TxnError> {
        self.finish_plan().await?;
        let ctx = Rc::clone(&self.ctx);
        let mut plan = Plan::deferred(ctx.topology.len(), self.resp_dialect());
        if header {
            plan.emit(&mut self.out, |o| enc::array(o, pairs.len()));
        }
        plan.run(&ctx, &mut self.out, kind, pairs, combine);
        let parts = self.take_parts(&mut plan, !then_ok);
        match self.coordinate(parts).await? {
            Outcome::Committed(replies) => {
                self.check_txn_replies(&replies)?;
                plan.assemble_parts(replies, &mut self.out);
                if then_ok {
                    self.emit(enc::ok);
                }
            }
            _ => self.emit(|o| enc::error(o, crate::reply::OOM_RESP)),
        }
        Ok(())
    }

    async fn exec(&mut self) -> Result<(), TxnError> {
        let Some(multi) = self.resp.multi.take() else {
            self.emit(|o| enc::error(o, "ERR EXEC without MULTI"));
            return Ok(());
        };
        if multi.failed {
            self.unwatch_all().await;
            self.emit(|o| {
                enc::error(
                    o,
                    "EXECABORT Transaction discarded because of previous errors.",
                )
            });
            return Ok(());
        }
        if let Some(partition) = multi.remote {
            self.exec_remote(partition, &multi.queued);
            return Ok(());
        }
        self.finish_plan().await?;
        let ctx = Rc::clone(&self.ctx);
        if super::movecmd::exec_needs_handoff(&ctx.topology, &multi.queued) {
            let refused = multi
                .queued
                .iter()
                .map(|q| {
                    let ranges = owned_ranges(q);
                    let frame = q.concat();
                    self.refused_at_exec(Args::new(&frame, &ranges))
                })
                .collect();
            return self.exec_handoff(&multi.queued, refused).await;
        }
        let mut plan = Plan::deferred(ctx.topology.len(), self.resp_dialect());
        plan.emit(&mut self.out, |o| enc::array(o, multi.queued.len()));
        for queued in &multi.queued {
            plan.cmd = commands::lookup(&queued[0]).map_or(super::plan::NO_COMMAND, |spec| {
                crate::introspect::command_index(spec) as u16
            });
            let ranges = owned_ranges(queued);
            let frame = queued.concat();
            let args = Args {
                frame: &frame,
                ranges: &ranges,
            };
            if let Some(mesg) = self.refused_at_exec(args) {
                plan.emit(&mut self.out, |o| enc::error(o, &mesg));
                continue;
            }
            let mut target = super::queued::ToPlan {
                plan: &mut plan,
                ctx: &ctx,
                out: &mut self.out,
            };
            super::queued::run(&mut target, args);
        }
        let parts = self.take_parts(&mut plan, true);
        match self.run_txn(parts).await? {
            Outcome::Committed(replies) => {
                self.check_txn_replies(&replies)?;
                plan.assemble_parts(replies, &mut self.out);
                self.exec_calls(&multi.queued, &mut plan.errors);
            }
            Outcome::WatchFailed | Outcome::CheckFailed => {
                let proto = self.proto();
                self.emit(|o| enc::null_array(o, proto))
            }
            Outcome::OutOfMemory => self.emit(|o| enc::error(o, crate::reply::OOM_RESP)),
        }
        Ok(())
    }

    /// The error for a queued command the ACL no longer allows: it may
    /// have changed since the command was queued (Redis checks again at
    /// `EXEC`).
    fn refused_at_exec(&mut self, args: Args<'_>) -> Option<String> {
        if self.gate_open() {
            return None;
        }
        let spec = commands::lookup(args.get(0))?;
        let denied = self.check_resp(spec, |i| args.get(i), args.len()).err()?;
        Some(super::auth::changed_before_exec(&denied))
    }

    async fn other_command(
        &mut self,
        spec: &CommandSpec,
        args: Args<'_>,
    ) -> Result<bool, TxnError> {
        match spec.name {
            "ping" => match args.len() {
                1 => self.emit(|o| enc::simple(o, "PONG")),
                2 => self.emit(|o| enc::bulk(o, args.get(1))),
                _ => {
                    self.emit(|o| enc::error(o, "ERR wrong number of arguments for 'ping' command"))
                }
            },
            "echo" => self.emit(|o| enc::bulk(o, args.get(1))),
            "quit" => {
                self.finish_plan().await?;
                self.emit(enc::ok);
                return Ok(false);
            }
            "multi" => {
                if self.resp.multi.is_some() {
                    self.emit(|o| enc::error(o, "ERR MULTI calls can not be nested"));
                } else {
                    self.resp.multi = Some(Multi::default());
                    self.emit(enc::ok);
                }
            }
            "exec" => self.exec().await?,
            "discard" => match self.resp.multi.take() {
                Some(_) => {
                    self.unwatch_all().await;
                    self.emit(enc::ok);
                }
                None => self.emit(|o| enc::error(o, "ERR DISCARD without MULTI")),
            },
            "watch" => self.watch(args),
            "unwatch" => {
                self.finish_plan().await?;
                self.unwatch_all().await;
                self.emit(enc::ok);
            }
            "select" => match parse_i64(args.get(1)) {
                Some(0) => self.emit(enc::ok),
                Some(_) => self.emit(|o| enc::error(o, "ERR DB index is out of range")),
                None => self.emit(|o| enc::error(o, NOT_INTEGER)),
            },
            "readonly" | "readwrite" | "asking" => self.emit(enc::ok),
            "hello" => self.hello(args).await?,
            "auth" => self.auth_command(args),
            "acl" => self.acl_command(args),
            "client" if super::servercmd::is_client_server(args.get(1)) => {
                return self.client_server(args).await;
            }
            "time" | "randomkey" | "memory" | "object" | "wait" | "shutdown" => {
                return self.server_command(spec, args).await;
            }
            "client" => self.client(args),
            "command" => self.command(args),
            "config" => self.config(args).await?,
            "slowlog" => self.slowlog(args).await?,
            "cluster" => self.cluster(args).await?,
            _ => self.keyspace_command(spec, args).await?,
        }
        Ok(true)
    }

    fn watch(&mut self, args: Args<'_>) {
        if self.resp.multi.is_some() {
            self.emit(|o| enc::error(o, "ERR WATCH inside MULTI is not allowed"));
            return;
        }
        if !self.may_watch(args.len() - 1) {
            let mesg = format!("ERR {}", super::TOO_MANY_WATCHES);
            self.emit(|o| enc::error(o, &mesg));
            return;
        }
        let ctx = Rc::clone(&self.ctx);
        let mut id = 0;
        for key in args.iter().skip(1) {
            id = self.note_watch(ctx.topology.partition_of_key(key));
        }
        let pairs: Vec<(&[u8], &[u8])> = args.iter().skip(1).map(|k| (k, &b""[..])).collect();
        self.plan.run(
            &ctx,
            &mut self.out,
            OpKind::Watch(id),
            &pairs,
            Combine::Drop,
        );
        self.emit(enc::ok);
    }

    /// Commands over the whole keyspace: they ask every partition.
    async fn keyspace_command(
        &mut self,
        spec: &CommandSpec,
        args: Args<'_>,
    ) -> Result<(), TxnError> {
        self.finish_plan().await?;
        match spec.name {
            "dbsize" => {
                let n: usize = self
                    .admin_all(|| Admin::Dbsize)
                    .await?
                    .iter()
                    .map(count_of)
                    .sum();
                self.emit(|o| enc::int(o, n as i64));
            }
            "flushall" | "flushdb" => {
                if args.len() > 2 || args.iter().skip(1).any(|a| !is_flush_mode(a)) {
                    self.emit(|o| enc::error(o, SYNTAX));
                    return Ok(());
                }
                self.admin_all(|| Admin::Flush).await?;
                self.emit(enc::ok);
            }
            "keys" => self.keys(args.get(1)).await?,
            "scan" => self.scan(args).await?,
            "info" => self.info(args).await?,
            other => {
                let mesg = format!("ERR '{other}' is not supported");
                self.emit(|o| enc::error(o, &mesg));
            }
        }
        Ok(())
    }

    /// `KEYS pattern`, as bounded scan steps over each partition with a
    /// yield between them, so a big keyspace never stalls the worker's
    /// other clients (Redis runs KEYS atomically instead). Entries never
    /// move in the slab, so a key present for the whole command is
    /// returned exactly once; one deleted and re-created meanwhile may be
    /// returned twice, and one written meanwhile may or may not be.
    async fn keys(&mut self, pattern: &[u8]) -> Result<(), TxnError> {
        let pattern: Option<Box<[u8]>> = (pattern != b"*").then(|| pattern.into());
        let mut found = Found::default();
        for partition in 0..self.ctx.topology.len() {
            self.scan_steps(partition, &pattern, None, usize::MAX, &mut found)
                .await?;
        }
        self.emit_found(found).await;
        Ok(())
    }

    /// Scans `partition` in bounded steps, a yield after each, encoding up
    /// to `limit` keys (matching `pattern`, in `slot`) into `found`.
    async fn scan_steps(
        &mut self,
        partition: usize,
        pattern: &Option<Box<[u8]>>,
        slot: Option<u16>,
        limit: usize,
        found: &mut Found,
    ) -> Result<(), TxnError> {
        let mut from = Some(0);
        while let Some(pos) = from.filter(|_| found.n < limit) {
            let scan = Admin::Scan {
                from: pos,
                count: KEYS_STEP,
                pattern: pattern.clone(),
                slot,
                kind: None,
            };
            let AdminReply::Scan(step) = self.admin_one(partition, scan).await? else {
                return Err(TxnError::Unavailable);
            };
            let wanted = step.keys.len().min(limit - found.n);
            found.push(&step.keys[..wanted]);
            from = step.next;
            // The own partition answers in place: let others run.
            tokio::task::yield_now().await;
        }
        Ok(())
    }

    /// Emits the keys found as an array, copying them to the output with a
    /// yield every [`KEYS_COPY`] bytes: tens of megabytes at once would be
    /// a stall of its own.
    async fn emit_found(&mut self, found: Found) {
        self.emit(|o| {
            enc::array(o, found.n);
            o.reserve(found.bytes);
        });
        let mut copied = 0;
        for piece in found.pieces {
            self.emit(|o| o.extend_from_slice(&piece));
            copied += piece.len();
            if copied >= KEYS_COPY {
                copied = 0;
                tokio::task::yield_now().await;
            }
        }
    }

    /// `CLUSTER GETKEYSINSLOT slot count`: walks the owner partition's
    /// slot index in bounded steps (see [`walk_slot`](Self::walk_slot)).
    /// Where the partition has none (it would pass the memory budget), or
    /// lost the walk, it scans instead: bounded scan steps (see
    /// [`keys`](Self::keys)), ending once the slot's keys (counted in
    /// O(1)) or `count` of them are found.
    async fn get_keys_in_slot(&mut self, slot: &[u8], count: &[u8]) -> Result<(), TxnError> {
        let (Some(slot), Some(count)) = (parse_i64(slot), parse_i64(count)) else {
            self.emit(|o| enc::error(o, NOT_INTEGER));
            return Ok(());
        };
        if !(0..i64::from(corekv_router::SLOT_COUNT)).contains(&slot) || count < 0 {
            self.emit(|o| enc::error(o, "ERR Invalid slot or number of keys"));
            return Ok(());
        }
        self.finish_plan().await?;
        let slot = slot as u16;
        let owner = self.ctx.topology.partition_of_slot(slot);
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        let mut found = Found::default();
        if count > 0 && !self.walk_slot(owner, slot, count, &mut found).await? {
            found = Found::default();
            let stored = count_of(&self.admin_one(owner, Admin::CountKeysInSlot(slot)).await?);
            let limit = stored.min(count);
            if limit > 0 {
                self.scan_steps(owner, &None, Some(slot), limit, &mut found)
                    .await?;
            }
        }
        self.emit_found(found).await;
        Ok(())
    }

    /// Up to `count` keys of `slot` from `owner`'s slot index into
    /// `found`, a step at a time with a yield after each (the first request
    /// builds the index, also in steps). False if the partition says to
    /// scan instead.
    async fn walk_slot(
        &mut self,
        owner: usize,
        slot: u16,
        count: usize,
        found: &mut Found,
    ) -> Result<bool, TxnError> {
        let mut walk = None;
        loop {
            let ask = Admin::KeysInSlot {
                slot,
                count: count - found.n,
                walk,
            };
            let AdminReply::SlotKeys(step) = self.admin_one(owner, ask).await? else {
                return Err(TxnError::Unavailable);
            };
            match step {
                SlotStep::Building => {}
                SlotStep::Scan => return Ok(false),
                SlotStep::Keys(step) => {
                    found.push(&step.keys);
                    if step.walk.is_none() {
                        return Ok(true);
                    }
                    walk = step.walk;
                }
            }
            // The own partition answers in place: let others run.
            tokio::task::yield_now().await;
        }
    }

    /// `SCAN cursor [MATCH p] [COUNT n] [TYPE t]`. The cursor encodes the
    /// partition (low 10 bits) and the slab position within it.
    async fn scan(&mut self, args: Args<'_>) -> Result<(), TxnError> {
        let Some(cursor) = std::str::from_utf8(args.get(1))
            .ok()
            .and_then(|c| c.parse::<u64>().ok())
        else {
            self.emit(|o| enc::error(o, "ERR invalid cursor"));
            return Ok(());
        };
        let mut pattern = None;
        let mut count = 10usize;
        let mut kind: Option<Box<[u8]>> = None;
        let mut i = 2;
        while i < args.len() {
            let opt = args.get(i).to_ascii_uppercase();
            let Some(value) = (i + 1 < args.len()).then(|| args.get(i + 1)) else {
                self.emit(|o| enc::error(o, SYNTAX));
                return Ok(());
            };
            match &opt[..] {
                b"MATCH" => pattern = Some(Box::<[u8]>::from(value)),
                // COUNT is a hint; capped so one step cannot stall a worker.
                b"COUNT" => match parse_i64(value) {
                    Some(n) if n > 0 => count = (n as usize).min(MAX_SCAN_COUNT),
                    _ => {
                        self.emit(|o| enc::error(o, SYNTAX));
                        return Ok(());
                    }
                },
                b"TYPE" => kind = Some(value.into()),
                _ => {
                    self.emit(|o| enc::error(o, SYNTAX));
                    return Ok(());
                }
            }
            i += 2;
        }
        let n = self.ctx.topology.len() as u64;
        let partition = (cursor & 1023) as usize;
        let from = (cursor >> 10) as usize;
        if partition as u64 >= n {
            self.emit(|o| enc::error(o, "ERR invalid cursor"));
            return Ok(());
        }
        let reply = self
            .admin_one(
                partition,
                Admin::Scan {
                    from,
                    count,
                    pattern,
                    slot: None,
                    kind,
                },
            )
            .await?;
        let AdminReply::Scan(step) = reply else {
            return Err(TxnError::Unavailable);
        };
        let next = match step.next {
            Some(pos) => ((pos as u64) << 10) | partition as u64,
            None if (partition as u64) + 1 < n => partition as u64 + 1,
            None => 0,
        };
        let keys = step.keys;
        self.emit(|o| {
            enc::array(o, 2);
            enc::bulk(o, next.to_string().as_bytes());
            enc::bulk_array(o, keys.iter().map(|k| &**k));
        });
        Ok(())
    }

    /// `HELLO [protover [AUTH user pass] [SETNAME name]]`: authenticates
    /// first, then requires an authenticated connection, then names it and
    /// switches the RESP version (2 or 3; none keeps the current one). The
    /// batch so far is finished first: its replies are in the old version.
    async fn hello(&mut self, args: Args<'_>) -> Result<(), TxnError> {
        let mut version = None;
        if args.len() > 1 {
            match parse_i64(args.get(1)) {
                Some(v @ 2..=3) => version = Some(v),
                Some(_) => {
                    self.emit(|o| enc::error(o, "NOPROTO unsupported protocol version"));
                    return Ok(());
                }
                None => {
                    self.emit(|o| {
                        enc::error(o, "ERR Protocol version is not an integer or out of range")
                    });
                    return Ok(());
                }
            }
        }
        let mut auth = None;
        let mut name = None;
        let mut i = 2;
        while i < args.len() {
            match &args.get(i).to_ascii_uppercase()[..] {
                b"SETNAME" if i + 1 < args.len() => {
                    name = Some(args.get(i + 1));
                    i += 2;
                }
                b"AUTH" if i + 2 < args.len() => {
                    auth = Some((args.get(i + 1), args.get(i + 2)));
                    i += 3;
                }
                _ => {
                    let mesg = format!(
                        "ERR Syntax error in HELLO option '{}'",
                        String::from_utf8_lossy(args.get(i))
                    );
                    self.emit(|o| enc::error(o, &mesg));
                    return Ok(());
                }
            }
        }
        if let Some((user, password)) = auth {
            if self.authenticate(Some(user), password).is_err() {
                self.emit(|o| enc::error(o, super::auth::WRONGPASS));
                return Ok(());
            }
        }
        if self.needs_auth() {
            self.emit(|o| enc::error(o, super::auth::NOAUTH_HELLO));
            return Ok(());
        }
        if let Some(name) = name {
            if !self.set_name(name) {
                return Ok(());
            }
        }
        if let Some(version) = version {
            let dialect = if version == 3 {
                Dialect::Resp3
            } else {
                Dialect::Resp
            };
            if dialect != self.resp_dialect() {
                self.finish_plan().await?;
                self.dialect = Some(dialect);
                self.plan.set_dialect(dialect);
            }
        }
        let (id, proto) = (self.client_id as i64, self.proto());
        let version_number = if proto == enc::Proto::V3 { 3 } else { 2 };
        self.emit(|o| {
            enc::map(o, 7, proto);
            for (k, v) in [("server", "redis"), ("version", "7.2.0")] {
                enc::bulk(o, k.as_bytes());
                enc::bulk(o, v.as_bytes());
            }
            enc::bulk(o, b"proto");
            enc::int(o, version_number);
            enc::bulk(o, b"id");
            enc::int(o, id);
            for (k, v) in [("mode", "cluster"), ("role", "master")] {
                enc::bulk(o, k.as_bytes());
                enc::bulk(o, v.as_bytes());
            }
            enc::bulk(o, b"modules");
            enc::array(o, 0);
        });
        Ok(())
    }

    /// Names the connection; false (after answering an error) if the name
    /// is not allowed.
    fn set_name(&mut self, name: &[u8]) -> bool {
        if name.iter().any(|&b| b <= b' ' || b > b'~') {
            self.emit(|o| {
                enc::error(
                    o,
                    "ERR Client names cannot contain spaces, newlines or special characters.",
                )
            });
            return false;
        }
        self.resp.name = (!name.is_empty()).then(|| name.to_vec());
        self.info.set_name(self.resp.name.as_deref());
        true
    }

    /// `AUTH [user] password`.
    fn auth_command(&mut self, args: Args<'_>) {
        let result = match args.len() {
            2 => self.authenticate(None, args.get(1)),
            3 => self.authenticate(Some(args.get(1)), args.get(2)),
            _ => Err(SYNTAX),
        };
        match result {
            Ok(()) => self.emit(enc::ok),
            Err(mesg) => self.emit(|o| enc::error(o, mesg)),
        }
    }

    fn client(&mut self, args: Args<'_>) {
        let proto = self.proto();
        let sub = args.get(1).to_ascii_uppercase();
        match (&sub[..], args.len()) {
            (b"SETNAME", 3) => {
                if self.set_name(args.get(2)) {
                    self.emit(enc::ok);
                }
            }
            (b"GETNAME", 2) => {
                let name = self.resp.name.clone();
                match name {
                    Some(name) => self.emit(|o| enc::bulk(o, &name)),
                    None => self.emit(|o| enc::null(o, proto)),
                }
            }
            (b"NO-EVICT", 3) => {
                let on = match args.get(2).to_ascii_lowercase().as_slice() {
                    b"on" => true,
                    b"off" => false,
                    _ => {
                        self.emit(|o| enc::error(o, "ERR syntax error"));
                        return;
                    }
                };
                self.ctx
                    .client_table
                    .borrow_mut()
                    .set_no_evict(self.table_index, on);
                self.emit(enc::ok);
            }
            (b"NO-EVICT", _) => self.emit(|o| {
                enc::error(
                    o,
                    "ERR wrong number of arguments for 'client|no-evict' command",
                )
            }),
            (b"ID", 2) => {
                let id = self.client_id as i64;
                self.emit(|o| enc::int(o, id));
            }
            (b"SETINFO", 4) => {
                let attr = args.get(2);
                if attr.eq_ignore_ascii_case(b"LIB-NAME") || attr.eq_ignore_ascii_case(b"LIB-VER") {
                    self.emit(enc::ok);
                } else {
                    let mesg = format!(
                        "ERR Unrecognized option '{}'",
                        String::from_utf8_lossy(attr)
                    );
                    self.emit(|o| enc::error(o, &mesg));
                }
            }
            _ => {
                let mesg = format!(
                    "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
                    String::from_utf8_lossy(args.get(1))
                );
                self.emit(|o| enc::error(o, &mesg));
            }
        }
    }

    fn command(&mut self, args: Args<'_>) {
        let proto = self.proto();
        let sub = if args.len() > 1 {
            args.get(1).to_ascii_uppercase()
        } else {
            Vec::new()
        };
        match &sub[..] {
            b"" => self.emit(|o| {
                enc::array(o, commands::COMMANDS.len());
                for c in commands::COMMANDS {
                    c.encode_info(o, proto);
                }
            }),
            b"COUNT" if args.len() == 2 => {
                self.emit(|o| enc::int(o, commands::COMMANDS.len() as i64))
            }
            b"COUNT" => self.emit(|o| {
                enc::error(
                    o,
                    "ERR wrong number of arguments for 'command|count' command",
                )
            }),
            b"INFO" => {
                let specs: Vec<_> = if args.len() == 2 {
                    commands::COMMANDS.iter().map(Some).collect()
                } else {
                    args.iter().skip(2).map(commands::lookup).collect()
                };
                self.emit(|o| {
                    enc::array(o, specs.len());
                    for s in &specs {
                        match s {
                            Some(c) => c.encode_info(o, proto),
                            None => enc::null(o, proto),
                        }
                    }
                });
            }
            b"DOCS" => {
                let specs: Vec<_> = if args.len() == 2 {
                    commands::COMMANDS.iter().collect()
                } else {
                    args.iter().skip(2).filter_map(commands::lookup).collect()
                };
                self.emit(|o| {
                    enc::map(o, specs.len(), proto);
                    for s in &specs {
                        s.encode_docs(o, proto);
                    }
                });
            }
            b"LIST" => self
                .emit(|o| enc::bulk_array(o, commands::COMMANDS.iter().map(|c| c.name.as_bytes()))),
            b"GETKEYS" if args.len() > 2 => self.command_getkeys(args),
            _ => {
                let mesg = format!(
                    "ERR unknown subcommand '{}'. Try COMMAND HELP.",
                    String::from_utf8_lossy(args.get(1))
                );
                self.emit(|o| enc::error(o, &mesg));
            }
        }
    }

    fn command_getkeys(&mut self, args: Args<'_>) {
        let inner: Vec<&[u8]> = args.iter().skip(2).collect();
        match commands::lookup(inner[0]) {
            Some(spec) if spec.arity_ok(inner.len()) => {
                let keys: Vec<&[u8]> = commands::key_indexes(spec, inner.len())
                    .into_iter()
                    .chain(commands::movable_key_positions(
                        spec,
                        |i| inner[i],
                        inner.len(),
                    ))
                    .map(|i| inner[i])
                    .collect();
                if keys.is_empty() {
                    self.emit(|o| enc::error(o, "ERR The command has no key arguments"));
                } else {
                    self.emit(|o| enc::bulk_array(o, keys.into_iter()));
                }
            }
            Some(_) => self
                .emit(|o| enc::error(o, "ERR Invalid number of arguments specified for command")),
            None => self.emit(|o| enc::error(o, "ERR Invalid command specified")),
        }
    }

    async fn config(&mut self, args: Args<'_>) -> Result<(), TxnError> {
        let sub = args.get(1).to_ascii_uppercase();
        match (&sub[..], args.len()) {
            (b"SET", n) if n >= 4 && n % 2 == 0 => {
                let pairs: Vec<(&[u8], &[u8])> = (2..args.len())
                    .step_by(2)
                    .map(|i| (args.get(i), args.get(i + 1)))
                    .collect();
                return self.config_set(&pairs).await;
            }
            (b"RESETSTAT", 2) => return self.config_resetstat().await,
            (b"GET", n) if n >= 3 => {}
            (b"SET" | b"GET" | b"RESETSTAT", _) => {
                let mesg = format!(
                    "ERR wrong number of arguments for 'config|{}' command",
                    String::from_utf8_lossy(&sub).to_lowercase()
                );
                self.emit(|o| enc::error(o, &mesg));
                return Ok(());
            }
            _ => {
                let mesg = format!(
                    "ERR unknown subcommand '{}'. Try CONFIG HELP.",
                    String::from_utf8_lossy(args.get(1))
                );
                self.emit(|o| enc::error(o, &mesg));
                return Ok(());
            }
        }
        let ctx = &self.ctx;
        let mut settings: Vec<(&str, String)> = vec![
            ("bind", bind_list(&ctx.bind)),
            ("port", ctx.shared_port.to_string()),
            (
                "tls-port",
                ctx.tls.as_ref().map_or(0, |t| t.shared_port).to_string(),
            ),
            (
                "tls-cluster",
                if ctx.tls.as_ref().is_some_and(|t| !t.core_ports.is_empty()) {
                    "yes".into()
                } else {
                    "no".into()
                },
            ),
            ("databases", "1".into()),
            ("cluster-enabled", "yes".into()),
            ("appendonly", "no".into()),
            ("save", String::new()),
            (
                "client-query-buffer-limit",
                ctx.limits.max_request_bytes.to_string(),
            ),
            ("io-threads", ctx.topology.len().to_string()),
            (
                "protected-mode",
                if ctx.security.protected_mode {
                    "yes"
                } else {
                    "no"
                }
                .into(),
            ),
        ];
        settings.extend(super::config::get(&ctx.clients));
        settings.extend(self.runtime_settings());
        let mut found: Vec<(&str, &str)> = Vec::new();
        for pattern in args.iter().skip(2) {
            let pattern = pattern.to_ascii_lowercase();
            for (k, v) in &settings {
                if crate::glob::matches(&pattern, k.as_bytes())
                    && !found.iter().any(|(f, _)| f == k)
                {
                    found.push((k, v));
                }
            }
        }
        let proto = self.proto();
        self.emit(|o| {
            enc::map(o, found.len(), proto);
            for (k, v) in &found {
                enc::bulk(o, k.as_bytes());
                enc::bulk(o, v.as_bytes());
            }
        });
        Ok(())
    }

    /// The host clients should use for the nodes: `--announce-host`, else
    /// the first bound address, else (bound to a wildcard) the address this
    /// connection reached.
    fn announce_host(&self) -> String {
        if let Some(h) = &self.ctx.announce_host {
            return h.to_string();
        }
        if let Some(ip) = self.ctx.bind.first().filter(|ip| !ip.is_unspecified()) {
            return ip.to_string();
        }
        self.local_addr
            .map_or_else(|| "127.0.0.1".to_string(), |a| a.ip().to_string())
    }

    /// The plain core ports, per partition; empty when they are off.
    fn plain_core_ports(&self) -> Vec<u16> {
        let partitions = self.ctx.topology.partitions();
        partitions.iter().filter_map(|p| p.port).collect()
    }

    async fn cluster(&mut self, args: Args<'_>) -> Result<(), TxnError> {
        let sub = args.get(1).to_ascii_uppercase();
        let ctx = Rc::clone(&self.ctx);
        let topo = &ctx.topology;
        let proto = self.proto();
        let host = self.announce_host();
        let plain = self.plain_core_ports();
        let tls = ctx.tls.as_ref().map_or(&[][..], |t| &t.core_ports[..]);
        // As Redis: TLS clients get the TLS ports when there are TLS core
        // ports (`--tls-cluster`), everyone else the plain ones.
        let mine = if self.stream.is_tls() && !tls.is_empty() {
            tls
        } else {
            &plain[..]
        };
        let nodes = match ctx.peers.as_ref().map(|p| p.map()) {
            Some(map) => cluster::cluster_nodes(map, map.index * map.workers + ctx.id),
            None => cluster::local_nodes(topo, &host, mine, &plain, tls, ctx.id),
        };
        match (&sub[..], args.len()) {
            (b"SLOTS", 2) => self.emit(|o| cluster::slots(o, &nodes)),
            (b"SHARDS", 2) => self.emit(|o| cluster::shards(o, proto, &nodes)),
            (b"NODES", 2) => {
                let text = cluster::nodes(&nodes);
                self.emit(|o| enc::verbatim(o, text.as_bytes(), proto));
            }
            (b"INFO", 2) => {
                let text = cluster::info(&nodes);
                self.emit(|o| enc::verbatim(o, text.as_bytes(), proto));
            }
            (b"MYID", 2) => {
                let id = nodes.iter().find(|n| n.myself).map_or("", |n| &n.id);
                self.emit(|o| enc::bulk(o, id.as_bytes()));
            }
            (b"KEYSLOT", 3) => {
                let slot = corekv_router::hash_slot(args.get(2));
                self.emit(|o| enc::int(o, i64::from(slot)));
            }
            (b"COUNTKEYSINSLOT", 3) => match parse_i64(args.get(2)) {
                Some(slot) if (0..i64::from(corekv_router::SLOT_COUNT)).contains(&slot) => {
                    self.finish_plan().await?;
                    let slot = slot as u16;
                    let owner = topo.partition_of_slot(slot);
                    let reply = self.admin_one(owner, Admin::CountKeysInSlot(slot)).await?;
                    let n = count_of(&reply);
                    self.emit(|o| enc::int(o, n as i64));
                }
                Some(_) => self.emit(|o| enc::error(o, "ERR Invalid slot")),
                None => self.emit(|o| enc::error(o, NOT_INTEGER)),
            },
            (b"GETKEYSINSLOT", 4) => self.get_keys_in_slot(args.get(2), args.get(3)).await?,
            _ => {
                let mesg = format!(
                    "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLUSTER HELP.",
                    String::from_utf8_lossy(args.get(1))
                );
                self.emit(|o| enc::error(o, &mesg));
            }
        }
        Ok(())
    }
}

pub(super) fn owned_ranges(args: &[Box<[u8]>]) -> Vec<Range<usize>> {
    let mut start = 0;
    args.iter()
        .map(|a| {
            let r = start..start + a.len();
            start = r.end;
            r
        })
        .collect()
}

fn count_of(reply: &AdminReply) -> usize {
    match reply {
        AdminReply::Count(n) => *n,
        _ => 0,
    }
}

fn is_flush_mode(a: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b"ASYNC") || a.eq_ignore_ascii_case(b"SYNC")
}

/// `CONFIG GET bind`: the bound addresses, space separated, as Redis.
fn bind_list(ips: &[std::net::IpAddr]) -> String {
    let list: Vec<String> = ips.iter().map(ToString::to_string).collect();
    list.join(" ")
}
