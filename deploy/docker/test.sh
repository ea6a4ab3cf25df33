#!/usr/bin/env bash
# The image, built and run for real (run by .ci/run; as root, like CI):
#
#   1. base images without a registry (deploy/docker/lib.sh): Debian
#      bookworm by debootstrap, and a Rust builder from it plus this
#      machine's toolchain; kept as local images, so only the first run
#      pays for them;
#   2. the project's Dockerfile built offline, as README's "Offline build"
#      says: `cargo vendor`, then `docker build --network none`;
#   3. the image run and checked: non-root, stripped binary, workers =
#      --cpus, healthy with a password set (corekv-ping authenticates), PING,
#      SET and GET on the RESP and shared ports through ports published on
#      127.0.0.1, redis-py RedisCluster through the published core ports
#      (COREKV_ANNOUNCE_HOST / COREKV_ANNOUNCE_PORT_BASE), two `--cpus 1`
#      containers that do not pin (and two `--cpuset-cpus` ones that pin to
#      their own cores), `docker stop` with a client attached (clean exit 0,
#      without waiting for the client), compose config (and up/down when
#      its fixed host ports are free).
#
# Skipped, with a message, where `docker info` fails. Everything it starts
# carries the label corekv-test=<pid> and is removed on exit. Needs python3
# with redis (redis-py) and redis-cli on the host.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
START=$SECONDS

if ! docker info >/dev/null 2>&1; then
    echo "SKIPPED: deploy/docker/test.sh: \`docker info\` fails (no Docker Engine reachable): the image was NOT built or tested"
    exit 0
fi

# shellcheck source=deploy/docker/lib.sh
source "$ROOT/deploy/docker/lib.sh"

TAG=corekv-test=$$
PASSED=0
FAILED=0

log() {
    printf '[docker-test +%ds] %s\n' "$((SECONDS - START))" "$*"
}

ok() {
    PASSED=$((PASSED + 1))
    printf '  ok: %s\n' "$*"
}

bad() {
    FAILED=$((FAILED + 1))
    printf '  FAIL: %s\n' "$*"
}

# expect DESCRIPTION COMMAND...: a check.
expect() {
    local what=$1
    shift
    if "$@"; then ok "$what"; else bad "$what"; fi
}

cleanup() {
    local ids
    ids=$(docker ps -aq --filter "label=$TAG" 2>/dev/null || true)
    if [[ -n $ids ]]; then
        # shellcheck disable=SC2086
        docker rm -f $ids >/dev/null 2>&1 || true
    fi
    if [[ -n ${COMPOSE_UP:-} ]]; then
        timeout 60 docker-compose -p "corekvtest$$" -f deploy/docker-compose.yml down -t 5 >/dev/null 2>&1 || true
    fi
    rm -f "${COMPOSE_ENV:-/nonexistent}"
}
trap cleanup EXIT

# run NAME DOCKER-RUN-ARGS...: starts a test container.
run() {
    local name=corekv-test-$$-$1
    shift
    timeout 60 docker run -d --name "$name" --label "$TAG" "$@" >/dev/null
    echo "$name"
}

# wait_log CONTAINER TEXT: waits (30 s at most) for TEXT in its log.
wait_log() {
    local i
    for ((i = 0; i < 300; i++)); do
        if docker logs "$1" 2>&1 | grep -qF -- "$2"; then return 0; fi
        sleep 0.1
    done
    echo "  no \"$2\" in the log of $1:" >&2
    docker logs "$1" 2>&1 | tail -n 20 >&2
    return 1
}

# host_port CONTAINER PORT: the 127.0.0.1 port docker published PORT on.
host_port() {
    docker port "$1" "$2/tcp" | sed -n 's/^127\.0\.0\.1:\([0-9]*\)$/\1/p' | head -n1
}

# free_ports N: the first of N consecutive free ports on 127.0.0.1.
free_ports() {
    python3 - "$1" <<'EOF'
import random, socket, sys
n = int(sys.argv[1])
for _ in range(200):
    base = random.randrange(20000, 60000 - n)
    socks = []
    try:
        for p in range(base, base + n):
            s = socket.socket()
            s.bind(("127.0.0.1", p))
            socks.append(s)
    except OSError:
        continue
    finally:
        for s in socks:
            s.close()
    print(base)
    break
else:
    sys.exit("no free port range")
EOF
}

# ---------------------------------------------------------------------------
log "1. base images"
T0=$SECONDS
corekv_base_images
BASE_SECS=$((SECONDS - T0))

log "2. offline image build"
T0=$SECONDS
build_log=$COREKV_DOCKER_WORK/build.log
if ! timeout 1500 bash -c "source deploy/docker/lib.sh && corekv_build_image" >"$build_log" 2>&1; then
    tail -n 40 "$build_log"
    echo "FAILED: the offline image build (log: $build_log)"
    exit 1
fi
BUILD_SECS=$((SECONDS - T0))
grep -E '^\[docker|^Successfully' "$build_log" || true
IMAGE_MB=$(($(docker image inspect -f '{{.Size}}' "$COREKV_IMAGE") / 1000000))
log "built $COREKV_IMAGE ($IMAGE_MB MB) in ${BUILD_SECS}s (base images: ${BASE_SECS}s)"
expect "corekv:latest is the same image" \
    test "$(docker image inspect -f '{{.Id}}' corekv:latest)" = "$(docker image inspect -f '{{.Id}}' "$COREKV_IMAGE")"

# ---------------------------------------------------------------------------
log "3. the binary"
bin=$COREKV_DOCKER_WORK/corekv.bin
cid=$(docker create --label "$TAG" "$COREKV_IMAGE")
docker cp "$cid:/usr/local/bin/corekv" "$bin" >/dev/null
docker rm "$cid" >/dev/null
BIN_KB=$(($(stat -c %s "$bin") / 1024))
# Stripped: no symbol table, no debug sections.
sections=$(readelf -S -W "$bin" | awk '{print $2}')
expect "binary stripped (${BIN_KB} KiB; no .symtab, no .debug_*)" \
    bash -c "! grep -qE '^(\\.symtab|\\.debug_)' <<<'$sections'"
expect "corekv --version in the image" \
    bash -c "timeout 30 docker run --rm --network none --label '$TAG' '$COREKV_IMAGE' --version | grep -q '^corekv $COREKV_VERSION'"

# ---------------------------------------------------------------------------
log "4. one container: --cpus 2, a password, published on 127.0.0.1"
PW=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
core=$(free_ports 2)
c=$(run main --cpus 2 --memory 1g -e COREKV_REQUIREPASS="$PW" -e COREKV_MAXMEMORY=700mb \
    -e COREKV_ANNOUNCE_HOST=127.0.0.1 -e COREKV_ANNOUNCE_PORT_BASE="$core" \
    -p 127.0.0.1::6379 -p 127.0.0.1::9888 \
    -p "127.0.0.1:$core:9889" -p "127.0.0.1:$((core + 1)):9890" "$COREKV_IMAGE")
expect "ready with 2 workers (= --cpus 2)" wait_log "$c" "corekv ready: 2 workers"
if (($(nproc) > 2)); then
    expect "--cpus 2 over $(nproc) CPUs: workers not pinned" \
        bash -c "docker logs $c 2>&1 | grep -q 'workers not pinned' && ! docker logs $c 2>&1 | grep -q 'pinned to core'"
else
    # A quota of every CPU the container may use: --pin auto pins.
    expect "--cpus 2 on a 2-CPU machine: workers pinned to cores 0 and 1" \
        bash -c "docker logs $c 2>&1 | grep -q 'worker 0: pinned to core 0' && docker logs $c 2>&1 | grep -q 'worker 1: pinned to core 1'"
fi
expect "runs as uid 10001, not root" test "$(docker exec "$c" id -u)" = 10001
resp=$(host_port "$c" 6379)
shared=$(host_port "$c" 9888)
healthy=
for ((i = 0; i < 300; i++)); do
    if [[ $(docker inspect -f '{{.State.Health.Status}}' "$c") == healthy ]]; then
        healthy=1
        break
    fi
    sleep 0.1
done
expect "healthy (the health check AUTHs with COREKV_REQUIREPASS)" test -n "$healthy"
expect "corekv-ping in the container: PONG" bash -c "docker exec $c corekv-ping | grep -qx PONG"
expect "corekv-ping with a wrong password fails" \
    bash -c "! docker exec -e COREKV_REQUIREPASS=wrong $c corekv-ping"
export REDISCLI_AUTH=$PW
expect "RESP port (published $resp): PING" test "$(redis-cli -p "$resp" PING)" = PONG
expect "RESP port: SET" test "$(redis-cli -p "$resp" SET greeting hello)" = OK
expect "RESP port: GET" test "$(redis-cli -p "$resp" GET greeting)" = hello
expect "shared port (published $shared), RESP: GET" test "$(redis-cli -p "$shared" GET greeting)" = hello
expect "shared port, text protocol: AUTH, PUT, GET" bash -c "
    exec 3<>/dev/tcp/127.0.0.1/$shared
    printf 'AUTH %s\nPUT t 1\nGET t\nQUIT\n' '$PW' >&3
    timeout 10 cat <&3 | tr -d '\r' | grep -qx '{\"status\": \"Ok\", \"result\": \"1\"}'"
unset REDISCLI_AUTH
expect "without the password: NOAUTH" bash -c "redis-cli -p $resp GET greeting 2>&1 | grep -q NOAUTH"
expect "redis-py RedisCluster through the published core ports $core-$((core + 1))" \
    timeout 60 python3 - "$core" "$PW" <<'EOF'
import sys
from redis.cluster import RedisCluster
port, pw = int(sys.argv[1]), sys.argv[2]
rc = RedisCluster(host="127.0.0.1", port=port, password=pw, socket_timeout=10)
nodes = sorted((n.host, n.port) for n in rc.get_nodes())
assert nodes == [("127.0.0.1", port), ("127.0.0.1", port + 1)], nodes
for i in range(200):
    rc.set(f"key:{i}", i)
assert [int(rc.get(f"key:{i}")) for i in range(200)] == list(range(200))
# Every node served keys of its own slots.
counts = [rc.execute_command("DBSIZE", target_nodes=n) for n in rc.get_nodes()]
assert all(c > 0 for c in counts), counts
rc.close()
EOF

# docker stop with a client attached: the server exits 0 on SIGTERM without
# waiting for the idle client (it would wait --shutdown-timeout, 10 s).
exec 4<>"/dev/tcp/127.0.0.1/$resp"
printf '*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n' "${#PW}" "$PW" >&4
read -r -t 10 -u 4 reply || true
T0=$(date +%s%N)
timeout 60 docker stop -t 30 "$c" >/dev/null
STOP_MS=$((($(date +%s%N) - T0) / 1000000))
exec 4>&-
code=$(docker inspect -f '{{.State.ExitCode}}' "$c")
expect "docker stop with a client attached: exit code 0 (clean), ${STOP_MS} ms" test "$code" = 0
expect "docker stop did not wait for the idle client (< 5 s)" test "$STOP_MS" -lt 5000

# ---------------------------------------------------------------------------
log "5. pinning: two --cpus 1 containers, two --cpuset-cpus containers"
a=$(run cpus-a --cpus 1 -e COREKV_REQUIREPASS="$PW" "$COREKV_IMAGE")
b=$(run cpus-b --cpus 1 -e COREKV_REQUIREPASS="$PW" "$COREKV_IMAGE")
for x in "$a" "$b"; do
    expect "${x##*-}: 1 worker (= --cpus 1)" wait_log "$x" "corekv ready: 1 worker,"
    expect "${x##*-}: --cpus 1 is a share of every CPU: not pinned" \
        bash -c "docker logs $x 2>&1 | grep -q 'worker 0: not pinned' && ! docker logs $x 2>&1 | grep -q 'pinned to core'"
done
docker rm -f "$a" "$b" >/dev/null
if (($(nproc) >= 2)); then
    a=$(run cpuset-0 --cpuset-cpus 0 -e COREKV_REQUIREPASS="$PW" "$COREKV_IMAGE")
    b=$(run cpuset-1 --cpuset-cpus 1 -e COREKV_REQUIREPASS="$PW" "$COREKV_IMAGE")
    expect "--cpuset-cpus 0 owns core 0: pinned to it" wait_log "$a" "worker 0: pinned to core 0"
    expect "--cpuset-cpus 1 owns core 1: pinned to it" wait_log "$b" "worker 0: pinned to core 1"
    docker rm -f "$a" "$b" >/dev/null
fi

# ---------------------------------------------------------------------------
log "6. compose"
COMPOSE_ENV=$ROOT/deploy/corekv.env
if [[ -e $COMPOSE_ENV ]]; then
    COMPOSE_ENV=
    log "deploy/corekv.env exists (yours): compose not tried"
elif ! command -v docker-compose >/dev/null 2>&1; then
    COMPOSE_ENV=
    log "no docker-compose: compose not tried"
else
    printf 'COREKV_REQUIREPASS=%s\n' "$PW" >"$COMPOSE_ENV"
    expect "compose config: image $COREKV_IMAGE" bash -c \
        "docker-compose -f deploy/docker-compose.yml config | grep -q 'image: $COREKV_IMAGE'"
    busy=$(python3 -c '
import socket
busy = []
for p in (6379, 9888, 9889, 9890):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        busy.append(str(p))
    finally:
        s.close()
print(" ".join(busy))')
    if [[ -n $busy ]]; then
        log "compose up not tried: its host ports $busy are in use here"
    else
        COMPOSE_UP=1
        expect "compose up" timeout 120 docker-compose -p "corekvtest$$" -f deploy/docker-compose.yml up -d --no-build
        expect "compose: PING on 127.0.0.1:6379" bash -c "
            for i in \$(seq 100); do
                [[ \$(REDISCLI_AUTH='$PW' redis-cli -p 6379 PING 2>/dev/null) == PONG ]] && exit 0
                sleep 0.1
            done; exit 1"
        expect "compose down" timeout 120 docker-compose -p "corekvtest$$" -f deploy/docker-compose.yml down -t 10
        COMPOSE_UP=
    fi
fi

log "image $COREKV_IMAGE: ${IMAGE_MB} MB, binary ${BIN_KB} KiB; build ${BUILD_SECS}s, base images ${BASE_SECS}s, docker stop ${STOP_MS} ms; whole step $((SECONDS - START))s"
echo "docker-test: $PASSED passed, $FAILED failed"
((FAILED == 0))
