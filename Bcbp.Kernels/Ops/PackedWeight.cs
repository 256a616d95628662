using Bcbp.Kernels.Formats;
using static TorchSharp.torch;

namespace Bcbp.Kernels.Ops;

/// <summary>
/// A <see cref="TiledSparseMatrix"/> laid out for one gather-GEMM kernel on one device, values in fp16/bf16 and int32
/// indices and offsets. <see cref="KernelPath.MmaSync"/> (Cuda/gather_gemm.cu): every tile's count padded to a
/// multiple of <see cref="Bk"/> with zero weights and index 0, values row-major per tile.
/// <see cref="KernelPath.Wgmma"/> (Cuda/gather_gemm_sm90.cu, whose header is the format's spec): counts padded to a
/// multiple of 64 with zero weights and index -1, each [rows-per-block x 64] piece stored 128-byte-swizzled, as the
/// kernel's shared memory holds it.
/// </summary>
public sealed class PackedWeight : IDisposable
{
    /// <summary>The mma.sync kernel's K step; its counts are padded to a multiple of it.</summary>
    public const int Bk = 32;

    // Conv row tables of the Wgmma kernel per input geometry (batch, H, W): built once per batch size on the device.
    readonly Dictionary<(long, long, long, ConvGeometry), Tensor> _rowTables = new();

    PackedWeight(TiledSparseMatrix source, bool balanced, KernelPath path, Tensor values, Tensor indices, Tensor colPtr, int keptPadded, int longest)
    {
        Source = source; Balanced = balanced; Path = path; Values = values; Indices = indices; ColPtr = colPtr;
        KeptPadded = keptPadded; LongestPadded = longest;
    }

    /// <summary>The matrix this was packed from.</summary>
    public TiledSparseMatrix Source { get; }
    /// <summary>Equal counts (BCBP kernel) or per-tile offsets (block kernel).</summary>
    public bool Balanced { get; }
    /// <summary>The kernel this layout is for.</summary>
    public KernelPath Path { get; }
    /// <summary>Padded compact values on the device.</summary>
    public Tensor Values { get; }
    /// <summary>Padded indices (int32) on the device.</summary>
    public Tensor Indices { get; }
    /// <summary>Padded tile offsets (int32, Tiles + 1) on the device.</summary>
    public Tensor ColPtr { get; }
    /// <summary>Padded count per tile when <see cref="Balanced"/>.</summary>
    public int KeptPadded { get; }
    /// <summary>Padded count of the longest tile (the longest K loop, in columns).</summary>
    public int LongestPadded { get; }
    /// <summary>K blocks of 64 columns of the longest tile (Wgmma layout): sizes the kernel's pipeline.</summary>
    public int KBlocks => LongestPadded / Sm90Config.Bk;
    /// <summary>K steps of <see cref="Bk"/> columns of the longest tile (MmaSync layout).</summary>
    public int KSteps => LongestPadded / Bk;

    /// <summary>Takes the device tensors out of the caller's dispose scope, for an owner that keeps this packing across
    /// calls (a module's per-device cache); returns this.</summary>
    public PackedWeight DetachFromDisposeScope()
    {
        Values.DetachFromDisposeScope(); Indices.DetachFromDisposeScope(); ColPtr.DetachFromDisposeScope();
        return this;
    }

    /// <summary>Frees the device tensors and the conv row tables (an owner's cache: the modules free theirs with
    /// themselves).</summary>
    public void Dispose()
    {
        Values.Dispose(); Indices.Dispose(); ColPtr.Dispose();
        foreach (var t in _rowTables.Values) t.Dispose();
        _rowTables.Clear();
    }

    /// <summary>Packs <paramref name="m"/> for <paramref name="device"/> in <paramref name="dtype"/> (Float16 or BFloat16)
    /// for <paramref name="path"/>. A BcbpMatrix uses the balanced kernel unless <paramref name="forceBlockKernel"/>.</summary>
    public static PackedWeight Create(TiledSparseMatrix m, Device device, ScalarType dtype, bool forceBlockKernel = false,
        KernelPath path = KernelPath.MmaSync)
    {
        if (dtype != ScalarType.Float16 && dtype != ScalarType.BFloat16)
            throw new ArgumentException($"the GPU kernels take float16 or bfloat16 inputs, got {dtype}; call .half() or .bfloat16() on the model and input");
        using var scope = NewDisposeScope();
        bool wgmma = path == KernelPath.Wgmma;
        int step = wgmma ? Sm90Config.Bk : Bk, tr = wgmma ? Sm90Config.RowsPerBlock(m.TileRows) : m.TileRows;
        var padded = new long[m.Tiles + 1];
        var vals = new List<Tensor>(); var idx = new List<Tensor>();
        var swizzle = wgmma ? SwizzledColumns(tr) : null;
        for (int t = 0; t < m.Tiles; t++)
        {
            long cnt = m.Count(t), pc = (cnt + step - 1) / step * step;
            padded[t + 1] = padded[t] + pc;
            var v = zeros(m.TileRows, pc, dtype: ScalarType.Float32);
            var ix = full(new long[] { pc }, wgmma ? -1 : 0, dtype: ScalarType.Int32);
            if (cnt > 0)
            {
                v.narrow(1, 0, cnt).copy_(m.TileValues(t));
                ix.narrow(0, 0, cnt).copy_(m.Indices.narrow(0, m.ColPtr[t], cnt));
            }
            // Wgmma: per row chunk c and K block kb, one contiguous swizzled [tr x 64] piece (chunk-major).
            vals.Add(wgmma ? v.view(m.TileRows / tr, tr, pc / step, step).permute(0, 2, 1, 3)
                    .reshape(-1, tr, step).gather(2, swizzle!.expand(pc / step * (m.TileRows / tr), tr, step)).reshape(-1)
                : v.reshape(-1));
            idx.Add(ix);
        }
        bool balanced = m is BcbpMatrix && !forceBlockKernel;
        var values = (vals.Count > 0 ? cat(vals, 0) : zeros(0)).to(dtype).to(device).contiguous();
        var indices = (idx.Count > 0 ? cat(idx, 0) : zeros(0, dtype: ScalarType.Int32)).to(device).contiguous();
        var colPtr = tensor(padded.Select(p => (int)p).ToArray(), dtype: ScalarType.Int32).to(device);
        int kp = m.Tiles > 0 ? (int)(padded[1] - padded[0]) : 0;
        int longest = m.Tiles > 0 ? (int)Enumerable.Range(0, m.Tiles).Max(t => padded[t + 1] - padded[t]) : 0;
        return new PackedWeight(m, balanced, path, values.MoveToOuterDisposeScope(), indices.MoveToOuterDisposeScope(),
            colPtr.MoveToOuterDisposeScope(), kp, longest);
    }

    /// <summary>For row n of a [rows x 64] piece, the source column of each stored position: 16-byte chunk q of the
    /// stored row holds chunk q ^ (n % 8) of the logical row (wgmma's 128-byte swizzle; an involution).</summary>
    static Tensor SwizzledColumns(int rows)
    {
        var n = arange(rows, dtype: ScalarType.Int64).unsqueeze(1);
        var k = arange(Sm90Config.Bk, dtype: ScalarType.Int64).unsqueeze(0);
        return ((k.div(8, rounding_mode: RoundingMode.floor)).bitwise_xor(n.remainder(8)) * 8 + k.remainder(8)).unsqueeze(0);
    }

    /// <summary>The Wgmma kernel's conv row table for a CHWN input [C x H x W x B]: per padded index, (offset of im2col
    /// row k in the input, dy &lt;&lt; 16 | dx), or (-1, 0) for padding. Built on the device once per input shape.</summary>
    public Tensor RowTable(long batch, long h, long w, ConvGeometry g)
    {
        var key = (batch, h, w, g);
        if (_rowTables.TryGetValue(key, out var table)) return table;
        using var scope = NewDisposeScope();
        var k = Indices.to(ScalarType.Int64);
        long rs = (long)g.KernelH * g.KernelW;
        var kk = k.clamp_min(0);
        var c = kk.div(rs, rounding_mode: RoundingMode.floor);
        var r = kk.remainder(rs);
        var dy = r.div(g.KernelW, rounding_mode: RoundingMode.floor) * g.DilationH;
        var dx = r.remainder(g.KernelW) * g.DilationW;
        var pad = k.lt(0);
        var off = (c * (h * w * batch) + (dy * w + dx) * batch).masked_fill(pad, -1);
        var dydx = (dy * 65536 + dx).masked_fill(pad, 0);
        table = stack(new[] { off, dydx }, 1).to(ScalarType.Int32).contiguous().MoveToOuterDisposeScope().DetachFromDisposeScope();
        _rowTables[key] = table;
        return table;
    }
}
