#!/usr/bin/env python3
"""Training throughput (images/s) of a CIFAR ResNet in PyTorch eager: the reference for `bcbp bench-train`.

Same model definition as Bcbp.Models.ResNet.CifarResNet (He et al. 2016, 3 stages of 16/32/64 channels, option-A
shortcuts: stride-2 subsampling plus zero-padded channels), same step (forward, cross-entropy, backward, SGD with
momentum 0.9 and weight decay 5e-4, lr 0.1), same random data already on the device, same warmup and timing
(device synchronized before the clock starts and stops; median of the timed windows).

    python3 experiments/pytorch_reference/train_throughput.py --arch resnet56 --batch 128 --device cuda
"""
import argparse
import json
import os
import platform
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class CifarBasicBlock(nn.Module):
    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.stride = stride
        self.pad = planes - in_planes

    def shortcut(self, x):
        if self.stride == 1 and self.pad == 0:
            return x
        sub = x if self.stride == 1 else x[:, :, ::self.stride, ::self.stride]
        half = self.pad // 2
        return F.pad(sub, (0, 0, 0, 0, half, half))

    def forward(self, x):
        out = F.relu_(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu_(out.add_(self.shortcut(x)))


class CifarResNet(nn.Module):
    def __init__(self, depth, num_classes=10, in_channels=3):
        super().__init__()
        assert depth >= 8 and (depth - 2) % 6 == 0, "depth must be 6n+2"
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = self._stage(16, 16, n, 1)
        self.layer2 = self._stage(16, 32, n, 2)
        self.layer3 = self._stage(32, 64, n, 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)

    @staticmethod
    def _stage(in_planes, planes, blocks, stride):
        return nn.Sequential(*[CifarBasicBlock(in_planes if i == 0 else planes, planes, stride if i == 0 else 1)
                               for i in range(blocks)])

    def forward(self, x):
        x = F.relu_(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="resnet56")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--in-channels", type=int, default=3)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--output", default=None)
    a = p.parse_args()
    if not a.arch.startswith("resnet"):
        raise SystemExit(f"--arch {a.arch}: only CIFAR ResNets (resnet20/32/44/56/110) are defined here")

    torch.manual_seed(0)
    device = torch.device(a.device)
    model = CifarResNet(int(a.arch[len("resnet"):]), a.classes, a.in_channels).to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(a.batch, a.in_channels, a.image_size, a.image_size, device=device)
    y = torch.randint(0, a.classes, (a.batch,), device=device)

    def run(steps):
        for _ in range(steps):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    run(a.warmup)
    windows = []
    for _ in range(a.repeats):
        t = time.perf_counter()
        run(a.steps)
        windows.append(a.steps * a.batch / (time.perf_counter() - t))
    median = statistics.median(windows)
    report = {
        "framework": f"pytorch {torch.__version__} eager", "arch": a.arch, "batch": a.batch, "image_size": a.image_size,
        "in_channels": a.in_channels, "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
        "cudnn_benchmark": torch.backends.cudnn.benchmark, "warmup_steps": a.warmup, "steps": a.steps,
        "repeats": a.repeats, "images_per_second": median, "images_per_second_all": windows,
        "ms_per_step": 1000.0 * a.batch / median,
    }
    print(f"pytorch train {a.arch} batch {a.batch} on {device}: {median:.0f} images/s ({1000.0 * a.batch / median:.2f} ms/step; "
          f"windows {', '.join(f'{w:.0f}' for w in windows)})")
    out = a.output or os.path.join("results", f"pytorch_train_{a.arch}_b{a.batch}_{device.type}.json")
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out + ".tmp", "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    os.replace(out + ".tmp", out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
