using Bcbp.Kernels.Conversion;
using static TorchSharp.torch;

namespace Bcbp.Training.Inference;

/// <summary>How <see cref="SparseEvaluation"/> converts and runs a pruned model.</summary>
/// <param name="TileRows">Rows of a packed tile (the pruning's tile_rows keeps BCBP masks balanced).</param>
/// <param name="Layout">BCBP, block, or auto (BCBP where the mask is balanced).</param>
/// <param name="FoldBatchNorm">Fold each conv's following BatchNorm into it before packing.</param>
/// <param name="Device">Where both models run.</param>
/// <param name="Dtype">Input and weight type of both models (float16/bfloat16 run our kernels on CUDA).</param>
/// <param name="Iters">Timed forward passes per model.</param>
public sealed record SparseSettings(int TileRows, SparseLayout Layout, bool FoldBatchNorm, Device Device, ScalarType Dtype, int Iters)
{
    /// <summary>The pass rule against the float32 reference (the masked dense model in float32, TF32 off): per image,
    /// the sparse logits' relative L2 error may be at most max(<see cref="DenseFactor"/> x the dense model's own error
    /// in <see cref="Dtype"/>, <see cref="Floor"/>); in float32 both models are the reference's precision and the
    /// bound is the floor, 1e-4 (docs/kernels.md).</summary>
    public double Floor => Dtype == ScalarType.Float32 ? 1e-4 : 1e-3;
    /// <inheritdoc cref="Floor"/>
    public double DenseFactor => Dtype == ScalarType.Float32 ? 0 : 2;

    /// <summary>The rule's per-image bound given the other model's per-image errors [B]: max(factor x error, floor).</summary>
    public Tensor Bound(Tensor otherErrors) => (otherErrors * DenseFactor).clamp_min(Floor);

    /// <summary>Images whose <paramref name="errors"/> exceed <see cref="Bound"/> of <paramref name="otherErrors"/>.</summary>
    public long Failing(Tensor errors, Tensor otherErrors) => errors.gt(Bound(otherErrors)).sum().item<long>();
}
