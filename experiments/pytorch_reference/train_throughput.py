#!/usr/bin/env python3
"""Training throughput (images/s) and peak GPU memory of PyTorch eager: the reference for `bcbp bench-train`.

Models: the CIFAR ResNets (resnet20/32/44/56/110, same definition as Bcbp.Models.ResNet.CifarResNet: He et al. 2016,
3 stages of 16/32/64 channels, option-A shortcuts) and torchvision's ResNets (resnet18/34/50/101/152, the classes
Bcbp.Models builds through TorchSharp's torchvision). Same step as ours (forward, cross-entropy, backward, SGD with
momentum 0.9 and weight decay 5e-4, lr 0.1), same random data already on the device, same warmup and timing (device
synchronized before the clock starts and stops; median of the timed windows), same memory rule (NVML's used memory
of the device through ctypes on libnvidia-ml.so.1, read once before the model is built and every 10 ms on a thread
while the timed windows run; Bcbp.Training.Backend.GpuMemorySampler is ours), and the same JSON keys.

Variants (--variant):
  fp32                         eager float32, NCHW, cudnn.benchmark off (PyTorch's defaults)
  fp32_benchmark               eager float32, NCHW, cudnn.benchmark on (what bcbp's trainer sets on CUDA: the
                               like-for-like fp32 comparison)
  bf16_autocast_channels_last  torch.autocast(dtype=torch.bfloat16), model and input channels_last,
                               torch.backends.cudnn.benchmark = True (what a PyTorch user does for speed)

    python3 experiments/pytorch_reference/train_throughput.py --arch resnet56 --batch 128 --device cuda
    python3 experiments/pytorch_reference/train_throughput.py --arch resnet50 --image-size 224 --classes 1000 \
        --batch 256 --variant bf16_autocast_channels_last --output $OUT/pytorch_resnet50_bf16.json
"""
import argparse
import contextlib
import ctypes
import datetime
import json
import os
import platform
import statistics
import threading
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from cifar_models import CifarResNet


CIFAR_DEPTHS = {"resnet20": 20, "resnet32": 32, "resnet44": 44, "resnet56": 56, "resnet110": 110}
TORCHVISION_RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
VARIANTS = {
    # name: (autocast dtype or None, channels_last, cudnn.benchmark)
    "fp32": (None, False, False),
    "fp32_benchmark": (None, False, True),
    "bf16_autocast_channels_last": (torch.bfloat16, True, True),
}
MIB = 1024.0 * 1024.0


def build_model(arch, classes, in_channels):
    if arch in CIFAR_DEPTHS:
        return CifarResNet(CIFAR_DEPTHS[arch], classes, in_channels)
    if arch in TORCHVISION_RESNETS:
        import torchvision
        model = torchvision.models.get_model(arch, num_classes=classes)
        if in_channels != 3:  # as Bcbp.Models.ModelFactory adapts the stem
            model.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        return model
    raise SystemExit(f"--arch {arch}: known are {', '.join(list(CIFAR_DEPTHS) + list(TORCHVISION_RESNETS))}")


class NvmlReader:
    """NVML's used memory of one GPU (the whole device, as nvidia-smi shows it); None where NVML is missing."""

    class _Memory(ctypes.Structure):
        _fields_ = [("total", ctypes.c_ulonglong), ("free", ctypes.c_ulonglong), ("used", ctypes.c_ulonglong)]

    def __init__(self, cuda_ordinal, library="libnvidia-ml.so.1"):
        self.reason = ""
        self.source = None
        self._handle = None
        try:
            self._lib = ctypes.CDLL(library)
        except OSError:
            self.reason = f"{library} could not be loaded (no NVIDIA driver on this machine)"
            return
        status = self._lib.nvmlInit_v2()
        if status != 0:
            self.reason = f"nvmlInit_v2 failed (NVML error {status})"
            return
        index = nvml_index(cuda_ordinal, os.environ.get("CUDA_VISIBLE_DEVICES"))
        handle = ctypes.c_void_p()
        status = self._lib.nvmlDeviceGetHandleByIndex_v2(ctypes.c_uint(index), ctypes.byref(handle))
        if status != 0:
            self.reason = f"nvmlDeviceGetHandleByIndex_v2({index}) failed (NVML error {status})"
            return
        name = ctypes.create_string_buffer(96)
        label = name.value.decode() if self._lib.nvmlDeviceGetName(handle, name, ctypes.c_uint(96)) == 0 else "GPU"
        self._handle = handle
        self.source = f"nvml: {label}, index {index}"

    def used_bytes(self):
        memory = NvmlReader._Memory()
        return memory.used if self._lib.nvmlDeviceGetMemoryInfo(self._handle, ctypes.byref(memory)) == 0 else None


def nvml_index(cuda_ordinal, visible):
    """CUDA device N is NVML device CUDA_VISIBLE_DEVICES[N] when that is a list of numbers (same rule as ours)."""
    ordinal = max(0, cuda_ordinal)
    entries = [e.strip() for e in (visible or "").split(",") if e.strip()]
    return int(entries[ordinal]) if ordinal < len(entries) and entries[ordinal].isdigit() else ordinal


class GpuMemorySampler:
    """Idle reading at creation; start() reads once and then every `interval` s on a thread; stop() reads once more
    and returns the JSON entries (the keys of Bcbp.Training.Backend.GpuMemoryPeak.AddTo)."""

    def __init__(self, device, interval=0.010):
        self.interval = interval
        self.reader = None
        self.reason = f"{device.type} device"
        self.idle = None
        if device.type == "cuda":
            reader = NvmlReader(device.index or 0)
            self.reason = reader.reason
            if reader.source is not None:
                self.idle = reader.used_bytes()
                if self.idle is None:
                    self.reason = f"the first reading from {reader.source} failed"
                else:
                    self.reader = reader
        self.peak, self.samples = None, 0
        self._stop = threading.Event()
        self._thread = None

    def _sample(self):
        used = self.reader.used_bytes()
        if used is not None:
            self.samples += 1
            self.peak = used if self.peak is None else max(self.peak, used)

    def _loop(self):
        while not self._stop.wait(self.interval):
            self._sample()

    def start(self):
        if self.reader is None:
            return
        self._sample()
        self._thread = threading.Thread(target=self._loop, name="gpu-memory-sampler", daemon=True)
        self._thread.start()

    def stop(self):
        if self.reader is None:
            return self._report(None, None, 0, f"not available: {self.reason}")
        self._stop.set()
        self._thread.join()
        self._sample()
        if self.peak is None:
            return self._report(None, None, 0, f"not available: every reading from {self.reader.source} failed")
        return self._report(self.idle / MIB, self.peak / MIB, self.samples, self.reader.source)

    @staticmethod
    def _report(idle, peak, samples, source):
        return {
            "peak_gpu_memory_mib": None if peak is None else peak - idle,
            "peak_gpu_memory_absolute_mib": peak,
            "idle_gpu_memory_mib": idle,
            "gpu_memory_samples": samples,
            "gpu_memory_source": source,
        }


def step_arguments(description, arch, batch, classes, image_size, device, batch_help=None):
    """The options of a training-step benchmark, shared with ddp_throughput.py (defaults differ per script)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--arch", default=arch)
    p.add_argument("--batch", type=int, default=batch, help=batch_help)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--classes", type=int, default=classes)
    p.add_argument("--in-channels", type=int, default=3)
    p.add_argument("--image-size", type=int, default=image_size)
    p.add_argument("--variant", choices=list(VARIANTS), default="fp32")
    p.add_argument("--device", **device)
    p.add_argument("--output", default=None)
    return p


def main():
    a = step_arguments(__doc__.splitlines()[0], "resnet56", 128, 10, 32,
                       {"default": "cuda" if torch.cuda.is_available() else "cpu"}).parse_args()
    autocast_dtype, channels_last, benchmark = VARIANTS[a.variant]

    device = torch.device(a.device)
    # Idle reading before anything of this run touches the GPU (ours reads it at the same point, before the model).
    memory = GpuMemorySampler(device)
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = benchmark
    layout = torch.channels_last if channels_last else torch.contiguous_format
    model = build_model(a.arch, a.classes, a.in_channels).to(device).train().to(memory_format=layout)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    # The batch arrives NCHW, as a loader gives it, and is made channels_last per step, as a training loop does (and as
    # bcbp's trainer does); the step also counts its correct predictions, as bcbp's does for the epoch's top-1.
    x = torch.randn(a.batch, a.in_channels, a.image_size, a.image_size, device=device)
    y = torch.randint(0, a.classes, (a.batch,), device=device)

    def run(steps):
        for _ in range(steps):
            opt.zero_grad()
            xb = x.contiguous(memory_format=layout)
            with (torch.autocast(device.type, dtype=autocast_dtype) if autocast_dtype else contextlib.nullcontext()):
                logits = model(xb)
                loss = F.cross_entropy(logits, y)
            loss.backward()
            opt.step()
            (logits.argmax(1) == y).sum()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    run(a.warmup)
    windows = []
    memory.start()
    for _ in range(a.repeats):
        t = time.perf_counter()
        run(a.steps)
        windows.append(a.steps * a.batch / (time.perf_counter() - t))
    peak = memory.stop()
    median = statistics.median(windows)
    report = {
        "framework": f"pytorch {torch.__version__} eager", "variant": a.variant, "arch": a.arch, "batch": a.batch,
        "image_size": a.image_size, "in_channels": a.in_channels, "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
        "amp": "bf16" if autocast_dtype is torch.bfloat16 else "off", "channels_last": channels_last,
        "cudnn_benchmark": torch.backends.cudnn.benchmark, "cpu_threads": torch.get_num_threads(),
        "warmup_steps": a.warmup, "steps": a.steps, "repeats": a.repeats, "images_per_second": median,
        "images_per_second_all": windows, "ms_per_step": 1000.0 * a.batch / median,
        **peak,
        "machine": platform.node(), "finished_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(),
    }
    mem = (f"peak GPU memory {peak['peak_gpu_memory_mib']:,.0f} MiB above idle "
           f"({peak['peak_gpu_memory_absolute_mib']:,.0f} MiB absolute, {peak['gpu_memory_samples']} samples)"
           if peak["peak_gpu_memory_mib"] is not None else f"peak GPU memory {peak['gpu_memory_source']}")
    print(f"pytorch train {a.arch} batch {a.batch} {a.variant} on {device}: {median:.0f} images/s "
          f"({1000.0 * a.batch / median:.2f} ms/step; windows {', '.join(f'{w:.0f}' for w in windows)}); {mem}")
    out = a.output or os.path.join("results", f"pytorch_train_{a.arch}_b{a.batch}_{a.variant}_{device.type}.json")
    write_json(out, report)


def write_json(out, report):
    """Writes report to out through a temp file and a rename (a killed run leaves no half file)."""
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out + ".tmp", "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    os.replace(out + ".tmp", out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
