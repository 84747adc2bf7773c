#!/usr/bin/env bash
# Compiles every source file of the project (src/, bench/, tools/, tests/)
# against LibTorch 2.x headers, without linking: the CUDA machines build
# against the LibTorch 2.x inside their PyTorch (scripts/gpu_check.sh), this
# machine against Debian's 1.13, and the same sources must compile on both
# (docs/design.md). A break found here costs seconds; found on a lent GPU, it
# costs the session's device time. Two were (2026-12-05): c10d's process
# groups derive from Backend in 2.x, and the memory-report hook takes size_t.
#
# The headers are Debian's own: libtorch-dev of the next release (trixie,
# 2.6), fetched with apt into a private state directory (signed indexes,
# nothing installed), unpacked under $BUILD_DIR/torch2. With TORCH2_CUDA=1 it
# also fetches the CUDA flavour's headers (libtorch-cuda-dev, the CUDA
# toolkit's and NCCL's: ≈ 1 GB of downloads) and checks the files compiled
# only where LibTorch has CUDA (src/util/compat.cpp, src/engine/distributed.cpp)
# with their CUDA definitions.
#
# Usage: scripts/check_torch2.sh [FILE...]   (default: every .cpp)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="${BUILD_DIR:-$root/build}/torch2"
suite="${TORCH2_SUITE:-trixie}"
jobs="${JOBS:-$(nproc)}"
mkdir -p "$work"
cd "$root"

fail() { echo "check_torch2: $*" >&2; exit 2; }

# --- the headers, with apt (no root needed for a private state directory)
fetch() {  # COMPONENTS PACKAGE...
  local components=$1; shift
  local apt="$work/apt"
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/debs"
  echo "deb http://deb.debian.org/debian $suite $components" > "$apt/sources.list"
  local o=(-o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
           -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
           -o APT::Architectures=amd64 -o APT::Sandbox::User=root -qq)
  apt-get "${o[@]}" update || fail "apt-get update of Debian $suite failed (no network to deb.debian.org?)"
  (cd "$apt/debs" && apt-get "${o[@]}" download "$@") ||
    fail "apt-get download $* from Debian $suite failed"
}
unpack_headers() {  # DEB DEST
  mkdir -p "$2"
  # Headers only: the CUDA toolkit's libraries would be 2.5 GB unpacked.
  dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" --wildcards './usr/include/*' 2>/dev/null ||
    dpkg-deb -x "$1" "$2"
}

headers="$work/libtorch"
if [[ ! -f $headers/stamp ]]; then
  echo "check_torch2: fetching libtorch-dev from Debian $suite" >&2
  rm -rf "$headers" && fetch main libtorch-dev
  deb="$(ls "$work"/apt/debs/libtorch-dev_*.deb | tail -1)"
  unpack_headers "$deb" "$headers"
  basename "$deb" > "$headers/stamp"
  rm -f "$work"/apt/debs/*.deb
fi
inc="$headers/usr/include"
[[ -f $inc/torch/csrc/api/include/torch/version.h ]] || fail "no torch/version.h under $inc"
version="$(awk '/define TORCH_VERSION_MAJOR/{a=$3} /define TORCH_VERSION_MINOR/{b=$3} END{print a "." b}' \
  "$inc/torch/csrc/api/include/torch/version.h")"
[[ ${version%%.*} -ge 2 ]] || fail "$suite's libtorch-dev is $version, not 2.x"

# The definitions and warnings of the build (CMakeLists.txt, tests/CMakeLists.txt);
# these headers come before /usr/include, which holds Debian's 1.13. C++20, as
# CMakeLists.txt builds against any LibTorch 2.x (TORCH2_STD=c++17 for the other).
flags=(-std="${TORCH2_STD:-c++20}" -fopenmp -D_GLIBCXX_USE_CXX11_ABI=1 -Wall -Wextra -Wno-unused-parameter
       -Wno-missing-field-initializers -DSPARSELOOP_HAVE_TURBOJPEG=1 -DUSE_C10D_GLOO
       -DUSE_DISTRIBUTED -DGTEST_HAS_PTHREAD=1 '-DSPARSELOOP_CLI_PATH="sparseloop"'
       '-DSPARSELOOP_DIST_WORKER_PATH="sparseloop_dist_worker"' "-DSPARSELOOP_SOURCE_DIR=\"$root\""
       -I"$root/include" -I"$root" -I"$root/tests" -I"$root/tools"
       -isystem "$inc/torch/csrc/api/include" -isystem "$inc")

# One precompiled torch/torch.h (as the build's), made with the same flags.
pch="$work/pch/torch_all.h"
mkdir -p "$(dirname "$pch")"
printf '#include <torch/torch.h>\n#include <functional>\n#include <memory>\n#include <optional>\n#include <string>\n#include <vector>\n' > "$pch"
printf '%s\n' "${flags[@]}" > "$work/flags.new"
if [[ ! -f $pch.gch || $pch.gch -ot $headers/stamp ]] || ! cmp -s "$work/flags.new" "$work/flags"; then
  g++ "${flags[@]}" -x c++-header "$pch" -o "$pch.gch.tmp" && mv "$pch.gch.tmp" "$pch.gch"
fi
mv "$work/flags.new" "$work/flags"

if (($#)); then files=("$@"); else mapfile -t files < <(find src bench tools tests -name '*.cpp' | sort); fi
logs="$work/logs"
rm -rf "$logs" && mkdir -p "$logs"
export pch logs work
check_one() {
  local f=$1 log
  log="$logs/$(echo "$f" | tr / _).log"
  mapfile -t fl < "$work/flags"
  if g++ "${fl[@]}" -include "$pch" -fsyntax-only "$f" > "$log" 2>&1; then
    [[ -s $log ]] || rm -f "$log"  # kept when it warned
  else
    echo "$f"
  fi
}
export -f check_one
echo "check_torch2: ${#files[@]} files against LibTorch $version headers ($(cat "$headers/stamp")), ${flags[0]}, $jobs at a time" >&2
start=$SECONDS
failed="$(printf '%s\n' "${files[@]}" | xargs -P "$jobs" -I{} bash -c 'check_one "$1"' _ {})"

if [[ ${TORCH2_CUDA:-0} == 1 ]]; then
  cuda="$work/cuda"
  if [[ ! -f $cuda/stamp ]]; then
    echo "check_torch2: fetching the CUDA flavour's headers from Debian $suite (≈ 1 GB)" >&2
    rm -rf "$cuda" && fetch "main contrib non-free" libtorch-cuda-dev nvidia-cuda-dev libcu++-dev libnccl-dev
    for d in "$work"/apt/debs/{libtorch-cuda-dev,nvidia-cuda-dev,libcu++-dev,libnccl-dev}_*.deb; do
      unpack_headers "$d" "$cuda"
    done
    rm -f "$work"/apt/debs/*.deb
    touch "$cuda/stamp"
  fi
  c="$cuda/usr/include"
  cflags=("${flags[@]/#$inc/$c}")  # the CUDA flavour's torch headers in place of the CPU ones
  for f in src/util/compat.cpp src/engine/distributed.cpp; do
    log="$logs/cuda_$(echo "$f" | tr / _).log"
    if g++ "${cflags[@]}" -DSPARSELOOP_WITH_CUDA=1 -DUSE_C10D_NCCL -fsyntax-only "$f" > "$log" 2>&1; then
      rm -f "$log"
    else
      failed+=$'\n'"$f (CUDA)"
    fi
  done
fi

# What 2.x deprecates, later 2.x releases remove (the CUDA machines run newer
# LibTorch than Debian ships): shown, without failing the check.
if grep -h 'Wdeprecated' "$logs"/*.log 2>/dev/null | sort -u | grep . >&2; then
  echo "check_torch2: ^ deprecated in LibTorch $version: replace before a newer 2.x removes it" >&2
fi
failed="$(sed '/^$/d' <<< "$failed")"
if [[ -n $failed ]]; then
  echo "check_torch2: these do not compile against LibTorch $version (logs under $logs):" >&2
  while read -r f; do
    echo "  $f" >&2
    grep -m3 'error' "$logs"/*"$(echo "${f% (CUDA)}" | tr / _)".log | sed 's/^/    /' >&2 || true
  done <<< "$failed"
  exit 1
fi
echo "check_torch2: all ${#files[@]} files compile against LibTorch $version ($((SECONDS - start)) s)" >&2
