use super::prefetch::{PREFETCH_MIN_KEYS, PREFETCH_WINDOW};
use super::*;
use slot_index::SlotIndex;
use tokio::sync::oneshot::error::TryRecvError;

fn part(pairs: &[(&str, Option<&str>)]) -> Box<TxnPart> {
    let mut p = TxnPart::new(Dialect::Text);
    for (k, v) in pairs {
        match v {
            Some(v) => p.ops.push(OpKind::Put, k.as_bytes(), v.as_bytes()),
            None => p.ops.push(OpKind::Remove, k.as_bytes(), b""),
        }
    }
    Box::new(p)
}

fn read_part(keys: &[&str]) -> Box<TxnPart> {
    let mut p = TxnPart::new(Dialect::Resp);
    for k in keys {
        p.ops.push(OpKind::Get, k.as_bytes(), b"");
    }
    Box::new(p)
}

fn get_batch(keys: &[&str]) -> Box<OpBatch> {
    let mut b = OpBatch::new(Dialect::Text);
    for k in keys {
        b.push(OpKind::Get, k.as_bytes(), b"");
    }
    Box::new(b)
}

fn replies(r: BatchReply) -> Vec<String> {
    r.segments()
        .map(|s| String::from_utf8(s.to_vec()).unwrap())
        .collect()
}

fn prepare(p: &mut Partition, txn: TxnId, part: Box<TxnPart>) -> oneshot::Receiver<Vote> {
    let (tx, rx) = oneshot::channel();
    p.handle(Request::Prepare(txn, part, tx));
    rx
}

fn batch(p: &mut Partition, b: Box<OpBatch>) -> oneshot::Receiver<BatchReply> {
    let (tx, rx) = oneshot::channel();
    p.handle(Request::Batch(b, ReplyTo::Local(tx)));
    rx
}

fn value(p: &Partition, k: &str) -> Option<String> {
    p.store()
        .get(k.as_bytes())
        .map(|v| String::from_utf8(v.to_vec()).unwrap())
}

#[test]
fn a_batch_on_a_store_past_the_prefetch_threshold_runs_in_order() {
    // Past PREFETCH_MIN_KEYS a batch is prefetched first: same replies,
    // writes and reads of one key in the batch's order.
    let mut p = Partition::default();
    let mut load = OpBatch::new(Dialect::Text);
    for i in 0..PREFETCH_MIN_KEYS + 10 {
        load.push(OpKind::Put, format!("k{i}").as_bytes(), b"v");
    }
    batch(&mut p, Box::new(load)).try_recv().unwrap();
    assert_eq!(p.store().len(), PREFETCH_MIN_KEYS + 10);
    let mut b = OpBatch::new(Dialect::Text);
    b.push(OpKind::Get, b"k7", b"");
    b.push(OpKind::Put, b"k7", b"w");
    b.push(OpKind::Get, b"k7", b"");
    b.push(OpKind::Get, b"k7", b"");
    b.push(OpKind::Remove, b"k9", b"");
    b.push(OpKind::Get, b"k9", b"");
    b.push(OpKind::Get, b"absent", b"");
    let r = batch(&mut p, Box::new(b)).try_recv().unwrap();
    assert_eq!(
        replies(r),
        [
            "{\"status\": \"Ok\", \"result\": \"v\"}\n",
            "{\"status\": \"Ok\"}\n",
            "{\"status\": \"Ok\", \"result\": \"w\"}\n",
            "{\"status\": \"Ok\", \"result\": \"w\"}\n",
            "{\"status\": \"Ok\"}\n",
            "{\"status\": \"Error\", \"mesg\": \"key not found\"}\n",
            "{\"status\": \"Error\", \"mesg\": \"key not found\"}\n",
        ]
    );
}

#[test]
fn writes_and_reads_of_a_big_set_over_several_prefetch_windows_answer_in_order() {
    // A batch longer than PREFETCH_WINDOW is prefetched a window at a
    // time as it runs; adds, removals and lookups of the same members
    // answer as one by one (the model).
    use coll::pack::pack;
    use coll::set::SetCmd;
    let mut p = Partition::default();
    let n = PREFETCH_MIN_KEYS + 100;
    let mut load = OpBatch::new(Dialect::Resp);
    let mut model = std::collections::HashSet::new();
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let members: Vec<String> = chunk.iter().map(|i| format!("m{i}")).collect();
        model.extend(members.iter().cloned());
        load.push(
            OpKind::SetType(SetCmd::Add),
            b"s",
            &pack(members.iter().map(|m| m.as_bytes())),
        );
    }
    batch(&mut p, Box::new(load)).try_recv().unwrap();
    let mut b = OpBatch::new(Dialect::Resp);
    let mut want = Vec::new();
    for i in 0..PREFETCH_WINDOW * 3 + 5 {
        let m = format!("m{}", (i * 7919) % (n + 50));
        let (kind, value, reply) = match i % 3 {
            0 => (SetCmd::Add, pack([m.as_bytes()]), model.insert(m.clone())),
            1 => (SetCmd::Rem, pack([m.as_bytes()]), model.remove(&m)),
            _ => (SetCmd::IsMember, m.clone().into_bytes(), model.contains(&m)),
        };
        b.push(OpKind::SetType(kind), b"s", &value);
        want.push(format!(":{}\r\n", u8::from(reply)));
    }
    let r = batch(&mut p, Box::new(b)).try_recv().unwrap();
    assert_eq!(replies(r), want);
    assert_eq!(
        p.store().big_dict(b"s").map(coll::Dict::len),
        Some(model.len())
    );
}

#[test]
fn member_lookups_of_a_big_set_and_hash_in_one_batch_answer_in_order() {
    // Stretches of SISMEMBER and HGET on collections past
    // PREFETCH_MIN_KEYS elements are prefetched first: the answers are
    // those of running them one by one.
    use coll::hash::HashCmd;
    use coll::pack::pack;
    use coll::set::SetCmd;
    let mut p = Partition::default();
    let n = PREFETCH_MIN_KEYS + 100;
    let mut load = OpBatch::new(Dialect::Resp);
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let members: Vec<String> = chunk.iter().map(|i| format!("m{i}")).collect();
        let packed = pack(members.iter().map(|m| m.as_bytes()));
        load.push(OpKind::SetType(SetCmd::Add), b"s", &packed);
        let pairs: Vec<String> = chunk
            .iter()
            .flat_map(|i| [format!("f{i}"), format!("v{i}")])
            .collect();
        let packed = pack(pairs.iter().map(|m| m.as_bytes()));
        load.push(OpKind::Hash(HashCmd::Set { ok: false }), b"h", &packed);
    }
    batch(&mut p, Box::new(load)).try_recv().unwrap();
    assert_eq!(p.store().big_dict(b"s").map(coll::Dict::len), Some(n));
    assert_eq!(p.store().big_dict(b"h").map(coll::Dict::len), Some(n));
    let mut b = OpBatch::new(Dialect::Resp);
    let probes = ["m1", "m9", "absent", "m65600", "m7", "m1"];
    for m in probes {
        b.push(OpKind::SetType(SetCmd::IsMember), b"s", m.as_bytes());
    }
    for f in ["f3", "nope", "f65635", "f0", "f3"] {
        b.push(OpKind::Hash(HashCmd::Get), b"h", f.as_bytes());
    }
    let r = batch(&mut p, Box::new(b)).try_recv().unwrap();
    assert_eq!(
        replies(r),
        [
            ":1\r\n",
            ":1\r\n",
            ":0\r\n",
            ":1\r\n",
            ":1\r\n",
            ":1\r\n",
            "$2\r\nv3\r\n",
            "$-1\r\n",
            "$6\r\nv65635\r\n",
            "$2\r\nv0\r\n",
            "$2\r\nv3\r\n",
        ]
    );
}

#[test]
fn batch_executes_in_order() {
    let mut p = Partition::default();
    let mut b = OpBatch::new(Dialect::Text);
    b.push(OpKind::Put, b"a", b"1");
    b.push(OpKind::Get, b"a", b"");
    b.push(OpKind::Remove, b"a", b"");
    b.push(OpKind::Get, b"a", b"");
    let r = batch(&mut p, Box::new(b)).try_recv().unwrap();
    assert_eq!(
        replies(r),
        [
            "{\"status\": \"Ok\"}\n",
            "{\"status\": \"Ok\", \"result\": \"1\"}\n",
            "{\"status\": \"Ok\"}\n",
            "{\"status\": \"Error\", \"mesg\": \"key not found\"}\n",
        ]
    );
}

#[test]
fn prepared_keys_block_readers_until_commit() {
    let mut p = Partition::default();
    p.store.put(b"a", b"old");
    let mut vote = prepare(&mut p, 1, part(&[("a", Some("new")), ("b", None)]));
    assert!(matches!(vote.try_recv(), Ok(Vote::Prepared(None))));
    // A batch touching a locked key waits, even its later unlocked ops.
    let mut r = batch(&mut p, get_batch(&["c", "a", "c"]));
    assert_eq!(r.try_recv().unwrap_err(), TryRecvError::Empty);
    // Unrelated keys are not stalled.
    let mut r2 = batch(&mut p, get_batch(&["c"]));
    assert!(r2.try_recv().is_ok());
    p.handle(Request::Commit(1, None));
    let got = replies(r.try_recv().unwrap());
    assert_eq!(got[1], "{\"status\": \"Ok\", \"result\": \"new\"}\n");
    assert!(p.is_idle());
}

#[test]
fn abort_changes_nothing_and_returns_the_part() {
    let mut p = Partition::default();
    p.store.put(b"a", b"old");
    let _vote = prepare(&mut p, 7, part(&[("a", Some("new"))]));
    let (tx, mut rx) = oneshot::channel();
    p.handle(Request::Abort(7, Some(tx)));
    let back = rx.try_recv().unwrap().unwrap();
    assert_eq!(back.ops.op(0).value, b"new");
    assert_eq!(value(&p, "a").as_deref(), Some("old"));
    assert!(p.is_idle());
}

#[test]
fn wait_die_older_waits_younger_dies() {
    let mut p = Partition::default();
    let mut held = prepare(&mut p, 10, part(&[("k", Some("10"))]));
    assert!(matches!(held.try_recv(), Ok(Vote::Prepared(_))));
    // Younger (larger id) than the holder: dies at once, part handed back.
    let mut young = prepare(&mut p, 11, part(&[("k", Some("11"))]));
    match young.try_recv() {
        Ok(Vote::Conflict(back)) => assert_eq!(back.ops.op(0).value, b"11"),
        other => panic!("{other:?}"),
    }
    // Older: waits, and is granted when the holder commits.
    let mut old = prepare(&mut p, 9, part(&[("k", Some("9")), ("j", Some("9"))]));
    assert_eq!(old.try_recv().unwrap_err(), TryRecvError::Empty);
    assert!(
        !p.blocks(OpKind::Get, b"j"),
        "a waiting prepare holds no lock"
    );
    p.handle(Request::Commit(10, None));
    assert_eq!(value(&p, "k").as_deref(), Some("10"));
    assert!(matches!(old.try_recv(), Ok(Vote::Prepared(_))));
    assert!(p.blocks(OpKind::Get, b"j") && p.blocks(OpKind::Get, b"k"));
    p.handle(Request::Commit(9, None));
    assert_eq!(value(&p, "k").as_deref(), Some("9"));
}

#[test]
fn apply_waits_for_locks_then_applies_all() {
    let mut p = Partition::default();
    let _vote = prepare(&mut p, 1, part(&[("a", Some("t1"))]));
    let (tx, mut rx) = oneshot::channel();
    p.handle(Request::Apply(
        part(&[("a", Some("t2")), ("b", Some("t2"))]),
        tx,
    ));
    assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Empty);
    assert_eq!(value(&p, "b"), None, "nothing half-applied");
    p.handle(Request::Commit(1, None));
    assert!(matches!(rx.try_recv(), Ok(Applied::Done(_))));
    assert_eq!(value(&p, "a").as_deref(), Some("t2"));
    assert_eq!(value(&p, "b").as_deref(), Some("t2"));
}

#[test]
fn waiters_keep_arrival_order_on_the_same_key() {
    let mut p = Partition::default();
    let _vote = prepare(&mut p, 1, part(&[("a", Some("t1"))]));
    let mut put = OpBatch::new(Dialect::Text);
    put.push(OpKind::Put, b"a", b"later");
    let mut first = batch(&mut p, get_batch(&["a"]));
    let mut second = batch(&mut p, Box::new(put));
    p.handle(Request::Commit(1, None));
    let got = replies(first.try_recv().unwrap());
    assert_eq!(got[0], "{\"status\": \"Ok\", \"result\": \"t1\"}\n");
    assert!(second.try_recv().is_ok());
    assert_eq!(value(&p, "a").as_deref(), Some("later"));
}

#[test]
fn shared_prepare_runs_reads_early_and_blocks_writers_only() {
    let mut p = Partition::default();
    p.store.put(b"a", b"1");
    let mut vote = prepare(&mut p, 3, read_part(&["a", "zz"]));
    match vote.try_recv() {
        Ok(Vote::Prepared(Some(r))) => assert_eq!(replies(r), ["$1\r\n1\r\n", "$-1\r\n"]),
        other => panic!("{other:?}"),
    }
    assert!(
        batch(&mut p, get_batch(&["a"])).try_recv().is_ok(),
        "readers pass"
    );
    let mut w = OpBatch::new(Dialect::Text);
    w.push(OpKind::Put, b"a", b"2");
    let mut writer = batch(&mut p, Box::new(w));
    assert_eq!(writer.try_recv().unwrap_err(), TryRecvError::Empty);
    p.handle(Request::Commit(3, None));
    assert!(writer.try_recv().is_ok());
    assert_eq!(value(&p, "a").as_deref(), Some("2"));
}

#[test]
fn atomic_run_waits_whole() {
    let mut p = Partition::default();
    let _vote = prepare(&mut p, 1, part(&[("b", Some("t1"))]));
    let mut b = OpBatch::new(Dialect::Resp);
    b.push(OpKind::Get, b"a", b"");
    b.push(OpKind::Get, b"b", b"");
    b.seal_run(2);
    let mut r = batch(&mut p, Box::new(b));
    assert_eq!(r.try_recv().unwrap_err(), TryRecvError::Empty);
    assert_eq!(p.stats.ops, 0, "no part of the run executed");
    p.handle(Request::Commit(1, None));
    assert_eq!(replies(r.try_recv().unwrap()), ["$-1\r\n", "$2\r\nt1\r\n"]);
}

#[test]
fn writes_dirty_watches_and_flush_waits_for_locks() {
    let mut p = Partition::default();
    p.watch(5, b"w");
    let mut b = OpBatch::new(Dialect::Resp);
    b.push(OpKind::IncrBy(1), b"w", b"");
    let _reply = batch(&mut p, Box::new(b));
    assert!(p.watches.is_dirty(5));
    let _vote = prepare(&mut p, 1, part(&[("x", Some("1"))]));
    let (tx, mut rx) = oneshot::channel();
    p.handle(Request::Admin(Admin::Flush, tx));
    assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Empty);
    p.handle(Request::Commit(1, None));
    assert!(rx.try_recv().is_ok());
    assert!(p.store.is_empty());
}

#[test]
fn a_waiting_flush_is_not_starved_by_new_transactions() {
    let mut p = Partition::default();
    let _held = prepare(&mut p, 1, part(&[("x", Some("1"))]));
    let (tx, mut flushed) = oneshot::channel();
    p.handle(Request::Admin(Admin::Flush, tx));
    assert_eq!(flushed.try_recv().unwrap_err(), TryRecvError::Empty);
    // A new prepare on other keys would be granted at once; with a flush
    // waiting it is not admitted (it dies and retries), so no stream of
    // them can hold the flush off.
    let mut late = prepare(&mut p, 2, part(&[("y", Some("2"))]));
    assert!(matches!(late.try_recv(), Ok(Vote::Conflict(_))));
    assert!(p.locks.blocks(b"x", true) && !p.locks.blocks(b"y", true));
    // A single-partition transaction queues behind the flush.
    let (tx, mut applied) = oneshot::channel();
    p.handle(Request::Apply(part(&[("z", Some("3"))]), tx));
    assert_eq!(applied.try_recv().unwrap_err(), TryRecvError::Empty);
    p.handle(Request::Commit(1, None));
    assert!(flushed.try_recv().is_ok(), "the flush ran once txn 1 ended");
    assert!(matches!(applied.try_recv(), Ok(Applied::Done(_))));
    assert_eq!((value(&p, "x"), value(&p, "z")), (None, Some("3".into())));
    // After the flush, the retried prepare is admitted.
    let mut retried = prepare(&mut p, 2, part(&[("y", Some("2"))]));
    assert!(matches!(retried.try_recv(), Ok(Vote::Prepared(None))));
}

#[test]
fn flushed_entries_are_freed_in_steps_and_counted_until_then() {
    let mut p = Partition::default();
    for i in 0..20_000 {
        p.store.put(format!("key:{i}").as_bytes(), b"value");
    }
    let full = p.memory();
    let (tx, mut flushed) = oneshot::channel();
    p.handle(Request::Admin(Admin::Flush, tx));
    assert!(flushed.try_recv().is_ok());
    assert!(p.store.is_empty() && p.store.get(b"key:1").is_none());
    // The index is freed at once (one allocation); the entries and the
    // slab are still counted until freed.
    let after = p.memory();
    assert!(after > full / 2 && after < full, "{after} of {full}");
    let mut steps = 0;
    while p.free_flushed(1) {
        steps += 1;
        assert!(p.memory() < after);
    }
    assert!(steps >= 2, "a 4096-entry chunk per step: {steps}");
    assert_eq!(p.memory(), 0);
}

#[test]
fn a_write_at_the_budget_frees_flushed_entries_first() {
    let budget = 4 << 20;
    let mut p = Partition::with_budget(budget);
    for i in 0..20_000 {
        p.store.put(format!("key:{i:06}").as_bytes(), &[b'v'; 64]);
    }
    let (tx, _flushed) = oneshot::channel();
    p.handle(Request::Admin(Admin::Flush, tx));
    assert!(p.memory() > budget / 4, "the flushed entries are counted");
    // Without freeing what the flush removed, this would not fit.
    let mut reply = Vec::new();
    let big = vec![b'x'; budget - p.memory() + 1024];
    let op = OpRef {
        kind: OpKind::Put,
        key: b"big",
        value: &big,
    };
    p.execute(Dialect::Resp, op, &mut reply);
    assert_eq!(reply, b"+OK\r\n");
    assert!(p.memory() <= budget);
}

fn exec(p: &mut Partition, kind: OpKind, key: &str, value: &str) -> String {
    let mut out = Vec::new();
    let op = OpRef {
        kind,
        key: key.as_bytes(),
        value: value.as_bytes(),
    };
    p.execute(Dialect::Resp, op, &mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn expired_keys_are_never_served_and_count_as_expired() {
    let mut p = Partition::default();
    p.freeze_clock(1_000);
    p.watch(9, b"k");
    exec(&mut p, OpKind::Put, "k", "v");
    assert_eq!(
        exec(&mut p, OpKind::Expire(1_500, ExpireCond::ALWAYS), "k", ""),
        ":1\r\n"
    );
    p.freeze_clock(1_499);
    assert_eq!(exec(&mut p, OpKind::Get, "k", ""), "$1\r\nv\r\n");
    p.freeze_clock(1_500);
    assert_eq!(exec(&mut p, OpKind::Get, "k", ""), "$-1\r\n");
    assert_eq!(exec(&mut p, OpKind::Ttl { ms: false }, "k", ""), ":-2\r\n");
    assert_eq!(p.stats.expired, 1);
    assert!(p.store.is_empty(), "the expired key's memory is gone");
    assert!(p.watches.is_dirty(9), "expiry invalidates watches");
}

#[test]
fn reclaim_removes_expired_keys_in_bounded_steps_without_reads() {
    let mut p = Partition::default();
    p.freeze_clock(0);
    for i in 0..5_000 {
        let key = format!("t{i}");
        exec(&mut p, OpKind::Put, &key, "v");
        exec(
            &mut p,
            OpKind::Expire(100 + i as u64 % 10, ExpireCond::ALWAYS),
            &key,
            "",
        );
    }
    exec(&mut p, OpKind::Put, "forever", "v");
    assert_eq!(p.reclaim_expired(1_000), 0, "nothing is due yet");
    p.freeze_clock(200);
    assert_eq!(
        p.reclaim_expired(1_000),
        1_000,
        "at most the bound per call"
    );
    assert_eq!(p.store.len(), 4_001);
    while p.reclaim_expired(1_000) > 0 {}
    assert_eq!(p.store.len(), 1);
    assert_eq!(p.stats.expired, 5_000);
    assert_eq!(exec(&mut p, OpKind::Get, "forever", ""), "$1\r\nv\r\n");
}

#[test]
fn reclaim_skips_keys_locked_by_a_prepared_transaction() {
    let mut p = Partition::default();
    p.freeze_clock(0);
    exec(&mut p, OpKind::Put, "a", "v");
    exec(&mut p, OpKind::Expire(10, ExpireCond::ALWAYS), "a", "");
    let _vote = prepare(&mut p, 1, part(&[("a", Some("txn"))]));
    p.freeze_clock(20);
    assert_eq!(p.reclaim_expired(100), 0);
    p.handle(Request::Commit(1, None));
    // The commit wrote the key without a TTL: it lives on.
    assert_eq!(p.reclaim_expired(100), 0);
    assert_eq!(value(&p, "a").as_deref(), Some("txn"));
}

#[test]
fn noeviction_refuses_writes_past_the_budget_and_recovers_after_deletes() {
    let mut p = Partition::with_budget(64 * 1024);
    let mut stored = 0;
    loop {
        let key = format!("key:{stored:012}");
        let reply = exec(&mut p, OpKind::Put, &key, &"v".repeat(100));
        if reply != "+OK\r\n" {
            assert_eq!(
                reply,
                "-OOM command not allowed when used memory > 'maxmemory'.\r\n"
            );
            break;
        }
        stored += 1;
        assert!(stored < 10_000, "the budget must stop the writes");
    }
    assert!(stored > 100, "{stored}");
    assert!(p.memory() <= 64 * 1024, "{}", p.memory());
    // Reads and deletes still work; deleting makes room again.
    assert_eq!(
        exec(&mut p, OpKind::Strlen, "key:000000000000", ""),
        ":100\r\n"
    );
    for i in 0..50 {
        exec(&mut p, OpKind::Del, &format!("key:{i:012}"), "");
    }
    assert_eq!(exec(&mut p, OpKind::Put, "again", "v"), "+OK\r\n");
}

#[test]
fn a_transaction_that_does_not_fit_fails_whole_in_prepare() {
    let mut p = Partition::with_budget(8 * 1024);
    exec(&mut p, OpKind::Put, "keep", "old");
    let big = "x".repeat(1000);
    let pairs: Vec<(String, Option<&str>)> = (0..10)
        .map(|i| (format!("t{i}"), Some(big.as_str())))
        .collect();
    let mut part = TxnPart::new(Dialect::Text);
    part.ops.push(OpKind::Put, b"keep", b"new");
    for (k, v) in &pairs {
        part.ops
            .push(OpKind::Put, k.as_bytes(), v.unwrap().as_bytes());
    }
    let mut vote = prepare(&mut p, 1, Box::new(part));
    assert!(matches!(vote.try_recv(), Ok(Vote::OutOfMemory)));
    assert!(p.is_idle(), "nothing locked");
    assert_eq!(value(&p, "keep").as_deref(), Some("old"), "nothing applied");
    assert_eq!(value(&p, "t0"), None);
}

#[test]
fn sieve_evicts_to_stay_under_budget_and_keeps_the_hot_keys() {
    let mut p = Partition::evicting(128 * 1024, false);
    let value = "v".repeat(100);
    for i in 0..100 {
        assert_eq!(
            exec(&mut p, OpKind::Put, &format!("hot:{i}"), &value),
            "+OK\r\n"
        );
    }
    for round in 0..50 {
        // The hot keys are read again and again…
        for i in 0..100 {
            exec(&mut p, OpKind::Get, &format!("hot:{i}"), "");
        }
        // …while one-hit wonders stream through.
        for i in 0..200 {
            let reply = exec(&mut p, OpKind::Put, &format!("cold:{round}:{i}"), &value);
            assert_eq!(reply, "+OK\r\n", "writes never fail under sieve");
        }
        assert!(p.memory() <= 128 * 1024, "{}", p.memory());
    }
    assert!(p.stats.evictions > 5_000, "{}", p.stats.evictions);
    let kept = (0..100)
        .filter(|i| p.store.contains(format!("hot:{i}").as_bytes()))
        .count();
    assert!(kept >= 95, "only {kept} of 100 hot keys survived");
}

#[test]
fn sieve_never_evicts_locked_keys() {
    let mut p = Partition::evicting(32 * 1024, false);
    exec(&mut p, OpKind::Put, "locked", "v");
    let _vote = prepare(&mut p, 1, part(&[("locked", Some("txn"))]));
    for i in 0..2_000 {
        exec(&mut p, OpKind::Put, &format!("fill:{i}"), &"x".repeat(50));
    }
    assert!(p.store.contains(b"locked"));
    p.handle(Request::Commit(1, None));
    assert_eq!(value(&p, "locked").as_deref(), Some("txn"));
}

/// Cache-aside over a zipfian key popularity (s = 0.99): GET, and PUT on a
/// miss. Returns the hit ratio of the second half (after warm-up).
fn zipf_hit_ratio(mut p: Partition, keys: usize, requests: usize) -> f64 {
    let weights: Vec<f64> = (1..=keys).map(|r| 1.0 / (r as f64).powf(0.99)).collect();
    let total: f64 = weights.iter().sum();
    let mut cdf = Vec::with_capacity(keys);
    let mut acc = 0.0;
    for w in &weights {
        acc += w / total;
        cdf.push(acc);
    }
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let value = "v".repeat(100);
    let (mut hits, mut counted) = (0u64, 0u64);
    for i in 0..requests {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let u = (rng >> 11) as f64 / (1u64 << 53) as f64;
        let rank = cdf.partition_point(|&c| c < u).min(keys - 1);
        let key = format!("key:{rank:08}");
        let hit = exec(&mut p, OpKind::Get, &key, "") != "$-1\r\n";
        if !hit {
            exec(&mut p, OpKind::Put, &key, &value);
        }
        if i >= requests / 2 {
            counted += 1;
            hits += u64::from(hit);
        }
    }
    hits as f64 / counted as f64
}

#[test]
fn sieve_hit_ratio_is_at_least_sampled_lrus_on_a_zipfian_workload() {
    // Room for roughly a tenth of the 20,000 keys.
    let budget = 2_000 * 140;
    let sieve = zipf_hit_ratio(Partition::evicting(budget, false), 20_000, 200_000);
    let lru = zipf_hit_ratio(Partition::evicting(budget, true), 20_000, 200_000);
    println!("zipfian hit ratio: sieve {sieve:.4}, allkeys-lru {lru:.4}");
    assert!(sieve > 0.3 && lru > 0.3, "sieve {sieve}, lru {lru}");
    assert!(sieve >= lru, "sieve {sieve:.4} < allkeys-lru {lru:.4}");
}

#[test]
fn abort_cancels_a_waiting_prepare_so_it_never_locks() {
    let mut p = Partition::default();
    let mut held = prepare(&mut p, 10, part(&[("k", Some("10"))]));
    assert!(matches!(held.try_recv(), Ok(Vote::Prepared(_))));
    // Older than the holder: waits.
    let mut old = prepare(&mut p, 9, part(&[("k", Some("9")), ("j", Some("9"))]));
    assert_eq!(old.try_recv().unwrap_err(), TryRecvError::Empty);
    p.handle(Request::Abort(9, None));
    assert_eq!(
        old.try_recv().unwrap_err(),
        TryRecvError::Closed,
        "the cancelled prepare's vote is dropped"
    );
    p.handle(Request::Commit(10, None));
    assert!(
        p.is_idle(),
        "the aborted prepare took no lock after the holder left"
    );
    assert_eq!(value(&p, "k").as_deref(), Some("10"));
    assert_eq!(value(&p, "j"), None);
    // Aborting again, or a transaction never seen here, is harmless.
    p.handle(Request::Abort(9, None));
    p.handle(Request::Abort(1234, None));
    assert!(p.is_idle());
}

#[test]
fn prepare_whose_coordinator_is_gone_does_not_lock() {
    let mut p = Partition::default();
    let mut held = prepare(&mut p, 10, part(&[("k", Some("10"))]));
    assert!(matches!(held.try_recv(), Ok(Vote::Prepared(_))));
    // A waiting prepare whose coordinator then drops its vote receiver.
    drop(prepare(
        &mut p,
        9,
        part(&[("k", Some("9")), ("j", Some("9"))]),
    ));
    p.handle(Request::Commit(10, None));
    assert!(p.is_idle(), "nobody would ever release those locks");
    // And one that arrives after its coordinator gave up.
    let (tx, rx) = oneshot::channel();
    drop(rx);
    p.handle(Request::Prepare(11, part(&[("k", Some("11"))]), tx));
    assert!(p.is_idle());
}

fn part_with_decision(
    pairs: &[(&str, Option<&str>)],
    decision: &std::sync::Arc<crate::txn::Decision>,
) -> Box<TxnPart> {
    let mut p = part(pairs);
    p.decision = Some(std::sync::Arc::clone(decision));
    p
}

#[test]
fn lease_expiry_aborts_an_undecided_transaction() {
    let mut p = Partition::default();
    p.set_lease(1_000);
    p.freeze_clock(50_000);
    p.store.put(b"a", b"old");
    let decision = std::sync::Arc::default();
    let _vote = prepare(
        &mut p,
        5,
        part_with_decision(&[("a", Some("new"))], &decision),
    );
    let mut reader = batch(&mut p, get_batch(&["a"]));
    p.freeze_clock(50_999);
    assert_eq!(p.expire_leases(), 0, "the lease has not run out yet");
    assert_eq!(reader.try_recv().unwrap_err(), TryRecvError::Empty);
    p.freeze_clock(51_000);
    assert_eq!(p.expire_leases(), 1);
    assert!(p.is_idle());
    let got = replies(reader.try_recv().expect("the reader is served"));
    assert_eq!(got, ["{\"status\": \"Ok\", \"result\": \"old\"}\n"]);
    assert!(
        !decision.decide(true),
        "the coordinator can no longer commit"
    );
    // Its late commit changes nothing.
    p.handle(Request::Commit(5, None));
    assert_eq!(value(&p, "a").as_deref(), Some("old"));
}

#[test]
fn lease_expiry_after_the_commit_decision_commits() {
    let mut p = Partition::default();
    p.set_lease(1_000);
    p.freeze_clock(50_000);
    let decision = std::sync::Arc::new(crate::txn::Decision::default());
    let _vote = prepare(
        &mut p,
        5,
        part_with_decision(&[("a", Some("new"))], &decision),
    );
    assert!(decision.decide(true), "the coordinator decided commit");
    p.freeze_clock(60_000);
    assert_eq!(p.expire_leases(), 1);
    assert_eq!(
        value(&p, "a").as_deref(),
        Some("new"),
        "settled as committed"
    );
    assert!(p.is_idle());
    // The coordinator's commit arriving later is a no-op.
    p.handle(Request::Commit(5, None));
    assert_eq!(value(&p, "a").as_deref(), Some("new"));
}

#[test]
fn no_lease_without_a_decision_or_with_lease_off() {
    let mut p = Partition::default();
    p.freeze_clock(50_000);
    let decision = std::sync::Arc::default();
    let _v = prepare(
        &mut p,
        5,
        part_with_decision(&[("a", Some("1"))], &decision),
    );
    p.freeze_clock(u64::MAX / 2);
    assert_eq!(p.expire_leases(), 0, "lease 0 means none");
    p.set_lease(1);
    let _v = prepare(&mut p, 6, part(&[("b", Some("1"))]));
    p.freeze_clock(u64::MAX);
    assert_eq!(p.expire_leases(), 1, "only the one with a decision");
    assert!(p.blocks(OpKind::Get, b"b"));
}

#[test]
fn batch_stops_at_the_clients_reply_budget() {
    let mut p = Partition::default();
    let big = vec![b'v'; 100 * 1024];
    let mut put = OpBatch::new(Dialect::Resp);
    put.push(OpKind::Put, b"big", &big);
    batch(&mut p, Box::new(put)).try_recv().unwrap();
    let mut gets = OpBatch::new(Dialect::Resp);
    for _ in 0..10 {
        gets.push(OpKind::Get, b"big", b"");
    }
    let budget = Arc::new(ReplyBudget::default());
    budget.reset(350 * 1024);
    gets.set_budget(Arc::clone(&budget));
    let reply = batch(&mut p, Box::new(gets)).try_recv().unwrap();
    assert!(reply.over_limit(), "10 × 100 KiB does not fit 350 KiB");
    assert!(reply.is_empty(), "the cut reply is freed, nothing is kept");
    assert!(p.stats.ops <= 6, "the rest of the batch was skipped");
    assert_eq!(p.stats.output_limit_cuts, 1);

    let mut fits = OpBatch::new(Dialect::Resp);
    fits.push(OpKind::Get, b"big", b"");
    budget.reset(1 << 20);
    fits.set_budget(budget);
    let reply = batch(&mut p, Box::new(fits)).try_recv().unwrap();
    assert!(!reply.over_limit());
    assert_eq!(reply.len(), 1);
}

#[test]
fn full_slab_refuses_new_keys_instead_of_wrapping() {
    let mut p = Partition::default();
    p.store.set_max_positions(3);
    let mut out = Vec::new();
    for k in ["a", "b", "c"] {
        let op = OpRef {
            kind: OpKind::Put,
            key: k.as_bytes(),
            value: b"1",
        };
        p.execute(Dialect::Resp, op, &mut out);
    }
    assert_eq!(out, b"+OK\r\n+OK\r\n+OK\r\n");
    let mut run = |kind, key: &[u8]| {
        let mut out = Vec::new();
        let op = OpRef {
            kind,
            key,
            value: b"2",
        };
        p.execute(Dialect::Resp, op, &mut out);
        String::from_utf8(out).unwrap()
    };
    assert!(
        run(OpKind::Put, b"d").starts_with("-OOM"),
        "no position left"
    );
    assert_eq!(run(OpKind::Put, b"a"), "+OK\r\n", "overwrites still work");
    assert_eq!(run(OpKind::Del, b"b"), ":1\r\n");
    assert_eq!(
        run(OpKind::Put, b"d"),
        "+OK\r\n",
        "a freed position is reused"
    );
}

#[test]
fn values_past_proto_max_bulk_len_are_refused() {
    let mut p = Partition::default();
    let cap = Arc::new(AtomicUsize::new(10));
    p.set_max_value(Arc::clone(&cap));
    let mut out = Vec::new();
    let mut exec = |p: &mut Partition, kind, value: &[u8]| {
        out.clear();
        let op = OpRef {
            kind,
            key: b"k",
            value,
        };
        p.execute(Dialect::Resp, op, &mut out);
        String::from_utf8(out.clone()).unwrap()
    };
    assert_eq!(exec(&mut p, OpKind::Append, b"123456"), ":6\r\n");
    let too_big = format!("-{}\r\n", crate::clients::TOO_BIG);
    assert_eq!(exec(&mut p, OpKind::Append, b"123456"), too_big);
    assert_eq!(exec(&mut p, OpKind::Put, b"12345678901"), too_big);
    assert_eq!(value(&p, "k").as_deref(), Some("123456"), "unchanged");
    cap.store(12, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(exec(&mut p, OpKind::Append, b"123456"), ":12\r\n");
}

/// Increments for INCRBYFLOAT in the budget test: short texts, long results.
const FLOATS: [&str; 5] = ["0.1", "1e300", "-1e4000", "1.5e-10", "x"];

/// One write for the budget property test: which key, which value size.
#[derive(Debug, Clone)]
enum BudgetOp {
    Put(usize, usize),
    SetTtl(usize, usize, u64),
    Append(usize, usize),
    Incr(usize, i64),
    SetRange(usize, usize, usize),
    SetBit(usize, u64),
    IncrByFloat(usize, usize),
    Expire(usize, u64),
    GetExTtl(usize, u64),
    Persist(usize),
    Del(usize),
    Tick(u64),
    /// A transaction's part: several writes (APPEND, SET with a TTL,
    /// SETRANGE, INCRBYFLOAT) applied all at once or refused whole.
    Multi(Vec<(usize, usize, u8)>),
}

/// Key `i`: lengths on both sides of the entries' short-form key limit
/// (256) and of several size classes; odd keys share one hash slot.
fn budget_key(i: usize) -> Vec<u8> {
    const LENGTHS: [usize; 8] = [1, 7, 40, 120, 200, 255, 256, 300];
    let tag = if i % 2 == 1 { "{odd}" } else { "" };
    let mut key = format!("{tag}k{i}:").into_bytes();
    key.resize(LENGTHS[i % LENGTHS.len()].max(key.len()), b'k');
    key
}

fn budget_op() -> impl proptest::strategy::Strategy<Value = BudgetOp> {
    use proptest::prelude::*;
    // Value sizes around the size-class steps (16-byte steps to 128, then
    // a quarter of each power of two) and the short-form value limit.
    let size = prop_oneof![
        0usize..140,
        150usize..300,
        1000usize..1060,
        2030usize..2070,
        Just(4095usize),
    ];
    let key = 0usize..24;
    prop_oneof![
        4 => (key.clone(), size.clone()).prop_map(|(k, v)| BudgetOp::Put(k, v)),
        2 => (key.clone(), size.clone(), 1u64..5_000).prop_map(|(k, v, t)| BudgetOp::SetTtl(k, v, t)),
        3 => (key.clone(), size).prop_map(|(k, v)| BudgetOp::Append(k, v)),
        1 => (key.clone(), any::<i64>()).prop_map(|(k, n)| BudgetOp::Incr(k, n)),
        2 => (key.clone(), 0usize..3000, 0usize..300).prop_map(|(k, o, v)| BudgetOp::SetRange(k, o, v)),
        1 => (key.clone(), 0u64..30_000).prop_map(|(k, o)| BudgetOp::SetBit(k, o)),
        1 => (key.clone(), 0usize..FLOATS.len()).prop_map(|(k, f)| BudgetOp::IncrByFloat(k, f)),
        2 => (key.clone(), 1u64..5_000).prop_map(|(k, t)| BudgetOp::Expire(k, t)),
        1 => (key.clone(), 1u64..5_000).prop_map(|(k, t)| BudgetOp::GetExTtl(k, t)),
        1 => key.clone().prop_map(BudgetOp::Persist),
        1 => key.clone().prop_map(BudgetOp::Del),
        1 => proptest::collection::vec((key, 0usize..1100, 0u8..4), 1..12)
            .prop_map(BudgetOp::Multi),
        1 => (0u64..3_000).prop_map(BudgetOp::Tick),
    ]
}

fn run_budget_op(p: &mut Partition, op: &BudgetOp, now: &mut u64) {
    let mut out = Vec::new();
    let (kind, key, value) = match *op {
        BudgetOp::Put(k, v) => (OpKind::Put, k, vec![b'v'; v]),
        BudgetOp::SetTtl(k, v, t) => {
            let kind = OpKind::Set {
                cond: SetCond::Always,
                get: false,
                ttl: TtlMode::At(*now + t),
            };
            (kind, k, vec![b's'; v])
        }
        BudgetOp::Append(k, v) => (OpKind::Append, k, vec![b'a'; v]),
        BudgetOp::Incr(k, n) => (OpKind::IncrBy(n), k, Vec::new()),
        BudgetOp::SetRange(k, o, v) => (OpKind::SetRange(o as u64), k, vec![b'r'; v]),
        BudgetOp::SetBit(k, o) => (
            OpKind::SetBit {
                offset: o,
                on: Some(true),
            },
            k,
            Vec::new(),
        ),
        BudgetOp::IncrByFloat(k, f) => (OpKind::IncrByFloat, k, FLOATS[f].as_bytes().to_vec()),
        BudgetOp::Expire(k, t) => (OpKind::Expire(*now + t, ExpireCond::ALWAYS), k, Vec::new()),
        BudgetOp::GetExTtl(k, t) => (OpKind::GetEx(TtlMode::At(*now + t)), k, Vec::new()),
        BudgetOp::Persist(k) => (OpKind::Persist, k, Vec::new()),
        BudgetOp::Del(k) => (OpKind::Del, k, Vec::new()),
        BudgetOp::Multi(ref writes) => {
            let mut part = TxnPart::new(Dialect::Resp);
            for &(k, v, which) in writes {
                let (kind, value) = match which {
                    0 => (OpKind::Append, vec![b'm'; v]),
                    1 => (OpKind::SetRange(v as u64), vec![b'm'; v % 97]),
                    2 => (
                        OpKind::IncrByFloat,
                        FLOATS[v % FLOATS.len()].as_bytes().to_vec(),
                    ),
                    _ => {
                        let ttl = TtlMode::At(*now + 1_000);
                        let kind = OpKind::Set {
                            cond: SetCond::Always,
                            get: false,
                            ttl,
                        };
                        (kind, vec![b'm'; v])
                    }
                };
                part.ops.push(kind, &budget_key(k), &value);
            }
            let (tx, _rx) = oneshot::channel();
            p.handle(Request::Apply(Box::new(part), tx));
            return;
        }
        BudgetOp::Tick(ms) => {
            *now += ms;
            p.freeze_clock(*now);
            p.reclaim_expired(8);
            return;
        }
    };
    let key = budget_key(key);
    p.execute(
        Dialect::Resp,
        OpRef {
            kind,
            key: &key,
            value: &value,
        },
        &mut out,
    );
}

/// The memory budget is a hard limit: after every operation (writes of
/// every size class, TTLs, APPEND growth, INCR, deletes, expiry ticks) a
/// partition's accounted memory is at most its budget, refusing writes
/// (noeviction) or evicting (SIEVE, sampled LRU).
#[test]
fn memory_never_exceeds_the_budget() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestCaseError, TestRunner};
    let strategy = (
        2_000usize..40_000,
        0u8..3,
        proptest::collection::vec(budget_op(), 1..200),
    );
    let mut runner = TestRunner::new(Config::with_cases(256));
    runner
        .run(&strategy, |(budget, policy, ops)| {
            let mut p = match policy {
                0 => Partition::with_budget(budget),
                1 => Partition::evicting(budget, false),
                _ => Partition::evicting(budget, true),
            };
            let mut now = 1_000_000;
            p.freeze_clock(now);
            for (i, op) in ops.iter().enumerate() {
                run_budget_op(&mut p, op, &mut now);
                prop_assert!(
                    p.memory() <= budget,
                    "policy {policy}: memory {} > budget {budget} after op {i} {op:?}",
                    p.memory()
                );
            }
            Ok::<(), TestCaseError>(())
        })
        .unwrap();
}

/// The finding this guards: a write's estimate must use the size classes
/// the accounting rounds entries to (and the long form's header), or a
/// write that "fits" lands up to a quarter of its size above the budget.
#[test]
fn a_write_near_the_budget_never_lands_above_it() {
    for value_len in (0..2_100).step_by(13) {
        for budget in (500..4_500).step_by(37) {
            for policy in 0..2 {
                let mut p = if policy == 0 {
                    Partition::with_budget(budget)
                } else {
                    Partition::evicting(budget, false)
                };
                let value = "v".repeat(value_len);
                exec(&mut p, OpKind::Put, "a", "1");
                exec(&mut p, OpKind::Put, "k", &value);
                exec(&mut p, OpKind::Append, "k", "xyz");
                assert!(
                    p.memory() <= budget,
                    "value {value_len}, budget {budget}: {}",
                    p.memory()
                );
            }
        }
    }
}

/// `MSET` across partitions answers once commit is decided, before every
/// partition has its `Commit` letter: a whole-partition read must still see
/// the write (found by the differential test: `DBSIZE` one short).
#[test]
fn whole_partition_reads_settle_decided_commits_first() {
    let mut p = Partition::default();
    p.store.put(b"old", b"1");
    let decision = std::sync::Arc::new(crate::txn::Decision::default());
    let _vote = prepare(
        &mut p,
        7,
        part_with_decision(&[("a", Some("1")), ("b", Some("2"))], &decision),
    );
    let dbsize = |p: &mut Partition| {
        let (tx, mut rx) = oneshot::channel();
        p.handle(Request::Admin(Admin::Dbsize, tx));
        match rx.try_recv().expect("answered at once") {
            AdminReply::Count(n) => n,
            _ => panic!("not a count"),
        }
    };
    assert_eq!(dbsize(&mut p), 1, "undecided: not visible yet");
    assert!(decision.decide(true));
    assert_eq!(dbsize(&mut p), 3, "decided commit: applied before counting");
    assert!(p.is_idle(), "its locks are released");
    // The Commit letter arriving later changes nothing.
    p.handle(Request::Commit(7, None));
    assert_eq!(dbsize(&mut p), 3);
    assert_eq!(value(&p, "b").as_deref(), Some("2"));
}

#[test]
fn a_transactions_reply_stops_growing_at_the_clients_budget_but_runs_whole() {
    let mut p = Partition::default();
    let cell = Arc::clone(p.client_memory());
    let big = vec![b'v'; 100 * 1024];
    batch(&mut p, {
        let mut put = OpBatch::new(Dialect::Resp);
        put.push(OpKind::Put, b"big", &big);
        Box::new(put)
    })
    .try_recv()
    .unwrap();
    let mut t = TxnPart::new(Dialect::Resp);
    for _ in 0..64 {
        t.ops.push(OpKind::Get, b"big", b"");
    }
    t.ops.push(OpKind::Put, b"after", b"1");
    t.want_reply = true;
    let budget = Arc::new(ReplyBudget::default());
    budget.reset(350 * 1024);
    t.ops.set_budget(Arc::clone(&budget));
    let (tx, mut rx) = oneshot::channel();
    p.handle(Request::Apply(Box::new(t), tx));
    let Ok(Applied::Done(reply)) = rx.try_recv() else {
        panic!("applied")
    };
    assert!(reply.over_limit(), "64 × 100 KiB does not fit 350 KiB");
    assert!(reply.is_empty(), "the cut reply is freed");
    assert_eq!(value(&p, "after").as_deref(), Some("1"), "it ran whole");
    // The reply never held much more than the budget (one charge chunk
    // and one value past it), whatever the transaction's size.
    let peak = p.stats.replies_in_flight_peak as usize;
    assert!(peak > 0, "the first batch's reply was counted");
    assert!(peak < 350 * 1024 + CHARGE_BOUND, "peak {peak}");
    drop(reply);
    assert_eq!(cell.in_flight.load(Relaxed), 0);
}

/// What a reply may pass its budget by: one charge chunk, one value, and
/// `Vec`'s doubling of the buffer.
const CHARGE_BOUND: usize = 2 * (batch::CHARGE_CHUNK + 100 * 1024) + 350 * 1024;

#[test]
fn replies_for_other_workers_count_as_client_memory_until_dropped() {
    let mut p = Partition::with_budget(1 << 20);
    let cell = Arc::clone(p.client_memory());
    let value = vec![b'v'; 300 * 1024];
    let mut put = OpBatch::new(Dialect::Resp);
    put.push(OpKind::Put, b"k", &value);
    batch(&mut p, Box::new(put)).try_recv().unwrap();
    let mut gets = OpBatch::new(Dialect::Resp);
    gets.push(OpKind::Get, b"k", b"");
    gets.push(OpKind::Get, b"k", b"");
    p.handle(Request::Batch(
        Box::new(gets),
        ReplyTo::Remote { worker: 1, slot: 0 },
    ));
    let (_, _, reply) = p.take_outgoing().pop().expect("a reply to send");
    let held = cell.in_flight.load(Relaxed);
    assert!(held >= 600 * 1024 && held == reply.heap_bytes(), "{held}");
    let AdminReply::Stats(stats) = p.admin(Admin::Stats) else {
        panic!("stats")
    };
    assert_eq!(stats.replies_in_flight, held as u64);
    // The reply counts toward the budget: 300 KiB more does not fit.
    let mut out = Vec::new();
    let op = OpRef {
        kind: OpKind::Put,
        key: b"k2",
        value: &value,
    };
    p.execute(Dialect::Resp, op, &mut out);
    assert!(
        out.starts_with(b"-OOM"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    // Delivered (dropped, on any thread): the memory is given back.
    std::thread::spawn(move || drop(reply)).join().unwrap();
    assert_eq!(cell.in_flight.load(Relaxed), 0);
    out.clear();
    p.execute(Dialect::Resp, op, &mut out);
    assert_eq!(out, b"+OK\r\n");
}

#[test]
fn the_spare_buffer_pool_counts_toward_the_budget() {
    let mut p = Partition::with_budget(1 << 20);
    let cell = Arc::clone(p.client_memory());
    cell.pool.store(900 * 1024, Relaxed);
    let value = vec![b'v'; 200 * 1024];
    let op = OpRef {
        kind: OpKind::Put,
        key: b"k",
        value: &value,
    };
    let mut out = Vec::new();
    p.execute(Dialect::Resp, op, &mut out);
    assert!(out.starts_with(b"-OOM"), "the pool leaves no room");
    let AdminReply::Stats(stats) = p.admin(Admin::Stats) else {
        panic!("stats")
    };
    assert_eq!(stats.buffer_pool, 900 * 1024);
    cell.pool.store(0, Relaxed);
    out.clear();
    p.execute(Dialect::Resp, op, &mut out);
    assert_eq!(out, b"+OK\r\n");
}

/// Every key `keys_in_slot` answers for `slot` (up to `count`), following
/// its walks; `None` where the partition says to scan instead.
fn slot_keys(p: &mut Partition, slot: u16, count: usize) -> Option<Vec<Vec<u8>>> {
    let (mut keys, mut walk) = (Vec::new(), None);
    loop {
        match p.keys_in_slot(slot, count - keys.len(), walk) {
            SlotStep::Building => assert!(walk.is_none(), "a walk never waits for a build"),
            SlotStep::Scan => return None,
            SlotStep::Keys(step) => {
                keys.extend(step.keys.iter().map(|k| k.to_vec()));
                walk = step.walk;
                if walk.is_none() {
                    keys.sort();
                    return Some(keys);
                }
            }
        }
    }
}

/// The live keys of each slot, by a full recount.
fn live_keys_by_slot(p: &Partition) -> std::collections::BTreeMap<u16, Vec<Vec<u8>>> {
    let now = p.now();
    let mut slots: std::collections::BTreeMap<u16, Vec<Vec<u8>>> = Default::default();
    for k in p.store.keys().filter(|k| !p.expiry.is_due(k, now)) {
        let slot = corekv_router::hash_slot(k);
        slots.entry(slot).or_default().push(k.to_vec());
    }
    slots.values_mut().for_each(|keys| keys.sort());
    slots
}

#[derive(Debug, Clone)]
enum IndexOp {
    Write(BudgetOp),
    /// A few positions of the build (as a GETKEYSINSLOT step would do more).
    Build(usize),
    /// `GETKEYSINSLOT` of key `i`'s slot, at most `count` keys.
    Ask(usize, usize),
    Flush,
}

/// The slot index under random writes, TTLs and their expiry (on access
/// and by the reclaim tick), evictions (SIEVE, sampled LRU), transactions
/// and `FLUSHALL`, built in steps between them: whenever it is complete
/// it answers exactly the live keys of every slot, a count caps the
/// answer, and `memory()` never passes the budget, index included.
#[test]
fn the_slot_index_answers_exactly_each_slots_keys_within_the_budget() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestCaseError, TestRunner};
    let op = prop_oneof![
        8 => budget_op().prop_map(IndexOp::Write),
        2 => (0usize..6).prop_map(IndexOp::Build),
        2 => (0usize..24, 1usize..30).prop_map(|(k, n)| IndexOp::Ask(k, n)),
        1 => Just(IndexOp::Flush),
    ];
    let strategy = (
        prop_oneof![Just(0usize), 2_000usize..40_000],
        0u8..3,
        proptest::collection::vec(op, 1..200),
    );
    let mut runner = TestRunner::new(Config::with_cases(256));
    runner
        .run(&strategy, |(budget, policy, ops)| {
            let mut p = match policy {
                0 => Partition::with_budget(budget),
                1 => Partition::evicting(budget, false),
                _ => Partition::evicting(budget, true),
            };
            let mut now = 1_000_000;
            p.freeze_clock(now);
            for (i, op) in ops.iter().enumerate() {
                match op {
                    IndexOp::Write(op) => run_budget_op(&mut p, op, &mut now),
                    IndexOp::Build(n) => _ = p.store.build_slot_index(*n),
                    IndexOp::Ask(k, count) => {
                        let slot = corekv_router::hash_slot(&budget_key(*k));
                        let live = live_keys_by_slot(&p).remove(&slot).unwrap_or_default();
                        if let Some(got) = slot_keys(&mut p, slot, *count) {
                            prop_assert_eq!(got.len(), live.len().min(*count));
                            prop_assert!(got.iter().all(|k| live.contains(k)), "{:?}", got);
                        }
                    }
                    IndexOp::Flush => {
                        let (tx, _rx) = oneshot::channel();
                        p.handle(Request::Admin(Admin::Flush, tx));
                        prop_assert!(!p.store.has_slot_index(), "FLUSHALL drops it");
                    }
                }
                prop_assert!(
                    p.memory() <= budget || budget == 0,
                    "policy {policy}: memory {} > budget {budget} after op {i} {op:?}",
                    p.memory()
                );
                if p.store.slot_index_complete() {
                    for (slot, keys) in live_keys_by_slot(&p) {
                        prop_assert_eq!(slot_keys(&mut p, slot, usize::MAX), Some(keys));
                    }
                }
            }
            Ok::<(), TestCaseError>(())
        })
        .unwrap();
}

/// What GETKEYSINSLOT costs: building the index visits each slab
/// position once, in bounded steps; after that an answer visits the keys
/// it returns and no others, however big the partition.
#[test]
fn getkeysinslot_work_is_proportional_to_the_answer() {
    let mut p = Partition::default();
    for i in 0..100_000 {
        p.store.put(format!("k{i}").as_bytes(), b"v");
    }
    for i in 0..2_500 {
        p.store.put(format!("{{x}}{i}").as_bytes(), b"v");
    }
    let slot = corekv_router::hash_slot(b"{x}");
    let in_slot = p.store.keys_in_slot(slot);
    let mut building = 0;
    let first = loop {
        match p.keys_in_slot(slot, 5, None) {
            SlotStep::Building => building += 1,
            SlotStep::Keys(step) => break step,
            SlotStep::Scan => panic!("no budget, so never a scan"),
        }
    };
    assert_eq!(
        building,
        102_500 / slot_index::BUILD_STEP,
        "bounded build steps"
    );
    assert_eq!((first.keys.len(), first.visited, first.walk), (5, 5, None));
    // The whole slot: one step per WALK_STEP keys, each visiting only
    // what it returns; a key deleted meanwhile is skipped, not lost.
    let mut walk = None;
    let (mut keys, mut visited) = (Vec::new(), 0);
    loop {
        let SlotStep::Keys(step) = p.keys_in_slot(slot, usize::MAX, walk) else {
            panic!("the walk goes on");
        };
        assert!(step.keys.len() <= slot_index::WALK_STEP);
        visited += step.visited;
        keys.extend(step.keys);
        walk = step.walk;
        if walk.is_none() {
            break;
        }
        p.store.del(b"{x}0");
    }
    assert_eq!(visited, keys.len(), "O(answer)");
    assert!(keys.len() >= in_slot - 1 && keys.len() <= in_slot);
    let unique: std::collections::HashSet<_> = keys.iter().collect();
    assert_eq!(unique.len(), keys.len(), "each key once");
}

/// With `--maxmemory`, an index that would pass the budget is not built
/// (the caller scans instead), and one that fits is counted.
#[test]
fn the_slot_index_is_built_only_within_the_budget() {
    let fill = |p: &mut Partition| {
        for i in 0..2_000 {
            exec(p, OpKind::Put, &format!("k{i}"), "v");
        }
        p.memory()
    };
    let data = fill(&mut Partition::default());
    // The links alone: 8 bytes for each of the slab's 2048 slots.
    let links = 2_048 * SlotIndex::LINK_BYTES;
    let mut tight = Partition::with_budget(data + links);
    assert_eq!(fill(&mut tight), data);
    assert!(slot_keys(&mut tight, 0, 10).is_none(), "scan instead");
    assert_eq!(
        (tight.memory(), tight.store.has_slot_index()),
        (data, false)
    );
    let mut roomy = Partition::with_budget(data + 4 * links);
    fill(&mut roomy);
    let slot = corekv_router::hash_slot(b"k7");
    assert!(slot_keys(&mut roomy, slot, 10)
        .unwrap()
        .contains(&b"k7".to_vec()));
    assert!(roomy.memory() >= data + links, "counted");
    assert!(roomy.memory() <= data + 4 * links);
}

/// A walk of an index that `FLUSHALL` dropped never continues as a walk
/// of the next index (ids are not reused): it is lost, and the caller
/// scans.
#[test]
fn a_walk_from_before_a_flushall_is_lost_not_mistaken() {
    let mut p = Partition::default();
    let fill = |p: &mut Partition, tag: &str| {
        for i in 0..1_500 {
            p.store.put(format!("{{{tag}}}{i}").as_bytes(), b"v");
        }
        corekv_router::hash_slot(format!("{{{tag}}}").as_bytes())
    };
    let first_walk = |p: &mut Partition, slot| loop {
        match p.keys_in_slot(slot, usize::MAX, None) {
            SlotStep::Building => {}
            SlotStep::Keys(step) => break step.walk.expect("more than a step"),
            SlotStep::Scan => panic!("no budget"),
        }
    };
    let slot = fill(&mut p, "a");
    let old = first_walk(&mut p, slot);
    let (tx, _rx) = oneshot::channel();
    p.handle(Request::Admin(Admin::Flush, tx));
    let other = fill(&mut p, "b");
    let new = first_walk(&mut p, other);
    assert_ne!(old, new);
    assert!(matches!(
        p.keys_in_slot(slot, 10, Some(old)),
        SlotStep::Scan
    ));
    assert!(matches!(
        p.keys_in_slot(other, 10, Some(new)),
        SlotStep::Keys(_)
    ));
}

/// `DEL`/`EXISTS` over several partitions: each counted operation answers
/// a number in `counts()` (and an empty response), never encoded bytes
/// that the connection would have to parse back.
#[test]
fn counted_operations_answer_numbers_not_bytes() {
    let mut p = Partition::default();
    p.store.put(b"a", b"1");
    let mut b = OpBatch::new(Dialect::Resp);
    for key in [&b"a"[..], b"missing", b"a"] {
        b.push(OpKind::Exists, key, b"");
        b.count_last();
    }
    b.push(OpKind::Get, b"a", b"");
    let reply = batch(&mut p, Box::new(b)).try_recv().unwrap();
    assert_eq!(reply.counts().copied().collect::<Vec<_>>(), [1, 0, 1]);
    let segments: Vec<&[u8]> = reply.segments().collect();
    assert_eq!(segments, [&b""[..], b"", b"", b"$1\r\n1\r\n"]);
    assert_eq!(
        p.execute_count(OpRef {
            kind: OpKind::Del,
            key: b"a",
            value: b""
        }),
        1
    );
    assert_eq!(
        p.execute_count(OpRef {
            kind: OpKind::Del,
            key: b"a",
            value: b""
        }),
        0
    );
}

#[test]
fn setrange_setbit_and_incrbyfloat_keep_the_ttl_getset_clears_it() {
    let mut p = Partition::default();
    p.freeze_clock(1_000);
    let ttl = |p: &mut Partition| exec(p, OpKind::Ttl { ms: true }, "k", "");
    let with_ttl = OpKind::Set {
        cond: SetCond::Always,
        get: false,
        ttl: TtlMode::At(60_000),
    };
    exec(&mut p, with_ttl, "k", "10");
    assert_eq!(exec(&mut p, OpKind::SetRange(1), "k", "5"), ":2\r\n");
    assert_eq!(
        exec(&mut p, OpKind::IncrByFloat, "k", "0.5"),
        "$4\r\n15.5\r\n"
    );
    let set_bit = OpKind::SetBit {
        offset: 7,
        on: Some(true),
    };
    assert_eq!(exec(&mut p, set_bit, "k", ""), ":1\r\n", "'1' is 0x31");
    assert_eq!(ttl(&mut p), ":59000\r\n");
    let get_set = OpKind::Set {
        cond: SetCond::Always,
        get: true,
        ttl: TtlMode::Clear,
    };
    assert_eq!(exec(&mut p, get_set, "k", "x"), "$4\r\n15.5\r\n");
    assert_eq!(ttl(&mut p), ":-1\r\n");
}

#[test]
fn setrange_writes_in_place_and_grows_as_append_does() {
    let mut p = Partition::default();
    assert_eq!(exec(&mut p, OpKind::SetRange(0), "k", ""), ":0\r\n");
    assert_eq!(value(&p, "k"), None, "writing nothing creates no key");
    assert_eq!(exec(&mut p, OpKind::SetRange(3), "k", "ab"), ":5\r\n");
    assert_eq!(p.store.get(b"k"), Some(&b"\0\0\0ab"[..]));
    let big = "x".repeat(4_000);
    assert_eq!(exec(&mut p, OpKind::SetRange(2), "k", &big), ":4002\r\n");
    let grown = p.memory();
    // A value grown past the short form keeps room, so small steps past
    // its end, and writes inside it, cost no new memory.
    assert_eq!(exec(&mut p, OpKind::SetRange(4002), "k", "yz"), ":4004\r\n");
    assert_eq!(exec(&mut p, OpKind::SetRange(0), "k", "AB"), ":4004\r\n");
    assert_eq!(p.memory(), grown);
    let v = p.store.get(b"k").unwrap();
    assert_eq!((&v[..4], &v[4000..]), (&b"ABxx"[..], &b"xxyz"[..]));
    assert_eq!(exec(&mut p, OpKind::SetRange(9), "k", ""), ":4004\r\n");
}

#[test]
fn bit_offsets_and_setrange_past_proto_max_bulk_len_are_refused() {
    let mut p = Partition::default();
    p.set_max_value(Arc::new(AtomicUsize::new(10)));
    let too_big = format!("-{}\r\n", crate::clients::TOO_BIG);
    let offset = format!("-{}\r\n", ops::BIT_OFFSET);
    assert_eq!(exec(&mut p, OpKind::SetRange(5), "k", "123456"), too_big);
    assert_eq!(exec(&mut p, OpKind::SetRange(4), "k", "123456"), ":10\r\n");
    assert_eq!(exec(&mut p, OpKind::SetRange(99), "k", ""), ":10\r\n");
    assert_eq!(exec(&mut p, OpKind::GetBit(80), "k", ""), offset);
    assert_eq!(exec(&mut p, OpKind::GetBit(79), "k", ""), ":0\r\n");
    let set_bit = |offset, on| OpKind::SetBit { offset, on };
    assert_eq!(
        exec(&mut p, set_bit(80, None), "k", ""),
        offset,
        "offset first"
    );
    assert_eq!(
        exec(&mut p, set_bit(79, None), "k", ""),
        format!("-{}\r\n", ops::BIT_VALUE)
    );
    assert_eq!(exec(&mut p, set_bit(u64::MAX, Some(true)), "n", ""), offset);
    assert_eq!(value(&p, "n"), None);
}

/// Regression: a slot index whose head table was exactly full grew when a
/// slot's head was replaced (hashbrown's `insert` reserves before it looks
/// the key up), 4 bytes past the budget after `GETKEYSINSLOT`.
#[test]
fn building_the_slot_index_never_grows_a_full_head_table() {
    let mut p = Partition::evicting(6508, false);
    let mut now = 1_000_000;
    p.freeze_clock(now);
    for op in [
        BudgetOp::SetTtl(11, 201, 1),
        BudgetOp::Put(22, 57),
        BudgetOp::Append(2, 89),
        BudgetOp::Put(13, 2030),
    ] {
        run_budget_op(&mut p, &op, &mut now);
    }
    let slot = corekv_router::hash_slot(&budget_key(11));
    assert_eq!(slot_keys(&mut p, slot, 10).map(|k| k.len()), Some(2));
    assert!(p.store.has_slot_index());
    assert!(p.memory() <= 6508, "memory {} over the budget", p.memory());
}

/// Regression: a cross-partition write answers its client before its
/// commits are applied; a single-partition `EXEC` whose watched key that
/// write holds must wait for it, and then fail, instead of passing the
/// watch check before the commit lands.
#[test]
fn apply_waits_for_a_prepared_write_of_a_watched_key() {
    let mut p = Partition::default();
    p.watch(5, b"a");
    let _vote = prepare(&mut p, 1, part(&[("a", Some("new"))]));
    let mut watcher = TxnPart::new(Dialect::Resp);
    watcher.watch = Some(5);
    let (tx, mut rx) = oneshot::channel();
    p.handle(Request::Apply(Box::new(watcher), tx));
    assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Empty);
    p.handle(Request::Commit(1, None));
    assert!(matches!(rx.try_recv(), Ok(Applied::WatchFailed)));
}

/// Regression (found by the long differential run): a transaction with
/// `SETRANGE key 9223372036854775807 abc` overflowed the growth bound's sum
/// and panicked the worker; with a budget it must answer Redis's error.
#[test]
fn a_huge_setrange_offset_in_a_transaction_is_refused_not_a_panic() {
    let mut p = Partition::with_budget(1 << 20);
    let mut part = TxnPart::new(Dialect::Resp);
    part.want_reply = true;
    for key in [&b"k"[..], b"k2"] {
        part.ops
            .push(OpKind::SetRange(9_223_372_036_854_775_807), key, b"abc");
    }
    let (tx, mut rx) = oneshot::channel();
    p.handle(Request::Apply(Box::new(part), tx));
    match rx.try_recv() {
        Ok(Applied::Done(reply)) => {
            let got: Vec<&[u8]> = reply.segments().collect();
            assert!(got.iter().all(|r| r.starts_with(b"-ERR")), "{got:?}");
        }
        Ok(Applied::OutOfMemory) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(p.store.len(), 0);
}
