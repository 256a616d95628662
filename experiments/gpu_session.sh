#!/usr/bin/env bash
# Every GPU measurement the open issues ask for, as parts of a 30-minute device session. Several parts may share one
# device call (each call stays under the device's 10-minute limit; carry [".gpu"] and run from the repository root):
#
#   bash build/gpu-bundle.sh Bcbp.Training -p:TorchBackend=external     # here, once, before the first call
#   bash experiments/gpu_session.sh smoke          # ~4 min: every new GPU path once, small (first run of new code)
#   bash experiments/gpu_session.sh verify         # 1-5 min (a fresh machine compiles every kernel first): every kernel and the whole-model plan against float32 (VERIFY_ENV: again under those settings)
#   bash experiments/gpu_session.sh engine data    # ~4 + ~3 min: bench e2e + PyTorch eager/CUDA-graph + summary; image pipeline + a JPEG-fed epoch
#   bash experiments/gpu_session.sh train grid     # ~3 + ~4 min: training vs PyTorch; quick grid --sparse-eval + its baselines
#   bash experiments/gpu_session.sh amp            # ~2 min: bf16 vs fp32 accuracy, 3 seeds
#   bash experiments/gpu_session.sh paper          # ~5-7 min: the CIFAR-grid stand-in --sparse-eval, PyTorch baselines, report
#   bash experiments/gpu_session.sh profile        # ~1 min: ResNet-50 75% plan at b1/32/256, each launch timed
#   bash experiments/gpu_session.sh tune           # ~2 min: the ResNet-50 75% plan (b1, b256) under each mma.sync block shape in TUNE_SHAPES
#   bash experiments/gpu_session.sh ncu            # ~3 min: Nsight Compute counters of our kernels on ResNet-50's layers (75%, b256)
#   bash experiments/gpu_session.sh nccl           # ~1 min: world size 1 through NCCL gives the plain trainer's weights
#   bash experiments/gpu_session.sh compile        # ~10 min: torch.compile max-autotune at batch 1 and 256 (COMPILE_BATCH; inductor cache)
#
# Each part writes under $OUT/PART/ and is then packed into ONE file, $OUT/PART.tar.gz (the device tool brings back at
# most 8 files). Steps are cut to fit DEADLINE (570 s) for the whole call, so the parts already run are still packed.
# A failing step is reported and the part goes on; the last line says how many steps failed.
# Publishing into experiments/results/ is done afterwards, deliberately, from what came back.
set -uo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || { echo "usage: gpu_session.sh PART... (smoke, verify, engine, profile, tune, ncu, data, train, grid, amp, paper, nccl, compile)" >&2; exit 2; }
: "${OUT:?set OUT (the device tool sets it)}"
[ -x .gpu/run.sh ] || { echo "gpu_session: .gpu/run.sh is missing: bash build/gpu-bundle.sh Bcbp.Training -p:TorchBackend=external" >&2; exit 2; }
export BCBP_KERNEL_CACHE=${BCBP_KERNEL_CACHE:-/tmp/bcbp-kernels}
parts="smoke verify engine profile tune ncu data train grid amp paper nccl compile"
for part in "$@"; do
  [[ " $parts " == *" $part "* ]] || { echo "gpu_session: unknown part '$part' (${parts// /, })" >&2; exit 2; }
  # The bundle script rebuilds .gpu/ and leaves the data out: refuse before any step runs, not after cell 1 fails.
  if [[ " amp grid paper " == *" $part "* ]] && ! ls .gpu/data/train-images-idx3-ubyte* >/dev/null 2>&1; then
    echo "gpu_session: part '$part' needs Fashion-MNIST in .gpu/data: python3 experiments/bench/idx_subset.py /usr/share/datasets/fashion-mnist .gpu/data --train 20000 --test 10000" >&2
    exit 2
  fi
done
failed=0
started=$(date +%s)
deadline=${DEADLINE:-570}  # seconds for the whole call: under the device's 600 s, so the last part is still packed
step() {  # step NAME SECONDS COMMAND...: output in $out/NAME.log, the tail shown; a failure is counted
  local name=$1 limit=$2; shift 2
  local left=$(( deadline - ($(date +%s) - started) - 15 ))
  if [ $left -lt 10 ]; then echo "gpu_session: $name skipped (the call's ${deadline} s are spent)"; failed=$((failed + 1)); return; fi
  [ $limit -le $left ] || limit=$left
  echo "== $name ($(date +%T), up to ${limit} s)"
  timeout "$limit" "$@" > "$out/$name.log" 2>&1; local rc=$?
  tail -n "${TAIL:-6}" "$out/$name.log"
  [ $rc -eq 0 ] || { echo "gpu_session: $name failed (exit $rc)"; failed=$((failed + 1)); }
}
run_part() {
out=$OUT/$part
mkdir -p "$out"
{ nvidia-smi -L; python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())'; git rev-parse HEAD 2>/dev/null; } > "$out/env.txt" 2>&1
# A fresh machine compiles every kernel at first use, one at a time (verify: ~4 min). With the list of variants an
# earlier call's runs compiled (experiments/kernel_variants.txt, committed from a part's variants.txt), they are
# compiled first, all cores at once (bcbp kernels --compile), once per call.
if [ -z "${kernels_done:-}" ] && [ -f experiments/kernel_variants.txt ]; then
  kernels_done=1
  step kernels 240 bash .gpu/run.sh kernels --compile experiments/kernel_variants.txt --device cuda
fi
case $part in
smoke)
  step verify 330 bash .gpu/run.sh verify
  grep -E "^FAIL|plan " "$out/verify.log" | head -40
  step bench 120 bash .gpu/run.sh bench --out "$out/bench" --layers no --e2e-model resnet50,resnet56 --e2e-batch 1,256 \
       --e2e-sparsity 0.75 --iters 5
  grep -E "plan" "$out/bench.log" | head -10
  for amp in "off" "bf16 --channels-last"; do
    step "train_r56_${amp%% *}" 60 bash .gpu/run.sh bench-train --arch resnet56 --image-size 32 --classes 10 --batch 128 \
         --warmup 5 --steps 20 --repeats 1 --amp $amp --device cuda --output "$out/train_r56_${amp%% *}.json"
  done
  step train_r50_bf16 90 bash .gpu/run.sh bench-train --arch resnet50 --image-size 224 --classes 1000 --batch 256 \
       --warmup 3 --steps 5 --repeats 1 --amp bf16 --channels-last --device cuda --output "$out/train_r50_bf16.json"
  step nccl_world1 90 env OUT="$out/nccl" NTRAIN=1024 EPOCHS=1 bash experiments/bench/nccl_world1.sh
  step data_cuda 90 bash -c 'python3 experiments/bench/make_jpeg_folder.py /tmp/smoke-jpegs --train 1024 --val 256 --classes 10 &&
    bash .gpu/run.sh bench-data --config configs/quick.json --set data.dataset=image_folder --set data.root=/tmp/smoke-jpegs \
      --set data.workers=8 --set data.batch_size=256 --set data.augment=true --set data.num_train=0 --set data.num_test=0 \
      --set model.in_channels=3 --device cuda --epochs 2'
  ;;
verify)
  step verify 330 bash .gpu/run.sh verify
  grep -E "^FAIL|plan " "$out/verify.log" | head -40
  # VERIFY_ENV="VAR=value ...": the same checks again under those settings (a block shape of Ops/KernelConfig.cs
  # before it becomes a default, e.g. VERIFY_ENV=BCBP_MMA_SHORTK=64,2,2,6,0).
  if [ -n "${VERIFY_ENV:-}" ]; then
    # Only PDL changes the kernels' options (a block shape changes which variants run, not how one is compiled).
    if [[ "$VERIFY_ENV" == *BCBP_PDL=* ]] && [ -f experiments/kernel_variants.txt ]; then
      step kernels_env 240 env $VERIFY_ENV bash .gpu/run.sh kernels --compile experiments/kernel_variants.txt --device cuda
    fi
    step verify_env 330 env $VERIFY_ENV bash .gpu/run.sh verify
    grep -E "^FAIL|checks passed" "$out/verify_env.log" | head -20
  fi
  ;;
engine)
  # LAYERS=yes adds the per-layer cases at batch 256 (ours against the ideal and cuDNN) to the same bench.json.
  # E2E_MODEL=resnet50: one model (its PyTorch baselines too), when the call's minutes are short.
  step bench 300 bash .gpu/run.sh bench --out "$out/bench" --layers ${LAYERS:-no} --batch 256 --e2e-model ${E2E_MODEL:-resnet50,resnet56,vgg16} \
       --e2e-batch 1,32,256 --e2e-sparsity ${E2E_SPARSITY:-0.5,0.75,0.875} --iters ${ITERS:-20}
  step pytorch 150 python3 experiments/bench/pytorch_baselines.py --models ${E2E_MODEL:-resnet50,vgg16,resnet56} --batch 1,32,256 \
       --variants eager,cuda_graph --out "$out/pytorch_baselines.json"
  step summary 30 python3 experiments/bench/summarize.py "$out/bench/bench.json" "$out/pytorch_baselines.json" \
       experiments/results/bench/h200-sm90/pytorch_compile_resnet50_b256.json --out "$out/summary.json"
  ;;
train)
  step train_bench 300 bash experiments/bench/train_bench.sh "$out/train_bench"
  ;;
profile)
  # Where the plan's time goes, launch by launch (bench --profile-plan: timing events, no hardware counters needed).
  step profile 200 bash .gpu/run.sh bench --out "$out/bench" --layers no --e2e-model resnet50 --e2e-batch 1,32,256 \
       --e2e-sparsity 0.75 --iters 20 --profile-plan
  grep -A12 "plan profile" "$out/profile.log" | head -45
  ;;
tune)
  # The mma.sync kernel's block shapes (Bcbp.Kernels/Ops/KernelConfig.cs: BCBP_MMA_MINB for the wide shape,
  # BCBP_MMA_SHORTK=BN,WARPS_M,WARPS_N,MINB,RES_SMEM[,RESIDUAL_ONLY] for loops of <= 4 K steps; base = the defaults,
  # sk:0 = the wide shape everywhere; nopdl = BCBP_PDL=0, plain launches instead of programmatic ones,
  # Interop/ProgrammaticLaunch.cs), each a
  # whole ResNet-50 75% plan with every launch timed and its registers and blocks per SM; the plan's rel err against
  # the fp16 model checks each shape.
  specs=${TUNE_SHAPES:-base nopdl sk:0 sk:64,2,2,6,0,0 sk:64,2,2,8,0,1 sk:64,2,2,6,1,1 sk:128,2,4,2,0,1}
  # PDL changes every kernel's options: compile them all at once first, not one by one inside the nopdl step.
  if [[ " $specs " == *" nopdl "* ]] && [ -f experiments/kernel_variants.txt ]; then
    step kernels_nopdl 240 env BCBP_PDL=0 bash .gpu/run.sh kernels --compile experiments/kernel_variants.txt --device cuda
  fi
  for spec in $specs; do
    name=${spec//[:,]/_}; envs=()
    case $spec in base) ;; nopdl) envs=(BCBP_PDL=0) ;; minb*) envs=(BCBP_MMA_MINB=${spec#minb}) ;; sk:*) envs=(BCBP_MMA_SHORTK=${spec#sk:}) ;; esac
    TAIL=0 step "tune_$name" 90 env "${envs[@]}" bash .gpu/run.sh bench --out "$out/$name" --layers no --e2e-model resnet50 \
         --e2e-batch 1,256 --e2e-sparsity 0.75 --iters 20 --profile-plan
    grep -E "end-to-end|plan profile" "$out/tune_$name.log" | sed "s/^/$name: /" | cut -c1-400
  done
  ;;
ncu)
  # Why a layer runs at its ratio to the ideal: Nsight Compute's raw counters (throughputs, occupancy, warp stalls) for
  # our kernels on ResNet-50's layers at 75%, batch 256 (the first NCU_LAUNCHES launches: 3 warm-up + 1 per case).
  step ncu 300 ncu --target-processes all -k regex:'bcbp_gemm|gather_gemm_sm90' --launch-count ${NCU_LAUNCHES:-24} \
       --section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats --section Occupancy --section LaunchStats \
       --section ComputeWorkloadAnalysis --section SchedulerStats --page raw --csv \
       bash .gpu/run.sh bench --out "$out/bench" --model resnet50 --batch 256 --sparsity 0.75 --e2e no --iters 1
  ;;
nccl)
  step nccl_world1 120 env OUT="$out/nccl" NTRAIN=2048 EPOCHS=1 bash experiments/bench/nccl_world1.sh
  ;;
data)
  step data_bench 240 env TRAIN=${TRAIN:-10000} bash experiments/bench/data_bench.sh "$out/data"
  # A real training epoch fed from that folder (issue 10: the epoch is GPU-bound when its img/s matches bench-train's
  # random-data bf16 figure): ResNet-50 bf16 + channels_last, batch 256, 3 epochs (the first warms cuDNN up).
  step jpeg_epochs 200 bash .gpu/run.sh train --config configs/quick.json --device cuda --no-progress \
       --set data.dataset=image_folder --set data.root=${ROOT:-/tmp/bcbp-jpegs} --set data.workers=$(nproc) --set data.batch_size=256 \
       --set data.eval_batch_size=256 --set data.augment=true --set data.num_train=0 --set data.num_test=0 \
       --set model.arch=resnet50 --set model.in_channels=3 --set model.num_classes=100 --set train.epochs=3 --set train.lr=0.02 \
       --set train.amp=bf16 --set train.channels_last=true --set output_dir=/tmp/jpeg-runs --set name=r50_jpeg \
       --set log.tensorboard=false --force
  grep "epoch" "$out/jpeg_epochs.log" | tail -3
  ;;
amp)
  # Fashion-MNIST comes in the bundle: python3 experiments/bench/idx_subset.py /usr/share/datasets/fashion-mnist .gpu/data --train 20000 --test 10000
  step amp_accuracy 400 bash .gpu/run.sh suite --suite experiments/amp_accuracy.json --no-progress --set data.root=.gpu/data
  step amp_report 30 python3 experiments/bench/amp_accuracy.py runs/amp_accuracy --json "$out/amp_accuracy.json"
  ;;
grid)
  step quick_grid 200 bash .gpu/run.sh suite --suite experiments/quick.json --no-progress --set device=cuda --set data.root=.gpu/data --sparse-eval
  # At the batch the sparse evaluation times (the suite's data.eval_batch_size), so the report can set them side by side.
  step quick_baselines 60 python3 experiments/bench/pytorch_baselines.py --models resnet20 --in-channels 1 --size 28 --batch 1000 \
       --variants eager,cuda_graph --out "$out/quick_baselines.json"
  step quick_report 60 bash .gpu/run.sh compare --suite experiments/quick.json --set device=cuda --set data.root=.gpu/data --bench "$out/quick_baselines.json"
  cp -r runs/quick/report "$out/quick_report" 2>/dev/null || true
  ;;
paper)
  # Issue 9 item 6: the CIFAR-grid stand-in (docs: experiments/results/paper_cifar10_fmnist_standin/NOTES.md) on the
  # new engine, each cell's sparse speed set against PyTorch's best dense model of its architecture at the same batch.
  sets=(--set data.dataset=fashion_mnist --set data.root=.gpu/data --set data.num_train=12000 --set model.in_channels=1 --set train.epochs=8
        --set prune.finetune_epochs=3 --set prune.schedule.end_epoch=2 --set prune.schedule.frequency=10)
  step paper_grid 420 bash .gpu/run.sh suite --suite experiments/paper_cifar10.json --no-progress --sparse-eval "${sets[@]}"
  step paper_baselines 90 python3 experiments/bench/pytorch_baselines.py --models resnet56,vgg16_cifar --in-channels 1 --size 28 \
       --batch 1000 --variants eager,cuda_graph --out "$out/paper_baselines.json"
  step paper_report 60 bash .gpu/run.sh compare --suite experiments/paper_cifar10.json "${sets[@]}" --bench "$out/paper_baselines.json"
  cp -r runs/paper_cifar10/report "$out/paper_report" 2>/dev/null || true
  ;;
compile)
  # The inductor cache stays outside the part's folder (it can pass the 16 MiB a returned file may have); it comes
  # back as its own file when it is small enough, to be carried next time.
  # COMPILE_BATCH=1 COMPILE_VARIANTS=eager,cuda_graph,compile: one batch size (~5 min of autotuning) with the other
  # baselines timed beside it in the same process.
  step compile 540 env TORCHINDUCTOR_CACHE_DIR=/tmp/inductor python3 experiments/bench/pytorch_baselines.py --models resnet50 \
       --batch ${COMPILE_BATCH:-1,256} --variants ${COMPILE_VARIANTS:-compile} --out "$out/pytorch_compile.json"
  tar czf "$OUT/inductor.tar.gz" -C /tmp inductor 2>/dev/null
  [ "$(stat -c %s "$OUT/inductor.tar.gz" 2>/dev/null || echo 0)" -lt 15000000 ] || { rm -f "$OUT/inductor.tar.gz"; echo "gpu_session: inductor cache over 15 MB, not returned"; }
  ;;
esac
cp "$BCBP_KERNEL_CACHE/variants.txt" "$out/variants.txt" 2>/dev/null || true   # the kernel variants compiled so far
tar czf "$OUT/$part.tar.gz" -C "$OUT" "$part" && rm -rf "$out"
echo "gpu_session $part: $failed step(s) failed so far; results in $part.tar.gz"
}
for part in "$@"; do run_part; done
[ $failed -eq 0 ]
