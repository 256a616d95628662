using TorchSharp;
using static TorchSharp.torch;
using Bcbp.Tests.Suites;
using Bcbp.Training.Costs;
using Bcbp.Training.Json;

namespace Bcbp.Tests.Costs;

public class CostCounterTests
{
    [OneTimeSetUp] public void Init() => Bcbp.Training.Backend.TorchBackend.Initialize("cpu");

    /// <summary>conv 1->4 3x3 pad 1 (no bias) on 8x8, conv 4->8 3x3 stride 2 pad 1 (bias) -> 4x4, flatten, linear 128->10.</summary>
    static nn.Module<Tensor, Tensor> SmallNet() => nn.Sequential(
        ("c1", nn.Conv2d(1, 4, 3, padding: 1, bias: false)),
        ("c2", nn.Conv2d(4, 8, 3, stride: 2, padding: 1)),
        ("flat", nn.Flatten()),
        ("fc", nn.Linear(128, 10)));

    [Test]
    public void DenseCountsMatchHandComputation()
    {
        var cost = CostCounter.Count(SmallNet(), new long[] { 1, 8, 8 });

        Assert.That(cost.Layers.Select(l => (l.Name, l.Kind, l.OutputPositions, l.Weights, l.Bias)), Is.EqualTo(new[]
        {
            ("c1", "conv2d", 64L, 36L, 0L),     // 4*1*3*3 weights at 8*8 positions
            ("c2", "conv2d", 16L, 288L, 8L),    // 8*4*3*3 weights at 4*4 positions
            ("fc", "linear", 1L, 1280L, 10L),
        }));
        Assert.That(cost.Macs, Is.EqualTo(36 * 64 + 288 * 16 + 1280));
        Assert.That(cost.Params, Is.EqualTo(36 + 288 + 8 + 1280 + 10));
        Assert.That(cost.KeptMacs, Is.EqualTo(cost.Macs));
    }

    [Test]
    public void MaskedWeightsAreRemovedFromStateDictMasksAndModuleBuffers()
    {
        var net = SmallNet();
        // c2: the first 4 of 8 filters pruned (mask from a state dict); fc: half its weights (mask as a module buffer).
        var c2Mask = ones(8, 4, 3, 3);
        c2Mask[TensorIndex.Slice(0, 4)] = zeros(4, 4, 3, 3);
        var fcMask = cat(new[] { zeros(10, 64), ones(10, 64) }, 1);
        var fc = net.named_modules().Single(m => m.name == "fc").module;
        fc.register_buffer("weight_mask", fcMask);

        var cost = CostCounter.Count(net, new long[] { 1, 8, 8 }, new Dictionary<string, Tensor> { ["c2.weight_mask"] = c2Mask });

        Assert.That(cost.Layers.Select(l => l.KeptWeights), Is.EqualTo(new[] { 36L, 144L, 640L }));
        Assert.That(cost.KeptMacs, Is.EqualTo(36 * 64 + 144 * 16 + 640));
        Assert.That(cost.KeptParams, Is.EqualTo(36 + 144 + 8 + 640 + 10));
    }

    [Test]
    public void MaskOfWrongShapeIsAnError()
    {
        var masks = new Dictionary<string, Tensor> { ["c1.weight_mask"] = ones(4, 1, 3) };
        Assert.That(() => CostCounter.Count(SmallNet(), new long[] { 1, 8, 8 }, masks),
                    Throws.TypeOf<InvalidDataException>().With.Message.Contains("layer 'c1'"));
    }
}

public class ModelCostFileTests
{
    [OneTimeSetUp] public void Init() => Bcbp.Training.Backend.TorchBackend.Initialize("cpu");

    [Test]
    public void CifarResNet20CountsMatchTheKnownFigures()
    {
        // He et al.'s ResNet-20 at 32x32: 40.55 M MACs; conv/linear parameters 267,696 + 650 (BN not counted).
        using var model = Bcbp.Models.ModelFactory.Create("resnet20", 10, 3);
        var cost = CostCounter.Count(model, new long[] { 3, 32, 32 });
        Assert.That(cost.Macs, Is.EqualTo(40_551_040));
        Assert.That(cost.Params, Is.EqualTo(268_346));
    }

    [Test]
    public void RunFolderCostComesFromTheSavedMasks()
    {
        var dir = SuiteFixtures.TempDir();
        try
        {
            using var model = Bcbp.Models.ModelFactory.Create("resnet20", 10, 1);
            var state = model.state_dict();
            // Half the filters of one 16x16x3x3 layer pruned: 1,152 weights less, each used at 28x28 positions.
            var mask = ones(16, 16, 3, 3);
            mask[TensorIndex.Slice(0, 8)] = zeros(8, 16, 3, 3);
            var name = state.Keys.First(k => k.StartsWith("layer1.0.conv1") && k.EndsWith(".weight"));
            state[name.Replace(".weight", ".weight_mask")] = mask;
            Bcbp.Models.IO.StateDictIO.Write(Path.Combine(dir, "model.safetensors"), state);
            var config = new Bcbp.Training.Config.ExperimentConfig();
            config.Model.Arch = "resnet20";
            config.Model.InChannels = 1;
            config.Data.Dataset = "fashion_mnist";

            var cost = ModelCostFile.Write(dir, config, "model.safetensors");

            Assert.That(cost.InputShape, Is.EqualTo(new long[] { 1, 28, 28 }));
            Assert.That(cost.Macs - cost.KeptMacs, Is.EqualTo(1152L * 28 * 28));
            Assert.That(cost.Params - cost.KeptParams, Is.EqualTo(1152));
            var back = OutputJson.Read<ModelCost>(Path.Combine(dir, ModelCost.FileName));
            Assert.That((back.Macs, back.KeptMacs, back.Layers.Count), Is.EqualTo((cost.Macs, cost.KeptMacs, cost.Layers.Count)));
        }
        finally { Directory.Delete(dir, true); }
    }
}
