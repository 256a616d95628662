using Bcbp.Kernels.Conversion;
using Bcbp.Kernels.Modules;
using Bcbp.Models;
using Bcbp.Models.Structure;
using Bcbp.Tests.Fitting;
using Bcbp.Training.Config;
using Bcbp.Training.Fitting;
using Bcbp.Training.Pruning;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Bcbp.Tests.Pruning;

/// <summary>
/// Pruning, reports, sparse conversion and the sparse engine on a model Bcbp did not build: a ResNet-like module
/// written here, with its own class and layer names (no conv1/bn1, no Bcbp.Models class), a depthwise conv and a
/// Conv1d that must be left dense and named.
/// </summary>
public class AnyModelTests
{
    [OneTimeSetUp] public void Init() => PruningTestData.Init();

    /// <summary>A residual unit as a user might write it: fields typed as modules so a sparse module can take their place.</summary>
    sealed class Unit : nn.Module<Tensor, Tensor>
    {
        private readonly nn.Module<Tensor, Tensor> squeeze, squeezeNorm, expand, expandNorm;
        private readonly nn.Module<Tensor, Tensor>? project;

        public Unit(long cin, long cout, long stride) : base(nameof(Unit))
        {
            squeeze = nn.Conv2d(cin, cout, 3, stride: stride, padding: 1, bias: false);
            squeezeNorm = nn.BatchNorm2d(cout);
            expand = nn.Conv2d(cout, cout, 3, padding: 1, bias: false);
            expandNorm = nn.BatchNorm2d(cout);
            if (stride != 1 || cin != cout) project = nn.Sequential(nn.Conv2d(cin, cout, 1, stride: stride, bias: false), nn.BatchNorm2d(cout));
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            var y = squeezeNorm.call(squeeze.call(x)).relu();
            y = expandNorm.call(expand.call(y));
            return (y + (project?.call(x) ?? x)).relu();
        }
    }

    sealed class UserNet : nn.Module<Tensor, Tensor>
    {
        private readonly nn.Module<Tensor, Tensor> entry, entryNorm, depthwise, head;
        private readonly Sequential body;
        private readonly nn.Module<Tensor, Tensor> mixer; // a Conv1d over the pooled features: a type pruning does not know

        public UserNet() : base(nameof(UserNet))
        {
            entry = nn.Conv2d(3, 16, 3, padding: 1, bias: false);
            entryNorm = nn.BatchNorm2d(16);
            depthwise = nn.Conv2d(16, 16, 3, padding: 1, groups: 16, bias: false);
            body = nn.Sequential(new Unit(16, 32, 1), new Unit(32, 32, 1), new Unit(32, 64, 2));
            mixer = nn.Conv1d(1, 1, 3, padding: 1);
            head = nn.Linear(64, 10);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            x = entryNorm.call(entry.call(x)).relu();
            x = body.call(depthwise.call(x));
            var pooled = nn.functional.adaptive_avg_pool2d(x, 1).flatten(1);
            return head.call(mixer.call(pooled.unsqueeze(1)).squeeze(1));
        }
    }

    static UserNet Trained(int seed)
    {
        torch.manual_seed(seed);
        var net = new UserNet();
        var gen = new Generator((ulong)seed);
        using var _ = no_grad();
        foreach (var (_, m) in net.named_modules())
            if (m is BatchNorm2d bn)
            {
                bn.running_mean!.copy_(randn(bn.running_mean.shape, generator: gen) * 0.1);
                bn.running_var!.copy_(rand(bn.running_var.shape, generator: gen) + 0.5);
                bn.weight!.copy_(rand(bn.weight.shape, generator: gen) + 0.5);
                bn.bias!.copy_(randn(bn.bias.shape, generator: gen) * 0.1);
            }
        return net;
    }

    static PruneConfig Config(string method, double sparsity = 0.75, string schedule = "one_shot") => new()
    {
        Method = method, Sparsity = sparsity, TileRows = 16, BlockRows = 4, BlockCols = 4,
        Schedule = new ScheduleConfig { Kind = schedule, StartEpoch = 0, EndEpoch = 2, Frequency = 2 },
    };

    [Test]
    public void UserResNetPrunedWithBcbpAt75PercentConvertsToASparseModelWithTheMaskedOutputs()
    {
        var net = Trained(1);
        var hook = PruningHook.Create(Config("bcbp"), net, 1, Serilog.Core.Logger.None);
        hook.UpdateMasks(1.0);

        // @first (entry) and @last (head) are excluded as for our models; the depthwise conv and the Conv1d are named.
        Assert.That(hook.Layers.Select(l => l.Name), Is.EqualTo(new[]
        {
            "body.0.squeeze", "body.0.expand", "body.0.project.0", "body.1.squeeze", "body.1.expand",
            "body.2.squeeze", "body.2.expand", "body.2.project.0",
        }));
        Assert.That(hook.LeftDense.Select(l => l.Name), Is.EqualTo(new[] { "depthwise", "mixer" }));
        Assert.That(hook.LeftDense[0].Reason, Does.Contain("groups=16"));
        Assert.That(hook.LeftDense[1].Reason, Does.Contain("Conv1d"));
        Assert.That(hook.AchievedSparsity, Is.EqualTo(0.75).Within(0.01));
        var report = hook.BuildReport();
        Assert.That(report.Layers.All(l => Math.Abs(l.Wit - 1.0) < 1e-6), "BCBP tiles are balanced");
        Assert.That(report.LeftDense, Has.Count.EqualTo(2));

        net.eval();
        var x = randn(new long[] { 4, 3, 16, 16 }, generator: new Generator(5));
        using var noGrad = no_grad();
        var masked = net.forward(x).detach().clone();

        var result = SparseConversion.Convert(net, 16, SparseLayout.Bcbp, foldBatchNorm: true);

        Assert.That(result.Converted, Is.EqualTo(hook.Layers.Select(l => l.Name)));
        Assert.That(result.LeftDense, Is.Empty);
        var modules = net.named_modules().ToDictionary(m => m.name, m => m.module);
        Assert.That(result.Converted.Select(n => modules[n]), Has.All.InstanceOf<BcbpConv2d>());
        Assert.That(modules["body.0.squeezeNorm"], Is.InstanceOf<Identity>(), "the BN after a converted conv is folded into it");
        Assert.That(modules["entryNorm"], Is.InstanceOf<BatchNorm2d>(), "the excluded entry conv keeps its BN");
        var sparse = net.forward(x);   // CPU: SparseReference over the packed BCBP weights
        double relErr = (sparse - masked).norm().item<float>() / masked.norm().item<float>();
        TestContext.Out.WriteLine($"user ResNet, bcbp 75%: {result.Converted.Count} convs sparse, logits rel err {relErr:E2}");
        Assert.That(relErr, Is.LessThan(1e-5));
        Assert.That(sparse.argmax(1).eq(masked.argmax(1)).all().item<bool>());
    }

    [TestCase("bcbp")]
    [TestCase("filter")]
    [TestCase("block")]
    [TestCase("unstructured")]
    [TestCase("nm")]
    public void EveryMethodPrunesTheUserModelToItsTarget(string method)
    {
        var net = Trained(2);
        double target = method == "nm" ? 0.5 : 0.75;
        var hook = PruningHook.Create(Config(method, target), net, 1, Serilog.Core.Logger.None);
        hook.UpdateMasks(1.0);
        Assert.That(hook.AchievedSparsity, Is.EqualTo(target).Within(0.02), method);
        foreach (var l in hook.Layers)
            Assert.That(l.Weight.masked_select(l.Mask.eq(0)).count_nonzero().item<long>(), Is.Zero, l.Name);
        if (method == "filter")
        {
            // The user's BN (found by structure: registered right after its conv) is zeroed with each pruned filter.
            var norms = ModelStructure.ConvNorms(net);
            var layer = hook.Layers.First(l => l.Name == "body.0.squeeze");
            var dead = layer.Mask.reshape(layer.M, -1).amax(1).eq(0);
            Assert.That(norms["body.0.squeeze"].Norm, Is.EqualTo("body.0.squeezeNorm"));
            Assert.That(norms["body.0.squeeze"].Module.weight!.masked_select(dead).count_nonzero().item<long>(), Is.Zero);
        }
        Assert.That(hook.BuildReport().Layers, Has.Count.EqualTo(hook.Layers.Count));
    }

    [TestCase("cubic")]
    [TestCase("linear")]
    public void GradualSchedulesReachTheTargetWhileTheUserModelTrains(string schedule)
    {
        var net = Trained(3);
        var data = new UserShapedSource(32);
        var prune = Config("bcbp", 0.75, schedule);
        const int stepsPerEpoch = 4;
        var hook = PruningHook.Create(prune, net, stepsPerEpoch, Serilog.Core.Logger.None);
        var trainer = new Trainer(net, new TrainConfig { Lr = 0.01, LrSchedule = "constant" }, TrainingPhase.Finetune, 3, stepsPerEpoch, CPU, new[] { hook });
        trainer.Fit(data, data, new FitOptions { BatchSize = 8, Augment = false });
        Assert.That(hook.AchievedSparsity, Is.EqualTo(0.75).Within(0.01));
    }

    /// <summary>3x16x16 inputs with 10 classes (the user model's shape), learnable patterns.</summary>
    sealed class UserShapedSource : Bcbp.Training.Data.IBatchSource
    {
        readonly Tensor _x, _y;
        public UserShapedSource(int count)
        {
            var gen = new Generator(4);
            _y = randint(10, new long[] { count }, generator: gen, dtype: ScalarType.Int64);
            _x = randn(new long[] { 10, 3, 16, 16 }, generator: gen).index_select(0, _y) + 0.3f * randn(new long[] { count, 3, 16, 16 }, generator: gen);
            Count = count;
        }
        public int Count { get; }
        public int NumClasses => 10;
        public int Channels => 3;
        public (int Height, int Width) ImageSize => (16, 16);
        public IEnumerable<(Tensor Input, Tensor Target)> Batches(int batchSize, bool shuffle, bool augment, int epoch)
        {
            for (int i = 0; i < Count; i += batchSize)
                yield return (_x.narrow(0, i, Math.Min(batchSize, Count - i)), _y.narrow(0, i, Math.Min(batchSize, Count - i)));
        }
    }

    [TestCase("mobilenet_v2", 32, 8, 17)]
    [TestCase("alexnet", 64, 16, 0)]
    public void TorchVisionZooModelsPruneAndConvertWithTheMaskedOutputs(string arch, int size, int tileRows, int depthwise)
    {
        torch.manual_seed(6);
        using var model = ModelFactory.Create(arch, 10, 3);
        var config = Config("bcbp");
        config.TileRows = tileRows;
        config.Exclude = new() { "@first", "@last", "classifier.*" };   // AlexNet's 4096-wide linears would take seconds to rank
        var hook = PruningHook.Create(config, model, 1, Serilog.Core.Logger.None);
        hook.UpdateMasks(1.0);
        Assert.That(hook.LeftDense.Count(l => l.Reason.Contains("grouped")), Is.EqualTo(depthwise), "depthwise convs stay dense");
        Assert.That(hook.AchievedSparsity, Is.EqualTo(0.75).Within(0.01));
        model.eval();
        using var noGrad = no_grad();
        var x = randn(new long[] { 2, 3, size, size }, generator: new Generator(7));
        var masked = model.call(x).detach().clone();
        var result = SparseConversion.Convert(model, tileRows, SparseLayout.Bcbp, foldBatchNorm: true);
        Assert.That(result.Converted, Is.EqualTo(hook.Layers.Select(l => l.Name)));
        var sparse = model.call(x);
        double relErr = (sparse - masked).norm().item<float>() / masked.norm().item<float>();
        TestContext.Out.WriteLine($"{arch}: {result.Converted.Count} layers sparse, {hook.LeftDense.Count} left dense, rel err {relErr:E2}");
        Assert.That(relErr, Is.LessThan(1e-4));
    }

    [Test]
    public void TorchVisionResNeXtKeepsItsGroupedConvsDenseUnderBcbpByName()
    {
        using var model = ModelFactory.Create("resnext50_32x4d", 10, 3);
        var leftDense = Bcbp.Training.Pruning.Layers.LayerDiscovery.LeftDense(model, Config("bcbp"));
        Assert.That(leftDense, Has.Count.EqualTo(16), "one grouped 3x3 conv per bottleneck");
        Assert.That(leftDense.Select(l => l.Name), Has.All.Match(@"^layer\d\.\d+\.conv2$"));
        Assert.That(leftDense[0].Reason, Does.Contain("groups=32"));
        var layers = Bcbp.Training.Pruning.Layers.LayerDiscovery.Discover(model, Config("bcbp"));
        Assert.That(layers.Select(l => l.Name), Has.None.EqualTo("layer1.0.conv2").And.Some.EqualTo("layer1.0.conv1"));
        Assert.That(Bcbp.Training.Pruning.Layers.LayerDiscovery.LeftDense(model, Config("unstructured")), Is.Empty,
            "element-wise masks work on grouped weights");
        Assert.That(ModelStructure.ChannelChains(model), Is.Empty, "every bottleneck's inner channels run through a grouped conv");
    }

    [Test]
    public void StructureOfOurModelsIsFoundWithoutTheirClassNames()
    {
        var resnet20 = ModelStructure.ChannelChains(ModelFactory.Create("resnet20", 10, 3));
        Assert.That(resnet20, Has.Count.EqualTo(9));
        Assert.That(resnet20[0], Is.EqualTo(new ChannelChain("layer1.0.conv1", "layer1.0.bn1", "layer1.0.conv2", 1)));
        var resnet50 = ModelStructure.ChannelChains(ModelFactory.Create("resnet50", 10, 3));
        Assert.That(resnet50, Has.Count.EqualTo(32));
        Assert.That(resnet50.Take(2), Is.EqualTo(new[]
        {
            new ChannelChain("layer1.0.conv1", "layer1.0.bn1", "layer1.0.conv2", 1),
            new ChannelChain("layer1.0.conv2", "layer1.0.bn2", "layer1.0.conv3", 1),
        }));
        var vgg = ModelStructure.ChannelChains(ModelFactory.Create("vgg16_bn", 10, 3));
        Assert.That(vgg, Has.Count.EqualTo(13));
        Assert.That(vgg[0], Is.EqualTo(new ChannelChain("features.0", "features.1", "features.3", 1)));
        Assert.That(vgg[^1], Is.EqualTo(new ChannelChain("features.40", "features.41", "classifier.0", 49)));
        Assert.That(ModelStructure.ChannelChains(ModelFactory.Create("vgg16_cifar", 10, 3))[^1].ColumnsPerChannel, Is.EqualTo(1));
        // The user model: each unit's inner pair; the depthwise conv and the projections are no producers.
        Assert.That(ModelStructure.ChannelChains(Trained(0)).Select(c => c.Producer + "->" + c.Consumer), Is.EqualTo(new[]
        {
            "body.0.squeeze->body.0.expand", "body.1.squeeze->body.1.expand", "body.2.squeeze->body.2.expand",
        }));
    }
}
