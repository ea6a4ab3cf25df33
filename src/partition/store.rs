//! The partition's key/value map. Plain data: no locks, no channels.

use hashbrown::hash_map::EntryRef;

/// Keys and values are owned byte strings; the map hashes with aHash (the
/// routing CRC16 is for placement only).
pub type Map = hashbrown::HashMap<Box<[u8]>, Box<[u8]>, ahash::RandomState>;

#[derive(Default)]
pub struct Store {
    map: Map,
}

impl Store {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.map.get(key).map(|v| &**v)
    }

    /// Stores a copy of `value` under `key`, reusing the existing key's
    /// allocation (and the value's, when the length is unchanged).
    pub fn put(&mut self, key: &[u8], value: &[u8]) {
        match self.map.entry_ref(key) {
            EntryRef::Occupied(mut e) if e.get().len() == value.len() => {
                e.get_mut().copy_from_slice(value);
            }
            EntryRef::Occupied(mut e) => *e.get_mut() = value.into(),
            EntryRef::Vacant(e) => {
                e.insert(value.into());
            }
        }
    }

    /// Stores an already-owned pair (a committed transaction's write) without
    /// copying it.
    pub fn put_owned(&mut self, key: Box<[u8]>, value: Box<[u8]>) {
        self.map.insert(key, value);
    }

    /// Removes `key`; true if it existed.
    pub fn del(&mut self, key: &[u8]) -> bool {
        self.map.remove(key).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_overwrite_del() {
        let mut s = Store::default();
        assert_eq!(s.get(b"a"), None);
        s.put(b"a", b"1");
        assert_eq!(s.get(b"a"), Some(&b"1"[..]));
        s.put(b"a", b"2");
        assert_eq!(s.get(b"a"), Some(&b"2"[..]));
        s.put(b"a", b"longer");
        assert_eq!(s.get(b"a"), Some(&b"longer"[..]));
        s.put_owned(b"b"[..].into(), b"x"[..].into());
        assert_eq!(s.len(), 2);
        assert!(s.del(b"a"));
        assert!(!s.del(b"a"));
        assert_eq!(s.get(b"a"), None);
        assert_eq!(s.len(), 1);
    }
}
