//! Sorted-set commands on a partition's store, as Redis 7.0 runs them.
//!
//! Two forms, as Redis keeps them: `listpack` (members with their scores
//! packed in the key's payload, ordered by score then member, up to
//! `zset-max-listpack-entries` members of at most
//! `zset-max-listpack-value` bytes) and `skiplist` to `OBJECT ENCODING`
//! (a [`ZSet`]: a [`Dict`] member → score and a `ZIndex` B+tree over
//! `(score, member)` for ranks and ranges). A listpack past its limits
//! becomes big for good; only the `*STORE` commands write a small result
//! as a listpack again (Redis's `zsetConvertToListpackIfNeeded`).
//!
//! A small form stores `-0` as `0` (Redis writes listpack scores as text
//! through `d2string`, which reads back as `0`); a big one keeps `-0`.

use super::super::movekey::unpack;
use super::super::ops::{Env, Outcome};
use super::super::store::Store;
use super::super::zindex::{LexBound, ScoreBound, ZIndex};
use super::{big_mut, big_payload, header, pack, score, view, Big, Dict, Limits, View, PACK, ZSET};
use crate::resp::encode::{self as enc, Proto};
use std::cmp::Ordering;
use std::ops::Range;

/// `ZADD`'s options, as bits of [`ZSetCmd::Add`]: add only new members.
pub const NX: u8 = 1;
/// Update only present members.
pub const XX: u8 = 2;
/// Update only to a greater score.
pub const GT: u8 = 4;
/// Update only to a lower score.
pub const LT: u8 = 8;
/// Answer the members added or changed.
pub const CH: u8 = 16;
/// Add to the score, answering the new one (`ZINCRBY`).
pub const INCR: u8 = 32;

/// How a range command reads its bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    /// Ranks (`ZRANGE`, `ZREMRANGEBYRANK`): the bounds are 8-byte integers.
    Rank,
    /// Scores (`x`, `(x`, `-inf`, `+inf`), as the client sent them.
    Score,
    /// Members (`[m`, `(m`, `-`, `+`), as the client sent them.
    Lex,
}

/// The operation of `ZUNION`/`ZINTER`/`ZDIFF` (and their `*STORE`s) and
/// `ZINTERCARD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOp {
    Union,
    Inter,
    Diff,
    InterCard,
}

/// `AGGREGATE SUM|MIN|MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    Sum,
    Min,
    Max,
}

/// Errors of `ZUNION`-family options, which Redis reports only once every
/// source key passed its type check ([`ZSetCmd::Combine`]'s `error`).
pub const COMBINE_ERRORS: [&str; 4] = [
    "",
    "ERR syntax error",
    "ERR weight value is not a float",
    "ERR LIMIT can't be negative",
];

/// A sorted-set command (its other arguments travel packed beside the key,
/// already checked by the connection as Redis checks them before it looks
/// the key up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZSetCmd {
    /// `ZADD`/`ZINCRBY`: the option bits; the value packs each score (8
    /// bytes, `f64` LE) and member.
    Add {
        flags: u8,
    },
    Rem,
    /// The member travels as it is.
    Score,
    MScore,
    Card,
    /// `ZCOUNT`/`ZLEXCOUNT`: the two bounds packed.
    Count(By),
    /// `ZRANK`/`ZREVRANK`: the member travels as it is.
    Rank {
        rev: bool,
    },
    /// `ZRANGE` and its older forms: the value packs min, max, the LIMIT
    /// offset and count (8 bytes each; -1: no limit).
    Range {
        by: By,
        rev: bool,
        scores: bool,
    },
    /// `ZRANGESTORE dst src …`: the key is the destination; the value packs
    /// (`movekey::pack_keys`) the source, then as [`Self::Range`].
    RangeStore {
        by: By,
        rev: bool,
    },
    /// `ZREMRANGEBY*`: the two bounds packed.
    RemRange(By),
    /// `ZPOPMIN`/`ZPOPMAX [count]`.
    Pop {
        max: bool,
        count: Option<u64>,
    },
    /// `BZPOPMIN`/`BZPOPMAX`'s attempt: one member from the first
    /// non-empty of the keys (the key, then the others packed by
    /// `movekey::pack_keys`), answered as `[key, member, score]` or a null
    /// array.
    BPop {
        max: bool,
    },
    /// `ZMPOP`/`BZMPOP numkeys key … MIN|MAX [COUNT n]`: up to `count`
    /// members from the first non-empty of the keys (the key, then the
    /// others packed by `movekey::pack_keys`), answered as `[key,
    /// [[member, score], …]]` or a null array.
    MPop {
        max: bool,
        count: u64,
    },
    /// `ZRANDMEMBER key [count [WITHSCORES]]`.
    RandMember {
        count: Option<i64>,
        scores: bool,
    },
    /// `ZSCAN key cursor [MATCH p] [COUNT n]`: the options packed.
    Scan {
        cursor: u64,
    },
    /// `ZUNION`/`ZINTER`/`ZDIFF`/`ZINTERCARD` (the key is the first source)
    /// and their `*STORE`s (`store`: the key is the destination). The value
    /// packs (`movekey::pack_keys`) `keys` more source keys, then with
    /// `weights` one weight per source (8 bytes, `f64` LE), then for
    /// `ZINTERCARD` its limit (8 bytes, `u64` LE). `error`: an index of
    /// [`COMBINE_ERRORS`] to answer once the sources are type-checked.
    Combine {
        op: SetOp,
        store: bool,
        scores: bool,
        aggregate: Aggregate,
        weights: bool,
        error: u8,
        keys: u32,
    },
}

impl ZSetCmd {
    /// True if the command never changes the store.
    pub fn is_read(self) -> bool {
        match self {
            Self::Score
            | Self::MScore
            | Self::Card
            | Self::Count(_)
            | Self::Rank { .. }
            | Self::Range { .. }
            | Self::RandMember { .. }
            | Self::Scan { .. } => true,
            Self::Combine { store, .. } => !store,
            _ => false,
        }
    }

    /// Bounded work apart from copying the arguments in or out.
    pub fn is_quick(self) -> bool {
        matches!(
            self,
            Self::Score
                | Self::Card
                | Self::Rank { .. }
                | Self::Pop { count: None, .. }
                | Self::RandMember { count: None, .. }
        )
    }

    /// Commands on several keys (the others packed in the value).
    pub fn is_multi(self) -> bool {
        matches!(
            self,
            Self::RangeStore { .. } | Self::Combine { .. } | Self::BPop { .. } | Self::MPop { .. }
        )
    }

    /// How many of the value's packed items are keys (for
    /// `movekey::extra_keys`).
    pub fn extra_keys(self) -> usize {
        match self {
            Self::RangeStore { .. } => 1,
            Self::Combine { keys, .. } => keys as usize,
            Self::BPop { .. } | Self::MPop { .. } => usize::MAX,
            _ => 0,
        }
    }

    /// The one argument after the key travels as it is.
    pub fn raw_arg(self) -> bool {
        matches!(self, Self::Score | Self::Rank { .. })
    }
}

// ------------------------------------------------------------ the big form

/// The big form: a [`Dict`] of members (each pair's value is its score,
/// 8 bytes) and a `ZIndex` over `(score, slab position)`.
#[derive(Default)]
pub struct ZSet {
    dict: Dict,
    index: ZIndex,
}

fn member_of(dict: &Dict, h: u32) -> &[u8] {
    dict.at(h as usize).expect("the index holds live members").0
}

fn score_of(bytes: &[u8]) -> f64 {
    f64::from_le_bytes(bytes.try_into().expect("8 bytes"))
}

impl ZSet {
    /// A big form of `items` (any order).
    fn of<'a>(items: impl IntoIterator<Item = (&'a [u8], f64)>) -> Self {
        let mut z = Self::default();
        for (m, s) in items {
            z.insert(m, s);
        }
        z
    }

    /// The number of members.
    pub fn len(&self) -> usize {
        self.dict.len()
    }

    /// True without members.
    pub fn is_empty(&self) -> bool {
        self.dict.is_empty()
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.dict.get(member).map(score_of)
    }

    /// Adds a member known to be absent.
    fn insert(&mut self, member: &[u8], score: f64) {
        let pos = self.dict.insert_new(member, &score.to_le_bytes());
        let dict = &self.dict;
        self.index.insert(score, pos, |h| member_of(dict, h));
    }

    /// Moves a present member from `old` to `new`.
    fn rescore(&mut self, member: &[u8], old: f64, new: f64) {
        let dict = &self.dict;
        let pos = self
            .index
            .remove(old, member, |h| member_of(dict, h))
            .expect("an indexed member");
        if let Some(v) = self.dict.value_mut_at(pos) {
            v.copy_from_slice(&new.to_le_bytes());
        }
        let dict = &self.dict;
        self.index.insert(new, pos, |h| member_of(dict, h));
    }

    /// Removes `member`; true if it was there.
    fn remove(&mut self, member: &[u8]) -> bool {
        let Some(s) = self.score(member) else {
            return false;
        };
        let dict = &self.dict;
        self.index.remove(s, member, |h| member_of(dict, h));
        self.dict.remove(member);
        true
    }

    /// Removes the members of ranks `range`; how many.
    fn remove_ranks(&mut self, range: Range<usize>) -> usize {
        let handles = self.index.remove_range(range);
        for &h in &handles {
            let m: Box<[u8]> = member_of(&self.dict, h).into();
            self.dict.remove(&m);
        }
        handles.len()
    }

    /// The 0-based rank of `member`.
    fn rank(&self, member: &[u8]) -> Option<usize> {
        let s = self.score(member)?;
        let dict = &self.dict;
        self.index.rank(s, member, |h| member_of(dict, h))
    }

    /// Calls `f` with the members of ranks `range`, ascending or (`rev`)
    /// descending, and their scores (the dict's: `-0` kept).
    fn each_in(&self, range: Range<usize>, rev: bool, f: &mut dyn FnMut(&[u8], f64)) {
        let n = range.len();
        let pair = |(_, h): (f64, u32)| {
            let (m, v) = self.dict.at(h as usize).expect("live");
            (m, score_of(v))
        };
        if rev {
            if n > 0 {
                for (m, s) in self.index.iter_rev_from(range.end - 1).take(n).map(pair) {
                    f(m, s);
                }
            }
        } else {
            for (m, s) in self.index.iter_from(range.start).take(n).map(pair) {
                f(m, s);
            }
        }
    }

    /// Bytes this form holds, as the allocator sizes them (the box of the
    /// form included; the [`Dict`] lives inside it).
    pub fn memory(&self) -> usize {
        super::super::entry::size_class(std::mem::size_of::<Self>())
            + (self.dict.memory() - std::mem::size_of::<Dict>())
            + self.index.memory()
    }

    /// Frees up to `max` members; the number freed (0 once empty). The
    /// set is being thrown away: its index goes first, at once (a B+tree
    /// frees 127 members a node).
    pub fn drain_some(&mut self, max: usize) -> usize {
        self.index.clear();
        self.dict.drain_some(max)
    }

    /// Every member with its score, in slab order (`dump`).
    pub fn pairs(&self) -> impl Iterator<Item = (&[u8], f64)> {
        self.dict.iter().map(|(m, v)| (m, score_of(v)))
    }

    /// The pair at slab position `pos` (`ZSCAN`, `ZRANDMEMBER`).
    fn at(&self, pos: usize) -> Option<(&[u8], f64)> {
        self.dict.at(pos).map(|(m, v)| (m, score_of(v)))
    }
}

/// A big payload holding `z`.
fn big_zset(z: ZSet) -> [u8; 10] {
    big_payload(ZSET, Box::new(Big::ZSet(Box::new(z))))
}

/// The collection a dump's elements (member, score, …) make again.
pub fn restore_big(count: usize, body: &[u8]) -> Big {
    let mut z = ZSet {
        dict: Dict::with_capacity(count),
        ..ZSet::default()
    };
    for (m, s) in small_items(body) {
        z.insert(m, s);
    }
    Big::ZSet(Box::new(z))
}

/// Writes the pairs of a big form as a dump body.
pub fn dump_into(z: &ZSet, out: &mut Vec<u8>) {
    for (m, s) in z.pairs() {
        pack::push(out, m);
        pack::push(out, &s.to_le_bytes());
    }
}

// ---------------------------------------------------------- the small form

/// The members and scores of a small body (or a dump's), in order.
fn small_items(body: &[u8]) -> Vec<(&[u8], f64)> {
    let mut it = pack::Iter::new(body);
    let mut out = Vec::new();
    while let (Some(m), Some(s)) = (it.next(), it.next()) {
        if s.len() == 8 {
            out.push((m, score_of(s)));
        }
    }
    out
}

/// Redis's order: score, then member bytes.
fn order(a: (&[u8], f64), b: (&[u8], f64)) -> Ordering {
    match a.1.partial_cmp(&b.1) {
        Some(Ordering::Equal) | None => a.0.cmp(b.0),
        Some(o) => o,
    }
}

/// A small payload of `items` (already in order); `-0` becomes `0`.
fn packed<'a>(items: impl ExactSizeIterator<Item = (&'a [u8], f64)>) -> Vec<u8> {
    let mut out = header(ZSET, PACK, items.len()).to_vec();
    for (m, s) in items {
        pack::push(&mut out, m);
        pack::push(&mut out, &(s + 0.0).to_le_bytes());
    }
    out
}

/// True if `items` fit the small form.
fn fits(limits: &Limits, len: usize, longest: usize) -> bool {
    len <= limits.zset_entries && longest <= limits.zset_value
}

// ------------------------------------------------------------- reading

/// A sorted set read for what it holds: a small one as its items.
enum Z<'a> {
    Small(Vec<(&'a [u8], f64)>),
    Big(&'a ZSet),
}

impl<'a> Z<'a> {
    fn of(payload: &'a [u8]) -> Self {
        match view(payload) {
            View::Big(Big::ZSet(z)) => Z::Big(z),
            View::Pack { body, .. } => Z::Small(small_items(body)),
            _ => Z::Small(Vec::new()),
        }
    }

    fn len(&self) -> usize {
        match self {
            Z::Small(items) => items.len(),
            Z::Big(z) => z.len(),
        }
    }

    fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            Z::Small(items) => items.iter().find(|(m, _)| *m == member).map(|p| p.1),
            Z::Big(z) => z.score(member),
        }
    }

    fn rank(&self, member: &[u8]) -> Option<usize> {
        match self {
            Z::Small(items) => items.iter().position(|(m, _)| *m == member),
            Z::Big(z) => z.rank(member),
        }
    }

    fn each_in(&self, range: Range<usize>, rev: bool, f: &mut dyn FnMut(&[u8], f64)) {
        match self {
            Z::Small(items) => {
                let part = &items[range];
                if rev {
                    part.iter().rev().for_each(|&(m, s)| f(m, s));
                } else {
                    part.iter().for_each(|&(m, s)| f(m, s));
                }
            }
            Z::Big(z) => z.each_in(range, rev, f),
        }
    }

    fn each(&self, f: &mut dyn FnMut(&[u8], f64)) {
        self.each_in(0..self.len(), false, f);
    }

    /// Owned members and scores of ranks `range`, in the order asked.
    fn collect(&self, range: Range<usize>, rev: bool) -> Vec<(Box<[u8]>, f64)> {
        let mut out = Vec::with_capacity(range.len());
        self.each_in(range, rev, &mut |m, s| out.push((m.into(), s)));
        out
    }

    fn score_range(&self, min: ScoreBound, max: ScoreBound) -> Range<usize> {
        match self {
            Z::Small(items) => {
                let below = |x: f64, or_equal: bool| {
                    items.partition_point(|&(_, s)| if or_equal { s <= x } else { s < x })
                };
                let start = match min {
                    ScoreBound::Inclusive(x) => below(x, false),
                    ScoreBound::Exclusive(x) => below(x, true),
                };
                let end = match max {
                    ScoreBound::Inclusive(x) => below(x, true),
                    ScoreBound::Exclusive(x) => below(x, false),
                };
                start..end.max(start)
            }
            Z::Big(z) => z.index.score_range(min, max),
        }
    }

    /// The ranks of a lexicographic range, walked as Redis walks it: a
    /// listpack from its head (or tail, `rev`) to the first member in
    /// range and on while members stay in it (so a set of unequal scores
    /// answers as Redis's listpack does), a big one by its index.
    fn lex_range(&self, min: LexBound, max: LexBound, rev: bool) -> Range<usize> {
        if lex_empty(min, max) || self.len() == 0 {
            return 0..0;
        }
        let items = match self {
            Z::Big(z) => {
                let dict = &z.dict;
                return z.index.lex_range(min, max, |h| member_of(dict, h));
            }
            Z::Small(items) => items,
        };
        let gte_min = |m: &[u8]| match min {
            LexBound::Min => true,
            LexBound::Max => false,
            LexBound::Inclusive(x) => m >= x,
            LexBound::Exclusive(x) => m > x,
        };
        let lte_max = |m: &[u8]| match max {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Inclusive(x) => m <= x,
            LexBound::Exclusive(x) => m < x,
        };
        let (first, last) = (items[0].0, items[items.len() - 1].0);
        if !gte_min(last) || !lte_max(first) {
            return 0..0;
        }
        if rev {
            let Some(end) = items.iter().rposition(|&(m, _)| lte_max(m)) else {
                return 0..0;
            };
            if !gte_min(items[end].0) {
                return 0..0;
            }
            let n = items[..=end]
                .iter()
                .rev()
                .take_while(|&&(m, _)| gte_min(m))
                .count();
            end + 1 - n..end + 1
        } else {
            let Some(start) = items.iter().position(|&(m, _)| gte_min(m)) else {
                return 0..0;
            };
            if !lte_max(items[start].0) {
                return 0..0;
            }
            let n = items[start..]
                .iter()
                .take_while(|&&(m, _)| lte_max(m))
                .count();
            start..start + n
        }
    }
}

/// Redis's `sdscmplex`-based test for a lexicographic range that is
/// always empty (min after max, or equal with either end open).
fn lex_empty(min: LexBound<'_>, max: LexBound<'_>) -> bool {
    fn rank<'a>(b: LexBound<'a>) -> (u8, &'a [u8]) {
        match b {
            LexBound::Min => (0, b""),
            LexBound::Inclusive(x) | LexBound::Exclusive(x) => (1, x),
            LexBound::Max => (2, b""),
        }
    }
    let open = |b: LexBound| !matches!(b, LexBound::Inclusive(_));
    match rank(min).cmp(&rank(max)) {
        Ordering::Greater => true,
        Ordering::Equal => open(min) || open(max),
        Ordering::Less => false,
    }
}

/// A score bound the connection already checked.
fn score_bound(arg: &[u8]) -> ScoreBound {
    match score::parse_bound(arg) {
        Some((x, true)) => ScoreBound::Exclusive(x),
        Some((x, false)) => ScoreBound::Inclusive(x),
        None => ScoreBound::Exclusive(f64::NAN),
    }
}

/// A lexicographic bound the connection already checked.
fn lex_bound(arg: &[u8]) -> LexBound<'_> {
    score::parse_lex(arg).unwrap_or(LexBound::Max)
}

fn int8(arg: &[u8]) -> i64 {
    arg.try_into().map_or(0, i64::from_le_bytes)
}

fn float8(arg: &[u8]) -> f64 {
    arg.try_into().map_or(1.0, f64::from_le_bytes)
}

/// Redis's rank range (`ZRANGE start stop`, `ZREMRANGEBYRANK`): negative
/// ranks count from the end; `rev` counts from the highest score.
fn rank_range(len: usize, start: i64, end: i64, rev: bool) -> Range<usize> {
    let llen = len as i64;
    let mut start = if start < 0 {
        llen.saturating_add(start)
    } else {
        start
    };
    let mut end = if end < 0 {
        llen.saturating_add(end)
    } else {
        end
    };
    start = start.max(0);
    if start > end || start >= llen {
        return 0..0;
    }
    end = end.min(llen - 1);
    let (start, end) = (start as usize, end as usize);
    if rev {
        len - 1 - end..len - start
    } else {
        start..end + 1
    }
}

/// The ranks a range command selects (ascending ranks; `rev` walks them
/// downward), its LIMIT applied: a negative offset selects nothing, a
/// negative count everything from the offset.
fn select(z: &Z<'_>, by: By, rev: bool, args: &[&[u8]]) -> Range<usize> {
    let (min, max) = (args[0], args[1]);
    let range = match by {
        By::Rank => return rank_range(z.len(), int8(min), int8(max), rev),
        By::Score => z.score_range(score_bound(min), score_bound(max)),
        By::Lex => z.lex_range(lex_bound(min), lex_bound(max), rev),
    };
    let (offset, limit) = (int8(args[2]), int8(args[3]));
    if offset < 0 {
        return 0..0;
    }
    let skip = (offset as u64).min(range.len() as u64) as usize;
    let take = if limit < 0 {
        usize::MAX
    } else {
        limit as u64 as usize
    };
    let n = (range.len() - skip).min(take);
    if rev {
        range.end - skip - n..range.end - skip
    } else {
        range.start + skip..range.start + skip + n
    }
}

/// Members with their scores: RESP2 a flat array, RESP3 an array of
/// `[member, score]` pairs; without `scores`, the members.
fn reply_items(
    out: &mut Vec<u8>,
    proto: Proto,
    n: usize,
    scores: bool,
    each: impl FnOnce(&mut dyn FnMut(&[u8], f64)),
) {
    let nested = scores && proto == Proto::V3;
    enc::array(out, if scores && !nested { n * 2 } else { n });
    each(&mut |m, s| {
        if nested {
            enc::array(out, 2);
        }
        enc::bulk(out, m);
        if scores {
            score::reply(out, s, proto);
        }
    });
}

// ------------------------------------------------------------- writing

/// What `ZADD` did with one member.
enum Step {
    /// Nothing (NX, XX, GT, LT said no).
    Nop,
    /// INCR made the score NaN.
    Nan,
    /// Present, with this score now (`changed`: it was another).
    Set { score: f64, changed: bool },
    /// Added with this score.
    Added(f64),
}

/// Redis's `zsetAdd` decision for a member whose score is `current`.
fn step(current: Option<f64>, score: f64, flags: u8) -> Step {
    let Some(cur) = current else {
        return if flags & XX != 0 {
            Step::Nop
        } else {
            Step::Added(score)
        };
    };
    if flags & NX != 0 {
        return Step::Nop;
    }
    let mut score = score;
    if flags & INCR != 0 {
        score += cur;
        if score.is_nan() {
            return Step::Nan;
        }
    }
    if (flags & LT != 0 && score >= cur) || (flags & GT != 0 && score <= cur) {
        return Step::Nop;
    }
    Step::Set {
        score,
        changed: score != cur,
    }
}

/// Adds or updates `member` of the sorted set at `key` (which exists) as
/// `flags` say; the form changes as Redis's `zsetAdd` changes it.
fn add(
    store: &mut Store,
    key: &[u8],
    member: &[u8],
    score: f64,
    flags: u8,
    limits: &Limits,
) -> Step {
    store
        .update(key, |e| {
            if let Some(Big::ZSet(z)) = big_mut(e.value_mut()) {
                let out = step(z.score(member), score, flags);
                match out {
                    Step::Set {
                        score: new,
                        changed: true,
                    } => {
                        let old = z.score(member).expect("present");
                        z.rescore(member, old, new);
                    }
                    Step::Added(s) => z.insert(member, s),
                    _ => {}
                }
                return out;
            }
            let View::Pack { body, .. } = view(e.value()) else {
                return Step::Nop;
            };
            let mut items = small_items(body);
            let at = items.iter().position(|(m, _)| *m == member);
            let out = step(at.map(|i| items[i].1), score, flags);
            let new = match out {
                Step::Set {
                    score: s,
                    changed: true,
                } => {
                    let i = at.expect("present");
                    items.remove(i);
                    insert_sorted(&mut items, member, s);
                    packed(items.into_iter())
                }
                Step::Added(s) if fits(limits, items.len() + 1, member.len()) => {
                    insert_sorted(&mut items, member, s);
                    packed(items.into_iter())
                }
                Step::Added(s) => {
                    let mut z = ZSet::of(items);
                    z.insert(member, s);
                    big_zset(z).to_vec()
                }
                _ => return out,
            };
            e.replace_payload(&new);
            out
        })
        .unwrap_or(Step::Nop)
}

fn insert_sorted<'a>(items: &mut Vec<(&'a [u8], f64)>, member: &'a [u8], score: f64) {
    let at = items.partition_point(|&p| order(p, (member, score)) == Ordering::Less);
    items.insert(at, (member, score));
}

/// Removes `members`; how many were there.
fn remove(store: &mut Store, key: &[u8], members: &[&[u8]]) -> usize {
    store
        .update(key, |e| {
            if let Some(Big::ZSet(z)) = big_mut(e.value_mut()) {
                return members.iter().filter(|m| z.remove(m)).count();
            }
            let View::Pack { body, .. } = view(e.value()) else {
                return 0;
            };
            let mut items = small_items(body);
            let before = items.len();
            items.retain(|(m, _)| !members.contains(m));
            let removed = before - items.len();
            if removed > 0 {
                let new = packed(items.into_iter());
                e.replace_payload(&new);
            }
            removed
        })
        .unwrap_or(0)
}

/// Removes the members of ranks `range`; how many.
fn remove_ranks(store: &mut Store, key: &[u8], range: Range<usize>) -> usize {
    if range.is_empty() {
        return 0;
    }
    store
        .update(key, |e| {
            if let Some(Big::ZSet(z)) = big_mut(e.value_mut()) {
                return z.remove_ranks(range);
            }
            let View::Pack { body, .. } = view(e.value()) else {
                return 0;
            };
            let mut items = small_items(body);
            let n = range.len();
            items.drain(range);
            let new = packed(items.into_iter());
            e.replace_payload(&new);
            n
        })
        .unwrap_or(0)
}

/// Removes an emptied sorted set, telling watchers.
fn drop_if_empty(store: &mut Store, env: &mut Env<'_>, key: &[u8]) {
    let empty = store
        .collection(key, ZSET)
        .ok()
        .flatten()
        .is_some_and(|p| super::len(p) == 0);
    if empty {
        store.del(key);
        env.expiry.clear(key);
    }
}

/// Writes `items` (any order) as the sorted set at `dst`, replacing it and
/// its TTL (an empty result deletes it), in the form Redis would leave:
/// small if it fits. Answers the count.
fn store_result<'s>(
    store: &mut Store,
    env: &mut Env<'_>,
    dst: &[u8],
    mut items: Vec<(Box<[u8]>, f64)>,
) -> Outcome<'s> {
    let existed = store.del(dst);
    env.expiry.clear(dst);
    if !items.is_empty() {
        let longest = items.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
        let pairs = || items.iter().map(|(m, s)| (&**m, *s));
        let payload = if fits(&env.limits, items.len(), longest) {
            items.sort_by(|a, b| order((&a.0, a.1), (&b.0, b.1)));
            packed(items.iter().map(|(m, s)| (&**m, *s)))
        } else {
            big_zset(ZSet::of(pairs())).to_vec()
        };
        store.insert_collection(dst, &payload);
    }
    if existed || !items.is_empty() {
        (env.touched)(dst);
    }
    Outcome::Int(items.len() as i64)
}

// ------------------------------------------------------------- commands

/// Runs `cmd` on `key`.
pub fn execute<'s>(
    store: &'s mut Store,
    env: &mut Env<'_>,
    cmd: ZSetCmd,
    key: &[u8],
    args: &[u8],
) -> Outcome<'s> {
    match cmd {
        ZSetCmd::BPop { max } => return bpop(store, env, key, args, max),
        ZSetCmd::MPop { max, count } => return zmpop(store, env, key, args, max, count),
        _ => {}
    }
    if cmd.is_multi() {
        return multi(store, env, cmd, key, args);
    }
    let items = pack::Items::of(args, cmd.raw_arg());
    match cmd {
        ZSetCmd::Add { flags } => return zadd(store, env, key, &items, flags),
        ZSetCmd::Rem => return zrem(store, env, key, &items),
        ZSetCmd::RemRange(by) => return zremrange(store, env, key, by, &items),
        ZSetCmd::Pop { max, count } => return zpop(store, env, key, max, count),
        _ => {}
    }
    let payload = match store.collection(key, ZSET) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let z = payload.map(Z::of);
    let (out, proto) = (&mut *env.reply, env.proto);
    match cmd {
        ZSetCmd::Score => match z.and_then(|z| z.score(args)) {
            Some(s) => score::reply(out, s, proto),
            None => enc::null(out, proto),
        },
        ZSetCmd::MScore => {
            enc::array(out, items.len());
            for &m in items.iter() {
                match z.as_ref().and_then(|z| z.score(m)) {
                    Some(s) => score::reply(out, s, proto),
                    None => enc::null(out, proto),
                }
            }
        }
        ZSetCmd::Card => return Outcome::Int(z.map_or(0, |z| z.len()) as i64),
        ZSetCmd::Count(by) => {
            let n = z.map_or(0, |z| {
                match by {
                    By::Lex => z.lex_range(lex_bound(items[0]), lex_bound(items[1]), false),
                    _ => z.score_range(score_bound(items[0]), score_bound(items[1])),
                }
                .len()
            });
            return Outcome::Int(n as i64);
        }
        ZSetCmd::Rank { rev } => match z.and_then(|z| Some((z.rank(args)?, z.len()))) {
            Some((r, len)) => {
                let rank = if rev { len - 1 - r } else { r };
                return Outcome::Int(rank as i64);
            }
            None => enc::null(out, proto),
        },
        ZSetCmd::Range { by, rev, scores } => {
            let Some(z) = z else {
                enc::array(out, 0);
                return Outcome::Raw;
            };
            let range = select(&z, by, rev, &items);
            reply_items(out, proto, range.len(), scores, |f| {
                z.each_in(range, rev, f)
            });
        }
        ZSetCmd::RandMember { count, scores } => rand_member(z, count, scores, env),
        ZSetCmd::Scan { cursor } => {
            let Some(z) = z else {
                super::empty_scan(out);
                return Outcome::Raw;
            };
            match super::scan_options(&items) {
                Ok((count, pattern)) => scan(&z, cursor, count, pattern, out),
                Err(e) => return Outcome::Error(e),
            }
        }
        _ => unreachable!("writes and multi-key commands are handled above"),
    }
    Outcome::Raw
}

/// `ZADD`/`ZINCRBY`: every pair in order (a NaN from INCR stops there, the
/// pairs before it stay), as Redis's `zaddGenericCommand`.
fn zadd<'s>(
    store: &mut Store,
    env: &mut Env<'_>,
    key: &[u8],
    items: &[&[u8]],
    flags: u8,
) -> Outcome<'s> {
    let payload = match store.collection(key, ZSET) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let limits = env.limits;
    let pairs: Vec<(f64, &[u8])> = items
        .chunks_exact(2)
        .map(|p| (float8(p[0]), p[1]))
        .collect();
    let incr = flags & INCR != 0;
    let reply = |env: &mut Env<'_>, added: i64, updated: i64, last: Option<f64>| {
        if incr {
            match last {
                Some(s) => score::reply(env.reply, s, env.proto),
                None => enc::null(env.reply, env.proto),
            }
            Outcome::Raw
        } else {
            Outcome::Int(if flags & CH != 0 {
                added + updated
            } else {
                added
            })
        }
    };
    if payload.is_none() {
        if flags & XX != 0 || pairs.is_empty() {
            return reply(env, 0, 0, None);
        }
        // Redis's first form: by the first member alone.
        let new = if limits.zset_entries == 0 || pairs[0].1.len() > limits.zset_value {
            big_zset(ZSet::default()).to_vec()
        } else {
            header(ZSET, PACK, 0).to_vec()
        };
        store.insert_collection(key, &new);
    }
    let (mut added, mut updated, mut last) = (0, 0, None);
    let mut failed = false;
    for (s, m) in pairs {
        match add(store, key, m, s, flags, &limits) {
            Step::Nop => last = None,
            Step::Nan => {
                failed = true;
                break;
            }
            Step::Set { score, changed } => {
                updated += i64::from(changed);
                last = Some(score);
            }
            Step::Added(score) => {
                added += 1;
                last = Some(score);
            }
        }
    }
    if added + updated > 0 {
        (env.touched)(key);
    }
    drop_if_empty(store, env, key);
    if failed {
        return Outcome::Error(score::NAN);
    }
    reply(env, added, updated, last)
}

fn zrem<'s>(store: &mut Store, env: &mut Env<'_>, key: &[u8], members: &[&[u8]]) -> Outcome<'s> {
    match store.collection(key, ZSET) {
        Ok(Some(_)) => {}
        Ok(None) => return Outcome::Int(0),
        Err(e) => return e,
    }
    let removed = remove(store, key, members);
    if removed > 0 {
        (env.touched)(key);
        drop_if_empty(store, env, key);
    }
    Outcome::Int(removed as i64)
}

fn zremrange<'s>(
    store: &mut Store,
    env: &mut Env<'_>,
    key: &[u8],
    by: By,
    args: &[&[u8]],
) -> Outcome<'s> {
    let range = match store.collection(key, ZSET) {
        Ok(Some(p)) => {
            let z = Z::of(p);
            match by {
                By::Rank => rank_range(z.len(), int8(args[0]), int8(args[1]), false),
                By::Score => z.score_range(score_bound(args[0]), score_bound(args[1])),
                By::Lex => z.lex_range(lex_bound(args[0]), lex_bound(args[1]), false),
            }
        }
        Ok(None) => return Outcome::Int(0),
        Err(e) => return e,
    };
    let removed = remove_ranks(store, key, range);
    if removed > 0 {
        (env.touched)(key);
        drop_if_empty(store, env, key);
    }
    Outcome::Int(removed as i64)
}

/// `ZPOPMIN`/`ZPOPMAX`: without a count a flat `[member, score]`, with one
/// (RESP3) an array of pairs, as Redis 7.0's `genericZpopCommand`.
fn zpop<'s>(
    store: &mut Store,
    env: &mut Env<'_>,
    key: &[u8],
    max: bool,
    count: Option<u64>,
) -> Outcome<'s> {
    let proto = env.proto;
    let popped = match store.collection(key, ZSET) {
        Ok(Some(_)) if count == Some(0) => Vec::new(),
        Ok(Some(p)) => {
            let z = Z::of(p);
            let k = count.unwrap_or(1).min(z.len() as u64) as usize;
            let range = if max { z.len() - k..z.len() } else { 0..k };
            let popped = z.collect(range.clone(), max);
            remove_ranks(store, key, range);
            (env.touched)(key);
            drop_if_empty(store, env, key);
            popped
        }
        Ok(None) => Vec::new(),
        Err(e) => return e,
    };
    let out = &mut *env.reply;
    let nested = count.is_some() && proto == Proto::V3;
    enc::array(
        out,
        if nested {
            popped.len()
        } else {
            popped.len() * 2
        },
    );
    for (m, s) in &popped {
        if nested {
            enc::array(out, 2);
        }
        enc::bulk(out, m);
        score::reply(out, *s, proto);
    }
    Outcome::Raw
}

/// The key a multi-key pop took from, and its members with their scores.
type Popped = (Vec<u8>, Vec<(Box<[u8]>, f64)>);

/// The core of `BZPOPMIN`/`BZPOPMAX` and `ZMPOP`/`BZMPOP`: pops up to
/// `count` of the lowest (or highest) members of the first non-empty
/// sorted set of `key` and `others`; every key up to it is type-checked,
/// as Redis's `genericZpopCommand` does.
fn first_pop(
    store: &mut Store,
    env: &mut Env<'_>,
    key: &[u8],
    others: &[u8],
    max: bool,
    count: u64,
) -> Result<Option<Popped>, Outcome<'static>> {
    for k in std::iter::once(key).chain(unpack(others)) {
        let Some(p) = store.collection(k, ZSET)? else {
            continue;
        };
        let z = Z::of(p);
        if z.len() == 0 {
            continue;
        }
        let n = count.min(z.len() as u64) as usize;
        let range = if max { z.len() - n..z.len() } else { 0..n };
        let popped = z.collect(range.clone(), max);
        remove_ranks(store, k, range);
        (env.touched)(k);
        drop_if_empty(store, env, k);
        return Ok(Some((k.to_vec(), popped)));
    }
    Ok(None)
}

/// `BZPOPMIN`/`BZPOPMAX`'s attempt: `[key, member, score]` from the first
/// non-empty key, or a null array.
fn bpop<'s>(
    store: &mut Store,
    env: &mut Env<'_>,
    key: &[u8],
    others: &[u8],
    max: bool,
) -> Outcome<'s> {
    let proto = env.proto;
    match first_pop(store, env, key, others, max, 1) {
        Ok(Some((k, popped))) => {
            let out = &mut *env.reply;
            enc::array(out, 3);
            enc::bulk(out, &k);
            for (m, s) in &popped {
                enc::bulk(out, m);
                score::reply(out, *s, proto);
            }
        }
        Ok(None) => enc::null_array(env.reply, proto),
        Err(e) => return e,
    }
    Outcome::Raw
}

/// `ZMPOP` (and `BZMPOP`'s attempt): `[key, [[member, score], …]]` from
/// the first non-empty key, or a null array, as Redis 7.0 answers both
/// (scores as doubles in RESP3, as text in RESP2).
fn zmpop<'s>(
    store: &mut Store,
    env: &mut Env<'_>,
    key: &[u8],
    others: &[u8],
    max: bool,
    count: u64,
) -> Outcome<'s> {
    let proto = env.proto;
    match first_pop(store, env, key, others, max, count) {
        Ok(Some((k, popped))) => {
            let out = &mut *env.reply;
            enc::array(out, 2);
            enc::bulk(out, &k);
            enc::array(out, popped.len());
            for (m, s) in &popped {
                enc::array(out, 2);
                enc::bulk(out, m);
                score::reply(out, *s, proto);
            }
        }
        Ok(None) => enc::null_array(env.reply, proto),
        Err(e) => return e,
    }
    Outcome::Raw
}

/// `ZSCAN`: a small set whole in one step, a big one by slab position;
/// scores as text.
fn scan(z: &Z<'_>, cursor: u64, count: usize, pattern: Option<&[u8]>, out: &mut Vec<u8>) {
    let keep = |m: &[u8]| pattern.is_none_or(|p| crate::glob::matches(p, m));
    let mut found: Vec<(Box<[u8]>, f64)> = Vec::new();
    let mut next = 0u64;
    match z {
        Z::Big(z) => {
            let mut pos = usize::try_from(cursor).unwrap_or(usize::MAX);
            let end = z.dict.slots().min(pos.saturating_add(count.max(1)));
            while pos < end {
                if let Some((m, s)) = z.at(pos) {
                    if keep(m) {
                        found.push((m.into(), s));
                    }
                }
                pos += 1;
            }
            if pos < z.dict.slots() {
                next = pos as u64;
            }
        }
        Z::Small(_) => z.each(&mut |m, s| {
            if keep(m) {
                found.push((m.into(), s));
            }
        }),
    }
    enc::array(out, 2);
    enc::bulk(out, itoa::Buffer::new().format(next).as_bytes());
    enc::array(out, found.len() * 2);
    let mut buf = [0u8; 32];
    for (m, s) in &found {
        enc::bulk(out, m);
        enc::bulk(out, score::text(*s, &mut buf));
    }
}

/// `k` random members: distinct (`distinct`) or with repeats.
fn random_members(
    z: &Z<'_>,
    rng: &mut super::Rng<'_>,
    k: usize,
    distinct: bool,
) -> Vec<(Box<[u8]>, f64)> {
    if let Z::Big(zs) = z {
        let at = |pos: u32| -> (Box<[u8]>, f64) {
            let (m, s) = zs.at(pos as usize).expect("live");
            (m.into(), s)
        };
        if !distinct {
            return (0..k).map(|_| at(zs.dict.random(rng.draw()))).collect();
        }
        if k * 4 < zs.len() {
            let mut seen = hashbrown::HashSet::new();
            while seen.len() < k {
                seen.insert(zs.dict.random(rng.draw()));
            }
            return seen.into_iter().map(at).collect();
        }
    }
    let all = z.collect(0..z.len(), false);
    if distinct {
        rng.distinct(all.len(), k)
            .into_iter()
            .map(|i| all[i].clone())
            .collect()
    } else {
        (0..k).map(|_| all[rng.below(all.len())].clone()).collect()
    }
}

/// `ZRANDMEMBER`: Redis 7.0's cases (no count: one member or nil; a
/// positive count, distinct members; a negative one, members that may
/// repeat), pairs with WITHSCORES.
fn rand_member(z: Option<Z<'_>>, count: Option<i64>, scores: bool, env: &mut Env<'_>) {
    let (out, proto) = (&mut *env.reply, env.proto);
    let Some(z) = z else {
        match count {
            None => enc::null(out, proto),
            Some(_) => enc::array(out, 0),
        }
        return;
    };
    let mut rng = super::Rng(env.rng);
    let chosen = match count {
        None => {
            let m = random_members(&z, &mut rng, 1, false);
            enc::bulk(out, &m[0].0);
            return;
        }
        Some(n) if n >= 0 => {
            let k = (n as u64).min(z.len() as u64) as usize;
            random_members(&z, &mut rng, k, true)
        }
        Some(n) => {
            let k = n.unsigned_abs() as usize;
            if k > super::MAX_REPEATS {
                enc::error(
                    out,
                    "ERR count is too large: corekv answers at most 16777216 repeated elements",
                );
                return;
            }
            random_members(&z, &mut rng, k, false)
        }
    };
    reply_items(out, proto, chosen.len(), scores, |f| {
        chosen.iter().for_each(|(m, s)| f(m, *s))
    });
}

// --------------------------------------------------- several sorted sets

/// A source of `ZUNION` and its kin: a sorted set, a set (every member
/// scores 1) or nothing.
enum Source<'a> {
    None,
    Z(Z<'a>),
    Set(&'a [u8]),
}

impl Source<'_> {
    fn len(&self) -> usize {
        match self {
            Source::None => 0,
            Source::Z(z) => z.len(),
            Source::Set(p) => super::len(p),
        }
    }

    fn each(&self, f: &mut dyn FnMut(&[u8], f64)) {
        match self {
            Source::None => {}
            Source::Z(z) => z.each(f),
            Source::Set(p) => super::set::each(p, |m| f(m, 1.0)),
        }
    }

    fn find(&self, member: &[u8]) -> Option<f64> {
        match self {
            Source::None => None,
            Source::Z(z) => z.score(member),
            Source::Set(p) => super::set::contains(p, member).then_some(1.0),
        }
    }
}

/// Redis's `zunionInterAggregate`: SUM turns NaN (inf - inf) into 0.
fn aggregate(target: &mut f64, val: f64, how: Aggregate) {
    match how {
        Aggregate::Sum => {
            *target += val;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if val < *target {
                *target = val;
            }
        }
        Aggregate::Max => {
            if val > *target {
                *target = val;
            }
        }
    }
}

/// The commands on several keys (all on this partition).
fn multi<'s>(
    store: &'s mut Store,
    env: &mut Env<'_>,
    cmd: ZSetCmd,
    key: &[u8],
    args: &[u8],
) -> Outcome<'s> {
    let packed: Vec<&[u8]> = unpack(args).collect();
    match cmd {
        ZSetCmd::RangeStore { by, rev } => {
            if packed.len() < 5 {
                return Outcome::Error("ERR syntax error");
            }
            let items = match store.collection(packed[0], ZSET) {
                Ok(Some(p)) => {
                    let z = Z::of(p);
                    let range = select(&z, by, rev, &packed[1..]);
                    z.collect(range, rev)
                }
                Ok(None) => Vec::new(),
                Err(e) => return e,
            };
            store_result(store, env, key, items)
        }
        ZSetCmd::Combine {
            op,
            store: to_store,
            scores,
            aggregate: how,
            weights,
            error,
            keys,
        } => {
            let n = (keys as usize).min(packed.len());
            let names: Vec<&[u8]> = if to_store {
                packed[..n].to_vec()
            } else {
                std::iter::once(key)
                    .chain(packed[..n].iter().copied())
                    .collect()
            };
            let rest = &packed[n..];
            let result = {
                let mut sources = Vec::with_capacity(names.len());
                for k in &names {
                    let e = store.entry(k);
                    sources.push(match e {
                        None => Source::None,
                        Some(e) if e.is_collection() && e.value()[0] == ZSET => {
                            Source::Z(Z::of(e.value()))
                        }
                        Some(e) if e.is_collection() && e.value()[0] == super::SET => {
                            Source::Set(e.value())
                        }
                        Some(_) => return Outcome::Error(super::WRONGTYPE),
                    });
                }
                if error != 0 {
                    return Outcome::Error(
                        COMBINE_ERRORS
                            .get(error as usize)
                            .copied()
                            .unwrap_or("ERR syntax error"),
                    );
                }
                let w: Vec<f64> = if weights {
                    rest.iter().take(names.len()).map(|b| float8(b)).collect()
                } else {
                    vec![1.0; names.len()]
                };
                let limit = if op == SetOp::InterCard {
                    rest.first()
                        .and_then(|b| (*b).try_into().ok())
                        .map_or(0, u64::from_le_bytes)
                } else {
                    0
                };
                combine(op, how, &names, sources, &w, limit)
            };
            let (out, proto) = (&mut *env.reply, env.proto);
            match (op, to_store) {
                (SetOp::InterCard, _) => Outcome::Int(result.len() as i64),
                (_, true) => store_result(store, env, key, result),
                (_, false) => {
                    reply_items(out, proto, result.len(), scores, |f| {
                        result.iter().for_each(|(m, s)| f(m, *s))
                    });
                    Outcome::Raw
                }
            }
        }
        _ => unreachable!("single-key commands are handled by execute"),
    }
}

/// Redis's `zunionInterDiffGenericCommand` once the sources are read:
/// UNION and INTER take the sources from the smallest (a stable sort, as
/// glibc's `qsort` is on these sizes), which fixes the order of the float
/// additions; the result in Redis's order.
fn combine(
    op: SetOp,
    how: Aggregate,
    names: &[&[u8]],
    sources: Vec<Source<'_>>,
    weights: &[f64],
    limit: u64,
) -> Vec<(Box<[u8]>, f64)> {
    let mut src: Vec<(&[u8], Source<'_>, f64)> = names
        .iter()
        .copied()
        .zip(sources)
        .zip(weights.iter().copied().chain(std::iter::repeat(1.0)))
        .map(|((k, s), w)| (k, s, w))
        .collect();
    if op != SetOp::Diff {
        src.sort_by_key(|(_, s, _)| s.len());
    }
    let mut result: Vec<(Box<[u8]>, f64)> = Vec::new();
    match op {
        SetOp::Inter | SetOp::InterCard => {
            if src.is_empty() || src[0].1.len() == 0 {
                return result;
            }
            let (first, rest) = src.split_first().expect("not empty");
            first.1.each(&mut |m, s| {
                if op == SetOp::InterCard && limit > 0 && result.len() as u64 >= limit {
                    return;
                }
                let mut score = first.2 * s;
                if score.is_nan() {
                    score = 0.0;
                }
                for (k, source, w) in rest {
                    let value = if *k == first.0 {
                        Some(s)
                    } else {
                        source.find(m)
                    };
                    let Some(value) = value else {
                        return;
                    };
                    aggregate(&mut score, value * w, how);
                }
                result.push((m.into(), score));
            });
        }
        SetOp::Union => {
            let mut at: hashbrown::HashMap<Box<[u8]>, usize> = hashbrown::HashMap::new();
            for (_, source, w) in &src {
                source.each(&mut |m, s| {
                    let mut score = w * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    match at.get(m) {
                        Some(&i) => aggregate(&mut result[i].1, score, how),
                        None => {
                            at.insert(m.into(), result.len());
                            result.push((m.into(), score));
                        }
                    }
                });
            }
        }
        SetOp::Diff => {
            if let Some((first, rest)) = src.split_first() {
                first.1.each(&mut |m, s| {
                    if !rest.iter().any(|(_, source, _)| source.find(m).is_some()) {
                        result.push((m.into(), s));
                    }
                });
            }
        }
    }
    result.sort_by(|a, b| order((&a.0, a.1), (&b.0, b.1)));
    result
}

/// Upper bound of the bytes a sorted-set write adds: the arguments' bytes
/// with per-member overhead (a slab word, a table slot, an allocation, an
/// index entry), a conversion of the whole set (when it is still small:
/// `big` false) or the growth of its table (when it is big), or a stored
/// result as big as the sources (`sources`: their footprints).
pub fn growth(count: usize, args: &[u8], sources: usize, big: bool) -> usize {
    let items = pack::Iter::new(args).count().max(1);
    let convert = super::convert_growth(count.saturating_add(items), 64 + 64, big);
    args.len()
        .saturating_mul(2)
        .saturating_add(items * 96)
        .saturating_add(convert)
        .saturating_add(sources.saturating_mul(4))
        .saturating_add(8 * 1024)
}

#[cfg(test)]
mod tests {
    use super::super::super::quicklist::QuickList;
    use super::super::{pack, Big, Dict, BIG_BASE};
    use super::ZSet;

    /// A big form made for one element takes at most `BIG_BASE` bytes
    /// beyond twice the element's packed bytes (the `*::growth` bounds
    /// charge twice the arguments, for size classes, and `BIG_BASE` for a
    /// conversion: a long element converts a one-element collection).
    #[test]
    fn big_base_bounds_a_new_big_form() {
        for len in [1usize, 70, 1000, 100_000] {
            let e = vec![b'x'; len];
            let own = 2 * (pack::encoded_len(len) + 8);
            let mut d = Dict::default();
            d.insert(&e, &e);
            let hash = Big::Hash(d).memory();
            assert!(hash <= 2 * own + BIG_BASE, "hash of {len}: {hash}");
            let mut d = Dict::default();
            d.insert(&e, b"");
            let set = Big::Set(d).memory();
            assert!(set <= own + BIG_BASE, "set of {len}: {set}");
            let mut z = ZSet::default();
            z.insert(&e, 1.0);
            let zset = Big::ZSet(Box::new(z)).memory();
            assert!(zset <= own + BIG_BASE, "zset of {len}: {zset}");
            let mut q = QuickList::new(2);
            q.push_back(&e);
            let list = Big::List(q).memory();
            assert!(list <= own + BIG_BASE, "list of {len}: {list}");
        }
    }
}
