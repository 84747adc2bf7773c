#!/bin/bash
# --precision bf16 against fp32 in one sitting (issue 12, "bf16 measured"): every bench case
# at both precisions with the ratio of their times and bf16's error against float64, then a
# short training run of each family's MNIST preset at both precisions with its validation
# numbers. Whether bf16 can be faster depends on the CPU: with AVX-512-BF16 or AMX oneDNN runs
# bf16 convolutions natively; without them it converts and computes in fp32 (the script prints
# which this CPU has). Compare within one run; never run it next to another job.
#
#   bench/precision.sh [BIN] [THREADS] [REPEATS] [STEPS]
#   SPARSELOOP_DATA=data bench/precision.sh build/bin/sparseloop 2 3 30
# (on a CPU without bf16 hardware a bf16 CSC-CTRL step takes ≈ 10 s: keep STEPS small)
set -euo pipefail
BIN=${1:-build/bin/sparseloop}
THREADS=${2:-2}
REPEATS=${3:-3}
STEPS=${4:-30}
# OMP_WAIT_POLICY as the caller has it (PASSIVE slowed 2 threads 1.4–1.7× on the Xeon VMs).
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

load() { cut -d' ' -f1 /proc/loadavg; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "—" }'; }
native=no
grep -qwE 'avx512_bf16|amx_bf16' /proc/cpuinfo && native=yes
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; native bf16: $native;" \
  "threads $THREADS; $(date -u +%FT%TZ)"
printf '%-40s %11s %11s %9s %13s %s\n' case fp32-ms bf16-ms bf16/fp32 bf16-rel-error load

bench() {  # LABEL FIELD ARGS...
  local label=$1 field=$2 l0 a b err
  shift 2
  l0=$(load)
  a=$("$BIN" bench "$@" --precision fp32 --repeats "$REPEATS" --threads "$THREADS" --json 2>/dev/null | tail -1)
  b=$("$BIN" bench "$@" --precision bf16 --repeats "$REPEATS" --threads "$THREADS" --json 2>/dev/null | tail -1)
  err=$(jq -r '.rel_error // "—"' <<<"$b")
  printf '%-40s %11.1f %11.1f %8sx %13s %s\n' "$label" "$(jq -r ".$field" <<<"$a")" \
    "$(jq -r ".$field" <<<"$b")" "$(ratio "$(jq -r ".$field" <<<"$b")" "$(jq -r ".$field" <<<"$a")")" \
    "$err" "$l0→$(load)"
}

bench "csc-layer 64→64 16² K10 fwd+bwd" forward_backward_ms \
  --case csc-layer --in 64 --out 64 --size 16 --batch 32 --iterations 10 --no-reference
bench "csc-layer 3→64 32² K10 fwd+bwd" forward_backward_ms \
  --case csc-layer --in 3 --out 64 --size 32 --batch 32 --iterations 10 --no-reference
bench "csc-ctrl-step width 32 b64" forward_backward_ms --case csc-ctrl-step --width 32
bench "sdnet-step sdnet18-all width 16 b128" forward_backward_ms \
  --case sdnet-step --model sdnet18-all --width 16 --no-reference
bench "vdl-inference b250 784→128 K200" forward_ms --case vdl-inference

# Short training runs: the first STEPS steps of each family's MNIST preset, validated at the end.
echo
printf '%-14s %-6s %9s  %s\n' preset prec seconds "validation (last)"
for preset in mnist-csc-ctrl mnist-sdnet mnist-vdl; do
  for prec in fp32 bf16; do
    t0=$(date +%s.%N)
    "$BIN" train --preset "$preset" --out "$WORK/$preset-$prec" --max-steps "$STEPS" \
      --eval-every "$STEPS" --threads "$THREADS" --precision "$prec" --json >"$WORK/out.json" \
      2>"$WORK/err.txt" || { echo "$preset $prec failed:"; tail -3 "$WORK/err.txt"; continue; }
    t1=$(date +%s.%N)
    printf '%-14s %-6s %9.1f  %s\n' "$preset" "$prec" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" \
      "$(jq -c '.last // .final_validation // .validation // {} | with_entries(select(.value|type=="number"))' "$WORK/out.json")"
  done
done
