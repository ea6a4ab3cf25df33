//! Moving a connection to the worker that owns the keys it uses.
//!
//! A client on the shared port lands on any worker; when all its keys
//! belong to another one (a hot key, or a client that works on one hash
//! slot's keys), every request crosses threads and back. After
//! `--migrate-after` operations in a row that all went to one other
//! worker and none ran here, the connection moves there: at the end of a
//! batch, with every reply written, nothing buffered and no state tied to
//! this worker (no `MULTI`, `WATCH`, text transaction or TLS session), it
//! hands a duplicate of its socket and what the client set (name, user,
//! protocol, `NO-EVICT`) to that worker as mail, and closes its own
//! descriptor. The other worker serves the same client from its next
//! read; the client sees nothing but faster replies.
//!
//! When a move pays is `--migrate` ([`MigrateMode`]): by default (`auto`)
//! only while the connection's worker waits for a CPU
//! ([`crate::pinning::Contention`], read from the kernel's run-queue delay
//! every 100 ms). Then every hop between threads also waits for a CPU,
//! twice, and one worker doing a client's whole work is cheaper. On cores
//! of their own the workers share a hot key's parsing and replies better
//! by forwarding, so its clients stay spread.
//!
//! Nothing is in flight at the move (the batch's forwarded operations were
//! answered before its replies were written), so the order of a client's
//! commands holds. Connections on a worker's own core port stay where they
//! are (that port names the worker), as do those of a worker that is
//! shutting down; a move that reaches a worker no longer serving closes
//! the connection, as shutdown would have.

use super::auth::AuthState;
use super::plan::Affinity;
use super::Connection;
use crate::clients::ClientSlot;
use crate::reply::Dialect;
use crate::worker::WorkerCtx;
use std::rc::Rc;

/// `--migrate`: when a connection whose keys all live on another worker
/// moves there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum MigrateMode {
    /// While its worker waits for a CPU (the machine's cores are busier
    /// than the workers alone would make them).
    #[default]
    Auto,
    /// Always, after `--migrate-after` operations.
    Always,
    /// Never.
    Never,
}

impl MigrateMode {
    /// True if a connection whose streak is long enough moves now, on a
    /// worker whose run-queue wait says `contended`.
    pub fn moves(self, contended: bool) -> bool {
        match self {
            Self::Auto => contended,
            Self::Always => true,
            Self::Never => false,
        }
    }
}

/// A connection on its way to another worker. `Send`: it travels as mail.
pub struct Migrant {
    socket: std::net::TcpStream,
    client_id: u64,
    dialect: Dialect,
    resp_only: bool,
    auth: AuthState,
    name: Option<Vec<u8>>,
    created: std::time::Instant,
    no_evict: bool,
    slot: ClientSlot,
}

impl std::fmt::Debug for Migrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Migrant")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// Operations in a row that went to one other worker.
#[derive(Debug, Default)]
pub(super) struct Streak {
    to: usize,
    ops: u64,
}

impl Streak {
    /// Counts a batch that forwarded `ops` operations, all of them to
    /// where `affinity` says.
    pub(super) fn note(&mut self, affinity: Affinity, ops: u64) {
        match affinity {
            Affinity::Neutral => {}
            Affinity::Remote(p) if p == self.to => self.ops += ops,
            Affinity::Remote(p) => *self = Self { to: p, ops },
            Affinity::Mixed => self.ops = 0,
        }
    }
}

impl Connection {
    /// The worker this connection should move to now, if any.
    pub(super) fn migration_target(&self) -> Option<usize> {
        let after = self.ctx.limits.migrate_after;
        let ready = after > 0
            && self.streak.ops >= after
            && self
                .ctx
                .limits
                .migrate
                .moves(self.ctx.partition.borrow_mut().stats.contended > 0)
            && self.streak.to != self.ctx.id
            && !self.core_port
            && !self.stream.is_tls()
            && self.dialect.is_some()
            && self.rbuf.is_empty()
            && self.out.is_empty()
            && self.watching.is_none()
            && self.resp.is_idle()
            && self.text.is_idle()
            && !self.auth.protected
            && !self.ctx.mesh.is_closed(self.streak.to);
        ready.then_some(self.streak.to)
    }

    /// True if the connection should stop here and move: it holds the
    /// target and a duplicate of its socket. Without a descriptor to spare
    /// (`EMFILE`) it stays and counts its streak again.
    pub(super) fn prepare_move(&mut self) -> bool {
        let Some(to) = self.migration_target() else {
            return false;
        };
        match self.stream.duplicate() {
            Ok(socket) => {
                self.moving = Some((to, socket));
                true
            }
            Err(e) => {
                tracing::debug!(error = %e, "connection stays: no duplicate of its socket");
                self.streak = Streak::default();
                false
            }
        }
    }

    /// What the other worker needs to go on serving this client over
    /// `socket` (this connection's own descriptor closes when it drops).
    pub(super) fn take_migrant(
        &mut self,
        socket: std::net::TcpStream,
        slot: ClientSlot,
    ) -> Migrant {
        Migrant {
            socket,
            client_id: self.client_id,
            dialect: self.dialect.expect("checked by migration_target"),
            resp_only: self.resp_only,
            auth: self.auth.clone(),
            name: self.resp.name.take(),
            created: self.info.created(),
            no_evict: self.ctx.client_table.borrow().no_evict(self.table_index),
            slot,
        }
    }
}

/// Serves a client that moved here from another worker, if this worker
/// still accepts (else the socket closes).
pub fn resume(ctx: &Rc<WorkerCtx>, migrant: Migrant) {
    let Some((stops, alive)) = ctx.accepting() else {
        return;
    };
    let ctx = Rc::clone(ctx);
    tokio::task::spawn_local(crate::panic_policy::Supervised::new(async move {
        let Ok(socket) = tokio::net::TcpStream::from_std(migrant.socket) else {
            return;
        };
        let mut conn = Connection::with_state(
            ctx,
            super::Stream::Plain(socket),
            migrant.client_id,
            migrant.auth,
        );
        conn.dialect = Some(migrant.dialect);
        conn.plan.set_dialect(migrant.dialect);
        conn.resp_only = migrant.resp_only;
        conn.info.resumed(migrant.created, migrant.name.as_deref());
        conn.resp.name = migrant.name;
        conn.note_client_state();
        if migrant.no_evict {
            conn.ctx
                .client_table
                .borrow_mut()
                .set_no_evict(conn.table_index, true);
        }
        conn.ctx
            .partition
            .borrow_mut()
            .stats
            .connections_migrated_in += 1;
        super::serve_connection(conn, stops, migrant.slot).await;
        drop(alive);
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streak_counts_batches_that_all_went_to_one_other_worker() {
        let mut s = Streak::default();
        s.note(Affinity::Remote(2), 16);
        s.note(Affinity::Neutral, 0);
        s.note(Affinity::Remote(2), 16);
        assert_eq!((s.to, s.ops), (2, 32), "keyless batches keep the streak");
        s.note(Affinity::Remote(1), 5);
        assert_eq!((s.to, s.ops), (1, 5), "another worker starts over");
        s.note(Affinity::Mixed, 3);
        assert_eq!(s.ops, 0, "an operation here ends it");
        s.note(Affinity::Remote(1), 7);
        assert_eq!((s.to, s.ops), (1, 7));
    }
}
