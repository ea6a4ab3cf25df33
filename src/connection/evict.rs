//! Client eviction (Redis 7's `maxmemory-clients`): when the memory used
//! by clients passes the limit, the clients using the most are
//! disconnected until it is back under.
//!
//! Each worker keeps a table of its own connections and the bytes each
//! holds (updated by the connection when its figure changes, no lock),
//! and publishes its total in its `WorkerMemory` cell. The global figure
//! is the relaxed sum of those cells. A worker acts only on its own
//! clients, and only while it holds more than its share (`limit /
//! workers`): the shares add up to the limit, so while the total is over
//! it at least one worker is over its share and evicts, and a worker whose
//! clients stay under their share is never made to pay for another's.

use super::registry::{ClientAnswer, ClientInfo, ClientQuery, Filter};
use crate::clients::ClientLimits;
use crate::clients::WorkerMemory;
use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Poll, Waker};

/// Tells a connection it was evicted (it may be waiting on its socket).
/// Single-threaded, like the connection: a flag and the connection task's
/// waker, which costs a waiting connection no lock (a `Notify` locks its
/// waiter list on every poll).
#[derive(Default)]
pub struct EvictSignal {
    evicted: Cell<bool>,
    /// The connection's task, once it waited for the signal.
    waker: Cell<Option<Waker>>,
    /// The connection waits in a blocking command (`BLPOP`, …).
    blocked: Cell<bool>,
    /// `CLIENT UNBLOCK` asked it to stop waiting: `Some(error)`.
    unblock: Cell<Option<bool>>,
    unblock_waker: Cell<Option<Waker>>,
}

impl EvictSignal {
    pub fn is_evicted(&self) -> bool {
        self.evicted.get()
    }

    /// Resolves once the connection is evicted. Every future of one
    /// signal belongs to its connection's one task, so one waker serves.
    pub fn evicted(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(|cx| {
            if self.evicted.get() {
                return Poll::Ready(());
            }
            let waker = match self.waker.take() {
                Some(w) if w.will_wake(cx.waker()) => w,
                _ => cx.waker().clone(),
            };
            self.waker.set(Some(waker));
            Poll::Pending
        })
    }

    /// Marks the connection as waiting in a blocking command (or not).
    pub fn set_blocked(&self, on: bool) {
        self.blocked.set(on);
        if !on {
            self.unblock.set(None);
        }
    }

    /// Resolves once `CLIENT UNBLOCK` asked the blocked connection to stop
    /// waiting: with `true` if it asked for an error.
    pub fn unblocked(&self) -> impl Future<Output = bool> + '_ {
        std::future::poll_fn(|cx| {
            if let Some(error) = self.unblock.get() {
                return Poll::Ready(error);
            }
            self.unblock_waker.set(Some(cx.waker().clone()));
            Poll::Pending
        })
    }

    /// `CLIENT UNBLOCK`: true if the connection was blocked.
    fn unblock(&self, error: bool) -> bool {
        if !self.blocked.get() || self.unblock.get().is_some() {
            return false;
        }
        self.unblock.set(Some(error));
        if let Some(waker) = self.unblock_waker.take() {
            waker.wake();
        }
        true
    }

    fn evict(&self) {
        self.evicted.set(true);
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }
}

struct Entry {
    bytes: usize,
    no_evict: bool,
    signal: Rc<EvictSignal>,
    /// What `CLIENT LIST` shows of it (`registry.rs`).
    info: Rc<ClientInfo>,
}

/// A worker's connections and their memory.
#[derive(Default)]
pub struct ClientTable {
    entries: Vec<Option<Entry>>,
    free: Vec<usize>,
    /// Bytes of connections evicted but not closed yet: counted as gone,
    /// so that one eviction is not repeated while they close.
    releasing: usize,
}

impl ClientTable {
    /// Adds a connection; its index and its signal.
    pub fn register(&mut self, info: Rc<ClientInfo>) -> (usize, Rc<EvictSignal>) {
        let signal = Rc::new(EvictSignal::default());
        let entry = Some(Entry {
            bytes: 0,
            no_evict: false,
            signal: Rc::clone(&signal),
            info,
        });
        let index = match self.free.pop() {
            Some(i) => {
                self.entries[i] = entry;
                i
            }
            None => {
                self.entries.push(entry);
                self.entries.len() - 1
            }
        };
        (index, signal)
    }

    pub fn remove(&mut self, index: usize) {
        self.set_bytes(index, 0);
        if let Some(slot) = self.entries.get_mut(index) {
            if slot.take().is_some() {
                self.free.push(index);
            }
        }
    }

    pub fn set_bytes(&mut self, index: usize, bytes: usize) {
        if let Some(Some(e)) = self.entries.get_mut(index) {
            if e.signal.is_evicted() {
                self.releasing = self.releasing - e.bytes + bytes;
            }
            e.bytes = bytes;
        }
    }

    /// Whether `CLIENT NO-EVICT` is on for the connection at `index`.
    pub fn no_evict(&self, index: usize) -> bool {
        matches!(self.entries.get(index), Some(Some(e)) if e.no_evict)
    }

    /// `CLIENT NO-EVICT`.
    pub fn set_no_evict(&mut self, index: usize, on: bool) {
        if let Some(Some(e)) = self.entries.get_mut(index) {
            e.no_evict = on;
        }
    }

    /// Answers a question about this worker's clients (`CLIENT LIST`,
    /// `CLIENT KILL`).
    pub fn answer(&mut self, query: &ClientQuery) -> ClientAnswer {
        match query {
            ClientQuery::List(filter) => {
                let mut lines = String::new();
                for e in self.entries.iter().flatten() {
                    if filter.matches(&e.info) && !e.signal.is_evicted() {
                        e.info.line(e.bytes, &mut lines);
                    }
                }
                ClientAnswer::Lines(lines)
            }
            ClientQuery::Kill(filter) => ClientAnswer::Killed(self.kill(filter)),
            ClientQuery::Unblock(id, error) => ClientAnswer::Killed(
                self.entries
                    .iter()
                    .flatten()
                    .filter(|e| e.info.id == *id && e.signal.unblock(*error))
                    .count(),
            ),
        }
    }

    /// Closes the matching clients (as eviction does: the signal ends them
    /// at their next check or wakes them from a wait); how many.
    fn kill(&mut self, filter: &Filter) -> usize {
        let mut killed = 0;
        for e in self.entries.iter_mut().flatten() {
            if filter.matches(&e.info) && !e.signal.is_evicted() {
                e.signal.evict();
                self.releasing += e.bytes;
                killed += 1;
            }
        }
        killed
    }

    /// Evicts the clients using the most memory until at least `excess`
    /// bytes will be released (or no client may be evicted); returns how
    /// many were evicted.
    fn evict(&mut self, excess: usize) -> u64 {
        let mut released = 0;
        let mut evicted = 0;
        while released < excess {
            let victim = self
                .entries
                .iter_mut()
                .flatten()
                .filter(|e| !e.no_evict && !e.signal.is_evicted() && e.bytes > 0)
                .max_by_key(|e| e.bytes);
            let Some(victim) = victim else {
                break;
            };
            victim.signal.evict();
            released += victim.bytes;
            self.releasing += victim.bytes;
            evicted += 1;
        }
        evicted
    }
}

/// Applies `maxmemory-clients` on one worker (see the module comment);
/// returns how many clients it evicted. Cheap when nothing is to be done:
/// one atomic load without a limit, one more while the worker is under
/// its share; the other workers' cells are read only past it.
pub fn enforce(
    limits: &ClientLimits,
    own: &WorkerMemory,
    table: &mut ClientTable,
    workers: usize,
) -> u64 {
    let Some(limit) = limits.client_eviction_limit() else {
        return 0;
    };
    let share = limit / workers.max(1);
    let local = own
        .connections
        .load(Relaxed)
        .saturating_sub(table.releasing);
    if local <= share {
        return 0;
    }
    let total = limits.connections_memory().saturating_sub(table.releasing);
    if total <= limit {
        return 0;
    }
    table.evict((total - limit).min(local - share))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::{MaxmemoryClients, OutputLimit};

    fn info(id: u64) -> Rc<ClientInfo> {
        Rc::new(ClientInfo::new(id, None, None, -1, "default"))
    }

    /// Counts its wake-ups.
    struct Count(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Count {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, Relaxed);
        }
    }

    #[test]
    fn a_waiting_connection_is_woken_by_its_eviction() {
        let signal = EvictSignal::default();
        let count = std::sync::Arc::new(Count(Default::default()));
        let waker = Waker::from(count.clone());
        let mut cx = std::task::Context::from_waker(&waker);
        let mut waiting = std::pin::pin!(signal.evicted());
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        // Polled again (every wait of the connection's loop): no new wake.
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        assert_eq!(count.0.load(Relaxed), 0);
        signal.evict();
        assert_eq!(count.0.load(Relaxed), 1);
        assert!(waiting.as_mut().poll(&mut cx).is_ready());
        // A later wait (a write) ends at once.
        assert!(std::pin::pin!(signal.evicted()).poll(&mut cx).is_ready());
    }

    #[test]
    fn kill_closes_the_matching_clients_and_counts_their_bytes_released() {
        let mut t = ClientTable::default();
        let (a, sa) = t.register(info(1));
        let (_, sb) = t.register(info(2));
        t.set_bytes(a, 100);
        let filter = Filter {
            ids: Some(vec![1]),
            ..Filter::default()
        };
        assert!(matches!(
            t.answer(&ClientQuery::Kill(filter.clone())),
            ClientAnswer::Killed(1)
        ));
        assert!(sa.is_evicted() && !sb.is_evicted());
        assert_eq!(t.releasing, 100);
        // A client being closed is not listed, nor killed twice.
        assert!(matches!(
            t.answer(&ClientQuery::Kill(filter.clone())),
            ClientAnswer::Killed(0)
        ));
        let ClientAnswer::Lines(lines) = t.answer(&ClientQuery::List(Filter::default())) else {
            panic!("lines")
        };
        assert!(
            lines.starts_with("id=2 ") && lines.lines().count() == 1,
            "{lines}"
        );
        t.remove(a);
        assert_eq!(t.releasing, 0);
    }

    fn limits(workers: usize) -> ClientLimits {
        let l = ClientLimits::new(100, 0, OutputLimit::parse("0 0 0").unwrap(), 1 << 20)
            .with_memory(0, workers);
        l.set_maxmemory_clients(MaxmemoryClients::Bytes(1 << 20));
        l
    }

    #[test]
    fn evicts_the_biggest_until_under_the_limit() {
        let l = limits(1);
        let own = l.worker_memory(0);
        let mut t = ClientTable::default();
        let clients: Vec<_> = (0..4).map(|i| t.register(info(i))).collect();
        let sizes = [300 << 10, 700 << 10, 200 << 10, 100 << 10];
        for ((i, _), &b) in clients.iter().zip(&sizes) {
            t.set_bytes(*i, b);
        }
        own.connections.store(sizes.iter().sum(), Relaxed);
        // 1300 KiB against 1 MiB: evicting the 700 KiB one is enough.
        assert_eq!(enforce(&l, &own, &mut t, 1), 1);
        let evicted: Vec<bool> = clients.iter().map(|(_, s)| s.is_evicted()).collect();
        assert_eq!(evicted, [false, true, false, false]);
        // Until it closes, its bytes count as released: no second victim.
        assert_eq!(enforce(&l, &own, &mut t, 1), 0);
        t.remove(clients[1].0);
        own.connections.store(600 << 10, Relaxed);
        assert_eq!(t.releasing, 0);
        assert_eq!(enforce(&l, &own, &mut t, 1), 0);
    }

    #[test]
    fn no_evict_clients_are_skipped() {
        let l = limits(1);
        let own = l.worker_memory(0);
        let mut t = ClientTable::default();
        let (a, sa) = t.register(info(0));
        let (b, sb) = t.register(info(0));
        t.set_bytes(a, 2 << 20);
        t.set_bytes(b, 512 << 10);
        t.set_no_evict(a, true);
        own.connections.store((2 << 20) + (512 << 10), Relaxed);
        assert_eq!(enforce(&l, &own, &mut t, 1), 1);
        assert!(!sa.is_evicted() && sb.is_evicted());
        // Nothing else may go: it stops rather than loop.
        own.connections.store(2 << 20, Relaxed);
        t.remove(b);
        assert_eq!(enforce(&l, &own, &mut t, 1), 0);
    }

    #[test]
    fn a_worker_under_its_share_evicts_nobody() {
        let l = limits(2);
        let (w0, w1) = (l.worker_memory(0), l.worker_memory(1));
        let mut t0 = ClientTable::default();
        let (a, sa) = t0.register(info(0));
        t0.set_bytes(a, 400 << 10);
        w0.connections.store(400 << 10, Relaxed);
        // Worker 1's clients put the total over 1 MiB.
        w1.connections.store(900 << 10, Relaxed);
        assert_eq!(enforce(&l, &w0, &mut t0, 2), 0, "400 KiB < 512 KiB share");
        assert!(!sa.is_evicted());
        let mut t1 = ClientTable::default();
        let (b, sb) = t1.register(info(1));
        t1.set_bytes(b, 900 << 10);
        assert_eq!(enforce(&l, &w1, &mut t1, 2), 1);
        assert!(sb.is_evicted());
    }
}
