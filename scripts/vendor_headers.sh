#!/usr/bin/env bash
# Copies what a build needs beyond LibTorch into third_party/, so the tree
# builds on a machine without a package manager (a GPU box): carry
# third_party/ along with the tree.
#   third_party/include    CLI11, toml++, nlohmann/json, stb, zlib's headers
#   third_party/googletest GoogleTest's sources (tests/ builds them when the
#                          machine has no GTest package)
# CMake prefers third_party/include over the system's headers when present.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dst="$root/third_party/include"
mkdir -p "$dst"
missing() {
  echo "vendor_headers: $1 not found; run scripts/setup.sh first" >&2
  exit 2
}
for d in CLI toml++ nlohmann stb; do
  [[ -d /usr/include/$d ]] || missing "/usr/include/$d"
  rm -rf "${dst:?}/$d"
  cp -r "/usr/include/$d" "$dst/"
done
for f in zlib.h zconf.h; do
  [[ -f /usr/include/$f ]] || missing "/usr/include/$f"
  cp "/usr/include/$f" "$dst/"
done
[[ -d /usr/src/googletest ]] || missing "/usr/src/googletest"
rm -rf "$root/third_party/googletest"
cp -r /usr/src/googletest "$root/third_party/googletest"
echo "vendor_headers: copied to $root/third_party" >&2
