#!/usr/bin/env python3
"""Measures corekv's per-client limits on a real binary (issue 10's figures).

Usage (release binary; loopback only; every case is bounded and stops itself):
    bench/limits.py target/release/corekv greedy "256mb 64mb 60" 10 fwd 512
        10 clients that pipeline 512 GETs of a 1 MiB value owned by the other
        worker and never read: peak RSS, and RSS after they are disconnected
    bench/limits.py target/release/corekv shutdown 2
        seconds from SIGTERM to exit with a client that never reads
        (--shutdown-timeout 2)
    bench/limits.py target/release/corekv maxclients 10000
        RSS per idle connection at --maxclients 10000, the next client refused
"""
import socket, subprocess, sys, time, os, resource, re
BIN = sys.argv[1]
def rss(pid):
    d = open(f'/proc/{pid}/status').read()
    g = lambda k: int(re.search(k + r':\s+(\d+)', d).group(1)) * 1024
    return g('VmRSS'), g('VmHWM')
def start(*extra):
    p = subprocess.Popen([BIN, '--ephemeral-ports', '--port', '0', '--core-port-base', '0', '--workers', '2', '--bind', '127.0.0.1', '--no-pin', '--log', 'info', *extra], stderr=subprocess.PIPE, text=True)
    for line in p.stderr:
        m = re.search(r'core ports ([\d,]+)', line)
        if m:
            ports = [int(x) for x in m.group(1).split(',')]
            return p, ports
def enc(*args):
    out = b'*%d\r\n' % len(args)
    for a in args:
        out += b'$%d\r\n%s\r\n' % (len(a), a)
    return out
def cmd(s, *args):
    s.sendall(enc(*args)); time.sleep(0.05); return s.recv(65536)
def crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xffff
    return crc
def key_on(part, n=2):
    # even split of 16384 slots over n partitions
    for i in range(100000):
        k = b'big%d' % i
        if (crc16(k) % 16384) * n // 16384 == part:
            return k
def greedy(limit, clients=10, forwarded=True, gets=512):
    p, ports = start('--client-output-buffer-limit', limit)
    key = key_on(1)
    s = socket.create_connection(('127.0.0.1', ports[1]))
    s.sendall(enc(b'SET', key, b'v' * (1 << 20))); s.recv(100)
    base = rss(p.pid)[0]
    conns = []
    port = ports[0] if forwarded else ports[1]
    for _ in range(clients):
        c = socket.create_connection(('127.0.0.1', port))
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.sendall(enc(b'GET', key) * gets)
        conns.append(c)
    t0 = time.time()
    while True:
        time.sleep(0.5)
        now, peak = rss(p.pid)
        info = cmd(s, b'INFO', b'stats').decode()
        disc = re.search(r'client_output_buffer_limit_disconnections:(\d+)', info).group(1)
        if int(disc) >= clients or time.time() - t0 > 40: break
    waited = time.time() - t0
    for c in conns: c.close()
    afters = []
    for t in (1.5, 3.5, 5):
        time.sleep(t); afters.append(rss(p.pid)[0])
    after = afters[0]
    print('rss after clients left, at +1.5/+5/+10 s:', [round(a/2**20,1) for a in afters], 'MiB')
    print(f'limit={limit!r} forwarded={forwarded} clients={clients}x{gets} GET 1MiB: rss before {base/2**20:.1f} MiB, after {waited:.1f} s {now/2**20:.1f} MiB, peak (VmHWM) {peak/2**20:.1f} MiB, disconnections {disc}, rss 1.5 s after clients left {after/2**20:.1f} MiB')
    p.terminate(); p.wait()
def shutdown(timeout):
    extra = ['--client-output-buffer-limit', '0 0 0'] + (['--shutdown-timeout', str(timeout)] if timeout is not None else [])
    p, ports = start(*extra)
    key = key_on(1)
    s = socket.create_connection(('127.0.0.1', ports[1]))
    s.sendall(enc(b'SET', key, b'v' * (1 << 20))); s.recv(100)
    c = socket.create_connection(('127.0.0.1', ports[0]))
    c.sendall(enc(b'GET', key) * 64)
    time.sleep(1)
    t0 = time.time(); p.terminate(); code = p.wait(); dt = time.time() - t0
    print(f'SIGTERM with a non-reading client, --shutdown-timeout {timeout if timeout is not None else "default (10)"}: exit {code} after {dt:.2f} s')
def maxclients(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    p, ports = start('--maxclients', str(n))
    base = rss(p.pid)[0]
    conns = []
    for i in range(n):
        conns.append(socket.create_connection(('127.0.0.1', ports[i % 2])))
    # each says PING once (buffers taken, then given back)
    for c in conns: c.sendall(enc(b'PING'))
    for c in conns: assert c.recv(100) == b'+PONG\r\n'
    time.sleep(0.5)
    held = rss(p.pid)[0]
    extra = socket.create_connection(('127.0.0.1', ports[0]))
    refused = extra.recv(100)
    conns[0].sendall(enc(b'SET', b'a', b'b')); ok = conns[0].recv(100)
    print(f'maxclients {n}: rss {base/2**20:.1f} MiB -> {held/2**20:.1f} MiB with {n} idle clients = {(held-base)/n:.0f} B/conn; client {n+1} got {refused!r}; SET on client 1: {ok!r}')
    for c in conns: c.close()
    p.terminate(); p.wait()
what = sys.argv[2]
if what == 'greedy':
    greedy(sys.argv[3], int(sys.argv[4]), sys.argv[5] == 'fwd', int(sys.argv[6]))
elif what == 'shutdown':
    shutdown(None if sys.argv[3] == 'default' else int(sys.argv[3]))
elif what == 'maxclients':
    maxclients(int(sys.argv[3]))
