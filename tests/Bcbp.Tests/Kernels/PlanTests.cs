using Bcbp.Kernels.Conversion;
using Bcbp.Kernels.Formats;
using Bcbp.Kernels.Modules;
using Bcbp.Kernels.Plan;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Bcbp.Tests.Kernels;

/// <summary>The whole-model path on the CPU: conversion with dense layers (what the plan needs), and the planned
/// model's fallback. The plan itself runs on CUDA only: `bcbp verify` checks it on the GPU against float32.</summary>
public class PlanTests
{
    [SetUp] public void Setup() => KernelTestSupport.UseCpu();


    [TestCase("resnet20", 16, 32)]
    [TestCase("resnet18", 16, 32)]
    [TestCase("vgg16_cifar", 16, 32)]
    public void DenseConversionPutsEveryLayerOnTheSparseModulesAndMatchesTheMaskedModel(string arch, int tileRows, int size)
    {
        using var _ = no_grad();
        var gen = new Generator(31);
        var model = Bcbp.Models.ModelFactory.Create(arch, 10);
        KernelTestSupport.RandomizeBatchNorms(model, gen);
        var pruned = SyntheticMasks.PruneModel(model, tileRows, 0.5, gen);
        model.eval();
        var x = randn(new long[] { 2, 3, size, size }, generator: gen);
        var expected = model.forward(x);
        int layers = model.named_modules().Count(m => m.module is Conv2d or Linear);

        var converted = SparseConversion.Convert(model, tileRows, SparseLayout.Bcbp, foldBatchNorm: true, dense: true).Converted;

        Assert.That(converted, Has.Count.EqualTo(layers), "the stem and the classifier convert too");
        Assert.That(converted, Does.Contain("conv1").Or.Contain("features.0"));
        var modules = model.named_modules().ToDictionary(p => p.name, p => p.module);
        Assert.That(modules.Values.Count(m => m is Conv2d or Linear or BatchNorm2d), Is.Zero, "no dense layer or BatchNorm is left");
        var stem = (BcbpConv2d)(modules.GetValueOrDefault("conv1") ?? modules["features.0"]);
        Assert.That(stem.Weight.Sparsity, Is.EqualTo(0), "a dense layer keeps every column");
        Assert.That(stem.Weight.TileRows, Is.EqualTo(SparseConversion.DenseTileRows(stem.OutChannels)));
        Assert.That(pruned.Select(n => ((BcbpConv2d)modules[n]).Weight.TileRows), Has.All.EqualTo(tileRows));
        Assert.That(KernelTestSupport.RelErr(model.forward(x), expected), Is.LessThan(1e-4));
    }

    [TestCase("resnet20", 16, 32, 3)]        // option-A shortcuts, no stem pool
    [TestCase("resnet18", 16, 32, 1)]        // torchvision: 3x3/2 stem pool, downsample convs; batch 1 padded to 8
    [TestCase("resnet50", 64, 32, 2)]        // bottlenecks
    [TestCase("vgg16_cifar", 16, 28, 3)]     // ceil-mode pools on 28x28, ReLUs fused, a dense classifier with ReLUs
    public void PlanStepsComputeWhatTheModelComputes(string arch, int tileRows, int size, int batch)
    {
        using var _ = no_grad();
        var gen = new Generator(34);
        var model = Bcbp.Models.ModelFactory.Create(arch, 10);
        KernelTestSupport.RandomizeBatchNorms(model, gen);
        SyntheticMasks.PruneModel(model, tileRows, 0.5, gen);
        model.eval();
        var x = randn(new long[] { batch, 3, size, size }, generator: gen);
        var expected = model.forward(x);
        SparseConversion.Convert(model, tileRows, SparseLayout.Bcbp, foldBatchNorm: true, dense: true);

        var graph = PlanBuilder.Build(model, x.shape);

        Assert.That(graph.Padded, Is.EqualTo(8));
        Assert.That(graph.Shapes.Skip(1), Has.All.Matches<long[]>(s => s.Length == 4 && s[3] == 8), "every activation is CHWN with the batch padded to 8");
        int layers = model.named_modules().Count(m => m.module is BcbpConv2d or BcbpLinear);
        Assert.That(graph.Steps.Count(s => s is ConvStep or LinearStep), Is.EqualTo(layers), "one launch per layer, nothing else between the GEMMs but pools and shortcuts");
        Assert.That(graph.Steps.OfType<ConvStep>().Count(s => s.Residual is not null), Is.EqualTo(model.named_modules().Count(m => m.module is SparseResidualBlock)));
        var y = PlanReference.Forward(graph, x);
        Assert.That(y.shape, Is.EqualTo(new long[] { batch, 10 }));
        Assert.That(KernelTestSupport.RelErr(y, expected), Is.LessThan(1e-4));
    }

    [Test]
    public void AModelWithoutFoldedBatchNormOrDenseLayersIsNotPlannedAndTheReasonSaysHow()
    {
        using var _ = no_grad();
        var model = Bcbp.Models.ModelFactory.Create("resnet20", 10);
        SyntheticMasks.PruneModel(model, 16, 0.5, new Generator(35));
        model.eval();
        SparseConversion.Convert(model, 16, SparseLayout.Bcbp, foldBatchNorm: true);
        var e = Assert.Throws<NotSupportedException>(() => PlanBuilder.Build(model, new long[] { 2, 3, 32, 32 }));
        Assert.That(e!.Message, Does.Contain("bn1").And.Contain("dense layers"));
        var other = nn.Sequential(nn.Linear(4, 4));
        Assert.That(() => PlanBuilder.Build(other, new long[] { 2, 3, 32, 32 }), Throws.InstanceOf<NotSupportedException>().With.Message.Contains("knows"));
    }

    [TestCase(112, 3, 2, 1, false)]
    [TestCase(28, 2, 2, 0, true)]
    [TestCase(7, 2, 2, 0, true)]
    [TestCase(9, 3, 2, 1, true)]
    [TestCase(5, 2, 2, 0, false)]
    public void PoolSizeIsPyTorchs(int size, int k, int s, int p, bool ceil)
    {
        var x = zeros(1, 1, size, size);
        var y = nn.functional.max_pool2d(x, k, s, p, ceil_mode: ceil);
        Assert.That(PlanBuilder.PoolSize(size, k, s, p, ceil), Is.EqualTo(y.shape[2]));
    }

    [Test]
    public void DenseClassifierWithFewerRowsThanATileIsOnePartialTile()
    {
        var gen = new Generator(32);
        var w = randn(new long[] { 10, 64 }, generator: gen);
        var m = BcbpMatrix.Pack(w, ones_like(w), SparseConversion.DenseTileRows(10));
        Assert.That(m.Tiles, Is.EqualTo(1));
        Assert.That(KernelTestSupport.RelErr(m.ToDense(), w), Is.EqualTo(0));
        var lin = new BcbpLinear(m, randn(10, generator: gen));
        var x = randn(new long[] { 3, 64 }, generator: gen);
        Assert.That(KernelTestSupport.RelErr(lin.forward(x), nn.functional.linear(x, w, lin.Bias)), Is.LessThan(1e-5));
    }

    [Test]
    public void PlannedModelRunsLayerByLayerOnTheCpuAndSaysWhy()
    {
        using var _ = no_grad();
        var gen = new Generator(33);
        var model = Bcbp.Models.ModelFactory.Create("resnet20", 10);
        SyntheticMasks.PruneModel(model, 16, 0.5, gen);
        model.eval();
        SparseConversion.Convert(model, 16, SparseLayout.Bcbp, foldBatchNorm: true, dense: true);
        var x = randn(new long[] { 2, 3, 32, 32 }, generator: gen);
        using var planned = new PlannedModel(model);
        Assert.That(KernelTestSupport.Same(planned.forward(x), model.forward(x)));
        Assert.That(planned.FallbackReason, Does.Contain("CUDA"));
        Assert.That(planned.LastPlan, Is.Null);
    }

    [Test]
    public void BuildingAPlanOffTheGpuIsRefusedWithTheReason()
    {
        var model = Bcbp.Models.ModelFactory.Create("resnet20", 10);
        var e = Assert.Throws<NotSupportedException>(() => ModelPlan.Build(model, new long[] { 1, 3, 32, 32 }, ScalarType.Float16, CPU));
        Assert.That(e!.Message, Does.Contain("CUDA"));
    }
}
