#!/usr/bin/env python3
"""Writes an ImageNet-like JPEG folder for data-pipeline benchmarks: ROOT/train/CLASS/*.jpg and ROOT/val/CLASS/*.jpg.

Each image is 500x375 (ImageNet's most common size) of smooth multi-octave noise plus a little pixel noise, so that
a JPEG at quality 90 weighs about what an ImageNet photo does (~100 KB) and the decoder does realistic work (a flat
or random image would be far smaller or larger). Deterministic: image i of class c depends only on (seed, c, i).

    python3 experiments/bench/make_jpeg_folder.py /tmp/jpegs --train 20000 --val 1000 --classes 100

Needs numpy and Pillow (Debian: apt-get install python3-pil python3-numpy). Uses every core (--jobs).
"""
import argparse
import json
import os
import sys
from multiprocessing import Pool

import numpy as np
from PIL import Image

WIDTH, HEIGHT = 500, 375


def image(seed, cls, index):
    rng = np.random.default_rng([seed, cls, index])
    # A class tint, so the classes differ in content (a model could learn them) and not only in name.
    tint = np.random.default_rng([seed, cls]).uniform(-40, 40, size=3)
    out = np.zeros((HEIGHT, WIDTH, 3), np.float32)
    for cells, amplitude in ((4, 70.0), (16, 45.0), (64, 25.0), (160, 18.0)):
        h = max(2, cells * HEIGHT // WIDTH)
        grid = rng.normal(0, 1, size=(h, cells, 3)).astype(np.float32)
        layer = np.stack([np.asarray(Image.fromarray(grid[:, :, c]).resize((WIDTH, HEIGHT), Image.BICUBIC))
                          for c in range(3)], axis=2)
        out += amplitude * layer
    # Fine detail mostly in brightness, as in photos (JPEG keeps luma at full resolution, chroma at half).
    out += rng.normal(0, 11.0, size=(HEIGHT, WIDTH, 1)).astype(np.float32) + rng.normal(0, 3.0, size=out.shape).astype(np.float32)
    out += 128 + tint
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), "RGB")


def write(job):
    root, split, seed, cls, index, quality = job
    path = os.path.join(root, split, f"class{cls:04d}", f"{split}_{cls:04d}_{index:06d}.jpg")
    if not os.path.exists(path):
        image(seed + (0 if split == "train" else 1_000_003), cls, index).save(path, "JPEG", quality=quality)
    return os.path.getsize(path)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("root")
    p.add_argument("--train", type=int, default=20000, help="training images in all (spread evenly over the classes)")
    p.add_argument("--val", type=int, default=1000, help="validation images in all")
    p.add_argument("--classes", type=int, default=100)
    p.add_argument("--quality", type=int, default=90)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=os.cpu_count())
    a = p.parse_args()
    if a.classes < 1 or a.train < a.classes:
        sys.exit(f"--train ({a.train}) must be at least --classes ({a.classes}) >= 1: every class needs an image")
    jobs = []
    for split, total in (("train", a.train), ("val", a.val)):
        for c in range(a.classes):
            os.makedirs(os.path.join(a.root, split, f"class{c:04d}"), exist_ok=True)
        jobs += [(a.root, split, a.seed, i % a.classes, i // a.classes, a.quality) for i in range(total)]
    with Pool(a.jobs) as pool:
        sizes = pool.map(write, jobs, chunksize=64)
    print(json.dumps({"root": a.root, "train": a.train, "val": a.val, "classes": a.classes, "width": WIDTH,
                      "height": HEIGHT, "quality": a.quality, "mean_kb": round(sum(sizes) / len(sizes) / 1024, 1)}))


if __name__ == "__main__":
    main()
