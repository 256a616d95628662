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
}
