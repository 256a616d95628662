using Bcbp.Models;
using TorchSharp;

namespace Bcbp.Tests.Models;

/// <summary>Forward passes produce [batch, classes] for Fashion-MNIST, CIFAR and ImageNet input shapes.</summary>
public class OutputShapeTests
{
    [SetUp]
    public void SetUp() => ModelTestSupport.InitCpu();

    private static long[] OutputShape(string arch, int classes, long channels, long size, long batch = 2)
    {
        using var model = ModelFactory.Create(arch, classes, (int)channels);
        model.eval();
        using var noGrad = torch.no_grad();
        using var x = torch.randn(batch, channels, size, size);
        using var y = model.call(x);   // model(x): runs forward hooks, as training and evaluation do
        Assert.That(y.isnan().any().item<bool>(), Is.False, "forward produced NaN");
        return y.shape;
    }

    [TestCase("resnet20")]
    [TestCase("resnet32")]
    [TestCase("resnet44")]
    [TestCase("resnet56")]
    [TestCase("resnet110")]
    [TestCase("vgg16_cifar")]
    public void CifarModelsTakeFashionMnistAndCifar(string arch)
    {
        Assert.That(OutputShape(arch, 10, 1, 28), Is.EqualTo(new long[] { 2, 10 }));
        Assert.That(OutputShape(arch, 100, 3, 32), Is.EqualTo(new long[] { 2, 100 }));
    }

    [TestCase("resnet18")]
    [TestCase("resnet50")]
    public void ImageNetResNetsTakeFashionMnist(string arch)
        => Assert.That(OutputShape(arch, 10, 1, 28), Is.EqualTo(new long[] { 2, 10 }));

    [Test]
    public void ResNet18TakesImageNetSize()
        => Assert.That(OutputShape("resnet18", 1000, 3, 224, batch: 1), Is.EqualTo(new long[] { 1, 1000 }));

    [Test]
    public void ImageNetVggTakesCifarSize()
        => Assert.That(OutputShape("vgg11_bn", 10, 3, 32), Is.EqualTo(new long[] { 2, 10 }));

    [Test]
    public void ImageNetVggRejectsTooSmallInputByName()
    {
        var e = Assert.Throws<ArgumentException>(() => OutputShape("vgg11", 10, 1, 28))!;
        Assert.That(e.Message, Does.Contain("32x32").And.Contain("vgg16_cifar"));
    }
}
