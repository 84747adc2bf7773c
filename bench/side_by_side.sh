#!/bin/bash
# Each `sparseloop bench` case next to its reference formulation, in one sitting, with the
# ratios (issue 12, "side by side in one run"; the numbers go to docs/performance.md):
#
#   csc-layer 64→64 and 3→64   sparseloop | D alone written plainly (conv_transpose2d, through
#                              our solver; inside the bench) | the whole layer written plainly
#                              with LibTorch (every FISTA step as tensor ops, autograd through
#                              them; inside the bench) | the SDNet
#                              authors' formulation in Python (bench/authors_csc_layer.py,
#                              Debian's python3-torch), when /usr/bin/python3 has torch
#   csc-layer, 50 steps        the checkpointed backward | autograd's (time, tensor peak)
#   vdl-inference              sparseloop | the authors' autograd-per-step loop (inside the bench)
#   sdnet-step (FULL=1)        SDNet-18-all | ResNet-18 (inside the bench: a fixed random batch,
#                              random labels at lr 0.1, the step policy's worst case)
#   SDNet in training (FULL=1, SPARSELOOP_DATA with mnist/)
#                              `train --preset mnist-sdnet` for 50 steps, SDNet-18-all | ResNet-18,
#                              median ms per step between the logs, fp32 and bf16
#   code vs scikit-learn       bench/lasso_vs_sklearn.py, when MNIST=DIR/mnist is given
#
# Every line also prints the load average, so that a figure taken while the machine was shared
# is read as such; compare ratios within a run.
#
#   bench/side_by_side.sh [BIN] [THREADS] [REPEATS]
#   FULL=1 MNIST=data/mnist bench/side_by_side.sh build/bin/sparseloop 2 5
set -euo pipefail
BIN=${1:-build/bin/sparseloop}
THREADS=${2:-2}
REPEATS=${3:-5}
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
# OMP_WAIT_POLICY is left as the caller has it: PASSIVE, once this script's default, slowed
# LibTorch's two threads 1.4–1.7× on the Xeon VMs (docs/performance.md, "bf16 products
# without conversions").

load() { cut -d' ' -f1 /proc/loadavg; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "—" }'; }
have_torch() { [ -x "$PY" ] && "$PY" -c 'import torch' 2>/dev/null; }

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; threads $THREADS; $(date -u +%FT%TZ)"
printf '%-34s %12s %12s %8s %12s %8s %12s %8s %s\n' case sparseloop plain-D ratio plain-layer ratio \
  authors-py ratio load

csc_layer() {  # IN SIZE ITERATIONS
  local l0 j py="" pf pfb
  l0=$(load)
  j=$("$BIN" bench --case csc-layer --in "$1" --out 64 --size "$2" --batch 32 --iterations "$3" \
        --repeats "$REPEATS" --threads "$THREADS" --json 2>/dev/null | tail -1)
  if have_torch; then
    py=$("$PY" "$HERE/authors_csc_layer.py" --in "$1" --out 64 --size "$2" --batch 32 \
           --iterations "$3" --repeats "$REPEATS" --threads "$THREADS")
  fi
  for phase in forward forward_backward; do
    # The two LibTorch ratios are the bench's own, medians of paired rounds (ours and both
    # references once each per round); the Python one, another process, a ratio of medians.
    local ours ref plain rr pr suffix auth="—" ar="—"
    suffix=${phase#forward}  # "" or "_backward"
    ours=$(jq -r ".${phase}_ms" <<<"$j")
    ref=$(jq -r ".reference_${phase}_ms" <<<"$j")
    plain=$(jq -r ".plain_${phase}_ms" <<<"$j")
    rr=$(jq -r ".speedup_forward${suffix}*100|round/100" <<<"$j")
    pr=$(jq -r ".speedup_vs_plain_forward${suffix}*100|round/100" <<<"$j")
    if [ -n "$py" ]; then
      auth=$(jq -r ".${phase}_ms*10|round/10" <<<"$py")
      ar=$(ratio "$auth" "$ours")
    fi
    printf '%-34s %12.1f %12.1f %7sx %12.1f %7sx %12s %7sx %s\n' "csc-layer $1→64 ${2}² K$3 $phase" \
      "$ours" "$ref" "$rr" "$plain" "$pr" "$auth" "$ar" "$l0→$(load)"
  done
  echo "  floor: forward $(jq -r '.floor_forward_ms|.*10|round/10' <<<"$j") ms, fraction $(jq -r '.fraction_of_floor_forward|.*1000|round/1000' <<<"$j"); machine $(jq -c .machine <<<"$j")"
}

csc_layer 64 16 10
csc_layer 64 32 10
csc_layer 3 32 10

l0=$(load)
j=$("$BIN" bench --case csc-layer --in 64 --out 64 --size 16 --batch 32 --iterations 50 \
      --backward checkpointed --no-reference --repeats "$REPEATS" --threads "$THREADS" --json 2>/dev/null | tail -1)
printf '%-34s %12.1f %12.1f %7sx %12s %8s %s\n' "csc-layer 64→64 16² K50 fwd+bwd ms" \
  "$(jq -r .forward_backward_ms <<<"$j")" "$(jq -r .autograd_forward_backward_ms <<<"$j")" \
  "$(ratio "$(jq -r .autograd_forward_backward_ms <<<"$j")" "$(jq -r .forward_backward_ms <<<"$j")")" "(autograd)" "" "$l0→$(load)"
printf '%-34s %12.1f %12.1f %7sx\n' "  … tensor peak MiB" \
  "$(jq -r .peak_tensor_mib <<<"$j")" "$(jq -r .autograd_peak_tensor_mib <<<"$j")" \
  "$(ratio "$(jq -r .autograd_peak_tensor_mib <<<"$j")" "$(jq -r .peak_tensor_mib <<<"$j")")"

l0=$(load)
j=$("$BIN" bench --case vdl-inference --repeats "$REPEATS" --threads 1 --json 2>/dev/null | tail -1)
printf '%-34s %12.1f %12.1f %7sx %12s %8s %s\n' "vdl-inference (1 thread)" \
  "$(jq -r .forward_ms <<<"$j")" "$(jq -r .autograd_ms <<<"$j")" \
  "$(jq -r '.speedup_vs_autograd*100|round/100' <<<"$j")" "(autograd, paired)" "" "$l0→$(load)"
echo "  floor: $(jq -r '.gemm_floor_ms|.*10|round/10' <<<"$j") ms (the step's product alone), fraction $(jq -r '.fraction_of_floor|.*100|round/100' <<<"$j")"

if [ "${FULL:-0}" = 1 ]; then
  l0=$(load)
  j=$("$BIN" bench --case sdnet-step --repeats 3 --threads "$THREADS" --json 2>/dev/null | tail -1)
  printf '%-34s %12.1f %12.1f %7sx %12s %8s %s\n' "sdnet-step sdnet18-all vs resnet18" \
    "$(jq -r .paired_forward_backward_ms <<<"$j")" \
    "$(jq -r .paired_baseline_forward_backward_ms <<<"$j")" \
    "$(jq -r '.paired_step_time_vs_baseline*100|round/100' <<<"$j")" "(ResNet, paired)" "" "$l0→$(load)"
  if [ -d "${SPARSELOOP_DATA:-}/mnist" ]; then
    tmp=$(mktemp -d)
    step_ms() {  # MODEL PRECISION: median ms per step over `train`'s logged steps
      "$BIN" train --preset mnist-sdnet --model "$1" --precision "$2" --max-steps 50 \
        --eval-every 1000 --threads "$THREADS" --out "$tmp/$1-$2" >/dev/null 2>&1
      jq -s '[.[] | select(.split == "train")] | [range(1; length) as $i |
               (.[$i].time - .[$i-1].time) / (.[$i].step - .[$i-1].step) * 1000] | sort |
               .[(length / 2 | floor)]' "$tmp/$1-$2/metrics.jsonl"
    }
    for precision in fp32 bf16; do
      l0=$(load)
      sd=$(step_ms sdnet18-all "$precision")
      rn=$(step_ms resnet18 "$precision")
      printf '%-34s %12.1f %12.1f %7sx %12s %8s %s\n' "SDNet-18-all training, $precision" "$sd" "$rn" \
        "$(ratio "$sd" "$rn")" "(ResNet-18)" "" "$l0→$(load)"
    done
    rm -rf "$tmp"
  fi
  l0=$(load)
  j=$("$BIN" bench --case csc-ctrl-step --width 32 --repeats 3 --threads "$THREADS" --json 2>/dev/null | tail -1)
  printf '%-34s %12.1f %12s %8s %12s %8s %s\n' "csc-ctrl-step width 32 (no reference)" \
    "$(jq -r .forward_backward_ms <<<"$j")" "—" "—" "—" "" "$l0→$(load)"
fi

if [ -n "${MNIST:-}" ] && [ -x "$PY" ]; then
  echo "code vs scikit-learn (bench/lasso_vs_sklearn.py, 1 thread):"
  OMP_NUM_THREADS=1 "$PY" "$HERE/lasso_vs_sklearn.py" --bin "$BIN" --mnist "$MNIST"
fi
