#!/usr/bin/env bash
# Every GPU measurement the open issues ask for, in the order of a 30-minute device session, one part per device
# call (each part stays under the device's 10-minute limit; carry [".gpu"] and run from the repository root):
#
#   bash build/gpu-bundle.sh Bcbp.Training -p:TorchBackend=external     # here, once, before the first call
#   bash experiments/gpu_session.sh engine     # ~8 min: verify (kernels + whole-model plan), bench e2e, PyTorch baselines, summary
#   bash experiments/gpu_session.sh train      # ~8 min: training throughput/memory vs PyTorch, NCCL world size 1, image pipeline
#   bash experiments/gpu_session.sh accuracy   # ~8 min: bf16 vs fp32 accuracy (3 seeds), quick grid --sparse-eval + its baselines
#   bash experiments/gpu_session.sh compile    # ~10 min: torch.compile max-autotune at batch 1 and 256 (inductor cache under $OUT)
#
# Everything is written under $OUT/PART/ (the device tool brings $OUT back). A failing step is reported and the
# part goes on; the last line says how many steps failed. Publishing into experiments/results/ is done afterwards,
# deliberately, from what came back.
set -uo pipefail
cd "$(dirname "$0")/.."
part=${1:?usage: gpu_session.sh engine|train|accuracy|compile}
out=${OUT:?set OUT (the device tool sets it)}/$part
mkdir -p "$out"
[ -x .gpu/run.sh ] || { echo "gpu_session: .gpu/run.sh is missing: bash build/gpu-bundle.sh Bcbp.Training -p:TorchBackend=external" >&2; exit 2; }
export BCBP_KERNEL_CACHE=${BCBP_KERNEL_CACHE:-/tmp/bcbp-kernels}
failed=0
step() {  # step NAME SECONDS COMMAND...: output in $out/NAME.log, the tail shown; a failure is counted
  local name=$1 limit=$2; shift 2
  echo "== $name ($(date +%T))"
  timeout "$limit" "$@" > "$out/$name.log" 2>&1; local rc=$?
  tail -n "${TAIL:-6}" "$out/$name.log"
  [ $rc -eq 0 ] || { echo "gpu_session: $name failed (exit $rc)"; failed=$((failed + 1)); }
}
{ nvidia-smi -L; python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())'; } > "$out/env.txt" 2>&1

case $part in
engine)
  step verify 150 bash .gpu/run.sh verify
  grep -E "^FAIL|plan " "$out/verify.log" | head -40
  step bench 240 bash .gpu/run.sh bench --out "$out/bench" --layers no --e2e-model resnet50,resnet56,vgg16 \
       --e2e-batch 1,8,32,256 --e2e-sparsity 0.75 --iters 20
  step pytorch 150 python3 experiments/bench/pytorch_baselines.py --models resnet50,vgg16,resnet56 --batch 1,8,32,256 \
       --variants eager,cuda_graph --out "$out/pytorch_baselines.json"
  step summary 30 python3 experiments/bench/summarize.py "$out/bench/bench.json" "$out/pytorch_baselines.json" \
       experiments/results/bench/h200-sm90/pytorch_compile_resnet50_b256.json --out "$out/summary.json"
  ;;
train)
  step train_bench 300 bash experiments/bench/train_bench.sh "$out/train_bench"
  step nccl_world1 120 env OUT="$out/nccl" NTRAIN=2048 EPOCHS=1 bash experiments/bench/nccl_world1.sh
  if [ -f experiments/bench/data_bench.sh ]; then step data_bench 200 bash experiments/bench/data_bench.sh "$out/data"; fi
  ;;
accuracy)
  # Fashion-MNIST comes in the bundle: python3 experiments/bench/idx_subset.py /usr/share/datasets/fashion-mnist .gpu/data --train 20000 --test 10000
  step amp_accuracy 330 bash .gpu/run.sh suite --suite experiments/amp_accuracy.json --no-progress --set data.root=.gpu/data
  step amp_report 30 python3 experiments/bench/amp_accuracy.py runs/amp_accuracy --json "$out/amp_accuracy.json"
  step quick_grid 150 bash .gpu/run.sh suite --suite experiments/quick.json --no-progress --set device=cuda --set data.root=.gpu/data --sparse-eval
  step quick_baselines 60 python3 experiments/bench/pytorch_baselines.py --models resnet20 --in-channels 1 --size 28 --batch 256,512 \
       --variants eager,cuda_graph --out "$out/quick_baselines.json"
  step quick_report 60 bash .gpu/run.sh compare --suite experiments/quick.json --set device=cuda --bench "$out/quick_baselines.json"
  cp -r runs/quick/report "$out/quick_report" 2>/dev/null || true
  ;;
compile)
  export TORCHINDUCTOR_CACHE_DIR=$out/inductor
  step compile 560 python3 experiments/bench/pytorch_baselines.py --models resnet50 --batch 1,256 --variants compile \
       --out "$out/pytorch_compile.json"
  ;;
*) echo "gpu_session: unknown part '$part' (engine, train, accuracy, compile)" >&2; exit 2 ;;
esac
echo "gpu_session $part: $failed step(s) failed"
