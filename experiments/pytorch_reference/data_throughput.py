#!/usr/bin/env python3
"""Image-folder input throughput (images/s) of PyTorch's DataLoader + torchvision: the reference for `bcbp bench-data`.

The same folder (ROOT/train/CLASS/*.jpg, ROOT/val/CLASS/*.jpg), batch sizes, worker count and passes as
`bcbp bench-data --set data.workers=W`: per epoch one shuffled training pass with RandomResizedCrop(224) +
RandomHorizontalFlip and one evaluation pass with Resize(256) + CenterCrop(224), every batch moved to the device and
normalized there as float32, the device synchronized before the clock stops. Two variants of the workers' output:

  uint8  PILToTensor in the workers, pinned uint8 batches, normalize on the device (the faster PyTorch recipe,
         what bcbp does too)
  float  ToTensor + Normalize in the workers (torchvision's reference recipe)

Writes the keys of bcbp's bench-data JSON (train_images_per_second: one value per epoch, the first including
worker start-up and warm-up) plus `variant` and `workers`.

    python3 experiments/pytorch_reference/data_throughput.py /tmp/jpegs --workers 16 --device cuda --output out.json
"""
import argparse
import json
import os
import platform
import time

import torch
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def loader(root, split, train, batch, workers, variant, size):
    crop = ([transforms.RandomResizedCrop(size), transforms.RandomHorizontalFlip()] if train
            else [transforms.Resize(size * 256 // 224), transforms.CenterCrop(size)])
    tail = [transforms.PILToTensor()] if variant == "uint8" else [transforms.ToTensor(), transforms.Normalize(MEAN, STD)]
    dataset = datasets.ImageFolder(os.path.join(root, split), transforms.Compose(crop + tail))
    return dataset, DataLoader(dataset, batch_size=batch, shuffle=train, num_workers=workers, pin_memory=True,
                               drop_last=False, persistent_workers=workers > 0,
                               prefetch_factor=2 if workers > 0 else None)


def run_pass(data, device, variant, mean, std):
    start = time.perf_counter()
    images = 0
    for x, y in data:
        x = x.to(device, non_blocking=True)
        y = y.to(device, non_blocking=True)
        if variant == "uint8":
            x = x.float().div_(255).sub_(mean).div_(std)
        images += x.shape[0]
    if device.type == "cuda":
        torch.cuda.synchronize()
    return images / (time.perf_counter() - start)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("root")
    p.add_argument("--workers", type=int, default=16)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--eval-batch", type=int, default=256)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--variant", choices=["uint8", "float"], default="uint8")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--output")
    a = p.parse_args()
    device = torch.device(a.device)
    mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=device).view(1, 3, 1, 1)
    load = time.perf_counter()
    train_set, train = loader(a.root, "train", True, a.batch, a.workers, a.variant, a.size)
    test_set, test = loader(a.root, "val", False, a.eval_batch, a.workers, a.variant, a.size)
    load_seconds = time.perf_counter() - load
    print(f"{a.root}: train {len(train_set)}, test {len(test_set)}, {len(train_set.classes)} classes, "
          f"{a.workers} workers, variant {a.variant}, device {device}; loaded in {load_seconds:.2f} s", flush=True)
    train_rates, eval_rates = [], []
    for epoch in range(a.epochs):
        train_rates.append(run_pass(train, device, a.variant, mean, std))
        eval_rates.append(run_pass(test, device, a.variant, mean, std))
        print(f"epoch {epoch}: train {train_rates[-1]:10.0f} img/s, eval {eval_rates[-1]:10.0f} img/s", flush=True)
    result = {
        "dataset": "image_folder", "device": str(device), "train_count": len(train_set), "test_count": len(test_set),
        "batch_size": a.batch, "eval_batch_size": a.eval_batch, "augment": True, "load_seconds": load_seconds,
        "train_images_per_second": train_rates, "eval_images_per_second": eval_rates,
        "variant": a.variant, "workers": a.workers, "cpu_count": os.cpu_count(),
        "torch": torch.__version__, "torchvision": __import__("torchvision").__version__, "python": platform.python_version(),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if a.output:
        with open(a.output, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
