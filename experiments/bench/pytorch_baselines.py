"""The strongest dense models a PyTorch user runs on this GPU, timed as bcbp bench times ours (issue: the sparse
engine must beat them). fp16, BatchNorm folded (torch.fx fuse), channels_last, cudnn.benchmark; eager and CUDA-graph
replay by default, torch.compile(mode="max-autotune") with --compile (autotuning takes minutes per batch size: give it
its own device call; TORCHINDUCTOR_CACHE_DIR can be carried between calls).
usage: python3 experiments/bench/pytorch_baselines.py [--models resnet50,vgg16,resnet56|resnet20,vgg16_cifar,...] [--batch 1,32,256]
                                                     [--in-channels 3] [--size N (default per model)]
                                                     [--variants eager,cuda_graph[,compile]] [--out FILE.json]
"""
import json, os, sys, time
import numpy as np
import torch
import torchvision
from torch.fx.experimental.optimization import fuse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pytorch_reference"))
from cifar_models import CifarResNet, CifarVgg16  # noqa: E402  (the one PyTorch copy of Bcbp.Models' CIFAR models)

arg = lambda name, d: next((sys.argv[i + 1] for i, a in enumerate(sys.argv) if a == name), d)


# name -> (build(in_channels), default image size). The CIFAR ResNets also stand for the suites' Fashion-MNIST runs:
# --in-channels 1 --size 28 gives the dense baseline that `compare --bench` sets a pruned run's sparse speed against.
MODELS = {"resnet50": (lambda c: torchvision.models.resnet50(), 224), "vgg16": (lambda c: torchvision.models.vgg16(), 224),
          "vgg16_cifar": (lambda c: CifarVgg16(in_channels=c), 32),
          **{f"resnet{d}": (lambda c, d=d: CifarResNet(d, in_channels=c), 32) for d in (20, 32, 44, 56, 110)}}


def timed(fn, iters):
    for _ in range(5): fn()
    torch.cuda.synchronize()
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    ts = []
    for _ in range(5):
        s.record()
        for _ in range(iters): fn()
        e.record(); torch.cuda.synchronize(); ts.append(s.elapsed_time(e) / iters)
    return float(np.median(ts))


def main():
    torch.backends.cudnn.benchmark = True
    models = arg("--models", "resnet50,vgg16,resnet56").split(",")
    batches = [int(b) for b in arg("--batch", "1,32,256").split(",")]
    variants = arg("--variants", "eager,cuda_graph").split(",")
    out = arg("--out", os.path.join(os.environ.get("OUT", "."), "pytorch_baselines.json"))
    channels = int(arg("--in-channels", "3"))
    rows = []
    for name in models:
        build, size = MODELS[name]
        size = int(arg("--size", str(size)))
        with torch.no_grad():
            m = fuse(build(channels).eval()).half().cuda().to(memory_format=torch.channels_last)
            for b in batches:
                x = torch.randn(b, channels, size, size, device="cuda", dtype=torch.half).to(memory_format=torch.channels_last)
                iters = 50 if b <= 32 else 10
                for v in variants:
                    t0 = time.time()
                    if v == "eager":
                        ms = timed(lambda: m(x), iters)
                    elif v == "cuda_graph":
                        static_x = x.clone()
                        side = torch.cuda.Stream(); side.wait_stream(torch.cuda.current_stream())
                        with torch.cuda.stream(side):
                            for _ in range(3): m(static_x)
                        torch.cuda.current_stream().wait_stream(side)
                        g = torch.cuda.CUDAGraph()
                        with torch.cuda.graph(g): static_y = m(static_x)
                        ms = timed(g.replay, iters)
                    elif v == "compile":
                        cm = torch.compile(m, mode="max-autotune")
                        cm(x); cm(x)
                        ms = timed(lambda: cm(x), iters)
                    else:
                        raise SystemExit(f"unknown variant {v}")
                    rows.append({"model": name, "batch": b, "variant": v, "ms": ms, "img_s": b * 1000 / ms, "in_channels": channels, "size": size,
                                 "setup_s": round(time.time() - t0, 1)})
                    print(f"{name:9s} b{b:<4d} {v:10s} {ms:8.3f} ms  {b * 1000 / ms:9.0f} img/s", flush=True)
                    json.dump({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "rows": rows}, open(out, "w"), indent=1)


if __name__ == "__main__":
    main()
