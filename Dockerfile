# corekv container image.
#
#   docker build -t corekv .
#   docker run --rm --cpus 2 -e COREKV_REQUIREPASS="$(openssl rand -hex 24)" \
#       -p 127.0.0.1:6379:6379 -p 127.0.0.1:9888-9890:9888-9890 corekv
#
# Security: like Redis's official image, the image listens on all interfaces
# of the container (COREKV_BIND=0.0.0.0) with protected mode OFF
# (COREKV_PROTECTED_MODE=no): the container's network is the boundary. So
# set a password (COREKV_REQUIREPASS, or COREKV_REQUIREPASS_FILE pointing at
# a mounted secret) or an ACL file (COREKV_ACLFILE) before publishing a port
# beyond the host, and publish on 127.0.0.1 unless clients elsewhere need it.
#
# Ports: 6379 is the RESP port (COREKV_RESP_PORT: every connection speaks
# the Redis protocol, inline commands included, as on a Redis server);
# 9888 is the shared port (every worker accepts on both, SO_REUSEPORT;
# there the first byte chooses RESP or the text protocol); worker i also
# listens on 9889 + i. By default the server starts one worker
# per CPU it may use (affinity mask and cgroup CPU quota respected), so with
# `--cpus 2` it opens 9888 plus 9889-9890. EXPOSE below documents the range
# for up to 64 workers (9889-9952); publish only the ones you use.
#
# Written for the classic builder and BuildKit alike (no heredocs, no cache
# mounts).

ARG RUST_IMAGE=rust:1-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------------------
# Skeleton: the workspace's manifests, with every .rs file replaced by a stub.
# The output changes only when manifests or the set of source files change,
# so the dependency layer below stays cached across source edits. (Stubbing
# every .rs file, not just src/main.rs and the two lib.rs, keeps manifests
# that declare [[example]]/[[test]]/[[bench]] targets parseable.)
# ---------------------------------------------------------------------------
FROM ${RUST_IMAGE} AS skeleton

WORKDIR /app
COPY . .
RUN echo 'fn main() {}' > /tmp/stub.rs \
    && find . -type f -name '*.rs' -exec cp /tmp/stub.rs {} \; \
    && find . -type f ! -name '*.rs' ! -name Cargo.toml ! -name Cargo.lock \
        ! -path './.cargo/*' ! -name 'rust-toolchain*' -delete \
    && find . -depth -type d -empty -delete \
    && test -f src/main.rs && test -f src/lib.rs && test -f router/src/lib.rs

# ---------------------------------------------------------------------------
# Build stage
# ---------------------------------------------------------------------------
FROM ${RUST_IMAGE} AS builder

WORKDIR /app
ENV CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0

# 1. Dependencies only, built against the stub sources (src/main.rs,
#    src/lib.rs, router/src/lib.rs, ... all `fn main() {}`).
COPY --from=skeleton /app ./
RUN cargo build --locked --release

# 2. The real sources. Touch them so they are newer than the stubs' build
#    artifacts and cargo rebuilds both workspace crates, then smoke-test.
COPY . .
RUN find . -path ./target -prune -o -type f -name '*.rs' -exec touch {} + \
    && cargo build --locked --release \
    && /app/target/release/corekv --version

# ---------------------------------------------------------------------------
# Runtime stage
# ---------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE}

RUN groupadd --gid 10001 corekv \
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

# A PING on the shared port must answer {"status": "Ok", "result": "PONG"}.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9888 && printf 'PING\\n' >&3 && head -n1 <&3 | grep -q PONG"]

# SIGTERM (docker stop) shuts the server down cleanly.
STOPSIGNAL SIGTERM
ENTRYPOINT ["corekv"]
