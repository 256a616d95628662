"""Writes a torchvision model's state dict with BCBP weight_mask entries (magnitude, equal count per row tile) so that
`bcbp sparse` can load it on a GPU machine. usage: python3 make_pruned_torchvision.py ARCH OUT.pt [sparsity] [tile_rows]"""
import sys
import torch, torchvision

arch, out = sys.argv[1], sys.argv[2]
sparsity = float(sys.argv[3]) if len(sys.argv) > 3 else 0.75
tile_rows = int(sys.argv[4]) if len(sys.argv) > 4 else 64
torch.manual_seed(0)
model = getattr(torchvision.models, arch)()
state = model.state_dict()
for name, m in model.named_modules():
    if isinstance(m, torch.nn.Conv2d) and name not in ("conv1", "features.0"):
        w2 = m.weight.detach().reshape(m.weight.shape[0], -1).abs()
        keep = max(1, round(w2.shape[1] * (1 - sparsity)))
        mask = torch.zeros_like(w2)
        for t in range(0, w2.shape[0], tile_rows):
            mask[t:t + tile_rows, w2[t:t + tile_rows].sum(0).topk(keep).indices] = 1
        state[name + ".weight_mask"] = mask.reshape(m.weight.shape)
    if isinstance(m, torch.nn.BatchNorm2d):  # non-trivial statistics so that BN folding is exercised
        state[name + ".running_mean"] = torch.randn_like(m.running_mean) * 0.1
        state[name + ".running_var"] = torch.rand_like(m.running_var) + 0.5
torch.save(state, out)
print(f"{arch}: {sum(k.endswith('weight_mask') for k in state)} masks, sparsity {sparsity}, tile_rows {tile_rows} -> {out}")
