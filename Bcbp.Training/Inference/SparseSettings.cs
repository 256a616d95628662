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
    /// <summary>Largest per-image relative L2 error of the logits that rounding explains: 2e-2 for float16 and
    /// bfloat16, 1e-4 for float32 (docs/kernels.md).</summary>
    public double Tolerance => Dtype == ScalarType.Float32 ? 1e-4 : 2e-2;
}
