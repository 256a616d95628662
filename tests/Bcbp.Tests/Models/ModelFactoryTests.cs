using Bcbp.Models;

namespace Bcbp.Tests.Models;

/// <summary>Names the factory knows and its errors.</summary>
public class ModelFactoryTests
{
    [SetUp]
    public void SetUp() => ModelTestSupport.InitCpu();

    [Test]
    public void UnknownArchListsTheKnownNames()
    {
        var e = Assert.Throws<ArgumentException>(() => ModelFactory.Create("resnet7", 10, 3))!;
        Assert.That(e.Message, Does.Contain("resnet7").And.Contain("model.arch").And.Contain("resnet56").And.Contain("vgg16_bn"));
    }

    [Test]
    public void KnowsEveryIssueArchitecture()
    {
        var required = new[] { "resnet18", "resnet34", "resnet50", "resnet101", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn",
            "vgg16", "vgg16_bn", "vgg19", "vgg19_bn", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "vgg16_cifar" };
        Assert.That(ModelFactory.Names, Is.SupersetOf(required));
    }

    [TestCase("resnet18", true)]
    [TestCase("resnet152", true)]
    [TestCase("wide_resnet50_2", true)]
    [TestCase("resnext50_32x4d", true)]
    [TestCase("vgg16", true)]
    [TestCase("vgg19_bn", true)]
    [TestCase("resnet56", false)]
    [TestCase("vgg16_cifar", false)]
    public void ImageNetArchitecturesAreTorchVisionsClassesAndCifarOnesOurs(string arch, bool torchVision)
    {
        using var model = ModelFactory.Create(arch, 10, 3);
        var assembly = torchVision ? typeof(TorchSharp.torchvision).Assembly : typeof(ModelFactory).Assembly;
        Assert.That(model.GetType().Assembly, Is.EqualTo(assembly), model.GetType().FullName);
    }

    [TestCase("resnet18", "conv1.weight", 64, 7)]
    [TestCase("vgg11_bn", "features.0.weight", 64, 3)]
    public void OtherInputChannelsGetANewStemWithTheSameNames(string arch, string stem, long filters, long kernel)
    {
        using var rgb = ModelFactory.Create(arch, 10, 3);
        using var gray = ModelFactory.Create(arch, 10, 1);
        Assert.That(gray.state_dict().Keys, Is.EqualTo(rgb.state_dict().Keys));
        Assert.That(gray.state_dict()[stem].shape, Is.EqualTo(new[] { filters, 1, kernel, kernel }));
        // torchvision's Kaiming-normal (fan_out) init: std = sqrt(2 / (filters * k * k)).
        double std = gray.state_dict()[stem].std().item<float>();
        Assert.That(std, Is.EqualTo(Math.Sqrt(2.0 / (filters * kernel * kernel))).Within(25).Percent);
    }

    [TestCase(0, 3, "model.num_classes")]
    [TestCase(10, 0, "model.in_channels")]
    public void RejectsNonPositiveSizes(int classes, int channels, string key)
    {
        var e = Assert.Throws<ArgumentException>(() => ModelFactory.Create("resnet20", classes, channels))!;
        Assert.That(e.Message, Does.Contain(key));
    }
}
