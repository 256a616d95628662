using Bcbp.Training.Config;
using Bcbp.Training.Pruning.Methods;
using static TorchSharp.torch;

namespace Bcbp.Tests.Pruning;

/// <summary>Bad prune configs fail with messages naming the key.</summary>
public class ConfigValidationTests
{
    [OneTimeSetUp] public void Init() => PruningTestData.Init();

    static string Error(Action<PruneConfig> edit)
    {
        var c = new PruneConfig();
        edit(c);
        return Assert.Catch<ArgumentException>(c.Validate)!.Message;
    }

    [Test]
    public void DefaultsAreValid() => Assert.DoesNotThrow(new PruneConfig().Validate);

    [TestCase(1.0)]
    [TestCase(-0.1)]
    [TestCase(double.NaN)]
    public void SparsityOutsideZeroToOneIsRejected(double s) =>
        Assert.That(Error(c => c.Sparsity = s), Does.Contain("prune.sparsity").And.Contain("[0, 1)"));

    [Test]
    public void UnknownNamesAreRejectedWithTheAlternatives()
    {
        Assert.That(Error(c => c.Method = "magic"), Does.Contain("prune.method").And.Contain("'magic'").And.Contain("bcbp, filter, block, unstructured, nm"));
        Assert.That(Error(c => c.Score = "l3"), Does.Contain("prune.score"));
        Assert.That(Error(c => c.Scope = "model"), Does.Contain("prune.scope"));
        Assert.That(Error(c => c.Remainder = "drop"), Does.Contain("prune.remainder"));
        Assert.That(Error(c => c.Schedule.Kind = "cosine"), Does.Contain("prune.schedule.kind"));
        Assert.That(Assert.Throws<ArgumentException>(() => PruningMethods.Create("magic", new PruneOptions()))!.Message, Does.Contain("prune.method"));
    }

    [Test]
    public void ScheduleAndNmInconsistenciesNameTheirKeys()
    {
        Assert.That(Error(c => { c.Schedule.EndEpoch = 15; c.FinetuneEpochs = 15; }), Does.Contain("prune.schedule.end_epoch").And.Contain("prune.finetune_epochs"));
        Assert.That(Error(c => { c.Schedule.StartEpoch = 5; c.Schedule.EndEpoch = 2; }), Does.Contain("prune.schedule.start_epoch"));
        Assert.That(Error(c => c.Schedule.Frequency = 0), Does.Contain("prune.schedule.frequency"));
        Assert.That(Error(c => c.Schedule.Initial = 0.9), Does.Contain("prune.schedule.initial"));
        Assert.That(Error(c => { c.Method = "nm"; c.Sparsity = 0.75; }), Does.Contain("prune.sparsity").And.Contain("n:m = 2:4"));
        Assert.That(Error(c => { c.Method = "nm"; c.Scope = "global"; }), Does.Contain("prune.scope").And.Contain("nm"));
        Assert.That(Error(c => c.Overrides.Add(new LayerOverride { Pattern = "layer4.*", Sparsity = 1.5 })), Does.Contain("prune.overrides[0].sparsity"));
    }

    [Test]
    public void TileRowsNotDividingMFailsUnlessRemainderIsOwnTile()
    {
        var w = PruningTestData.Matrix(48, 64, 0);
        var err = Assert.Throws<ArgumentException>(() => new BcbpMethod(32, 0).ComputeMasks(new[] { new PruneTarget(w, 0.5, Name: "layer2.0.conv1") }))!;
        Assert.That(err.Message, Does.Contain("prune.tile_rows = 32").And.Contain("M = 48").And.Contain("layer2.0.conv1").And.Contain("prune.remainder"));
        Assert.That(Assert.Throws<ArgumentException>(() => new BcbpMethod(16, 24).ComputeMasks(new[] { new PruneTarget(w, 0.5) }))!.Message,
                    Does.Contain("prune.tile_cols = 24"));
        // own_tile: rows 32..47 are a 16-row tile that prunes the same 32 columns as the full tile.
        var mask = new BcbpMethod(32, 0, RemainderRule.OwnTile).ComputeMasks(new[] { new PruneTarget(w, 0.5) })[0];
        Assert.That(mask.slice(0, 0, 32, 1).sum(dim: 0).gt(0).sum().item<long>(), Is.EqualTo(32));
        Assert.That(mask.slice(0, 32, 48, 1).sum(dim: 0).gt(0).sum().item<long>(), Is.EqualTo(32));
        Assert.That(PruningTestData.Zeros(mask), Is.EqualTo(48 * 32));
        // A layer with fewer rows than tile_rows is one tile, never an error.
        Assert.DoesNotThrow(() => new BcbpMethod(64, 0).ComputeMasks(new[] { new PruneTarget(w, 0.5) }));
    }
}
