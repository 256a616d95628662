#!/usr/bin/env bash
# Image-folder input throughput, bcbp against PyTorch's DataLoader, on the GPU machine (docs/data.md), < 3 minutes:
#   1. generates an ImageNet-like folder under /tmp (20,000 train + 1,000 val JPEGs of 500x375 in 100 classes;
#      nothing can be downloaded there),
#   2. bcbp bench-data on CUDA with WORKERS decode threads (3 epochs: the first includes warm-up), and each decoder
#      route timed on one thread (--decode-routes: what each step saves), then with WORKERS/2 threads,
#   3. experiments/pytorch_reference/data_throughput.py with the same workers, batch sizes and folder, uint8 and
#      float variants (2 epochs each),
# and writes every JSON under $OUT. Needs the bundle: bash build/gpu-bundle.sh Bcbp.Training -p:TorchBackend=external
# (carry .gpu). Usage: OUT=dir WORKERS=16 bash experiments/bench/data_bench.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:?set OUT to the folder for the JSON files}
workers=${WORKERS:-$(nproc)}
train=${TRAIN:-20000}
root=${ROOT:-/tmp/bcbp-jpegs}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
echo "== $(nproc) cores, $workers workers; $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null || echo no GPU)"
start=$(date +%s)
python3 experiments/bench/make_jpeg_folder.py "$root" --train "$train" --val 1000 --classes 100 | tee "$out/folder.json"
echo "== folder written in $(( $(date +%s) - start )) s"
sets=(--set data.dataset=image_folder --set "data.root=$root" --set "data.workers=$workers" --set data.batch_size=256
      --set data.eval_batch_size=256 --set data.augment=true --set data.num_train=0 --set data.num_test=0)
echo "== check: the CUDA path (page-locked slots, async copies) gives the batches of the CPU path"
for device in cpu cuda; do
  bash .gpu/run.sh bench-data --config configs/quick.json "${sets[@]}" --set data.num_train=1024 --set data.num_test=256 \
    --set model.in_channels=3 --device $device --epochs 1 | grep '^epoch' | tee "/tmp/check_$device.txt"
done
# The last training batch's mean and std (same seed: the same images, crops and flips) must agree on both devices.
stats() { grep -o 'mean [-0-9.]*, std [0-9.]*' "$1"; }
if [ -n "$(stats /tmp/check_cpu.txt)" ] && [ "$(stats /tmp/check_cpu.txt)" = "$(stats /tmp/check_cuda.txt)" ]; then
  echo "check: OK, CPU and CUDA batches agree ($(stats /tmp/check_cuda.txt))" | tee "$out/check.txt"
else
  echo "check: MISMATCH, CPU: $(stats /tmp/check_cpu.txt) CUDA: $(stats /tmp/check_cuda.txt)" | tee "$out/check.txt"
fi
bash .gpu/run.sh bench-data --config configs/quick.json "${sets[@]}" --set model.in_channels=3 --device cuda --epochs 3 \
  --decode-routes 500 --output "$out/data_bcbp.json" | grep -v '^ \|^{\|^}'
for variant in uint8 float; do
  python3 experiments/pytorch_reference/data_throughput.py "$root" --workers "$workers" --batch 256 --eval-batch 256 \
    --epochs 2 --variant "$variant" --device cuda --output "$out/data_pytorch_$variant.json" | grep -v '^ \|^{\|^}'
done
half=$(( workers / 2 > 0 ? workers / 2 : 1 ))
echo "== bcbp with $half workers (how decoding scales with cores)"
bash .gpu/run.sh bench-data --config configs/quick.json "${sets[@]}" --set model.in_channels=3 --set "data.workers=$half" \
  --device cuda --epochs 2 --output "$out/data_bcbp_half_workers.json" | grep '^epoch'
python3 - "$out" <<'PY'
import json, sys, os
out = sys.argv[1]
rows = {"bcbp": "data_bcbp.json", "pytorch uint8": "data_pytorch_uint8.json", "pytorch float": "data_pytorch_float.json"}
summary = {}
for name, f in rows.items():
    r = json.load(open(os.path.join(out, f)))
    after = lambda v: v[1:] or v  # the epochs after the first (warm-up: JIT, worker start, file cache)
    mean = lambda v: sum(after(v)) / len(after(v))
    summary[name] = {"train_img_s": mean(r["train_images_per_second"]), "eval_img_s": mean(r["eval_images_per_second"]),
                     "workers": r["workers"]}
    print(f"{name:14s} train {summary[name]['train_img_s']:8.0f} img/s   eval {summary[name]['eval_img_s']:8.0f} img/s")
best = max(summary["pytorch uint8"]["train_img_s"], summary["pytorch float"]["train_img_s"])
summary["train_ratio_vs_best_pytorch"] = summary["bcbp"]["train_img_s"] / best
print(f"bcbp / best PyTorch (train): {summary['train_ratio_vs_best_pytorch']:.2f}x")
json.dump(summary, open(os.path.join(out, "data_summary.json"), "w"), indent=2)
PY
echo "== done in $(( $(date +%s) - start )) s"
