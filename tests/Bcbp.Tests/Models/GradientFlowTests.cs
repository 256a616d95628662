using Bcbp.Models;
using TorchSharp;

namespace Bcbp.Tests.Models;

/// <summary>
/// Training works through the models (the in-place ReLU/add of the blocks keep autograd intact): one backward pass
/// gives every parameter a finite, non-zero gradient, and one SGD step lowers the loss on that batch.
/// </summary>
public class GradientFlowTests
{
    [SetUp]
    public void SetUp() => ModelTestSupport.InitCpu();

    [TestCase("resnet20", 1, 28)]
    [TestCase("vgg16_cifar", 3, 32)]
    [TestCase("resnet18", 1, 28)]
    public void EveryParameterGetsAGradientAndSgdLowersTheLoss(string arch, int channels, int size)
    {
        using var model = ModelFactory.Create(arch, 10, channels);
        model.train();
        using var x = torch.randn(8, channels, size, size);
        using var y = torch.arange(8) % 10;
        using var optimizer = torch.optim.SGD(model.parameters(), 0.01);

        // Dropout (VGG) is off so the loss before and after the step sees the same network function.
        foreach (var (_, m) in model.named_modules()) if (m is TorchSharp.Modules.Dropout) m.eval();
        using var loss = torch.nn.functional.cross_entropy(model.forward(x), y);
        loss.backward();
        foreach (var (name, p) in model.named_parameters())
        {
            Assert.That(p.grad, Is.Not.Null, name);
            Assert.That(p.grad!.isfinite().all().item<bool>(), Is.True, $"{name} gradient not finite");
            Assert.That(p.grad!.abs().sum().item<float>(), Is.GreaterThan(0f), $"{name} gradient is zero");
        }
        optimizer.step();
        using var after = torch.nn.functional.cross_entropy(model.forward(x), y);
        Assert.That(after.item<float>(), Is.LessThan(loss.item<float>()));
    }
}
