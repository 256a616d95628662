#!/usr/bin/env python3
"""Writes the first N training and M test images (and labels) of an MNIST-format dataset (Fashion-MNIST) as valid,
smaller gzip IDX files, so a GPU run's data fits in the device call's carry (docs/gpu.md):

    python3 experiments/bench/idx_subset.py /usr/share/datasets/fashion-mnist .gpu/data --train 20000 --test 10000

bcbp then reads DST with --set data.root=DST (data.num_train/num_test at most N/M).
"""
import argparse
import gzip
import os
import struct


def read(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if data[:2] != b"\0\0" or data[2] != 0x08:
        raise SystemExit(f"{path}: not an IDX file of unsigned bytes")
    dims = struct.unpack(">" + "i" * data[3], data[4:4 + 4 * data[3]])
    return dims, data[4 + 4 * len(dims):]


def write(path, dims, payload):
    header = bytes([0, 0, 0x08, len(dims)]) + struct.pack(">" + "i" * len(dims), *dims)
    with gzip.open(path + ".tmp", "wb", compresslevel=9) as f:
        f.write(header + payload)
    os.replace(path + ".tmp", path)


def find(folder, name):
    for candidate in (name + ".gz", name):
        if os.path.isfile(os.path.join(folder, candidate)):
            return os.path.join(folder, candidate)
    raise SystemExit(f"{name}(.gz) not found in {folder}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("source")
    p.add_argument("dest")
    p.add_argument("--train", type=int, required=True, help="training images to keep (the first N)")
    p.add_argument("--test", type=int, required=True, help="test images to keep (the first M)")
    a = p.parse_args()
    os.makedirs(a.dest, exist_ok=True)
    for prefix, keep in (("train", a.train), ("t10k", a.test)):
        for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"):
            dims, payload = read(find(a.source, f"{prefix}-{kind}"))
            n = min(keep, dims[0])
            item = len(payload) // dims[0] if dims[0] else 0
            out = os.path.join(a.dest, f"{prefix}-{kind}.gz")
            write(out, (n,) + tuple(dims[1:]), payload[:n * item])
            print(f"{out}: {n} of {dims[0]} ({os.path.getsize(out) / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
