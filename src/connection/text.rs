//! The text protocol on a connection: lines → commands → plan.

use super::{Connection, Flow, MAX_BATCH};
use crate::partition::{unix_ms, Admin, AdminReply, ExpireCond, OpKind, SetCond, TtlMode};
use crate::protocol::{self, Command, Parsed};
use crate::response;
use crate::txn::{Buffered, Outcome, TxnBuffer, TxnError};

#[derive(Default)]
pub struct TextState {
    /// Inside an over-long line: drop bytes up to the next newline.
    discarding: bool,
    txn: Option<TxnBuffer>,
}

impl TextState {
    /// Not inside a transaction or an over-long line.
    pub(super) fn is_idle(&self) -> bool {
        self.txn.is_none() && !self.discarding
    }

    /// Bytes an open transaction buffers (client memory).
    pub(super) fn buffered_bytes(&self) -> usize {
        self.txn.as_ref().map_or(0, TxnBuffer::bytes)
    }
}

const NO_TXN: &str = "no transaction in progress (use START)";
const WATCH_FAILED: &str = "transaction aborted: a watched key changed; nothing was applied";

impl Connection {
    /// Handles up to `MAX_BATCH` lines of `buf`; returns the bytes used.
    pub(super) async fn process_text(&mut self, buf: &[u8]) -> (usize, Result<Flow, TxnError>) {
        let mut pos = 0;
        if self.text.discarding {
            match memchr::memchr(b'\n', buf) {
                Some(nl) => {
                    pos = nl + 1;
                    self.text.discarding = false;
                }
                None => return (buf.len(), Ok(Flow::NeedInput)),
            }
        }
        let max_line = self.ctx.limits.max_line_bytes;
        let mut flow = Flow::BatchFull;
        for _ in 0..MAX_BATCH {
            match protocol::parse(&buf[pos..], max_line) {
                Parsed::Incomplete => {
                    flow = Flow::NeedInput;
                    break;
                }
                Parsed::Overlong => {
                    let mesg = protocol::ParseError::LineTooLong(max_line).to_string();
                    self.emit(|o| response::error(o, &mesg));
                    self.text.discarding = true;
                    pos = buf.len();
                    flow = Flow::NeedInput;
                    break;
                }
                Parsed::Empty { consumed } => pos += consumed,
                Parsed::Invalid { error, consumed } => {
                    pos += consumed;
                    self.plan.commands += 1;
                    self.emit(|o| response::error(o, &error.to_string()));
                }
                Parsed::Complete { command, consumed } => {
                    let line = &buf[pos..pos + consumed];
                    pos += consumed;
                    self.plan.commands += 1;
                    if self.ctx.peers.is_some() && self.text_cluster_route(&command, line) {
                        if self.batch_is_full() {
                            break;
                        }
                        continue;
                    }
                    match self.text_command(command).await {
                        Ok(true) => {}
                        Ok(false) => {
                            flow = Flow::Quit;
                            break;
                        }
                        Err(e) => return (pos, Err(e)),
                    }
                }
            }
            if self.batch_is_full() {
                break;
            }
        }
        if let Err(e) = self.finish_plan().await {
            return (pos, Err(e));
        }
        (pos, Ok(flow))
    }

    /// Executes one command; false means the connection should close.
    async fn text_command(&mut self, command: Command<'_>) -> Result<bool, TxnError> {
        if !self.gate_open() {
            if let Err(denied) = self.check_text(&command) {
                if matches!(denied, super::auth::Denied::Gone) {
                    return Ok(false);
                }
                self.emit(|o| response::error(o, &denied.message()));
                return Ok(true);
            }
        }
        match command {
            Command::Auth { user, password } => match self.authenticate(user, password) {
                Ok(()) => self.emit(response::ok),
                Err(mesg) => {
                    let mesg = mesg.strip_prefix("ERR ").unwrap_or(mesg);
                    self.emit(|o| response::error(o, mesg));
                }
            },
            Command::Get { key } => self.text_get(key),
            Command::Put { key, value } => self.text_write(key, Some(value)),
            Command::Del { key } => self.text_write(key, None),
            Command::Watch { key } => self.text_watch(key),
            Command::Expire { key, ttl_ms } => {
                let at = if ttl_ms <= 0 {
                    0
                } else {
                    unix_ms().saturating_add(ttl_ms as u64)
                };
                self.text_ttl_op(OpKind::Expire(at, ExpireCond::ALWAYS), key, b"");
            }
            Command::Ttl { key } => self.text_ttl_op(OpKind::Ttl { ms: false }, key, b""),
            Command::Persist { key } => self.text_ttl_op(OpKind::Persist, key, b""),
            Command::PutEx { key, secs, value } => {
                if secs <= 0 {
                    self.emit(|o| response::error(o, "invalid expire time: must be positive"));
                } else {
                    let at = unix_ms().saturating_add((secs as u64).saturating_mul(1000));
                    let kind = OpKind::Set {
                        cond: SetCond::Always,
                        get: false,
                        ttl: TtlMode::At(at),
                    };
                    self.text_ttl_op(kind, key, value);
                }
            }
            Command::Unwatch => {
                self.finish_plan().await?;
                self.unwatch_all().await;
                self.emit(response::ok);
            }
            Command::Start => self.text_start(),
            Command::Commit => self.text_commit().await?,
            Command::Rollback => match self.text.txn.take() {
                Some(_) => {
                    self.unwatch_all().await;
                    self.emit(response::ok);
                }
                None => self.emit(|o| response::error(o, NO_TXN)),
            },
            Command::Ping => self.emit(|o| response::ok_value(o, b"PONG")),
            Command::Help => self.emit(|o| response::ok_value(o, protocol::HELP.as_bytes())),
            Command::Stats => {
                self.finish_plan().await?;
                let mut stats = Vec::new();
                for reply in self.admin_all(|| Admin::Stats).await? {
                    if let AdminReply::Stats(s) = reply {
                        stats.push(*s);
                    }
                }
                let json = response::stats_json(&stats);
                self.emit(|o| response::ok_json(o, json.as_bytes()));
            }
            Command::Flush => {
                self.finish_plan().await?;
                self.admin_all(|| Admin::Flush).await?;
                self.emit(response::ok);
            }
            Command::Dbsize => {
                self.finish_plan().await?;
                let mut n = 0;
                for reply in self.admin_all(|| Admin::Dbsize).await? {
                    if let AdminReply::Count(c) = reply {
                        n += c;
                    }
                }
                self.emit(|o| response::ok_value(o, n.to_string().as_bytes()));
            }
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

    /// With several pods (`--cluster-size`): answers a command on a key
    /// another pod owns, and returns true. On a core port the answer is
    /// `MOVED slot host:port`; on the shared port the line is forwarded to
    /// the owner; inside a transaction, or for `WATCH`, it is refused.
    fn text_cluster_route(&mut self, command: &Command<'_>, line: &[u8]) -> bool {
        let key = match *command {
            Command::Get { key }
            | Command::Put { key, .. }
            | Command::Del { key }
            | Command::Watch { key }
            | Command::Expire { key, .. }
            | Command::Ttl { key }
            | Command::Persist { key }
            | Command::PutEx { key, .. } => key,
            _ => return false,
        };
        let ctx = std::rc::Rc::clone(&self.ctx);
        let Some(peers) = ctx.peers.as_ref() else {
            return false;
        };
        let crate::cluster::Placement::There {
            slot, partition, ..
        } = peers.map().placement([key])
        else {
            return false;
        };
        if !self.gate_open() && self.check_text(command).is_err() {
            // Refused here as it would be for a key of this pod.
            return false;
        }
        let refusal = if self.core_port {
            let (host, port) = peers.map().addr_of(partition);
            Some(format!("MOVED {slot} {host}:{port}"))
        } else if self.text.txn.is_some() {
            Some(
                "CROSSSLOT the key is owned by another pod: a transaction's keys must be on the pod it runs on"
                    .to_string(),
            )
        } else if matches!(command, Command::Watch { .. }) {
            Some("WATCH of a key another pod owns is not supported on this port".to_string())
        } else {
            None
        };
        if let Some(mesg) = refusal {
            self.emit(|o| response::error(o, &mesg));
            return true;
        }
        let mut request = line.to_vec();
        if request.last() != Some(&b'\n') {
            request.push(b'\n');
        }
        let reply = peers.send(partition, crate::cluster::peer::Wire::Text, request, 1);
        self.plan.peer(reply);
        true
    }

    fn text_get(&mut self, key: &[u8]) {
        let buffered = match &self.text.txn {
            Some(txn) => txn.lookup(key),
            None => Buffered::Untouched,
        };
        match buffered {
            Buffered::Written(Some(v)) => {
                self.plan.emit(&mut self.out, |o| response::ok_value(o, v))
            }
            Buffered::Written(None) => self
                .plan
                .emit(&mut self.out, |o| response::error(o, response::NOT_FOUND)),
            Buffered::Untouched => self
                .plan
                .op(&self.ctx, &mut self.out, OpKind::Get, key, b""),
        }
    }

    fn text_write(&mut self, key: &[u8], value: Option<&[u8]>) {
        let Some(txn) = &mut self.text.txn else {
            match value {
                Some(v) => self.plan.op(&self.ctx, &mut self.out, OpKind::Put, key, v),
                None => self
                    .plan
                    .op(&self.ctx, &mut self.out, OpKind::Remove, key, b""),
            }
            return;
        };
        let max = self.ctx.limits.max_txn_bytes;
        // The buffer is client memory: it counts toward --maxmemory, and a
        // write that would pass it dooms the transaction (as one past
        // --max-txn-bytes does), so open transactions cannot grow the
        // server past its limit.
        let added = TxnBuffer::cost(key, value);
        let result = if self.ctx.partition.borrow_mut().reserve_client_bytes(added) {
            match value {
                Some(v) => txn.put(key, v, max),
                None => txn.del(key, max),
            }
        } else {
            txn.doom(TxnError::OutOfMemory);
            Err(TxnError::OutOfMemory)
        };
        match result {
            Ok(()) => self.emit(response::ok),
            Err(e) => self.emit(|o| response::error(o, &e.to_string())),
        }
        self.note_buffers();
    }

    /// TTL commands act on committed data; inside a transaction they are
    /// refused rather than silently applied outside it.
    fn text_ttl_op(&mut self, kind: OpKind, key: &[u8], value: &[u8]) {
        if self.text.txn.is_some() {
            self.emit(|o| {
                response::error(o, "TTL commands (PUTEX, EXPIRE, PEXPIRE, TTL, PERSIST) are not allowed inside a transaction")
            });
            return;
        }
        self.plan.op(&self.ctx, &mut self.out, kind, key, value);
    }

    fn text_watch(&mut self, key: &[u8]) {
        if self.text.txn.is_some() {
            self.emit(|o| response::error(o, "WATCH inside a transaction is not allowed"));
            return;
        }
        if !self.may_watch(1) {
            self.emit(|o| response::error(o, super::TOO_MANY_WATCHES));
            return;
        }
        let owner = self.ctx.topology.partition_of_key(key);
        let id = self.note_watch(owner);
        self.plan
            .op(&self.ctx, &mut self.out, OpKind::Watch(id), key, b"");
    }

    fn text_start(&mut self) {
        if self.text.txn.is_some() {
            self.emit(|o| response::error(o, "transaction already started"));
        } else {
            self.text.txn = Some(TxnBuffer::default());
            self.emit(response::ok);
        }
    }

    /// `COMMIT` is a barrier: operations before it complete first, so a
    /// pipelined `PUT a 1` … `COMMIT` (writing `a`) cannot be reordered.
    async fn text_commit(&mut self) -> Result<(), TxnError> {
        let Some(txn) = self.text.txn.take() else {
            self.emit(|o| response::error(o, NO_TXN));
            return Ok(());
        };
        self.finish_plan().await?;
        let parts = match txn.into_parts(&self.ctx.topology) {
            Ok(parts) => parts,
            Err(e) => {
                self.unwatch_all().await;
                self.emit(|o| response::error(o, &e.to_string()));
                return Ok(());
            }
        };
        match self.run_txn(parts).await? {
            Outcome::Committed(_) => self.emit(response::ok),
            Outcome::WatchFailed => self.emit(|o| response::error(o, WATCH_FAILED)),
            Outcome::CheckFailed => self.emit(|o| response::error(o, "transaction check failed")),
            Outcome::OutOfMemory => self.emit(|o| {
                response::error(
                    o,
                    "out of memory: the transaction would exceed --maxmemory; nothing was applied",
                )
            }),
        }
        Ok(())
    }
}
