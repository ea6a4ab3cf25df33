#!/usr/bin/env python3
"""A worker queue on lists with redis-py against a running corekv (started
by tests/lists.rs): a producer thread pushes jobs with RPUSH from its own
connection, a consumer takes them with BLPOP from another; the consumer's
connection is on one worker, the producer's on a second, the queue key on
a third worker's partition, so every wake-up crosses partitions. Then the
reliable-queue pattern: BLMOVE into a processing list (on a fourth
partition), LREM once done, BRPOPLPUSH for the legacy spelling.

Environment: COREKV_CONSUMER_PORT and COREKV_PRODUCER_PORT (core ports of
two workers), COREKV_QUEUE and COREKV_PROCESSING (keys of two other
partitions).

A plain script with asserts: exits 0 when every check passes. Runs once
with redis-py's default protocol (RESP3 from redis-py 8 on) and once with
protocol=2. Needs the PyPI package `redis` (>= 5).
"""

import os
import sys
import threading
import time

try:
    import redis
except ImportError as e:  # pragma: no cover - reported by the Rust test
    sys.exit(
        f"the python package 'redis' is missing ({e}); install it with: "
        "python3 -m pip install 'redis>=5'"
    )

CONSUMER_PORT = int(os.environ["COREKV_CONSUMER_PORT"])
PRODUCER_PORT = int(os.environ["COREKV_PRODUCER_PORT"])
QUEUE = os.environ["COREKV_QUEUE"]
PROCESSING = os.environ["COREKV_PROCESSING"]
JOBS = 200
# Hang guards for a blocking pop, never time bounds.
GUARD = 30


def produce(r, jobs, errors):
    """Pushes the jobs one by one, pausing now and then so that the
    consumer really waits in BLPOP."""
    try:
        for i, job in enumerate(jobs):
            r.rpush(QUEUE, job)
            if i % 20 == 0:
                time.sleep(0.01)
    except Exception as e:  # pragma: no cover - reported below
        errors.append(e)


def run(protocol):
    kw = {} if protocol is None else {"protocol": protocol}
    consumer = redis.Redis(port=CONSUMER_PORT, socket_timeout=GUARD + 10, **kw)
    producer = redis.Redis(port=PRODUCER_PORT, socket_timeout=GUARD + 10, **kw)
    consumer.delete(QUEUE, PROCESSING)

    # BLPOP worker: every job, once, in order.
    jobs = [f"job:{protocol}:{i}".encode() for i in range(JOBS)]
    errors = []
    t = threading.Thread(target=produce, args=(producer, jobs, errors))
    t.start()
    got = []
    while len(got) < JOBS:
        item = consumer.blpop([QUEUE], timeout=GUARD)
        assert item is not None, f"BLPOP timed out after {len(got)} jobs"
        key, job = tuple(item)
        assert key == QUEUE.encode(), key
        got.append(job)
    t.join()
    assert not errors, errors
    assert got == jobs, "jobs out of order, lost or duplicated"
    assert consumer.llen(QUEUE) == 0
    assert consumer.exists(QUEUE) == 0

    # An empty queue: a short timeout answers None.
    assert consumer.blpop([QUEUE], timeout=0.05) is None

    # Reliable queue: BLMOVE to a processing list, LREM once done.
    jobs = [f"task:{protocol}:{i}".encode() for i in range(20)]
    t = threading.Thread(target=produce, args=(producer, jobs, errors))
    t.start()
    done = []
    for _ in jobs:
        job = consumer.blmove(QUEUE, PROCESSING, GUARD, "LEFT", "RIGHT")
        assert job is not None, "BLMOVE timed out"
        assert consumer.lrange(PROCESSING, 0, -1) == [job]
        assert consumer.lrem(PROCESSING, 1, job) == 1
        done.append(job)
    t.join()
    assert not errors, errors
    assert done == jobs
    assert consumer.exists(QUEUE, PROCESSING) == 0

    # BRPOPLPUSH, BRPOP and BLMPOP, fed one at a time.
    producer.rpush(QUEUE, "a", "b", "c")
    assert consumer.brpoplpush(QUEUE, PROCESSING, GUARD) == b"c"
    assert tuple(consumer.brpop([QUEUE], timeout=GUARD)) == (QUEUE.encode(), b"b")
    assert consumer.blmpop(GUARD, 2, PROCESSING, QUEUE, direction="LEFT", count=5) == [
        PROCESSING.encode(),
        [b"c"],
    ]
    consumer.delete(QUEUE, PROCESSING)
    print(f"list queue ok (protocol {protocol or 'default'})")


for protocol in (None, 2):
    run(protocol)
