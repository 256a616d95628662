using Bcbp.Models;
using Bcbp.Models.IO;
using Bcbp.Tests.Models;
using TorchSharp;

namespace Bcbp.Tests.TorchFiles;

/// <summary>
/// torchvision state dicts (random init, fixed seed, random batch-norm statistics) load into our models by name and
/// give torchvision's eval-mode logits.
/// </summary>
public class TorchvisionParityTests
{
    private const double Tolerance = 1e-4;

    [SetUp]
    public void SetUp() => ModelTestSupport.InitCpu();

    [TestCase("resnet18")]
    [TestCase("resnet50")]
    [TestCase("resnext50_32x4d")]
    [TestCase("vgg16_bn")]
    public void LogitsMatchTorchvision(string arch)
    {
        var (inputShape, logitsShape) = ReferenceData.Shapes(TorchvisionFixtures.WeightsFile(arch + ".json"));
        using var x = ReferenceData.ReadFloats(TorchvisionFixtures.WeightsFile(arch + ".input.bin"), inputShape);
        using var expected = ReferenceData.ReadFloats(TorchvisionFixtures.WeightsFile(arch + ".logits.bin"), logitsShape);
        using var model = ModelFactory.Create(arch, 1000, 3);

        var result = StateDictIO.Load(model, TorchvisionFixtures.WeightsFile(arch + ".pt"), strict: true);
        Assert.That(result.IsExact, result.Describe());

        model.eval();
        using var noGrad = torch.no_grad();
        using var logits = model.forward(x);
        double diff = ReferenceData.MaxAbsDiff(logits, expected);
        TestContext.Out.WriteLine($"{arch}: max |ours - torchvision| = {diff:E2} over logits of scale {expected.abs().max().item<float>():F3}");
        Assert.That(diff, Is.LessThan(Tolerance));
    }
}
