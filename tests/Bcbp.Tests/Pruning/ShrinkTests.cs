using Bcbp.Kernels.Formats;
using Bcbp.Models;
using Bcbp.Models.IO;
using Bcbp.Models.Structure;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Bcbp.Training.Cli;
using Bcbp.Training.Backend;
using Bcbp.Training.Config;
using Bcbp.Training.Data;
using Bcbp.Training.Inference;
using Bcbp.Training.Json;
using Bcbp.Training.Pruning.Surgery;
using Bcbp.Training.Pruning;
using Bcbp.Training.Runs;
using Bcbp.Training.Shrink;

namespace Bcbp.Tests.Pruning;

/// <summary>
/// <c>bcbp shrink</c> on tiny run folders: a filter-pruned CIFAR ResNet-20 trained by the runner, a VGG-16 (CIFAR)
/// folder written directly; outputs unchanged, exact parameter and MAC savings, reload round trip, error paths.
/// </summary>
public class ShrinkTests
{
    string _dir = "", _filterRun = "";

    static ExperimentConfig Tiny(string name, string dir, PruneConfig? prune, string arch = "resnet20", int channels = 1) => new()
    {
        Name = name, Seed = 3, Device = "cpu", OutputDir = dir,
        Model = new ModelConfig { Arch = arch, NumClasses = 4, InChannels = channels },
        Data = new DataConfig
        {
            Dataset = "synthetic", NumClasses = 4, Channels = channels, ImageSize = 8, NumTrain = 48, NumTest = 16,
            BatchSize = 16, EvalBatchSize = 16, Augment = false,
        },
        Train = new TrainConfig { Epochs = 1, Lr = 0.05, WarmupEpochs = 0 },
        Prune = prune,
    };

    static PruneConfig OneShot(string method) => new()
    {
        Method = method, Sparsity = 0.5, FinetuneEpochs = 1, TileRows = 16, Schedule = new ScheduleConfig { Kind = "one_shot" },
    };

    [OneTimeSetUp]
    public void TrainFilterRun()
    {
        PruningTestData.Init();
        _dir = Directory.CreateTempSubdirectory("bcbp-shrink-").FullName;
        var options = new RunOptions { ShowProgress = false, Quiet = true, CpuThreads = 1 };
        _filterRun = TrainingRun.Execute(Tiny("filter", _dir, OneShot("filter")), options).RunDir;
    }

    [OneTimeTearDown] public void Clean() => Directory.Delete(_dir, recursive: true);

    static ShrinkOptions Fast(string run, string? outDir = null) => new(run, outDir, Batch: 4, Warmup: 1, Iters: 2);

    /// <summary>(in, out) channels of the 9 CIFAR ResNet-20 blocks and the side of their output.</summary>
    static IEnumerable<(long In, long C, long Side)> ResNet20Blocks(long side)
    {
        long cin = 16;
        foreach (var (c, stride) in new[] { (16L, 1), (32L, 2), (64L, 2) })
            for (int b = 0; b < 3; b++)
            {
                if (b == 0) side /= stride;
                yield return (cin, c, side);
                cin = c;
            }
    }

    [Test]
    public void FilterRunShrinksToHalfTheInnerChannelsWithTheSameOutputs()
    {
        var outDir = Path.Combine(_dir, "out-resnet");
        int code = BcbpCli.Run(new[] { "shrink", "--run", _filterRun, "--out", outDir, "--batch", "4", "--iters", "2", "--warmup", "1" });
        Assert.That(code, Is.EqualTo(0));
        var r = OutputJson.Read<ShrinkReport>(Path.Combine(outDir, ShrinkReport.FileName));

        Assert.That(r.Removed.Select(x => x.Producer), Is.EqualTo(ResNet20Blocks(8).Select((_, i) => $"layer{i / 3 + 1}.{i % 3}.conv1")));
        Assert.That(r.Removed.All(x => x.ChannelsAfter * 2 == x.ChannelsBefore), "filter 50%: each inner conv keeps half its filters");
        // Block outputs keep their width (residual sums): their pruned half stays as zero rows.
        Assert.That(r.ZeroFiltersLeft.Keys, Is.EquivalentTo(ResNet20Blocks(8).Select((_, i) => $"layer{i / 3 + 1}.{i % 3}.conv2")));

        // Removed per block: C/2 filters of conv1 (Cin*9 weights each) and their bn1 affine, C/2 input channels of conv2.
        long paramsRemoved = ResNet20Blocks(8).Sum(b => b.C / 2 * b.In * 9 + b.C + b.C * (b.C / 2) * 9);
        long macsRemoved = ResNet20Blocks(8).Sum(b => b.Side * b.Side * (b.C / 2 * b.In * 9 + b.C * (b.C / 2) * 9));
        Assert.That(r.ParamsBefore - r.ParamsAfter, Is.EqualTo(paramsRemoved));
        Assert.That(r.MacsBefore - r.MacsAfter, Is.EqualTo(macsRemoved));
        Assert.That(r.NonzeroParamsAfter, Is.LessThanOrEqualTo(r.NonzeroParamsBefore));

        Assert.That(r.MaxAbsLogitDiff, Is.LessThanOrEqualTo(r.Tolerance));
        Assert.That(r.Tolerance, Is.LessThan(1e-2), "the tolerance is relative to logits of a tiny model");
        Assert.That(r.ReloadMaxAbsDiff, Is.LessThanOrEqualTo(r.Tolerance));
        Assert.That(r.Top1Agreement, Is.EqualTo(1.0));
        Assert.That(r.Top1Shrunk, Is.EqualTo(r.Top1Masked));
        Assert.That(r.TestImages, Is.EqualTo(16));
        // The masked model rebuilt from the folder scores what the run reported.
        Assert.That(r.Top1Masked, Is.EqualTo(RunResult.Read(Path.Combine(_filterRun, "results.json")).Top1).Within(1e-9));
        Assert.That(r.MaskedImagesPerSec, Is.GreaterThan(0));
        Assert.That(r.ShrunkImagesPerSec, Is.GreaterThan(0));
        foreach (var f in new[] { ShrinkManifest.WeightsFile, ShrinkManifest.TorchWeightsFile, ShrinkManifest.FileName })
            Assert.That(File.Exists(Path.Combine(outDir, f)), f);
        Assert.That(Directory.GetFiles(outDir, "*.tmp*", SearchOption.AllDirectories).Concat(Directory.GetFiles(outDir, ".*")), Is.Empty,
            "no temporary file is left behind");
    }

    /// <summary>The run's masked model, as the runner left it.</summary>
    static nn.Module<Tensor, Tensor> MaskedModel(string run, string arch = "resnet20", int channels = 1)
    {
        var model = ModelFactory.Create(arch, 4, channels);
        StateDictIO.Load(model, Path.Combine(run, "model.safetensors"), strict: true, loadMasks: true);
        model.eval();
        return model;
    }

    [Test]
    public void ShrunkFilesReloadIntoAFreshModelThroughTheManifestOrTheStateDictShapes()
    {
        var outDir = Path.Combine(_dir, "out-reload");
        ShrinkExport.Run(Fast(_filterRun, outDir), CPU);
        var masked = MaskedModel(_filterRun);
        manual_seed(5);
        var x = randn(3, 1, 8, 8);
        using var _ = no_grad();
        var expected = masked.call(x);

        var viaManifest = ShrinkManifest.Load(Path.Combine(outDir, ShrinkManifest.FileName));
        viaManifest.eval();
        Assert.That((viaManifest.call(x) - expected).abs().max().item<float>(), Is.LessThan(1e-4f));

        foreach (var file in new[] { ShrinkManifest.WeightsFile, ShrinkManifest.TorchWeightsFile })
        {
            var state = StateDictIO.Read(Path.Combine(outDir, file));
            var fresh = ModelFactory.Create("resnet20", 4, 1);
            Assert.Throws<StateDictMismatchException>(() => StateDictLoader.Load(fresh, state, strict: true, loadMasks: true),
                "the architecture alone does not have the shrunk widths");
            FilterSurgery.ResizeTo(fresh, state);
            StateDictLoader.Load(fresh, state, strict: true, loadMasks: true);
            fresh.eval();
            Assert.That((fresh.call(x) - expected).abs().max().item<float>(), Is.LessThan(1e-4f), file);
            Assert.That(((Conv2d)fresh.named_modules().First(m => m.name == "layer3.2.conv1").module).out_channels, Is.EqualTo(32));
        }
    }

    /// <summary>Non-trivial BatchNorm statistics so that a wrong channel mapping would show in the outputs.</summary>
    internal static void RandomizeNorms(nn.Module model)
    {
        using var _ = no_grad();
        manual_seed(11);
        foreach (var (_, m) in model.named_modules())
            if (m is BatchNorm2d bn)
            {
                bn.weight!.uniform_(0.5, 1.5);
                bn.bias!.uniform_(-0.2, 0.2);
                bn.running_mean!.uniform_(-0.1, 0.1);
                bn.running_var!.uniform_(0.5, 1.5);
            }
    }

    /// <summary>A run folder as the runner leaves it (config.json, model.safetensors), written without training.</summary>
    string WriteRun(string name, string arch, int channels, PruneConfig? prune, Action<nn.Module>? edit = null)
    {
        var config = Tiny(name, _dir, prune, arch, channels);
        var model = ModelFactory.Create(arch, 4, channels);
        RandomizeNorms(model);
        if (prune is not null) PruningHook.Create(prune, model, 1, Serilog.Core.Logger.None).UpdateMasks(1.0);
        edit?.Invoke(model);
        var run = Path.Combine(_dir, name);
        ConfigSerializer.Save(config, Path.Combine(run, "config.json"));
        StateDictIO.Save(model, Path.Combine(run, "model.safetensors"));
        return run;
    }

    /// <summary>VGG-16 (CIFAR) at the API level (the export's model building is slow for its 15 M parameters): the last
    /// conv's channels leave classifier.0's input columns, and a fresh model resized to the state dict loads it.</summary>
    [Test]
    public void VggShrinksEveryPrunedConvAndTheClassifierInputAndReloads()
    {
        var model = ModelFactory.Create("vgg16_cifar", 4, 3);
        RandomizeNorms(model);
        SyntheticMasks.PruneHalfTheFilters(model, new Generator(9));  // features.0, the stem, is left
        model.eval();
        manual_seed(6);
        var x = randn(2, 3, 8, 8);
        using var _ = no_grad();
        var masked = model.call(x);
        var removed = FilterSurgery.Apply(model);
        // 13 chains (12 conv -> conv, the last conv -> classifier.0); features.0 is not pruned (default exclusion @first).
        Assert.That(removed, Has.Count.EqualTo(12));
        Assert.That(removed.All(r => r.ChannelsAfter * 2 == r.ChannelsBefore));
        Assert.That(((Linear)model.named_modules().First(m => m.name == "classifier.0").module).weight!.shape, Is.EqualTo(new long[] { 512, 256 }));

        var state = model.state_dict();
        var fresh = ModelFactory.Create("vgg16_cifar", 4, 3);
        FilterSurgery.ResizeTo(fresh, state);
        StateDictLoader.Load(fresh, state, strict: true, loadMasks: true);
        fresh.eval();
        Assert.That((fresh.call(x) - masked).abs().max().item<float>(), Is.LessThan(1e-4f));
        Assert.That(FilterSurgery.Widths(fresh), Is.EquivalentTo(FilterSurgery.Widths(model)));
    }

    [Test]
    public void AZeroFilterIsRemovedOnlyWhenItsBatchNormOutputIsNotPositive()
    {
        // Unstructured pruning leaves no whole filter; two are zeroed by hand: one whose BN gives a positive constant
        // (ReLU passes it on, so removing it would change the outputs) and one whose BN gives a negative constant.
        var run = WriteRun("unstructured", "resnet20", 1, OneShot("unstructured"), model =>
        {
            using var _ = no_grad();
            var modules = model.named_modules().ToDictionary(m => m.name, m => m.module);
            var conv = (Conv2d)modules["layer1.0.conv1"];
            var bn = (BatchNorm2d)modules["layer1.0.bn1"];
            var mask = conv.named_buffers(recurse: false).First(b => b.name == "weight_mask").buffer;
            foreach (var row in new[] { 2L, 5L }) { mask[row].zero_(); conv.weight![row].zero_(); }
            bn.bias![2].fill_(0.5);
            bn.bias![5].fill_(-0.5);
        });
        var r = ShrinkExport.Run(Fast(run), CPU);
        Assert.That(r.Removed, Is.EqualTo(new[] { new FilterSurgery.Removed("layer1.0.conv1", 16, 15) }));
        Assert.That(r.ZeroFiltersLeft["layer1.0.conv1"], Is.EqualTo(1), "the filter with a positive BN output stays");
        Assert.That(r.MaxAbsLogitDiff, Is.LessThanOrEqualTo(r.Tolerance));
    }

    [Test]
    public void RunWithoutWholePrunedFiltersSaysNothingCouldBeRemoved()
    {
        var run = WriteRun("bcbp", "resnet20", 1, OneShot("bcbp"));
        var e = Assert.Throws<InvalidOperationException>(() => ShrinkExport.Run(Fast(run), CPU))!;
        Assert.That(e.Message, Does.Contain("nothing could be removed").And.Contain("prune.method bcbp").And.Contain("prune.method filter"));
        Assert.That(File.Exists(Path.Combine(run, ShrinkReport.FileName)), Is.False);
    }

    [Test]
    public void MissingOrDenseRunFoldersAreRefusedWithTheFix()
    {
        var error = new StringWriter();
        Assert.That(BcbpCli.Run(new[] { "shrink", "--run", Path.Combine(_dir, "nope") }, TextWriter.Null, error), Is.EqualTo(ExitCodes.UsageError));
        Assert.That(error.ToString(), Does.Contain("run folder").And.Contain("not found").And.Contain("runs/"));
        error = new StringWriter();
        Assert.That(BcbpCli.Run(new[] { "shrink" }, TextWriter.Null, error), Is.EqualTo(ExitCodes.UsageError));
        Assert.That(error.ToString(), Does.Contain("'--run' is required"));
        var empty = Directory.CreateDirectory(Path.Combine(_dir, "empty")).FullName;
        Assert.That(() => ShrinkExport.Run(Fast(empty), CPU), Throws.InstanceOf<FileNotFoundException>().With.Message.Contains("config.json"));
        var dense = WriteRun("dense", "resnet20", 1, prune: null);
        Assert.That(() => ShrinkExport.Run(Fast(dense), CPU),
            Throws.InstanceOf<InvalidDataException>().With.Message.Contains("is dense").And.Message.Contains("no weight_mask"));
        File.Delete(Path.Combine(dense, "model.safetensors"));
        Assert.That(() => ShrinkExport.Run(Fast(dense), CPU), Throws.InstanceOf<FileNotFoundException>().With.Message.Contains("--resume"));
    }

    [Test]
    public void ResizeToRefusesWidthsThatDoNotFitTheArchitecture()
    {
        var model = ModelFactory.Create("resnet20", 4, 1);
        Assert.That(() => FilterSurgery.ResizeTo(model, new Dictionary<string, long> { ["layer1.0.conv2"] = 8 }),
            Throws.ArgumentException.With.Message.Contains("layer1.0.conv2: not a removable producer"));
        Assert.That(() => FilterSurgery.ResizeTo(model, new Dictionary<string, long> { ["layer1.0.conv1"] = 17 }),
            Throws.ArgumentException.With.Message.Contains("outside 1..16"));
        FilterSurgery.ResizeTo(model, new Dictionary<string, long> { ["layer1.0.conv1"] = 3 });
        Assert.That(FilterSurgery.Widths(model)["layer1.0.conv1"], Is.EqualTo(3));
        Assert.That(model.call(zeros(1, 1, 8, 8)).shape, Is.EqualTo(new long[] { 1, 4 }), "the resized model runs");
    }

    [Test]
    public void MedianIsTheMiddleValue()
    {
        Assert.That(ForwardTimer.Median(new[] { 3.0, 1.0, 100.0 }), Is.EqualTo(3.0));
        Assert.That(ForwardTimer.Median(new[] { 4.0, 1.0, 2.0, 100.0 }), Is.EqualTo(3.0));
    }
}
