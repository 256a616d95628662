using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Bcbp.Tests.TorchFiles;

/// <summary>Makes a model look pruned the way Bcbp's pruning does: a 0/1 <c>weight_mask</c> buffer per conv.</summary>
public static class MaskingHelpers
{
    /// <summary>Registers a random half-zero mask on every conv and zeroes the masked weights; returns the count.</summary>
    public static int PruneHalfOfEveryConv(nn.Module model, int seed = 3)
    {
        var generator = new Generator((ulong)seed);
        int count = 0;
        using var noGrad = torch.no_grad();
        foreach (var (_, m) in model.named_modules())
        {
            if (m is not Conv2d conv) continue;
            var mask = (torch.rand(conv.weight.shape, generator: generator) > 0.5).to(ScalarType.Float32);
            conv.weight.mul_(mask);
            conv.register_buffer("weight_mask", mask);
            count++;
        }
        return count;
    }
}
