#!/usr/bin/env bash
# Builds the fuzz targets and runs each for a bounded time on its corpus.
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Needs only stable Rust and a C++ compiler (libfuzzer-sys builds libFuzzer):
# it passes cargo the coverage flags `cargo fuzz build --sanitizer none`
# uses, so CI needs neither nightly nor cargo-fuzz. Each target starts from
# its checked-in corpus (fuzz/corpus/<target>, read only) and writes what it
# discovers to a scratch directory; a crash fails the script and leaves the
# input in fuzz/artifacts/<target>/. Env: FUZZ_JOBS (parallel targets,
# default: nproc), FUZZ_ARGS (extra libFuzzer flags), FUZZ_SCRATCH (keep
# the discovered inputs there, e.g. to merge into the corpus, see README),
# FUZZ_CODEGEN_UNITS (default 1, as cargo-fuzz: faster fuzzing; CI uses 16
# for a faster build, as its runs are short).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

SECS=${1:-30}
shift || true
TARGETS=("$@")
if ((${#TARGETS[@]} == 0)); then
    TARGETS=(resp_parser inline_split text_parser glob partition_model collections_model)
fi
TRIPLE=$(rustc -vV | sed -n 's/^host: //p')

# The flags of cargo-fuzz 0.13 with `--sanitizer none`, debug assertions on.
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cllvm-args=-sanitizer-coverage-stack-depth \
--cfg fuzzing -Cdebug-assertions -Ccodegen-units=${FUZZ_CODEGEN_UNITS:-1} ${RUSTFLAGS:-}"
bins=()
for t in "${TARGETS[@]}"; do bins+=(--bin "$t"); done
cargo build --locked --release --target "$TRIPLE" "${bins[@]}"
bin_dir=${CARGO_TARGET_DIR:-target}/$TRIPLE/release

jobs=${FUZZ_JOBS:-$(nproc)}
if [[ -n ${FUZZ_SCRATCH:-} ]]; then
    scratch=$FUZZ_SCRATCH
    mkdir -p "$scratch"
else
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
fi
pids=()
names=()
for t in "${TARGETS[@]}"; do
    while (($(jobs -rp | wc -l) >= jobs)); do sleep 0.2; done
    mkdir -p "$scratch/$t" "artifacts/$t" "corpus/$t"
    # -rss_limit_mb: the partition target's values stay small; a leak or
    # runaway growth fails instead of swapping.
    "$bin_dir/$t" "$scratch/$t" "corpus/$t" \
        -max_total_time="$SECS" -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="artifacts/$t/" ${FUZZ_ARGS:-} >"$scratch/$t.log" 2>&1 &
    pids+=($!)
    names+=("$t")
done
failed=0
for i in "${!pids[@]}"; do
    t=${names[$i]}
    if wait "${pids[$i]}"; then
        printf '%s: ok, %s\n' "$t" "$(grep -E '^stat::number_of_executed_units' "$scratch/$t.log" | awk '{print $2 " execs"}')"
    else
        failed=1
        echo "$t: FAILED; the crashing input is in fuzz/artifacts/$t/"
        grep -A 3 -m 1 'panicked' "$scratch/$t.log" || true
        tail -n 12 "$scratch/$t.log"
    fi
done
exit "$failed"
