#!/usr/bin/env python3
"""Data-parallel training throughput of PyTorch DistributedDataParallel under torchrun: the reference for
`bcbp bench-train --gpus N`.

The step, data, variants and memory rule are train_throughput.py's (imported from beside this file): forward,
cross-entropy, backward, SGD (momentum 0.9, weight decay 5e-4, lr 0.1) on random data already on each GPU, `--batch`
images per GPU and step; fp32 (NCHW, cudnn.benchmark off) or bf16 autocast + channels_last + cudnn.benchmark. The model
is wrapped in DistributedDataParallel with its defaults (bucket_cap_mb 25, broadcast_buffers True, gradients averaged
over NCCL during backward). Every timed window starts and ends with each rank's device synchronized and a barrier, so
a window is the job's; global img/s = world size x batch x steps / window seconds (rank 0's clock), per GPU = global /
N; the median of the windows. NVML's peak memory is sampled on every rank's own GPU (rank 0 reports each and the
largest). NCCL_NVLS_ENABLE=0 is set before NCCL starts (NVLink multicast can put a shared host's GPUs out of service).

    torchrun --standalone --nproc-per-node 8 experiments/pytorch_reference/ddp_throughput.py --arch resnet50 \
        --image-size 224 --classes 1000 --batch 256 --variant bf16_autocast_channels_last --output $OUT/torch_ddp_g8.json

Not run yet (no multi-GPU machine was lent when it was written): experiments/bench/ddp_vs_torchrun.sh runs it.
"""
import contextlib
import datetime
import os
import platform
import statistics
import sys
import time

os.environ["NCCL_NVLS_ENABLE"] = "0"  # before torch.distributed loads NCCL

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_throughput import VARIANTS, GpuMemorySampler, build_model, step_arguments, write_json  # noqa: E402


def nccl_version():
    v = torch.cuda.nccl.version()  # a tuple in recent releases, an int (2.x.y as 2xxyy) in older ones
    return "nccl " + (".".join(map(str, v)) if isinstance(v, tuple) else str(v))


def main():
    a = step_arguments(__doc__.splitlines()[0], "resnet50", 256, 1000, 224,
                       {"default": "cuda", "help": "cuda (NCCL, one GPU per rank) or cpu (gloo: a smoke test only)"},
                       batch_help="images per GPU and step").parse_args()
    autocast_dtype, channels_last, benchmark = VARIANTS[a.variant]

    if "LOCAL_RANK" not in os.environ:
        raise SystemExit("start it under torchrun: torchrun --standalone --nproc-per-node N " + " ".join(sys.argv))
    local_rank = int(os.environ["LOCAL_RANK"])
    if a.device == "cuda":
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    # Idle reading before anything of this run (the CUDA context of NCCL included) is on the GPU, as ours.
    memory = GpuMemorySampler(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()

    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = benchmark
    layout = torch.channels_last if channels_last else torch.contiguous_format
    model = build_model(a.arch, a.classes, a.in_channels).to(device).train().to(memory_format=layout)
    ddp = DistributedDataParallel(model, device_ids=[local_rank] if device.type == "cuda" else None)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(a.batch, a.in_channels, a.image_size, a.image_size, device=device).contiguous(memory_format=layout)
    y = torch.randint(0, a.classes, (a.batch,), device=device)

    def run(steps):
        for _ in range(steps):
            opt.zero_grad()
            with (torch.autocast(device.type, dtype=autocast_dtype) if autocast_dtype else contextlib.nullcontext()):
                loss = F.cross_entropy(ddp(x), y)
            loss.backward()
            opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        dist.barrier()

    run(a.warmup)
    windows = []
    memory.start()
    for _ in range(a.repeats):
        t = time.perf_counter()
        run(a.steps)
        windows.append(world * a.steps * a.batch / (time.perf_counter() - t))
    peak = memory.stop()
    peaks = [None] * world
    dist.all_gather_object(peaks, peak["peak_gpu_memory_mib"])
    median = statistics.median(windows)
    if rank == 0:
        known = [m for m in peaks if m is not None]
        report = {
            "framework": f"pytorch {torch.__version__} DistributedDataParallel (torchrun)", "variant": a.variant,
            "arch": a.arch, "batch": a.batch, "batch_per_gpu": a.batch, "global_batch": a.batch * world,
            "world_size": world, "image_size": a.image_size, "in_channels": a.in_channels, "device": str(device),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
            "collective": nccl_version() if device.type == "cuda" else "gloo",
            "nccl_nvls_enable": os.environ.get("NCCL_NVLS_ENABLE"),
            "ddp": {"bucket_cap_mb": 25, "broadcast_buffers": True, "gradient_as_bucket_view": False},
            "amp": "bf16" if autocast_dtype is torch.bfloat16 else "off", "channels_last": channels_last,
            "cudnn_benchmark": torch.backends.cudnn.benchmark, "cpu_threads": torch.get_num_threads(),
            "warmup_steps": a.warmup, "steps": a.steps, "repeats": a.repeats,
            "images_per_second": median, "images_per_second_per_gpu": median / world,
            "images_per_second_all": windows, "ms_per_step": 1000.0 * a.batch * world / median,
            **peak,
            "peak_gpu_memory_mib_per_rank": peaks, "peak_gpu_memory_mib_max": max(known) if known else None,
            "machine": platform.node(), "finished_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        }
        print(f"pytorch ddp {a.arch} batch {a.batch} per GPU x {world} ranks {a.variant} on {device.type}: "
              f"{median:.0f} images/s ({median / world:.0f} per GPU; windows {', '.join(f'{w:.0f}' for w in windows)}); "
              f"peak GPU memory per rank {peaks} MiB above idle")
        out = a.output or os.path.join("results", f"pytorch_ddp_{a.arch}_b{a.batch}_{a.variant}_g{world}.json")
        write_json(out, report)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
