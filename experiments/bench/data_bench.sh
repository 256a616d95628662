#!/usr/bin/env bash
# Image-folder input throughput, bcbp against PyTorch's DataLoader, on the GPU machine (docs/data.md), < 3 minutes:
#   1. generates an ImageNet-like folder under /tmp (20,000 train + 1,000 val JPEGs of 500x375 in 100 classes;
#      nothing can be downloaded there),
#   2. checks that bcbp's CUDA path (page-locked slots, async copies) gives the batches of its CPU path,
#   3. bcbp bench-data on CUDA with WORKERS decode threads (3 epochs: the first includes warm-up), and each decoder
#      route timed on one thread (--decode-routes: what each step saves), then with WORKERS/2 threads,
#   4. experiments/pytorch_reference/data_throughput.py with the same workers, batch sizes and folder, uint8 and
#      float variants (2 epochs each),
# and writes ONE file, OUTDIR/data_summary.json: the table, the check, the folder, and every run's own JSON (the
# device tool brings back few files). Needs the bundle: bash build/gpu-bundle.sh Bcbp.Training -p:TorchBackend=external
# (carry .gpu). Usage: WORKERS=16 bash experiments/bench/data_bench.sh [OUTDIR]   (OUTDIR defaults to $OUT)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-${OUT:?give the output folder or set OUT}}
workers=${WORKERS:-$(nproc)}
train=${TRAIN:-20000}
root=${ROOT:-/tmp/bcbp-jpegs}
runs=/tmp/bcbp-data-bench
mkdir -p "$out" "$runs"
export PYTHONUNBUFFERED=1
echo "== $(nproc) cores, $workers workers; $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null || echo no GPU)"
start=$(date +%s)
python3 experiments/bench/make_jpeg_folder.py "$root" --train "$train" --val 1000 --classes 100 | tee "$runs/folder.json"
echo "== folder written in $(( $(date +%s) - start )) s"
sets=(--set data.dataset=image_folder --set "data.root=$root" --set "data.workers=$workers" --set data.batch_size=256
      --set data.eval_batch_size=256 --set data.augment=true --set data.num_train=0 --set data.num_test=0
      --set model.in_channels=3)

echo "== check: the CUDA path (page-locked slots, async copies) gives the batches of the CPU path"
for device in cpu cuda; do
  bash .gpu/run.sh bench-data --config configs/quick.json "${sets[@]}" --set data.num_train=1024 --set data.num_test=256 \
    --device $device --epochs 1 | grep '^epoch' | tee "$runs/check_$device.txt"
done
# The last training batch's mean and std (same seed: the same images, crops and flips) must agree on both devices.
stats() { grep -o 'mean [-0-9.]*, std [0-9.]*' "$1" || true; }
if [ -n "$(stats "$runs/check_cpu.txt")" ] && [ "$(stats "$runs/check_cpu.txt")" = "$(stats "$runs/check_cuda.txt")" ]; then
  echo "OK: CPU and CUDA batches agree ($(stats "$runs/check_cuda.txt"))" | tee "$runs/check.txt"
else
  echo "MISMATCH: CPU $(stats "$runs/check_cpu.txt"), CUDA $(stats "$runs/check_cuda.txt")" | tee "$runs/check.txt"
fi

echo "== bcbp, $workers workers"
bash .gpu/run.sh bench-data --config configs/quick.json "${sets[@]}" --device cuda --epochs 3 --decode-routes 500 \
  --output "$runs/bcbp.json" | grep '^epoch\|^decode\|^image_folder'
half=$(( workers / 2 > 0 ? workers / 2 : 1 ))
echo "== bcbp, $half workers (how decoding scales with cores)"
bash .gpu/run.sh bench-data --config configs/quick.json "${sets[@]}" --set "data.workers=$half" --device cuda --epochs 2 \
  --output "$runs/bcbp_half_workers.json" | grep '^epoch'
for variant in uint8 float; do
  echo "== PyTorch DataLoader, $workers workers, $variant"
  python3 experiments/pytorch_reference/data_throughput.py "$root" --workers "$workers" --batch 256 --eval-batch 256 \
    --epochs 2 --variant "$variant" --device cuda --output "$runs/pytorch_$variant.json" | grep '^epoch\|classes'
done

python3 - "$runs" "$out/data_summary.json" <<'PY'
import json, os, sys
runs, target = sys.argv[1], sys.argv[2]
load = lambda name: json.load(open(os.path.join(runs, name)))
after = lambda v: v[1:] or v  # the epochs after the first (warm-up: JIT, worker start, page-locked slots)
mean = lambda v: sum(after(v)) / len(after(v))
raw = {"bcbp": load("bcbp.json"), "bcbp_half_workers": load("bcbp_half_workers.json"),
       "pytorch_uint8": load("pytorch_uint8.json"), "pytorch_float": load("pytorch_float.json")}
table = {}
for name, r in raw.items():
    table[name] = {"workers": r["workers"], "train_img_s": round(mean(r["train_images_per_second"])),
                   "eval_img_s": round(mean(r["eval_images_per_second"]))}
    print(f"{name:18s} {r['workers']:3d} workers   train {table[name]['train_img_s']:8d} img/s   eval {table[name]['eval_img_s']:8d} img/s")
best = max(table["pytorch_uint8"]["train_img_s"], table["pytorch_float"]["train_img_s"])
ratio = table["bcbp"]["train_img_s"] / best
print(f"bcbp / best PyTorch DataLoader (train): {ratio:.2f}x; goal >= 2x and >= 4,700 img/s")
summary = {"table": table, "train_ratio_vs_best_pytorch": round(ratio, 3),
           "check": open(os.path.join(runs, "check.txt")).read().strip(), "folder": load("folder.json"),
           "decode_ms_per_image": raw["bcbp"].get("decode_ms_per_image"), "runs": raw}
with open(target, "w") as f:
    json.dump(summary, f, indent=2)
print(f"wrote {target}")
PY
echo "== done in $(( $(date +%s) - start )) s"
