#!/usr/bin/env bash
# Training throughput and peak GPU memory, ours against PyTorch, in ONE device call (docs/gpu.md, "Training
# throughput"): ResNet-50 224x224 batch 256 (torchvision's, 1000 classes) and CIFAR ResNet-56 batch 128, each as
#   ours    fp32                 bcbp bench-train --amp off
#   ours    bf16 + channels_last bcbp bench-train --amp bf16 --channels-last
#   PyTorch fp32                 train_throughput.py --variant fp32 (PyTorch's defaults) and fp32_benchmark
#                                (cudnn.benchmark on, as our trainer sets it on CUDA: the like-for-like pair)
#   PyTorch bf16 autocast + channels_last + cudnn.benchmark   --variant bf16_autocast_channels_last
# then experiments/bench/train_summary.py over those JSONs. Everything goes under OUT (default $OUT): train/*.json and
# *.log, train_summary.json, env.txt. Each run is its own process (so each reads its own idle memory) and is kept
# short: the whole script takes about 2-3 minutes on an H200.
#
# Needs the bundle (.gpu/run.sh: bash build/gpu-bundle.sh Bcbp.Training -p:TorchBackend=external); on the device:
#   bash experiments/bench/train_bench.sh            # or: bash experiments/bench/train_bench.sh OUT_DIR
# Steps can be scaled for a longer look: R50_STEPS=40 R56_STEPS=200 bash experiments/bench/train_bench.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${1:-${OUT:?give an output folder or set OUT}}
[ -x .gpu/run.sh ] || { echo "train_bench: .gpu/run.sh is missing; make the bundle first: bash build/gpu-bundle.sh Bcbp.Training -p:TorchBackend=external" >&2; exit 2; }
mkdir -p "$out/train"
start=$(date +%s)
{ nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  python3 -c 'import torch, torchvision; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), "torchvision", torchvision.__version__)'
  git rev-parse HEAD 2>/dev/null || true; } > "$out/env.txt" 2>&1
cat "$out/env.txt"

# ResNet-50 b256 takes ~0.12 s per fp32 step and ~0.055 s per bf16 step on an H200; ResNet-56 b128 ~0.02 s.
r50="--arch resnet50 --image-size 224 --classes 1000 --batch 256 --warmup ${R50_WARMUP:-10} --steps ${R50_STEPS:-20} --repeats 3"
r56="--arch resnet56 --image-size 32 --classes 10 --batch 128 --warmup ${R56_WARMUP:-30} --steps ${R56_STEPS:-100} --repeats 3"
failed=0
. experiments/bench/logged_run.sh
run() { logged_run train_bench "$out/train" "${RUN_TIMEOUT:-150}" "$@"; }  # run NAME COMMAND...: one measurement
ours() { run "$1" bash .gpu/run.sh bench-train "${@:2}" --device cuda --output "$out/train/$1.json"; }
torch_ref() { run "$1" python3 experiments/pytorch_reference/train_throughput.py "${@:2}" --device cuda --output "$out/train/$1.json"; }

for model in r50 r56; do
  args=${!model}
  name=$([ $model = r50 ] && echo resnet50_b256 || echo resnet56_b128)
  ours      "ours_${name}_fp32"           $args --amp off
  torch_ref "pytorch_${name}_fp32"        $args --variant fp32
  torch_ref "pytorch_${name}_fp32_bench"  $args --variant fp32_benchmark   # like ours: cudnn.benchmark on
  ours      "ours_${name}_bf16_cl"        $args --amp bf16 --channels-last
  torch_ref "pytorch_${name}_bf16_cl"     $args --variant bf16_autocast_channels_last
done

python3 experiments/bench/train_summary.py --out "$out/train_summary.json" "$out/train" 2>&1 | tee "$out/train_summary.txt"
echo "train_bench: $(( $(date +%s) - start )) s, $failed failed run(s); results in $out"
[ $failed -eq 0 ]
