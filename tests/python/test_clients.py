#!/usr/bin/env python3
"""redis-py against a running corekv server (started by tests/resp_python.rs).

Environment:
  COREKV_SHARED_PORT  the shared port
  COREKV_CORE_PORTS   the core ports, comma-separated, in partition order
  COREKV_SLOT_OWNERS  "start-end=partition,..." covering slots 0..16383

A plain script with asserts: it exits 0 when every check passes, non-zero
(with a traceback) otherwise. Needs the PyPI package `redis` (>= 5).

Every test runs twice: with redis-py's default protocol (RESP3 from
redis-py 8 on, which sends HELLO 3 on connect) and with protocol=2.
"""

import os
import sys
import threading

try:
    import redis
    from redis.cluster import RedisCluster
except ImportError as e:  # pragma: no cover - reported by the Rust test
    sys.exit(
        f"the python package 'redis' is missing ({e}); install it with: "
        "python3 -m pip install 'redis>=5'"
    )

HOST = "127.0.0.1"
TIMEOUT = 5
SHARED = int(os.environ["COREKV_SHARED_PORT"])
CORES = [int(p) for p in os.environ["COREKV_CORE_PORTS"].split(",")]
SLOT_OWNERS = []
for item in os.environ["COREKV_SLOT_OWNERS"].split(","):
    rng, owner = item.split("=")
    start, end = rng.split("-")
    SLOT_OWNERS.append((int(start), int(end), int(owner)))


def owner_of_slot(slot):
    for start, end, owner in SLOT_OWNERS:
        if start <= slot <= end:
            return owner
    raise AssertionError(f"slot {slot} has no owner in {SLOT_OWNERS}")


# None: the library's default protocol; 2: RESP2.
PROTOCOL = None


def protocol_kw():
    return {} if PROTOCOL is None else {"protocol": PROTOCOL}


def client(port=SHARED, **kw):
    return redis.Redis(
        host=HOST,
        port=port,
        **protocol_kw(),
        socket_timeout=TIMEOUT,
        socket_connect_timeout=TIMEOUT,
        decode_responses=True,
        **kw,
    )


def cluster():
    return RedisCluster(
        host=HOST,
        port=CORES[0],
        **protocol_kw(),
        socket_timeout=TIMEOUT,
        socket_connect_timeout=TIMEOUT,
        decode_responses=True,
    )


def expect_error(fn, contains):
    try:
        got = fn()
    except redis.ResponseError as e:
        # redis-py drops the "ERR " prefix; the message is the first arg.
        mesg = " ".join(str(a) for a in e.args) or str(e)
        assert contains in mesg, f"expected an error containing {contains!r}, got {mesg!r}"
        return
    raise AssertionError(f"expected an error containing {contains!r}, got {got!r}")


def worker_stats(port):
    """INFO workers through `port`: a list of dicts, in worker order."""
    info = client(port).info("workers")
    workers = []
    while f"worker_{len(workers)}" in info:
        w = info[f"worker_{len(workers)}"]
        assert isinstance(w, dict) and "forwarded_out" in w, info
        workers.append(w)
    assert len(workers) == len(CORES), info
    return workers


def keys_on_each_partition(prefix, per):
    """`per` keys `prefix<n>` owned by each partition (by CLUSTER KEYSLOT)."""
    r = client()
    found = [[] for _ in CORES]
    n = 0
    while any(len(k) < per for k in found):
        key = f"{prefix}{n}"
        n += 1
        p = owner_of_slot(r.cluster("KEYSLOT", key))
        if len(found[p]) < per:
            found[p].append(key)
    return [k for ks in found for k in ks]


def test_basic_commands():
    r = client()
    r.flushall()
    assert r.ping() is True
    assert r.echo("hello") == "hello"
    assert r.set("py:a", "1") is True
    assert r.get("py:a") == "1"
    assert r.get("py:missing") is None
    assert r.set("py:a", "2", nx=True) is None
    assert r.set("py:b", "2", nx=True) is True
    assert r.set("py:c", "3", xx=True) is None
    assert r.exists("py:c") == 0
    assert r.set("py:a", "3", get=True) == "1"
    assert r.setnx("py:a", "x") is False
    assert r.setnx("py:d", "x") is True
    assert r.set("py:ttl", "v", ex=10) is True
    assert r.ttl("py:ttl") in (9, 10), r.ttl("py:ttl")
    assert r.persist("py:ttl") is True and r.ttl("py:ttl") == -1
    assert r.get("py:a") == "3"
    assert r.getdel("py:d") == "x"
    assert r.getdel("py:d") is None

    keys = keys_on_each_partition("pym:", 3)
    mapping = {k: f"v-{k}" for k in keys}
    assert r.mset(mapping) is True
    assert r.mget(keys + ["py:missing"]) == [mapping[k] for k in keys] + [None]
    assert r.exists(*keys) == len(keys)
    fresh = keys_on_each_partition("pynx:", 1)
    assert r.msetnx({k: "1" for k in fresh}) is True
    assert r.msetnx({"pynx:other": "2", fresh[2]: "2"}) is False
    assert r.exists("pynx:other") == 0
    assert r.delete(*keys[:6]) == 6
    assert r.unlink(*keys) == len(keys) - 6

    assert r.incr("py:n") == 1
    assert r.incrby("py:n", 9) == 10
    assert r.decr("py:n") == 9
    assert r.decrby("py:n", 10) == -1
    r.set("py:s", "abc")
    expect_error(lambda: r.incr("py:s"), "value is not an integer or out of range")
    r.set("py:max", str(2**63 - 1))
    expect_error(lambda: r.incr("py:max"), "overflow")
    assert r.append("py:app", "Hello") == 5
    assert r.append("py:app", " World") == 11
    assert r.strlen("py:app") == 11
    assert r.type("py:app") == "string"
    assert r.type("py:missing") == "none"

    r.flushdb()
    assert r.dbsize() == 0
    r.mset({f"scan:{i}": i for i in range(500)})
    r.set("other", 1)
    assert r.dbsize() == 501
    assert sorted(r.keys("scan:1?")) == sorted(f"scan:{i}" for i in range(10, 20))
    seen = set(r.scan_iter(match="scan:*", count=37))
    assert seen == {f"scan:{i}" for i in range(500)}, len(seen)

    assert r.client_setname("py-client") is True
    assert r.client_getname() == "py-client"
    assert isinstance(r.client_id(), int)
    assert r.config_get("maxmemory") == {"maxmemory": "0"}
    info = r.info()
    for field in ("redis_version", "connected_clients", "used_memory", "cluster_enabled"):
        assert field in info, sorted(info)
    assert info["db0"]["keys"] == 501, info["db0"]
    assert r.info("keyspace")["db0"]["keys"] == 501
    expect_error(lambda: r.execute_command("HELLO", 4), "NOPROTO")
    assert r.execute_command("SELECT", 0) in (True, "OK")
    expect_error(lambda: r.execute_command("SELECT", 1), "")


def test_pipeline():
    r = client()
    keys = keys_on_each_partition("pyp:", 4)
    for port in [SHARED] + CORES:
        p = client(port).pipeline(transaction=False)
        for i, k in enumerate(keys):
            p.set(k, i)
        p.mget(keys)
        p.incr(keys[0], 100)
        p.delete(*keys[:4])
        p.exists(*keys)
        p.ping()
        out = p.execute()
        assert out[: len(keys)] == [True] * len(keys), out
        assert out[len(keys)] == [str(i) for i in range(len(keys))], out
        assert out[len(keys) + 1 :] == [100, 4, len(keys) - 4, True], out
    # A deep pipeline, answered in order.
    p = r.pipeline(transaction=False)
    for i in range(3000):
        p.set(f"deep:{i}", i)
    for i in range(3000):
        p.get(f"deep:{i}")
    out = p.execute()
    assert out[3000:] == [str(i) for i in range(3000)]


def test_transaction():
    r = client()
    keys = keys_on_each_partition("pyt:", 1)
    p = r.pipeline()  # transaction=True: MULTI ... EXEC
    p.set(keys[0], "a").set(keys[1], 5).incr(keys[1]).mset({keys[2]: "c", keys[3]: "d"})
    p.mget(keys)
    assert p.execute() == [True, True, 6, True, ["a", "6", "c", "d"]]
    # An error at EXEC time: the other commands still apply (no rollback).
    p = r.pipeline()
    p.set(keys[0], "x").incr(keys[0]).set(keys[3], "y")
    out = p.execute(raise_on_error=False)
    assert out[0] is True and out[2] is True, out
    assert isinstance(out[1], redis.ResponseError), out
    assert r.mget(keys[0], keys[3]) == ["x", "y"]


def test_watch():
    a = client(CORES[0])
    b = client(CORES[1])
    k1, k2, k3, _ = keys_on_each_partition("pyw:", 1)

    # A conflicting write between WATCH and EXEC: WatchError, nothing applied.
    with a.pipeline() as p:
        p.watch(k1, k2)
        b.set(k2, "changed")
        p.multi()
        p.set(k1, "from-a")
        p.set(k3, "from-a")
        try:
            out = p.execute()
        except redis.WatchError:
            pass
        else:
            raise AssertionError(f"EXEC applied despite a conflicting write: {out}")
    assert b.mget(k1, k2, k3) == [None, "changed", None]
    assert a.ping() is True

    # No conflict: applied.
    with a.pipeline() as p:
        p.watch(k1, k2)
        assert p.get(k2) == "changed"  # immediate mode after WATCH
        b.set(k3, "unwatched")
        p.multi()
        p.set(k1, "from-a")
        assert p.execute() == [True]
    assert b.get(k1) == "from-a"

    # The transaction() helper retries until no watched key changed.
    b.set(k1, "0")
    attempts = []

    def bump(pipe):
        attempts.append(1)
        v = int(pipe.get(k1))
        if len(attempts) == 1:
            b.set(k1, "10")  # a concurrent change: the first try must fail
        pipe.multi()
        pipe.set(k1, v + 1)

    a.transaction(bump, k1)
    assert len(attempts) == 2, attempts
    assert b.get(k1) == "11"


def test_cluster_routing():
    rc = cluster()
    nodes = {n.port for n in rc.get_nodes()}
    assert nodes == set(CORES), (nodes, CORES)
    assert rc.keyslot("foo") == 12182
    assert rc.keyslot("{user1000}.following") == rc.keyslot("{user1000}.followers")

    keys = [f"pycluster:{i}" for i in range(500)]
    owned = [0] * len(CORES)
    for k in keys:
        slot = rc.keyslot(k)
        owner = owner_of_slot(slot)
        owned[owner] += 1
        node = rc.get_node_from_key(k)
        assert node.port == CORES[owner], (k, slot, node.port, CORES[owner])
        assert rc.get_node_from_key(k).port == rc.nodes_manager.get_node_from_slot(slot).port
    assert all(n > 50 for n in owned), owned

    before = [worker_stats(port) for port in CORES]
    for i, k in enumerate(keys):
        assert rc.set(k, i) is True
    for i, k in enumerate(keys):
        assert rc.get(k) == str(i), k
    after = [worker_stats(port) for port in CORES]

    def total(snapshot, field):
        return sum(w[field] for w in snapshot)

    for b_snap, a_snap in zip(before, after):
        assert total(a_snap, "forwarded_out") == total(b_snap, "forwarded_out"), (
            "the cluster client's commands were forwarded between workers",
            b_snap,
            a_snap,
        )
    last_before, last_after = before[-1], after[-1]
    for i, n in enumerate(owned):
        delta = last_after[i]["commands"] - last_before[i]["commands"]
        # SET + GET per owned key, plus connection set-up and our INFOs.
        assert 2 * n <= delta <= 2 * n + 30, (i, n, delta)

    # Hash-tagged multi-key commands go to one node.
    assert rc.mset({"{t}:a": "1", "{t}:b": "2"}) is True
    assert rc.mget("{t}:a", "{t}:b") == ["1", "2"]
    # Plain clients see the cluster client's data, through any port.
    for port in [SHARED] + CORES:
        assert client(port).get(keys[7]) == "7"
    rc.close()


def test_concurrent_atomicity():
    """MSET of keys on every partition is seen all-or-nothing by MGET."""
    keys = keys_on_each_partition("pyatom:", 4)
    stop = threading.Event()
    errors = []

    def writer():
        w = client()
        n = 0
        while not stop.is_set():
            n += 1
            w.mset({k: n for k in keys})

    def reader(port):
        r = client(port)
        try:
            for _ in range(200):
                got = r.mget(keys)
                if len(set(got)) != 1:
                    errors.append(got)
                    return
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    t = threading.Thread(target=writer)
    t.start()
    readers = [threading.Thread(target=reader, args=(p,)) for p in [SHARED] + CORES[:2]]
    for th in readers:
        th.start()
    for th in readers:
        th.join()
    stop.set()
    t.join()
    assert not errors, f"partial MSET seen: {errors[0]}"


def main():
    print(f"redis-py {redis.__version__}, shared port {SHARED}, core ports {CORES}")
    tests = [
        test_basic_commands,
        test_pipeline,
        test_transaction,
        test_watch,
        test_cluster_routing,
        test_concurrent_atomicity,
    ]
    global PROTOCOL
    failed = 0
    for PROTOCOL in (None, 2):
        hello = client().execute_command("HELLO")
        if isinstance(hello, list):  # RESP2: a flat list of pairs
            hello = dict(zip(hello[::2], hello[1::2]))
        proto = hello["proto"]
        assert proto == (PROTOCOL or 3), f"asked {PROTOCOL}, got RESP{proto}"
        label = f"protocol={PROTOCOL or 'default'} (RESP{proto})"
        for t in tests:
            try:
                t()
            except Exception:  # noqa: BLE001 - every failure is printed
                failed += 1
                print(f"FAIL {t.__name__} {label}", flush=True)
                import traceback

                traceback.print_exc()
            else:
                print(f"ok   {t.__name__} {label}", flush=True)
    print(f"{2 * len(tests) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
