#!/usr/bin/env bash
# World size 1 through NCCL gives the plain trainer's weights (same seed): issue 11's first "must be shown".
# Run on the one-GPU machine after `bash build/gpu-bundle.sh Bcbp.Training -p:TorchBackend=external` (docs/gpu.md):
#   bash experiments/bench/nccl_world1.sh
# It trains the same small config four times: plain, plain again (cuDNN's run-to-run noise), and twice as a job of one
# rank through the NCCL collective (bcbp train --gpus 1 with BCBP_DIST_FORCE=1: initial broadcast of weights and
# buffers, buffer broadcast before every step and after every epoch, all-reduce (ncclAvg) of the flat gradient's
# buckets on our own CUDA stream, evaluation sums all-reduced): once with the all-reduce overlapping backward (the
# default, train.overlap_reduce=true) and once after backward (train.overlap_reduce=false). It prints, and writes to
# $OUT/nccl_world1.txt, the largest weight difference of each NCCL run against plain, and PASS for each when it is
# within the plain-vs-plain noise (or 0).
set -euo pipefail
OUT=${OUT:-runs/nccl_world1}
mkdir -p "$OUT"
RUN=${RUN:-bash .gpu/run.sh}
RUNS=$(mktemp -d)
SETS=(--set data.dataset=synthetic --set data.num_train=${NTRAIN:-4096} --set data.num_test=1024 --set data.image_size=32
      --set model.arch=resnet20 --set model.num_classes=10 --set model.in_channels=3 --set data.num_classes=10 --set data.channels=3
      --set train.epochs=${EPOCHS:-2} --set data.batch_size=128 --set seed=7 --set output_dir="$RUNS" --set log.tensorboard=false)
{
  echo "== nvidia-smi"; nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
  $RUN train --config configs/quick.json --device cuda --no-progress "${SETS[@]}" --set name=plain
  $RUN train --config configs/quick.json --device cuda --no-progress "${SETS[@]}" --set name=plain_again
  BCBP_DIST_FORCE=1 $RUN train --config configs/quick.json --device cuda --no-progress --gpus 1 "${SETS[@]}" --set name=nccl
  BCBP_DIST_FORCE=1 $RUN train --config configs/quick.json --device cuda --no-progress --gpus 1 "${SETS[@]}" --set name=nccl_after \
    --set train.overlap_reduce=false
  for n in nccl nccl_after; do
    grep -h "Data parallel" "$RUNS/$n/run.log" || { echo "FAIL: the $n run did not train through the collective"; exit 1; }
  done
  python3 - "$RUNS" <<'PY'
import sys, torch
runs = sys.argv[1]
def load(name):
    sd = torch.load(f"{runs}/{name}/model.pt", map_location="cpu", weights_only=False)
    return {k: v.double() for k, v in sd.items() if v.is_floating_point()}
plain, again = load("plain"), load("plain_again")
def diff(a, b): return max((a[k] - b[k]).abs().max().item() for k in a)
noise = diff(plain, again)
print(f"tensors {len(plain)}; max |plain - plain_again| = {noise:.3e}")
failed = False
for name, what in (("nccl", "overlapped all-reduce (train.overlap_reduce=true)"), ("nccl_after", "all-reduce after backward (train.overlap_reduce=false)")):
    d = diff(plain, load(name))
    ok = d <= max(noise * 2, 0.0) or d == 0.0
    failed |= not ok
    print(f"max |plain - {name}| = {d:.3e}: " + (f"PASS: world size 1 through NCCL, {what}, gives the plain trainer's weights" +
          (" bit for bit" if d == 0 else " within run-to-run noise") if ok else
          f"FAIL: NCCL world size 1, {what}, differs from the plain trainer by more than its run-to-run noise"))
import json
for n in ("plain", "nccl", "nccl_after"):
    r = json.load(open(f"{runs}/{n}/results.json")); print(f"{n}: top-1 {r['top1']:.2f}%")
sys.exit(1 if failed else 0)
PY
} 2>&1 | tee "$OUT/nccl_world1.txt"
