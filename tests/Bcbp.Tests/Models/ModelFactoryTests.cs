using Bcbp.Models;

namespace Bcbp.Tests.Models;

/// <summary>Names the factory knows and its errors.</summary>
public class ModelFactoryTests
{
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

    [TestCase(0, 3, "model.num_classes")]
    [TestCase(10, 0, "model.in_channels")]
    public void RejectsNonPositiveSizes(int classes, int channels, string key)
    {
        var e = Assert.Throws<ArgumentException>(() => ModelFactory.Create("resnet20", classes, channels))!;
        Assert.That(e.Message, Does.Contain(key));
    }
}
