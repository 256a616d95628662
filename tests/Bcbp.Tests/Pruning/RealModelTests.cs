using Bcbp.Models;
using Bcbp.Training.Config;
using Bcbp.Training.Pruning;
using Bcbp.Training.Pruning.Layers;
using Bcbp.Training.Pruning.Surgery;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Tests.Pruning;

/// <summary>The methods on the real models' layers (CIFAR ResNet-20, VGG-16), and physical filter pruning.</summary>
public class RealModelTests
{
    [OneTimeSetUp] public void Init() => PruningTestData.Init();

    static PruneConfig Config(string method, double sparsity) => new()
    {
        Method = method, Sparsity = sparsity, TileRows = 16, BlockRows = 4, BlockCols = 4,
        Schedule = new ScheduleConfig { Kind = "one_shot" },
    };

    [Test]
    public void DefaultExclusionIsTheStemAndTheClassifierForResNetAndVgg()
    {
        var resnet = LayerDiscovery.Discover(ModelFactory.Create("resnet20", 10, 3), new PruneConfig()).Select(l => l.Name).ToList();
        Assert.That(resnet, Has.Count.EqualTo(18));
        Assert.That(resnet, Does.Not.Contain("conv1").And.Not.Contain("fc"));
        var vgg = LayerDiscovery.Discover(ModelFactory.Create("vgg16_cifar", 10, 3), new PruneConfig()).Select(l => l.Name).ToList();
        Assert.That(vgg, Does.Not.Contain("features.0").And.Not.Contain("classifier.6"));
        Assert.That(vgg, Does.Contain("features.3").And.Contain("classifier.3"));
    }

    [TestCase(0.5)]
    [TestCase(0.75)]
    public void EveryResNet20LayerHitsItsSparsityAndBcbpIsBalanced(double s)
    {
        foreach (var method in new[] { "bcbp", "filter", "block", "unstructured" })
        {
            var model = ModelFactory.Create("resnet20", 10, 3);
            var hook = PruningHook.Create(Config(method, s), model, 1, Serilog.Core.Logger.None);
            hook.UpdateMasks(1.0);
            var report = hook.BuildReport();
            foreach (var l in report.Layers)
            {
                // Rounding (docs/pruning.md): bcbp 1/(2 K) per tile with tile_cols = K; filter 1/(2 M); block 16/(2 M K); unstructured exact.
                double tol = method switch { "bcbp" => 0.5 / l.K, "filter" => 0.5 / l.M, "block" => 8.0 / (l.M * l.K), _ => 0.5 / (l.M * l.K) };
                Assert.That(l.AchievedSparsity, Is.EqualTo(s).Within(tol + 1e-9), $"{method} {l.Name}");
                if (method == "bcbp")
                {
                    Assert.That(l.Wit, Is.EqualTo(1.0).Within(1e-6), $"bcbp {l.Name}");
                    Assert.That(l.KeptColumnsPerTile.Distinct().Count(), Is.EqualTo(1), $"bcbp {l.Name}");
                }
            }
        }
    }

    [Test]
    public void NmHoldsInEveryGroupOfEveryResNet20Layer()
    {
        var model = ModelFactory.Create("resnet20", 10, 3);
        var hook = PruningHook.Create(new PruneConfig { Method = "nm", Sparsity = 0.5, Schedule = new ScheduleConfig { Kind = "one_shot" } }, model, 1, Serilog.Core.Logger.None);
        hook.UpdateMasks(1.0);
        foreach (var l in hook.Layers)
            Assert.That(WeightMatrix.AsMatrix(l.Mask).reshape(l.M, l.K / 4, 4).sum(2).eq(2).all().item<bool>(), l.Name);
    }

    /// <summary>Non-trivial BatchNorm statistics so that a wrong channel mapping would show in the outputs.</summary>
    static void RandomizeNorms(nn.Module model)
    {
        using var _ = torch.no_grad();
        torch.manual_seed(11);
        foreach (var (_, m) in model.named_modules())
            if (m is TorchSharp.Modules.BatchNorm2d bn)
            {
                bn.weight!.uniform_(0.5, 1.5);
                bn.bias!.uniform_(-0.2, 0.2);
                bn.running_mean!.uniform_(-0.1, 0.1);
                bn.running_var!.uniform_(0.5, 1.5);
            }
    }

    [TestCase("resnet20", 16)]
    [TestCase("vgg16_cifar", 8)]
    public void FilterPrunedModelShrinksAndComputesTheSameOutputs(string arch, int size)
    {
        var model = ModelFactory.Create(arch, 10, 3);
        RandomizeNorms(model);
        var hook = PruningHook.Create(Config("filter", 0.5), model, 1, Serilog.Core.Logger.None);
        hook.UpdateMasks(1.0);
        model.eval();
        torch.manual_seed(3);
        var x = torch.randn(2, 3, size, size);
        using var _ = torch.no_grad();
        var masked = model.forward(x);
        long paramsBefore = model.parameters().Sum(p => p.numel());

        var removed = FilterSurgery.Apply(model);
        var shrunk = model.forward(x);
        long paramsAfter = model.parameters().Sum(p => p.numel());

        Assert.That(removed, Is.Not.Empty);
        Assert.That(removed.All(r => r.ChannelsAfter == r.ChannelsBefore / 2), "each removable producer loses its pruned half");
        Assert.That(paramsAfter, Is.LessThan(paramsBefore * 0.8));
        Assert.That((shrunk - masked).abs().max().item<float>(), Is.LessThan(1e-4f), $"{arch}: outputs changed by surgery");
        // The shrunk model carries consistent masks and state dict shapes.
        foreach (var l in hook.Layers) Assert.That(l.Mask.shape, Is.EqualTo(l.Weight.shape), l.Name);
        Assert.That(model.state_dict().Values.All(t => t.numel() > 0));
    }

    [Test]
    public void BottleneckAndBasicBlockShrinkOnlyTheirInternalChannels()
    {
        // TorchVision's own block classes (private to it: taken out of its ResNets), found by structure alone.
        var bottleneck = (nn.Module<Tensor, Tensor>)ModuleReplacer.Get(torchvision.models.resnet50(), "layer1.0");
        var basic = (nn.Module<Tensor, Tensor>)ModuleReplacer.Get(torchvision.models.resnet18(), "layer1.0");
        foreach (var (block, expected) in new (nn.Module<Tensor, Tensor>, string[])[] { (bottleneck, new[] { "conv1", "conv2" }), (basic, new[] { "conv1" }) })
        {
            RandomizeNorms(block);
            var config = Config("filter", 0.5);
            config.Exclude = new();
            var hook = PruningHook.Create(config, block, 1, Serilog.Core.Logger.None);
            hook.UpdateMasks(1.0);
            block.eval();
            torch.manual_seed(4);
            var x = torch.randn(2, 64, 6, 6);
            using var _ = torch.no_grad();
            var masked = block.forward(x);
            var removed = FilterSurgery.Apply(block);
            Assert.That(removed.Select(r => r.Producer), Is.EqualTo(expected), "only internal channels are removable");
            Assert.That((block.forward(x) - masked).abs().max().item<float>(), Is.LessThan(1e-4f));
            // The block output keeps its width for the residual sum: its pruned rows stay as masked zeros.
            Assert.That(block.forward(x).shape[1], Is.EqualTo(masked.shape[1]));
        }
    }
}
