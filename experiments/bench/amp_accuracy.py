#!/usr/bin/env python3
"""Accuracy of bf16 mixed precision against fp32 (experiments/amp_accuracy.json, docs/gpu.md "Mixed precision:
accuracy"): reads every run folder of a suite's output (or published results) folder, groups the runs by what they
train (dense, or method and sparsity) and by precision (config.json's train.amp), and prints per group the mean +- std
of test top-1 over the seeds for each precision, the difference of the means, the combined std
sqrt(std_fp32^2 + std_bf16^2) (the spread of the difference between one fp32 run and one bf16 run) and whether
|difference| < combined std, i.e. bf16 is within noise of fp32.

usage: python3 experiments/bench/amp_accuracy.py DIR [--json OUT.json]
       DIR: runs/amp_accuracy (after `bcbp suite --suite experiments/amp_accuracy.json`) or its published copy
Exit 0 when every group has both precisions with at least 2 runs each and is within noise; 1 when a group is not
within noise; 2 when runs are missing.
"""
import argparse
import json
import math
import os
import statistics
import sys

PRECISIONS = ("off", "bf16", "fp16")
LABEL = {"off": "fp32", "bf16": "bf16", "fp16": "fp16"}


def amp_of(config):
    amp = (config.get("train") or {}).get("amp", "off")
    if amp is True:  # files may write true for bf16 and false for off
        return "bf16"
    return "off" if amp in (False, None) else str(amp).lower()


def load(folder):
    runs = []
    for name in sorted(os.listdir(folder)):
        run = os.path.join(folder, name)
        results, config = os.path.join(run, "results.json"), os.path.join(run, "config.json")
        if name.startswith(("_", ".")) or not (os.path.isfile(results) and os.path.isfile(config)):
            continue
        with open(results) as f:
            r = json.load(f)
        with open(config) as f:
            c = json.load(f)
        what = "dense" if not r.get("method") else f"{r['method']} {100 * r['target_sparsity']:g}%"
        runs.append({"name": name, "what": what, "amp": amp_of(c), "top1": r["top1"], "seed": c.get("seed")})
    return runs


def summarize(runs):
    groups = {}
    for r in runs:
        groups.setdefault(r["what"], {}).setdefault(r["amp"], []).append(r["top1"])
    rows = []
    for what in sorted(groups, key=lambda w: (w != "dense", w)):
        by = groups[what]
        stats = {LABEL.get(a, a): {"mean": statistics.mean(v), "std": statistics.stdev(v) if len(v) > 1 else None, "n": len(v),
                                   "top1": v} for a, v in sorted(by.items(), key=lambda kv: PRECISIONS.index(kv[0]) if kv[0] in PRECISIONS else 9)}
        row = {"what": what, "precisions": stats}
        base = stats.get("fp32")
        for other in ("bf16", "fp16"):
            s = stats.get(other)
            if base and s and base["std"] is not None and s["std"] is not None:
                diff = s["mean"] - base["mean"]
                combined = math.sqrt(base["std"] ** 2 + s["std"] ** 2)
                row[other] = {"difference": diff, "combined_std": combined, "within_noise": abs(diff) < combined}
        rows.append(row)
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder")
    p.add_argument("--json", help="also write the table as JSON here")
    a = p.parse_args()
    if not os.path.isdir(a.folder):
        print(f"amp_accuracy: '{a.folder}' is not a folder; run `bcbp suite --suite experiments/amp_accuracy.json` first "
              "(its runs go to runs/amp_accuracy)", file=sys.stderr)
        return 2
    runs = load(a.folder)
    if not runs:
        print(f"amp_accuracy: no finished run (results.json + config.json) in '{a.folder}'", file=sys.stderr)
        return 2
    rows = summarize(runs)
    fmt = lambda s: "-" if s is None else (f"{s['mean']:.2f} ± {s['std']:.2f} (n={s['n']})" if s["std"] is not None
                                           else f"{s['mean']:.2f} (n={s['n']})")
    print(f"{'what':<12} {'fp32 top-1':<22} {'bf16 top-1':<22} {'bf16 - fp32':>11} {'combined std':>13}  within noise")
    code = 0
    for r in rows:
        s = r["precisions"]
        c = r.get("bf16")
        verdict = "yes" if c and c["within_noise"] else "NO" if c else "n/a (needs >= 2 runs of each)"
        if c is None:
            code = max(code, 2)
        elif not c["within_noise"]:
            code = max(code, 1)
        print(f"{r['what']:<12} {fmt(s.get('fp32')):<22} {fmt(s.get('bf16')):<22} "
              f"{c['difference'] if c else float('nan'):>+11.2f} {c['combined_std'] if c else float('nan'):>13.2f}  {verdict}")
        if "fp16" in s:
            f = r.get("fp16")
            print(f"{'':<12} fp16: {fmt(s['fp16'])}" + (f", fp16 - fp32 {f['difference']:+.2f}, within noise: "
                                                        f"{'yes' if f['within_noise'] else 'NO'}" if f else ""))
    if a.json:
        with open(a.json + ".tmp", "w") as f:
            json.dump({"folder": os.path.abspath(a.folder), "rows": rows}, f, indent=1)
            f.write("\n")
        os.replace(a.json + ".tmp", a.json)
        print(f"wrote {a.json}")
    return code


if __name__ == "__main__":
    sys.exit(main())
