//! The small form of a collection's elements: byte strings one after
//! another, each `[length: LEB128][bytes]`, in one buffer (in the spirit
//! of Redis's listpack, without its back-lengths: the small forms are only
//! walked forward). A 6-byte field with a 10-byte value takes 18 bytes.

/// Appends `e` to `out`.
pub fn push(out: &mut Vec<u8>, e: &[u8]) {
    let mut n = e.len();
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out.extend_from_slice(e);
}

/// Bytes [`push`] writes for an element of `len` bytes.
pub fn encoded_len(len: usize) -> usize {
    let mut prefix = 1;
    let mut n = len;
    while n >= 0x80 {
        prefix += 1;
        n >>= 7;
    }
    prefix + len
}

/// The elements of a packed buffer, in order.
#[derive(Clone)]
pub struct Iter<'a> {
    rest: &'a [u8],
    /// Offset of `rest` in the buffer walked.
    at: usize,
}

impl<'a> Iter<'a> {
    pub fn new(body: &'a [u8]) -> Self {
        Self { rest: body, at: 0 }
    }

    /// Offset (in the buffer) of the next element's length prefix.
    pub fn offset(&self) -> usize {
        self.at
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        let mut len = 0usize;
        let mut shift = 0;
        let mut used = 0;
        loop {
            let &b = self.rest.get(used)?;
            used += 1;
            len |= usize::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift >= usize::BITS {
                return None;
            }
        }
        let end = used.checked_add(len)?;
        let e = self.rest.get(used..end)?;
        self.rest = &self.rest[end..];
        self.at += end;
        Some(e)
    }
}

thread_local! {
    /// The spare buffer of [`pack_reusing`] and [`recycle`].
    static SPARE: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Buffers [`recycle`] keeps: a command's packed arguments up to this
/// size (every common one); bigger ones are freed.
const SPARE_MAX: usize = 256;

/// As [`pack`], into the thread's spare buffer when it has room: a
/// request's arguments packed for the one operation that runs them, handed
/// back with [`recycle`] once it ran, so a pipeline of collection commands
/// allocates nothing for them. Its capacity may exceed its length, so it
/// is for buffers that do not live on.
pub fn pack_reusing<'a, I>(items: I) -> Vec<u8>
where
    I: IntoIterator<Item = &'a [u8]>,
    I::IntoIter: Clone,
{
    pack_with(items, |len| {
        let spare = SPARE.take();
        if spare.capacity() >= len {
            return spare;
        }
        SPARE.set(spare);
        Vec::with_capacity(len)
    })
}

/// Hands a buffer of [`pack_reusing`] back for the next one (kept if it is
/// small, else freed).
pub fn recycle(mut buf: Vec<u8>) {
    if buf.capacity() <= SPARE_MAX {
        buf.clear();
        SPARE.set(buf);
    }
}

/// Packs `items` into a fresh buffer (the arguments of a collection
/// command travel to the partition this way): one allocation of the exact
/// size.
pub fn pack<'a, I>(items: I) -> Vec<u8>
where
    I: IntoIterator<Item = &'a [u8]>,
    I::IntoIter: Clone,
{
    pack_with(items, Vec::with_capacity)
}

/// Packs `items` into the empty buffer `buffer(len)` gives for their
/// packed length.
fn pack_with<'a, I>(items: I, buffer: impl FnOnce(usize) -> Vec<u8>) -> Vec<u8>
where
    I: IntoIterator<Item = &'a [u8]>,
    I::IntoIter: Clone,
{
    let items = items.into_iter();
    let mut out = buffer(items.clone().map(|e| encoded_len(e.len())).sum());
    for e in items {
        push(&mut out, e);
    }
    out
}

/// Items held in place before [`Items`] goes to the heap: `HSET` of two
/// fields, `SADD` of four members, `HGET`, `SISMEMBER` and the like.
const INLINE_ITEMS: usize = 4;

/// A command's items (fields, values, members, scores) as slices of its
/// argument: in place for up to `INLINE_ITEMS` (4), the common case, so the
/// per-operation path of a collection command allocates nothing for them.
pub enum Items<'a> {
    Inline([&'a [u8]; INLINE_ITEMS], usize),
    Heap(Vec<&'a [u8]>),
}

impl<'a> Items<'a> {
    /// `args` as one item (`raw`: it travels as it is) or the elements of
    /// the packed buffer `args`.
    pub fn of(args: &'a [u8], raw: bool) -> Self {
        let mut inline: [&'a [u8]; INLINE_ITEMS] = [&[]; INLINE_ITEMS];
        if raw {
            inline[0] = args;
            return Self::Inline(inline, 1);
        }
        let mut iter = Iter::new(args);
        let mut n = 0;
        while let Some(item) = iter.next() {
            if n == INLINE_ITEMS {
                let mut all = Vec::with_capacity(2 * INLINE_ITEMS);
                all.extend_from_slice(&inline);
                all.push(item);
                all.extend(iter);
                return Self::Heap(all);
            }
            inline[n] = item;
            n += 1;
        }
        Self::Inline(inline, n)
    }
}

impl<'a> std::ops::Deref for Items<'a> {
    type Target = [&'a [u8]];

    #[inline]
    fn deref(&self) -> &[&'a [u8]] {
        match self {
            Self::Inline(items, n) => &items[..*n],
            Self::Heap(items) => items,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reused_buffers_pack_the_same_bytes() {
        let items = [&b"field"[..], b"value", b""];
        let first = pack_reusing(items);
        assert_eq!(first, pack(items));
        let at = first.as_ptr();
        recycle(first);
        // The next one fits: the same buffer, holding only its own items.
        let second = pack_reusing([&b"m"[..]]);
        assert_eq!(second, pack([&b"m"[..]]));
        assert_eq!(second.as_ptr(), at);
        recycle(second);
        // Too big for the spare: a fresh buffer; too big to keep: freed.
        let big = vec![7u8; 1000];
        let third = pack_reusing([&big[..]]);
        assert_eq!(third, pack([&big[..]]));
        assert_ne!(third.as_ptr(), at);
        recycle(third);
        let fourth = pack_reusing([&b"m"[..]]);
        assert_eq!(fourth.as_ptr(), at, "the small spare was kept");
        assert!(fourth.capacity() <= SPARE_MAX);
    }

    #[test]
    fn round_trips_every_length_class() {
        let lens = [0usize, 1, 127, 128, 300, 16_383, 16_384, 70_000];
        let items: Vec<Vec<u8>> = lens
            .iter()
            .map(|&n| (0..n).map(|i| (i * 31 % 251) as u8).collect())
            .collect();
        let buf = pack(items.iter().map(Vec::as_slice));
        let back: Vec<&[u8]> = Iter::new(&buf).collect();
        assert_eq!(back.len(), items.len());
        for (a, b) in back.iter().zip(&items) {
            assert_eq!(*a, &b[..]);
        }
        let total: usize = lens.iter().map(|&n| encoded_len(n)).sum();
        assert_eq!(total, buf.len());
    }

    #[test]
    fn a_truncated_buffer_ends_the_walk() {
        let buf = pack([&b"abc"[..], b"defgh"]);
        assert_eq!(Iter::new(&buf[..6]).count(), 1);
        assert_eq!(Iter::new(&[0x80, 0x80]).count(), 0);
    }

    #[test]
    fn items_in_place_or_on_the_heap_keep_order() {
        assert_eq!(&*Items::of(b"raw arg", true), [&b"raw arg"[..]]);
        assert!(Items::of(b"", false).is_empty());
        for n in [1usize, 3, 4, 5, 9, 300] {
            let want: Vec<Vec<u8>> = (0..n).map(|i| format!("item{i}").into_bytes()).collect();
            let buf = pack(want.iter().map(Vec::as_slice));
            let items = Items::of(&buf, false);
            assert_eq!(matches!(items, Items::Inline(..)), n <= INLINE_ITEMS, "{n}");
            let got: Vec<&[u8]> = items.iter().copied().collect();
            assert_eq!(
                got,
                want.iter().map(Vec::as_slice).collect::<Vec<_>>(),
                "{n}"
            );
        }
    }
}
