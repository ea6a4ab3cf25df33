# corekv container image. The image is corekv:<version> (the crate version in
# Cargo.toml, also the Helm chart's appVersion) with corekv:latest as an alias:
#
#   docker build -t corekv:0.1.0 -t corekv:latest .
#   docker run -d --name corekv --cpus 2 --memory 1g \
#       -e COREKV_REQUIREPASS="$(openssl rand -hex 24)" -e COREKV_MAXMEMORY=700mb \
#       -e COREKV_ANNOUNCE_HOST=127.0.0.1 \
#       -p 127.0.0.1:6379:6379 -p 127.0.0.1:9888-9890:9888-9890 corekv:0.1.0
#
# Offline build (no registry, no crates.io: `docker build --network none`):
# vendor the crates into the build context first, then build as above with
# base images already present locally (RUST_IMAGE, RUNTIME_IMAGE below):
#
#   mkdir -p .cargo && cargo vendor --locked vendor > .cargo/config.toml
#   docker build --network none -t corekv:0.1.0 -t corekv:latest .
#
# (.cargo/config.toml then points this checkout's own cargo at vendor/ too;
# delete both to go back. deploy/docker/test.sh builds this way in CI.)
#
# Security: like Redis's official image, the image listens on all interfaces
# of the container (COREKV_BIND=0.0.0.0) with protected mode OFF
# (COREKV_PROTECTED_MODE=no): the container's network is the boundary. So
# set a password (COREKV_REQUIREPASS, or COREKV_REQUIREPASS_FILE pointing at
# a mounted secret) or an ACL file (COREKV_ACLFILE) before publishing a port
# beyond the host, and publish on 127.0.0.1 unless clients elsewhere need it.
#
# Memory: set COREKV_MAXMEMORY (the data budget) below the container's
# memory limit: RSS stays within 1.3 x maxmemory + 32 MiB (README "Memory
# and eviction"), so 700mb for --memory 1g.
#
# Ports: 6379 is the RESP port (COREKV_RESP_PORT: every connection speaks
# the Redis protocol, inline commands included, as on a Redis server);
# 9888 is the shared port (every worker accepts on both, SO_REUSEPORT;
# there the first byte chooses RESP or the text protocol); worker i also
# listens on 9889 + i. By default the server starts one worker
# per CPU it may use (affinity mask and cgroup CPU quota respected), so with
# `--cpus 2` it opens 9888 plus 9889-9890. EXPOSE below documents the range
# for up to 64 workers (9889-9952); publish only the ones you use.
# Cluster-aware clients (redis-cli -c, RedisCluster) follow the addresses
# CLUSTER SLOTS advertises: behind published ports set COREKV_ANNOUNCE_HOST
# to the address they reach (127.0.0.1 above) and, if the core ports are
# published under other numbers, COREKV_ANNOUNCE_PORT_BASE to the first one.
#
# Pinning: workers are pinned to cores only when the container owns exactly
# one CPU per worker (`--cpuset-cpus 2-3`); with `--cpus N` below the CPUs it
# may run on (a quota over shared CPUs) they float, so two containers never
# stack on the same cores (COREKV_PIN=auto|always|never).
#
# Written for the classic builder and BuildKit alike (no heredocs, no cache
# mounts, nothing newer than Docker Engine 20.10).

ARG RUST_IMAGE=rust:1-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------------------
# Skeleton: the workspace's manifests, with every .rs file replaced by a stub.
# The output changes only when manifests or the set of source files change,
# so the dependency layer below stays cached across source edits. (Stubbing
# every .rs file, not just src/main.rs and the two lib.rs, keeps manifests
# that declare [[example]]/[[test]]/[[bench]] targets parseable.) vendor/
# and .cargo/ are kept whole: vendored crates must match their
# .cargo-checksum.json, and .cargo/config.toml points cargo at them.
# The real sources are kept aside in /src, without vendor/ and .cargo/, so
# the build stage copies the (large) vendored crates once.
# ---------------------------------------------------------------------------
FROM ${RUST_IMAGE} AS skeleton

WORKDIR /app
COPY . .
RUN mkdir /src \
    && tar -cf - --exclude=./vendor --exclude=./.cargo . | tar -C /src -xf - \
    && echo 'fn main() {}' > /tmp/stub.rs \
    && find . -type f -name '*.rs' ! -path './vendor/*' ! -path './.cargo/*' \
        -exec cp /tmp/stub.rs {} \; \
    && find . -type f ! -name '*.rs' ! -name Cargo.toml ! -name Cargo.lock \
        ! -name 'rust-toolchain*' ! -path './vendor/*' ! -path './.cargo/*' -delete \
    && find . -type d -empty ! -path './vendor/*' ! -path './.cargo/*' -delete \
    && test -f src/main.rs && test -f src/lib.rs && test -f router/src/lib.rs

# ---------------------------------------------------------------------------
# Build stage
# ---------------------------------------------------------------------------
FROM ${RUST_IMAGE} AS builder

WORKDIR /app
# The image's binary carries no debug info and no symbol table (4.5 MB
# instead of 30 MB; panic messages still name the file and line). The
# release profile in Cargo.toml keeps line tables for profiling on a host.
ENV CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0 \
    CARGO_PROFILE_RELEASE_DEBUG=0 \
    CARGO_PROFILE_RELEASE_STRIP=symbols

# 1. Dependencies only, built against the stub sources (src/main.rs,
#    src/lib.rs, router/src/lib.rs, ... all `fn main() {}`).
COPY --from=skeleton /app ./
RUN cargo build --locked --release

# 2. The real sources over the stubs. Touch them so they are newer than the
#    stubs' build artifacts and cargo rebuilds both workspace crates, then
#    smoke-test.
COPY --from=skeleton /src ./
RUN find . \( -path ./target -o -path ./vendor \) -prune -o -type f -name '*.rs' -exec touch {} + \
    && cargo build --locked --release \
    && /app/target/release/corekv --version

# ---------------------------------------------------------------------------
# Runtime stage
# ---------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE}

COPY deploy/docker/corekv-ping /usr/local/bin/corekv-ping
RUN chmod 0755 /usr/local/bin/corekv-ping \
    && groupadd --gid 10001 corekv \
    && useradd --uid 10001 --gid corekv --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin corekv

COPY --from=builder /app/target/release/corekv /usr/local/bin/corekv

# Listen on all interfaces inside the container, with protected mode off, as
# Redis's official image does (the bare binary binds loopback only and, bound
# elsewhere without a password, refuses non-loopback clients). Set
# COREKV_REQUIREPASS / COREKV_REQUIREPASS_FILE / COREKV_ACLFILE to require
# authentication.
ENV COREKV_BIND=0.0.0.0 \
    COREKV_PROTECTED_MODE=no \
    COREKV_RESP_PORT=6379

# 6379: RESP port. 9888: shared port. 9889-9952: per-worker core ports
# (9889 + worker index), room for 64 workers.
EXPOSE 6379 9888 9889-9952

USER 10001:10001

# deploy/docker/corekv-ping sends PING to the shared port (COREKV_PORT),
# after AUTH with the container's password when it has one
# (COREKV_REQUIREPASS or COREKV_REQUIREPASS_FILE); the Helm chart's probes
# run it too. The first check runs 5 s after the start. (Docker Engine 25+
# can check more often while starting, `docker run --health-start-interval
# 1s`; a Dockerfile that names --start-interval does not build on older
# engines, Debian 12's docker.io 20.10 among them.)
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
    CMD ["corekv-ping"]

# SIGTERM (docker stop) shuts the server down cleanly.
STOPSIGNAL SIGTERM
ENTRYPOINT ["corekv"]
