#!/usr/bin/env bash
# The C ABI (bindings/c): the committed header is what the pinned cbindgen generates; the
# README's example is examples/stream.c; librecur.so and librecur.a install with their
# pkg-config file and link the example; the C tests (bindings/c/tests) build with
# -std=c99 -Wall -Wextra -Werror -pedantic (the header also as C++11), and pass against
# both libraries, under every kernel set this CPU has, under ASan+UBSan and under valgrind
# with no error and no definite or indirect leak.
#
# Run from anywhere: bash .ci/capi.sh. Root on Debian installs the C tools it lacks.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
export CARGO_TERM_COLOR=never
CBINDGEN_VERSION=0.29.4
start=$(date +%s)
step() { echo; echo "--- capi: $* ($(( $(date +%s) - start ))s)"; }
runs=0
ran() { runs=$((runs + 1)); }

step "tools"
missing=()
command -v cc >/dev/null || missing+=(gcc)
command -v c++ >/dev/null || missing+=(g++)
command -v valgrind >/dev/null || missing+=(valgrind)
command -v pkg-config >/dev/null || missing+=(pkg-config)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
if [ "$(cbindgen --version 2>/dev/null || true)" != "cbindgen $CBINDGEN_VERSION" ]; then
  echo "installing cbindgen $CBINDGEN_VERSION"
  cargo install cbindgen --version "=$CBINDGEN_VERSION" --locked --quiet
fi
cc --version | head -n1
valgrind --version

step "recur.h is what cbindgen $CBINDGEN_VERSION generates"
(cd bindings/c && cbindgen --quiet --config cbindgen.toml --crate recur-capi --output include/recur.h)
if ! git diff --exit-code -- bindings/c/include/recur.h; then
  echo "bindings/c/include/recur.h is stale: commit the regenerated header" >&2
  exit 1
fi

step "the README's example is examples/stream.c"
awk '/<!-- end examples\/stream.c -->/{p=0} p&&!/^```/{print} /<!-- begin examples\/stream.c -->/{p=1}' \
  bindings/c/README.md | diff -u bindings/c/examples/stream.c - || {
  echo "bindings/c/README.md and bindings/c/examples/stream.c differ" >&2
  exit 1
}

step "build librecur and the model generator"
# The whole workspace, as .ci/run's `cargo test --workspace --release` selects it: with
# `-p recur-capi` alone cargo unifies other features (the engine without `default`, the
# format without `onnx`) and rebuilds the engine from scratch (~4 minutes).
cargo build --release --locked --workspace --lib --example gen_models --example overhead
target_dir="${CARGO_TARGET_DIR:-$root/target}"
lib="$target_dir/release"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
models="$work/models"
"$target_dir/release/examples/gen_models" "$models"

step "install, pkg-config, the example against librecur.so and librecur.a"
prefix="$work/prefix"
bindings/c/install.sh --prefix "$prefix" --target-dir "$target_dir"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
pkg-config --exists --print-errors recur
echo "pkg-config: $(pkg-config --modversion recur): $(pkg-config --cflags --libs recur)"
cflags=(-std=c99 -Wall -Wextra -Werror -pedantic -O1 -g)
# shellcheck disable=SC2046 # pkg-config output is a list of words
cc "${cflags[@]}" bindings/c/examples/stream.c $(pkg-config --cflags --libs recur) -lm \
  -Wl,-rpath,"$prefix/lib" -o "$work/stream_shared"
# shellcheck disable=SC2046
cc "${cflags[@]}" bindings/c/examples/stream.c $(pkg-config --cflags recur) \
  $(pkg-config --variable=static_libs recur) -o "$work/stream_static"
ldd "$work/stream_shared" | grep -q "librecur.so => $prefix/lib/librecur.so"
if ldd "$work/stream_static" | grep -q librecur; then echo "stream_static links librecur dynamically" >&2; exit 1; fi
"$work/stream_shared" "$models/gru.recur"; ran
"$work/stream_static" "$models/lstm2.recur"; ran

step "build the C tests (shared, static, ASan+UBSan) and the C++ header check"
tests=(test_stream test_misuse test_threads)
inc=(-I"$prefix/include" -Ibindings/c/tests)
static_libs=("$lib/librecur.a" -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc)
san=(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
for t in "${tests[@]}"; do
  src="bindings/c/tests/$t.c"
  cc "${cflags[@]}" "${inc[@]}" "$src" -L"$lib" -lrecur -lpthread -Wl,-rpath,"$lib" -o "$work/$t.shared"
  cc "${cflags[@]}" "${inc[@]}" "$src" "${static_libs[@]}" -o "$work/$t.static"
  # ASan: the sanitizer runtime is linked into the (instrumented) test executable, so it
  # is loaded first and intercepts malloc/free for the uninstrumented Rust code as well,
  # whether librecur is linked statically or as the .so (no LD_PRELOAD needed; that is
  # only for an uninstrumented executable).
  cc "${cflags[@]}" "${san[@]}" "${inc[@]}" "$src" "${static_libs[@]}" -o "$work/$t.asan_static"
  cc "${cflags[@]}" "${san[@]}" "${inc[@]}" "$src" -L"$lib" -lrecur -lpthread -Wl,-rpath,"$lib" \
    -o "$work/$t.asan_shared"
done
c++ -std=c++11 -Wall -Wextra -Werror -pedantic -I"$prefix/include" bindings/c/tests/header_cpp.cpp \
  -L"$lib" -lrecur -Wl,-rpath,"$lib" -o "$work/header_cpp"
"$work/header_cpp"; ran

step "C tests against librecur.so and librecur.a"
for t in "${tests[@]}"; do
  "$work/$t.shared" "$models"; ran
  "$work/$t.static" "$models"; ran
done

step "C tests under every kernel set this CPU has: the same bits"
digests=""
for isa in scalar portable avx2 avx512 neon; do
  rc=0
  RECUR_ISA=$isa "$work/test_stream.shared" "$models" >"$work/isa.log" 2>&1 || rc=$?
  if grep -q "kernel set '$isa' is not available" "$work/isa.log"; then
    echo "$isa: not on this CPU"
    continue
  fi
  cat "$work/isa.log"
  [ $rc -eq 0 ] || exit $rc
  ran
  d="$(grep '^digest ' "$work/isa.log")"
  if [ -z "$digests" ]; then
    digests="$d"
  elif [ "$d" != "$digests" ]; then
    echo "kernel set $isa gives other outputs:" >&2
    diff <(echo "$digests") <(echo "$d") >&2 || true
    exit 1
  fi
  RECUR_ISA=$isa "$work/test_threads.shared" "$models"; ran
done

step "C tests under AddressSanitizer + UndefinedBehaviorSanitizer"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for t in "${tests[@]}"; do
  "$work/$t.asan_static" "$models"; ran
  "$work/$t.asan_shared" "$models"; ran
done
unset ASAN_OPTIONS UBSAN_OPTIONS

step "C tests under valgrind"
vg=(valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect
  --show-leak-kinds=definite,indirect)
vgrun() {
  local name="$1"; shift
  local rc=0
  RECUR_TEST_FRAMES=12 "${vg[@]}" --log-file="$work/vg.$name.log" "$@" || rc=$?
  echo "valgrind $name: $(grep -h 'ERROR SUMMARY' "$work/vg.$name.log" | sed 's/^==[0-9]*== //; s/ (suppressed.*//'); \
$(grep -hE 'definitely lost|indirectly lost' "$work/vg.$name.log" | sed 's/^==[0-9]*== *//' | tr '\n' ';')"
  if [ $rc -ne 0 ]; then cat "$work/vg.$name.log" >&2; exit $rc; fi
  ran
}
for t in "${tests[@]}"; do
  vgrun "$t" "$work/$t.shared" "$models"
done
vgrun stream "$work/stream_static" "$models/gru.recur"

step "the cost of the boundary (informational)"
"$target_dir/release/examples/overhead" "$lib/librecur.so" --rounds 41 --calls 1000

step "done"
echo "capi: $runs passed, 0 failed"
