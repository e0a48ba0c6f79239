#!/usr/bin/env bash
# Installs librecur (shared and static), recur.h and recur.pc under a prefix.
#
#   cargo build --release -p recur-capi
#   bindings/c/install.sh [--prefix /usr/local] [--target-dir target] [--destdir DIR]
#
# Layout: PREFIX/include/recur.h, PREFIX/lib/librecur.{so,a},
# PREFIX/lib/pkgconfig/recur.pc. DESTDIR stages the files under another root (for
# packaging); the .pc file still names PREFIX.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
prefix=/usr/local
target_dir="${CARGO_TARGET_DIR:-$here/../../target}"
destdir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="$2"; shift 2 ;;
    --target-dir) target_dir="$2"; shift 2 ;;
    --destdir) destdir="$2"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
lib="$target_dir/release"
for f in librecur.so librecur.a; do
  [ -f "$lib/$f" ] || { echo "install.sh: $lib/$f is missing: run cargo build --release -p recur-capi" >&2; exit 1; }
done
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$here/../../Cargo.toml" | head -n1)"
# What rustc links into a staticlib on this platform (`--print native-static-libs`).
case "$(uname -s)" in
  Linux) native="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc" ;;
  *) native="-lpthread -lm -ldl -lc" ;;
esac
root="$destdir$prefix"
install -d "$root/include" "$root/lib/pkgconfig"
install -m 0644 "$here/include/recur.h" "$root/include/recur.h"
install -m 0755 "$lib/librecur.so" "$root/lib/librecur.so"
install -m 0644 "$lib/librecur.a" "$root/lib/librecur.a"
sed -e "s|@PREFIX@|$prefix|g" -e "s|@VERSION@|$version|g" -e "s|@NATIVE_STATIC_LIBS@|$native|g" \
  "$here/recur.pc.in" > "$root/lib/pkgconfig/recur.pc"
echo "installed librecur $version under $root"
