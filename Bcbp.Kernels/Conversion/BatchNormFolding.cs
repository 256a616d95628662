using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Bcbp.Kernels.Conversion;

/// <summary>
/// Folds an inference BatchNorm2d into the convolution before it: W' = W * s, b' = beta + (b - mean) * s with
/// s = gamma / sqrt(var + eps). The BN is then made the identity (gamma 1, beta 0, mean 0, var 1 - eps), so models
/// whose fields hold concrete BatchNorm2d types keep working.
/// </summary>
public static class BatchNormFolding
{
    /// <summary>Folded weight and bias of conv weight <paramref name="weight"/> (bias may be null) and <paramref name="bn"/>.</summary>
    public static (Tensor weight, Tensor bias) Fold(Tensor weight, Tensor? bias, BatchNorm2d bn)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        double eps = bn.eps;
        var mean = bn.running_mean!.to(ScalarType.Float32);
        var s = bn.weight!.to(ScalarType.Float32) / (bn.running_var!.to(ScalarType.Float32) + eps).sqrt();
        var w = weight.to(ScalarType.Float32) * s.view(-1, 1, 1, 1);
        var b0 = bias?.to(ScalarType.Float32) ?? zeros_like(mean);
        var b = bn.bias!.to(ScalarType.Float32) + (b0 - mean) * s;
        return (w.MoveToOuterDisposeScope(), b.MoveToOuterDisposeScope());
    }

    /// <summary>Turns <paramref name="bn"/> into the identity at inference.</summary>
    public static void MakeIdentity(BatchNorm2d bn)
    {
        using var _ = no_grad();
        bn.weight!.fill_(1); bn.bias!.fill_(0);
        bn.running_mean!.fill_(0); bn.running_var!.fill_(1 - bn.eps);
    }
}
