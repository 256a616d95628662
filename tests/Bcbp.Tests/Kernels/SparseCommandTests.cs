using System.Text.Json;
using Bcbp.Kernels.Conversion;
using Bcbp.Kernels.Formats;
using Bcbp.Models;
using Bcbp.Models.IO;
using Bcbp.Tests.Runs;
using Bcbp.Training.Cli;
using Bcbp.Training.Config;
using Bcbp.Training.Inference;
using Bcbp.Training.Json;
using Bcbp.Training.Runs;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Bcbp.Tests.Kernels;

public class SparseCommandTests
{
    string _dir = "";

    [SetUp]
    public void Setup()
    {
        KernelTestSupport.UseCpu();
        _dir = Directory.CreateTempSubdirectory("bcbp-sparse").FullName;
    }

    [TearDown] public void Clean() => Directory.Delete(_dir, recursive: true);

    static SparseSettings Cpu(int tileRows) => new(tileRows, SparseLayout.Auto, FoldBatchNorm: true, CPU, ScalarType.Float32, Iters: 1);

    string SavePruned(string arch)
    {
        using var _ = no_grad();
        var model = ModelFactory.Create(arch, 10, 3);
        foreach (var (name, m) in model.named_modules())
            if (m is Conv2d conv && name != "features.0")
                conv.register_buffer("weight_mask", SyntheticMasks.MagnitudeBcbp(conv.weight!, 32, 0.75));
        var path = Path.Combine(_dir, arch + ".safetensors");
        StateDictIO.Save(model, path);
        return path;
    }

    [Test]
    public void SavedPrunedCifarVggConvertsAndMatchesTheMaskedDenseModel()
    {
        var path = SavePruned("vgg16_cifar");
        var report = SparseEvaluation.EvaluateRandom("vgg16_cifar", path, 10, 3, 32, 2, Cpu(32));
        Assert.That(report.Converted, Has.Count.EqualTo(12));              // 13 convs, the first left dense
        Assert.That(report.MaxLogitsRelErr, Is.LessThan(1e-4));
        Assert.That(report.Agreement, Is.EqualTo(1.0));
        // float32: the dense model is the reference, so the rule is the 1e-4 floor on the sparse error.
        Assert.That(report.MaxDenseRelErrVsReference, Is.Zero);
        Assert.That(report.MaxSparseRelErrVsReference, Is.EqualTo(report.MaxLogitsRelErr).Within(1e-12));
        Assert.That(report.Tolerance, Is.EqualTo(1e-4).Within(1e-9));
        Assert.That(report.FailingSamples, Is.Zero);
        Assert.That(report.SwappedFailingSamples, Is.Zero, "the reference's own error is 0");
        Assert.That(report.Passed);
        Assert.That(report.DenseTop1, Is.Null, "a random batch has no labels");
        Assert.That(report.InputShape, Is.EqualTo(new long[] { 2, 3, 32, 32 }));
    }

    // The physically smaller model a filter run is timed as on the GPU (SparseEvaluation.Shrunk: FilterSurgery, then
    // converted whole with BN folded) computes what the masked model does; on the CPU its layers run the references.
    [TestCase("resnet20", 16, "159 of 336 channels removed in 9 layers", "each block's inner conv, 3 x (16 + 32 + 64) channels, all but half plus one")]
    [TestCase("vgg16_cifar", 32, "2068 of 4160 channels removed in 12 layers", "every conv but the stem, 64 + 2 x 128 + 3 x 256 + 6 x 512 channels, all but half plus one; the last feeds the classifier")]
    public void AFilterPrunedModelShrinksConvertsWholeAndMatchesTheMaskedModel(string arch, int tileRows, string expectedRemoved, string why)
    {
        using var _ = no_grad();
        var model = ModelFactory.Create(arch, 10, 3);
        Bcbp.Tests.Pruning.ShrinkTests.RandomizeNorms(model);
        SyntheticMasks.PruneHalfTheFilters(model, new Generator(9), extra: 1);   // odd widths, partial 16-row tiles
        var path = Path.Combine(_dir, "filter.safetensors");
        StateDictIO.Save(model, path);
        var (shrunk, removed, note) = SparseEvaluation.Shrunk(() => MaskedModel.Load(arch, 10, 3, path), Cpu(tileRows));
        using var __ = shrunk;
        Assert.That(note, Is.Null);
        Assert.That(removed, Is.EqualTo(expectedRemoved), why);
        Assert.That(shrunk!.modules().OfType<Conv2d>(), Is.Empty, "every conv converted, the stem too");
        using var masked = MaskedModel.Load(arch, 10, 3, path);
        masked.eval();
        var x = randn(new long[] { 2, 3, 32, 32 }, generator: new Generator(5));
        var expected = masked.call(x);
        Assert.That(((shrunk.call(x) - expected).norm() / expected.norm()).item<float>(), Is.LessThan(1e-4f));
    }

    [Test]
    public void AModelWithoutWholePrunedFiltersHasNoShrunkModel()
    {
        var (shrunk, removed, note) = SparseEvaluation.Shrunk(() => MaskedModel.Load("vgg16_cifar", 10, 3, SavePruned("vgg16_cifar")), Cpu(32));
        Assert.That((shrunk, removed, note), Is.EqualTo(((nn.Module<Tensor, Tensor>?)null, (string?)null, (string?)null)));
    }

    [Test]
    public void PassRuleBoundsEachImageByTwiceTheOtherModelsErrorOrTheFloor()
    {
        var half = Cpu(32) with { Dtype = ScalarType.Float16 };
        var sparse = tensor(new[] { 1e-3, 5e-3, 2e-4, 3e-3 });
        var dense = tensor(new[] { 1e-3, 1e-3, 1e-5, 4e-3 });
        Assert.That(half.Bound(dense).data<double>().ToArray(), Is.EqualTo(new[] { 2e-3, 2e-3, 1e-3, 8e-3 }).Within(1e-15));
        Assert.That(half.Failing(sparse, dense), Is.EqualTo(1), "only the second image: 5e-3 > 2 x 1e-3");
        Assert.That(half.Failing(dense, sparse), Is.Zero, "swapped: every dense error is within 2 x the sparse one or the floor");
        var fp32 = Cpu(32);
        Assert.That(fp32.Failing(tensor(new[] { 5e-5, 2e-4 }), tensor(new[] { 1.0, 1.0 })), Is.EqualTo(1), "float32: the 1e-4 floor alone");
    }

    [Test]
    public void Bfloat16RunIsJudgedAgainstTheFloat32Reference()
    {
        var path = SavePruned("vgg16_cifar");
        var report = SparseEvaluation.EvaluateRandom("vgg16_cifar", path, 10, 3, 32, 2, Cpu(32) with { Dtype = ScalarType.BFloat16 });
        // Both bf16 models are off the float32 reference by rounding; the sparse one may be off by twice the dense one.
        Assert.That(report.MaxDenseRelErrVsReference, Is.GreaterThan(0));
        Assert.That(report.Tolerance, Is.GreaterThanOrEqualTo(1e-3));
        Assert.That(report.Passed, Is.EqualTo(report.FailingSamples == 0));
        Assert.That(report.MaxSparseRelErrVsReference, report.Passed ? Is.LessThanOrEqualTo(Math.Max(2 * report.MaxDenseRelErrVsReference, 1e-3)) : Is.GreaterThan(0));
    }

    [Test]
    public void ModelWithoutMasksIsRefused()
    {
        var path = Path.Combine(_dir, "dense.safetensors");
        StateDictIO.Save(ModelFactory.Create("vgg16_cifar", 10, 3), path);
        var e = Assert.Throws<InvalidDataException>(() => SparseEvaluation.EvaluateRandom("vgg16_cifar", path, 10, 3, 32, 2, Cpu(32)))!;
        Assert.That(e.Message, Does.Contain("no weight_mask").And.Contain(path));
    }

    [Test]
    public void PrunedRunFolderIsEvaluatedOnItsTestSplitLikeTheRunItself()
    {
        var prune = new PruneConfig
        {
            Method = "bcbp", Sparsity = 0.5, TileRows = 16, FinetuneEpochs = 1, Schedule = new ScheduleConfig { Kind = "one_shot" },
        };
        var run = TrainingRun.Execute(TrainingRunTests.TinyConfig(_dir, "bcbp", epochs: 1, prune), TrainingRunTests.Silent);

        int code = BcbpCli.Run(new[] { "sparse", "--run", run.RunDir, "--device", "cpu", "--iters", "1" });

        Assert.That(code, Is.EqualTo(0));
        var report = OutputJson.Read<SparseReport>(Path.Combine(run.RunDir, SparseReport.FileName));
        Assert.That(report.Run, Is.EqualTo(run.RunDir));
        Assert.That(report.Converted, Has.Count.EqualTo(18));
        Assert.That(report.TileRows, Is.EqualTo(16), "the run's prune.tile_rows on the CPU");
        Assert.That(report.Samples, Is.EqualTo(16), "the run's whole test split (data.num_test)");
        Assert.That(report.InputShape, Is.EqualTo(new long[] { 16, 1, 8, 8 }));
        // The masked dense model on the rebuilt test split reproduces what the run measured at its end.
        Assert.That(report.DenseTop1, Is.EqualTo(run.Top1));
        Assert.That(report.RecordedTop1, Is.EqualTo(run.Top1));
        Assert.That(report.DenseLoss!.Value, Is.EqualTo(run.Loss).Within(1e-5));
        // And the sparse model (float32, CPU reference) is the same model.
        Assert.That(report.SparseTop1, Is.EqualTo(report.DenseTop1));
        Assert.That(report.SparseLoss!.Value, Is.EqualTo(report.DenseLoss!.Value).Within(1e-5));
        Assert.That(report.Agreement, Is.EqualTo(1.0));
        Assert.That(report.MaxLogitsRelErr, Is.LessThan(1e-4));
        Assert.That(report.Passed);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(run.RunDir, SparseReport.FileName)));
        Assert.That(json.RootElement.TryGetProperty("max_logits_rel_err", out _), "snake_case keys as results.json");
    }

    [TestCase(16, "cuda", ScalarType.Float16, 80, 32)]     // mma.sync needs multiples of 32
    [TestCase(48, "cuda", ScalarType.BFloat16, 86, 96)]    // a packed tile covers whole pruning tiles
    [TestCase(64, "cuda", ScalarType.Float16, 80, 64)]
    [TestCase(16, "cuda", ScalarType.Float16, 90, 16)]     // Hopper: the suites' 16-row BCBP masks stay balanced
    [TestCase(12, "cuda", ScalarType.Float16, 90, 24)]     // ... any multiple of 8
    [TestCase(16, "cuda", ScalarType.Float32, 80, 16)]     // float32 runs the reference, any tile height
    [TestCase(16, "cpu", ScalarType.Float32, 0, 16)]
    public void RunTileRowsFitTheKernels(int pruneTileRows, string device, ScalarType dtype, int computeCapability, int expected)
        => Assert.That(SparseEvaluation.KernelTileRows(pruneTileRows, new Device(device), dtype, computeCapability), Is.EqualTo(expected));

    [Test]
    public void RunFolderProblemsAreReportedWithTheFix()
    {
        var evaluate = (string dir) => SparseEvaluation.EvaluateRun(dir, Array.Empty<string>(), null, SparseLayout.Auto, true, CPU, ScalarType.Float32, null, 1);

        var missing = Assert.Throws<DirectoryNotFoundException>(() => evaluate(Path.Combine(_dir, "nope")))!;
        Assert.That(missing.Message, Does.Contain("not found"));

        Directory.CreateDirectory(Path.Combine(_dir, "empty"));
        Assert.That(Assert.Throws<FileNotFoundException>(() => evaluate(Path.Combine(_dir, "empty")))!.Message, Does.Contain("no config.json"));

        var unfinished = Path.Combine(_dir, "unfinished");
        ConfigSerializer.Save(TrainingRunTests.TinyConfig(_dir, "unfinished", prune: new PruneConfig { TileRows = 16 }), Path.Combine(unfinished, "config.json"));
        Assert.That(Assert.Throws<FileNotFoundException>(() => evaluate(unfinished))!.Message,
            Does.Contain("has not finished").And.Contain("--resume"));

        var dense = Path.Combine(_dir, "dense");
        ConfigSerializer.Save(TrainingRunTests.TinyConfig(_dir, "dense"), Path.Combine(dense, "config.json"));
        StateDictIO.Save(ModelFactory.Create("resnet20", 4, 1), Path.Combine(dense, "model.safetensors"));
        Assert.That(Assert.Throws<InvalidDataException>(() => evaluate(dense))!.Message, Does.Contain("dense run").And.Contain("prune section"));
    }
}
