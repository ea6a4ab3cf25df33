//! A batch of plain (non-transactional) operations for one partition, and
//! its encoded replies.
//!
//! A connection groups the commands it read in one go by owning partition and
//! sends each group as one `OpBatch`: one allocation for all keys and values,
//! one message, one wake-up. The owner appends each encoded response to one
//! `BatchReply` buffer, so replies travel back as one allocation too.

use std::ops::Range;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Get,
    Put,
    Del,
}

#[derive(Debug, Clone)]
struct Op {
    kind: OpKind,
    key: Range<u32>,
    value: Range<u32>,
}

/// Operations in command order, their bytes packed in one buffer.
#[derive(Debug, Default)]
pub struct OpBatch {
    data: Vec<u8>,
    ops: Vec<Op>,
    /// Operations already executed (a batch can wait on a locked key).
    pub(super) next: usize,
    pub(super) reply: BatchReply,
}

impl OpBatch {
    pub fn push(&mut self, kind: OpKind, key: &[u8], value: &[u8]) {
        let key = self.append(key);
        let value = self.append(value);
        self.ops.push(Op { kind, key, value });
    }

    fn append(&mut self, bytes: &[u8]) -> Range<u32> {
        let start = self.data.len() as u32;
        self.data.extend_from_slice(bytes);
        start..self.data.len() as u32
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The next unexecuted operation `(kind, key, value)`, and the reply to
    /// encode its response into.
    pub(super) fn next_op(&mut self) -> Option<(OpKind, &[u8], &[u8], &mut BatchReply)> {
        let op = self.ops.get(self.next)?;
        let data = &self.data;
        let bytes = |r: &Range<u32>| &data[r.start as usize..r.end as usize];
        Some((op.kind, bytes(&op.key), bytes(&op.value), &mut self.reply))
    }

    pub(super) fn into_reply(self) -> BatchReply {
        self.reply
    }
}

/// Encoded responses, one segment per operation, in order.
#[derive(Debug, Default)]
pub struct BatchReply {
    pub(super) out: Vec<u8>,
    ends: Vec<u32>,
}

impl BatchReply {
    /// Appends one response: `encode` writes it to the buffer.
    pub fn push_with(&mut self, encode: impl FnOnce(&mut Vec<u8>)) {
        encode(&mut self.out);
        self.ends.push(self.out.len() as u32);
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The responses in order, one per operation.
    pub fn segments(&self) -> Segments<'_> {
        Segments {
            reply: self,
            index: 0,
            start: 0,
        }
    }
}

/// Iterator over a [`BatchReply`]'s responses.
pub struct Segments<'a> {
    reply: &'a BatchReply,
    index: usize,
    start: usize,
}

impl<'a> Iterator for Segments<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let end = *self.reply.ends.get(self.index)? as usize;
        let seg = &self.reply.out[self.start..end];
        self.index += 1;
        self.start = end;
        Some(seg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_round_trip_in_order() {
        let mut b = OpBatch::default();
        b.push(OpKind::Put, b"k1", b"v1");
        b.push(OpKind::Get, b"k2", b"");
        assert_eq!(b.len(), 2);
        let peek = |b: &mut OpBatch| {
            b.next_op()
                .map(|(k, key, v, _)| (k, key.to_vec(), v.to_vec()))
        };
        assert_eq!(
            peek(&mut b),
            Some((OpKind::Put, b"k1".to_vec(), b"v1".to_vec()))
        );
        b.next = 1;
        assert_eq!(peek(&mut b), Some((OpKind::Get, b"k2".to_vec(), vec![])));
        b.next = 2;
        assert_eq!(peek(&mut b), None);
    }

    #[test]
    fn reply_segments() {
        let mut r = BatchReply::default();
        r.push_with(|o| o.extend_from_slice(b"one\n"));
        r.push_with(|_| {});
        r.push_with(|o| o.extend_from_slice(b"three\n"));
        let segs: Vec<_> = r.segments().collect();
        assert_eq!(segs, [&b"one\n"[..], b"", b"three\n"]);
    }
}
