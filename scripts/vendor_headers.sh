#!/usr/bin/env bash
# Copies the header-only dependencies (CLI11, toml++, nlohmann/json, stb) into
# third_party/include so that the tree can be built on a machine without a
# package manager (a GPU box): carry third_party/ along with the tree.
# CMake prefers third_party/include over the system's headers when present.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dst="$root/third_party/include"
mkdir -p "$dst"
for d in CLI toml++ nlohmann stb; do
  if [[ -d /usr/include/$d ]]; then
    rm -rf "${dst:?}/$d"; cp -r "/usr/include/$d" "$dst/"
  else
    echo "vendor_headers: /usr/include/$d not found; run scripts/setup.sh first" >&2
    exit 2
  fi
done
echo "vendor_headers: copied to $dst" >&2
