#!/usr/bin/env bash
# Configures and builds sparseloop into build/ (or $BUILD_DIR): everything,
# or only $BUILD_TARGET (e.g. sparseloop_cli, the program alone: the main job
# builds no tests). Extra arguments go to the CMake configure step, e.g.
#   scripts/build.sh -DCMAKE_PREFIX_PATH=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
jobs="${JOBS:-$(nproc)}"
gen=()
if command -v ninja >/dev/null 2>&1 && [[ ! -f "$build/Makefile" ]]; then gen=(-G Ninja); fi
cmake -S "$root" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" "$@" >/dev/null
cmake --build "$build" -j "$jobs" ${BUILD_TARGET:+--target "$BUILD_TARGET"}
