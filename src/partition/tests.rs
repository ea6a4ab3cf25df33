use super::*;
use tokio::sync::oneshot::error::TryRecvError;

fn ws(pairs: &[(&str, Option<&str>)]) -> WriteSet {
    pairs
        .iter()
        .map(|(k, v)| (k.as_bytes().into(), v.map(|v| v.as_bytes().into())))
        .collect()
}

fn get_batch(keys: &[&str]) -> Box<OpBatch> {
    let mut b = OpBatch::default();
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

fn prepare(p: &mut Partition, txn: TxnId, w: WriteSet) -> oneshot::Receiver<Vote> {
    let (tx, rx) = oneshot::channel();
    p.handle(Request::Prepare(txn, w, tx));
    rx
}

fn batch(p: &mut Partition, b: Box<OpBatch>) -> oneshot::Receiver<BatchReply> {
    let (tx, rx) = oneshot::channel();
    p.handle(Request::Batch(b, tx));
    rx
}

#[test]
fn batch_executes_in_order() {
    let mut p = Partition::default();
    let mut b = OpBatch::default();
    b.push(OpKind::Put, b"a", b"1");
    b.push(OpKind::Get, b"a", b"");
    b.push(OpKind::Del, b"a", b"");
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
    let mut vote = prepare(&mut p, 1, ws(&[("a", Some("new")), ("b", None)]));
    assert!(matches!(vote.try_recv(), Ok(Vote::Prepared)));
    // A batch touching a locked key waits, even its later unlocked ops.
    let mut r = batch(&mut p, get_batch(&["c", "a", "c"]));
    assert_eq!(r.try_recv().unwrap_err(), TryRecvError::Empty);
    // Unrelated keys are not stalled.
    let mut r2 = batch(&mut p, get_batch(&["c"]));
    assert!(r2.try_recv().is_ok());
    p.handle(Request::Commit(1));
    let got = replies(r.try_recv().unwrap());
    assert_eq!(got[1], "{\"status\": \"Ok\", \"result\": \"new\"}\n");
    assert!(!p.is_locked(b"a") && !p.is_locked(b"b"));
}

#[test]
fn abort_restores_nothing_changed_and_returns_writes() {
    let mut p = Partition::default();
    p.store.put(b"a", b"old");
    let _vote = prepare(&mut p, 7, ws(&[("a", Some("new"))]));
    let (tx, mut rx) = oneshot::channel();
    p.handle(Request::Abort(7, Some(tx)));
    assert_eq!(rx.try_recv().unwrap(), ws(&[("a", Some("new"))]));
    assert_eq!(p.store.get(b"a"), Some(&b"old"[..]));
    assert!(!p.is_locked(b"a"));
}

#[test]
fn wait_die_older_waits_younger_dies() {
    let mut p = Partition::default();
    let mut held = prepare(&mut p, 10, ws(&[("k", Some("10"))]));
    assert!(matches!(held.try_recv(), Ok(Vote::Prepared)));
    // Younger (larger id) than the holder: dies at once, writes handed back.
    let mut young = prepare(&mut p, 11, ws(&[("k", Some("11"))]));
    match young.try_recv() {
        Ok(Vote::Conflict(w)) => assert_eq!(w, ws(&[("k", Some("11"))])),
        other => panic!("{other:?}"),
    }
    // Older: waits, and is granted when the holder commits.
    let mut old = prepare(&mut p, 9, ws(&[("k", Some("9")), ("j", Some("9"))]));
    assert_eq!(old.try_recv().unwrap_err(), TryRecvError::Empty);
    assert!(!p.is_locked(b"j"), "a waiting prepare holds no lock");
    p.handle(Request::Commit(10));
    assert_eq!(p.store.get(b"k"), Some(&b"10"[..]));
    assert!(matches!(old.try_recv(), Ok(Vote::Prepared)));
    assert!(p.is_locked(b"j") && p.is_locked(b"k"));
    p.handle(Request::Commit(9));
    assert_eq!(p.store.get(b"k"), Some(&b"9"[..]));
}

#[test]
fn apply_waits_for_locks_then_applies_all() {
    let mut p = Partition::default();
    let _vote = prepare(&mut p, 1, ws(&[("a", Some("t1"))]));
    let (tx, mut rx) = oneshot::channel();
    p.handle(Request::Apply(
        ws(&[("a", Some("t2")), ("b", Some("t2"))]),
        tx,
    ));
    assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Empty);
    assert_eq!(p.store.get(b"b"), None, "nothing half-applied");
    p.handle(Request::Commit(1));
    assert!(rx.try_recv().is_ok());
    assert_eq!(p.store.get(b"a"), Some(&b"t2"[..]));
    assert_eq!(p.store.get(b"b"), Some(&b"t2"[..]));
}

#[test]
fn waiters_keep_arrival_order_on_the_same_key() {
    let mut p = Partition::default();
    let _vote = prepare(&mut p, 1, ws(&[("a", Some("t1"))]));
    let mut put = OpBatch::default();
    put.push(OpKind::Put, b"a", b"later");
    let mut first = batch(&mut p, get_batch(&["a"]));
    let mut second = batch(&mut p, Box::new(put));
    p.handle(Request::Commit(1));
    let got = replies(first.try_recv().unwrap());
    assert_eq!(got[0], "{\"status\": \"Ok\", \"result\": \"t1\"}\n");
    assert!(second.try_recv().is_ok());
    assert_eq!(p.store.get(b"a"), Some(&b"later"[..]));
}
