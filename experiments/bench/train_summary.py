#!/usr/bin/env python3
"""Merges one device call's training-throughput JSONs, ours (`bcbp bench-train`) and PyTorch's
(experiments/pytorch_reference/train_throughput.py), into one summary:

  {"device": ..., "rows": [{"what", "arch", "image_size", "batch", "amp", "channels_last",
                            "ours_img_s", "ours_peak_mib", "pytorch": {variant: img_s},
                            "pytorch_peak_mib": {variant: mib}, "ours_over_pytorch": {variant: ratio}}]}

One row per run of ours, beside every PyTorch variant of the same model, image size and batch. Peak memory is
NVML's used memory above the idle value read before the model was built (both sides: peak_gpu_memory_mib), null
where it was not available. Only JSONs of one device call belong together (same machine start, same GPU).

usage: python3 experiments/bench/train_summary.py --out SUMMARY.json FILE_OR_DIR [FILE_OR_DIR...]
"""
import argparse
import glob
import json
import os
import sys


def load(paths):
    files = []
    for p in paths:
        files += sorted(glob.glob(os.path.join(p, "*.json"))) if os.path.isdir(p) else [p]
    runs = []
    for f in files:
        with open(f) as h:
            j = json.load(h)
        if isinstance(j, dict) and "images_per_second" in j and "framework" in j:
            j["_file"] = f
            runs.append(j)
    return runs


def ours_label(run):
    amp = run.get("amp", "off")
    label = "fp32" if amp == "off" else amp
    return label + (" + channels_last" if run.get("channels_last") is True else "")


def summarize(runs):
    ours = [r for r in runs if r["framework"].startswith("bcbp")]
    theirs = [r for r in runs if r["framework"].startswith("pytorch")]
    if not ours and not theirs:
        raise SystemExit("train_summary: no bench-train or train_throughput.py JSON among the inputs")
    key = lambda r: (r["arch"], r["image_size"], r["batch"])
    rows = []
    for r in sorted(ours, key=lambda r: (key(r), r.get("amp", "off") != "off", ours_label(r))):
        ref = [t for t in theirs if key(t) == key(r)]
        pytorch = {t["variant"]: t["images_per_second"] for t in ref}
        rows.append({
            "what": f"{r['arch']} {r['image_size']}x{r['image_size']} b{r['batch']}, ours {ours_label(r)}",
            "arch": r["arch"], "image_size": r["image_size"], "batch": r["batch"],
            "amp": r.get("amp", "off"), "channels_last": r.get("channels_last"),
            "ours_img_s": r["images_per_second"], "ours_peak_mib": r.get("peak_gpu_memory_mib"),
            "pytorch": pytorch,
            "pytorch_peak_mib": {t["variant"]: t.get("peak_gpu_memory_mib") for t in ref},
            "ours_over_pytorch": {v: r["images_per_second"] / s for v, s in pytorch.items()},
        })
    # PyTorch runs that have no run of ours beside them still get a row, so nothing measured is dropped.
    for k in sorted({key(t) for t in theirs} - {key(r) for r in ours}):
        ref = [t for t in theirs if key(t) == k]
        rows.append({"what": f"{k[0]} {k[1]}x{k[1]} b{k[2]}, PyTorch only", "arch": k[0], "image_size": k[1], "batch": k[2],
                     "amp": None, "channels_last": None, "ours_img_s": None, "ours_peak_mib": None,
                     "pytorch": {t["variant"]: t["images_per_second"] for t in ref},
                     "pytorch_peak_mib": {t["variant"]: t.get("peak_gpu_memory_mib") for t in ref},
                     "ours_over_pytorch": {}})
    names = {t.get("device_name") for t in theirs if t.get("device_name")}
    names |= {r["gpu_memory_source"].split(": ", 1)[1].split(",")[0] for r in ours
              if str(r.get("gpu_memory_source", "")).startswith("nvml: ")}
    device = ", ".join(sorted(names)) or next((r.get("device") for r in runs), "unknown")
    return {"device": device, "rows": rows}


def mib(v):
    return "n/a" if v is None else f"{v:,.0f} MiB"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="summary JSON to write (a device run writes under $OUT)")
    p.add_argument("inputs", nargs="+", help="JSON files or folders of them")
    a = p.parse_args()
    summary = summarize(load(a.inputs))
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    with open(a.out + ".tmp", "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    os.replace(a.out + ".tmp", a.out)
    print(f"device: {summary['device']}")
    for r in summary["rows"]:
        ours = "" if r["ours_img_s"] is None else f"ours {r['ours_img_s']:,.0f} img/s ({mib(r['ours_peak_mib'])})"
        ref = "; ".join(f"pytorch {v} {s:,.0f} img/s ({mib(r['pytorch_peak_mib'].get(v))})"
                        + (f", ours/it {r['ours_over_pytorch'][v]:.2f}x" if v in r["ours_over_pytorch"] else "")
                        for v, s in r["pytorch"].items())
        print(f"{r['what']}: {ours}{'; ' if ours and ref else ''}{ref}")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    sys.exit(main())
