using Bcbp.Kernels.Formats;
using static TorchSharp.torch;

namespace Bcbp.Kernels.Ops;

/// <summary>
/// A <see cref="TiledSparseMatrix"/> laid out for the gather-GEMM kernel on one device: every tile's count padded
/// to a multiple of <see cref="Bk"/> (zero weights, index 0), values in fp16/bf16, int32 indices and offsets.
/// </summary>
public sealed class PackedWeight
{
    /// <summary>The kernel's K step; counts are padded to a multiple of it.</summary>
    public const int Bk = 32;

    PackedWeight(TiledSparseMatrix source, bool balanced, Tensor values, Tensor indices, Tensor colPtr, int keptPadded)
    {
        Source = source; Balanced = balanced; Values = values; Indices = indices; ColPtr = colPtr; KeptPadded = keptPadded;
    }

    /// <summary>The matrix this was packed from.</summary>
    public TiledSparseMatrix Source { get; }
    /// <summary>Equal counts (BCBP kernel) or per-tile offsets (block kernel).</summary>
    public bool Balanced { get; }
    /// <summary>Padded compact values on the device.</summary>
    public Tensor Values { get; }
    /// <summary>Padded indices (int32) on the device.</summary>
    public Tensor Indices { get; }
    /// <summary>Padded tile offsets (int32, Tiles + 1) on the device.</summary>
    public Tensor ColPtr { get; }
    /// <summary>Padded count per tile when <see cref="Balanced"/>.</summary>
    public int KeptPadded { get; }

    /// <summary>Takes the device tensors out of the caller's dispose scope, for an owner that keeps this packing across
    /// calls (a module's per-device cache); returns this.</summary>
    public PackedWeight DetachFromDisposeScope()
    {
        Values.DetachFromDisposeScope(); Indices.DetachFromDisposeScope(); ColPtr.DetachFromDisposeScope();
        return this;
    }

    /// <summary>Packs <paramref name="m"/> for <paramref name="device"/> in <paramref name="dtype"/> (Float16 or BFloat16).
    /// A BcbpMatrix uses the balanced kernel unless <paramref name="forceBlockKernel"/>.</summary>
    public static PackedWeight Create(TiledSparseMatrix m, Device device, ScalarType dtype, bool forceBlockKernel = false)
    {
        if (dtype != ScalarType.Float16 && dtype != ScalarType.BFloat16)
            throw new ArgumentException($"the GPU kernels take float16 or bfloat16 inputs, got {dtype}; call .half() or .bfloat16() on the model and input");
        using var scope = NewDisposeScope();
        var padded = new long[m.Tiles + 1];
        var vals = new List<Tensor>(); var idx = new List<Tensor>();
        for (int t = 0; t < m.Tiles; t++)
        {
            long cnt = m.Count(t), pc = (cnt + Bk - 1) / Bk * Bk;
            padded[t + 1] = padded[t] + pc;
            var v = zeros(m.TileRows, pc, dtype: ScalarType.Float32);
            var ix = zeros(pc, dtype: ScalarType.Int32);
            if (cnt > 0)
            {
                v.narrow(1, 0, cnt).copy_(m.TileValues(t));
                ix.narrow(0, 0, cnt).copy_(m.Indices.narrow(0, m.ColPtr[t], cnt));
            }
            vals.Add(v.reshape(-1)); idx.Add(ix);
        }
        bool balanced = m is BcbpMatrix && !forceBlockKernel;
        var values = (vals.Count > 0 ? cat(vals, 0) : zeros(0)).to(dtype).to(device).contiguous();
        var indices = (idx.Count > 0 ? cat(idx, 0) : zeros(0, dtype: ScalarType.Int32)).to(device).contiguous();
        var colPtr = tensor(padded.Select(p => (int)p).ToArray(), dtype: ScalarType.Int32).to(device);
        int kp = m.Tiles > 0 ? (int)(padded[1] - padded[0]) : 0;
        return new PackedWeight(m, balanced, values.MoveToOuterDisposeScope(), indices.MoveToOuterDisposeScope(),
            colPtr.MoveToOuterDisposeScope(), kp);
    }
}
