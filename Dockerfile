# corekv container image.
#
#   docker build -t corekv .
#   docker run --rm --cpus 2 -p 9888-9890:9888-9890 corekv
#
# Ports: 9888 is the shared port (every worker accepts on it, SO_REUSEPORT);
# worker i also listens on 9889 + i. By default the server starts one worker
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

# Listen on all interfaces inside the container (the server's default is
# loopback). Clients reach it through the container's network, so protected
# mode (which refuses non-loopback clients while there is no password) is
# off, as in the official redis image; set COREKV_REQUIREPASS(_FILE) or
# COREKV_ACLFILE to require authentication.
ENV COREKV_BIND=0.0.0.0
ENV COREKV_PROTECTED_MODE=no

# 9888: shared port. 9889-9952: per-worker core ports (9889 + worker index),
# room for 64 workers.
EXPOSE 9888 9889-9952

USER 10001:10001

# A PING on the shared port must answer {"status": "Ok", "result": "PONG"}.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9888 && printf 'PING\\n' >&3 && head -n1 <&3 | grep -q PONG"]

# SIGTERM (docker stop) shuts the server down cleanly.
STOPSIGNAL SIGTERM
ENTRYPOINT ["corekv"]
