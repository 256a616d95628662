#!/usr/bin/env bash
# Issue 11's data-parallel throughput against PyTorch DDP, on an nvidia-h200-x2/-x4/-x8 machine (NOT RUN YET: no
# multi-GPU machine was lent when it was written; docs/distributed.md). ResNet-50 224x224, 1000 classes, random data,
# BATCH images per GPU and step, for N = 1, 2, 4, 8 GPUs (as many as nvidia-smi lists) and two variants:
#   ours    fp32                  bcbp bench-train --gpus N --amp off
#   ours    bf16 + channels_last  bcbp bench-train --gpus N --amp bf16 --channels-last
#   PyTorch fp32                  torchrun --nproc-per-node N ddp_throughput.py --variant fp32
#   PyTorch bf16 autocast + channels_last + cudnn.benchmark   --variant bf16_autocast_channels_last
# Ours overlaps the all-reduce with backward (train.overlap_reduce); OVERLAP=0 measures ours with the all-reduce after
# backward instead (--reduce-after-backward). Global and per-GPU img/s are medians of synchronized windows; scaling
# efficiency(N) = img/s(N) / (N x img/s(1)) of the same framework and variant. Goal (issue 11): >= 90% at 8 GPUs and
# >= PyTorch DDP's img/s. Writes OUT/ddp/*.json and *.log, OUT/ddp_summary.json (and .txt), OUT/env.txt.
#
# Needs the bundle (.gpu/run.sh: bash build/gpu-bundle.sh Bcbp.Training -p:TorchBackend=external); on the device:
#   bash experiments/bench/ddp_vs_torchrun.sh OUT_DIR        # or set OUT; STEPS=20 WARMUP=10 BATCH=256 by default
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${1:-${OUT:?give an output folder or set OUT}}
[ -x .gpu/run.sh ] || { echo "ddp_vs_torchrun: .gpu/run.sh is missing; make the bundle first: bash build/gpu-bundle.sh Bcbp.Training -p:TorchBackend=external" >&2; exit 2; }
export NCCL_NVLS_ENABLE=0   # NVLink multicast can put a shared host's GPUs out of service
mkdir -p "$out/ddp"
start=$(date +%s)
gpus=$(nvidia-smi -L | wc -l)
{ nvidia-smi -L; nvidia-smi topo -m
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "nccl", torch.cuda.nccl.version())'
  git rev-parse HEAD 2>/dev/null || true; } > "$out/env.txt" 2>&1
cat "$out/env.txt"

common="--arch resnet50 --image-size 224 --classes 1000 --batch ${BATCH:-256} --warmup ${WARMUP:-10} --steps ${STEPS:-20} --repeats 3"
overlap=$([ "${OVERLAP:-1}" = 0 ] && echo --reduce-after-backward || true)
failed=0
. experiments/bench/logged_run.sh
run() { logged_run ddp_vs_torchrun "$out/ddp" "${RUN_TIMEOUT:-300}" "$@"; }  # run NAME COMMAND...: one job
for n in 1 2 4 8; do
  [ "$n" -le "$gpus" ] || break
  # BCBP_DIST_FORCE=1: N = 1 goes through NCCL too, as DDP's one rank does (else it is the plain trainer).
  run "ours_fp32_g$n"    env BCBP_DIST_FORCE=1 bash .gpu/run.sh bench-train --gpus "$n" $common --amp off $overlap --device cuda --output "$out/ddp/ours_fp32_g$n.json"
  run "ours_bf16_cl_g$n" env BCBP_DIST_FORCE=1 bash .gpu/run.sh bench-train --gpus "$n" $common --amp bf16 --channels-last $overlap --device cuda --output "$out/ddp/ours_bf16_cl_g$n.json"
  run "pytorch_fp32_g$n"    python3 -m torch.distributed.run --standalone --nproc-per-node "$n" experiments/pytorch_reference/ddp_throughput.py $common --variant fp32 --output "$out/ddp/pytorch_fp32_g$n.json"
  run "pytorch_bf16_cl_g$n" python3 -m torch.distributed.run --standalone --nproc-per-node "$n" experiments/pytorch_reference/ddp_throughput.py $common --variant bf16_autocast_channels_last --output "$out/ddp/pytorch_bf16_cl_g$n.json"
done

python3 - "$out" <<'PY' 2>&1 | tee "$out/ddp_summary.txt"
import glob, json, os, re, sys
out = sys.argv[1]
rows = {}
for f in sorted(glob.glob(os.path.join(out, "ddp", "*.json"))):
    m = re.fullmatch(r"(ours|pytorch)_(fp32|bf16_cl)_g(\d+)\.json", os.path.basename(f))
    if m:
        r = json.load(open(f))
        rows[(m[1], m[2], int(m[3]))] = r
summary = {"note": "ResNet-50 224, random data; img/s = median of synchronized windows; efficiency = img/s(N) / (N x img/s(1))",
           "variants": {}}
for variant in ("fp32", "bf16_cl"):
    table = []
    for n in sorted({k[2] for k in rows if k[1] == variant}):
        row = {"gpus": n}
        for fw in ("ours", "pytorch"):
            r, one = rows.get((fw, variant, n)), rows.get((fw, variant, 1))
            if r is None:
                row[fw] = None
                continue
            ips = r["images_per_second"]
            row[fw] = {"images_per_second": ips, "images_per_second_per_gpu": ips / n,
                       "scaling_efficiency": ips / (n * one["images_per_second"]) if one else None,
                       "peak_gpu_memory_mib": r.get("peak_gpu_memory_mib"), "collective": r.get("collective"),
                       "overlap_reduce": r.get("overlap_reduce")}
        if row["ours"] and row["pytorch"]:
            row["ours_over_pytorch"] = row["ours"]["images_per_second"] / row["pytorch"]["images_per_second"]
        table.append(row)
        def fmt(x):
            if not x: return "missing"
            e = x["scaling_efficiency"]
            return f"{x['images_per_second']:7.0f} img/s ({x['images_per_second_per_gpu']:5.0f}/GPU, eff {'-' if e is None else f'{100 * e:5.1f}%'})"
        print(f"{variant:7s} N={n}: ours {fmt(row['ours'])} | pytorch ddp {fmt(row['pytorch'])}"
              + (f" | ours/pytorch {row['ours_over_pytorch']:.3f}" if "ours_over_pytorch" in row else ""))
    summary["variants"][variant] = table
with open(os.path.join(out, "ddp_summary.json"), "w") as f:
    json.dump(summary, f, indent=2)
    f.write("\n")
print("wrote", os.path.join(out, "ddp_summary.json"))
PY
echo "ddp_vs_torchrun: $(( $(date +%s) - start )) s, $failed failed run(s); results in $out"
[ $failed -eq 0 ]
