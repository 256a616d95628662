using Bcbp.Models;
using Bcbp.Tests.TorchFiles;

namespace Bcbp.Tests.Models;

/// <summary>
/// Our state-dict keys, dtypes and shapes equal torchvision's, read from the list the fixture script dumps from
/// real torchvision, so torchvision checkpoints load by name.
/// </summary>
public class StateDictNameTests
{
    [SetUp]
    public void SetUp() => ModelTestSupport.InitCpu();

    [TestCase("resnet18")]
    [TestCase("resnet34")]
    [TestCase("resnet50")]
    [TestCase("resnet101")]
    [TestCase("resnet152")]
    [TestCase("wide_resnet50_2")]
    [TestCase("wide_resnet101_2")]
    [TestCase("resnext50_32x4d")]
    [TestCase("resnext101_32x8d")]
    [TestCase("resnext101_64x4d")]
    [TestCase("alexnet")]
    [TestCase("mobilenet_v2")]
    [TestCase("vgg11")]
    [TestCase("vgg11_bn")]
    [TestCase("vgg13")]
    [TestCase("vgg13_bn")]
    [TestCase("vgg16")]
    [TestCase("vgg16_bn")]
    [TestCase("vgg19")]
    [TestCase("vgg19_bn")]
    public void KeysDTypesAndShapesEqualTorchvision(string arch)
    {
        var expected = TorchvisionFixtures.StateDictEntries(arch)
            .Select(e => $"{e.Name} {e.DType} [{string.Join(",", e.Shape)}]").OrderBy(s => s, StringComparer.Ordinal).ToList();
        using var model = ModelFactory.Create(arch, 1000, 3);
        var actual = model.state_dict()
            .Select(kv => $"{kv.Key} {kv.Value.dtype.ToString().ToLowerInvariant()} [{string.Join(",", kv.Value.shape)}]")
            .OrderBy(s => s, StringComparer.Ordinal).ToList();
        Assert.That(actual, Is.EqualTo(expected));
    }

    [Test]
    public void CifarResNetNamesFollowTheTorchvisionScheme()
    {
        using var model = ModelFactory.Create("resnet56", 10, 3);
        var keys = model.state_dict().Keys.ToList();
        Assert.That(keys, Has.Member("conv1.weight").And.Member("bn1.num_batches_tracked")
            .And.Member("layer1.0.conv1.weight").And.Member("layer3.8.bn2.running_var").And.Member("fc.bias"));
        Assert.That(keys, Has.None.Contain("downsample"), "option-A shortcuts have no weights");
        // 55 convs + 55 batch norms (5 entries each) + fc (2).
        Assert.That(keys, Has.Count.EqualTo(55 + 55 * 5 + 2));
    }
}
