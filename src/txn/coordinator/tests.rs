use super::*;
use crate::partition::Partition;
use std::cell::{Cell, RefCell};

/// Partitions on one thread, reached by direct calls: enough to exercise the
/// coordinator's protocol deterministically.
struct Local {
    parts: Vec<RefCell<Partition>>,
    clock: Cell<TxnId>,
    sent: RefCell<Vec<(usize, &'static str)>>,
}

impl Local {
    fn new(n: usize) -> Self {
        Self {
            parts: (0..n).map(|_| RefCell::default()).collect(),
            clock: Cell::new(100),
            sent: RefCell::default(),
        }
    }

    fn get(&self, key: &str) -> Option<String> {
        let topo = Topology::even(self.parts.len()).unwrap();
        let p = self.parts[topo.partition_of_key(key.as_bytes())].borrow();
        p.store()
            .get(key.as_bytes())
            .map(|v| String::from_utf8(v.to_vec()).unwrap())
    }
}

impl Participants for Local {
    async fn send(&self, partition: usize, request: Request) -> Result<(), TxnError> {
        let kind = match &request {
            Request::Batch(..) => "batch",
            Request::Apply(..) => "apply",
            Request::Prepare(..) => "prepare",
            Request::Commit(..) => "commit",
            Request::Abort(..) => "abort",
        };
        self.sent.borrow_mut().push((partition, kind));
        self.parts[partition].borrow_mut().handle(request);
        Ok(())
    }

    fn next_txn_id(&self) -> TxnId {
        self.clock.replace(self.clock.get() + 1)
    }
}

fn run<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn buffer(keys: &[&str], value: &str) -> TxnBuffer {
    let mut t = TxnBuffer::default();
    for k in keys {
        t.put(k.as_bytes(), value.as_bytes(), 1 << 20).unwrap();
    }
    t
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
    let topo = Topology::even(4).unwrap();
    run(commit(&local, &topo, buffer(&["{t}1", "{t}2"], "v"))).unwrap();
    assert_eq!(local.get("{t}1").as_deref(), Some("v"));
    assert_eq!(local.sent.borrow().len(), 1);
    assert_eq!(local.sent.borrow()[0].1, "apply");
}

#[test]
fn cross_partition_prepares_everywhere_then_commits() {
    let local = Local::new(4);
    let topo = Topology::even(4).unwrap();
    let mut t = buffer(&SPREAD, "v1");
    t.del(b"absent", 1 << 20).unwrap();
    run(commit(&local, &topo, t)).unwrap();
    for k in SPREAD {
        assert_eq!(local.get(k).as_deref(), Some("v1"));
    }
    let sent = local.sent.borrow();
    let prepares = sent.iter().filter(|(_, k)| *k == "prepare").count();
    let commits = sent.iter().filter(|(_, k)| *k == "commit").count();
    assert_eq!((prepares, commits), (4, 4));
    // Every prepare goes out before any commit.
    let last_prepare = sent.iter().rposition(|(_, k)| *k == "prepare").unwrap();
    let first_commit = sent.iter().position(|(_, k)| *k == "commit").unwrap();
    assert!(last_prepare < first_commit);
    for p in &local.parts {
        assert!(p.borrow().is_idle());
    }
}

#[test]
fn younger_transaction_dies_then_retries_after_older_commits() {
    let local = Local::new(4);
    let topo = Topology::even(4).unwrap();
    // An older transaction (id 1) holds "foo" in its partition.
    let foo_part = topo.partition_of_key(b"foo");
    let (tx, _rx) = oneshot::channel();
    local.parts[foo_part].borrow_mut().handle(Request::Prepare(
        1,
        vec![(b"foo"[..].into(), Some(b"old"[..].into()))],
        tx,
    ));
    let done = Cell::new(false);
    run(async {
        let committer = async {
            commit(&local, &topo, buffer(&SPREAD, "young"))
                .await
                .unwrap();
            done.set(true);
        };
        let releaser = async {
            // Let the young transaction die and retry a few times.
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
                .handle(Request::Commit(1));
        };
        tokio::join!(committer, releaser);
    });
    assert!(done.get());
    for k in SPREAD {
        assert_eq!(local.get(k).as_deref(), Some("young"));
    }
    let aborts = local
        .sent
        .borrow()
        .iter()
        .filter(|(_, k)| *k == "abort")
        .count();
    assert!(aborts > 0, "the young transaction aborted at least once");
}

#[test]
fn doomed_transaction_commits_nothing() {
    let local = Local::new(4);
    let topo = Topology::even(4).unwrap();
    let mut t = TxnBuffer::default();
    t.put(b"a", b"1", 1 << 20).unwrap();
    assert!(t.put(b"b", &[0; 64], 10).is_err());
    assert!(matches!(
        run(commit(&local, &topo, t)),
        Err(TxnError::TooLarge(10))
    ));
    assert!(local.sent.borrow().is_empty());
    assert_eq!(local.get("a"), None);
}
