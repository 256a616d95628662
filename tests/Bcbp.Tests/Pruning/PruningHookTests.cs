using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;
using Bcbp.Models;
using Bcbp.Training.Config;
using Bcbp.Training.Fitting;
using Bcbp.Training.Pruning;
using Bcbp.Training.Pruning.Layers;

namespace Bcbp.Tests.Pruning;

/// <summary>The hook in a real (tiny) training loop: masks registered, ramped, kept exact through optimizers, reported.</summary>
public class PruningHookTests
{
    [OneTimeSetUp] public void Init() => PruningTestData.Init();

    static PruneConfig Config(string method, double sparsity = 0.5, string kind = "cubic") => new()
    {
        Method = method, Sparsity = sparsity, TileRows = 16, BlockRows = 4, BlockCols = 4, FinetuneEpochs = 5,
        Schedule = new ScheduleConfig { Kind = kind, StartEpoch = 0, EndEpoch = 2, Frequency = 5 },
    };

    /// <summary>Runs the hook through <paramref name="steps"/> steps of the loop the trainer runs, on random data.</summary>
    static void Train(TinyNet net, PruningHook hook, optim.Optimizer opt, int steps, int stepsPerEpoch, Action<TrainContext>? afterStep = null)
    {
        var ctx = new TrainContext { Model = net, Optimizer = opt, Device = CPU, StepsPerEpoch = stepsPerEpoch };
        hook.OnTrainBegin(ctx);
        torch.manual_seed(1);
        for (int step = 0; step < steps; step++)
        {
            ctx.GlobalStep = step;
            ctx.Epoch = step / stepsPerEpoch;
            hook.OnBatchBegin(ctx);
            var x = torch.randn(4, 3, 6, 6);
            var y = torch.randint(0, 10, new long[] { 4 });
            opt.zero_grad();
            nn.functional.cross_entropy(net.forward(x), y).backward();
            hook.OnAfterBackward(ctx);
            opt.step();
            hook.OnAfterOptimizerStep(ctx);
            afterStep?.Invoke(ctx);
        }
        hook.OnTrainEnd(ctx);
    }

    static Serilog.ILogger Log => Serilog.Core.Logger.None;

    [Test]
    public void CreateRegistersOnesMasksThatTravelInTheStateDict()
    {
        var net = new TinyNet();
        var hook = PruningHook.Create(Config("bcbp"), net, 10, Log);
        var keys = net.state_dict().Keys.Where(k => k.EndsWith(WeightMask.BufferName)).ToArray();
        Assert.That(keys, Is.EqualTo(new[] { "conv2.weight_mask", "conv3.weight_mask", "hidden.weight_mask" }));
        Assert.That(hook.Layers.All(l => l.Mask.eq(1).all().item<bool>()));
        Assert.That(hook.AchievedSparsity, Is.EqualTo(0.0));
    }

    [Test]
    public void FilterPruningZeroesTheBiasOfPrunedFiltersSoTheirChannelsAreExactlyZero()
    {
        // TinyNet's convs have biases and no BatchNorm (as VGG without BN): a pruned filter's bias must go too, or
        // the channel still carries a constant and physical removal would change the outputs.
        var net = new TinyNet(3);
        var hook = PruningHook.Create(Config("filter"), net, stepsPerEpoch: 10, Log);
        Train(net, hook, optim.SGD(net.parameters(), 0.05, momentum: 0.9, weight_decay: 5e-4), 40, 10);
        foreach (var l in hook.Layers)
        {
            var pruned = l.Mask.reshape(l.M, -1).amax(1).eq(0);
            Assert.That(pruned.any().item<bool>(), l.Name + " has no pruned filter");
            var bias = l.Module.named_parameters(recurse: false).First(p => p.name == "bias").parameter;
            Assert.That(bias.masked_select(pruned).count_nonzero().item<long>(), Is.Zero, l.Name);
        }
        using var _ = torch.no_grad();
        var y = net.conv2.forward(net.conv1.forward(torch.randn(2, 3, 6, 6)));
        var prunedChannels = hook.Layers.First(l => l.Name == "conv2").Mask.reshape(32, -1).amax(1).eq(0);
        Assert.That(y.index_select(1, prunedChannels.nonzero().flatten()).count_nonzero().item<long>(), Is.Zero);
    }

    [TestCase("sgd")]
    [TestCase("adamw")]
    public void PrunedWeightsStayExactlyZeroThrough100StepsWithMomentumAndWeightDecay(string optimizer)
    {
        foreach (var method in new[] { "bcbp", "block", "filter" })
        {
            var net = new TinyNet(3);
            var hook = PruningHook.Create(Config(method), net, stepsPerEpoch: 10, Log);
            optim.Optimizer opt = optimizer == "sgd"
                ? optim.SGD(net.parameters(), 0.05, momentum: 0.9, weight_decay: 5e-4)
                : optim.AdamW(net.parameters(), 0.01, weight_decay: 0.05);
            var masks = new List<Tensor>();
            Train(net, hook, opt, 100, 10, ctx =>
            {
                foreach (var l in hook.Layers)
                    Assert.That(l.Weight.masked_select(l.Mask.eq(0)).count_nonzero().item<long>(), Is.Zero,
                                $"{method}/{optimizer}: pruned weight of {l.Name} non-zero after step {ctx.GlobalStep}");
                if (ctx.GlobalStep % 5 == 0) masks.Add(torch.cat(hook.Layers.Select(l => l.Mask.flatten()).ToArray()).clone());
            });
            for (int i = 1; i < masks.Count; i++)
                Assert.That(masks[i].le(masks[i - 1]).all().item<bool>(), $"{method}: mask not monotone at update {i}");
            Assert.That(hook.AchievedSparsity, Is.EqualTo(0.5).Within(0.03), method);
            // Live weights did train: the optimizer was not frozen by the masking.
            Assert.That(hook.Layers[0].Weight.masked_select(hook.Layers[0].Mask.eq(1)).count_nonzero().item<long>(), Is.GreaterThan(0));
        }
    }

    [Test]
    public void SparsityRampsAlongTheScheduleAndReachesTheTargetAtEndEpoch()
    {
        var net = new TinyNet(4);
        var hook = PruningHook.Create(Config("unstructured", 0.8), net, stepsPerEpoch: 10, Log);
        var seen = new Dictionary<long, double>();
        Train(net, hook, optim.SGD(net.parameters(), 0.01), 25, 10, ctx => seen[ctx.GlobalStep] = hook.AchievedSparsity);
        Assert.That(seen[0], Is.EqualTo(0.0).Within(1e-9));                               // cubic starts at initial = 0
        Assert.That(seen[10], Is.EqualTo(0.8 - 0.8 / 8).Within(2e-3));                   // middle: s_f (1 - (1/2)^3)
        Assert.That(seen[19], Is.EqualTo(seen[15]), "masks change only at update steps (every 5)");
        Assert.That(seen[20], Is.EqualTo(0.8).Within(1e-3));
        Assert.That(seen[24], Is.EqualTo(0.8).Within(1e-3));
    }

    [Test]
    public void ReportHasPerLayerSparsityKeptColumnsAndWit()
    {
        var net = new TinyNet(5);
        var hook = PruningHook.Create(Config("bcbp", 0.75, "one_shot"), net, 10, Log);
        Train(net, hook, optim.SGD(net.parameters(), 0.01), 3, 10);
        var dir = Path.Combine(Path.GetTempPath(), "bcbp-prune-report-" + Guid.NewGuid().ToString("N"));
        var report = hook.WriteReport(dir);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "prune_report.json")));
        var layers = doc.RootElement.GetProperty("layers");
        Assert.That(layers.GetArrayLength(), Is.EqualTo(3));
        var conv2 = layers[0];
        Assert.That(conv2.GetProperty("name").GetString(), Is.EqualTo("conv2"));
        Assert.That(conv2.GetProperty("achieved_sparsity").GetDouble(), Is.EqualTo(0.75).Within(1.0 / 144));
        Assert.That(conv2.GetProperty("tiles").GetInt64(), Is.EqualTo(2));  // 32 rows / tile_rows 16
        Assert.That(conv2.GetProperty("kept_columns_per_tile").EnumerateArray().Select(e => e.GetInt64()), Is.EqualTo(new long[] { 36, 36 }));
        Assert.That(report.Layers.All(l => Math.Abs(l.Wit - 1.0) < 1e-6), "bcbp wit must be 1.0");
        Assert.That(doc.RootElement.GetProperty("achieved_sparsity").GetDouble(), Is.EqualTo(hook.AchievedSparsity).Within(1e-9));
        Assert.That(File.ReadAllText(Path.Combine(dir, "prune_report.md")), Does.Contain("| conv2 | 32 | 144 |"));
        Directory.Delete(dir, true);
    }

    [Test]
    public void GlobalScopeSharesOneRankingWhileOverriddenLayersKeepTheirOwnSparsity()
    {
        var net = new TinyNet(8);
        using (torch.no_grad()) net.conv3.weight!.mul_(10); // strong layer: a global ranking prunes it less
        var config = Config("unstructured", 0.5, "one_shot");
        config.Scope = "global";
        config.Overrides.Add(new LayerOverride { Pattern = "hidden", Sparsity = 0.25 });
        var hook = PruningHook.Create(config, net, 10, Log);
        hook.UpdateMasks(1.0);
        var s = hook.Layers.ToDictionary(l => l.Name, l => l.AchievedSparsity);
        Assert.That(s["hidden"], Is.EqualTo(0.25).Within(1e-3));
        long shared = hook.Layers.Where(l => l.Name != "hidden").Sum(l => l.NumWeights);
        double sharedZeros = hook.Layers.Where(l => l.Name != "hidden").Sum(l => l.AchievedSparsity * l.NumWeights);
        Assert.That(sharedZeros / shared, Is.EqualTo(0.5).Within(1e-3));
        Assert.That(s["conv3"], Is.LessThan(s["conv2"] - 0.3));
    }

    [Test]
    public void ResumingLoadsMasksIntoTheRegisteredBuffers()
    {
        var net = new TinyNet(6);
        var hook = PruningHook.Create(Config("filter", 0.5, "one_shot"), net, 10, Log);
        Train(net, hook, optim.SGD(net.parameters(), 0.01), 2, 10);
        var path = Path.Combine(Path.GetTempPath(), "bcbp-resume-" + Guid.NewGuid().ToString("N") + ".dat");
        net.save(path);

        var resumed = new TinyNet(7);
        var hook2 = PruningHook.Create(Config("filter", 0.5, "one_shot"), resumed, 10, Log);
        resumed.load(path);
        File.Delete(path);
        Assert.That(hook2.AchievedSparsity, Is.EqualTo(hook.AchievedSparsity));
        for (int i = 0; i < hook.Layers.Count; i++)
            Assert.That(hook2.Layers[i].Mask.eq(hook.Layers[i].Mask).all().item<bool>(), Is.True);
    }

    sealed class Collect : Serilog.Core.ILogEventSink
    {
        public readonly List<string> Lines = new();
        public void Emit(Serilog.Events.LogEvent e) => Lines.Add($"{e.Level}: {e.RenderMessage()}");
    }

    [Test]
    public void UnsetTileRowsGiveEveryLayerSeveralTilesAndASingleTileLayerIsWarnedAbout()
    {
        var sink = new Collect();
        var log = new Serilog.LoggerConfiguration().WriteTo.Sink(sink).CreateLogger();
        var auto = Config("bcbp", 0.5, "one_shot");
        auto.TileRows = 0;
        PruningHook.Create(auto, new TinyNet(5), 10, log);
        Assert.That(auto.TileRows, Is.EqualTo(16), "conv2/conv3 have 32 rows, hidden 64: 16 rows = at least two tiles each");
        Assert.That(sink.Lines.Where(l => l.StartsWith("Warning")), Is.Empty);

        var tall = Config("bcbp", 0.5, "one_shot");
        tall.TileRows = 32;
        PruningHook.Create(tall, new TinyNet(5), 10, log);
        Assert.That(sink.Lines, Has.One.StartsWith("Warning").And.Contains("2 of 3 pruned layers are a single 32-row tile").And.Contains("conv2, conv3"));
    }

    [TestCase(new long[] { 16, 32, 64 }, 8)]        // ResNet-20 (CIFAR)
    [TestCase(new long[] { 64, 128, 256, 512, 2048 }, 32)] // ResNet-50
    [TestCase(new long[] { 48 }, 16)]
    [TestCase(new long[] { 1024 }, 64)]
    [TestCase(new long[] { 10 }, 2)]
    public void AutoTileRowsDivideEveryLayerIntoAtLeastTwoTiles(long[] rows, int expected)
        => Assert.That(Bcbp.Training.Pruning.Methods.TileShape.AutoRows(rows), Is.EqualTo(expected));
}
