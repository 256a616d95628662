"""Merges one device call's bench.json (ours), pytorch_baselines.json and sm90_probe.json into the published
summary.json of the sparse engine: device, per-layer ours/ideal (geometric mean over shapes per batch and sparsity),
end-to-end rows {model, batch, sparsity, ours_img_s, pytorch: {variant: img_s}}.
usage: python3 experiments/bench/summarize.py BENCH.json PYTORCH.json [more PYTORCH.json...] --out summary.json
"""
import json, math, sys
from collections import defaultdict

args = [a for a in sys.argv[1:]]
out = args[args.index("--out") + 1]; del args[args.index("--out"):args.index("--out") + 2]
bench = json.load(open(args[0]))
torch_rows = [r for f in args[1:] for r in json.load(open(f))["rows"]]
device = next((json.load(open(f))["device"] for f in args[1:]), bench.get("device"))

groups = defaultdict(list)
for r in bench["rows"]:
    groups[(r["Batch"], r["Sparsity"])].append(r)
# ours/ideal: geometric mean over shapes; faster_than_block: shapes where BCBP beats the block kernel at equal sparsity.
layers = [{"batch": b, "sparsity": s, "shapes": len(v),
           "ours_over_ideal": math.exp(sum(math.log(r["BcbpMs"] / r["IdealMs"]) for r in v) / len(v)),
           "within_1_2": sum(r["BcbpMs"] / r["IdealMs"] <= 1.2 for r in v),
           "faster_than_block": sum(r["BcbpMs"] < r["BlockMs"] for r in v)} for (b, s), v in sorted(groups.items())]
best = defaultdict(dict)
for r in torch_rows:
    best[(r["model"], r["batch"])][r["variant"]] = max(r["img_s"], best[(r["model"], r["batch"])].get(r["variant"], 0))
# ours = the faster of the layer-by-layer converted model and the whole-model plan (CUDA graph), both reported.
def ours(r):
    return max(r["BcbpImagesPerSec"], r.get("PlanImagesPerSec") or 0)
e2e = [{"model": r["Model"], "batch": r["Batch"], "sparsity": r["Sparsity"], "ours_img_s": ours(r),
        "layer_by_layer_img_s": r["BcbpImagesPerSec"], "plan_img_s": r.get("PlanImagesPerSec"), "plan_graphed": r.get("PlanGraphed"),
        "torchsharp_dense_img_s": r["DenseImagesPerSec"], "logits_rel_err": r["LogitsRelErr"], "plan_logits_rel_err": r.get("PlanLogitsRelErr"),
        "pytorch": best.get((r["Model"], r["Batch"]), {})} for r in bench["end_to_end"]]
for e in e2e:
    if e["pytorch"]:
        e["ours_over_best_pytorch"] = e["ours_img_s"] / max(e["pytorch"].values())
json.dump({"device": device, "layers": layers, "e2e": e2e}, open(out, "w"), indent=1)
for l in layers: print(f"layers b{l['batch']} s{l['sparsity']}: ours/ideal {l['ours_over_ideal']:.2f} ({l['within_1_2']}/{l['shapes']} within 1.2x, "
                       f"{l['faster_than_block']}/{l['shapes']} faster than block)")
for e in e2e:
    ratio = f"{e['ours_over_best_pytorch']:.2f}x best PyTorch" if "ours_over_best_pytorch" in e else ""
    print(f"e2e {e['model']} b{e['batch']} s{e['sparsity']}: ours {e['ours_img_s']:.0f} img/s, pytorch {e['pytorch']} {ratio}")
