#!/usr/bin/env python3
"""redis-py over TLS against a running corekv server (started by tests/tls.rs).

Environment:
  COREKV_TLS_PORT        the shared TLS port
  COREKV_TLS_CORE_PORTS  the TLS core ports, comma-separated, in partition order
  COREKV_CA              the CA certificate (PEM) that signed the server's

Exits 0 when every check passes. corekv speaks RESP2 only, so protocol=2.
"""

import os
import sys

try:
    import redis
    from redis.cluster import RedisCluster
except ImportError as e:  # pragma: no cover - reported by the Rust test
    sys.exit(f"the python package 'redis' is missing ({e})")

HOST = "127.0.0.1"
TIMEOUT = 5
PORT = int(os.environ["COREKV_TLS_PORT"])
CORES = [int(p) for p in os.environ["COREKV_TLS_CORE_PORTS"].split(",")]
CA = os.environ["COREKV_CA"]
TLS = dict(ssl=True, ssl_ca_certs=CA, protocol=2, socket_timeout=TIMEOUT)


def plain_client():
    r = redis.Redis(host=HOST, port=PORT, **TLS)
    assert r.ping()
    assert r.set("py:a", "1")
    assert r.get("py:a") == b"1"
    pipe = r.pipeline(transaction=False)
    for i in range(50):
        pipe.set(f"py:k{i}", i)
    assert all(pipe.execute())
    assert r.mget([f"py:k{i}" for i in range(50)]) == [str(i).encode() for i in range(50)]
    print("Redis(ssl=True): ok")


def cluster_client():
    rc = RedisCluster(host=HOST, port=CORES[0], **TLS)
    ports = sorted(n.port for n in rc.get_nodes())
    assert ports == sorted(CORES), f"cluster nodes {ports}, TLS core ports {CORES}"
    for i in range(100):
        assert rc.set(f"pyc:{i}", i)
    for i in range(100):
        assert rc.get(f"pyc:{i}") == str(i).encode()
    rc.close()
    print("RedisCluster(ssl=True): ok, nodes on the TLS core ports")


def without_tls_fails():
    r = redis.Redis(host=HOST, port=PORT, protocol=2, socket_timeout=TIMEOUT)
    try:
        r.ping()
    except redis.exceptions.RedisError:
        print("plain client on the TLS port: refused")
        return
    raise AssertionError("a plain client got an answer on the TLS port")


plain_client()
cluster_client()
without_tls_fails()
