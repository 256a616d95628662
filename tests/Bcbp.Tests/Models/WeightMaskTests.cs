using Bcbp.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Tests.Models;

/// <summary>A mask follows its weights: TorchSharp's Conv2d and Linear move only weight and bias in <c>to(device)</c>
/// (seen on the H200: a mask left on the CPU beside cuda weights), so <see cref="WeightMask.Of"/> moves it into the
/// module's buffer slot. The meta device stands in for a GPU here.</summary>
public class WeightMaskTests
{
    [SetUp]
    public void SetUp() => ModelTestSupport.InitCpu();

    [Test]
    public void AMovedLayersMaskIsReadWhereItsWeightsAreAndStaysRegistered()
    {
        using var model = ModelFactory.Create("resnet20", 10, 1);
        var conv = model.named_modules().First(m => m.name == "layer1.0.conv1").module;
        WeightMask.Register(conv, ones_like(conv.get_parameter("weight")!));
        model.to(new Device(DeviceType.META));
        var raw = conv.named_buffers(recurse: false).First(b => b.name == WeightMask.BufferName).buffer;
        Assert.That(raw.device_type, Is.EqualTo(DeviceType.CPU), "TorchSharp leaves the buffer behind (if this fails, it no longer does)");

        var mask = WeightMask.Of(conv)!;
        Assert.That(mask.device_type, Is.EqualTo(DeviceType.META));
        var registered = conv.named_buffers(recurse: false).Where(b => b.name == WeightMask.BufferName).ToList();
        Assert.That(registered, Has.Count.EqualTo(1));
        Assert.That(registered[0].buffer.device_type, Is.EqualTo(DeviceType.META), "the module's slot holds the moved mask");
        Assert.That(model.state_dict()["layer1.0.conv1.weight_mask"].device_type, Is.EqualTo(DeviceType.META));
        Assert.That(WeightMask.Of(conv)!.Handle, Is.EqualTo(mask.Handle), "a second read finds it in place");
    }
}
