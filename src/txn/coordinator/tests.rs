use super::*;
use crate::partition::{OpKind, OpRef, Partition};
use crate::reply::Dialect;
use crate::txn::handoff::{self, Handoff};
use crate::txn::{Check, TxnBuffer};
use corekv_router::Topology;
use std::cell::{Cell, RefCell};

/// Partitions on one thread, reached by direct calls: enough to exercise the
/// coordinator's protocol deterministically.
struct Local {
    parts: Vec<RefCell<Partition>>,
    clock: Cell<TxnId>,
    sent: RefCell<Vec<(usize, &'static str)>>,
    /// This partition prepares, but its vote never reaches the coordinator.
    lose_vote_of: Cell<Option<usize>>,
    /// The next abort is served, but its answer is lost.
    lose_abort_reply: Cell<bool>,
    /// Sending a commit never finishes once this many were sent.
    stall_after_commits: Cell<Option<usize>>,
}

impl Local {
    fn new(n: usize) -> Self {
        Self {
            parts: (0..n).map(|_| RefCell::default()).collect(),
            clock: Cell::new(100),
            sent: RefCell::default(),
            lose_vote_of: Cell::new(None),
            lose_abort_reply: Cell::new(false),
            stall_after_commits: Cell::new(None),
        }
    }

    fn topo(&self) -> Topology {
        Topology::even(self.parts.len()).unwrap()
    }

    fn get(&self, key: &str) -> Option<String> {
        let p = self.parts[self.topo().partition_of_key(key.as_bytes())].borrow();
        p.store()
            .get(key.as_bytes())
            .map(|v| String::from_utf8(v.to_vec()).unwrap())
    }

    fn count(&self, kind: &str) -> usize {
        self.sent
            .borrow()
            .iter()
            .filter(|(_, k)| *k == kind)
            .count()
    }
}

impl Local {
    fn all_idle(&self) -> bool {
        self.parts.iter().all(|p| p.borrow().is_idle())
    }

    /// Applies the configured losses to `request`.
    fn sabotage(&self, partition: usize, request: Request) -> Request {
        match request {
            Request::Prepare(txn, part, _) if self.lose_vote_of.get() == Some(partition) => {
                Request::Prepare(txn, part, oneshot::channel().0)
            }
            Request::Abort(txn, Some(_)) if self.lose_abort_reply.replace(false) => {
                Request::Abort(txn, None)
            }
            other => other,
        }
    }
}

impl Participants for Local {
    async fn send(&self, partition: usize, request: Request) -> Result<(), TxnError> {
        if matches!(request, Request::Commit(..))
            && self.stall_after_commits.get() == Some(self.count("commit"))
        {
            std::future::pending::<()>().await;
        }
        let request = self.sabotage(partition, request);
        self.post(partition, request);
        Ok(())
    }

    fn post(&self, partition: usize, request: Request) {
        let kind = match &request {
            Request::Batch(..) => "batch",
            Request::Apply(..) => "apply",
            Request::Prepare(..) => "prepare",
            Request::Commit(..) => "commit",
            Request::Abort(..) => "abort",
            Request::Fill(..) => "fill",
            Request::Unwatch(..) => "unwatch",
            Request::Admin(..) => "admin",
        };
        self.sent.borrow_mut().push((partition, kind));
        self.parts[partition].borrow_mut().handle(request);
    }

    fn next_txn_id(&self) -> TxnId {
        self.clock.replace(self.clock.get() + 1)
    }
}

fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn parts(local: &Local, keys: &[&str], value: &str) -> Vec<(usize, TxnPart)> {
    let mut t = TxnBuffer::default();
    for k in keys {
        t.put(k.as_bytes(), value.as_bytes(), 1 << 20).unwrap();
    }
    t.into_parts(&local.topo()).unwrap()
}

/// Keys spread over all 4 partitions of an even 4-way topology.
const SPREAD: [&str; 4] = ["a", "b", "c", "foo"];

#[test]
fn spread_keys_cover_all_partitions() {
    let topo = Topology::even(4).unwrap();
    let mut ps: Vec<usize> = SPREAD
        .iter()
        .map(|k| topo.partition_of_key(k.as_bytes()))
        .collect();
    ps.sort();
    ps.dedup();
    assert_eq!(ps.len(), 4, "test keys must hit every partition");
}

#[test]
fn single_partition_commits_with_one_apply() {
    let local = Local::new(4);
    let p = parts(&local, &["{t}1", "{t}2"], "v");
    assert!(matches!(
        block_on(run(&local, p)),
        Ok(Outcome::Committed(_))
    ));
    assert_eq!(local.get("{t}1").as_deref(), Some("v"));
    assert_eq!(
        *local.sent.borrow(),
        [(local.topo().partition_of_key(b"{t}1"), "apply")]
    );
}

#[test]
fn cross_partition_prepares_everywhere_then_commits() {
    let local = Local::new(4);
    let p = parts(&local, &SPREAD, "v1");
    assert!(matches!(
        block_on(run(&local, p)),
        Ok(Outcome::Committed(_))
    ));
    for k in SPREAD {
        assert_eq!(local.get(k).as_deref(), Some("v1"));
    }
    assert_eq!((local.count("prepare"), local.count("commit")), (4, 4));
    let sent = local.sent.borrow();
    let last_prepare = sent.iter().rposition(|(_, k)| *k == "prepare").unwrap();
    let first_commit = sent.iter().position(|(_, k)| *k == "commit").unwrap();
    assert!(
        last_prepare < first_commit,
        "every prepare before any commit"
    );
    for p in &local.parts {
        assert!(p.borrow().is_idle());
    }
}

#[test]
fn younger_transaction_dies_then_retries_after_older_commits() {
    let local = Local::new(4);
    let foo_part = local.topo().partition_of_key(b"foo");
    // An older transaction (id 1) holds "foo" in its partition.
    let mut older = TxnPart::new(Dialect::Text);
    older.ops.push(OpKind::Put, b"foo", b"old");
    let (tx, _rx) = oneshot::channel();
    local.parts[foo_part]
        .borrow_mut()
        .handle(Request::Prepare(1, Box::new(older), tx));
    let done = Cell::new(false);
    block_on(async {
        let committer = async {
            let p = parts(&local, &SPREAD, "young");
            assert!(matches!(run(&local, p).await, Ok(Outcome::Committed(_))));
            done.set(true);
        };
        let releaser = async {
            for _ in 0..3 {
                tokio::task::yield_now().await;
            }
            assert!(
                !done.get(),
                "must not commit while an older txn holds a key"
            );
            assert_eq!(local.get("a"), None, "nothing applied before commit");
            local.parts[foo_part]
                .borrow_mut()
                .handle(Request::Commit(1, None));
        };
        tokio::join!(committer, releaser);
    });
    assert!(done.get());
    for k in SPREAD {
        assert_eq!(local.get(k).as_deref(), Some("young"));
    }
    assert!(
        local.count("abort") > 0,
        "the young transaction aborted at least once"
    );
}

#[test]
fn failed_check_applies_nothing_anywhere() {
    let local = Local::new(4);
    local.parts[local.topo().partition_of_key(b"c")]
        .borrow_mut()
        .handle(Request::Apply(
            Box::new({
                let mut p = TxnPart::new(Dialect::Resp);
                p.ops.push(OpKind::Put, b"c", b"exists");
                p
            }),
            oneshot::channel().0,
        ));
    let mut p = parts(&local, &SPREAD, "new");
    for (_, part) in &mut p {
        part.check = Check::AllAbsent;
    }
    assert!(matches!(block_on(run(&local, p)), Ok(Outcome::CheckFailed)));
    assert_eq!(local.get("a"), None);
    assert_eq!(local.get("c").as_deref(), Some("exists"));
    for p in &local.parts {
        assert!(p.borrow().is_idle(), "locks released after a failed check");
    }
}

#[test]
fn dirty_watch_aborts_the_whole_transaction() {
    let local = Local::new(4);
    let topo = local.topo();
    let wp = topo.partition_of_key(b"watched");
    local.parts[wp].borrow_mut().watch(42, b"watched");
    // Someone writes the watched key.
    let mut w = TxnPart::new(Dialect::Text);
    w.ops.push(OpKind::Put, b"watched", b"changed");
    local.parts[wp]
        .borrow_mut()
        .handle(Request::Apply(Box::new(w), oneshot::channel().0));
    let mut p = parts(&local, &SPREAD, "v");
    if !p.iter().any(|(id, _)| *id == wp) {
        p.push((wp, TxnPart::new(Dialect::Text)));
        p.sort_by_key(|(id, _)| *id);
    }
    for (_, part) in &mut p {
        part.watch = Some(42);
    }
    assert!(matches!(block_on(run(&local, p)), Ok(Outcome::WatchFailed)));
    assert_eq!(local.get("a"), None);
    for p in &local.parts {
        assert!(p.borrow().is_idle());
    }
}

#[test]
fn wanted_replies_come_back_per_partition() {
    let local = Local::new(4);
    let mut p = parts(&local, &SPREAD, "v");
    for (_, part) in &mut p {
        part.want_reply = true;
    }
    let Ok(Outcome::Committed(replies)) = block_on(run(&local, p)) else {
        panic!("not committed")
    };
    assert_eq!(replies.len(), 4);
    for (_, r) in &replies {
        assert_eq!(r.segments().next(), Some(&b"{\"status\": \"Ok\"}\n"[..]));
    }
}

#[test]
fn lost_vote_aborts_every_partition_even_those_not_yet_heard() {
    let local = Local::new(4);
    // The first vote collected is lost; the other three are never read.
    local.lose_vote_of.set(Some(0));
    let p = parts(&local, &SPREAD, "v");
    assert_eq!(block_on(run(&local, p)).unwrap_err(), TxnError::Unavailable);
    assert_eq!(local.count("abort"), 4, "every prepared partition aborted");
    assert!(local.all_idle(), "no key stays locked");
    for k in SPREAD {
        assert_eq!(local.get(k), None);
    }
}

#[test]
fn lost_answer_on_the_retry_path_still_aborts_everything() {
    let local = Local::new(4);
    let foo_part = local.topo().partition_of_key(b"foo");
    // An older transaction holds "foo": ours must die and retry.
    let mut older = TxnPart::new(Dialect::Text);
    older.ops.push(OpKind::Put, b"foo", b"old");
    local.parts[foo_part].borrow_mut().handle(Request::Prepare(
        1,
        Box::new(older),
        oneshot::channel().0,
    ));
    local.lose_abort_reply.set(true);
    let p = parts(&local, &SPREAD, "v");
    assert_eq!(block_on(run(&local, p)).unwrap_err(), TxnError::Unavailable);
    local.parts[foo_part]
        .borrow_mut()
        .handle(Request::Commit(1, None));
    assert!(
        local.all_idle(),
        "the aborts after the lost answer were sent"
    );
    assert_eq!(local.get("a"), None);
}

#[test]
fn dropping_the_coordinator_before_commit_aborts_and_cancels_waiting_prepares() {
    let local = Local::new(4);
    let foo_part = local.topo().partition_of_key(b"foo");
    // A younger transaction holds "foo": ours (older) waits for it there.
    let mut younger = TxnPart::new(Dialect::Text);
    younger.ops.push(OpKind::Put, b"foo", b"younger");
    local.parts[foo_part].borrow_mut().handle(Request::Prepare(
        10_000,
        Box::new(younger),
        oneshot::channel().0,
    ));
    block_on(async {
        let p = parts(&local, &SPREAD, "v");
        tokio::select! {
            _ = run(&local, p) => panic!("cannot commit while waiting"),
            _ = async { for _ in 0..10 { tokio::task::yield_now().await } } => {}
        }
    });
    assert_eq!(local.count("abort"), 4, "the waiting partition too");
    local.parts[foo_part]
        .borrow_mut()
        .handle(Request::Commit(10_000, None));
    assert!(local.all_idle(), "the cancelled prepare never locked");
    assert_eq!(local.get("foo").as_deref(), Some("younger"));
    assert_eq!(local.get("a"), None);
}

#[test]
fn dropping_the_coordinator_during_commit_commits_everywhere() {
    let local = Local::new(4);
    local.stall_after_commits.set(Some(1));
    block_on(async {
        let p = parts(&local, &SPREAD, "v");
        tokio::select! {
            _ = run(&local, p) => panic!("the second commit never completes"),
            _ = async { for _ in 0..10 { tokio::task::yield_now().await } } => {}
        }
    });
    assert_eq!(local.count("commit"), 4, "the guard sent the other three");
    assert_eq!(local.count("abort"), 0);
    assert!(local.all_idle());
    for k in SPREAD {
        assert_eq!(local.get(k).as_deref(), Some("v"), "{k}");
    }
}

#[test]
fn panic_unwinding_through_the_coordinator_aborts() {
    let local = Local::new(4);
    let foo_part = local.topo().partition_of_key(b"foo");
    let mut younger = TxnPart::new(Dialect::Text);
    younger.ops.push(OpKind::Put, b"foo", b"younger");
    local.parts[foo_part].borrow_mut().handle(Request::Prepare(
        10_000,
        Box::new(younger),
        oneshot::channel().0,
    ));
    let p = parts(&local, &SPREAD, "v");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        block_on(async {
            let coordinator = run(&local, p);
            tokio::pin!(coordinator);
            for _ in 0..10 {
                assert!(poll_once(coordinator.as_mut()).await.is_none());
            }
            panic!("a bug elsewhere in the connection task");
        })
    }));
    assert!(result.is_err());
    local.parts[foo_part]
        .borrow_mut()
        .handle(Request::Commit(10_000, None));
    assert!(local.all_idle(), "no key stays locked after the unwinding");
    assert_eq!(local.get("a"), None);
}

/// Polls `f` once.
async fn poll_once<F: Future + Unpin>(mut f: F) -> Option<F::Output> {
    std::future::poll_fn(|cx| {
        std::task::Poll::Ready(match std::pin::Pin::new(&mut f).poll(cx) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        })
    })
    .await
}

/// `RENAME src dst` as a handoff transaction (what a connection runs when
/// the keys live on different partitions).
fn rename_across(local: &Local, src: &str, dst: &str) -> Result<Handoff<Vec<u8>>, TxnError> {
    let topo = local.topo();
    let keys = [src.as_bytes(), dst.as_bytes()];
    let parts = handoff::parts(&topo, keys, Dialect::Resp);
    block_on(handoff::run(local, parts, |states| {
        let mut scratch = Partition::scratch(states);
        let mut reply = Vec::new();
        let op = OpRef {
            kind: OpKind::Rename { nx: false },
            key: src.as_bytes(),
            value: dst.as_bytes(),
        };
        scratch.execute(Dialect::Resp, op, &mut reply);
        (scratch.changes(states, &topo), reply)
    }))
}

fn exec_on(local: &Local, kind: OpKind, key: &str, value: &str) -> String {
    let p = local.topo().partition_of_key(key.as_bytes());
    let mut out = Vec::new();
    let op = OpRef {
        kind,
        key: key.as_bytes(),
        value: value.as_bytes(),
    };
    local.parts[p]
        .borrow_mut()
        .execute(Dialect::Resp, op, &mut out);
    String::from_utf8(out).unwrap()
}

fn committed(outcome: Result<Handoff<Vec<u8>>, TxnError>) -> String {
    match outcome {
        Ok(Handoff::Committed(reply)) => String::from_utf8(reply).unwrap(),
        other => panic!("not committed: {other:?}"),
    }
}

#[test]
fn handoff_moves_the_value_and_its_ttl_across_partitions() {
    let local = Local::new(4);
    let topo = local.topo();
    assert_ne!(topo.partition_of_key(b"a"), topo.partition_of_key(b"b"));
    let ex = OpKind::Set {
        cond: crate::partition::SetCond::Always,
        get: false,
        ttl: crate::partition::TtlMode::At(crate::partition::unix_ms() + 100_000),
    };
    exec_on(&local, ex, "a", "1");
    exec_on(&local, OpKind::Put, "b", "old");
    assert_eq!(committed(rename_across(&local, "a", "b")), "+OK\r\n");
    assert_eq!(
        (local.get("a"), local.get("b").as_deref()),
        (None, Some("1"))
    );
    let ttl = exec_on(&local, OpKind::Ttl { ms: false }, "b", "");
    assert!(ttl == ":100\r\n" || ttl == ":99\r\n", "{ttl}");
    assert_eq!(
        (
            local.count("prepare"),
            local.count("fill"),
            local.count("commit")
        ),
        (2, 2, 2)
    );
    assert!(local.all_idle());
    // A missing source: the error, nothing written, every lock released.
    assert_eq!(
        committed(rename_across(&local, "a", "b")),
        "-ERR no such key\r\n"
    );
    assert_eq!(local.count("fill"), 2, "no writes, no fill");
    assert_eq!(local.get("b").as_deref(), Some("1"));
    assert!(local.all_idle());
}

#[test]
fn handoff_out_of_memory_on_the_destination_applies_nothing() {
    let mut local = Local::new(4);
    let pb = local.topo().partition_of_key(b"b");
    local.parts[pb] = RefCell::new(Partition::with_budget(64 * 1024));
    exec_on(&local, OpKind::Put, "a", &"x".repeat(100_000));
    assert!(matches!(
        rename_across(&local, "a", "b"),
        Ok(Handoff::OutOfMemory)
    ));
    assert_eq!(local.get("a").map(|v| v.len()), Some(100_000));
    assert_eq!(local.get("b"), None);
    assert_eq!(local.count("commit"), 0);
    assert_eq!(local.count("abort"), 2);
    assert!(local.all_idle());
}

#[test]
fn handoff_losing_a_vote_aborts_and_keeps_the_source() {
    let local = Local::new(4);
    exec_on(&local, OpKind::Put, "a", "1");
    local
        .lose_vote_of
        .set(Some(local.topo().partition_of_key(b"b")));
    assert_eq!(
        rename_across(&local, "a", "b").unwrap_err(),
        TxnError::Unavailable
    );
    assert_eq!(
        (local.get("a").as_deref(), local.get("b")),
        (Some("1"), None)
    );
    assert!(local.all_idle(), "the guard aborted both");
}

#[test]
fn handoff_dropped_during_commit_finishes_the_move() {
    let local = Local::new(4);
    exec_on(&local, OpKind::Put, "a", "1");
    local.stall_after_commits.set(Some(1));
    let topo = local.topo();
    block_on(async {
        let parts = handoff::parts(&topo, [&b"a"[..], b"b"], Dialect::Resp);
        let run = handoff::run(&local, parts, |states| {
            let mut scratch = Partition::scratch(states);
            let op = OpRef {
                kind: OpKind::Rename { nx: false },
                key: b"a",
                value: b"b",
            };
            scratch.execute(Dialect::Resp, op, &mut Vec::new());
            (scratch.changes(states, &topo), ())
        });
        tokio::select! {
            _ = run => panic!("the second commit never completes"),
            _ = async { for _ in 0..10 { tokio::task::yield_now().await } } => {}
        }
    });
    assert_eq!(
        (local.get("a"), local.get("b").as_deref()),
        (None, Some("1"))
    );
    assert!(local.all_idle());
}
