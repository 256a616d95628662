using Bcbp.Kernels.Conversion;
using Bcbp.Kernels.Formats;
using Bcbp.Models;
using Bcbp.Models.IO;
using Bcbp.Training.Cli;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Bcbp.Tests.Kernels;

public class SparseCommandTests
{
    [SetUp] public void Setup() => KernelTestSupport.UseCpu();

    static string SavePruned(string arch, string dir)
    {
        using var _ = no_grad();
        var model = ModelFactory.Create(arch, 10, 3);
        foreach (var (name, m) in model.named_modules())
            if (m is Conv2d conv && name != "features.0")
                conv.register_buffer("weight_mask", SyntheticMasks.MagnitudeBcbp(conv.weight!, 32, 0.75));
        var path = Path.Combine(dir, arch + ".safetensors");
        StateDictIO.Save(model, path);
        return path;
    }

    [Test]
    public void SavedPrunedCifarVggConvertsAndMatchesTheMaskedDenseModel()
    {
        var dir = Directory.CreateTempSubdirectory("bcbp-sparse").FullName;
        try
        {
            var path = SavePruned("vgg16_cifar", dir);
            var report = SparseCommand.Compare("vgg16_cifar", path, 10, 3, 32, 2, 32, SparseLayout.Auto, fold: true, CPU, ScalarType.Float32, 1);
            Assert.That(report.Converted, Has.Count.EqualTo(12));              // 13 convs, the first left dense
            Assert.That(report.RelErr, Is.LessThan(1e-4));
            Assert.That(report.Top1Agreement, Is.EqualTo(1.0));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Test]
    public void ModelWithoutMasksIsRefused()
    {
        var dir = Directory.CreateTempSubdirectory("bcbp-sparse").FullName;
        try
        {
            var path = Path.Combine(dir, "dense.safetensors");
            StateDictIO.Save(ModelFactory.Create("vgg16_cifar", 10, 3), path);
            var e = Assert.Throws<InvalidDataException>(() => SparseCommand.Compare("vgg16_cifar", path, 10, 3, 32, 2, 32, SparseLayout.Auto, true, CPU, ScalarType.Float32, 1))!;
            Assert.That(e.Message, Does.Contain("no weight_mask"));
        }
        finally { Directory.Delete(dir, true); }
    }
}
