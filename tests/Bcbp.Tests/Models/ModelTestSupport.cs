using TorchSharp;

namespace Bcbp.Tests.Models;

/// <summary>Shared set-up for model tests.</summary>
public static class ModelTestSupport
{
    /// <summary>Loads the CPU backend and fixes the seed so model construction is deterministic.</summary>
    public static void InitCpu()
    {
        Bcbp.Training.Backend.TorchBackend.Initialize("cpu");
        torch.manual_seed(0);
    }

    /// <summary>Number of trainable parameter elements (torchvision's <c>sum(p.numel())</c>).</summary>
    public static long ParameterCount(torch.nn.Module model) => model.parameters().Sum(p => p.numel());
}
