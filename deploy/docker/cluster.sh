#!/usr/bin/env bash
# Three containers as three hosts, one cache (run by .ci/run after
# deploy/docker/test.sh; as root, like CI):
#
#   a private Docker network with fixed addresses; containers corekv-0..2,
#   two workers each, started with COREKV_CLUSTER_SIZE=3, their own
#   COREKV_CLUSTER_INDEX and the same COREKV_CLUSTER_PEERS (the three
#   addresses), and a password. From this machine (which reaches the
#   network's addresses directly):
#
#   - every pod lists the same 6 nodes (CLUSTER NODES / SLOTS);
#   - redis-py RedisCluster and redis-cli -c store and read keys, each on
#     the pod and core that owns it: no worker of any pod forwarded a
#     command (INFO workers: forwarded_out=0);
#   - a core port answers MOVED for another pod's key; MSET over two pods
#     answers CROSSSLOT; with a hash tag it works;
#   - a plain client on one pod's RESP port and its text-protocol shared
#     port reads keys the other two pods own;
#   - one container stopped: the others keep serving their own keys, its
#     keys get CLUSTERDOWN; restarted: it serves again (empty: a cache)
#     and the others reach it again.
#
# Uses the image deploy/docker/test.sh builds (builds it if missing).
# Skipped, with a message, where `docker info` fails. Everything it starts
# carries the label corekv-test=<pid> and is removed on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
START=$SECONDS

if ! docker info >/dev/null 2>&1; then
    echo "SKIPPED: deploy/docker/cluster.sh: \`docker info\` fails (no Docker Engine reachable): the three-container cluster was NOT tested"
    exit 0
fi

# shellcheck source=deploy/docker/lib.sh
source "$ROOT/deploy/docker/lib.sh"

TAG=corekv-test=$$
NET=corekv-cluster-$$
PASS=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')
# A /24 out of 172.30.0.0/16 that no other network on this machine uses.
OCTET=$((($$ % 200) + 20))
SUBNET=172.30.$OCTET.0/24
IPS=(172.30.$OCTET.10 172.30.$OCTET.11 172.30.$OCTET.12)
PEERS="${IPS[0]}:9889,${IPS[1]}:9889,${IPS[2]}:9889"

log() {
    printf '[cluster-test +%ds] %s\n' "$((SECONDS - START))" "$*"
}

cleanup() {
    local ids
    ids=$(docker ps -aq --filter "label=$TAG" 2>/dev/null || true)
    if [[ -n $ids ]]; then
        # shellcheck disable=SC2086
        docker rm -f $ids >/dev/null 2>&1 || true
    fi
    docker network rm "$NET" >/dev/null 2>&1 || true
}
trap cleanup EXIT

if ! docker image inspect "$COREKV_IMAGE" >/dev/null 2>&1; then
    log "image $COREKV_IMAGE missing: building it"
    corekv_base_images
    corekv_build_image -q >/dev/null
fi

docker network create --subnet "$SUBNET" --label "$TAG" "$NET" >/dev/null

start_pod() {
    local i=$1
    docker run -d --name "corekv-$i-$$" --label "$TAG" --network "$NET" --ip "${IPS[$i]}" \
        --cpus 1 -e COREKV_WORKERS=2 -e COREKV_MAXMEMORY=64mb \
        -e COREKV_CLUSTER_SIZE=3 -e COREKV_CLUSTER_INDEX="$i" -e COREKV_CLUSTER_PEERS="$PEERS" \
        -e COREKV_REQUIREPASS="$PASS" "$COREKV_IMAGE" >/dev/null
}

wait_ready() {
    local i=$1
    for _ in $(seq 1 100); do
        if REDISCLI_AUTH=$PASS redis-cli -h "${IPS[$i]}" -p 6379 PING 2>/dev/null | grep -q PONG; then
            return 0
        fi
        sleep 0.2
    done
    docker logs "corekv-$i-$$" >&2 || true
    echo "pod $i did not answer PING" >&2
    return 1
}

log "network $NET ($SUBNET); image $COREKV_IMAGE"
for i in 0 1 2; do start_pod "$i"; done
for i in 0 1 2; do wait_ready "$i"; done
log "three pods up: ${IPS[*]}"

# The checks themselves, with redis-py and redis-cli (timeouts on every call).
export PASS PEERS IP0=${IPS[0]} IP1=${IPS[1]} IP2=${IPS[2]}
timeout 300 python3 - <<'EOF'
import os, subprocess, time
import redis
from redis.cluster import RedisCluster

PASS = os.environ["PASS"]
IPS = [os.environ[f"IP{i}"] for i in range(3)]
passed = 0

def ok(what):
    global passed
    passed += 1
    print(f"  ok: {what}", flush=True)

def plain(i, port=6379):
    return redis.Redis(host=IPS[i], port=port, password=PASS, socket_timeout=10, protocol=2)

def cli(*args):
    env = dict(os.environ, REDISCLI_AUTH=PASS)
    out = subprocess.run(["redis-cli", *args], env=env, capture_output=True, text=True, timeout=30)
    return out.stdout.strip()

def workers(i):
    # redis-py parses `worker_0:keys=1,commands=2,…` into a dict per worker.
    info = plain(i).info("workers")
    return {k: v for k, v in info.items() if k.startswith("worker_")}

nodes = [plain(i).execute_command("CLUSTER", "NODES").decode() for i in range(3)]
assert all(len(n.strip().splitlines()) == 6 for n in nodes), nodes
strip = lambda n: sorted(l.replace("myself,", "") for l in n.strip().splitlines())
assert strip(nodes[0]) == strip(nodes[1]) == strip(nodes[2]), nodes
for ip in IPS:
    assert nodes[0].count(f" {ip}:9889@") == 1 and nodes[0].count(f" {ip}:9890@") == 1, nodes[0]
ok("every pod lists the same 6 nodes, two per container address")

before = [sum(int(w["forwarded_out"]) for w in workers(i).values()) for i in range(3)]
rc = RedisCluster(host=IPS[0], port=9889, password=PASS, socket_timeout=10)
assert len(rc.get_nodes()) == 6
for i in range(300):
    rc.set(f"user:{i}", i)
assert [int(rc.get(f"user:{i}")) for i in range(300)] == list(range(300))
owners = {}
for i in range(300):
    slot = rc.keyslot(f"user:{i}")
    owners[f"user:{i}"] = rc.nodes_manager.get_node_from_slot(slot).host
sizes = [plain(i).dbsize() for i in range(3)]
expected = [sum(1 for h in owners.values() if h == ip) for ip in IPS]
assert sizes == expected and min(sizes) > 50, (sizes, expected)
ok(f"RedisCluster: 300 keys, each on its owner pod (keys per pod {sizes})")
cli("-c", "-h", IPS[1], "-p", "9889", "SET", "cli:key", "hello")
assert cli("-c", "-h", IPS[2], "-p", "9890", "GET", "cli:key") == "hello"
ok("redis-cli -c follows the cluster")
after = [sum(int(w["forwarded_out"]) for w in workers(i).values()) for i in range(3)]
assert after == before, (before, after)
ok(f"no worker forwarded a command (forwarded_out {after})")

key2 = next(k for k, h in owners.items() if h == IPS[2])
key1 = next(k for k, h in owners.items() if h == IPS[1])
key0 = next(k for k, h in owners.items() if h == IPS[0])
moved = cli("-h", IPS[0], "-p", "9889", "GET", key2)
assert moved.startswith("MOVED ") and IPS[2] in moved, moved
ok(f"a core port of pod 0 redirects: {moved}")
cross = cli("-h", IPS[0], "-p", "6379", "MSET", key1, "a", key2, "b")
assert "CROSSSLOT" in cross, cross
assert cli("-h", IPS[0], "-p", "6379", "MSET", "{t}a", "1", "{t}b", "2") == "OK"
ok("MSET over two pods: CROSSSLOT; with a hash tag: OK")

r0 = plain(0)
assert int(r0.get(key1)) == int(key1.split(":")[1]) and int(r0.get(key2)) == int(key2.split(":")[1])
import socket
s = socket.create_connection((IPS[0], 9888), timeout=10)
s.sendall(f"AUTH {PASS}\nGET {key1}\nGET {key2}\n".encode())
buf = b""
while buf.count(b"\n") < 3:
    buf += s.recv(4096)
lines = buf.decode().splitlines()
assert '"Ok"' in lines[0] and key1.split(":")[1] in lines[1] and key2.split(":")[1] in lines[2], lines
ok("a plain client on pod 0 (RESP port, text shared port) reads keys of pods 1 and 2")
EOF
log "python checks passed; stopping pod 2"
docker stop -t 5 "corekv-2-$$" >/dev/null

# With pod 2 down, pods 0 and 1 serve their own keys; pod 2's fail.
timeout 120 python3 - <<'EOF'
import os, redis
PASS = os.environ["PASS"]
IPS = [os.environ[f"IP{i}"] for i in range(3)]
r0 = redis.Redis(host=IPS[0], port=6379, password=PASS, socket_timeout=15, protocol=2)
r1 = redis.Redis(host=IPS[1], port=9889, password=PASS, socket_timeout=15, protocol=2)
mine = [k.decode() for k in r0.keys("user:*")]
assert mine and all(r0.get(k) is not None for k in mine)
theirs = [k.decode() for k in redis.Redis(host=IPS[1], port=6379, password=PASS, protocol=2).keys("user:*")]
assert theirs and all(r0.get(k) is not None for k in theirs[:20])
gone = next(f"user:{i}" for i in range(300) if f"user:{i}" not in mine and f"user:{i}" not in theirs)
try:
    r0.get(gone)
    raise SystemExit("a key of the stopped pod was answered")
except redis.exceptions.ClusterDownError as e:
    # redis-py maps -CLUSTERDOWN to ClusterDownError (the prefix dropped).
    assert "pod 2 unreachable" in str(e), e
print(f"  ok: pod 2 stopped: pods 0 and 1 serve their {len(mine) + len(theirs)} keys; {gone} gets CLUSTERDOWN", flush=True)
EOF
log "restarting pod 2"
docker start "corekv-2-$$" >/dev/null
wait_ready 2
timeout 120 python3 - <<'EOF'
import os, time, redis
from redis.cluster import RedisCluster
PASS = os.environ["PASS"]
IPS = [os.environ[f"IP{i}"] for i in range(3)]
r2 = redis.Redis(host=IPS[2], port=6379, password=PASS, socket_timeout=10, protocol=2)
assert r2.dbsize() == 0, "a restarted pod starts empty"
r0 = redis.Redis(host=IPS[0], port=6379, password=PASS, socket_timeout=10, protocol=2)
rc = RedisCluster(host=IPS[1], port=9889, password=PASS, socket_timeout=10)
key = next(f"back:{i}" for i in range(1000) if rc.nodes_manager.get_node_from_slot(rc.keyslot(f"back:{i}")).host == IPS[2])
# The other pods' links reconnect on the next request.
deadline = time.time() + 30
while True:
    try:
        assert r0.set(key, "again")
        break
    except redis.exceptions.ClusterDownError:
        if time.time() > deadline:
            raise
        time.sleep(0.5)
assert r2.get(key) == b"again" and rc.get(key) == b"again"
print("  ok: pod 2 restarted: empty, and reached again through pod 0 and by RedisCluster", flush=True)
EOF
log "three-container cluster: all checks passed in $((SECONDS - START)) s"
