#!/usr/bin/env bash
# The engine on aarch64, under emulation: cross-compiles the `recur` test suite for
# aarch64-unknown-linux-gnu and runs it under qemu-aarch64 three times, with the NEON,
# portable and scalar kernel sets forced in turn (RECUR_ISA). The `forced_isa_actually_runs`
# test (engine/tests/isa_identity.rs) fails a run in which the forced set did not run, and
# this script also checks that the test ran and passed, so a green run cannot hide a
# skipped kernel set. Every other test runs every kernel set the (emulated) CPU has in each
# pass, and `golden_hashes` checks the bits against the hashes written on x86-64.
# Finally it builds the criterion benches for aarch64 (not run: timings under qemu mean
# nothing).
#
# Works on a fresh Debian machine (installs the cross linker, the aarch64 C library and
# qemu-user with apt, the Rust target with rustup). Takes a few minutes: most of it is the
# release build; the three emulated runs take about a minute each.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=aarch64-unknown-linux-gnu
start=$(date +%s)
step() { echo; echo "=== aarch64: $* ($(( $(date +%s) - start ))s)"; }

step "install the cross toolchain and qemu"
if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64 >/dev/null \
  || [ ! -d /usr/aarch64-linux-gnu/lib ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends \
    gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user >/dev/null
fi
rustup target add "$TARGET"
aarch64-linux-gnu-gcc --version | head -n 1
qemu-aarch64 --version | head -n 1

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
export CARGO_TERM_COLOR=never

step "build the engine's tests for $TARGET"
cargo test -p recur --release --locked --target "$TARGET" --no-run

log=$(mktemp)
trap 'rm -f "$log"' EXIT
for isa in neon portable scalar; do
  step "tests under qemu-aarch64, RECUR_ISA=$isa"
  t0=$(date +%s)
  RECUR_ISA=$isa cargo test -p recur --release --locked --target "$TARGET" 2>&1 | tee "$log"
  # `tee` hides cargo's status; pipefail brings it back, and the guard test must have run.
  if ! grep -q "^test forced_isa_actually_runs ... ok$" "$log"; then
    echo "aarch64: RECUR_ISA=$isa: the guard test forced_isa_actually_runs did not pass" >&2
    exit 1
  fi
  echo "aarch64: RECUR_ISA=$isa passed in $(( $(date +%s) - t0 ))s"
done

step "type-check the benches for $TARGET"
# A check, not a build: the bench profile would compile the engine a second time (~3
# minutes) only to prove what the type check proves, that the benches build on aarch64.
cargo check -p recur-benches --benches --examples --locked --target "$TARGET"

step "aarch64 done"
