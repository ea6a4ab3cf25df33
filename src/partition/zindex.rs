//! The ordered index of a big sorted set: an order-statistic B+tree of
//! `(score, handle)` pairs in Redis's order (score, then member bytes), with
//! subtree counts so that rank, select and range starts are O(log n).
//!
//! The index stores no members: each element is a `u32` handle (a slab
//! position the caller owns), and the calls that must compare members take
//! `member_of`, which gives a handle's member bytes. Scores are stored with
//! `-0.0` made `0.0`; NaN is never stored (ZADD refuses it).
//!
//! Leaves hold up to [`LEAF_CAP`] scores and handles in two arrays (one
//! 1536-byte allocation); inner nodes hold, per child, its element count
//! and its first element (the separator, always a live element, so a handle
//! the caller frees and reuses is never compared stale). A full leaf first
//! lends entries to a neighbour with room (B*-tree style: leaves stay about
//! 80 % full under random inserts, not 70 %); a full leaf at either end of
//! the tree splits off only the new element, so ascending (or descending)
//! scores, such as timestamps, fill leaves completely. Removals merge or
//! even out underfull siblings; an emptied index frees every node.
//!
//! # Why a B+tree and not Redis's skip list
//!
//! Measured against a skip list with spans as Redis builds it
//! (`zindex/skiplist.rs`, test-only: p = 1/4, 32 levels, backward links,
//! nodes in an arena of 64-byte slots with 4 levels inline, so one cache
//! miss per hop as in Redis), both through the same `member_of` closure
//! over 1M 16-byte members: 1M inserts in random order, 1M ZRANK-style
//! lookups of random members, 100k reads of 10 elements from a random rank
//! (ZRANGE with LIMIT), 1M removes in another random order; nanoseconds per
//! operation, release build, on the 2-core dev VM shared with other builds
//! (load 2-3: figures move by ~20 % between runs, the ratios do not):
//!
//! ```text
//! structure, scores                    insert     rank   range 10   remove   bytes/elem
//! B+tree 127/63, random                   411      404        162      431         14.8
//! B+tree 63/63, random                    494      506        179      494         15.9
//! skip list, random                      2113     2550       2953     2338         67.2 (Redis layout 53.3)
//! B+tree 127/63, 1000 distinct (ties)      984     1021        220      958         14.8
//! B+tree 63/63, 1000 distinct (ties)     1018     1075        200      982         15.8
//! skip list, 1000 distinct (ties)        2430     3687       4344     3703         67.2 (Redis layout 53.3)
//! ```
//!
//! The B+tree is 2.5-6× faster on every operation and 18-20× on reads from a
//! rank: a lookup touches 3 nodes whose separators share cache lines, where
//! the skip list chases ~20 pointers, each a cache miss; a range read is a
//! descent by counts and then a scan within a leaf. It takes 14.8 bytes per
//! element against 53 for Redis's node layout (its `zskiplistNode`: member
//! pointer, score, backward pointer, 16 bytes per level, 1.33 levels on
//! average), which matters for the "≤ 0.8× Redis" memory target. With ties
//! (a leaderboard), both compare members, i.e. call `member_of`, whose
//! misses into the caller's slab narrow the gap. Leaves of 127 entries beat
//! 63 by 7 % in memory at equal speed, hence [`LEAF_CAP`].
//!
//! Reproduce: `cargo test --release --lib zindex -- --ignored --nocapture`
//! (`measure_btree_against_skiplist`, about 30 s).

#![allow(dead_code)]

use super::entry::size_class;
use std::cmp::Ordering;
use std::ops::Range;

#[cfg(test)]
mod skiplist;
#[cfg(test)]
mod tests;

/// Entries per leaf: 127 scores (8 bytes) and handles (4 bytes) with a
/// 4-byte length make 1528 bytes, in the 1536-byte size class. (63, in 768
/// bytes, measured 7 % more memory and no faster: the module docs.)
pub(crate) const LEAF_CAP: usize = 127;
/// Children per inner node; its child array has room for one more (the
/// moment before a split), 64 × 56 bytes, a 3584-byte size class.
pub(crate) const INNER_CAP: usize = 63;

/// A bound of a score range (`ZRANGEBYSCORE`'s `x` and `(x`); infinite
/// bounds are the infinite scores.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum ScoreBound {
    /// Scores equal to the bound are inside.
    Inclusive(f64),
    /// Scores equal to the bound are outside.
    Exclusive(f64),
}

/// A bound of a lexicographic range (`ZRANGEBYLEX`'s `-`, `+`, `[m`, `(m`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum LexBound<'a> {
    /// `-`: before every member.
    Min,
    /// `+`: after every member.
    Max,
    /// `[m`: `m` is inside.
    Inclusive(&'a [u8]),
    /// `(m`: `m` is outside.
    Exclusive(&'a [u8]),
}

/// The ordered index of a big sorted set (see the module docs).
pub(crate) type ZIndex = Tree<LEAF_CAP, INNER_CAP>;

/// The B+tree of [`ZIndex`], with `L` entries per leaf and `F` children
/// per inner node at most; tests shrink them to grow deep trees from few
/// elements.
pub(crate) struct Tree<const L: usize, const F: usize> {
    root: Option<Node<L, F>>,
    len: usize,
    census: Census,
}

/// How many nodes of each kind are allocated (for [`Tree::memory`]).
#[derive(Default, Debug, PartialEq)]
struct Census {
    leaves: usize,
    inners: usize,
}

struct Leaf<const L: usize> {
    scores: [f64; L],
    handles: [u32; L],
    len: u32,
}

enum Node<const L: usize, const F: usize> {
    Leaf(Box<Leaf<L>>),
    /// Children, in order; capacity `F + 1`, never reallocated.
    Inner(Vec<Child<L, F>>),
}

struct Child<const L: usize, const F: usize> {
    /// Elements under `node`.
    count: usize,
    /// `node`'s first element.
    min_score: f64,
    min_handle: u32,
    node: Node<L, F>,
}

/// Which end(s) of the tree a descent is on (for the one-element splits).
#[derive(Clone, Copy)]
struct Edge {
    first: bool,
    last: bool,
}

/// Compares the element `(s, h)` with the key `(score, member)`.
#[inline]
fn cmp_entry<'m>(
    s: f64,
    h: u32,
    score: f64,
    member: &[u8],
    member_of: &impl Fn(u32) -> &'m [u8],
) -> Ordering {
    match s.partial_cmp(&score) {
        Some(Ordering::Equal) | None => member_of(h).cmp(member),
        Some(order) => order,
    }
}

/// The first index in `0..n` for which `before` is false (`before` holds
/// for a prefix).
#[inline]
fn partition_point(n: usize, before: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if before(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Makes `-0.0` into `0.0`, as Redis orders them equal.
#[inline]
fn normal(score: f64) -> f64 {
    debug_assert!(!score.is_nan(), "NaN scores are never stored");
    score + 0.0
}

impl<const L: usize> Leaf<L> {
    fn new() -> Box<Self> {
        Box::new(Leaf {
            scores: [0.0; L],
            handles: [0; L],
            len: 0,
        })
    }

    #[inline]
    fn len(&self) -> usize {
        self.len as usize
    }

    #[inline]
    fn entry(&self, i: usize) -> (f64, u32) {
        (self.scores[i], self.handles[i])
    }

    /// How many leading entries `before` holds for.
    #[inline]
    fn count(&self, before: &impl Fn(f64, u32) -> bool) -> usize {
        partition_point(self.len(), |i| before(self.scores[i], self.handles[i]))
    }

    fn insert_at(&mut self, i: usize, score: f64, handle: u32) {
        let n = self.len();
        self.scores.copy_within(i..n, i + 1);
        self.handles.copy_within(i..n, i + 1);
        self.scores[i] = score;
        self.handles[i] = handle;
        self.len += 1;
    }

    fn remove_at(&mut self, i: usize) -> (f64, u32) {
        let (n, out) = (self.len(), self.entry(i));
        self.scores.copy_within(i + 1..n, i);
        self.handles.copy_within(i + 1..n, i);
        self.len -= 1;
        out
    }

    /// Removes `range`, returning its handles.
    fn remove_range(&mut self, range: Range<usize>, out: &mut Vec<u32>) {
        let (n, k) = (self.len(), range.len());
        out.extend_from_slice(&self.handles[range.clone()]);
        self.scores.copy_within(range.end..n, range.start);
        self.handles.copy_within(range.end..n, range.start);
        self.len -= k as u32;
    }

    /// Moves entries `at..` into a new leaf.
    fn split_off(&mut self, at: usize) -> Box<Self> {
        let mut right = Leaf::new();
        right.append_from(self, at);
        right
    }

    /// Appends `other`'s entries `from..` to this leaf.
    fn append_from(&mut self, other: &mut Self, from: usize) {
        let (n, m) = (self.len(), other.len());
        let k = m - from;
        self.scores[n..n + k].copy_from_slice(&other.scores[from..m]);
        self.handles[n..n + k].copy_from_slice(&other.handles[from..m]);
        self.len += k as u32;
        other.len = from as u32;
    }

    /// Moves the first `k` entries of `right` to the end of `self`.
    fn take_front(&mut self, right: &mut Self, k: usize) {
        let (n, m) = (self.len(), right.len());
        self.scores[n..n + k].copy_from_slice(&right.scores[..k]);
        self.handles[n..n + k].copy_from_slice(&right.handles[..k]);
        right.scores.copy_within(k..m, 0);
        right.handles.copy_within(k..m, 0);
        self.len += k as u32;
        right.len -= k as u32;
    }

    /// Moves the last `k` entries of `self` to the front of `right`.
    fn give_back(&mut self, right: &mut Self, k: usize) {
        let (n, m) = (self.len(), right.len());
        right.scores.copy_within(..m, k);
        right.handles.copy_within(..m, k);
        right.scores[..k].copy_from_slice(&self.scores[n - k..n]);
        right.handles[..k].copy_from_slice(&self.handles[n - k..n]);
        self.len -= k as u32;
        right.len += k as u32;
    }
}

impl<const L: usize, const F: usize> Child<L, F> {
    fn of(node: Node<L, F>) -> Self {
        let (min_score, min_handle) = node.first();
        Child {
            count: node.count(),
            min_score,
            min_handle,
            node,
        }
    }

    /// Refreshes the separator after the child changed (if not empty).
    #[inline]
    fn refresh(&mut self) {
        if self.count > 0 {
            (self.min_score, self.min_handle) = self.node.first();
        }
    }
}

/// The element count of a run of children.
fn total<const L: usize, const F: usize>(children: &[Child<L, F>]) -> usize {
    children.iter().map(|c| c.count).sum()
}

/// The child whose subtree holds the element of `rank`, and the elements
/// before it.
#[inline]
fn child_at<const L: usize, const F: usize>(
    children: &[Child<L, F>],
    mut rank: usize,
) -> (usize, usize) {
    let mut before = 0;
    for (i, c) in children.iter().enumerate() {
        if rank < c.count {
            return (i, before);
        }
        rank -= c.count;
        before += c.count;
    }
    (
        children.len() - 1,
        before - children[children.len() - 1].count,
    )
}

/// The last child whose first element `before` holds for (or the first).
#[inline]
fn child_by<const L: usize, const F: usize>(
    children: &[Child<L, F>],
    before: &impl Fn(f64, u32) -> bool,
) -> usize {
    children
        .partition_point(|c| before(c.min_score, c.min_handle))
        .max(1)
        - 1
}

impl<const L: usize, const F: usize> Node<L, F> {
    fn count(&self) -> usize {
        match self {
            Node::Leaf(leaf) => leaf.len(),
            Node::Inner(children) => total(children),
        }
    }

    fn first(&self) -> (f64, u32) {
        match self {
            Node::Leaf(leaf) => leaf.entry(0),
            Node::Inner(children) => (children[0].min_score, children[0].min_handle),
        }
    }

    /// Entries (leaf) or children (inner): what the capacities bound.
    fn size(&self) -> usize {
        match self {
            Node::Leaf(leaf) => leaf.len(),
            Node::Inner(children) => children.len(),
        }
    }

    fn underfull(&self) -> bool {
        match self {
            Node::Leaf(leaf) => leaf.len() < L / 2,
            Node::Inner(children) => children.len() < F / 2,
        }
    }

    fn new_inner(census: &mut Census) -> Vec<Child<L, F>> {
        census.inners += 1;
        Vec::with_capacity(F + 1)
    }

    /// Inserts an absent element; returns the right half if the node split.
    fn insert(
        &mut self,
        score: f64,
        handle: u32,
        before: &impl Fn(f64, u32) -> bool,
        edge: Edge,
        census: &mut Census,
    ) -> Option<Node<L, F>> {
        match self {
            Node::Leaf(leaf) => Self::insert_leaf(leaf, score, handle, before, edge, census),
            Node::Inner(children) => {
                let mut i = child_by(children, before);
                if spill(children, i) {
                    i = child_by(children, before);
                }
                let edge = Edge {
                    first: edge.first && i == 0,
                    last: edge.last && i + 1 == children.len(),
                };
                let split = children[i].node.insert(score, handle, before, edge, census);
                let child = &mut children[i];
                child.count += 1;
                child.refresh();
                let right = Child::of(split?);
                children[i].count -= right.count;
                children.insert(i + 1, right);
                if children.len() <= F {
                    return None;
                }
                // Growing at an end of the tree, leave the other node full.
                let at = match (edge.last && i + 2 == children.len(), edge.first && i == 0) {
                    (true, _) => F,
                    (_, true) => 2,
                    _ => children.len() / 2,
                };
                let mut right = Self::new_inner(census);
                right.extend(children.drain(at..));
                Some(Node::Inner(right))
            }
        }
    }

    fn insert_leaf(
        leaf: &mut Box<Leaf<L>>,
        score: f64,
        handle: u32,
        before: &impl Fn(f64, u32) -> bool,
        edge: Edge,
        census: &mut Census,
    ) -> Option<Node<L, F>> {
        let pos = leaf.count(before);
        if leaf.len() < L {
            leaf.insert_at(pos, score, handle);
            return None;
        }
        census.leaves += 1;
        if (edge.last && pos == L) || (edge.first && pos == 0) {
            let mut fresh = Leaf::new();
            fresh.insert_at(0, score, handle);
            if pos == 0 {
                std::mem::swap(leaf, &mut fresh);
            }
            return Some(Node::Leaf(fresh));
        }
        let mid = L.div_ceil(2);
        let mut right = leaf.split_off(mid);
        if pos <= mid {
            leaf.insert_at(pos, score, handle);
        } else {
            right.insert_at(pos - mid, score, handle);
        }
        Some(Node::Leaf(right))
    }

    /// Removes the element `at` finds; the caller fixes this node's
    /// underflow.
    fn remove<C: Fn(f64, u32) -> Ordering>(
        &mut self,
        at: At<'_, C>,
        census: &mut Census,
    ) -> Option<(f64, u32)> {
        match self {
            Node::Leaf(leaf) => {
                let i = match at {
                    At::Rank(rank) => rank,
                    At::Key(cmp) => {
                        let n = leaf.count(&|s, h| cmp(s, h) != Ordering::Greater);
                        let (s, h) = leaf.entry(n.checked_sub(1)?);
                        if cmp(s, h) != Ordering::Equal {
                            return None;
                        }
                        n - 1
                    }
                };
                Some(leaf.remove_at(i))
            }
            Node::Inner(children) => {
                let (i, at) = match at {
                    At::Rank(rank) => {
                        let (i, before) = child_at(children, rank);
                        (i, At::Rank(rank - before))
                    }
                    At::Key(cmp) => {
                        let n = children.partition_point(|c| {
                            cmp(c.min_score, c.min_handle) != Ordering::Greater
                        });
                        (n.checked_sub(1)?, At::Key(cmp))
                    }
                };
                let out = children[i].node.remove(at, census)?;
                children[i].count -= 1;
                fix(children, i, census);
                Some(out)
            }
        }
    }
}

/// If child `i` is a full leaf and a neighbour leaf has room, moves half
/// that room's worth of entries over, so the insert into `i` need not
/// split: leaves stay about 80 % full rather than 70 % under random
/// inserts (B*-tree style). Returns whether it moved any.
fn spill<const L: usize, const F: usize>(children: &mut [Child<L, F>], i: usize) -> bool {
    let size = |c: &Child<L, F>| match &c.node {
        Node::Leaf(leaf) => leaf.len(),
        Node::Inner(_) => L,
    };
    if size(&children[i]) < L {
        return false;
    }
    for j in [i + 1, i.wrapping_sub(1)] {
        let Some(room) = children.get(j).map(|c| L - size(c)).filter(|&r| r >= 2) else {
            continue;
        };
        let (l, r) = (i.min(j), i.max(j));
        let (head, tail) = children.split_at_mut(r);
        let (left, right) = (&mut head[l], &mut tail[0]);
        if let (Node::Leaf(a), Node::Leaf(b)) = (&mut left.node, &mut right.node) {
            if j > i {
                a.give_back(b, room / 2);
            } else {
                a.take_front(b, room / 2);
            }
            (left.count, right.count) = (a.len(), b.len());
            left.refresh();
            right.refresh();
            return true;
        }
    }
    false
}

/// How a removal finds its element.
enum At<'c, C> {
    Rank(usize),
    /// Compares an element with the key.
    Key(&'c C),
}

/// After child `i` lost elements: merges it with a sibling or evens them
/// out if it is underfull, and refreshes the separators.
fn fix<const L: usize, const F: usize>(
    children: &mut Vec<Child<L, F>>,
    i: usize,
    census: &mut Census,
) {
    if children[i].count == 0 {
        // An inner node split at an end of the tree may have one child, so
        // a subtree can empty: drop it whole.
        forget(&children.remove(i).node, census);
        return;
    }
    if !children[i].node.underfull() || children.len() < 2 {
        children[i].refresh();
        return;
    }
    let j = if i + 1 < children.len() { i } else { i - 1 };
    let (head, tail) = children.split_at_mut(j + 1);
    let (left, right) = (&mut head[j], &mut tail[0]);
    let cap = match left.node {
        Node::Leaf(_) => L,
        Node::Inner(_) => F,
    };
    let (a, b) = (left.node.size(), right.node.size());
    match (&mut left.node, &mut right.node) {
        (Node::Leaf(l), Node::Leaf(r)) => {
            if a + b <= cap {
                l.append_from(r, 0);
            } else if a < b {
                l.take_front(r, (b - a) / 2);
            } else {
                l.give_back(r, (a - b) / 2);
            }
        }
        (Node::Inner(l), Node::Inner(r)) => {
            if a + b <= cap {
                l.append(r);
            } else if a < b {
                l.extend(r.drain(..(b - a) / 2));
            } else {
                let moved: Vec<_> = l.drain(a - (a - b) / 2..).collect();
                r.splice(0..0, moved);
            }
        }
        _ => unreachable!("siblings are at the same depth"),
    }
    left.count = left.node.count();
    right.count = right.node.count();
    left.refresh();
    right.refresh();
    if right.count == 0 {
        forget(&children.remove(j + 1).node, census);
    }
}

/// Takes the nodes of a dropped subtree off the census.
fn forget<const L: usize, const F: usize>(node: &Node<L, F>, census: &mut Census) {
    match node {
        Node::Leaf(_) => census.leaves -= 1,
        Node::Inner(children) => {
            census.inners -= 1;
            for c in children {
                forget(&c.node, census);
            }
        }
    }
}

impl<const L: usize, const F: usize> Default for Tree<L, F> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const L: usize, const F: usize> Tree<L, F> {
    const VALID: () = assert!(L >= 4 && F >= 4, "capacities too small to split");

    /// An empty index (allocates nothing).
    pub(crate) fn new() -> Self {
        let () = Self::VALID;
        Tree {
            root: None,
            len: 0,
            census: Census::default(),
        }
    }

    /// The number of elements.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// True if the index holds no element.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes allocated, in the allocator's size classes; O(1).
    pub(crate) fn memory(&self) -> usize {
        self.census.leaves * size_class(std::mem::size_of::<Leaf<L>>())
            + self.census.inners * size_class((F + 1) * std::mem::size_of::<Child<L, F>>())
    }

    /// Inserts the element `(score, handle)`, whose member is
    /// `member_of(handle)`; the caller guarantees that the member is not in
    /// the index. `score` must not be NaN.
    pub(crate) fn insert<'m>(
        &mut self,
        score: f64,
        handle: u32,
        member_of: impl Fn(u32) -> &'m [u8],
    ) {
        let score = normal(score);
        let member = member_of(handle);
        let before = |s, h| cmp_entry(s, h, score, member, &member_of) == Ordering::Less;
        self.len += 1;
        let Some(root) = &mut self.root else {
            let mut leaf = Leaf::new();
            leaf.insert_at(0, score, handle);
            self.census.leaves += 1;
            self.root = Some(Node::Leaf(leaf));
            return;
        };
        let edge = Edge {
            first: true,
            last: true,
        };
        if let Some(right) = root.insert(score, handle, &before, edge, &mut self.census) {
            let mut children = Node::new_inner(&mut self.census);
            if let Some(left) = self.root.take() {
                children.push(Child::of(left));
            }
            children.push(Child::of(right));
            self.root = Some(Node::Inner(children));
        }
    }

    /// Removes the element `(score, member)`; returns its handle, or `None`
    /// if it is not in the index.
    pub(crate) fn remove<'m>(
        &mut self,
        score: f64,
        member: &[u8],
        member_of: impl Fn(u32) -> &'m [u8],
    ) -> Option<u32> {
        let score = normal(score);
        let cmp = |s, h| cmp_entry(s, h, score, member, &member_of);
        self.remove_by(At::Key(&cmp)).map(|(_, h)| h)
    }

    fn remove_by<C: Fn(f64, u32) -> Ordering>(&mut self, at: At<'_, C>) -> Option<(f64, u32)> {
        let out = self.root.as_mut()?.remove(at, &mut self.census)?;
        self.len -= 1;
        self.shrink_root();
        Some(out)
    }

    /// Drops an empty root leaf, and inner roots of a single child.
    fn shrink_root(&mut self) {
        loop {
            match &mut self.root {
                Some(Node::Inner(children)) if children.len() == 1 => {
                    let child = children.pop().map(|c| c.node);
                    self.census.inners -= 1;
                    self.root = child;
                }
                Some(root) if root.count() == 0 => {
                    forget(root, &mut self.census);
                    self.root = None;
                }
                _ => return,
            }
        }
    }

    /// Removes and returns the element of `rank`.
    pub(crate) fn remove_at(&mut self, rank: usize) -> Option<(f64, u32)> {
        if rank >= self.len {
            return None;
        }
        self.remove_by(At::<fn(f64, u32) -> Ordering>::Rank(rank))
    }

    /// Removes and returns the first element (ZPOPMIN).
    pub(crate) fn pop_first(&mut self) -> Option<(f64, u32)> {
        self.remove_at(0)
    }

    /// Removes and returns the last element (ZPOPMAX).
    pub(crate) fn pop_last(&mut self) -> Option<(f64, u32)> {
        self.remove_at(self.len.checked_sub(1)?)
    }

    /// Removes the elements of ranks `range` (clamped to the index) and
    /// returns their handles, in order (ZREMRANGEBY*: the caller frees the
    /// members).
    pub(crate) fn remove_range(&mut self, range: Range<usize>) -> Vec<u32> {
        let end = range.end.min(self.len);
        let start = range.start.min(end);
        let mut out = Vec::with_capacity(end - start);
        if start == 0 && end == self.len {
            out.extend(self.iter().map(|(_, h)| h));
            self.clear();
            return out;
        }
        while out.len() < end - start {
            let k = self.remove_run(start, end - start - out.len(), &mut out);
            debug_assert!(k > 0);
        }
        out
    }

    /// Removes up to `k` elements from `rank` on that share its leaf, in
    /// one step; returns how many.
    fn remove_run(&mut self, rank: usize, k: usize, out: &mut Vec<u32>) -> usize {
        let Some(root) = self.root.as_mut() else {
            return 0;
        };
        let n = remove_run(root, rank, k, out, &mut self.census);
        self.len -= n;
        self.shrink_root();
        n
    }

    /// Empties the index, freeing every node.
    pub(crate) fn clear(&mut self) {
        self.root = None;
        self.len = 0;
        self.census = Census::default();
    }

    /// The 0-based rank of `(score, member)` in ascending order, if present
    /// (ZRANK; ZREVRANK is `len() - 1 - rank`).
    pub(crate) fn rank<'m>(
        &self,
        score: f64,
        member: &[u8],
        member_of: impl Fn(u32) -> &'m [u8],
    ) -> Option<usize> {
        let score = normal(score);
        let cmp = |s, h| cmp_entry(s, h, score, member, &member_of);
        let (before, leaf, n) = self.descend(&|s, h| cmp(s, h) != Ordering::Greater)?;
        let (s, h) = leaf.entry(n.checked_sub(1)?);
        (cmp(s, h) == Ordering::Equal).then_some(before + n - 1)
    }

    /// The element of `rank`: its score and handle.
    pub(crate) fn get(&self, rank: usize) -> Option<(f64, u32)> {
        if rank >= self.len {
            return None;
        }
        let mut node = self.root.as_ref()?;
        let mut rank = rank;
        loop {
            match node {
                Node::Leaf(leaf) => return Some(leaf.entry(rank)),
                Node::Inner(children) => {
                    let (i, before) = child_at(children, rank);
                    rank -= before;
                    node = &children[i].node;
                }
            }
        }
    }

    /// Walks to the leaf of the last element `before` holds for (a prefix
    /// predicate); returns the elements in earlier leaves, the leaf and how
    /// many of its elements `before` holds for.
    fn descend(&self, before: &impl Fn(f64, u32) -> bool) -> Option<(usize, &Leaf<L>, usize)> {
        let mut node = self.root.as_ref()?;
        let mut skipped = 0;
        loop {
            match node {
                Node::Leaf(leaf) => return Some((skipped, leaf, leaf.count(before))),
                Node::Inner(children) => {
                    let i = child_by(children, before);
                    skipped += total(&children[..i]);
                    node = &children[i].node;
                }
            }
        }
    }

    /// How many elements (a prefix) `before` holds for.
    fn count_while(&self, before: impl Fn(f64, u32) -> bool) -> usize {
        self.descend(&before)
            .map_or(0, |(skipped, _, n)| skipped + n)
    }

    /// The number of elements with a score below `score` (or equal to it,
    /// with `or_equal`).
    pub(crate) fn count_score_below(&self, score: f64, or_equal: bool) -> usize {
        if or_equal {
            self.count_while(|s, _| s <= score)
        } else {
            self.count_while(|s, _| s < score)
        }
    }

    /// The ranks of the elements with scores within `min..max`
    /// (ZRANGEBYSCORE, ZCOUNT: its length), two O(log n) descents.
    pub(crate) fn score_range(&self, min: ScoreBound, max: ScoreBound) -> Range<usize> {
        let start = match min {
            ScoreBound::Inclusive(x) => self.count_score_below(x, false),
            ScoreBound::Exclusive(x) => self.count_score_below(x, true),
        };
        let end = match max {
            ScoreBound::Inclusive(x) => self.count_score_below(x, true),
            ScoreBound::Exclusive(x) => self.count_score_below(x, false),
        };
        start..end.max(start)
    }

    /// The number of elements whose member sorts before `member` (or equal
    /// to it, with `or_equal`); meaningful when all scores are equal, as
    /// ZRANGEBYLEX requires.
    pub(crate) fn count_member_below<'m>(
        &self,
        member: &[u8],
        or_equal: bool,
        member_of: impl Fn(u32) -> &'m [u8],
    ) -> usize {
        if or_equal {
            self.count_while(|_, h| member_of(h) <= member)
        } else {
            self.count_while(|_, h| member_of(h) < member)
        }
    }

    /// The ranks of the elements with members within `min..max`
    /// (ZRANGEBYLEX, ZLEXCOUNT), when all scores are equal.
    pub(crate) fn lex_range<'m>(
        &self,
        min: LexBound,
        max: LexBound,
        member_of: impl Fn(u32) -> &'m [u8],
    ) -> Range<usize> {
        let rank = |bound: LexBound, is_max: bool| match bound {
            LexBound::Min => 0,
            LexBound::Max => self.len,
            LexBound::Inclusive(m) => self.count_member_below(m, is_max, &member_of),
            LexBound::Exclusive(m) => self.count_member_below(m, !is_max, &member_of),
        };
        let (start, end) = (rank(min, false), rank(max, true));
        start..end.max(start)
    }

    /// The elements in ascending order.
    pub(crate) fn iter(&self) -> Iter<'_, L, F> {
        self.iter_from(0)
    }

    /// The elements of ranks `rank`, `rank + 1`, …, lazily (the start is
    /// found in O(log n)); empty if `rank >= len()`.
    pub(crate) fn iter_from(&self, rank: usize) -> Iter<'_, L, F> {
        let mut it = self.start_at(rank, false);
        it.remaining = self.len.saturating_sub(rank);
        it
    }

    /// The elements of ranks `rank`, `rank - 1`, …, 0, lazily; empty if
    /// `rank >= len()`.
    pub(crate) fn iter_rev_from(&self, rank: usize) -> Iter<'_, L, F> {
        let mut it = self.start_at(rank, true);
        if rank < self.len {
            it.remaining = rank + 1;
            it.pos += 1;
        }
        it
    }

    fn start_at(&self, rank: usize, rev: bool) -> Iter<'_, L, F> {
        let mut it = Iter {
            path: Vec::new(),
            leaf: None,
            pos: 0,
            remaining: 0,
            rev,
        };
        if rank >= self.len {
            return it;
        }
        let (mut node, mut rank) = (self.root.as_ref(), rank);
        while let Some(n) = node {
            match n {
                Node::Leaf(leaf) => {
                    (it.leaf, it.pos) = (Some(&**leaf), rank);
                    node = None;
                }
                Node::Inner(children) => {
                    let (i, before) = child_at(children, rank);
                    rank -= before;
                    it.path.push((children, i));
                    node = Some(&children[i].node);
                }
            }
        }
        it
    }
}

/// Removes up to `k` elements from `rank` on within one leaf; returns how
/// many, fixing underflows on the way back up.
fn remove_run<const L: usize, const F: usize>(
    node: &mut Node<L, F>,
    rank: usize,
    k: usize,
    out: &mut Vec<u32>,
    census: &mut Census,
) -> usize {
    match node {
        Node::Leaf(leaf) => {
            let end = leaf.len().min(rank + k);
            leaf.remove_range(rank..end, out);
            end - rank
        }
        Node::Inner(children) => {
            let (i, before) = child_at(children, rank);
            let n = remove_run(&mut children[i].node, rank - before, k, out, census);
            children[i].count -= n;
            fix(children, i, census);
            n
        }
    }
}

/// A lazy walk over the index from a rank, ascending or descending
/// ([`Tree::iter_from`], [`Tree::iter_rev_from`]); yields
/// `(score, handle)`.
pub(crate) struct Iter<'a, const L: usize, const F: usize> {
    /// The inner nodes above the leaf, with the child taken in each.
    path: Vec<(&'a [Child<L, F>], usize)>,
    leaf: Option<&'a Leaf<L>>,
    /// Ascending: the next entry; descending: one past it.
    pos: usize,
    remaining: usize,
    rev: bool,
}

impl<'a, const L: usize, const F: usize> Iter<'a, L, F> {
    /// Moves to the next leaf (or the previous one, descending).
    fn step(&mut self) {
        while let Some((children, i)) = self.path.pop() {
            let next = if self.rev {
                i.checked_sub(1)
            } else {
                Some(i + 1)
            };
            let Some(j) = next.filter(|&j| j < children.len()) else {
                continue;
            };
            self.path.push((children, j));
            let mut node = &children[j].node;
            loop {
                match node {
                    Node::Inner(children) => {
                        let j = if self.rev { children.len() - 1 } else { 0 };
                        self.path.push((children, j));
                        node = &children[j].node;
                    }
                    Node::Leaf(leaf) => {
                        self.leaf = Some(&**leaf);
                        self.pos = if self.rev { leaf.len() } else { 0 };
                        return;
                    }
                }
            }
        }
    }
}

impl<const L: usize, const F: usize> Iterator for Iter<'_, L, F> {
    type Item = (f64, u32);

    fn next(&mut self) -> Option<(f64, u32)> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let len = self.leaf?.len();
        if self.rev {
            if self.pos == 0 {
                self.step();
            }
            self.pos -= 1;
            self.leaf.map(|leaf| leaf.entry(self.pos))
        } else {
            if self.pos == len {
                self.step();
            }
            self.pos += 1;
            self.leaf.map(|leaf| leaf.entry(self.pos - 1))
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<const L: usize, const F: usize> ExactSizeIterator for Iter<'_, L, F> {}
