//! Unit tests of the set commands on a partition's store: the form
//! changes Redis 7.2 makes (intset, listpack, hashtable), deletion of an
//! emptied set, `SPOP`/`SRANDMEMBER`, `SSCAN`'s guarantee, the commands on
//! several sets, and exact memory accounting (lazy freeing included).

use super::set::{execute, SetCmd};
use super::testing::{harness_type, Harness, Reply, Shape};
use super::{encoding, pack, Limits, SET};
use crate::resp::encode::Proto;
use std::collections::HashSet;

harness_type!(
    Sets,
    "A partition's store with what set commands need around it."
);

impl Sets {
    fn new() -> Self {
        Self::with_limits(Limits::default())
    }

    fn with_limits(limits: Limits) -> Self {
        Self(Harness::new(limits))
    }

    fn run(&mut self, cmd: SetCmd, key: &str, items: &[&[u8]]) -> Reply {
        let shape = Shape::of(cmd.raw_arg(), cmd.is_multi());
        self.0.run(cmd, cmd.is_read(), shape, key, items, execute)
    }

    fn sadd(&mut self, key: &str, members: &[&[u8]]) -> i64 {
        self.int(SetCmd::Add, key, members)
    }

    fn srem(&mut self, key: &str, members: &[&[u8]]) -> i64 {
        self.int(SetCmd::Rem, key, members)
    }

    fn int(&mut self, cmd: SetCmd, key: &str, items: &[&[u8]]) -> i64 {
        match self.run(cmd, key, items) {
            Reply::Int(n) => n,
            other => panic!("{cmd:?} {key}: not an integer: {other:?}"),
        }
    }

    fn card(&mut self, key: &str) -> i64 {
        self.int(SetCmd::Card, key, &[])
    }

    fn members(&mut self, key: &str) -> Vec<Vec<u8>> {
        self.run(SetCmd::Members, key, &[]).items()
    }

    fn is_member(&mut self, key: &str, m: &[u8]) -> bool {
        self.int(SetCmd::IsMember, key, &[m]) == 1
    }

    /// `OBJECT ENCODING`'s answer for `key`, `None` without the key.
    fn encoding(&self, key: &str) -> Option<&'static str> {
        let payload = self.store.collection(key.as_bytes(), SET).ok()??;
        Some(encoding(payload))
    }

    fn exists(&self, key: &str) -> bool {
        self.store.contains(key.as_bytes())
    }
}

fn nums(range: std::ops::Range<i64>) -> Vec<Vec<u8>> {
    range.map(|n| n.to_string().into_bytes()).collect()
}

fn strs(prefix: &str, range: std::ops::Range<usize>) -> Vec<Vec<u8>> {
    range.map(|n| format!("{prefix}{n}").into_bytes()).collect()
}

fn refs(v: &[Vec<u8>]) -> Vec<&[u8]> {
    v.iter().map(Vec::as_slice).collect()
}

fn all_distinct(items: &[Vec<u8>]) -> bool {
    items.iter().collect::<HashSet<_>>().len() == items.len()
}

// ---------------------------------------------------------------- forms

#[test]
fn an_intset_grows_past_set_max_intset_entries_into_a_hashtable() {
    let mut s = Sets::new();
    // One at a time, so no size hint decides the form.
    for n in (0..512).rev() {
        assert_eq!(s.sadd("s", &[n.to_string().as_bytes()]), 1);
    }
    assert_eq!(s.encoding("s"), Some("intset"));
    // An intset is sorted, whatever the order of insertion.
    assert_eq!(s.members("s"), nums(0..512));
    assert_eq!(s.sadd("s", &[b"7"]), 0, "a duplicate changes nothing");
    assert_eq!(s.encoding("s"), Some("intset"));
    assert_eq!(s.sadd("s", &[b"512"]), 1);
    assert_eq!(s.encoding("s"), Some("hashtable"));
    assert_eq!(s.card("s"), 513);
    assert!(s.is_member("s", b"512") && s.is_member("s", b"0"));
    // It never goes back, even when small again.
    let all = nums(0..513);
    assert_eq!(s.srem("s", &refs(&all[..510])), 510);
    assert_eq!(s.encoding("s"), Some("hashtable"));
}

#[test]
fn a_full_intset_takes_one_more_integer_as_a_hashtable_whatever_the_listpack_limits() {
    // Redis 7.2's maybeConvertIntset: an intset past its limit becomes a
    // hashtable, never a listpack, even when that many would fit one.
    let mut s = Sets::with_limits(Limits {
        set_intset_entries: 4,
        ..Limits::default()
    });
    assert_eq!(s.sadd("s", &[b"1", b"2", b"3", b"4"]), 4);
    assert_eq!(s.encoding("s"), Some("intset"));
    assert_eq!(s.sadd("s", &[b"5"]), 1);
    assert_eq!(s.encoding("s"), Some("hashtable"));
    assert_eq!(s.card("s"), 5);
}

#[test]
fn an_intset_takes_a_string_as_a_listpack_when_it_fits() {
    let mut s = Sets::new();
    s.sadd("s", &[b"3", b"1", b"2"]);
    assert_eq!(s.encoding("s"), Some("intset"));
    assert_eq!(s.sadd("s", &[b"a"]), 1);
    assert_eq!(s.encoding("s"), Some("listpack"));
    // The integers in their sorted order, then the new member.
    assert_eq!(
        s.members("s"),
        vec![b"1".to_vec(), b"2".into(), b"3".into(), b"a".into()]
    );
    assert!(s.is_member("s", b"2") && s.is_member("s", b"a"));
    assert_eq!(s.sadd("s", &[b"2"]), 0, "an integer already there as text");

    // A member of exactly set-max-listpack-value bytes still fits.
    let mut s = Sets::new();
    s.sadd("s", &[b"1"]);
    assert_eq!(s.sadd("s", &[&[b'v'; 64][..]]), 1);
    assert_eq!(s.encoding("s"), Some("listpack"));

    // One byte more does not.
    let mut s = Sets::new();
    s.sadd("s", &[b"1"]);
    assert_eq!(s.sadd("s", &[&[b'v'; 65][..]]), 1);
    assert_eq!(s.encoding("s"), Some("hashtable"));
    assert_eq!(s.card("s"), 2);
}

#[test]
fn an_intset_too_big_for_a_listpack_takes_a_string_as_a_hashtable() {
    // 127 integers and a string: 128 members fit a listpack.
    let mut s = Sets::new();
    let ints = nums(0..127);
    for n in &ints {
        s.sadd("s", &[n]);
    }
    s.sadd("s", &[b"x"]);
    assert_eq!(s.encoding("s"), Some("listpack"));
    assert_eq!(s.card("s"), 128);
    // 128 integers and a string: 129 do not.
    let mut s = Sets::new();
    let ints = nums(0..128);
    for n in &ints {
        s.sadd("s", &[n]);
    }
    assert_eq!(s.encoding("s"), Some("intset"));
    s.sadd("s", &[b"x"]);
    assert_eq!(s.encoding("s"), Some("hashtable"));
    assert_eq!(s.card("s"), 129);
    // Integers longer than set-max-listpack-value (20 digits against a
    // configured 5): a hashtable too.
    let mut s = Sets::with_limits(Limits {
        set_value: 5,
        ..Limits::default()
    });
    s.sadd("s", &[b"1234567"]);
    s.sadd("s", &[b"x"]);
    assert_eq!(s.encoding("s"), Some("hashtable"));
    let mut s = Sets::with_limits(Limits {
        set_value: 5,
        ..Limits::default()
    });
    s.sadd("s", &[b"12345"]);
    s.sadd("s", &[b"x"]);
    assert_eq!(s.encoding("s"), Some("listpack"));
}

#[test]
fn a_listpack_past_its_entries_or_value_becomes_a_hashtable() {
    let mut s = Sets::new();
    let members = strs("m", 0..128);
    for m in &members {
        assert_eq!(s.sadd("s", &[m]), 1);
    }
    assert_eq!(s.encoding("s"), Some("listpack"));
    // Insertion order.
    assert_eq!(s.members("s"), members);
    assert_eq!(s.sadd("s", &[b"m0"]), 0);
    assert_eq!(s.encoding("s"), Some("listpack"));
    assert_eq!(s.sadd("s", &[b"m128"]), 1);
    assert_eq!(s.encoding("s"), Some("hashtable"));
    assert_eq!(s.card("s"), 129);

    let mut s = Sets::new();
    s.sadd("s", &[b"a"]);
    assert_eq!(s.sadd("s", &[&[b'v'; 64][..]]), 1);
    assert_eq!(s.encoding("s"), Some("listpack"));
    assert_eq!(s.sadd("s", &[&[b'w'; 65][..]]), 1);
    assert_eq!(s.encoding("s"), Some("hashtable"));
    assert_eq!(s.card("s"), 3);
    assert!(s.is_member("s", &[b'v'; 64]) && s.is_member("s", &[b'w'; 65]));
    // An integer added to a listpack stays a listpack member.
    let mut s = Sets::new();
    s.sadd("s", &[b"a", b"5"]);
    assert_eq!(s.encoding("s"), Some("listpack"));
    assert!(s.is_member("s", b"5"));
}

#[test]
fn a_new_set_starts_in_the_form_its_first_member_and_size_call_for() {
    let mut s = Sets::new();
    s.sadd("ints", &[b"1", b"2"]);
    assert_eq!(s.encoding("ints"), Some("intset"));
    s.sadd("strs", &[b"a", b"1"]);
    assert_eq!(s.encoding("strs"), Some("listpack"));
    // Integer first, then a string in the same command: a listpack.
    s.sadd("mixed", &[b"1", b"a"]);
    assert_eq!(s.encoding("mixed"), Some("listpack"));
    assert_eq!(s.members("mixed"), vec![b"1".to_vec(), b"a".to_vec()]);
    // More than set-max-intset-entries integers at once: a hashtable.
    let many = nums(0..513);
    assert_eq!(s.sadd("bigints", &refs(&many)), 513);
    assert_eq!(s.encoding("bigints"), Some("hashtable"));
    let exact = nums(0..512);
    s.sadd("fullints", &refs(&exact));
    assert_eq!(s.encoding("fullints"), Some("intset"));
    // More than set-max-listpack-entries strings at once: a hashtable.
    let many = strs("m", 0..129);
    s.sadd("bigstrs", &refs(&many));
    assert_eq!(s.encoding("bigstrs"), Some("hashtable"));
    // Duplicates within one command count once.
    assert_eq!(s.sadd("dups", &[b"x", b"x", b"y", b"x"]), 2);
    assert_eq!(s.card("dups"), 2);
}

#[test]
fn sadd_of_more_members_than_the_form_holds_converts_an_existing_set_first() {
    // Redis 7.2's setTypeMaybeConvert: the number of members SADD names,
    // new or not, decides before any is added.
    let mut s = Sets::new();
    s.sadd("pack", &[b"a"]);
    let again: Vec<&[u8]> = vec![b"a"; 129];
    assert_eq!(s.sadd("pack", &again), 0);
    assert_eq!(s.encoding("pack"), Some("hashtable"));
    assert_eq!(s.members("pack"), vec![b"a".to_vec()]);
    let mut s = Sets::new();
    s.sadd("pack", &[b"a"]);
    let again: Vec<&[u8]> = vec![b"a"; 128];
    s.sadd("pack", &again);
    assert_eq!(s.encoding("pack"), Some("listpack"), "128 fit");

    let mut s = Sets::new();
    s.sadd("ints", &[b"1"]);
    let again: Vec<&[u8]> = vec![b"1"; 513];
    assert_eq!(s.sadd("ints", &again), 0);
    assert_eq!(s.encoding("ints"), Some("hashtable"));
    assert!(s.is_member("ints", b"1"));
    let mut s = Sets::new();
    s.sadd("ints", &[b"1"]);
    let again: Vec<&[u8]> = vec![b"1"; 512];
    s.sadd("ints", &again);
    assert_eq!(s.encoding("ints"), Some("intset"), "512 fit");
}

#[test]
fn only_canonical_integers_go_into_an_intset() {
    for text in [
        &b"007"[..],
        b"-0",
        b"+1",
        b" 1",
        b"1 ",
        b"1.0",
        b"",
        b"9223372036854775808",
        b"-9223372036854775809",
    ] {
        let mut s = Sets::new();
        s.sadd("fresh", &[text]);
        assert_eq!(s.encoding("fresh"), Some("listpack"), "{text:?} alone");
        s.sadd("ints", &[b"7", b"0", b"1"]);
        s.sadd("ints", &[text]);
        assert_eq!(
            s.encoding("ints"),
            Some("listpack"),
            "{text:?} into an intset"
        );
        assert_eq!(s.card("ints"), 4, "{text:?} is a member of its own");
        assert!(s.is_member("ints", text));
    }
    let mut s = Sets::new();
    s.sadd(
        "s",
        &[b"9223372036854775807", b"-9223372036854775808", b"0", b"-1"],
    );
    assert_eq!(s.encoding("s"), Some("intset"));
    assert_eq!(
        s.members("s"),
        vec![
            b"-9223372036854775808".to_vec(),
            b"-1".into(),
            b"0".into(),
            b"9223372036854775807".into()
        ]
    );
    // A non-canonical text is not the integer's member.
    s.sadd("seven", &[b"7"]);
    for other in [&b"007"[..], b"+7", b"7 ", b"7.0"] {
        assert!(!s.is_member("seven", other), "{other:?}");
        assert_eq!(s.srem("seven", &[other]), 0);
    }
    assert_eq!(s.encoding("seven"), Some("intset"));
}

// ---------------------------------------------------------------- SREM

#[test]
fn srem_down_to_empty_deletes_the_key_in_every_form() {
    let big = strs("m", 0..200);
    let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
        ("intset", nums(0..10)),
        ("listpack", strs("m", 0..10)),
        ("hashtable", big),
    ];
    for (form, members) in cases {
        let mut s = Sets::new();
        s.sadd("s", &refs(&members));
        assert_eq!(s.encoding("s"), Some(form));
        s.expiry.set(b"s", 5_000);
        assert_eq!(s.srem("s", &[b"nope"]), 0);
        assert!(
            s.touched.is_empty(),
            "{form}: removing nothing touches nothing"
        );
        let (last, rest) = members.split_last().expect("members");
        assert_eq!(s.srem("s", &refs(rest)), rest.len() as i64);
        assert!(s.exists("s"), "{form}: one member left");
        assert_eq!(s.srem("s", &[last, b"nope"]), 1);
        assert_eq!(s.touched, vec![b"s".to_vec()], "{form}");
        assert!(!s.exists("s"), "{form}: the emptied set is gone");
        assert_eq!(s.expiry.deadline(b"s"), None, "{form}: its TTL too");
        assert_eq!(s.card("s"), 0);
        assert_eq!(s.srem("s", &[last]), 0, "{form}: SREM on a missing key");
    }
}

#[test]
fn set_commands_on_another_type_answer_wrongtype() {
    let mut s = Sets::new();
    s.store.put(b"str", b"x");
    let wrong = Reply::Error(super::WRONGTYPE.to_string());
    for cmd in [
        SetCmd::Add,
        SetCmd::Rem,
        SetCmd::IsMember,
        SetCmd::MIsMember,
        SetCmd::Card,
        SetCmd::Members,
        SetCmd::Pop(None),
        SetCmd::Pop(Some(2)),
        SetCmd::RandMember(None),
        SetCmd::RandMember(Some(-2)),
        SetCmd::Scan { cursor: 0 },
    ] {
        let items: &[&[u8]] = match cmd {
            SetCmd::Scan { .. } => &[],
            _ => &[b"m"],
        };
        assert_eq!(s.run(cmd, "str", items), wrong, "{cmd:?}");
    }
    assert_eq!(s.store.get(b"str"), Some(&b"x"[..]));
}

// ---------------------------------------------------------------- random

/// Three forms of one set of `n` members, as fresh stores.
fn each_form(n: usize, f: impl Fn(&mut Sets, &str, &[Vec<u8>])) {
    let ints = nums(0..n as i64);
    let small = strs("m", 0..n);
    let mut big = strs("m", 0..n);
    big.push(vec![b'L'; 100]);
    for (form, members) in [("intset", ints), ("listpack", small), ("hashtable", big)] {
        let mut s = Sets::new();
        s.sadd("s", &refs(&members));
        assert_eq!(s.encoding("s"), Some(form));
        f(&mut s, form, &members);
    }
}

#[test]
fn srandmember_distinct_for_positive_counts_repeats_for_negative() {
    for n in [5, 100] {
        each_form(n, |s, form, members| {
            let all: HashSet<&[u8]> = members.iter().map(Vec::as_slice).collect();
            let size = members.len();
            // No count: one member.
            for _ in 0..20 {
                match s.run(SetCmd::RandMember(None), "s", &[]) {
                    Reply::Bulk(m) => assert!(all.contains(&m[..]), "{form}"),
                    other => panic!("{form}: {other:?}"),
                }
            }
            for k in [0, 1, 2, size / 4 - 1, size / 2, size - 1] {
                let got = s.run(SetCmd::RandMember(Some(k as i64)), "s", &[]).items();
                assert_eq!(got.len(), k, "{form}: count {k}");
                assert!(all_distinct(&got), "{form}: count {k} repeats");
                assert!(got.iter().all(|m| all.contains(&m[..])), "{form}");
            }
            // A count of at least the size: the whole set.
            for k in [size, size + 1, 10 * size] {
                let got = s.run(SetCmd::RandMember(Some(k as i64)), "s", &[]);
                let mut want = members.to_vec();
                want.sort();
                assert_eq!(got.sorted(), want, "{form}: count {k}");
            }
            // Negative: exactly |count| members, repeats allowed (and
            // certain when asking for more than there are).
            let k = 3 * size;
            let got = s
                .run(SetCmd::RandMember(Some(-(k as i64))), "s", &[])
                .items();
            assert_eq!(got.len(), k, "{form}");
            assert!(got.iter().all(|m| all.contains(&m[..])), "{form}");
            assert!(!all_distinct(&got), "{form}: {k} of {size} must repeat");
            assert_eq!(
                s.card("s"),
                size as i64,
                "{form}: SRANDMEMBER removes nothing"
            );
        });
    }
}

#[test]
fn srandmember_and_spop_on_a_missing_key() {
    let mut s = Sets::new();
    assert_eq!(s.run(SetCmd::RandMember(None), "none", &[]), Reply::Null);
    assert_eq!(
        s.run(SetCmd::RandMember(Some(3)), "none", &[]),
        Reply::Array(vec![])
    );
    assert_eq!(
        s.run(SetCmd::RandMember(Some(-3)), "none", &[]),
        Reply::Array(vec![])
    );
    assert_eq!(s.run(SetCmd::Pop(None), "none", &[]), Reply::Null);
    assert_eq!(
        s.run(SetCmd::Pop(Some(3)), "none", &[]),
        Reply::Array(vec![])
    );
    s.proto = Proto::V3;
    assert_eq!(s.run(SetCmd::Pop(Some(3)), "none", &[]), Reply::Set(vec![]));
    assert_eq!(
        s.run(SetCmd::RandMember(Some(3)), "none", &[]),
        Reply::Array(vec![])
    );
    assert!(!s.exists("none"));
}

#[test]
fn spop_removes_distinct_members_and_deletes_the_emptied_key() {
    for n in [5, 100] {
        each_form(n, |s, form, members| {
            s.expiry.set(b"s", 9_000);
            let size = members.len();
            let mut left: HashSet<Vec<u8>> = members.iter().cloned().collect();
            // Count 0: nothing, and the key stays.
            assert_eq!(s.run(SetCmd::Pop(Some(0)), "s", &[]), Reply::Array(vec![]));
            // No count: one member, as a bulk string.
            let Reply::Bulk(one) = s.run(SetCmd::Pop(None), "s", &[]) else {
                panic!("{form}: SPOP without a count answers a bulk string");
            };
            assert!(left.remove(&one), "{form}: popped a member");
            assert!(!s.is_member("s", &one));
            // A count under the size: distinct members, all removed.
            let k = size / 2;
            let got = s.run(SetCmd::Pop(Some(k as u64)), "s", &[]).items();
            assert_eq!(got.len(), k, "{form}");
            assert!(all_distinct(&got), "{form}");
            assert_eq!(s.touched, vec![b"s".to_vec()]);
            for m in &got {
                assert!(left.remove(m), "{form}: {m:?} popped twice or never there");
                assert!(!s.is_member("s", m));
            }
            assert_eq!(s.card("s"), left.len() as i64);
            assert!(s.exists("s") && s.expiry.deadline(b"s").is_some());
            // A count past what is left: the rest, and the key is gone.
            let got = s.run(SetCmd::Pop(Some(10 * size as u64)), "s", &[]);
            let mut want: Vec<Vec<u8>> = left.iter().cloned().collect();
            want.sort();
            assert_eq!(got.sorted(), want, "{form}");
            assert!(!s.exists("s"), "{form}: the emptied set is deleted");
            assert_eq!(s.expiry.deadline(b"s"), None, "{form}");
        });
    }
}

#[test]
fn spop_of_the_last_member_without_a_count_deletes_the_key() {
    let mut s = Sets::new();
    s.sadd("s", &[b"only"]);
    assert_eq!(
        s.run(SetCmd::Pop(None), "s", &[]),
        Reply::Bulk(b"only".to_vec())
    );
    assert!(!s.exists("s"));
}

#[test]
fn resp3_answers_sets_for_members_and_pop_arrays_for_randmember() {
    let mut s = Sets::new();
    s.proto = Proto::V3;
    s.sadd("s", &[b"a", b"b", b"c"]);
    assert!(matches!(s.run(SetCmd::Members, "s", &[]), Reply::Set(_)));
    assert!(matches!(s.run(SetCmd::Members, "none", &[]), Reply::Set(_)));
    assert_eq!(
        s.run(SetCmd::MIsMember, "s", &[b"a", b"zz", b"b"]),
        Reply::Array(vec![Reply::Int(1), Reply::Int(0), Reply::Int(1)])
    );
    assert_eq!(
        s.run(SetCmd::MIsMember, "none", &[b"a", b"b"]),
        Reply::Array(vec![Reply::Int(0), Reply::Int(0)])
    );
    assert!(matches!(
        s.run(SetCmd::Pop(Some(1)), "s", &[]),
        Reply::Set(_)
    ));
    assert!(matches!(
        s.run(SetCmd::RandMember(Some(2)), "s", &[]),
        Reply::Array(_)
    ));
    assert!(matches!(
        s.run(SetCmd::RandMember(Some(-5)), "s", &[]),
        Reply::Array(_)
    ));
    s.sadd("t", &[b"a", b"b"]);
    assert!(matches!(s.run(SetCmd::Inter, "s", &[b"t"]), Reply::Set(_)));
    assert!(matches!(s.run(SetCmd::Union, "s", &[b"t"]), Reply::Set(_)));
    assert!(matches!(s.run(SetCmd::Diff, "s", &[b"t"]), Reply::Set(_)));
}

// ---------------------------------------------------------------- SSCAN

/// One `SSCAN` step: the next cursor and the members.
fn sscan(s: &mut Sets, key: &str, cursor: u64, opts: &[&[u8]]) -> (u64, Vec<Vec<u8>>) {
    let Reply::Array(parts) = s.run(SetCmd::Scan { cursor }, key, opts) else {
        panic!("SSCAN answers a two-element array");
    };
    let [Reply::Bulk(next), items] = &parts[..] else {
        panic!("SSCAN: {parts:?}");
    };
    let next = std::str::from_utf8(next)
        .expect("ASCII")
        .parse()
        .expect("cursor");
    (next, items.items())
}

#[test]
fn sscan_of_a_big_set_returns_every_member_present_for_the_whole_walk() {
    let mut s = Sets::new();
    let stable = strs("keep:", 0..3000);
    let churn = strs("churn:", 0..2000);
    s.sadd("s", &refs(&stable));
    s.sadd("s", &refs(&churn));
    assert_eq!(s.encoding("s"), Some("hashtable"));
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    let (mut cursor, mut step) = (0, 0usize);
    loop {
        let (next, items) = sscan(&mut s, "s", cursor, &[b"COUNT", b"37"]);
        seen.extend(items);
        // Members come and go between the steps.
        let gone = &churn[(step * 20).min(churn.len())..((step + 1) * 20).min(churn.len())];
        s.srem("s", &refs(gone));
        let fresh = strs(&format!("new{step}:"), 0..15);
        s.sadd("s", &refs(&fresh));
        step += 1;
        if next == 0 {
            break;
        }
        cursor = next;
        assert!(step < 100_000, "the walk ends");
    }
    for m in &stable {
        assert!(seen.contains(m), "{:?} missed", String::from_utf8_lossy(m));
    }
    // Whatever was returned was a member at some point.
    assert!(seen
        .iter()
        .all(|m| m.starts_with(b"keep:") || m.starts_with(b"churn:") || m.starts_with(b"new")));
}

#[test]
fn sscan_of_a_small_set_is_one_step_and_match_filters() {
    for members in [nums(0..20), strs("m", 0..20)] {
        let mut s = Sets::new();
        s.sadd("s", &refs(&members));
        let (next, items) = sscan(&mut s, "s", 0, &[b"COUNT", b"1"]);
        assert_eq!(next, 0);
        assert_eq!(items, members);
        let (_, items) = sscan(&mut s, "s", 0, &[b"MATCH", b"*1*"]);
        let want: Vec<Vec<u8>> = members
            .iter()
            .filter(|m| m.contains(&b'1'))
            .cloned()
            .collect();
        assert_eq!(items, want);
    }
    let mut s = Sets::new();
    assert_eq!(sscan(&mut s, "none", 0, &[]), (0, vec![]));
    s.sadd("s", &[b"a"]);
    assert_eq!(
        s.run(SetCmd::Scan { cursor: 0 }, "s", &[b"COUNT", b"0"]),
        Reply::Error("ERR syntax error".into())
    );
    assert_eq!(
        s.run(SetCmd::Scan { cursor: 0 }, "s", &[b"BOGUS"]),
        Reply::Error("ERR syntax error".into())
    );
}

// ---------------------------------------------------------------- several sets

#[test]
fn sinter_sunion_sdiff_and_sintercard_across_forms() {
    let mut s = Sets::new();
    s.sadd("ints", &refs(&nums(0..10)));
    s.sadd("pack", &[b"1", b"3", b"5", b"a"]);
    let big: Vec<Vec<u8>> = nums(0..300).into_iter().chain(strs("b", 0..10)).collect();
    s.sadd("big", &refs(&big));
    assert_eq!(s.encoding("big"), Some("hashtable"));
    let inter = s.run(SetCmd::Inter, "ints", &[b"pack", b"big"]).sorted();
    assert_eq!(inter, vec![b"1".to_vec(), b"3".into(), b"5".into()]);
    assert_eq!(
        s.run(SetCmd::Inter, "ints", &[b"missing"]),
        Reply::Array(vec![])
    );
    let union = s
        .run(SetCmd::Union, "ints", &[b"pack", b"missing"])
        .sorted();
    let mut want = nums(0..10);
    want.push(b"a".to_vec());
    want.sort();
    assert_eq!(union, want);
    let diff = s.run(SetCmd::Diff, "ints", &[b"pack", b"missing"]).sorted();
    let mut want: Vec<Vec<u8>> = [0, 2, 4, 6, 7, 8, 9]
        .iter()
        .map(|n: &i64| n.to_string().into_bytes())
        .collect();
    want.sort();
    assert_eq!(diff, want);
    assert_eq!(
        s.run(SetCmd::Diff, "missing", &[b"ints"]),
        Reply::Array(vec![])
    );
    for (limit, want) in [(0, 3), (1, 1), (2, 2), (3, 3), (100, 3)] {
        assert_eq!(
            s.int(SetCmd::InterCard { limit }, "ints", &[b"pack", b"big"]),
            want,
            "LIMIT {limit}"
        );
    }
    assert_eq!(
        s.int(SetCmd::InterCard { limit: 0 }, "ints", &[b"missing"]),
        0
    );
    // A string key anywhere, even after a missing one: WRONGTYPE.
    s.store.put(b"str", b"x");
    let wrong = Reply::Error(super::WRONGTYPE.to_string());
    for cmd in [
        SetCmd::Inter,
        SetCmd::Union,
        SetCmd::Diff,
        SetCmd::InterCard { limit: 0 },
    ] {
        assert_eq!(s.run(cmd, "ints", &[b"missing", b"str"]), wrong, "{cmd:?}");
    }
}

#[test]
fn store_commands_replace_the_destination_clear_its_ttl_and_delete_on_empty() {
    let mut s = Sets::new();
    s.sadd("a", &[b"1", b"2", b"3"]);
    s.sadd("b", &[b"2", b"3", b"x"]);
    s.store.put(b"dst", b"a string");
    s.expiry.set(b"dst", 50_000);
    assert_eq!(s.int(SetCmd::InterStore, "dst", &[b"a", b"b"]), 2);
    assert_eq!(s.touched, vec![b"dst".to_vec()]);
    assert_eq!(s.members("dst"), vec![b"2".to_vec(), b"3".into()]);
    assert_eq!(s.encoding("dst"), Some("intset"));
    assert_eq!(s.expiry.deadline(b"dst"), None, "the TTL is cleared");
    s.expiry.set(b"dst", 50_000);
    assert_eq!(s.int(SetCmd::UnionStore, "dst", &[b"a", b"b"]), 4);
    assert_eq!(s.card("dst"), 4);
    assert_eq!(s.expiry.deadline(b"dst"), None);
    assert_eq!(s.int(SetCmd::DiffStore, "dst", &[b"a", b"b"]), 1);
    assert_eq!(s.members("dst"), vec![b"1".to_vec()]);
    // An empty result deletes the destination.
    assert_eq!(s.int(SetCmd::InterStore, "dst", &[b"a", b"missing"]), 0);
    assert!(!s.exists("dst"));
    assert_eq!(s.touched, vec![b"dst".to_vec()]);
    // ... and touches nothing when there was nothing.
    assert_eq!(s.int(SetCmd::DiffStore, "dst", &[b"missing", b"a"]), 0);
    assert!(s.touched.is_empty());
    // The destination may be a source.
    assert_eq!(s.int(SetCmd::UnionStore, "a", &[b"a", b"b"]), 4);
    assert_eq!(s.card("a"), 4);
    // A big result is a hashtable.
    s.sadd("big", &refs(&strs("m", 0..500)));
    assert_eq!(s.int(SetCmd::UnionStore, "dst", &[b"big", b"b"]), 503);
    assert_eq!(s.encoding("dst"), Some("hashtable"));
    // A wrong type among the sources leaves the destination alone.
    s.store.put(b"str", b"x");
    assert_eq!(
        s.run(SetCmd::InterStore, "dst", &[b"big", b"str"]),
        Reply::Error(super::WRONGTYPE.to_string())
    );
    assert_eq!(s.card("dst"), 503);
}

#[test]
fn smove_moves_converts_the_destination_and_checks_types() {
    let mut s = Sets::new();
    s.sadd("src", &[b"1", b"a"]);
    s.sadd("dst", &[b"5", b"6"]);
    assert_eq!(s.encoding("dst"), Some("intset"));
    assert_eq!(s.int(SetCmd::Move, "src", &[b"dst", b"a"]), 1);
    assert_eq!(
        s.encoding("dst"),
        Some("listpack"),
        "a string into an intset"
    );
    assert!(s.is_member("dst", b"a") && !s.is_member("src", b"a"));
    assert_eq!(s.int(SetCmd::Move, "src", &[b"dst", b"zz"]), 0);
    // Moving the last member deletes the source; a new destination starts
    // in its first member's form.
    assert_eq!(s.int(SetCmd::Move, "src", &[b"new", b"1"]), 1);
    assert!(!s.exists("src"));
    assert_eq!(s.encoding("new"), Some("intset"));
    assert_eq!(s.members("new"), vec![b"1".to_vec()]);
    // Source and destination the same: 1 if a member, nothing changes.
    assert_eq!(s.int(SetCmd::Move, "dst", &[b"dst", b"5"]), 1);
    assert_eq!(s.int(SetCmd::Move, "dst", &[b"dst", b"nope"]), 0);
    assert_eq!(s.card("dst"), 3);
    // A missing source answers 0 before any type check (Redis 7.0).
    s.store.put(b"str", b"x");
    assert_eq!(s.int(SetCmd::Move, "missing", &[b"str", b"5"]), 0);
    let wrong = Reply::Error(super::WRONGTYPE.to_string());
    assert_eq!(s.run(SetCmd::Move, "dst", &[b"str", b"5"]), wrong);
    assert_eq!(s.run(SetCmd::Move, "str", &[b"dst", b"5"]), wrong);
    assert_eq!(s.card("dst"), 3);
}

// ---------------------------------------------------------------- memory

/// A store holding one other key, warmed so that adding and removing `s`
/// grows none of its tables.
fn warmed() -> Sets {
    let mut s = Sets::new();
    s.store.put(b"anchor", b"value");
    s.store.put(b"s", b"warm");
    s.store.del(b"s");
    s
}

#[test]
fn memory_returns_to_the_start_through_every_form_change() {
    let mut s = warmed();
    let base = s.store.memory();
    s.sadd("s", &[b"1", b"2", b"3"]);
    let intset = s.store.memory();
    assert!(intset > base);
    s.sadd("s", &[b"4"]);
    assert!(s.store.memory() >= intset);
    s.srem("s", &[b"4"]);
    assert_eq!(s.store.memory(), intset, "an intset shrinks back exactly");
    s.sadd("s", &[b"abc"]);
    assert_eq!(s.encoding("s"), Some("listpack"));
    let listpack = s.store.memory();
    s.sadd("s", &[b"def"]);
    s.srem("s", &[b"def"]);
    assert_eq!(
        s.store.memory(),
        listpack,
        "a listpack shrinks back exactly"
    );
    s.sadd("s", &[&[b'L'; 100][..]]);
    assert_eq!(s.encoding("s"), Some("hashtable"));
    assert!(s.store.memory() > listpack);
    s.srem("s", &[b"1", b"2", b"3", b"abc", &[b'L'; 100][..]]);
    assert!(!s.exists("s"));
    assert_eq!(s.store.memory(), base, "deleted by SREM: back to the start");

    // Deleted by SPOP, by a *STORE with an empty result, by SMOVE.
    for how in ["spop", "store", "smove"] {
        s.sadd("s", &refs(&strs("m", 0..300)));
        assert!(s.store.memory() > base);
        match how {
            "spop" => drop(s.run(SetCmd::Pop(Some(1000)), "s", &[])),
            "store" => drop(s.run(SetCmd::InterStore, "s", &[b"missing"])),
            _ => {
                s.srem("s", &refs(&strs("m", 1..300)));
                s.int(SetCmd::Move, "s", &[b"anchor2", b"m0"]);
                s.srem("anchor2", &[b"m0"]);
            }
        }
        assert!(!s.exists("s"), "{how}");
        assert_eq!(s.store.memory(), base, "{how}");
    }
}

#[test]
fn a_big_set_is_freed_lazily_in_steps_until_memory_is_back() {
    let mut s = warmed();
    let base = s.store.memory();
    let members = strs("member:", 0..50_000);
    for chunk in members.chunks(1000) {
        s.sadd("s", &refs(chunk));
    }
    assert_eq!(s.encoding("s"), Some("hashtable"));
    let full = s.store.memory();
    assert!(full > base + 50_000 * 16, "{full} against {base}");
    assert!(s.store.del(b"s"));
    // Removed, but its members are still held until freed in steps.
    let mut last = s.store.memory();
    assert!(last > base, "a big set is not freed at once");
    let mut steps = 0;
    while s.store.free_lazy(4096) {
        let now = s.store.memory();
        assert!(now <= last, "memory only goes down while freeing");
        last = now;
        steps += 1;
        assert!(steps < 1000);
    }
    assert!(steps > 1, "freed in several steps ({steps})");
    assert_eq!(s.store.memory(), base);
    assert!(!s.store.free_lazy(4096), "nothing left");

    // A *STORE replacing a big destination queues it the same way.
    for chunk in members.chunks(1000) {
        s.sadd("s", &refs(chunk));
    }
    s.sadd("small", &[b"x"]);
    let small_only = {
        let mut t = warmed();
        t.sadd("small", &[b"x"]);
        t.sadd("s", &[b"x"]);
        t.store.memory()
    };
    s.int(SetCmd::UnionStore, "s", &[b"small"]);
    assert_eq!(s.members("s"), vec![b"x".to_vec()]);
    while s.store.free_lazy(4096) {}
    assert_eq!(s.store.memory(), small_only);
}

/// `set::growth` bounds what `SADD` adds to the store's memory while the
/// set is small, as it converts, and once it is big, where it charges the
/// table's growth instead of a second conversion (which would make a big
/// set refuse far below its share of `--maxmemory`).
#[test]
fn growth_bounds_what_sadd_adds_small_and_big() {
    let mut s = Sets::new();
    let mut n = 0usize;
    while n < 150_000 {
        let batch = if n % 2 == 0 { 1 } else { 100 };
        let names: Vec<String> = (n..n + batch).map(|i| format!("member:{i:08}")).collect();
        let items: Vec<&[u8]> = names.iter().map(|m| m.as_bytes()).collect();
        let args = pack::pack(items.iter().copied());
        let bound = s.write_bound(b"s", SET, |count, big| {
            super::set::growth(count, &args, 0, big)
        });
        let before = s.store.memory();
        assert_eq!(s.sadd("s", &items), batch as i64);
        n += batch;
        let added = s.store.memory().saturating_sub(before);
        assert!(added <= bound, "{n} members: added {added} > bound {bound}");
    }
    assert_eq!(s.encoding("s"), Some("hashtable"));
    let one = pack::pack([&b"member"[..]]);
    assert!(super::set::growth(1_000_000, &one, 0, true) <= 1_000_000 * 36);
    assert!(super::set::growth(100, &one, 0, false) >= 100 * 64);
}
