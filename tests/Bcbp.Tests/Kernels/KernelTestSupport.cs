using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Tests.Kernels;

/// <summary>CPU backend and helpers shared by the kernel tests.</summary>
internal static class KernelTestSupport
{
    internal static void UseCpu() => Bcbp.Training.Backend.TorchBackend.Initialize("cpu");

    /// <summary>Same shape, dtype and values.</summary>
    internal static bool Same(Tensor a, Tensor b)
        => a.shape.SequenceEqual(b.shape) && a.dtype == b.dtype && a.eq(b).all().item<bool>();

    /// <summary>Gives every BatchNorm of <paramref name="model"/> non-trivial statistics, so folding has work to do.</summary>
    internal static void RandomizeBatchNorms(nn.Module model, Generator gen)
    {
        using var _ = no_grad();
        foreach (var (_, m) in model.named_modules())
            if (m is TorchSharp.Modules.BatchNorm2d bn)
            {
                bn.running_mean!.copy_(randn(bn.running_mean.shape, generator: gen) * 0.1);
                bn.running_var!.copy_(rand(bn.running_var.shape, generator: gen) + 0.5);
                bn.weight!.copy_(rand(bn.weight.shape, generator: gen) + 0.5);
                bn.bias!.copy_(randn(bn.bias.shape, generator: gen) * 0.1);
            }
    }

    /// <summary>||a - b|| / ||b|| in float64.</summary>
    internal static double RelErr(Tensor a, Tensor b)
    {
        var x = a.to(ScalarType.Float64); var y = b.to(ScalarType.Float64);
        Assert.That(x.shape, Is.EqualTo(y.shape));
        return (x - y).norm().item<double>() / y.norm().item<double>();
    }
}
