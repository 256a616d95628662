using static TorchSharp.torch;

namespace Bcbp.Training.Pruning.Layers;

/// <summary>
/// The GEMM view of a layer's weight: W [M = out_channels, K = in_channels * kh * kw] in im2col order, which is
/// PyTorch's <c>weight.reshape(M, -1)</c>. Masks are computed on this view and reshaped back.
/// </summary>
public static class WeightMatrix
{
    /// <summary>The [M, K] view of a Conv2d ([out, in, kh, kw]) or Linear ([out, in]) weight (no copy; a channels_last
    /// weight, NHWC-strided, is copied: read it, do not write through it).</summary>
    public static Tensor AsMatrix(Tensor weight)
    {
        if (weight.dim() < 2)
            throw new ArgumentException($"a prunable weight needs at least 2 dimensions [out, in, ...]; got shape [{string.Join(", ", weight.shape)}].");
        return weight.reshape(weight.shape[0], -1);
    }
}
