#!/usr/bin/env python3
"""A hash-backed object cache with redis-py against a running corekv
(started by tests/hashes.rs): objects stored with HSET mapping=…, read
back whole with HGETALL as dicts, partial reads with HMGET, counters
with HINCRBY/HINCRBYFLOAT, a TTL per object, invalidation with DEL, and
a pipelined bulk load over keys of every partition.

Environment: COREKV_SHARED_PORT, the shared port.

A plain script with asserts: exits 0 when every check passes. Runs once
with redis-py's default protocol (RESP3 from redis-py 8 on) and once with
protocol=2. Needs the PyPI package `redis` (>= 5).
"""

import os
import sys
import time

try:
    import redis
except ImportError as e:  # pragma: no cover - reported by the Rust test
    sys.exit(
        f"the python package 'redis' is missing ({e}); install it with: "
        "python3 -m pip install 'redis>=5'"
    )

PORT = int(os.environ["COREKV_SHARED_PORT"])
TIMEOUT = 10
# A hang guard for the expiry poll, never a time bound.
GUARD = 60


class UserCache:
    """Users cached as hashes `user:<id>`, with a TTL."""

    def __init__(self, r, ttl=300):
        self.r = r
        self.ttl = ttl

    def key(self, uid):
        return f"user:{uid}"

    def put(self, uid, user):
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(self.key(uid))
        pipe.hset(self.key(uid), mapping=user)
        pipe.expire(self.key(uid), self.ttl)
        pipe.execute()

    def get(self, uid):
        found = self.r.hgetall(self.key(uid))
        return found or None

    def fields(self, uid, *names):
        return self.r.hmget(self.key(uid), names)

    def visit(self, uid):
        return self.r.hincrby(self.key(uid), "visits", 1)

    def invalidate(self, uid):
        return self.r.delete(self.key(uid))


def run(protocol):
    kw = {} if protocol is None else {"protocol": protocol}
    r = redis.Redis(
        host="127.0.0.1",
        port=PORT,
        decode_responses=True,
        socket_timeout=TIMEOUT,
        **kw,
    )
    r.flushall()
    cache = UserCache(r)
    alice = {"name": "Alice", "email": "alice@example.com", "visits": 0, "score": "1.5"}
    cache.put(1, alice)
    got = cache.get(1)
    assert isinstance(got, dict), got
    assert got == {k: str(v) for k, v in alice.items()}, got
    assert cache.fields(1, "name", "missing") == ["Alice", None]
    assert [cache.visit(1) for _ in range(3)] == [1, 2, 3]
    assert r.hincrbyfloat("user:1", "score", 0.25) == 1.75
    assert r.hget("user:1", "visits") == "3"
    ttl = r.ttl("user:1")
    assert 0 < ttl <= 300, ttl
    assert r.type("user:1") == "hash"
    assert r.object("encoding", "user:1") == "listpack"
    assert cache.get(404) is None
    assert r.hexists("user:1", "email") and not r.hexists("user:1", "phone")
    assert r.hlen("user:1") == 4
    assert sorted(r.hkeys("user:1")) == ["email", "name", "score", "visits"]
    # Replacing an object drops its old fields.
    cache.put(1, {"name": "Alice B."})
    assert cache.get(1) == {"name": "Alice B."}
    # A wrong-type access raises the right exception.
    r.set("plain", "x")
    try:
        r.hgetall("plain")
    except redis.ResponseError as e:
        assert str(e).startswith("WRONGTYPE"), e
    else:
        raise AssertionError("HGETALL on a string must fail")
    # Bulk load through a pipeline: keys land on every partition.
    pipe = r.pipeline(transaction=False)
    for uid in range(100, 400):
        pipe.hset(f"user:{uid}", mapping={"name": f"u{uid}", "visits": uid})
        pipe.expire(f"user:{uid}", 300)
    pipe.execute()
    pipe = r.pipeline(transaction=False)
    for uid in range(100, 400):
        pipe.hgetall(f"user:{uid}")
    for uid, obj in zip(range(100, 400), pipe.execute()):
        assert obj == {"name": f"u{uid}", "visits": str(uid)}, (uid, obj)
    # A big object (past hash-max-listpack-entries) behaves the same.
    wide = {f"attr{i}": i for i in range(1000)}
    r.hset("user:wide", mapping=wide)
    assert r.object("encoding", "user:wide") == "hashtable"
    assert r.hgetall("user:wide") == {k: str(v) for k, v in wide.items()}
    assert dict(r.hscan_iter("user:wide", match="attr99*")) == {
        "attr99": "99",
        "attr990": "990", "attr991": "991", "attr992": "992", "attr993": "993",
        "attr994": "994", "attr995": "995", "attr996": "996", "attr997": "997",
        "attr998": "998", "attr999": "999",
    }
    # Invalidation, and a short TTL that expires the object.
    assert cache.invalidate(1) == 1 and cache.get(1) is None
    r.hset("user:short", mapping={"a": 1})
    assert r.pexpire("user:short", 50)
    deadline = time.monotonic() + GUARD
    while r.exists("user:short"):
        assert time.monotonic() < deadline, "user:short never expired"
        time.sleep(0.02)
    assert r.hgetall("user:short") == {}
    # A transaction with WATCH: optimistic read-modify-write of a field.
    with r.pipeline() as pipe:
        pipe.watch("user:100")
        visits = int(pipe.hget("user:100", "visits"))
        pipe.multi()
        pipe.hset("user:100", "visits", visits * 2)
        pipe.execute()
    assert r.hget("user:100", "visits") == "200"
    r.close()
    print(f"hash cache ok (protocol {protocol or 'default'})")


run(None)
run(2)
