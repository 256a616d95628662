using Bcbp.Models;

namespace Bcbp.Tests.Models;

/// <summary>Parameter counts equal torchvision's (ImageNet models) and He et al.'s (CIFAR ResNets).</summary>
public class ParameterCountTests
{
    [SetUp]
    public void SetUp() => ModelTestSupport.InitCpu();

    // Reference counts: torchvision 0.14, sum(p.numel() for p in model.parameters()), 1000 classes.
    [TestCase("resnet18", 11_689_512L)]
    [TestCase("resnet34", 21_797_672L)]
    [TestCase("resnet50", 25_557_032L)]
    [TestCase("resnet101", 44_549_160L)]
    [TestCase("resnet152", 60_192_808L)]
    [TestCase("wide_resnet50_2", 68_883_240L)]
    [TestCase("wide_resnet101_2", 126_886_696L)]
    [TestCase("resnext50_32x4d", 25_028_904L)]
    [TestCase("resnext101_32x8d", 88_791_336L)]
    [TestCase("resnext101_64x4d", 83_455_272L)]
    [TestCase("alexnet", 61_100_840L)]
    [TestCase("mobilenet_v2", 3_504_872L)]
    [TestCase("vgg11", 132_863_336L)]
    [TestCase("vgg16", 138_357_544L)]
    [TestCase("vgg16_bn", 138_365_992L)]
    [TestCase("vgg19_bn", 143_678_248L)]
    public void ImageNetModelsMatchTorchvision(string arch, long expected)
    {
        using var model = ModelFactory.Create(arch, 1000, 3);
        Assert.That(ModelTestSupport.ParameterCount(model), Is.EqualTo(expected));
    }

    // He et al. 2016, table 6 (0.27 M, 0.46 M, 0.66 M, 0.85 M, 1.7 M). Exactly, with the parameter-free option-A
    // shortcut and n blocks per stage: stem 432 + 32, stage 1 4,672 n, stage 2 13,952 + 18,560 (n - 1),
    // stage 3 55,552 + 73,984 (n - 1), fc 650 — i.e. 97,216 n - 21,926.
    [TestCase("resnet20", 269_722L)]
    [TestCase("resnet32", 464_154L)]
    [TestCase("resnet44", 658_586L)]
    [TestCase("resnet56", 853_018L)]
    [TestCase("resnet110", 1_727_962L)]
    public void CifarResNetsMatchThePaper(string arch, long expected)
    {
        using var model = ModelFactory.Create(arch, 10, 3);
        Assert.That(ModelTestSupport.ParameterCount(model), Is.EqualTo(expected));
    }

    [Test]
    public void CifarVgg16HasA512WideHead()
    {
        using var model = ModelFactory.Create("vgg16_cifar", 10, 3);
        // vgg16_bn features (14,723,136) + 512*512+512 + 512*512+512 + 512*10+10.
        Assert.That(ModelTestSupport.ParameterCount(model), Is.EqualTo(14_723_136L + 262_656 + 262_656 + 5_130));
    }

    [Test]
    public void InChannelsAndClassesChangeOnlyTheStemAndTheHead()
    {
        using var rgb = ModelFactory.Create("resnet20", 10, 3);
        using var gray = ModelFactory.Create("resnet20", 100, 1);
        // Stem: 16 * 2 * 3 * 3 fewer weights; head: 90 more classes of 64 weights + 1 bias.
        Assert.That(ModelTestSupport.ParameterCount(gray) - ModelTestSupport.ParameterCount(rgb),
            Is.EqualTo(-16 * 2 * 9 + 90 * 65));
    }
}
