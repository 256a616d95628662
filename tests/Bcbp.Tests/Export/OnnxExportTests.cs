using Bcbp.Models;
using Bcbp.Models.IO;
using Bcbp.Models.Onnx;
using Bcbp.Tests.Support;
using Bcbp.Tests.TorchFiles;
using Bcbp.Training.Config;
using Bcbp.Training.Export;
using Bcbp.Training.Pruning;
using Bcbp.Training.Pruning.Surgery;
using Bcbp.Training.Shrink;
using Microsoft.ML.OnnxRuntime;
using Tensor = TorchSharp.torch.Tensor;
using DenseTensor = Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Bcbp.Tests.Export;

/// <summary>
/// ONNX export checked by running the files in ONNX Runtime: dense ResNet-20, ResNet-18 and VGG-11-BN at small inputs,
/// a masked (zeros kept) and a shrunk (filters removed) model, through <c>bcbp export</c>'s entry point, with batches
/// of several sizes (the batch dimension is dynamic); modules the exporter cannot read are refused by name.
/// </summary>
public class OnnxExportTests : TempDirectoryTest
{
    /// <summary>Relative tolerance of ONNX Runtime's fp32 logits against ours (max |diff| / max |logit|).</summary>
    const double Tolerance = 1e-4;

    static void RandomizeNorms(nn.Module model)
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

    /// <summary>ONNX Runtime's output for <paramref name="x"/> (NCHW fp32).</summary>
    static Tensor RunOnnx(string path, Tensor x)
    {
        using var session = new InferenceSession(path);
        return RunOnnx(session, x);
    }

    static Tensor RunOnnx(InferenceSession session, Tensor x)
    {
        var input = new DenseTensor(x.contiguous().data<float>().ToArray(), x.shape.Select(d => (int)d).ToArray());
        using var results = session.Run(new[] { NamedOnnxValue.CreateFromTensor("input", input) });
        var output = results.Single().AsTensor<float>();
        return tensor(output.ToArray(), output.Dimensions.ToArray().Select(d => (long)d).ToArray());
    }

    /// <summary>Exports <paramref name="model"/>, runs batches of 1 and 3 in ONNX Runtime, compares with our forward.</summary>
    static OnnxExportInfo AssertMatches(nn.Module<Tensor, Tensor> model, long[] shape, string path)
    {
        model.eval();
        var info = OnnxExporter.Export(model, shape, path);
        using var session = new InferenceSession(path);
        foreach (long batch in new long[] { 1, 3 })
        {
            var x = randn(new[] { batch }.Concat(shape).ToArray(), generator: new Generator((ulong)batch));
            using var _ = no_grad();
            var ours = model.call(x);
            var theirs = RunOnnx(session, x);
            Assert.That(theirs.shape, Is.EqualTo(ours.shape), $"batch {batch}");
            double rel = (theirs - ours).abs().max().item<float>() / Math.Max(1e-6, ours.abs().max().item<float>());
            Assert.That(rel, Is.LessThanOrEqualTo(Tolerance), $"batch {batch}: ONNX Runtime vs TorchSharp, relative max |diff|");
        }
        return info;
    }

    [TestCase("resnet20", 1, 16)]
    [TestCase("resnet18", 3, 32)]
    [TestCase("vgg11_bn", 3, 32)]
    public void DenseModelRunsInOnnxRuntimeWithOurLogits(string arch, int channels, int size)
    {
        var model = ModelFactory.Create(arch, 7, channels);
        RandomizeNorms(model);
        var info = AssertMatches(model, new long[] { channels, size, size }, Path.Combine(Dir, arch + ".onnx"));
        Assert.That(info.Parameters, Is.GreaterThanOrEqualTo(ModelTestSupportCount(model)), "every weight is stored");
        Assert.That(info.OutputShape, Is.EqualTo(new long[] { 7 }));
    }

    static long ModelTestSupportCount(nn.Module model) => model.parameters().Sum(p => p.numel());

    [Test]
    public void MaskedModelKeepsItsZerosAndMatches()
    {
        var model = ModelFactory.Create("resnet20", 5, 1);
        RandomizeNorms(model);
        var prune = new PruneConfig { Method = "bcbp", Sparsity = 0.75, TileRows = 16, Schedule = new ScheduleConfig { Kind = "one_shot" } };
        var hook = PruningHook.Create(prune, model, 1, Serilog.Core.Logger.None);
        hook.UpdateMasks(1.0);
        long masked = model.named_buffers().Where(b => b.name.EndsWith("weight_mask")).Sum(b => b.buffer.eq(0).sum().item<long>());
        Assert.That(masked, Is.GreaterThan(0));
        var info = AssertMatches(model, new long[] { 1, 12, 12 }, Path.Combine(Dir, "masked.onnx"));
        Assert.That(info.ZeroWeights, Is.GreaterThanOrEqualTo(masked), "pruned weights are written as zeros");
    }

    /// <summary>A filter-pruned run folder, shrunk by <c>bcbp shrink</c>, exported both ways by <c>bcbp export</c>'s entry point.</summary>
    [Test]
    public void ExportCommandWritesMaskedAndShrunkModelsThatMatch()
    {
        var config = new ExperimentConfig
        {
            Name = "filter", Seed = 3, Device = "cpu", OutputDir = Dir,
            Model = new ModelConfig { Arch = "resnet20", NumClasses = 4, InChannels = 1 },
            Data = new DataConfig { Dataset = "synthetic", NumClasses = 4, Channels = 1, ImageSize = 8, NumTest = 8, EvalBatchSize = 8 },
            Prune = new PruneConfig { Method = "filter", Sparsity = 0.5, Schedule = new ScheduleConfig { Kind = "one_shot" } },
        };
        var model = ModelFactory.Create("resnet20", 4, 1);
        RandomizeNorms(model);
        PruningHook.Create(config.Prune, model, 1, Serilog.Core.Logger.None).UpdateMasks(1.0);
        string run = Path.Combine(Dir, "filter");
        ConfigSerializer.Save(config, Path.Combine(run, "config.json"));
        StateDictIO.Save(model, Path.Combine(run, "model.safetensors"));
        ShrinkExport.Run(new ShrinkOptions(run, Batch: 2, Warmup: 0, Iters: 1), CPU);

        var maskedReport = RunExport.Run(new ExportOptions(run));
        var shrunkReport = RunExport.Run(new ExportOptions(run, Shrunk: true));
        Assert.That((maskedReport.Kind, shrunkReport.Kind), Is.EqualTo(("masked", "shrunk")));
        Assert.That(maskedReport.Onnx.Path, Is.EqualTo(Path.Combine(run, "model.onnx")));
        Assert.That(shrunkReport.Onnx.Parameters, Is.LessThan(maskedReport.Onnx.Parameters), "the shrunk graph is genuinely smaller");
        Assert.That(new FileInfo(shrunkReport.Onnx.Path).Length, Is.LessThan(new FileInfo(maskedReport.Onnx.Path).Length));

        var shrunk = ShrinkManifest.Load(Path.Combine(run, ShrinkManifest.FileName));
        shrunk.eval();
        var x = randn(new long[] { 5, 1, 8, 8 }, generator: new Generator(2));
        using var _ = no_grad();
        var ours = shrunk.call(x);
        foreach (var path in new[] { maskedReport.Onnx.Path, shrunkReport.Onnx.Path })
            Assert.That((RunOnnx(path, x) - ours).abs().max().item<float>() / ours.abs().max().item<float>(), Is.LessThanOrEqualTo(Tolerance), path);
    }

    [Test]
    public void ExportNamesTheMissingShrinkAndAnUnknownFormat()
    {
        var config = new ExperimentConfig { Name = "dense", OutputDir = Dir, Model = new ModelConfig { Arch = "resnet20", NumClasses = 10, InChannels = 1 } };
        string run = Path.Combine(Dir, "dense");
        ConfigSerializer.Save(config, Path.Combine(run, "config.json"));
        StateDictIO.Save(ModelFactory.Create("resnet20", 10, 1), Path.Combine(run, "model.safetensors"));
        var e = Assert.Throws<FileNotFoundException>(() => RunExport.Run(new ExportOptions(run, Shrunk: true)))!;
        Assert.That(e.Message, Does.Contain("bcbp shrink --run"));
        Assert.That(() => RunExport.Run(new ExportOptions(run, Format: "tflite")), Throws.ArgumentException.With.Message.Contains("supported: onnx"));
        Assert.That(File.Exists(Path.Combine(run, "model.onnx")), Is.False);
    }

    sealed class SkipsItsNorm : nn.Module<Tensor, Tensor>
    {
        private readonly Conv2d conv1 = nn.Conv2d(1, 2, 3);
        private readonly BatchNorm2d bn1 = nn.BatchNorm2d(2);
        public SkipsItsNorm() : base("SkipsItsNorm") => RegisterComponents();
        public override Tensor forward(Tensor x) => conv1.call(x).relu();
    }

    [Test]
    public void ModulesTheExporterCannotReadAreRefusedByName()
    {
        var unknown = nn.Sequential(("conv", nn.Conv2d(1, 2, 3)), ("act", nn.GELU()), ("pool", nn.AdaptiveAvgPool2d(1)), ("flat", nn.Flatten()));
        Assert.That(() => OnnxExporter.Export(unknown, new long[] { 1, 8, 8 }, Path.Combine(Dir, "a.onnx")),
            Throws.TypeOf<NotSupportedException>().With.Message.Contains("act (GELU)"));
        var model = new SkipsItsNorm();
        RandomizeNorms(model);
        Assert.That(() => OnnxExporter.Export(model, new long[] { 1, 8, 8 }, Path.Combine(Dir, "b.onnx")),
            Throws.TypeOf<NotSupportedException>().With.Message.Contains("forward differs"));
        Assert.That(Directory.GetFiles(Dir), Is.Empty, "nothing is written for a refused model");
    }
}
