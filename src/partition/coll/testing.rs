//! What the collection unit tests (`set_tests`, `zset_tests`,
//! `list_tests`) share: the RESP replies they decode (every type their
//! commands answer, in RESP2 and RESP3) and the harness that runs a
//! command on a store as a partition would.

use super::super::expiry::Expiry;
use super::super::movekey::pack_keys;
use super::super::ops::{Env, Outcome};
use super::super::store::Store;
use super::{pack, Limits};
use crate::resp::encode::Proto;

/// A decoded reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Ok,
    Int(i64),
    Bulk(Vec<u8>),
    /// RESP3's double (`,`), as its text.
    Double(String),
    /// RESP2's null bulk string (`$-1`) or RESP3's `_`.
    Null,
    /// RESP2's null array (`*-1`).
    NullArray,
    Array(Vec<Reply>),
    /// RESP3's set (`~`).
    Set(Vec<Reply>),
    Error(String),
}

impl Reply {
    /// The bulk strings of an array or set reply.
    pub fn items(&self) -> Vec<Vec<u8>> {
        match self {
            Self::Array(items) | Self::Set(items) => items
                .iter()
                .map(|r| match r {
                    Self::Bulk(b) => b.clone(),
                    other => panic!("not a bulk string: {other:?}"),
                })
                .collect(),
            other => panic!("not an array: {other:?}"),
        }
    }

    /// The bulk strings of an array or set reply, sorted.
    pub fn sorted(&self) -> Vec<Vec<u8>> {
        let mut items = self.items();
        items.sort();
        items
    }
}

/// An array of bulk strings.
pub fn bulks(items: &[Vec<u8>]) -> Reply {
    Reply::Array(items.iter().cloned().map(Reply::Bulk).collect())
}

/// An error reply.
pub fn error(mesg: &str) -> Reply {
    Reply::Error(mesg.to_string())
}

/// Decodes one RESP value at the start of `buf`: it and its length.
pub fn parse(buf: &[u8]) -> (Reply, usize) {
    let eol = buf
        .windows(2)
        .position(|w| w == b"\r\n")
        .expect("a complete line");
    let line = std::str::from_utf8(&buf[1..eol]).expect("ASCII header");
    let after = eol + 2;
    match buf[0] {
        b'+' if line == "OK" => (Reply::Ok, after),
        b':' => (Reply::Int(line.parse().expect("integer")), after),
        b'_' => (Reply::Null, after),
        b',' => (Reply::Double(line.to_string()), after),
        b'-' => (Reply::Error(line.to_string()), after),
        b'$' if line == "-1" => (Reply::Null, after),
        b'*' if line == "-1" => (Reply::NullArray, after),
        b'$' => {
            let n: usize = line.parse().expect("length");
            (Reply::Bulk(buf[after..after + n].to_vec()), after + n + 2)
        }
        b'*' | b'~' => {
            let n: usize = line.parse().expect("count");
            let mut at = after;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                let (item, used) = parse(&buf[at..]);
                items.push(item);
                at += used;
            }
            let reply = if buf[0] == b'~' {
                Reply::Set(items)
            } else {
                Reply::Array(items)
            };
            (reply, at)
        }
        other => panic!("unexpected RESP type {:?}", other as char),
    }
}

/// A partition's store with what collection commands need around it (the
/// `Sets`, `ZSets` and `Lists` of the unit tests wrap one).
pub struct Harness {
    pub store: Store,
    pub expiry: Expiry,
    pub limits: Limits,
    pub proto: Proto,
    pub rng: u64,
    /// Keys the last command reported as changed.
    pub touched: Vec<Vec<u8>>,
}

/// How a command's arguments travel from the connection layer.
#[derive(Clone, Copy)]
pub enum Shape {
    /// The one argument as it is.
    Raw,
    /// Other keys, packed as keys.
    Keys,
    /// Anything else, packed.
    Packed,
}

impl Shape {
    pub fn of(raw: bool, multi: bool) -> Self {
        match (raw, multi) {
            (true, _) => Self::Raw,
            (false, true) => Self::Keys,
            (false, false) => Self::Packed,
        }
    }
}

impl Harness {
    pub fn new(limits: Limits) -> Self {
        Self {
            store: Store::default(),
            expiry: Expiry::default(),
            limits,
            proto: Proto::V2,
            rng: 0x1234_5678,
            touched: Vec::new(),
        }
    }

    /// What the partition charges a write to the collection `key` of type
    /// `code` before it runs (`Partition::growth`): the type's
    /// `growth(count, big)` of the collection as it is now, plus a new
    /// key's entry and index room.
    pub fn write_bound(
        &self,
        key: &[u8],
        code: u8,
        growth: impl FnOnce(usize, bool) -> usize,
    ) -> usize {
        let (count, big) = self
            .store
            .collection(key, code)
            .unwrap()
            .map_or((0, false), |p| (super::len(p), super::is_big(p)));
        growth(count, big)
            + super::super::entry::max_footprint(key.len(), 0)
            + self.store.insert_growth(1)
    }

    /// Runs `execute` (a type's, with its command `cmd`) on `key` with
    /// `items` as its arguments, shaped as the connection layer hands
    /// them over; the reply, decoded. A read (`read`) must touch nothing.
    pub fn run<C: std::fmt::Debug>(
        &mut self,
        cmd: C,
        read: bool,
        shape: Shape,
        key: &str,
        items: &[&[u8]],
        execute: impl for<'s> FnOnce(&'s mut Store, &mut Env<'_>, C, &[u8], &[u8]) -> Outcome<'s>,
    ) -> Reply {
        let args = match shape {
            Shape::Raw => items[0].to_vec(),
            Shape::Keys => pack_keys(items.iter().copied()),
            Shape::Packed => pack::pack(items.iter().copied()),
        };
        let what = format!("{cmd:?}");
        let mut touched = Vec::new();
        let mut on_touch = |k: &[u8]| touched.push(k.to_vec());
        let mut reply = Vec::new();
        let mut env = Env {
            expiry: &mut self.expiry,
            now: 1_000,
            touched: &mut on_touch,
            reply: &mut reply,
            proto: self.proto,
            limits: self.limits,
            rng: &mut self.rng,
        };
        let out = match execute(&mut self.store, &mut env, cmd, key.as_bytes(), &args) {
            Outcome::Ok => Some(Reply::Ok),
            Outcome::Int(n) => Some(Reply::Int(n)),
            Outcome::Value(None) => Some(Reply::Null),
            Outcome::Error(e) => Some(Reply::Error(e.to_string())),
            Outcome::Raw => None,
            other => panic!("{what}: unexpected outcome {other:?}"),
        };
        let out = out.unwrap_or_else(|| {
            let (r, used) = parse(&reply);
            assert_eq!(used, reply.len(), "one reply, nothing after it");
            r
        });
        if read {
            assert!(touched.is_empty(), "{what} is a read but touched keys");
        }
        self.touched = touched;
        out
    }
}

/// `harness_type!(Name, "doc")`: a newtype over [`Harness`] that derefs to
/// it, for a test module's own helpers.
macro_rules! harness_type {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        struct $name(Harness);

        impl std::ops::Deref for $name {
            type Target = Harness;
            fn deref(&self) -> &Harness {
                &self.0
            }
        }

        impl std::ops::DerefMut for $name {
            fn deref_mut(&mut self) -> &mut Harness {
                &mut self.0
            }
        }
    };
}
pub(super) use harness_type;
