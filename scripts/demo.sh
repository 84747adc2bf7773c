#!/usr/bin/env bash
# The main job on a fresh machine: install, build, fetch the embedded MNIST
# digits, train CSC-CTRL on them (≤ 10 minutes of training on this CPU, or on
# a GPU when present), evaluate, and write runs/demo/report.html.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
"$root/scripts/setup.sh"
BUILD_TARGET="${BUILD_TARGET:-sparseloop_cli}" "$root/scripts/build.sh"
bin="${BUILD_DIR:-$root/build}/bin/sparseloop"
export SPARSELOOP_DATA="${SPARSELOOP_DATA:-$root/data}"
run="${DEMO_RUN:-$root/runs/demo}"
minutes="${DEMO_MINUTES:-9}"

echo "== fetching the embedded MNIST digits into $SPARSELOOP_DATA" >&2
"$bin" data fetch --out "$SPARSELOOP_DATA" --skip-photos

echo "== training CSC-CTRL on them (at most $minutes minutes) -> $run" >&2
rm -rf "$run"
"$bin" train --preset mnist-csc-ctrl --out "$run" --time-limit $((minutes * 60))

echo "== evaluating" >&2
"$bin" eval --run "$run" --json | tee "$run/eval.stdout.json"

echo "== pictures and report" >&2
"$bin" reconstruct --run "$run"
"$bin" report --run "$run"

# Top-level keys only (two spaces in): eval.json also nests the baselines' psnr.
acc=$(grep -oE '^  "consistency_accuracy": *[0-9.]+' "$run/eval.json" | grep -oE '[0-9.]+$' | head -1 || echo "?")
psnr=$(grep -oE '^  "psnr": *[0-9.]+' "$run/eval.json" | grep -oE '[0-9.]+$' | head -1 || echo "?")
psnr=$(awk -v p="$psnr" 'BEGIN { if (p + 0 > 0) printf "%.2f", p; else print p }')
echo "== done: consistency accuracy $acc (target >= 0.80), PSNR $psnr dB on the 2000 test digits" >&2
if awk -v a="$acc" 'BEGIN { exit !(a + 0 < 0.80) }'; then
  echo "== note: below the 0.80 target for this run; see docs/results.md for what to expect" >&2
fi
echo "== open $run/report.html" >&2
