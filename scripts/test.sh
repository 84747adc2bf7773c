#!/usr/bin/env bash
# The whole test suite on a fresh machine: install, build, run every test
# (tests labelled `gpu` skip themselves when no CUDA device is present), then
# every source compiled against LibTorch 2.x's headers (scripts/check_torch2.sh,
# ≈ 11–12 min on 2 cores; CHECK_TORCH2=0 skips it).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
"$root/scripts/build.sh"
(cd "${BUILD_DIR:-$root/build}" && ctest --output-on-failure -j "${JOBS:-$(nproc)}" --timeout 900 "$@")
if [[ ${CHECK_TORCH2:-1} != 0 ]]; then "$root/scripts/check_torch2.sh"; fi
