# Shared by the Docker tests (source it from bash; it sets no shell options).
#
# Builds corekv's image the way README's "Deploy" section says, on a machine
# with a Docker Engine but no registry: nothing is pulled.
#
#   corekv_base_images   the runtime base (Debian bookworm, debootstrap
#                        --variant=minbase, `docker import`) and the Rust
#                        builder (that base + gcc + this machine's Rust
#                        toolchain); each made once and kept as a local image.
#   corekv_build_image   the project's Dockerfile on those bases, offline:
#                        `cargo vendor` into a copy of the work tree, then
#                        `docker build --network none`. Tags corekv:VERSION
#                        and corekv:latest.
#
# Needs: docker, debootstrap (installed with apt-get when missing), cargo,
# rustc, tar, git. Runs as root (debootstrap, chroot).

COREKV_ROOT=${COREKV_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# Work files (the build context copy, vendored crates, debootstrap's
# scratch); kept between runs so a second run reuses the vendored crates.
COREKV_DOCKER_WORK=${COREKV_DOCKER_WORK:-${XDG_CACHE_HOME:-$HOME/.cache}/corekv-docker}
COREKV_DEBIAN_MIRROR=${COREKV_DEBIAN_MIRROR:-http://deb.debian.org/debian}

# The crate version: [workspace.package] version in Cargo.toml.
corekv_version() {
    sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' "$COREKV_ROOT/Cargo.toml"
}

COREKV_VERSION=${COREKV_VERSION:-$(corekv_version)}
COREKV_IMAGE=corekv:$COREKV_VERSION
COREKV_BASE_IMAGE=corekv-ci/debian:bookworm-minbase
COREKV_RUST_VERSION=$(rustc --version | awk '{print $2}')
COREKV_BUILDER_IMAGE=corekv-ci/rust:$COREKV_RUST_VERSION-bookworm

_dlog() {
    printf '[docker +%ds] %s\n' "$SECONDS" "$*"
}

_have_image() {
    docker image inspect "$1" >/dev/null 2>&1
}

# Makes COREKV_BASE_IMAGE and COREKV_BUILDER_IMAGE unless both exist.
corekv_base_images() {
    if _have_image "$COREKV_BASE_IMAGE" && _have_image "$COREKV_BUILDER_IMAGE"; then
        _dlog "base images present: $COREKV_BASE_IMAGE, $COREKV_BUILDER_IMAGE"
        return 0
    fi
    if ! command -v debootstrap >/dev/null 2>&1; then
        _dlog "installing debootstrap"
        apt-get update -qq && apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
    fi
    local sysroot rootfs
    sysroot=$(rustc --print sysroot)
    rootfs=$COREKV_DOCKER_WORK/rootfs
    mkdir -p "$COREKV_DOCKER_WORK"
    rm -rf "$rootfs"

    # Debian bookworm, minbase (essential packages and apt), plus passwd
    # for the Dockerfile's groupadd/useradd: what debian:bookworm-slim has.
    _dlog "debootstrap --variant=minbase bookworm ($COREKV_DEBIAN_MIRROR)"
    debootstrap --variant=minbase --include=passwd bookworm "$rootfs" \
        "$COREKV_DEBIAN_MIRROR" >"$COREKV_DOCKER_WORK/debootstrap.log" 2>&1 || {
        tail -n 30 "$COREKV_DOCKER_WORK/debootstrap.log" >&2
        return 1
    }
    # The runtime base: the root file system without apt's caches.
    _dlog "docker import $COREKV_BASE_IMAGE"
    tar -C "$rootfs" --numeric-owner \
        --exclude=./var/cache/apt/archives/'*.deb' --exclude=./var/lib/apt/lists/'*_Packages' \
        -cf - . | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["bash"]' - "$COREKV_BASE_IMAGE" >/dev/null

    # The builder: gcc (the C parts of ring, mimalloc and build.rs) and this
    # machine's Rust toolchain (no docs) in /usr/local/rust.
    _dlog "builder: gcc, and the Rust toolchain $COREKV_RUST_VERSION from $sysroot"
    chroot "$rootfs" apt-get install -y -qq --no-install-recommends gcc libc6-dev \
        >>"$COREKV_DOCKER_WORK/debootstrap.log" 2>&1 || {
        tail -n 30 "$COREKV_DOCKER_WORK/debootstrap.log" >&2
        return 1
    }
    chroot "$rootfs" apt-get clean
    mkdir -p "$rootfs/usr/local/rust" "$rootfs/usr/local/cargo"
    tar -C "$sysroot" --exclude=./share/doc -cf - . | tar -C "$rootfs/usr/local/rust" -xf -
    _dlog "docker import $COREKV_BUILDER_IMAGE"
    tar -C "$rootfs" --numeric-owner --exclude=./var/lib/apt/lists/'*_Packages' -cf - . |
        docker import \
            --change 'ENV PATH=/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'ENV CARGO_HOME=/usr/local/cargo' \
            --change 'CMD ["bash"]' - "$COREKV_BUILDER_IMAGE" >/dev/null
    docker run --rm --network none "$COREKV_BUILDER_IMAGE" cargo --version
    rm -rf "$rootfs"
}

# corekv_trim_vendor DIR: in DIR/vendor (cargo vendor's output, DIR/.cargo
# pointing at it), empties the crates that no Linux build uses (Windows and
# wasm crates: two thirds of its 450 MB), as cargo-vendor-filterer does: each
# keeps its Cargo.toml (cargo still reads every locked package's manifest)
# and its package checksum, with an empty src/lib.rs and no file checksums.
# Only to keep CI's build context small (Docker copies it several times);
# the full vendor/ of README's recipe builds the same.
corekv_trim_vendor() {
    local host
    host=$(rustc -vV | sed -n 's/^host: //p')
    (cd "$1" && cargo metadata --format-version 1 --locked --offline --filter-platform "$host") |
        python3 -c '
import json, os, shutil, sys, tomllib
vendor = sys.argv[1]
meta = json.load(sys.stdin)
used = {n["id"] for n in meta["resolve"]["nodes"]}
keep = {(p["name"], p["version"]) for p in meta["packages"] if p["id"] in used}
trimmed = 0
for d in sorted(os.listdir(vendor)):
    path = os.path.join(vendor, d)
    with open(os.path.join(path, "Cargo.toml"), "rb") as f:
        pkg = tomllib.load(f)["package"]
    if (pkg["name"], pkg["version"]) in keep:
        continue
    with open(os.path.join(path, ".cargo-checksum.json")) as f:
        checksum = json.load(f)["package"]
    for entry in os.listdir(path):
        if entry != "Cargo.toml":
            full = os.path.join(path, entry)
            shutil.rmtree(full) if os.path.isdir(full) and not os.path.islink(full) else os.remove(full)
    os.mkdir(os.path.join(path, "src"))
    open(os.path.join(path, "src", "lib.rs"), "w").close()
    with open(os.path.join(path, ".cargo-checksum.json"), "w") as f:
        json.dump({"files": {}, "package": checksum}, f)
    trimmed += 1
print(f"vendor: {len(os.listdir(vendor)) - trimmed} crates kept, {trimmed} not used on this platform emptied")
' "$1/vendor"
}

# Builds COREKV_IMAGE (and corekv:latest) from a copy of the work tree with
# vendored crates, with no network during the build. Extra arguments go to
# `docker build`.
corekv_build_image() {
    local ctx=$COREKV_DOCKER_WORK/context
    local lock_sum
    lock_sum=$(sha256sum "$COREKV_ROOT/Cargo.lock" | cut -d' ' -f1)
    mkdir -p "$ctx"
    # The work tree as git sees it (tracked and untracked-but-not-ignored
    # files), replacing the previous copy but for the vendored crates.
    find "$ctx" -mindepth 1 -maxdepth 1 ! -name vendor ! -name .vendor-lock-sum -exec rm -rf {} +
    (cd "$COREKV_ROOT" && git ls-files -z --cached --others --exclude-standard |
        tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -C "$ctx" -xf -
    # README "Offline build": vendor the crates, point cargo at them.
    if [[ ! -d $ctx/vendor || $(cat "$ctx/.vendor-lock-sum" 2>/dev/null) != "$lock_sum" ]]; then
        _dlog "cargo vendor --locked vendor"
        rm -rf "$ctx/vendor"
        (cd "$ctx" && mkdir -p .cargo && cargo vendor --locked vendor >.cargo/config.toml 2>"$COREKV_DOCKER_WORK/vendor.log")
        corekv_trim_vendor "$ctx"
        echo "$lock_sum" >"$ctx/.vendor-lock-sum"
    else
        _dlog "vendored crates up to date (Cargo.lock unchanged)"
        (cd "$ctx" && mkdir -p .cargo && printf '%s\n' '[source.crates-io]' \
            'replace-with = "vendored-sources"' '' '[source.vendored-sources]' \
            'directory = "vendor"' >.cargo/config.toml)
    fi
    printf '%s\n' .vendor-lock-sum >>"$ctx/.dockerignore"
    _dlog "docker build --network none -t $COREKV_IMAGE -t corekv:latest (on $COREKV_BUILDER_IMAGE, $COREKV_BASE_IMAGE)"
    docker build --network none --force-rm \
        --build-arg RUST_IMAGE="$COREKV_BUILDER_IMAGE" \
        --build-arg RUNTIME_IMAGE="$COREKV_BASE_IMAGE" \
        -t "$COREKV_IMAGE" -t corekv:latest "$@" "$ctx"
}
