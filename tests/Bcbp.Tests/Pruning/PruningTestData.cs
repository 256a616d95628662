using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Tests.Pruning;

/// <summary>Seeded random matrices and a tiny conv net named like a ResNet (conv1 ... fc) for the pruning tests.</summary>
static class PruningTestData
{
    /// <summary>CPU backend with one intra-op thread: these tensors are tiny, and on a shared 2-core machine libtorch's
    /// spinning worker threads made the training-loop tests ~8x slower.</summary>
    public static void Init()
    {
        Bcbp.Training.Backend.TorchBackend.Initialize("cpu");
        torch.set_num_threads(1);
    }

    /// <summary>Gaussian [m, k] matrix from <paramref name="seed"/>.</summary>
    public static Tensor Matrix(long m, long k, int seed)
    {
        torch.manual_seed(seed);
        return torch.randn(m, k);
    }

    /// <summary>Row tile r (of <paramref name="tileRows"/> rows) scaled by 4^r: low tiles hold the weak weights.</summary>
    public static Tensor Skewed(long m, long k, int tileRows, int seed)
    {
        var w = Matrix(m, k, seed);
        var scale = torch.pow(4.0, torch.arange(m, dtype: ScalarType.Float32).div(tileRows, rounding_mode: RoundingMode.floor));
        return w * scale.unsqueeze(1);
    }

    public static long Zeros(Tensor mask) => mask.numel() - mask.count_nonzero().item<long>();
}

/// <summary>A tiny model whose layer names follow ResNet's (conv1, layer convs, fc).</summary>
sealed class TinyNet : nn.Module<Tensor, Tensor>
{
    public readonly TorchSharp.Modules.Conv2d conv1, conv2, conv3;
    public readonly TorchSharp.Modules.Linear hidden, fc;

    public TinyNet(int seed = 0) : base(nameof(TinyNet))
    {
        torch.manual_seed(seed);
        conv1 = nn.Conv2d(3, 16, 3, padding: 1);
        conv2 = nn.Conv2d(16, 32, 3, padding: 1);
        conv3 = nn.Conv2d(32, 32, 3, padding: 1);
        hidden = nn.Linear(32, 64);
        fc = nn.Linear(64, 10);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        x = nn.functional.relu(conv1.forward(x));
        x = nn.functional.relu(conv2.forward(x));
        x = nn.functional.relu(conv3.forward(x));
        x = x.mean(new long[] { 2, 3 });
        return fc.forward(nn.functional.relu(hidden.forward(x)));
    }
}
