using Bcbp.Models;
using Bcbp.Models.Structure;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Bcbp.Tests.Models;

/// <summary><see cref="ModelStructure"/>, the one owner of conv -> BatchNorm pairs and removable channel chains.</summary>
public class ModelStructureTests
{
    [SetUp]
    public void SetUp() => ModelTestSupport.InitCpu();

    /// <summary>Every BatchNorm2d is paired with the conv whose output it normalizes, by torchvision's naming
    /// (convN -> bnN, "i" -> "i+1"), and nothing else is paired.</summary>
    [TestCase("resnet18")]
    [TestCase("resnet50")]
    [TestCase("resnet20")]
    [TestCase("vgg16_cifar")]
    public void ConvNormsPairEveryBatchNormWithTheConvBeforeItByTorchvisionNames(string arch)
    {
        using var model = ModelFactory.Create(arch, 10, 3);
        var modules = model.named_modules().ToDictionary(m => m.name, m => m.module);
        var expected = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, module) in modules)
        {
            if (module is not Conv2d) continue;
            int dot = name.LastIndexOf('.');
            string prefix = dot < 0 ? "" : name[..(dot + 1)], last = name[(dot + 1)..];
            string? bn = last.StartsWith("conv") ? prefix + "bn" + last[4..] : int.TryParse(last, out int i) ? prefix + (i + 1) : null;
            if (bn is not null && modules.GetValueOrDefault(bn) is BatchNorm2d) expected[name] = bn;
        }
        var pairs = ModelStructure.ConvNorms(model);
        Assert.That(pairs.ToDictionary(p => p.Key, p => p.Value.Norm), Is.EquivalentTo(expected));
        Assert.That(pairs.Values.Select(p => p.Module), Is.EquivalentTo(pairs.Values.Select(p => modules[p.Norm])));
        Assert.That(pairs.Count, Is.EqualTo(modules.Values.Count(m => m is BatchNorm2d)), "every BatchNorm2d follows a conv");
    }

    /// <summary>Each chain's producer is a conv, its norm that conv's BatchNorm, and its consumer takes
    /// producer channels * columns-per-channel inputs.</summary>
    [TestCase("resnet18", 8)]
    [TestCase("resnet50", 32)]
    [TestCase("resnet20", 9)]
    [TestCase("vgg16_cifar", 13)]
    public void ChannelChainsConnectAProducerItsNormAndItsConsumer(string arch, int count)
    {
        using var model = ModelFactory.Create(arch, 10, 3);
        var modules = model.named_modules().ToDictionary(m => m.name, m => m.module);
        var norms = ModelStructure.ConvNorms(model);
        var chains = ModelStructure.ChannelChains(model);
        Assert.That(chains, Has.Count.EqualTo(count));
        foreach (var c in chains)
        {
            var producer = (Conv2d)modules[c.Producer];
            Assert.That(c.Norm, Is.EqualTo(norms[c.Producer].Norm), c.Producer);
            long inputs = modules[c.Consumer] switch
            {
                Conv2d conv => conv.weight!.shape[1],
                Linear lin => lin.weight!.shape[1],
                var m => throw new AssertionException($"{c.Consumer} is a {m.GetType().Name}"),
            };
            Assert.That(inputs, Is.EqualTo(producer.weight!.shape[0] * c.ColumnsPerChannel), c.Consumer);
        }
    }
}
