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

use crate::partition::{BatchReply, OpBatch, Request};
use crate::txn::TxnError;
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

    /// Delivers `letter` to worker `to`'s inbox.
    pub async fn send(&self, to: usize, letter: Letter) -> Result<(), TxnError> {
        self.inboxes[to]
            .send(letter)
            .await
            .map_err(|_| TxnError::Unavailable)
    }
}

/// A worker's side of the mesh, on its own thread: letters being collected
/// for each destination, and the reply slots of batches sent away.
pub struct Outbox {
    letters: RefCell<Vec<Letter>>,
    /// A flush task is scheduled or running.
    flushing: Cell<bool>,
    slots: RefCell<Slots>,
}

#[derive(Default)]
struct Slots {
    waiting: Vec<Option<oneshot::Sender<BatchReply>>>,
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

    /// Parks `reply` until the batch tagged with the returned slot returns.
    pub fn reserve_slot(&self, reply: oneshot::Sender<BatchReply>) -> u32 {
        let mut slots = self.slots.borrow_mut();
        match slots.free.pop() {
            Some(slot) => {
                slots.waiting[slot as usize] = Some(reply);
                slot
            }
            None => {
                slots.waiting.push(Some(reply));
                (slots.waiting.len() - 1) as u32
            }
        }
    }

    /// Hands a returned batch reply to whoever waits in `slot`.
    pub fn complete(&self, slot: u32, reply: BatchReply) {
        let mut slots = self.slots.borrow_mut();
        if let Some(tx) = slots.waiting.get_mut(slot as usize).and_then(Option::take) {
            let _ = tx.send(reply);
            slots.free.push(slot);
        }
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
        let slot = out.reserve_slot(tx);
        out.complete(slot, BatchReply::default());
        assert!(rx.try_recv().is_ok());
        out.complete(slot, BatchReply::default());
        let (tx2, _rx2) = oneshot::channel();
        assert_eq!(out.reserve_slot(tx2), slot);
    }
}
