#!/usr/bin/env bash
# Fuzzing in CI, in two parts:
#
# 1. Replay (stable, always): every committed seed and crash artifact under fuzz/corpus/
#    and fuzz/artifacts/ through the fuzz targets' own checks, by the replay tests
#    (formats/tests/fuzz_regressions.rs, engine/tests/fuzz_replay.rs,
#    cli/tests/fuzz_replay.rs, which also replays npy and case_json). `cargo test --workspace` runs them too; they are run here
#    by name so that this script stands alone.
# 2. Fuzz (only when a nightly toolchain is installed): each target for
#    RECUR_FUZZ_SECONDS (default 60) seconds, failing on the first crash. New inputs go to
#    a scratch corpus under fuzz/target/ (ignored by git), never into the committed seeds;
#    a crash is written to fuzz/artifacts/<target>/ and the log says how to reproduce it.
#
# The fuzz build uses 16 codegen units: a much shorter build (the engine's kernels are
# large) for a slightly slower fuzzer, the right trade for a one-minute run. Debug
# assertions are on, so integer overflow on numbers read from a file is a crash.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
secs=${RECUR_FUZZ_SECONDS:-60}
targets=(recur_file onnx_import npy case_json)

echo "--- replay of the committed corpora (stable)"
# Same profile and workspace-wide feature set as .ci/run's `cargo test --workspace
# --release`, so that after it nothing is rebuilt.
cargo test --workspace --release --locked --test fuzz_regressions --test fuzz_replay

if ! rustup toolchain list | grep -q nightly; then
  echo "--- no nightly toolchain: skipping the fuzzing runs"
  exit 0
fi
if [ "$secs" -le 0 ]; then
  echo "--- RECUR_FUZZ_SECONDS=$secs: skipping the fuzzing runs"
  exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "--- installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

cd fuzz
build=(-O -a --codegen-units 16 --target-dir target/ci)
echo "--- building the fuzz targets (nightly, ASan, debug assertions)"
cargo +nightly fuzz build "${build[@]}"
# The targets fuzz side by side (sharing the cores): the run takes `secs`, not `secs` per target.
fuzz_one() {
  local t=$1 log="target/ci/fuzz-$1.log"
  mkdir -p "target/corpus/$t"
  # The scratch corpus comes first: libFuzzer adds new inputs to the first folder only.
  cargo +nightly fuzz run "${build[@]}" "$t" "target/corpus/$t" "corpus/$t" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1
}
pids=()
for t in "${targets[@]}"; do
  echo "--- fuzzing $t for ${secs}s"
  fuzz_one "$t" &
  pids+=($!)
done
failed=0
for i in "${!targets[@]}"; do
  t=${targets[$i]}
  log="target/ci/fuzz-$t.log"
  if ! wait "${pids[$i]}"; then
    grep -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)' "$log" | tail -n 60 >&2
    echo "fuzz target $t crashed: the input is in fuzz/artifacts/$t/ (see fuzz/REGRESSIONS.md)" >&2
    failed=1
    continue
  fi
  echo "--- $t:"
  grep -E '^#[0-9]+[[:space:]]+DONE|^stat::(number_of_executed_units|peak_rss_mb)' "$log" || true
done
exit "$failed"
