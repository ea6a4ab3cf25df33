//! The mesh: one bounded inbox per worker, through which workers reach each
//! other's partitions. The only way state crosses threads.
//!
//! A worker does not send each request on its own: requests and replies for
//! another worker collect in an outbox during one turn of the event loop and
//! leave as one message ([`Letter`]), so many connections forwarding at once
//! cost one channel push and one wake-up per destination, not one per
//! request. Batch replies return the same way, so a forwarded command costs
//! no cross-thread wake-up of its own in either direction.
//!
//! Inboxes are bounded: a sender that finds one full awaits (its task
//! yields, the worker thread keeps running), which is backpressure, never a
//! blocked thread. A worker's inbox loop never waits to send, so a full
//! inbox cannot deadlock two workers.
//!
//! A letter that cannot be delivered (the receiving worker's inbox is gone)
//! must not leave anyone waiting: its requests' oneshots are dropped with
//! it, and the batches' reply slots are failed ([`Outbox::fail_slots_to`]),
//! so every waiting connection or coordinator sees an error.

use crate::connection::registry::{ClientAnswer, ClientQuery};
use crate::partition::{BatchReply, OpBatch, Request};
use std::cell::{Cell, RefCell};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Letters an inbox holds before senders wait.
pub const INBOX_CAPACITY: usize = 1024;

/// One item of a letter.
#[derive(Debug)]
pub enum Mail {
    /// A request whose answer (if any) comes back on its own oneshot.
    Request(Request),
    /// A batch of plain operations; the reply comes back in a later letter
    /// as `Replies`, tagged with `slot`.
    Batch {
        batch: Box<OpBatch>,
        from: usize,
        slot: u32,
    },
    /// Replies to batches this worker sent: `(slot, reply)`.
    Replies(Vec<(u32, BatchReply)>),
    /// A question about the receiving worker's connections (`CLIENT
    /// LIST`, `CLIENT KILL`), answered by the worker, not its partition.
    Clients(ClientQuery, oneshot::Sender<ClientAnswer>),
    /// A client connection moving to the receiving worker
    /// (`connection/migrate.rs`).
    Migrant(Box<crate::connection::migrate::Migrant>),
}

/// Everything one worker sends another in one go, in order.
pub type Letter = Vec<Mail>;

#[derive(Clone)]
pub struct Mesh {
    inboxes: Arc<[mpsc::Sender<Letter>]>,
}

impl Mesh {
    /// A mesh of `n` inboxes and their receiving ends, in worker order.
    pub fn new(n: usize) -> (Self, Vec<mpsc::Receiver<Letter>>) {
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..n).map(|_| mpsc::channel(INBOX_CAPACITY)).unzip();
        let mesh = Self {
            inboxes: senders.into(),
        };
        (mesh, receivers)
    }

    pub fn len(&self) -> usize {
        self.inboxes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inboxes.is_empty()
    }

    /// Delivers `letter` to worker `to`'s inbox, or gives it back if that
    /// inbox is closed (the worker stopped or its inbox task died).
    pub async fn send(&self, to: usize, letter: Letter) -> Result<(), Undelivered> {
        self.inboxes[to]
            .send(letter)
            .await
            .map_err(|e| Undelivered(e.0))
    }

    /// True once worker `to` no longer receives letters.
    pub fn is_closed(&self, to: usize) -> bool {
        self.inboxes[to].is_closed()
    }
}

/// A letter whose receiver is gone.
#[derive(Debug, thiserror::Error)]
#[error("worker's inbox is closed; letter of {} items not delivered", .0.len())]
pub struct Undelivered(pub Letter);

/// A worker's side of the mesh, on its own thread: letters being collected
/// for each destination, and the reply slots of batches sent away.
pub struct Outbox {
    letters: RefCell<Vec<Letter>>,
    /// A flush task is scheduled or running.
    flushing: Cell<bool>,
    slots: RefCell<Slots>,
}

/// A batch sent away: who answers it, and who waits for the answer.
type Waiting = (usize, oneshot::Sender<BatchReply>);

#[derive(Default)]
struct Slots {
    waiting: Vec<Option<Waiting>>,
    free: Vec<u32>,
}

impl Outbox {
    pub fn new(workers: usize) -> Self {
        Self {
            letters: RefCell::new((0..workers).map(|_| Vec::new()).collect()),
            flushing: Cell::new(false),
            slots: RefCell::default(),
        }
    }

    /// Adds `mail` to the letter for `to`. True if the caller must schedule
    /// a flush (none is pending).
    pub fn post(&self, to: usize, mail: Mail) -> bool {
        self.letters.borrow_mut()[to].push(mail);
        !self.flushing.replace(true)
    }

    /// Takes every non-empty letter; when there is none, the flush is over.
    pub fn take_letters(&self) -> Vec<(usize, Letter)> {
        let mut letters = self.letters.borrow_mut();
        let taken: Vec<(usize, Letter)> = letters
            .iter_mut()
            .enumerate()
            .filter(|(_, l)| !l.is_empty())
            .map(|(to, l)| (to, std::mem::take(l)))
            .collect();
        if taken.is_empty() {
            self.flushing.set(false);
        }
        taken
    }

    /// True while letters wait or a flush runs.
    pub fn is_busy(&self) -> bool {
        self.flushing.get()
    }

    /// Parks `reply` until the batch sent to worker `to`, tagged with the
    /// returned slot, returns.
    pub fn reserve_slot(&self, to: usize, reply: oneshot::Sender<BatchReply>) -> u32 {
        let mut slots = self.slots.borrow_mut();
        match slots.free.pop() {
            Some(slot) => {
                slots.waiting[slot as usize] = Some((to, reply));
                slot
            }
            None => {
                slots.waiting.push(Some((to, reply)));
                (slots.waiting.len() - 1) as u32
            }
        }
    }

    /// Hands a returned batch reply to whoever waits in `slot`.
    pub fn complete(&self, slot: u32, reply: BatchReply) {
        let mut slots = self.slots.borrow_mut();
        if let Some((_, tx)) = slots.waiting.get_mut(slot as usize).and_then(Option::take) {
            let _ = tx.send(reply);
            slots.free.push(slot);
        }
    }

    /// Fails `slot`: its waiter sees the reply channel closed (an error).
    /// The slot is not reused, so a reply that still turns up is dropped
    /// rather than handed to a later batch.
    pub fn fail_slot(&self, slot: u32) {
        let mut slots = self.slots.borrow_mut();
        if let Some(entry) = slots.waiting.get_mut(slot as usize) {
            *entry = None;
        }
    }

    /// Fails every batch waiting on worker `to` (its inbox is gone, so no
    /// reply will come); returns how many. Their slots are not reused.
    pub fn fail_slots_to(&self, to: usize) -> usize {
        let mut slots = self.slots.borrow_mut();
        let mut failed = 0;
        for entry in &mut slots.waiting {
            if entry.as_ref().is_some_and(|(dest, _)| *dest == to) {
                *entry = None;
                failed += 1;
            }
        }
        failed
    }

    /// True if some batch sent to worker `to` still waits for its reply.
    pub fn awaits(&self, to: usize) -> bool {
        let slots = self.slots.borrow();
        slots.waiting.iter().flatten().any(|(dest, _)| *dest == to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_collect_per_destination_until_taken() {
        let out = Outbox::new(3);
        assert!(
            out.post(2, Mail::Replies(Vec::new())),
            "first post schedules a flush"
        );
        assert!(!out.post(2, Mail::Replies(Vec::new())));
        assert!(!out.post(0, Mail::Replies(Vec::new())));
        let letters = out.take_letters();
        let sizes: Vec<(usize, usize)> = letters.iter().map(|(to, l)| (*to, l.len())).collect();
        assert_eq!(sizes, [(0, 1), (2, 2)]);
        assert!(out.is_busy(), "still flushing until a take finds nothing");
        assert!(out.take_letters().is_empty());
        assert!(!out.is_busy());
        assert!(out.post(1, Mail::Replies(Vec::new())));
    }

    #[test]
    fn slots_are_completed_once_and_reused() {
        let out = Outbox::new(1);
        let (tx, mut rx) = oneshot::channel();
        let slot = out.reserve_slot(0, tx);
        out.complete(slot, BatchReply::default());
        assert!(rx.try_recv().is_ok());
        out.complete(slot, BatchReply::default());
        let (tx2, _rx2) = oneshot::channel();
        assert_eq!(out.reserve_slot(0, tx2), slot);
    }

    #[test]
    fn a_letter_to_a_closed_inbox_comes_back() {
        let (mesh, mut inboxes) = Mesh::new(2);
        assert!(!mesh.is_closed(1));
        drop(inboxes.pop());
        assert!(mesh.is_closed(1) && !mesh.is_closed(0));
        let letter = vec![Mail::Replies(Vec::new()), Mail::Replies(Vec::new())];
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let lost = runtime.block_on(mesh.send(1, letter)).unwrap_err();
        assert_eq!(
            lost.0.len(),
            2,
            "the whole letter, for its requests to fail"
        );
        assert!(runtime.block_on(mesh.send(0, Vec::new())).is_ok());
    }

    #[test]
    fn slots_waiting_on_a_lost_worker_fail() {
        let out = Outbox::new(3);
        let (tx1, mut rx1) = oneshot::channel();
        let (tx2, mut rx2) = oneshot::channel();
        let (tx3, mut rx3) = oneshot::channel();
        let s1 = out.reserve_slot(1, tx1);
        out.reserve_slot(2, tx2);
        let s3 = out.reserve_slot(1, tx3);
        assert!(out.awaits(1));
        assert_eq!(out.fail_slots_to(1), 2);
        assert!(!out.awaits(1) && out.awaits(2));
        use oneshot::error::TryRecvError::{Closed, Empty};
        assert_eq!(rx1.try_recv().unwrap_err(), Closed);
        assert_eq!(rx3.try_recv().unwrap_err(), Closed);
        assert_eq!(rx2.try_recv().unwrap_err(), Empty);
        // Failed slots are not reused: a late reply to one is dropped.
        let (tx4, mut rx4) = oneshot::channel();
        let s4 = out.reserve_slot(2, tx4);
        assert!(s4 != s1 && s4 != s3);
        out.complete(s1, BatchReply::default());
        assert_eq!(rx4.try_recv().unwrap_err(), Empty);
        let (tx5, mut rx5) = oneshot::channel();
        let s5 = out.reserve_slot(0, tx5);
        out.fail_slot(s5);
        assert_eq!(rx5.try_recv().unwrap_err(), Closed);
    }
}
