//! Key locks held by prepared transactions, and the wait-die rule.
//!
//! Shared locks (read-only parts: `MGET`, `EXISTS` across partitions, watched
//! keys) let other readers through and stop writers; exclusive locks stop
//! everyone. Plain commands take no lock: they only wait while a conflicting
//! one is held.

use crate::txn::TxnId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    Shared,
    Exclusive,
}

#[derive(Debug, Default)]
struct LockState {
    exclusive: Option<TxnId>,
    shared: Vec<TxnId>,
}

/// How a transaction fares against the current locks (wait-die).
#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    Granted,
    /// Every conflicting holder is younger: an older transaction may wait.
    Wait,
    /// Some conflicting holder is older: the younger transaction dies.
    Die,
}

#[derive(Default)]
pub struct Locks {
    map: hashbrown::HashMap<Box<[u8]>, LockState, ahash::RandomState>,
}

impl Locks {
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// True if a plain read (or, with `write`, a plain write) of `key` must
    /// wait.
    #[inline]
    pub fn blocks(&self, key: &[u8], write: bool) -> bool {
        if self.map.is_empty() {
            return false;
        }
        match self.map.get(key) {
            None => false,
            Some(l) => l.exclusive.is_some() || (write && !l.shared.is_empty()),
        }
    }

    /// Wait-die admission of `txn` for `keys` in `mode`.
    pub fn admit<'k>(
        &self,
        txn: TxnId,
        mode: LockMode,
        keys: impl IntoIterator<Item = &'k [u8]>,
    ) -> Admission {
        let mut admission = Admission::Granted;
        for key in keys {
            let Some(state) = self.map.get(key) else {
                continue;
            };
            let shared = match mode {
                LockMode::Exclusive => &state.shared[..],
                LockMode::Shared => &[],
            };
            for &holder in state.exclusive.iter().chain(shared) {
                if holder == txn {
                    continue;
                }
                if holder < txn {
                    return Admission::Die;
                }
                admission = Admission::Wait;
            }
        }
        admission
    }

    pub fn acquire<'k>(
        &mut self,
        txn: TxnId,
        mode: LockMode,
        keys: impl IntoIterator<Item = &'k [u8]>,
    ) {
        for key in keys {
            if !self.map.contains_key(key) {
                self.map.insert(key.into(), LockState::default());
            }
            let Some(state) = self.map.get_mut(key) else {
                continue;
            };
            match mode {
                LockMode::Exclusive => state.exclusive = Some(txn),
                LockMode::Shared if !state.shared.contains(&txn) => state.shared.push(txn),
                LockMode::Shared => {}
            }
        }
    }

    pub fn release<'k>(&mut self, txn: TxnId, keys: impl IntoIterator<Item = &'k [u8]>) {
        for key in keys {
            let Some(state) = self.map.get_mut(key) else {
                continue;
            };
            if state.exclusive == Some(txn) {
                state.exclusive = None;
            }
            state.shared.retain(|&t| t != txn);
            if state.exclusive.is_none() && state.shared.is_empty() {
                self.map.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use LockMode::*;

    fn k(s: &str) -> &[u8] {
        s.as_bytes()
    }

    #[test]
    fn shared_locks_admit_readers_and_stop_writers() {
        let mut l = Locks::default();
        l.acquire(5, Shared, [k("a")]);
        assert!(!l.blocks(k("a"), false));
        assert!(l.blocks(k("a"), true));
        assert_eq!(l.admit(6, Shared, [k("a")]), Admission::Granted);
        assert_eq!(l.admit(6, Exclusive, [k("a")]), Admission::Die);
        assert_eq!(l.admit(4, Exclusive, [k("a")]), Admission::Wait);
        l.acquire(6, Shared, [k("a")]);
        l.release(5, [k("a")]);
        assert!(l.blocks(k("a"), true));
        l.release(6, [k("a")]);
        assert!(l.is_empty());
    }

    #[test]
    fn exclusive_locks_stop_everyone_and_self_is_no_conflict() {
        let mut l = Locks::default();
        l.acquire(5, Exclusive, [k("a"), k("b")]);
        assert!(l.blocks(k("a"), false));
        assert!(!l.blocks(k("c"), true));
        assert_eq!(l.admit(5, Exclusive, [k("a")]), Admission::Granted);
        assert_eq!(l.admit(9, Shared, [k("b")]), Admission::Die);
        assert_eq!(l.admit(1, Shared, [k("c"), k("b")]), Admission::Wait);
        // Die wins over wait when holders are mixed.
        l.acquire(7, Exclusive, [k("c")]);
        assert_eq!(l.admit(6, Exclusive, [k("c"), k("a")]), Admission::Die);
        l.release(5, [k("a"), k("b")]);
        l.release(7, [k("c")]);
        assert!(l.is_empty());
    }
}
