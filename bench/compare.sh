#!/usr/bin/env bash
# Compares corekv with Redis (and memcached's memory use, when installed) on
# this machine, and writes docs/BENCHMARKS.md and its chart docs/benchmarks.svg
# (drawn by corekv-chart, bench/src/bin/corekv-chart.rs).
#
#   bench/compare.sh           full run: 3 rounds, 5 s measurements, memory at
#                              1M and 5M keys (about 10-12 minutes on 2 cores)
#   bench/compare.sh --quick   1 round, 2 s measurements, memory at 1M keys
#                              (about 2 minutes once built)
#
# Both servers run on loopback, pinned with `taskset -c 0,1` (corekv with
# --workers 2). Every load runs against each server in turn (corekv, Redis,
# corekv, Redis, ...), and the tables show the median over rounds and the
# corekv/Redis ratio. Needs root (or sudo) only to apt-get install
# redis-server/redis-tools, GNU time (and memcached) when they are missing.
# If bench/gaps.md exists, the report includes it after the targets table
# (hand-written: where the gaps to the targets come from).
#
# Environment:
#   COMPARE_ROUNDS=N      rounds (default 3, --quick 1)
#   COMPARE_OUT=FILE      report path (default docs/BENCHMARKS.md); the chart
#                         goes to benchmarks.svg in the same directory
#   COMPARE_GAPS=FILE     the targets' commentary (default bench/gaps.md)
#   COMPARE_NO_PIN=1      start corekv with --no-pin (workers not pinned)
#   COMPARE_MEMCACHED=0   do not install/measure memcached
set -euo pipefail
export LC_ALL=C

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

QUICK=0
for arg in "$@"; do
    case $arg in
        --quick) QUICK=1 ;;
        -h | --help)
            sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "usage: bench/compare.sh [--quick]" >&2
            exit 2
            ;;
    esac
done

if ((QUICK)); then
    ROUNDS=${COMPARE_ROUNDS:-1}
    WARMUP=0.5
    DURATION=2
    RATE_DURATION=3
    RB_N_P1=100000
    RB_N_P16=500000
    MEM_KEYS=(1000000)
else
    ROUNDS=${COMPARE_ROUNDS:-3}
    WARMUP=1
    DURATION=5
    RATE_DURATION=8
    RB_N_P1=250000
    RB_N_P16=1500000
    MEM_KEYS=(1000000 5000000)
fi
OUT=${COMPARE_OUT:-docs/BENCHMARKS.md}
KEYS=1000000
CPUS=0,1
START_SECONDS=$SECONDS

log() { printf '[%4ds] %s\n' "$((SECONDS - START_SECONDS))" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# ---------------------------------------------------------------- tools
SUDO=()
if [[ $(id -u) != 0 ]] && command -v sudo >/dev/null; then SUDO=(sudo); fi
APT_UPDATED=0
apt_install() {
    if ((!APT_UPDATED)); then
        DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get update -qq >&2
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "$@" >&2
}
if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null ||
    ! command -v redis-cli >/dev/null; then
    log "installing redis-server and redis-tools"
    apt_install redis-server redis-tools || die "cannot install Redis"
fi
# GNU time reports redis-benchmark's own CPU (user+sys) to a file.
GNU_TIME=/usr/bin/time
if [[ ! -x $GNU_TIME ]]; then
    log "installing GNU time"
    apt_install time || die "cannot install GNU time ($GNU_TIME)"
fi
if [[ ${COMPARE_MEMCACHED:-1} != 0 ]] && ! command -v memcached >/dev/null; then
    log "installing memcached (optional)"
    apt_install memcached || log "memcached not installed; its memory row is skipped"
fi
for tool in python3 taskset; do
    command -v $tool >/dev/null || die "$tool is required"
done
HAVE_MEMCACHED=0
if [[ ${COMPARE_MEMCACHED:-1} != 0 ]] && command -v memcached >/dev/null; then HAVE_MEMCACHED=1; fi

log "building corekv, corekv-bench and corekv-chart (release)"
cargo build --release -q -p corekv -p corekv-bench || die "build failed"
COREKV=$ROOT/target/release/corekv
BENCH=$ROOT/target/release/corekv-bench
CHART=$ROOT/target/release/corekv-chart

# ---------------------------------------------------------------- servers
WORK=$(mktemp -d "${TMPDIR:-/tmp}/corekv-compare.XXXXXX")
RESULTS=$WORK/results.jsonl
COMMANDS=$WORK/commands.txt
: >"$RESULTS"
: >"$COMMANDS"
SERVER_PIDS=()

cleanup() {
    local pid
    trap - EXIT
    for pid in "${SERVER_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${SERVER_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# N consecutive free loopback ports; prints the first.
free_ports() {
    python3 - "$1" <<'EOF'
import random, socket, sys
n = int(sys.argv[1])
for _ in range(1000):
    base = random.randint(20000, 60000 - n)
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
    sys.exit("no free ports")
EOF
}

wait_ready() { # port
    local i
    for ((i = 0; i < 100; i++)); do
        if redis-cli -h 127.0.0.1 -p "$1" PING 2>/dev/null | grep -q PONG; then return 0; fi
        sleep 0.1
    done
    die "server on port $1 did not start"
}

stop_server() { # pid
    local pid keep=()
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    for pid in "${SERVER_PIDS[@]}"; do
        if [[ $pid != "$1" ]]; then keep+=("$pid"); fi
    done
    SERVER_PIDS=("${keep[@]}")
}

# Starts corekv with WORKERS workers (default 2, one per core); sets
# CK_PID, CK_PORT (shared port).
start_corekv() {
    local workers=${1:-2} base pin=()
    base=$(free_ports $((workers + 1)))
    CK_PORT=$base
    if [[ ${COMPARE_NO_PIN:-0} == 1 ]]; then pin=(--no-pin); fi
    note_cmd "taskset -c $CPUS target/release/corekv --bind 127.0.0.1 --port <port> --core-port-base <port+1> --workers $workers ${pin[*]} --log warn"
    taskset -c $CPUS "$COREKV" --bind 127.0.0.1 --port "$base" --core-port-base $((base + 1)) \
        --workers "$workers" "${pin[@]}" --log warn >>"$WORK/corekv.log" 2>&1 &
    CK_PID=$!
    SERVER_PIDS+=("$CK_PID")
    wait_ready "$CK_PORT"
}

# Starts Redis; sets RD_PID, RD_PORT.
start_redis() {
    RD_PORT=$(free_ports 1)
    note_cmd "taskset -c $CPUS redis-server --port <port> --bind 127.0.0.1 --save '' --appendonly no --protected-mode no --daemonize no"
    taskset -c $CPUS redis-server --port "$RD_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --protected-mode no --daemonize no --logfile "$WORK/redis.log" &
    RD_PID=$!
    SERVER_PIDS+=("$RD_PID")
    wait_ready "$RD_PORT"
}

# Starts memcached; sets MC_PID, MC_PORT.
start_memcached() {
    MC_PORT=$(free_ports 1)
    note_cmd "taskset -c $CPUS memcached -l 127.0.0.1 -p <port> -U 0 -t 2 -m 16384 -c 4096"
    taskset -c $CPUS memcached -l 127.0.0.1 -p "$MC_PORT" -U 0 -t 2 -m 16384 -c 4096 \
        -u "$(id -un)" >>"$WORK/memcached.log" 2>&1 &
    MC_PID=$!
    SERVER_PIDS+=("$MC_PID")
    local i
    for ((i = 0; i < 100; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$MC_PORT") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    die "memcached did not start"
}

cpu_ticks() { cut -d')' -f2- "/proc/$1/stat" | awk '{print $12 + $13}'; }
# Context switches (voluntary and involuntary) of all the process's threads.
ctx_switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches:/ {n += $2} END {print n + 0}'; }
rss_bytes() { awk '/^VmRSS:/ {print $2 * 1024}' "/proc/$1/status"; }
CLK_TCK=$(getconf CLK_TCK)

# Records the command line (with this run's ports) once per distinct shape.
note_cmd() {
    local line
    line=$(sed -E 's/--port [0-9]+/--port <port>/g; s/--rate [0-9]+/--rate <rate>/g' <<<"$*")
    grep -qxF -- "$line" "$COMMANDS" || printf '%s\n' "$line" >>"$COMMANDS"
}

# cb SECTION ROW SERVER PID ARGS...: one corekv-bench run, JSON recorded.
cb() {
    local section=$1 row=$2 server=$3 pid=$4 out
    shift 4
    note_cmd "corekv-bench $* --json --quiet --server-pid <pid>"
    out=$(timeout 300 "$BENCH" "$@" --json --quiet --server-pid "$pid") ||
        die "corekv-bench failed: $*"
    printf '{"kind": "bench", "section": "%s", "row": "%s", "server": "%s", "report": %s}\n' \
        "$section" "$row" "$server" "$out" >>"$RESULTS"
    python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print("%.0f ops/s, p99 %.0f us, errors %d" % (r["ops_per_sec"], r["latency_us"]["p99"], r["errors"]))' "$out" |
        while read -r line; do log "  $row [$server]: $line"; done
}

# rb SECTION ROW SERVER PID PORT N ARGS...: one redis-benchmark run (GET and
# SET), its CSV recorded with the server CPU over the whole run and
# redis-benchmark's own CPU (user+sys, GNU time), also over the whole run.
# RB_TAIL (an array, empty by default): a command for redis-benchmark to
# run instead of its tests, after every option.
RB_TAIL=()
rb() {
    local section=$1 row=$2 server=$3 pid=$4 port=$5 n=$6 csv t0 t1 c0 c1
    shift 6
    note_cmd "$GNU_TIME -f '%U %S' -o <file> redis-benchmark -h 127.0.0.1 -p <port> $* -n $n --csv ${RB_TAIL[*]}"
    t0=$(cpu_ticks "$pid")
    c0=$(ctx_switches "$pid")
    csv=$(timeout 600 "$GNU_TIME" -f '%U %S' -o "$WORK/rb-time" \
        redis-benchmark -h 127.0.0.1 -p "$port" "$@" -n "$n" --csv "${RB_TAIL[@]}" 2>/dev/null) ||
        die "redis-benchmark failed: $* ${RB_TAIL[*]}"
    t1=$(cpu_ticks "$pid")
    c1=$(ctx_switches "$pid")
    python3 - "$section" "$row" "$server" "$n" "$t0" "$t1" "$CLK_TCK" "$csv" "$(tail -n 1 "$WORK/rb-time")" \
        "$((c1 - c0))" <<'EOF' >>"$RESULTS"
import csv, io, json, sys
section, row, server, n, t0, t1, hz, text, client, switches = sys.argv[1:]
rows = [r for r in csv.reader(io.StringIO(text)) if r and r[0] != "test"]
cpu = (int(float(t1)) - int(float(t0))) / int(hz)
client_cpu = sum(float(x) for x in client.split())
ops_total = int(n) * len(rows)
for r in rows:
    test = r[0]
    rec = {
        "kind": "rb", "section": section, "row": f"{row} {test}", "server": server,
        "ops_per_sec": float(r[1]),
        "p50_us": float(r[4]) * 1000 if len(r) > 4 else None,
        "p99_us": float(r[6]) * 1000 if len(r) > 6 else None,
        "cpu_mop": cpu * 1e6 / ops_total if ops_total else None,
        # The server's context switches per operation, over both tests.
        "ctxsw_per_op": int(switches) / ops_total if ops_total else None,
        # redis-benchmark's own CPU, over all its tests (like cpu_mop).
        "client_cpu_secs": client_cpu,
        "client_cpu_us_per_op": client_cpu * 1e6 / ops_total if ops_total else None,
    }
    print(json.dumps(rec))
    print(f"  {row} {test} [{server}]: {float(r[1]):.0f} ops/s", file=sys.stderr)
EOF
}

# ---------------------------------------------------------------- machine
{
    echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "nproc:   $(nproc)"
    lscpu | grep -E '^(Model name|CPU\(s\)|Thread\(s\) per core|Core\(s\) per socket|Hypervisor vendor|L2 cache|L3 cache):' |
        sed 's/  */ /g'
    echo "memory:  $(free -h | awk '/^Mem:/ {print $2}')"
    echo "kernel:  $(uname -srmo)"
    echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15-min load average before the run)"
    echo "redis:   $(redis-server --version)"
    if ((HAVE_MEMCACHED)); then echo "memcached: $(memcached -V)"; fi
    echo "corekv:  $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
    echo "rustc:   $(rustc --version)"
} >"$WORK/machine.txt"
LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)
# The CPU time counters (user nice system idle iowait irq softirq steal),
# for the share of the run's CPU time a hypervisor gave to other guests.
CPU_BEFORE=$(head -1 /proc/stat)

# ---------------------------------------------------------------- 4. memory
# Fresh servers: RSS before and after loading N keys (16-byte keys, 32-byte values).
measure_memory() { # server keys
    local server=$1 keys=$2 pid port proto before after
    case $server in
        corekv) start_corekv && pid=$CK_PID port=$CK_PORT proto=text ;;
        redis) start_redis && pid=$RD_PID port=$RD_PORT proto=resp ;;
        memcached) start_memcached && pid=$MC_PID port=$MC_PORT proto=memcache ;;
    esac
    sleep 0.5
    before=$(rss_bytes "$pid")
    note_cmd "corekv-bench --protocol $proto --port <port> --load --keyspace $keys --value-size 32 --pipeline 64 --connections 50"
    timeout 300 "$BENCH" --protocol "$proto" --port "$port" --load --keyspace "$keys" --value-size 32 \
        --pipeline 64 --connections 50 --quiet --json >"$WORK/load.json" || die "loading $server failed"
    sleep 1
    after=$(rss_bytes "$pid")
    stop_server "$pid"
    printf '{"kind": "mem", "section": "4", "row": "%s keys", "server": "%s", "keys": %s, "rss_before": %s, "rss_after": %s, "load": %s}\n' \
        "$keys" "$server" "$keys" "$before" "$after" "$(cat "$WORK/load.json")" >>"$RESULTS"
    log "  memory $keys keys [$server]: $(((after - before) / keys)) bytes/key"
}

log "memory: ${MEM_KEYS[*]} keys"
MEM_SERVERS=(corekv redis)
if ((HAVE_MEMCACHED)); then MEM_SERVERS+=(memcached); fi
for keys in "${MEM_KEYS[@]}"; do
    for server in "${MEM_SERVERS[@]}"; do
        measure_memory "$server" "$keys"
    done
done

# ---------------------------------------------------------------- 7m. hash memory
# Fresh servers: INFO used_memory (and RSS) before and after loading one
# hash of HASH_FIELDS fields, or SMALL_HASHES hashes of 10 fields each,
# through `redis-cli --pipe` (HSET of 1000 fields a command for the big
# hash, one HSET per small hash).
HASH_FIELDS=1000000
SMALL_HASHES=1000000
used_memory() { redis-cli -h 127.0.0.1 -p "$1" INFO memory | awk -F: '/^used_memory:/ {print $2 + 0}'; }
hash_load() { # shape [key]: HSET commands (RESP) on stdout
    python3 - "$1" "$HASH_FIELDS" "$SMALL_HASHES" "${2:-bighash}" <<'EOF'
import sys
shape, fields, hashes, key = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].encode()
out = sys.stdout.buffer
def cmd(args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(parts)
if shape == "big":
    # redis-benchmark's field names (element:%012d), 32-byte values.
    for start in range(0, fields, 1000):
        args = [b"HSET", key]
        for i in range(start, min(start + 1000, fields)):
            args += [b"element:%012d" % i, b"v:%030d" % i]
        out.write(cmd(args))
elif shape == "zset":
    # One sorted set: redis-benchmark's member names, scores spread out.
    for start in range(0, fields, 1000):
        args = [b"ZADD", key]
        for i in range(start, min(start + 1000, fields)):
            args += [b"%d" % ((i * 2654435761) % 1000003), b"element:%012d" % i]
        out.write(cmd(args))
else:
    # An object of 10 fields: 7-byte names, 16-byte values.
    names = [b"field:%d" % f for f in range(10)]
    buf = []
    for h in range(hashes):
        args = [b"HSET", b"object:%012d" % h]
        for f in range(10):
            args += [names[f], b"v:%014d" % (h * 10 + f)]
        buf.append(cmd(args))
        if len(buf) == 1000:
            out.write(b"".join(buf))
            buf = []
    out.write(b"".join(buf))
EOF
}
# pipe_load PORT SHAPE [KEY]: hash_load into a server, failing on any error.
pipe_load() {
    local loaded
    loaded=$(hash_load "$2" "${3:-bighash}" | timeout 600 redis-cli -h 127.0.0.1 -p "$1" --pipe 2>&1) ||
        die "loading hashes ($2) on port $1 failed: $loaded"
    grep -q 'errors: 0,' <<<"$loaded" || die "loading hashes ($2) on port $1: $loaded"
}
measure_hash_memory() { # server shape
    local server=$1 shape=$2 pid port before after rss_before rss_after fields
    case $server in
        corekv) start_corekv && pid=$CK_PID port=$CK_PORT ;;
        redis) start_redis && pid=$RD_PID port=$RD_PORT ;;
    esac
    sleep 0.5
    before=$(used_memory "$port")
    rss_before=$(rss_bytes "$pid")
    note_cmd "python3 (HSET commands, $shape) | redis-cli -h 127.0.0.1 -p <port> --pipe"
    pipe_load "$port" "$shape"
    sleep 1
    after=$(used_memory "$port")
    rss_after=$(rss_bytes "$pid")
    stop_server "$pid"
    fields=$HASH_FIELDS
    if [[ $shape == small ]]; then fields=$((SMALL_HASHES * 10)); fi
    printf '{"kind": "hmem", "section": "7m", "row": "%s", "server": "%s", "fields": %s, "used_before": %s, "used_after": %s, "rss_before": %s, "rss_after": %s}\n' \
        "$shape" "$server" "$fields" "$before" "$after" "$rss_before" "$rss_after" >>"$RESULTS"
    log "  hash memory ($shape) [$server]: $(((after - before) / fields)) bytes/field used_memory, $(((rss_after - rss_before) / fields)) RSS"
}
log "hash memory: one hash of $HASH_FIELDS fields; $SMALL_HASHES hashes of 10 fields; one sorted set of $HASH_FIELDS members"
for shape in big small zset; do
    for server in corekv redis; do
        measure_hash_memory "$server" "$shape"
    done
done

# ---------------------------------------------------------------- rounds
# corekv with one worker too: the same per-request path without the hop
# between workers (section 1b), to tell the two costs apart.
start_corekv 1
CK1_PID=$CK_PID CK1_PORT=$CK_PORT
start_corekv
start_redis
log "corekv on port $CK_PORT (pid $CK_PID), Redis on port $RD_PORT (pid $RD_PID), corekv --workers 1 on port $CK1_PORT"
log "preloading $KEYS keys into each"
"$BENCH" --port "$CK_PORT" --load --keyspace $KEYS --pipeline 64 --quiet >/dev/null || die "preload corekv"
"$BENCH" --port "$CK1_PORT" --load --keyspace $KEYS --pipeline 64 --quiet >/dev/null || die "preload corekv --workers 1"
"$BENCH" --protocol resp --port "$RD_PORT" --load --keyspace $KEYS --pipeline 64 --quiet >/dev/null || die "preload redis"

# myhash, the hash redis-benchmark's HSET test writes, filled with the
# fields its HGET below reads (element:%012d, 0 to HASH_FIELDS - 1).
log "filling myhash with $HASH_FIELDS fields in each"
pipe_load "$CK_PORT" big myhash
pipe_load "$CK1_PORT" big myhash
pipe_load "$RD_PORT" big myhash
RB_HASH=(-d 32 -r "$HASH_FIELDS" -c 50 -P 16)

COMMON=(--keyspace "$KEYS" --value-size 32 --connections 50 --warmup "$WARMUP" --duration "$DURATION")
RB_COMMON=(-t "set,get" -d 32 -r "$KEYS" -c 50)

for ((round = 1; round <= ROUNDS; round++)); do
    log "round $round/$ROUNDS"
    # 1. redis-benchmark, the same command against both.
    for p in 1 16; do
        n=$RB_N_P1
        if ((p == 16)); then n=$RB_N_P16; fi
        rb 1 "redis-benchmark -P $p" corekv "$CK_PID" "$CK_PORT" "$n" "${RB_COMMON[@]}" -P $p
        rb 1 "redis-benchmark -P $p" redis "$RD_PID" "$RD_PORT" "$n" "${RB_COMMON[@]}" -P $p
        rb 1b "redis-benchmark -P $p" corekv "$CK1_PID" "$CK1_PORT" "$n" "${RB_COMMON[@]}" -P $p
    done
    # 7. Hashes: redis-benchmark's HSET test (one hash, myhash, random
    # fields of HASH_FIELDS) and HGET of the filled myhash, P=16; section
    # 7b: the same against corekv --workers 1 (no hop between workers).
    for server in corekv redis corekv1; do
        sec=7
        case $server in
            corekv) pid=$CK_PID port=$CK_PORT ;;
            redis) pid=$RD_PID port=$RD_PORT ;;
            corekv1) pid=$CK1_PID port=$CK1_PORT sec=7b server=corekv ;;
        esac
        rb $sec "redis-benchmark -P 16" $server "$pid" "$port" "$RB_N_P16" "${RB_HASH[@]}" -t hset
        RB_TAIL=(hget myhash 'element:__rand_int__')
        rb $sec "redis-benchmark -P 16" $server "$pid" "$port" "$RB_N_P16" "${RB_HASH[@]}"
        RB_TAIL=()
        # Sets and lists: redis-benchmark's SADD (myset, random members),
        # SISMEMBER of the same members, LPUSH then LPOP (mylist).
        rb $sec "redis-benchmark -P 16" $server "$pid" "$port" "$RB_N_P16" "${RB_HASH[@]}" -t sadd,lpush,lpop
        RB_TAIL=(sismember myset 'element:__rand_int__')
        rb $sec "redis-benchmark -P 16" $server "$pid" "$port" "$RB_N_P16" "${RB_HASH[@]}"
        RB_TAIL=()
        # Sorted sets: redis-benchmark's ZADD (myzset, random scores and
        # members), then ZRANGE of 10 members from a random score.
        rb $sec "redis-benchmark -P 16" $server "$pid" "$port" "$RB_N_P16" "${RB_HASH[@]}" -t zadd
        RB_TAIL=(zrange myzset '__rand_int__' +inf BYSCORE LIMIT 0 10)
        rb $sec "redis-benchmark -P 16" $server "$pid" "$port" "$RB_N_P16" "${RB_HASH[@]}"
        RB_TAIL=()
    done
    # 2. corekv-bench over RESP, the same load against both.
    for p in 1 16; do
        cb 2 "RESP get:set 1:1, P=$p" corekv "$CK_PID" --protocol resp --port "$CK_PORT" "${COMMON[@]}" --pipeline $p
        cb 2 "RESP get:set 1:1, P=$p" redis "$RD_PID" --protocol resp --port "$RD_PORT" "${COMMON[@]}" --pipeline $p
    done
    # 2b. 4-command MULTI/EXEC transactions over RESP (corekv: keys on one
    # partition, or spread over both).
    for cross in 0 1; do
        cb 2 "RESP MULTI/EXEC 4 SETs, $((cross * 100))% cross-partition" corekv "$CK_PID" --protocol resp --port "$CK_PORT" "${COMMON[@]}" --txn-size 4 --cross-fraction $cross
        cb 2 "RESP MULTI/EXEC 4 SETs, $((cross * 100))% cross-partition" redis "$RD_PID" --protocol resp --port "$RD_PORT" "${COMMON[@]}" --txn-size 4 --cross-fraction $cross
    done
    # 3. corekv's text protocol: shared port vs smart routing (batches split
    # per owner, or pinned clients); transactions.
    for p in 1 16; do
        for routing in shared smart pinned; do
            cb 3 "text get:put 1:1, P=$p, $routing" corekv "$CK_PID" --protocol text --routing $routing --port "$CK_PORT" "${COMMON[@]}" --pipeline $p
        done
    done
    for cross in 0 1; do
        cb 3 "text START, 4 PUTs, COMMIT, $((cross * 100))% cross-partition, smart" corekv "$CK_PID" --protocol text --routing smart --port "$CK_PORT" "${COMMON[@]}" --txn-size 4 --cross-fraction $cross
    done
done

# ---------------------------------------------------------------- 5. latency at a fixed rate
REDIS_PEAK=$(python3 - "$RESULTS" <<'EOF'
import json, statistics, sys
v = [json.loads(l) for l in open(sys.argv[1])]
xs = [r["report"]["ops_per_sec"] for r in v
      if r["kind"] == "bench" and r["server"] == "redis" and r["row"] == "RESP get:set 1:1, P=1"]
print(int(statistics.median(xs)))
EOF
)
RATE=$((REDIS_PEAK / 2))
log "latency at $RATE ops/s (50% of Redis's measured RESP P=1 peak, $REDIS_PEAK ops/s)"
RATE_COMMON=(--keyspace "$KEYS" --value-size 32 --connections 50 --warmup "$WARMUP" --duration "$RATE_DURATION" --rate "$RATE")
for ((round = 1; round <= ROUNDS; round++)); do
    cb 5 "RESP get:set 1:1 at $RATE ops/s" corekv "$CK_PID" --protocol resp --port "$CK_PORT" "${RATE_COMMON[@]}"
    cb 5 "RESP get:set 1:1 at $RATE ops/s" redis "$RD_PID" --protocol resp --port "$RD_PORT" "${RATE_COMMON[@]}"
    cb 5 "text get:put 1:1 at $RATE ops/s, smart" corekv "$CK_PID" --protocol text --routing smart --port "$CK_PORT" "${RATE_COMMON[@]}"
done
LOAD_AFTER=$(cut -d' ' -f1 /proc/loadavg)
STEAL_PCT=$(printf '%s\n%s\n' "$CPU_BEFORE" "$(head -1 /proc/stat)" | awk '
    { for (i = 2; i <= 9; i++) v[NR, i] = $i }
    END { t = 0; for (i = 2; i <= 9; i++) t += v[2, i] - v[1, i]
          printf "%.1f", (t > 0 ? 100 * (v[2, 9] - v[1, 9]) / t : 0) }')

stop_server "$CK_PID"
stop_server "$CK1_PID"
stop_server "$RD_PID"

# ---------------------------------------------------------------- report
ELAPSED=$((SECONDS - START_SECONDS))
SVG_OUT=$(dirname "$OUT")/benchmarks.svg
python3 - "$RESULTS" "$WORK/machine.txt" "$COMMANDS" "$OUT" "$QUICK" "$ROUNDS" "$WARMUP" "$DURATION" \
    "$RATE_DURATION" "$RATE" "$REDIS_PEAK" "$ELAPSED" "$LOAD_BEFORE" "$LOAD_AFTER" "$STEAL_PCT" "${COMPARE_NO_PIN:-0}" \
    "${COMPARE_GAPS:-$ROOT/bench/gaps.md}" "$WORK/chart.json" "$CHART" "$SVG_OUT" <<'EOF'
import json, os, statistics, subprocess, sys

(results, machine, commands, out, quick, rounds, warmup, duration, rate_duration,
 rate, redis_peak, elapsed, load_before, load_after, steal_pct, no_pin, gaps, chart_json, chart_bin,
 svg_out) = sys.argv[1:]
quick = quick == "1"
recs = [json.loads(l) for l in open(results)]

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None

def rows_of(section):
    seen = []
    for r in recs:
        if r["section"] == section and r["row"] not in seen:
            seen.append(r["row"])
    return seen

def pick(section, row, server):
    return [r for r in recs if r["section"] == section and r["row"] == row and r["server"] == server]

def metric(r, name):
    if r["kind"] == "rb":
        return {"ops": r["ops_per_sec"], "p50": r["p50_us"], "p99": r["p99_us"],
                "p999": None, "cpu": r["cpu_mop"], "ccpu": r.get("client_cpu_us_per_op"),
                "cs": r.get("ctxsw_per_op"), "errors": 0}[name]
    rep = r["report"]
    return {"ops": rep["ops_per_sec"], "p50": rep["latency_us"]["p50"],
            "p99": rep["latency_us"]["p99"], "p999": rep["latency_us"]["p99_9"],
            "cpu": rep["server_cpu_secs_per_mop"], "ccpu": rep["client_cpu_us_per_op"],
            "cs": None, "errors": rep["errors"]}[name]

def m(section, row, server, name):
    return med([metric(r, name) for r in pick(section, row, server)])

def f0(x):
    return "–" if x is None else f"{x:,.0f}"

def f1(x):
    return "–" if x is None else f"{x:,.1f}"

def f2(x):
    return "–" if x is None else f"{x:,.2f}"

def fus(x):
    return f1(x) if x is not None and x < 100 else f0(x)

def div(a, b):
    return None if a is None or b in (None, 0) else a / b

def ratio(a, b):
    q = div(a, b)
    return "–" if q is None else f"{q:.2f}"

def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)

errors = sum(metric(r, "errors") or 0 for r in recs if r["kind"] in ("bench", "rb"))

vs_header = ["load", "corekv ops/s", "Redis ops/s", "corekv/Redis",
             "p50 µs corekv / Redis", "p99 µs corekv / Redis",
             "server CPU s/M ops corekv / Redis", "load generator CPU µs/op vs corekv / Redis"]
def vs_rows(section):
    rows = []
    for row in rows_of(section):
        a, b = m(section, row, "corekv", "ops"), m(section, row, "redis", "ops")
        rows.append([row, f0(a), f0(b), ratio(a, b),
                     f"{f0(m(section, row, 'corekv', 'p50'))} / {f0(m(section, row, 'redis', 'p50'))}",
                     f"{f0(m(section, row, 'corekv', 'p99'))} / {f0(m(section, row, 'redis', 'p99'))}",
                     f"{f1(m(section, row, 'corekv', 'cpu'))} / {f1(m(section, row, 'redis', 'cpu'))}",
                     f"{f2(m(section, row, 'corekv', 'ccpu'))} / {f2(m(section, row, 'redis', 'ccpu'))}"])
    return rows

t1 = table(vs_header + ["server context switches/op corekv / Redis"],
           [r + [f"{f2(m('1', r[0], 'corekv', 'cs'))} / {f2(m('1', r[0], 'redis', 'cs'))}"]
            for r in vs_rows("1")])

# 1b. corekv with one worker (no forwarding) vs the same Redis runs.
rows1b = []
for row in rows_of("1b"):
    a, b = m("1b", row, "corekv", "ops"), m("1", row, "redis", "ops")
    rows1b.append([row, f0(a), f0(b), ratio(a, b),
                   f"{f1(m('1b', row, 'corekv', 'cpu'))} / {f1(m('1', row, 'redis', 'cpu'))}",
                   f"{f2(m('1b', row, 'corekv', 'cs'))} / {f2(m('1', row, 'redis', 'cs'))}",
                   ratio(m("1", row, "corekv", "ops"), a)])
t1b = table(["load", "corekv --workers 1 ops/s", "Redis ops/s", "corekv 1 worker/Redis",
             "server CPU s/M ops corekv 1 worker / Redis",
             "server context switches/op corekv 1 worker / Redis",
             "corekv 2 workers / 1 worker"], rows1b)
t2 = table(vs_header, vs_rows("2"))

rows3 = []
base = {}
for row in rows_of("3"):
    ops = m("3", row, "corekv", "ops")
    key = row.rsplit(", ", 1)[0]
    rel = "–"
    if row.endswith(", shared"):
        base[key] = ops
    elif row.endswith((", smart", ", pinned")) and key in base:
        rel = ratio(ops, base[key])
    rows3.append([row, f0(ops), rel, f0(m("3", row, "corekv", "p50")),
                  f0(m("3", row, "corekv", "p99")), f1(m("3", row, "corekv", "cpu")),
                  f2(m("3", row, "corekv", "ccpu"))])
t3 = table(["load (corekv only)", "ops/s", "vs shared", "p50 µs", "p99 µs",
            "server CPU s/M ops", "load generator CPU µs/op"], rows3)

rows4 = []
mem_per_key = {}  # row -> corekv bytes/key
for row in rows_of("4"):
    cells = [row]
    per = {}
    for server in ("corekv", "redis", "memcached"):
        rs = pick("4", row, server)
        if rs:
            r = rs[0]
            per[server] = (r["rss_after"] - r["rss_before"]) / r["keys"]
            cells.append(f"{per[server]:.1f} ({r['rss_after'] / 2**20:,.0f} MiB RSS)")
        else:
            cells.append("not measured")
    cells.append(ratio(per.get("corekv"), per.get("redis")))
    mem_per_key[row] = per.get("corekv")
    rows4.append(cells)
t4 = table(["keys loaded", "corekv bytes/key", "Redis bytes/key", "memcached bytes/key",
            "corekv/Redis"], rows4)

rows5 = []
for row in rows_of("5"):
    for server, name in (("corekv", "corekv"), ("redis", "Redis")):
        if not pick("5", row, server):
            continue
        rows5.append([row, name, f0(m("5", row, server, "ops")), f1(m("5", row, server, "p50")),
                      f1(m("5", row, server, "p99")), f1(m("5", row, server, "p999")),
                      f1(m("5", row, server, "cpu"))])
t5 = table(["load", "server", "achieved ops/s", "p50 µs", "p99 µs", "p99.9 µs",
            "server CPU s/M ops"], rows5)

# 7. Hashes: throughput (redis-benchmark, P=16) and memory per field.
def hash_label(row):
    return (row.replace("hget myhash element:__rand_int__", "HGET (myhash filled)")
               .replace("sismember myset element:__rand_int__", "SISMEMBER (myset)")
               .replace("zrange myzset __rand_int__ +inf BYSCORE LIMIT 0 10",
                        "ZRANGE BYSCORE LIMIT 0 10 (myzset)"))

t7 = table(vs_header + ["server context switches/op corekv / Redis"],
           [[hash_label(r[0])] + r[1:] +
            [f"{f2(m('7', r[0], 'corekv', 'cs'))} / {f2(m('7', r[0], 'redis', 'cs'))}"]
            for r in vs_rows("7")])
# 7b. The same loads against corekv with one worker, vs the same Redis runs.
rows7b = []
for row in rows_of("7b"):
    a, b = m("7b", row, "corekv", "ops"), m("7", row, "redis", "ops")
    rows7b.append([hash_label(row), f0(a), f0(b), ratio(a, b),
                   f"{f1(m('7b', row, 'corekv', 'cpu'))} / {f1(m('7', row, 'redis', 'cpu'))}",
                   ratio(m("7", row, "corekv", "ops"), a)])
t7b = table(["load", "corekv --workers 1 ops/s", "Redis ops/s", "corekv 1 worker/Redis",
             "server CPU s/M ops corekv 1 worker / Redis", "corekv 2 workers / 1 worker"], rows7b)
hash_shapes = {"big": "one hash of 1,000,000 fields",
               "small": "1,000,000 hashes of 10 fields",
               "zset": "one sorted set of 1,000,000 members"}
rows7m = []
hash_mem = {}  # shape -> (corekv, redis) used_memory bytes per field
for row in rows_of("7m"):
    per, rss = {}, {}
    for server in ("corekv", "redis"):
        rs = pick("7m", row, server)
        if rs:
            r = rs[0]
            per[server] = (r["used_after"] - r["used_before"]) / r["fields"]
            rss[server] = (r["rss_after"] - r["rss_before"]) / r["fields"]
    hash_mem[row] = (per.get("corekv"), per.get("redis"))
    rows7m.append([hash_shapes.get(row, row), f1(per.get("corekv")), f1(per.get("redis")),
                   ratio(per.get("corekv"), per.get("redis")),
                   f"{f1(rss.get('corekv'))} / {f1(rss.get('redis'))}",
                   ratio(rss.get("corekv"), rss.get("redis"))])
t7m = table(["loaded", "corekv bytes/field (used_memory)", "Redis bytes/field (used_memory)",
             "corekv/Redis", "RSS bytes/field corekv / Redis", "corekv/Redis (RSS)"], rows7m)

# 6. The load generators' own CPU: redis-benchmark (section 1, over its SET
# and GET tests) vs corekv-bench (section 2, get:set 1:1), same settings.
def rb_ccpu(p, server):
    return med([metric(r, "ccpu") for test in ("SET", "GET")
                for r in pick("1", f"redis-benchmark -P {p} {test}", server)])

def cb_ccpu(p, server):
    return m("2", f"RESP get:set 1:1, P={p}", server, "ccpu")

rows6 = []
for server, name in (("redis", "Redis"), ("corekv", "corekv")):
    for p in (1, 16):
        a, b = rb_ccpu(p, server), cb_ccpu(p, server)
        rows6.append([f"{name}, 50 connections, pipeline {p}", f2(a), f2(b), ratio(b, a)])
t6 = table(["server, settings", "redis-benchmark µs/op (SET and GET tests)",
            "corekv-bench µs/op (RESP get:set 1:1)", "corekv-bench/redis-benchmark"], rows6)

# ---- targets
def judge(x, goal, higher, gap_fmt):
    if x is None:
        return "not measured"
    if (x >= goal) if higher else (x <= goal):
        return "met"
    gap = gap_fmt(goal - x if higher else x - goal)
    need = f", {goal / x - 1:+.0%} needed" if x > 0 else ""
    return f"not met (gap: {gap}{need})"

times = lambda d: f"{d:.2f}×"
targets = []
def target_ratio(what, a, b, goal, higher, detail):
    q = div(a, b)
    measured = "–" if q is None else f"{q:.2f}× ({detail(a, b)})"
    targets.append([what, measured, f"{'≥' if higher else '≤'} {goal:.2f}×",
                    judge(q, goal, higher, times)])

ops = lambda unit: (lambda a, b: f"{f0(a)} vs {f0(b)} {unit}")
for p, goal in ((16, 1.3), (1, 1.1)):
    for test in ("SET", "GET"):
        row = f"redis-benchmark -P {p} {test}"
        target_ratio(f"RESP {test} throughput vs Redis, `redis-benchmark -c 50 -P {p}`",
                     m("1", row, "corekv", "ops"), m("1", row, "redis", "ops"), goal, True,
                     ops("ops/s"))
for p in (1, 16):
    rs = lambda server: med([metric(r, "cpu") for test in ("SET", "GET")
                             for r in pick("1", f"redis-benchmark -P {p} {test}", server)])
    target_ratio(f"Server CPU per operation vs Redis, `redis-benchmark -P {p}` (SET+GET)",
                 rs("corekv"), rs("redis"), 0.7, False,
                 lambda a, b: f"{f1(a)} vs {f1(b)} s/M ops")
for row in rows_of("5"):
    if row.startswith("RESP "):
        target_ratio(f"p99 latency vs Redis at a fixed rate ({row})",
                     m("5", row, "corekv", "p99"), m("5", row, "redis", "p99"), 1.0, False,
                     lambda a, b: f"{fus(a)} vs {fus(b)} µs")
for p in (1, 16):
    target_ratio(f"Text protocol vs RESP on corekv, shared port, P={p} (JSON encoding not the bottleneck)",
                 m("3", f"text get:put 1:1, P={p}, shared", "corekv", "ops"),
                 m("2", f"RESP get:set 1:1, P={p}", "corekv", "ops"), 1.0, True, ops("ops/s"))
for p in (1, 16):
    for routing, how in (("pinned", "pinned clients"), ("smart", "batches split per owner")):
        target_ratio(f"Text protocol with smart routing ({how}) vs RESP on corekv, P={p}",
                     m("3", f"text get:put 1:1, P={p}, {routing}", "corekv", "ops"),
                     m("2", f"RESP get:set 1:1, P={p}", "corekv", "ops"), 1.0, True, ops("ops/s"))
for routing, how in (("pinned", "pinned clients"), ("smart", "batches split per owner")):
    target_ratio(f"Shared-port forwarding vs smart routing ({how}), text, P=16 (costs ≤ 25%)",
                 m("3", "text get:put 1:1, P=16, shared", "corekv", "ops"),
                 m("3", f"text get:put 1:1, P=16, {routing}", "corekv", "ops"), 0.75, True,
                 ops("ops/s"))
target_ratio("Cross- vs single-partition 4-key transactions, text (`START`…`COMMIT`, smart)",
             m("3", "text START, 4 PUTs, COMMIT, 100% cross-partition, smart", "corekv", "ops"),
             m("3", "text START, 4 PUTs, COMMIT, 0% cross-partition, smart", "corekv", "ops"),
             0.4, True, ops("txns/s"))
target_ratio("Cross- vs single-partition 4-key transactions, RESP (`MULTI`…`EXEC`) on corekv",
             m("2", "RESP MULTI/EXEC 4 SETs, 100% cross-partition", "corekv", "ops"),
             m("2", "RESP MULTI/EXEC 4 SETs, 0% cross-partition", "corekv", "ops"),
             0.4, True, ops("txns/s"))
for row, per in mem_per_key.items():
    targets.append([f"Memory: RSS per key, {f0(float(row.split()[0]))} keys loaded",
                    "–" if per is None else f"{per:.1f} bytes/key", "≤ 80 bytes/key",
                    judge(per, 80.0, False, lambda d: f"{d:.1f} bytes/key")])
for p in (1, 16):
    target_ratio(f"Load generator CPU per operation: corekv-bench vs redis-benchmark, P={p}, against Redis",
                 cb_ccpu(p, "redis"), rb_ccpu(p, "redis"), 1.0, False,
                 lambda a, b: f"{f2(a)} vs {f2(b)} µs/op")
for row in rows_of("7"):
    target_ratio(f"Collections: {hash_label(row)[len('redis-benchmark -P 16 '):]} throughput vs Redis, "
                 f"`redis-benchmark -c 50 -P 16 -r 1000000`",
                 m("7", row, "corekv", "ops"), m("7", row, "redis", "ops"), 1.0, True,
                 ops("ops/s"))
for row, (a, b) in hash_mem.items():
    target_ratio(f"Collections: memory per element vs Redis, {hash_shapes.get(row, row)} (used_memory)",
                 a, b, 0.8, False, lambda a, b: f"{f1(a)} vs {f1(b)} bytes/element")
met = sum(1 for t in targets if t[3] == "met")
t_targets = table(["target", "measured", "goal", "status"], targets)
gaps_md = ""
if os.path.exists(gaps):
    gaps_md = "\n### Where the gaps come from\n\n" + open(gaps).read().rstrip() + "\n"

cmds = open(commands).read().rstrip()
mach = open(machine).read().rstrip()
mode = "`bench/compare.sh --quick`" if quick else "`bench/compare.sh`"
noisy = ""
if max(float(load_before), float(load_after)) > 0.7:
    noisy = (f"\n> **Note:** the machine was not idle (1-minute load average {load_before} before, "
             f"{load_after} after the runs, including this run's own load only at the end): "
             "other processes shared the two cores, so treat the absolute numbers as noisy. "
             "Both servers saw the same conditions in alternation.\n")
if float(steal_pct) >= 2:
    noisy += (f"\n> **Note:** the hypervisor took {steal_pct}% of the VM's CPU time during the "
              "run (steal, `/proc/stat`): the two cores were not the run's alone, and by how much "
              "varied from one measurement to the next, so small ratios are within the noise.\n")

# ---- the chart (sections 1-3), next to the report
def chart_label(section, row):
    if section == "1":
        return row
    s = (row.replace(" 1:1", "").replace("START, 4 PUTs, COMMIT", "txn of 4 PUTs")
         .replace("MULTI/EXEC 4 SETs", "MULTI/EXEC of 4 SETs")
         .replace("cross-partition", "cross"))
    return "corekv-bench " + s

chart_rows = []
for section in ("1", "2", "3"):
    for row in rows_of(section):
        have_redis = bool(pick(section, row, "redis"))
        chart_rows.append({
            "section": section, "label": chart_label(section, row),
            "corekv_ops": m(section, row, "corekv", "ops"),
            "redis_ops": m(section, row, "redis", "ops") if have_redis else None,
            "corekv_p99_us": m(section, row, "corekv", "p99"),
            "redis_p99_us": m(section, row, "redis", "p99") if have_redis else None,
        })
info = dict(l.split(":", 1) for l in mach.splitlines() if ":" in l)
commit = info.get("corekv", "unknown").strip()
date = info.get("date", "").strip()
with open(chart_json, "w") as f:
    json.dump({
        "title": "corekv vs Redis: throughput and p99 latency by configuration",
        "subtitle": (f"{date}, corekv {commit} · {mode.strip('`')}: median of {rounds} "
                     f"round{'s' if rounds != '1' else ''}; server and load generator share 2 cores"),
        "rows": chart_rows,
    }, f, indent=1)

results_md = f"""![corekv vs Redis: throughput and p99](benchmarks.svg)

### 1. redis-benchmark (same command against both)

{t1}

### 1b. The same against corekv with one worker (no hop between workers)

Not a configuration to deploy on two cores, but it isolates the cost of
the request path itself from the cost of forwarding half of the keys to the
other worker. Redis columns are the runs of table 1.

{t1b}

### 2. corekv-bench, RESP (same load against both)

{t2}

### 3. corekv text protocol: shared port vs smart routing, transactions

{t3}

### 4. Memory: RSS after loading minus RSS when empty, per key

{t4}

### 5. Latency at a fixed rate ({int(rate):,} ops/s = 50% of Redis's measured RESP P=1 peak of {int(redis_peak):,} ops/s)

{t5}

### 6. Load generators' own CPU (against the same server, same settings)

{t6}

### 7. Hashes

redis-benchmark's `HSET` test writes random fields of one hash, `myhash`
(`-r 1000000`: `element:%012d`, 32-byte values); the `HGET` row reads
them back (`hget myhash element:__rand_int__`) after `myhash` was filled
with all 1,000,000 fields. One hash is one key: in corekv all of it lives
on one worker, the other forwards to it, and with `--migrate auto` (the
default) the other worker's connections move to the owner while the
workers wait for a CPU, as they do here.

{t7}

The same loads against corekv with one worker (`--workers 1`, which
forwards nothing: every one-key test's keys are its own), next to the
Redis runs above:

{t7b}

Memory: fresh servers, `INFO` `used_memory` (and RSS) after minus before
loading through `redis-cli --pipe`, per field: one hash of 1,000,000
fields (`element:%012d`, 32-byte values; both servers' `hashtable`), and
1,000,000 hashes `object:%012d` of 10 fields each (7-byte names, 16-byte
values; both servers' `listpack`).

{t7m}
"""

doc = f"""# Benchmarks: corekv vs Redis

Generated by {mode} (in {int(elapsed) // 60} min {int(elapsed) % 60} s). Re-run it to refresh this file
and its chart `benchmarks.svg`; `bench/compare.sh --quick` takes about two
minutes once built, the full run about ten.
{noisy}
## Method

* **Servers.** corekv (release build, `--workers 2`{', `--no-pin`' if no_pin == '1' else ', `--pin auto`: workers pinned one per core, each letting go of its core once the load generator keeps it waiting for it'})
  and Redis (`--save '' --appendonly no`), both on 127.0.0.1 and both
  started under `taskset -c 0,1`. Both run for the whole comparison, each
  preloaded with the 1,000,000 keys the loads use, so GETs hit.
* **Loads.** 1,000,000 keys `key:%012d` (16 bytes, the names
  `redis-benchmark -r 1000000` uses too), 32-byte values, 50 connections,
  uniform key choice. corekv-bench runs one client thread (one
  single-threaded async runtime), like redis-benchmark; it measures
  {warmup} s of warmup and then {duration} s, counting operations and
  latencies (write of the batch to the read of each response, HDR
  histogram) only after the warmup. A transaction (`START`, 4 `PUT`s,
  `COMMIT`, or `MULTI`, 4 `SET`s, `EXEC`) counts as one operation.
* **Routing** (corekv-bench, table 3). *shared*: every connection to the
  shared port; the worker that accepted it forwards other workers' keys.
  *smart*: each client holds one connection per worker's core port and
  splits every pipelined batch by owner (a synchronous pipeline; each
  connection carries about P/2 requests per round trip). *pinned*: each
  client holds one connection, to one worker's port (clients take the
  workers in turn), and asks only for that worker's keys, P per round trip:
  an asynchronous smart client grouping requests by owner. Same 50
  connections and pipeline depth as shared; nothing is forwarded.
* **Alternation.** Every load runs against corekv, then Redis, then corekv,
  … for {rounds} round{'s' if rounds != '1' else ''}; tables show the **median** over rounds
  and the corekv/Redis ratio of the medians (> 1: corekv faster).
* **Server CPU** is the server's utime+stime (`/proc/PID/stat`) over the
  measured interval, per million operations (for redis-benchmark rows: over
  the whole command, both tests).
* **Context switches** (redis-benchmark rows) are the server's voluntary
  and involuntary switches, all threads (`/proc/PID/task/*/status`), per
  operation: a worker that runs out of work sleeps in `epoll_wait` and
  costs a switch to wake, so they show how often the server idles between
  requests.
* **Load generator CPU** is the client's own user+system CPU per
  operation: corekv-bench's getrusage over the measured interval, and
  redis-benchmark's as GNU `time` reports it for the whole command (both
  tests, connection setup included). µs/op and s/M ops are the same unit.
* **Memory**: a fresh server of each kind, RSS (`VmRSS`) before and after
  loading N keys with `corekv-bench --load`, one second after the load.
* **Fixed rate**: `--rate` paces each client's sends; latency counts from
  the scheduled send time whenever the client was still busy at that time,
  so a slow server is not hidden by coordinated omission. Sends are paced
  with tokio's 1 ms timer, so clients due within the same millisecond send
  together (bursts of about rate/1000 requests), for both servers alike.
* **Caveat.** The load generator shares the same two cores with the
  server (there are no others), so these numbers measure server *and*
  client together; they compare the servers under identical conditions,
  not their absolute capacity. Errors in all runs: {errors}.

## Machine

```text
{mach}
```

## Commands

Ports are picked free for each run (`<port>`: corekv's shared port, or
Redis's or memcached's port; `<pid>`: the server's pid; `<rate>`: half of
Redis's measured peak, below). Each line ran against every server it names
a port for, once per round.

```sh
{cmds}
```

## Targets

Computed from the medians below ({met} of {len(targets)} met). Ratios are
corekv/Redis unless the row says otherwise; a gap is how far the measured
value is from the goal, and the change in it that would close the gap.

{t_targets}
{gaps_md}
## Results

{results_md}"""

os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
with open(out, "w") as f:
    f.write(doc)
subprocess.run([chart_bin, chart_json, svg_out], check=True)
print("## Targets\n\n" + t_targets + "\n")
print(results_md)
print(f"(written to {out} and {svg_out})")
EOF
log "done in $((SECONDS - START_SECONDS)) s"
