#!/usr/bin/env bash
# The whole test suite on a fresh machine: install, build, run every test
# (tests labelled `gpu` skip themselves when no CUDA device is present).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
"$root/scripts/build.sh"
cd "${BUILD_DIR:-$root/build}"
ctest --output-on-failure -j "${JOBS:-$(nproc)}" --timeout 900 "$@"
