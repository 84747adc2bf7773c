#!/usr/bin/env bash
# Every GPU check of docs/design.md §11.6, in one call on a CUDA machine (the
# device tool's machine: PyTorch with CUDA, CMake and ninja, no package
# manager, no network). Build against the LibTorch inside PyTorch into
# build-cuda/, run the tests labelled gpu, then the benchmarks of
# docs/performance.md on the GPU; the log (gpu_check.log) and one JSON line
# per benchmark (bench.jsonl) go to ${OUT:-runs/gpu}.
#
# Prepare on a machine with Debian's packages (this project's CPU machines):
#   scripts/setup.sh && scripts/vendor_headers.sh      # fills third_party/
# then run it with third_party/ carried along, e.g. with the device tool:
#   run(command="scripts/gpu_check.sh", carry=["third_party"], timeout_s=590)
# Stages can be skipped: GPU_CHECK_SKIP="tests bench" (build always runs).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${OUT:-$root/runs/gpu}"
skip=" ${GPU_CHECK_SKIP:-} "
mkdir -p "$out"
log="$out/gpu_check.log"
exec > >(tee -a "$log") 2>&1

fail() { echo "gpu_check: $*" >&2; exit 2; }
[[ -f $root/third_party/include/zlib.h && -d $root/third_party/googletest ]] ||
  fail "third_party/ is missing or old: run scripts/vendor_headers.sh where Debian's packages are, and carry third_party"
python="${PYTHON:-python3}"
prefix="$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)')" ||
  fail "$python cannot import torch: set PYTHON to the Python that holds PyTorch"
"$python" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' ||
  fail "PyTorch sees no CUDA device"
# zlib: headers from third_party, the runtime library of the machine.
zlib="$(ldconfig -p 2>/dev/null | awk '/libz\.so\.1 .*x86-64/ {print $NF; exit}')"
[[ -n $zlib ]] || fail "no libz.so.1 on this machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$python" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())'

echo "== build (build-cuda)"
start=$SECONDS
BUILD_DIR="$root/build-cuda" JOBS="${JOBS:-$(nproc)}" "$root/scripts/build.sh" \
  -DCMAKE_PREFIX_PATH="$prefix" -DZLIB_INCLUDE_DIR="$root/third_party/include" \
  -DZLIB_LIBRARY="$zlib" -DSPARSELOOP_BUILD_BENCH=OFF
echo "build: $((SECONDS - start)) s"
bin="$root/build-cuda/bin/sparseloop"

if [[ $skip != *" tests "* ]]; then
  echo "== tests labelled gpu"
  (cd "$root/build-cuda" && ctest -L gpu --output-on-failure --timeout 300) || echo "gpu_check: GPU TESTS FAILED"
fi

if [[ $skip != *" nccl "* ]]; then
  echo "== data-parallel training, a world of one over NCCL (carry data/ for the digits)"
  if [[ -f $root/data/mnist/train-images-idx3-ubyte ]]; then
    RANK=0 WORLD_SIZE=1 LOCAL_RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=29533 \
      "$bin" train --preset mnist-csc-ctrl --device cuda --backend nccl --max-steps 50 \
      --eval-every 50 --data-dir "$root/data/mnist" --out "$root/build-cuda/nccl-run" --json \
      > "$out/nccl-run.json" && tail -c 600 "$out/nccl-run.json" || echo "gpu_check: NCCL RUN FAILED"
  else
    echo "gpu_check: no data/mnist in the tree: NCCL run skipped"
  fi
fi

if [[ $skip != *" bench "* ]]; then
  echo "== benchmarks (--device cuda)"
  # One line per bench in bench.jsonl (the device tool brings back at most 8 files).
  results="$out/bench.jsonl"
  : > "$results"
  bench() {  # NAME ARGS...
    local name=$1 json; shift
    echo "-- $name: sparseloop bench $*"
    if json="$("$bin" bench --device cuda --json "$@")"; then
      echo "$json"
      printf '{"name":"%s","args":"%s","result":%s}\n' "$name" "$*" "$json" >> "$results"
    else
      echo "gpu_check: bench $name failed"
    fi
  }
  # CSC layer (docs/design.md §11.6): one CSC layer 64→64 k3 at batch 128, 32×32.
  bench csc-layer-k10 --case csc-layer --in 64 --out 64 --batch 128 --iterations 10
  bench csc-layer-k50 --case csc-layer --in 64 --out 64 --batch 128 --iterations 50
  bench csc-layer-k50-implicit --case csc-layer --in 64 --out 64 --batch 128 --iterations 50 --backward implicit
  # SDNet (docs/design.md §11.6): training step at batch 128, 32×32, width 64, against ResNet-18.
  bench sdnet18-all-step --case sdnet-step --model sdnet18-all --batch 128 --size 32 --width 64
  bench sdnet18-step --case sdnet-step --model sdnet18 --batch 128 --size 32 --width 64
  # CSC-CTRL (docs/design.md §11.6): the game's step on CIFAR-sized images.
  bench csc-ctrl-step-512 --case csc-ctrl-step --model csc-ctrl --channels 3 --batch 512
  bench csc-ctrl-step-2000 --case csc-ctrl-step --model csc-ctrl --channels 3 --batch 2000
  bench ctrl-step-2000 --case csc-ctrl-step --model ctrl --channels 3 --batch 2000
  # VDL (docs/design.md §11.6): FISTA inference, batch 250, 784→128, 200 steps.
  bench vdl-inference --case vdl-inference
  # bf16 (issue 12, --precision): the layer and the SDNet step with bf16 operands (tensor cores).
  bench csc-layer-k10-bf16 --case csc-layer --in 64 --out 64 --batch 128 --iterations 10 --precision bf16
  bench sdnet18-all-step-bf16 --case sdnet-step --model sdnet18-all --batch 128 --size 32 --width 64 --precision bf16
fi
echo "gpu_check: done in $SECONDS s; results in $out"
