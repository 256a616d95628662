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

    /// <summary>||a - b|| / ||b|| in float64.</summary>
    internal static double RelErr(Tensor a, Tensor b)
    {
        var x = a.to(ScalarType.Float64); var y = b.to(ScalarType.Float64);
        Assert.That(x.shape, Is.EqualTo(y.shape));
        return (x - y).norm().item<double>() / y.norm().item<double>();
    }
}
