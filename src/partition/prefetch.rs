//! Starting the cache misses of lookups ahead of the operations that make
//! them.
//!
//! A lookup in a big store (or a big hash or set) waits for memory three
//! or four times in a row: the table's control bytes, its bucket, the slab
//! word, the entry. One operation cannot overlap these (each read needs
//! the one before), but the operations of a pipelined batch are
//! independent, so a pass that starts all their loads first lets their
//! misses overlap, and the operations that follow find their data in
//! cache. Two callers build the list of what is ahead: a batch of
//! operations before it runs (`Partition::run_batch`, forwarded or
//! committed operations), and a client's read buffer before its requests
//! are parsed one by one (`connection::resp`, for the operations that run
//! on the connection's own worker). Prefetching is a hint only: a wrong or
//! stale guess costs a few loads and changes nothing.

use super::coll::{hash::HashCmd, pack, set::SetCmd};
use super::{OpBatch, OpKind, OpRef, Partition};

/// Lists shorter than this are not prefetched: one or two lookups gain
/// nothing from overlapping.
pub const PREFETCH_MIN_OPS: usize = 4;
/// Stores (and hashes and sets) with fewer keys (elements) than this, whose
/// index, slab and entries fit in a core's caches, are not prefetched.
pub const PREFETCH_MIN_KEYS: usize = 1 << 16;
/// Partitions holding collections but fewer bytes than this have no hash
/// or set of `PREFETCH_MIN_KEYS` elements (at least about 29 bytes each:
/// the element's 16-byte allocation, its slab word and index bucket).
pub const PREFETCH_MIN_BYTES: usize = 1 << 20;
/// Most lookups one prefetch pass starts (about what a core keeps in
/// flight, with room for the loads of the pass itself).
pub const PREFETCH_WINDOW: usize = 64;

/// What an operation ahead will look up: its key, and the field or member
/// it reads or writes in the key's hash or set, if any.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ahead<'a> {
    pub key: &'a [u8],
    pub member: Option<&'a [u8]>,
}

impl<'a> Ahead<'a> {
    /// What `op` will look up.
    pub fn of_op(op: &OpRef<'a>) -> Self {
        let first = || pack::Iter::new(op.value).next();
        let member = match op.kind {
            OpKind::Hash(HashCmd::Get | HashCmd::Exists | HashCmd::Strlen | HashCmd::IncrBy(_))
            | OpKind::SetType(SetCmd::IsMember) => Some(op.value),
            OpKind::Hash(
                HashCmd::Set { .. } | HashCmd::SetNx | HashCmd::Del | HashCmd::IncrByFloat,
            )
            | OpKind::SetType(SetCmd::Add | SetCmd::Rem) => first(),
            _ => None,
        };
        Self {
            key: op.key,
            member,
        }
    }

    /// What the request `args` (command name first) will look up, for the
    /// single-key commands worth prefetching: the string commands that
    /// read or write one key, and the hash and set commands that read or
    /// write one field or member (the first, for several). `None` for the
    /// rest.
    pub fn of_request(args: &[&'a [u8]]) -> Option<Self> {
        let (&name, &key) = (args.first()?, args.get(1)?);
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        let member = match name.len() {
            3 if is("get") || is("set") => None,
            4 if is("incr") || is("decr") => None,
            4 if is("hget") || is("hset") || is("hdel") || is("sadd") || is("srem") => {
                Some(*args.get(2)?)
            }
            6 if is("getdel") || is("incrby") || is("decrby") => None,
            7 if is("hexists") || is("hstrlen") || is("hincrby") => Some(*args.get(2)?),
            9 if is("sismember") => Some(*args.get(2)?),
            _ => return None,
        };
        Some(Self { key, member })
    }
}

impl Partition {
    /// True if lookups here are worth prefetching at all: the store is
    /// big, or holds collections and enough bytes that one may be big (a
    /// hash or set of `PREFETCH_MIN_KEYS` elements takes more than
    /// `PREFETCH_MIN_BYTES`); a small partition stays in cache, and its
    /// clients' requests are not parsed twice for nothing.
    pub fn wants_prefetch(&self) -> bool {
        self.store.len() >= PREFETCH_MIN_KEYS
            || (self.store.has_collections() && self.store.memory() >= PREFETCH_MIN_BYTES)
    }

    /// Starts loading what the lookups of `ahead` (in the order they will
    /// run) will read: each big hash's or set's fields or members, for
    /// stretches of `PREFETCH_MIN_OPS` or more lookups in one key, and
    /// the keys themselves in a big store, repeated keys (one hot key's
    /// pipeline) probed once.
    pub fn prefetch(&self, ahead: &[Ahead<'_>]) {
        if ahead.len() < PREFETCH_MIN_OPS {
            return;
        }
        if self.store.has_collections() {
            self.prefetch_members(ahead);
        }
        if self.store.len() < PREFETCH_MIN_KEYS {
            return;
        }
        let mut last: &[u8] = &[];
        self.store.prefetch(ahead.iter().filter_map(|a| {
            if a.key == last {
                return None;
            }
            last = a.key;
            Some(a.key)
        }));
    }

    /// Prefetches for the operations of `batch` from `from` on, at most
    /// `PREFETCH_WINDOW` of them; returns where the window ends (the
    /// batch runs the next window's prefetch when it gets there).
    pub(super) fn prefetch_batch(&self, batch: &OpBatch, from: usize) -> usize {
        let end = batch.len().min(from + PREFETCH_WINDOW);
        let mut ahead = [Ahead::default(); PREFETCH_WINDOW];
        for (slot, i) in ahead.iter_mut().zip(from..end) {
            *slot = Ahead::of_op(&batch.op(i));
        }
        self.prefetch(&ahead[..end - from]);
        end
    }

    fn prefetch_members(&self, ahead: &[Ahead<'_>]) {
        let mut i = 0;
        while i < ahead.len() {
            let key = ahead[i].key;
            let mut j = i + 1;
            if ahead[i].member.is_some() {
                while j < ahead.len() && ahead[j].key == key && ahead[j].member.is_some() {
                    j += 1;
                }
                if j - i >= PREFETCH_MIN_OPS {
                    let dict = self.store.big_dict(key);
                    if let Some(dict) = dict.filter(|d| d.len() >= PREFETCH_MIN_KEYS) {
                        dict.prefetch(ahead[i..j].iter().filter_map(|a| a.member));
                    }
                }
            }
            i = j;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(args: &[&'a str]) -> Option<Ahead<'a>> {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        Ahead::of_request(&args)
    }

    #[test]
    fn requests_name_their_lookups() {
        let key = |k: &'static str| {
            Some(Ahead {
                key: k.as_bytes(),
                member: None,
            })
        };
        let member = |k: &'static str, m: &'static str| {
            Some(Ahead {
                key: k.as_bytes(),
                member: Some(m.as_bytes()),
            })
        };
        assert_eq!(req(&["GET", "k"]), key("k"));
        assert_eq!(req(&["set", "k", "v"]), key("k"));
        assert_eq!(req(&["HSET", "h", "f", "v"]), member("h", "f"));
        assert_eq!(req(&["hget", "h", "f"]), member("h", "f"));
        assert_eq!(req(&["SAdd", "s", "m", "n"]), member("s", "m"));
        assert_eq!(req(&["SISMEMBER", "s", "m"]), member("s", "m"));
        assert_eq!(req(&["HINCRBY", "h", "f", "1"]), member("h", "f"));
        // Not prefetched: no key, several keys, or an unknown command.
        assert_eq!(req(&["PING"]), None);
        assert_eq!(req(&["GET"]), None);
        assert_eq!(req(&["HGET", "h"]), None, "malformed: no field to guess");
        assert_eq!(req(&["MGET", "a", "b"]), None);
        assert_eq!(req(&["GETX", "k"]), None);
    }

    #[test]
    fn only_big_partitions_are_prefetched() {
        use super::super::coll::pack::pack;
        let mut p = Partition::default();
        assert!(!p.wants_prefetch());
        // A small set: a collection, but the partition is small.
        let mut b = OpBatch::new(crate::reply::Dialect::Resp);
        b.push(OpKind::SetType(SetCmd::Add), b"small", &pack([&b"m"[..]]));
        p.run_batch(&mut b);
        assert!(!p.wants_prefetch());
        // A set big enough to be worth it.
        let members: Vec<String> = (0..PREFETCH_MIN_KEYS)
            .map(|i| format!("member:{i:08}"))
            .collect();
        let mut b = OpBatch::new(crate::reply::Dialect::Resp);
        for chunk in members.chunks(1000) {
            b.push(
                OpKind::SetType(SetCmd::Add),
                b"big",
                &pack(chunk.iter().map(|m| m.as_bytes())),
            );
        }
        p.run_batch(&mut b);
        assert!(
            p.store.memory() >= PREFETCH_MIN_BYTES,
            "{}",
            p.store.memory()
        );
        assert!(p.wants_prefetch());
    }

    #[test]
    fn ops_name_their_lookups() {
        let packed = pack::pack([&b"f"[..], &b"v"[..]]);
        let op = OpRef {
            kind: OpKind::Hash(HashCmd::Set { ok: false }),
            key: b"h",
            value: &packed,
        };
        assert_eq!(Ahead::of_op(&op).member, Some(&b"f"[..]));
        let op = OpRef {
            kind: OpKind::SetType(SetCmd::IsMember),
            key: b"s",
            value: b"m",
        };
        assert_eq!(Ahead::of_op(&op).member, Some(&b"m"[..]));
        let op = OpRef {
            kind: OpKind::Get,
            key: b"k",
            value: b"",
        };
        assert_eq!(
            Ahead::of_op(&op),
            Ahead {
                key: b"k",
                member: None
            }
        );
    }
}
