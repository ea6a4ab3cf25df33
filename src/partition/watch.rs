//! `WATCH` bookkeeping: which connections watch which keys here, and which
//! of those watches a write has invalidated. Costs nothing while no key is
//! watched.

use std::collections::HashSet;

/// Identifies one connection's set of watches, unique across workers.
pub type WatchId = u64;

type Map<K, V> = hashbrown::HashMap<K, V, ahash::RandomState>;

#[derive(Default)]
pub struct Watches {
    by_key: Map<Box<[u8]>, Vec<WatchId>>,
    by_id: Map<WatchId, Vec<Box<[u8]>>>,
    dirty: HashSet<WatchId>,
}

impl Watches {
    pub fn watch(&mut self, id: WatchId, key: &[u8]) {
        if !self.by_key.contains_key(key) {
            self.by_key.insert(key.into(), Vec::new());
        }
        let Some(ids) = self.by_key.get_mut(key) else {
            return;
        };
        if ids.contains(&id) {
            return;
        }
        ids.push(id);
        self.by_id.entry(id).or_default().push(key.into());
    }

    /// A write to `key`: every watch on it is now dirty.
    #[inline]
    pub fn touch(&mut self, key: &[u8]) {
        if self.by_key.is_empty() {
            return;
        }
        if let Some(ids) = self.by_key.get(key) {
            self.dirty.extend(ids.iter().copied());
        }
    }

    /// Every key that `exists` changed (`FLUSHALL`, called before the
    /// store is emptied): as in Redis, a watch on a key that was not there
    /// stays clean, since emptying the store did not change it.
    pub fn touch_existing(&mut self, exists: impl Fn(&[u8]) -> bool) {
        for (key, ids) in &self.by_key {
            if exists(key) {
                self.dirty.extend(ids.iter().copied());
            }
        }
    }

    pub fn is_dirty(&self, id: WatchId) -> bool {
        self.dirty.contains(&id)
    }

    /// The keys `id` watches here.
    pub fn keys_of(&self, id: WatchId) -> &[Box<[u8]>] {
        self.by_id.get(&id).map_or(&[], Vec::as_slice)
    }

    pub fn unwatch(&mut self, id: WatchId) {
        self.dirty.remove(&id);
        for key in self.by_id.remove(&id).unwrap_or_default() {
            if let Some(ids) = self.by_key.get_mut(&key) {
                ids.retain(|&i| i != id);
                if ids.is_empty() {
                    self.by_key.remove(&key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touch_dirties_only_watchers_of_that_key() {
        let mut w = Watches::default();
        w.watch(1, b"a");
        w.watch(2, b"b");
        w.watch(1, b"a");
        assert_eq!(w.keys_of(1).len(), 1);
        w.touch(b"a");
        w.touch(b"zzz");
        assert!(w.is_dirty(1) && !w.is_dirty(2));
        w.unwatch(1);
        assert!(!w.is_dirty(1));
        w.touch(b"a");
        assert!(!w.is_dirty(1), "unwatched ids stay clean");
        w.watch(3, b"absent");
        w.touch_existing(|k| k == b"b");
        assert!(w.is_dirty(2), "an existing key was flushed");
        assert!(
            !w.is_dirty(3),
            "flushing a key that was not there changes nothing"
        );
        w.unwatch(2);
        w.unwatch(3);
        assert!(w.by_id.is_empty() && w.by_key.is_empty());
    }
}
