using Bcbp.Models;
using Bcbp.Models.IO;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Bcbp.Tests.Models;
using Bcbp.Tests.Support;

namespace Bcbp.Tests.TorchFiles;

/// <summary>Loading by name: strict and non-strict reports, dtype conversion, buffers, masks, and file round trips.</summary>
public class StateDictLoaderTests : TempDirectoryTest
{
    private static Dictionary<string, Tensor> Copy(nn.Module m)
        => m.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());

    private static void AssertSameState(nn.Module expected, nn.Module actual)
    {
        var a = expected.state_dict();
        var b = actual.state_dict();
        Assert.That(b.Keys, Is.EquivalentTo(a.Keys));
        foreach (var (k, v) in a)
        {
            Assert.That(b[k].dtype, Is.EqualTo(v.dtype), k);
            Assert.That(ReferenceData.ExactlyEqual(b[k], v), Is.True, k);
        }
    }

    [Test]
    public void StrictLoadNamesMissingUnexpectedAndMisshapedKeysAndChangesNothing()
    {
        using var source = ModelFactory.Create("resnet20", 10, 3);
        using var target = ModelFactory.Create("resnet20", 100, 3);
        var before = Copy(target);
        var sd = Copy(source);
        sd.Remove("layer2.0.bn1.running_var");
        sd["extra.weight"] = torch.zeros(3);

        var e = Assert.Throws<StateDictMismatchException>(() => StateDictLoader.Load(target, sd, strict: true))!;
        Assert.That(e.Result.Missing, Is.EqualTo(new[] { "layer2.0.bn1.running_var" }));
        Assert.That(e.Result.Unexpected, Is.EqualTo(new[] { "extra.weight" }));
        Assert.That(e.Result.Mismatched.Select(m => m.Key), Is.EquivalentTo(new[] { "fc.weight", "fc.bias" }));
        Assert.That(e.Message, Does.Contain("fc.weight: model [100, 64] vs checkpoint [10, 64]").And.Contain("strict: false"));
        foreach (var (k, v) in target.state_dict()) Assert.That(ReferenceData.ExactlyEqual(v, before[k]), Is.True, $"{k} changed by a refused load");
    }

    [Test]
    public void NonStrictLoadCopiesMatchingKeysAndReportsTheRest()
    {
        using var source = ModelFactory.Create("resnet20", 10, 3);
        using var target = ModelFactory.Create("resnet20", 100, 3);
        var result = StateDictLoader.Load(target, source.state_dict(), strict: false);
        Assert.That(result.Mismatched.Select(m => m.Key), Is.EquivalentTo(new[] { "fc.weight", "fc.bias" }));
        Assert.That(result.Missing, Is.Empty);
        Assert.That(result.Loaded, Has.Count.EqualTo(source.state_dict().Count - 2));
        var s = source.state_dict();
        var t = target.state_dict();
        Assert.That(ReferenceData.ExactlyEqual(t["conv1.weight"], s["conv1.weight"]), Is.True);
        Assert.That(t["fc.weight"].shape, Is.EqualTo(new long[] { 100, 64 }));
    }

    [Test]
    public void Fp16CheckpointLoadsIntoFp32ModelAndNumBatchesTrackedStaysInt64()
    {
        using var source = ModelFactory.Create("resnet20", 10, 1);
        source.train();
        using (torch.no_grad()) source.forward(torch.randn(4, 1, 8, 8)).Dispose();
        var half = source.state_dict().ToDictionary(kv => kv.Key,
            kv => kv.Value.is_floating_point() ? kv.Value.to(ScalarType.Float16) : kv.Value.clone());
        var path = Path.Combine(Dir, "half.safetensors");
        StateDictIO.Write(path, half);

        using var target = ModelFactory.Create("resnet20", 10, 1);
        StateDictIO.Load(target, path);
        var t = target.state_dict();
        Assert.That(t["conv1.weight"].dtype, Is.EqualTo(ScalarType.Float32));
        Assert.That(ReferenceData.ExactlyEqual(t["conv1.weight"], half["conv1.weight"].to(ScalarType.Float32)), Is.True);
        Assert.That(t["bn1.num_batches_tracked"].dtype, Is.EqualTo(ScalarType.Int64));
        Assert.That(t["bn1.num_batches_tracked"].item<long>(), Is.EqualTo(1));
    }

    [TestCase(".pt")]
    [TestCase(".safetensors")]
    public void SavedModelsReloadExactly(string ext)
    {
        using var source = ModelFactory.Create("vgg16_cifar", 10, 1);
        var path = Path.Combine(Dir, "model" + ext);
        StateDictIO.Save(source, path);
        Assert.That(Directory.GetFiles(Dir), Is.EqualTo(new[] { path }), "atomic save leaves no temp file");
        using var target = ModelFactory.Create("vgg16_cifar", 10, 1);
        var result = StateDictIO.Load(target, path);
        Assert.That(result.IsExact, result.Describe());
        AssertSameState(source, target);
    }

    [TestCase(".pt")]
    [TestCase(".safetensors")]
    public void PrunedCheckpointsRegisterTheirMasksOnLoad(string ext)
    {
        using var pruned = ModelFactory.Create("resnet20", 10, 1);
        int masks = MaskingHelpers.PruneHalfOfEveryConv(pruned);
        var path = Path.Combine(Dir, "pruned" + ext);
        StateDictIO.Save(pruned, path);

        using var plain = ModelFactory.Create("resnet20", 10, 1);
        var e = Assert.Throws<StateDictMismatchException>(() => StateDictIO.Load(plain, path))!;
        Assert.That(e.Result.Unexpected, Has.Count.EqualTo(masks).And.Member("layer3.2.conv2.weight_mask"));

        var result = StateDictIO.Load(plain, path, strict: true, loadMasks: true);
        Assert.That(result.RegisteredMasks, Has.Count.EqualTo(masks));
        AssertSameState(pruned, plain);
        var conv = plain.named_modules().Single(m => m.name == "layer1.0.conv1").module;
        Assert.That(conv.named_buffers().Select(b => b.name), Has.Member("weight_mask"));
    }

    [Test]
    public void DataParallelPrefixIsDropped()
    {
        using var source = ModelFactory.Create("resnet20", 10, 3);
        var prefixed = source.state_dict().ToDictionary(kv => "module." + kv.Key, kv => kv.Value);
        var path = Path.Combine(Dir, "dp.pt");
        StateDictIO.Write(path, prefixed);
        using var target = ModelFactory.Create("resnet20", 10, 3);
        Assert.That(StateDictIO.Load(target, path).IsExact);
        AssertSameState(source, target);
    }
}
