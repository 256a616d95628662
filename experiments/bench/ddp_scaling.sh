#!/usr/bin/env bash
# Issue 11's multi-GPU "must be shown", for nvidia-h200-x2/-x4/-x8 when they are lent (not run yet: only one-GPU
# machines were lent). The same Fashion-MNIST run (configs/resnet20_fmnist_dense.json, global batch 128 split over
# the ranks) at N = 1, 2, 4 (8) GPUs: top-1 within noise of each other, and the job's training img/s per N.
#   bash experiments/bench/ddp_scaling.sh            # N from 1 up to the GPUs nvidia-smi lists
# Needs the .gpu bundle (docs/gpu.md) and the Fashion-MNIST files at DATA_ROOT. Writes $OUT/ddp_scaling.txt.
set -euo pipefail
OUT=${OUT:-runs/ddp_scaling}; mkdir -p "$OUT"
RUN=${RUN:-bash .gpu/run.sh}
DATA_ROOT=${DATA_ROOT:-/usr/share/datasets/fashion-mnist}
GPUS=$(nvidia-smi -L | wc -l)
RUNS=$(mktemp -d)
{
  for n in 1 2 4 8; do
    [ "$n" -le "$GPUS" ] || break
    $RUN train --config configs/resnet20_fmnist_dense.json --gpus "$n" --no-progress --set data.root="$DATA_ROOT" \
      --set output_dir="$RUNS" --set name="n$n" --set log.tensorboard=false
    python3 - "$RUNS/n$n" "$n" <<'PY'
import json, sys
run, n = sys.argv[1], int(sys.argv[2])
r = json.load(open(f"{run}/results.json")); m = json.load(open(f"{run}/metrics.json"))
ips = sorted(e["images_per_second"] for e in m)[len(m) // 2]
print(f"N={n}: top-1 {r['top1']:.2f}% ({r['test_samples']} test images), median epoch {ips:.0f} img/s, {ips / n:.0f} img/s per GPU")
PY
  done
} 2>&1 | tee "$OUT/ddp_scaling.txt"
