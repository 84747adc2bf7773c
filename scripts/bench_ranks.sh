#!/usr/bin/env bash
# Step throughput of data-parallel training (docs/performance.md "Data-parallel
# training"): for each family, one process on 1 and on 2 threads and N ranks
# of 1 thread each, on the same global batch. Reads the training records'
# wall-clock times (metrics.jsonl, --log-every 1) from step SKIP to the last,
# so start-up, the first steps' warm-up and the final validation are excluded.
#   scripts/bench_ranks.sh [BIN] [DATA_DIR] [RANKS]
# Never run it beside another timed job: ranks share the cores.
set -euo pipefail
bin=${1:-build/bin/sparseloop}
data=${2:-${SPARSELOOP_DATA:-$HOME/.cache/sparseloop}/mnist}
ranks=${3:-2}
skip=3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SPARSELOOP_DATA="$work/cache"  # the CSC-CTRL judge is trained once, before any timing

declare -A args=(
  [csc-ctrl]="--preset mnist-csc-ctrl --max-steps 23 --eval-every 1000 --val-size 20 --classifier-epochs 1"
  [sdnet]="--preset mnist-sdnet --max-steps 9 --eval-every 1000 --test-limit 50"
  [vdl]="--preset mnist-vdl --max-steps 33 --eval-every 1000"
)
printf '%-9s %-22s %10s %10s %14s %12s\n' family config "img/s" "vs 1p2t" "bytes/step" "collectives"
for family in csc-ctrl sdnet vdl; do
  base=""
  for config in "1 process, 1 thread" "1 process, 2 threads" "$ranks ranks x 1 thread"; do
    case "$config" in
      "1 process, 1 thread") flags="--threads 1 --nproc 1" ;;
      "1 process, 2 threads") flags="--threads 2 --nproc 1" ;;
      *) flags="--threads 1 --nproc $ranks" ;;
    esac
    out="$work/$family-${config// /_}"
    "$bin" train ${args[$family]} --data mnist --data-dir "$data" --seed 1 --log-every 1 \
      $flags --out "$out" --json > "$out.json" 2> "$out.err" || { cat "$out.err" >&2; exit 1; }
    read -r rate bytes coll < <(python3 - "$out" "$skip" <<'PY'
import json, re, sys
run, first = sys.argv[1], int(sys.argv[2])
t = {}
for line in open(run + "/metrics.jsonl"):
    r = json.loads(line)
    if r.get("split") == "train":
        t[r["step"]] = r["time"]
last = max(t)
# The global batch, from the resolved configuration saved with the run.
b = int(re.search(r"^batch-size = (\d+)", open(run + "/config.toml").read(), re.M).group(1))
s = json.load(open(run + ".json"))
print(f"{b * (last - first) / (t[last] - t[first]):.1f}",
      int(s.get("communication_bytes_per_step", 0)), f"{s.get('collectives_per_step', 0):.1f}")
PY
)
    [ "$config" = "1 process, 2 threads" ] && base=$rate
    ratio=$( [ -n "$base" ] && python3 -c "print(f'{$rate / $base:.2f}')" || echo "-")
    printf '%-9s %-22s %10s %10s %14s %12s\n' "$family" "$config" "$rate" "$ratio" "$bytes" "$coll"
  done
done
