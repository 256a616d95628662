using TorchSharp;
using Bcbp.Training.Config;
using Bcbp.Training.Pruning.Layers;

namespace Bcbp.Tests.Pruning;

/// <summary>Which layers are pruned: Conv2d/Linear by name, default and pattern exclusions, overrides.</summary>
public class LayerDiscoveryTests
{
    [OneTimeSetUp] public void Init() => PruningTestData.Init();

    static string[] Names(PruneConfig c) => LayerDiscovery.Discover(new TinyNet(), c).Select(l => l.Name).ToArray();

    [Test]
    public void DefaultExcludesTheFirstConvAndTheClassifier() =>
        Assert.That(Names(new PruneConfig()), Is.EqualTo(new[] { "conv2", "conv3", "hidden" }));

    [Test]
    public void GlobsAndRegexesMatchWholeNames()
    {
        Assert.That(Names(new PruneConfig { Exclude = new() { "conv1", "fc" } }), Is.EqualTo(new[] { "conv2", "conv3", "hidden" }));
        Assert.That(Names(new PruneConfig { Exclude = new() { "conv*" } }), Is.EqualTo(new[] { "hidden", "fc" }));
        Assert.That(Names(new PruneConfig { Exclude = new() { "re:conv[13]|fc" } }), Is.EqualTo(new[] { "conv2", "hidden" }));
        Assert.That(Names(new PruneConfig { Exclude = new() { "onv2" } }), Has.Length.EqualTo(5), "a glob must match the whole name");
        Assert.That(new NamePattern("layer1.*.conv?").Matches("layer1.0.conv1"), Is.True);
        Assert.That(new NamePattern("layer1.*.conv?").Matches("layer10.0.conv1"), Is.False);
    }

    [Test]
    public void OverridesSetPerLayerSparsityFirstMatchWins()
    {
        var c = new PruneConfig { Sparsity = 0.5, Overrides = new() { new() { Pattern = "conv3", Sparsity = 0.9 }, new() { Pattern = "conv*", Sparsity = 0.1 } } };
        var layers = LayerDiscovery.Discover(new TinyNet(), c);
        Assert.That(layers.Select(l => (l.Name, l.Sparsity, l.Overridden)),
                    Is.EqualTo(new[] { ("conv2", 0.1, true), ("conv3", 0.9, true), ("hidden", 0.5, false) }));
    }

    [Test]
    public void ExcludingEverythingOrABadRegexIsAClearError()
    {
        Assert.That(Assert.Throws<ArgumentException>(() => Names(new PruneConfig { Exclude = new() { "*" } }))!.Message, Does.Contain("prune.exclude"));
        Assert.That(Assert.Throws<ArgumentException>(() => Names(new PruneConfig { Exclude = new() { "re:(" } }))!.Message, Does.Contain("not a valid regex"));
    }

    [Test]
    public void TheWeightMatrixIsTheIm2colView()
    {
        var net = new TinyNet();
        var layer = LayerDiscovery.Discover(net, new PruneConfig()).First();
        var w = WeightMatrix.AsMatrix(layer.Weight);
        Assert.That(w.shape, Is.EqualTo(new long[] { 32, 16 * 3 * 3 }));
        // Row o, column (c * 9 + i * 3 + j) is weight[o, c, i, j].
        Assert.That(w[5, 2 * 9 + 1 * 3 + 2].item<float>(), Is.EqualTo(net.conv2.weight![5, 2, 1, 2].item<float>()));
    }
}
