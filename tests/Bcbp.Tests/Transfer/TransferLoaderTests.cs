using Bcbp.Models;
using Bcbp.Models.IO;
using Bcbp.Models.Transfer;
using Bcbp.Tests.Runs;
using Bcbp.Tests.Support;
using Bcbp.Training.Config;
using Bcbp.Training.Runs;
using static TorchSharp.torch;

namespace Bcbp.Tests.Transfer;

/// <summary>
/// An ImageNet-layout (torchvision names, 1000 classes, RGB) ResNet-18 checkpoint loaded into models with another
/// class count and input-channel count: head reset, timm's stem rule, strict refusals that change nothing, non-strict
/// skips reported; the config keys and the run that fine-tunes from it.
/// </summary>
public class TransferLoaderTests : TempDirectoryTest
{
    string ImageNetCheckpoint()
    {
        string path = Path.Combine(Dir, "resnet18_imagenet_layout.pt");
        manual_seed(4);
        using var source = ModelFactory.Create("resnet18", 1000, 3);
        StateDictIO.Save(source, path);
        return path;
    }

    static Tensor Param(nn.Module m, string name) => m.state_dict()[name];

    [TestCase(1)]
    [TestCase(5)]
    public void ResetHeadAndStemRuleLoadAnotherClassAndChannelCount(int channels)
    {
        string path = ImageNetCheckpoint();
        var source = StateDictIO.Read(path);
        manual_seed(9);
        var model = ModelFactory.Create("resnet18", 10, channels);
        var freshHead = Param(model, "fc.weight").clone();

        var report = TransferLoader.Load(model, path, new TransferOptions(Strict: true, ResetHead: true));

        Assert.That(report.ResetHead, Is.EqualTo("fc"));
        Assert.That(report.IgnoredHeadKeys, Is.EqualTo(new[] { "fc.weight [1000, 512]", "fc.bias [1000]" }));
        Assert.That(Param(model, "fc.weight").equal(freshHead).all().item<bool>(), "the head keeps its fresh initialisation");
        Assert.That(Param(model, "layer4.1.bn2.running_var").equal(source["layer4.1.bn2.running_var"]).all().item<bool>());
        var rgb = source["conv1.weight"];
        var expected = channels == 1
            ? rgb.sum(1, keepdim: true)
            : cat(new[] { rgb, rgb }, 1).narrow(1, 0, channels) * (3.0 / channels);
        Assert.That(Param(model, "conv1.weight").allclose(expected, rtol: 1e-6, atol: 1e-7), "timm's adapt_input_conv");
        Assert.That(report.AdaptedStem, Does.StartWith($"conv1.weight: 3 -> {channels} input channels"));
        Assert.That(report.Describe(), Does.Contain("head fc reset").And.Contain("adapted conv1.weight"));
        if (channels != 1) return;
        // A grey image gives the one-channel stem the RGB stem's response to the same grey in every channel.
        var x = ones(1, channels, 9, 9);
        var y = nn.functional.conv2d(x, Param(model, "conv1.weight"), padding: new long[] { 3, 3 });
        var yRgb = nn.functional.conv2d(ones(1, 3, 9, 9), rgb, padding: new long[] { 3, 3 });
        Assert.That(y.allclose(yRgb, rtol: 1e-4, atol: 1e-5));
    }

    [Test]
    public void StrictLoadOfAnotherClassCountIsRefusedWithTheKeysAndChangesNothing()
    {
        string path = ImageNetCheckpoint();
        var model = ModelFactory.Create("resnet18", 10, 3);
        var before = Param(model, "layer1.0.conv1.weight").clone();
        var e = Assert.Throws<StateDictMismatchException>(() => TransferLoader.Load(model, path, new TransferOptions()))!;
        Assert.That(e.Message, Does.Contain("model.strict: false").And.Contain("model.reset_head: true").And.Contain("fc.weight: model [10, 512] vs checkpoint [1000, 512]"));
        Assert.That(e.Message, Does.Not.Contain("pass strict"));
        Assert.That(Param(model, "layer1.0.conv1.weight").equal(before).all().item<bool>(), "nothing was loaded");
    }

    [Test]
    public void NonStrictLoadSkipsAndReportsWhatDoesNotMatch()
    {
        string path = ImageNetCheckpoint();
        var model = ModelFactory.Create("resnet34", 10, 3); // more blocks than ResNet-18, another head
        var report = TransferLoader.Load(model, path, new TransferOptions(Strict: false));
        Assert.That(report.Load.Mismatched.Select(m => m.Key), Is.EquivalentTo(new[] { "fc.weight", "fc.bias" }));
        Assert.That(report.Load.Missing, Does.Contain("layer1.2.conv1.weight"));
        Assert.That(report.Load.Unexpected, Is.Empty);
        Assert.That(report.Load.Loaded, Does.Contain("layer1.1.conv1.weight"));
        Assert.That(report.Describe(), Does.Contain("shape mismatch (2)").And.Contain("missing in checkpoint"));
    }

    [Test]
    public void ConfigKeysNeedAPretrainedFile()
    {
        var config = new ExperimentConfig { Model = new ModelConfig { Arch = "resnet20", NumClasses = 10, InChannels = 1, ResetHead = true, Strict = false } };
        var errors = new ConfigErrors();
        config.Model.Validate("model", errors);
        var text = string.Join("\n", errors.Messages);
        Assert.That(text, Does.Contain("model.reset_head: needs model.pretrained").And.Contain("model.strict: needs model.pretrained"));
    }

    /// <summary>A run from a checkpoint with another head: the head is reset and the dense phase fine-tunes for train.epochs.</summary>
    [Test]
    public void RunWithResetHeadFineTunesFromTheCheckpoint()
    {
        var pretrained = TrainingRunTests.TinyConfig(Dir, "source", epochs: 1);
        pretrained.Model.NumClasses = 6;
        pretrained.Data.NumClasses = 6;
        var source = TrainingRun.Execute(pretrained, TrainingRunTests.Silent);

        var target = TrainingRunTests.TinyConfig(Dir, "target", epochs: 2);
        target.Model.Pretrained = Path.Combine(source.RunDir, "model.safetensors");
        target.Model.ResetHead = true;
        var result = TrainingRun.Execute(target, TrainingRunTests.Silent);
        var log = File.ReadAllText(Path.Combine(result.RunDir, "run.log"));
        Assert.That(log, Does.Contain("head fc reset").And.Contain("fc.weight [6, 64]"));
        Assert.That(result.TrainSeconds, Is.GreaterThan(0), "the dense phase trained");
        Assert.That(File.ReadAllText(Path.Combine(result.RunDir, "metrics.csv")).Split('\n', StringSplitOptions.RemoveEmptyEntries), Has.Length.EqualTo(3), "header + 2 epochs");
    }
}
