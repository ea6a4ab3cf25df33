#!/usr/bin/env python3
"""Stalls on one worker: the figures in bench/README.md ("Stalls").

Starts `BINARY --workers 1` on loopback, loads 1M small keys, then measures:
  * the worst PING round trip on the worker while `redis-cli KEYS *` runs;
  * server CPU to parse one ~8.4 MB MSET sent at once vs in 4 KiB pieces;
  * the mean time of CLUSTER COUNTKEYSINSLOT;
  * the first CLUSTER GETKEYSINSLOT (it builds the slot index: its time,
    the worst PING meanwhile, its bytes per key from INFO), then the mean
    time of one;
  * FLUSHALL's time and the worst PING meanwhile.
Usage: bench/stalls.py path/to/corekv [port]. Needs redis-cli. Bounded:
stops by itself in about a minute; the server is killed at the end.
"""
import os
import socket
import subprocess
import sys
import time


def enc(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_replies(s, n):
    """Reads n simple/int/error replies (one line each)."""
    buf = b""
    while buf.count(b"\r\n") < n:
        chunk = s.recv(1 << 20)
        if not chunk:
            raise RuntimeError("server closed")
        buf += chunk
    return buf.split(b"\r\n")[:n]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(port, n):
    s = connect(port)
    started = time.time()
    for base in range(0, n, 50_000):
        reqs = []
        for b in range(base, min(base + 50_000, n), 1000):
            args = ["MSET"]
            for i in range(b, min(b + 1000, n)):
                args += [f"k:{i}", "v"]
            reqs.append(enc(*args))
        s.sendall(b"".join(reqs))
        read_replies(s, len(reqs))
    return time.time() - started


def ping_during_keys(port):
    keys = subprocess.Popen(
        ["redis-cli", "-p", str(port), "KEYS", "*"], stdout=subprocess.DEVNULL
    )
    return ping_while(port, lambda: keys.poll() is None)


def ping_while(port, going):
    s = connect(port)
    worst, pings = 0.0, 0
    while going():
        t = time.perf_counter()
        s.sendall(b"*1\r\n$4\r\nPING\r\n")
        read_replies(s, 1)
        worst = max(worst, time.perf_counter() - t)
        pings += 1
        # Not a busy loop: under `chrt -f` one would hit the kernel's RT
        # throttling (50 ms pauses) and measure that instead.
        time.sleep(0.0005)
    return worst, pings


def mset_cpu(port, pid, pieces):
    args = ["MSET"]
    for i in range(200_000):
        args += [f"big:{i:012}", f"{i:010}"]
    req = enc(*args)
    s = connect(port)
    before = cpu_seconds(pid)
    if pieces:
        for at in range(0, len(req), 4096):
            s.sendall(req[at : at + 4096])
            time.sleep(0.0002)
    else:
        s.sendall(req)
    read_replies(s, 1)
    return len(req), cpu_seconds(pid) - before


def ping_during(port, request):
    """Sends `request` on its own connection and PINGs until it answers:
    (its time, the worst PING round trip meanwhile)."""
    s = connect(port)
    flush = connect(port)
    t = time.perf_counter()
    flush.sendall(request)
    flush.setblocking(False)
    worst, pings, took = 0.0, 0, None
    while took is None or pings < 5:
        p = time.perf_counter()
        s.sendall(b"*1\r\n$4\r\nPING\r\n")
        read_replies(s, 1)
        worst = max(worst, time.perf_counter() - p)
        pings += 1
        try:
            if took is None and flush.recv(16):
                took = time.perf_counter() - t
        except BlockingIOError:
            pass
    return took, worst


def info_field(port, section, field):
    s = connect(port)
    s.sendall(enc("INFO", section))
    buf = b""
    while True:  # one bulk string: $len, then the text
        buf += s.recv(1 << 16)
        head, sep, body = buf.partition(b"\r\n")
        if sep and len(body) >= int(head[1:]) + 2:
            break
    for line in body.decode().splitlines():
        if line.startswith(field + ":"):
            return int(line.split(":")[1])
    raise RuntimeError(f"no {field} in INFO {section}")


def getkeysinslot(port, keys):
    took, worst = ping_during(port, enc("CLUSTER", "GETKEYSINSLOT", "1000", "10"))
    per_key = info_field(port, "memory", "mem_slot_index") / keys
    s = connect(port)
    t = time.perf_counter()
    for _ in range(100):
        s.sendall(enc("CLUSTER", "GETKEYSINSLOT", "1000", "10"))
        read_replies(s, 21)  # *10, then a $len and a key line per key
    return took, worst, per_key, (time.perf_counter() - t) / 100


def countkeysinslot(port):
    s = connect(port)
    t = time.perf_counter()
    for _ in range(100):
        s.sendall(enc("CLUSTER", "COUNTKEYSINSLOT", "1000"))
        read_replies(s, 1)
    return (time.perf_counter() - t) / 100


def main():
    binary = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 17611
    server = subprocess.Popen(
        [binary, "--workers", "1", "--bind", "127.0.0.1", "--no-pin",
         "--port", str(port), "--core-port-base", str(port + 1)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                connect(port).close()
                break
            except OSError:
                time.sleep(0.05)
        print(f"load 1M keys: {load(port, 1_000_000):.1f} s")
        until = time.time() + 3
        worst, pings = ping_while(port, lambda: time.time() < until)
        print(f"no KEYS (baseline, 3 s): worst PING {worst * 1e3:.2f} ms over {pings} PINGs")
        for round in range(3):
            t = time.time()
            worst, pings = ping_during_keys(port)
            print(f"KEYS * took {time.time() - t:.2f} s")
            print(f"KEYS * (1M keys), round {round}: worst PING {worst * 1e3:.2f} ms over {pings} PINGs")
        print(f"COUNTKEYSINSLOT: {countkeysinslot(port) * 1e3:.3f} ms per call")
        took, worst, per_key, then = getkeysinslot(port, 1_000_000)
        print(f"first GETKEYSINSLOT (builds the slot index): {took * 1e3:.1f} ms; "
              f"worst PING meanwhile {worst * 1e3:.2f} ms; index {per_key:.1f} B/key")
        print(f"GETKEYSINSLOT 1000 10 after: {then * 1e3:.3f} ms per call")
        for pieces in (False, True):
            size, cpu = mset_cpu(port, server.pid, pieces)
            how = "in 4 KiB pieces" if pieces else "at once"
            print(f"MSET of {size / 1e6:.1f} MB {how}: {cpu:.2f} s server CPU")
        took, worst = ping_during(port, enc("FLUSHALL"))
        print(f"FLUSHALL (1.2M keys): {took * 1e3:.1f} ms; worst PING meanwhile {worst * 1e3:.1f} ms")
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
