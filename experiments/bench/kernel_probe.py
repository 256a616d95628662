"""Standalone check + timing of Bcbp.Kernels/Cuda/gather_gemm.cu on a GPU machine (CuPy NVRTC + PyTorch).

Fast kernel iteration without the .NET app: compiles the same source with the same -D options the C# side uses,
checks every entry point against PyTorch's dense fp32 result, then times ResNet-50 shapes.
usage: python3 experiments/bench/kernel_probe.py [--quick]
"""
import sys, math, time
import numpy as np
import torch, cupy

import os
_here = os.path.dirname(os.path.abspath(__file__))
_src = "Bcbp.Kernels/Cuda/gather_gemm.cu"
SRC = open(_src if os.path.exists(_src) else os.path.join(_here, "gather_gemm.cu")).read()
BK = int(os.environ.get("PROBE_BK", "32"))
_mods = {}


def module(bm, bn, wm, wn, stages, bf16):
    key = (bm, bn, wm, wn, stages, bf16)
    if key not in _mods:
        opts = ("-std=c++17", "-I" + os.path.dirname(os.path.abspath(_src if os.path.exists(_src) else os.path.join(_here, "gather_gemm.cu"))), f"-DBM={bm}", f"-DBN={bn}", f"-DWARPS_M={wm}", f"-DWARPS_N={wn}", f"-DSTAGES={stages}",
                f"-DBF16={int(bf16)}", f"-DBK={BK}")
        _mods[key] = cupy.RawModule(code=SRC, options=opts, name_expressions=None)
    return _mods[key]


def smem_bytes(bm, bn, stages):
    return max(stages * (bm * (BK + 8) + BK * (bn + 8)), bm * (bn + 8)) * 2


def pack(weight2d, mask2d, tile_rows, balanced):
    """weight/mask [M, K] -> (values fp32 flat, idx int32, colptr int32, kp). Counts padded to BK."""
    M, K = weight2d.shape
    T = (M + tile_rows - 1) // tile_rows
    vals, idxs, ptr = [], [], [0]
    kp = None
    for t in range(T):
        rows = slice(t * tile_rows, min(M, (t + 1) * tile_rows))
        keep = torch.nonzero(mask2d[rows].any(0)).flatten()
        cnt = keep.numel()
        pc = (cnt + BK - 1) // BK * BK
        if balanced:
            kp = pc if kp is None else kp
            assert pc == kp, "unbalanced"
        w = torch.zeros(tile_rows, pc)
        w[: rows.stop - rows.start, :cnt] = weight2d[rows][:, keep] * mask2d[rows][:, keep]
        ix = torch.zeros(pc, dtype=torch.int32)
        ix[:cnt] = keep.int()
        vals.append(w.flatten()); idxs.append(ix); ptr.append(ptr[-1] + pc)
    return torch.cat(vals), torch.cat(idxs), torch.tensor(ptr, dtype=torch.int32), (kp or 0)


def bcbp_mask(M, K, tile_rows, sparsity, gen):
    keep = max(1, round(K * (1 - sparsity)))
    m = torch.zeros(M, K)
    for t in range(0, M, tile_rows):
        cols = torch.randperm(K, generator=gen)[:keep]
        m[t:t + tile_rows, cols] = 1
    return m


def block_mask(M, K, tile_rows, sparsity, gen, block_cols=16):
    T, C = (M + tile_rows - 1) // tile_rows, (K + block_cols - 1) // block_cols
    scores = torch.rand(T, C, generator=gen)
    nkeep = max(1, round(T * C * (1 - sparsity)))
    thr = scores.flatten().topk(nkeep).values.min()
    blocks = (scores >= thr).float()
    m = blocks.repeat_interleave(tile_rows, 0).repeat_interleave(block_cols, 1)[:M, :K]
    return m


def launch(name, cfg, W, idx, colptr, kp, X, ldx, Y, ldy, bias, M, N, tile_rows, geo):
    bm, bn, wm, wn, stages, bf16 = cfg
    mod = module(*cfg)
    k = mod.get_function(name)
    sm = smem_bytes(bm, bn, stages)
    k.max_dynamic_shared_size_bytes = sm
    grid = ((M + bm - 1) // bm, (N + bn - 1) // bn)
    ptr = lambda t: np.uint64(t.data_ptr() if t is not None else 0)
    k(grid, (wm * wn * 32,), (ptr(W), ptr(idx), ptr(colptr), np.int32(kp), ptr(X), np.int64(ldx), ptr(Y), np.int64(ldy), ptr(bias),
                     np.uint64(0), np.int32(0), np.int32(M), np.int32(N), np.int32(tile_rows), *[np.int32(v) for v in geo]), shared_mem=sm)


class Layer:
    """A conv layer converted for the kernel: CHWN input, output [Cout, OH*OW*B] (CHWN)."""

    def __init__(self, weight, mask, tile_rows, balanced, dtype, cfg, stride=1, pad=0, dil=1, bias=None):
        self.M, self.Cin, self.R, self.S = weight.shape
        self.weight, self.mask = weight, mask
        v, ix, cp, kp = pack(weight.reshape(self.M, -1), mask.reshape(self.M, -1), tile_rows, balanced)
        self.W = v.to(dtype).cuda(); self.idx = ix.cuda(); self.colptr = cp.cuda(); self.kp = kp
        self.balanced, self.tile_rows, self.cfg = balanced, tile_rows, cfg
        self.stride, self.pad, self.dil = stride, pad, dil
        self.bias = bias.float().cuda() if bias is not None else None
        self.dtype = dtype

    def out_hw(self, H, W):
        oh = (H + 2 * self.pad - self.dil * (self.R - 1) - 1) // self.stride + 1
        ow = (W + 2 * self.pad - self.dil * (self.S - 1) - 1) // self.stride + 1
        return oh, ow

    def __call__(self, xc, B, H, W, force_conv=False, out=None):
        OH, OW = self.out_hw(H, W)
        N = B * OH * OW
        Y = out if out is not None else torch.empty(self.M, N, dtype=self.dtype, device="cuda")
        pre = "bcbp" if self.balanced else "block"
        plain = self.R == 1 and self.S == 1 and self.stride == 1 and self.pad == 0
        if plain and not force_conv and N % 8 == 0:
            launch(pre + "_gemm", self.cfg, self.W, self.idx, self.colptr, self.kp, xc, N, Y, N, self.bias, self.M, N,
                   self.tile_rows, (1, 1, N, 1, N, 1, 1, 1, 1, 0, 0, 1, 1))
        else:
            launch(pre + ("_conv" if B % 8 == 0 and not force_conv else "_conv_any"), self.cfg, self.W, self.idx, self.colptr, self.kp, xc, B * H * W, Y, N, self.bias,
                   self.M, N, self.tile_rows, (B, H, W, OH, OW, self.R, self.S, self.stride, self.stride, self.pad,
                                               self.pad, self.dil, self.dil))
        return Y


def rel_err(out, ref):
    return ((out.double() - ref.double()).norm() / ref.double().norm()).item()


def check(gen):
    fails = 0
    cases = [  # (Cout, Cin, R, B, H, stride, pad, dil, tile_rows, sparsity)
        (128, 64, 1, 2, 8, 1, 0, 1, 64, 0.5),
        (256, 96, 1, 3, 7, 1, 0, 1, 128, 0.75),
        (64, 64, 3, 2, 9, 1, 1, 1, 64, 0.5),
        (96, 32, 3, 2, 10, 2, 1, 1, 32, 0.75),
        (64, 40, 3, 1, 11, 1, 2, 2, 32, 0.6),
        (128, 64, 1, 2, 14, 2, 0, 1, 64, 0.5),
        (100, 48, 3, 2, 6, 1, 1, 1, 64, 0.5),
        (64, 64, 3, 8, 9, 1, 1, 1, 64, 0.5),
        (96, 32, 3, 16, 10, 2, 1, 1, 32, 0.75),
        (64, 40, 3, 8, 11, 1, 2, 2, 32, 0.6),
        (128, 64, 1, 8, 14, 2, 0, 1, 64, 0.5),
        (256, 64, 1, 8, 7, 1, 0, 1, 64, 0.5),
    ]
    for cfg in [(64, 128, 2, 4, 4, False), (128, 128, 2, 2, 4, False), (32, 64, 2, 2, 3, True), (64, 256, 2, 4, 3, False),
                (128, 256, 2, 4, 2, True), (64, 128, 2, 2, 4, False)]:
        bm = cfg[0]
        dt = torch.bfloat16 if cfg[5] else torch.float16
        for (co, ci, r, B, H, st, pd, dl, tr, sp) in cases:
            if tr % bm: continue
            for balanced in (True, False):
                w = torch.randn(co, ci, r, r, generator=gen)
                m2 = (bcbp_mask if balanced else block_mask)(co, ci * r * r, tr, sp, gen)
                mask = m2.reshape(w.shape)
                bias = torch.randn(co, generator=gen)
                x = torch.randn(B, ci, H, H, generator=gen).to(dt)
                ref = torch.nn.functional.conv2d(x.float(), w * mask, bias, st, pd, dl)
                L = Layer(w, mask, tr, balanced, dt, cfg, st, pd, dl, bias)
                xc = x.permute(1, 2, 3, 0).contiguous().cuda()
                for force in (False, True):
                    Y = L(xc, B, H, H, force_conv=force)
                    torch.cuda.synchronize()
                    out = Y.float().cpu().reshape(co, *ref.shape[2:], B).permute(3, 0, 1, 2)
                    e = rel_err(out, ref)
                    ok = e < (2e-2 if cfg[5] else 3e-3) and torch.isfinite(out).all()
                    if not ok:
                        fails += 1
                    if not ok or (force and B % 8 == 0):
                        print(f"{'OK ' if ok else 'BAD'} cfg={cfg} bal={balanced} force_conv={force} case={(co, ci, r, B, H, st, pd, dl, tr, sp)} err={e:.2e}")
    # plain GEMM with unaligned N (batch-1 linear) through the conv path
    for N in (1, 7, 49):
        w = torch.randn(256, 512, generator=gen); m = bcbp_mask(256, 512, 64, 0.75, gen)
        x = torch.randn(512, N, generator=gen).half()
        L = Layer(w.reshape(256, 512, 1, 1), m.reshape(256, 512, 1, 1), 64, True, torch.float16, (64, 64, 2, 2, 3, False))
        Y = L(x.contiguous().cuda(), 1, 1, N)
        ref = (w * m) @ x.float()
        e = rel_err(Y.float().cpu(), ref)
        print(f"{'OK ' if e < 3e-3 else 'BAD'} linear N={N} err={e:.2e}")
        fails += e >= 3e-3
    return fails


def bench_time(fn, iters=20):
    for _ in range(3): fn()
    torch.cuda.synchronize()
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    ts = []
    for _ in range(iters):
        s.record(); fn(); e.record(); torch.cuda.synchronize(); ts.append(s.elapsed_time(e))
    return float(np.median(ts))


R50 = [  # name, Cin, Cout, k, stride, H(in)
    ("l1.conv1", 64, 64, 1, 1, 56), ("l1.conv2", 64, 64, 3, 1, 56), ("l1.conv3", 64, 256, 1, 1, 56),
    ("l2.conv1", 512, 128, 1, 1, 28), ("l2.conv2", 128, 128, 3, 1, 28), ("l2.conv3", 128, 512, 1, 1, 28),
    ("l3.conv2", 256, 256, 3, 1, 14), ("l3.conv3", 256, 1024, 1, 1, 14), ("l3.conv1", 1024, 256, 1, 1, 14),
    ("l4.conv2", 512, 512, 3, 1, 7), ("l4.conv3", 512, 2048, 1, 1, 7), ("l4.conv1", 2048, 512, 1, 1, 7),
]


def bench(gen, batch, sparsity, cfgs, tile_rows=64):
    dt = torch.float16
    print(f"\n# batch {batch}, sparsity {sparsity}, tile_rows {tile_rows}: ms (dense cudnn | ideal | bcbp per cfg | block)")
    for (name, ci, co, k, st, H) in R50:
        pad = k // 2
        w = torch.randn(co, ci, k, k, generator=gen)
        x = torch.randn(batch, ci, H, H, device="cuda", dtype=dt)
        wd = (w).to(dt).cuda()
        dense = bench_time(lambda: torch.nn.functional.conv2d(x, wd, None, st, pad))
        K = ci * k * k; Kp = round(K * (1 - sparsity))
        OH = (H + 2 * pad - k) // st + 1; N = batch * OH * OH
        Wc = torch.randn(co, Kp, device="cuda", dtype=dt); Xg = torch.randn(Kp, N, device="cuda", dtype=dt)
        ideal = bench_time(lambda: torch.mm(Wc, Xg))
        xc = x.permute(1, 2, 3, 0).contiguous()
        mb = bcbp_mask(co, K, tile_rows, sparsity, gen).reshape(w.shape)
        row = f"{name:9s} N={N:7d} K={K:5d} dense {dense:7.3f} ideal {ideal:7.3f}"
        for cfg in cfgs:
            if tile_rows % cfg[0]: continue
            L = Layer(w, mb, tile_rows, True, dt, cfg, st, pad)
            Y = torch.empty(co, N, dtype=dt, device="cuda")
            t = bench_time(lambda: L(xc, batch, H, H, out=Y))
            row += f" | {cfg[0]}x{cfg[1]}w{cfg[2]}x{cfg[3]}s{cfg[4]} {t:7.3f}"
        mk = block_mask(co, K, tile_rows, sparsity, gen).reshape(w.shape)
        L = Layer(w, mk, tile_rows, False, dt, cfgs[0], st, pad)
        Y = torch.empty(co, N, dtype=dt, device="cuda")
        t = bench_time(lambda: L(xc, batch, H, H, out=Y))
        row += f" | block {t:7.3f}"
        print(row, flush=True)


if __name__ == "__main__":
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    print(torch.cuda.get_device_name(), torch.__version__, cupy.__version__)
    t0 = time.time()
    fails = check(gen)
    print(f"check: {fails} failures ({time.time() - t0:.1f}s)", flush=True)
    if "--big" in sys.argv:
        R50[:] = [("vgg.f21", 512, 512, 3, 1, 28), ("vgg.f14", 256, 256, 3, 1, 56), ("r50.l4c2", 512, 512, 3, 1, 7),
                  ("r50.l3c1", 1024, 256, 1, 1, 14), ("r50.l1c2", 64, 64, 3, 1, 56)]
        bench(gen, 256, 0.75, [(64, 128, 2, 2, 4, False), (64, 256, 2, 4, 3, False), (64, 128, 2, 2, 3, False), (64, 256, 2, 2, 3, False)])
        sys.exit(0)
    cfgs = [(64, 128, 2, 4, 4, False), (64, 128, 2, 2, 4, False), (64, 256, 2, 4, 3, False), (64, 256, 1, 4, 3, False)]
    bench(gen, 256, 0.75, cfgs)
    if "--quick" not in sys.argv:
        bench(gen, 256, 0.5, cfgs[:2])
        bench(gen, 32, 0.75, cfgs[:2])
        bench(gen, 256, 0.75, [(128, 128, 2, 2, 4, False), (128, 256, 2, 4, 3, False)], tile_rows=128)
    sys.exit(1 if fails else 0)
