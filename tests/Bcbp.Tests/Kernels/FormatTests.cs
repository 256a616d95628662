using Bcbp.Kernels.Formats;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Tests.Kernels;

public class FormatTests
{
    /// <summary>A synthetic pruned model keeps its activations' scale through depth (kept weights scaled by
    /// 1/sqrt(1 - sparsity)): at 87.5% a deep net without BatchNorm otherwise shrinks them by 8x per layer.</summary>
    [Test]
    public void SyntheticPruningKeepsTheActivationScaleThroughDepth()
    {
        var gen = new Generator(41);
        random.manual_seed(41);   // the convs' own initialisation
        var layers = Enumerable.Range(0, 8).SelectMany(i => new (string, nn.Module<Tensor, Tensor>)[]
            { ($"c{i}", nn.Conv2d(32, 32, 3, padding: 1, bias: false)), ($"r{i}", nn.ReLU()) }).ToList();
        var net = nn.Sequential(layers.Prepend(("stem", (nn.Module<Tensor, Tensor>)nn.Conv2d(3, 32, 3, padding: 1, bias: false))).ToArray());
        var x = randn(new long[] { 4, 3, 16, 16 }, generator: gen);
        using var _ = no_grad();
        double dense = net.forward(x).std().item<float>();
        var pruned = SyntheticMasks.PruneModel(net, 16, 0.875, gen);
        double sparse = net.forward(x).std().item<float>();
        Assert.That(pruned, Has.Count.EqualTo(8), "every conv but the stem");
        // Random masks move the scale a little either way; without the rescaling it falls 8x per layer (~2e-4 here).
        Assert.That(sparse / dense, Is.InRange(0.25, 4.0));
    }

    /// <summary>The benchmarks' ResNet-56 at initialisation (identity BatchNorm) grows its residual stream block by block;
    /// calibrated on one random batch its BatchNorms normalise as a trained model's do, and its logits stay small.</summary>
    [Test]
    public void CalibratedBatchNormKeepsADeepResidualNetsLogitsBounded()
    {
        double Logits(bool calibrate)
        {
            random.manual_seed(43);
            var net = Bcbp.Models.ModelFactory.Create("resnet56", 10);
            SyntheticMasks.PruneModel(net, 16, 0.75, new Generator(44));
            if (calibrate) SyntheticMasks.CalibrateBatchNorm(net, new long[] { 8, 3, 32, 32 }, new Generator(45));
            else net.eval();
            using var _ = no_grad();
            return net.forward(randn(new long[] { 4, 3, 32, 32 }, generator: new Generator(46))).abs().max().item<float>();
        }
        double raw = Logits(calibrate: false), calibrated = Logits(calibrate: true);
        var vgg = nn.Sequential(("fc", nn.Linear(4, 4)), ("drop", nn.Dropout(0.5)));
        SyntheticMasks.CalibrateBatchNorm(vgg, new long[] { 2, 4 }, new Generator(47));
        Assert.That(vgg.training, Is.False, "a net without BatchNorm is left in eval mode too (no dropout in a benchmark)");
        Assert.That(calibrated, Is.LessThan(100), "a normalised net's logits");
        Assert.That(raw, Is.GreaterThan(10 * calibrated), "identity BatchNorm lets the stream grow");
    }

    /// <summary>A calibrated synthetic ResNet-50 is not chaotic: its bfloat16 logits stay within rounding of float32's
    /// (with unit BatchNorm weights every branch adds a unit-variance output and rounding grows through depth).</summary>
    [Test]
    public void CalibratedResNet50KeepsLowPrecisionRoundingSmall()
    {
        random.manual_seed(7);
        var m = Bcbp.Models.ModelFactory.Create("resnet50", 1000);
        SyntheticMasks.PruneModel(m, 16, 0.75, new Generator(11));
        SyntheticMasks.CalibrateBatchNorm(m, new long[] { 8, 3, 64, 64 }, new Generator(12));
        using var _ = no_grad();
        var x = randn(new long[] { 2, 3, 64, 64 }, generator: new Generator(5));
        var y32 = m.forward(x);
        m.to(ScalarType.BFloat16);
        var y16 = m.forward(x.to(ScalarType.BFloat16)).to(ScalarType.Float32);
        Assert.That((y16 - y32).norm().item<float>() / y32.norm().item<float>(), Is.LessThan(2e-2));
    }

    [SetUp] public void Setup() => KernelTestSupport.UseCpu();

    [Test]
    public void BcbpPackUnpackRoundTripsExactlyWithPartialLastTile()
    {
        var gen = new Generator(1);
        var w = randn(new long[] { 40, 6, 3, 3 }, generator: gen);              // 40 rows: tiles of 16, 16, 8
        var mask = SyntheticMasks.RandomBcbp(40, 54, 16, 0.75, gen).reshape(w.shape);
        var m = BcbpMatrix.Pack(w, mask, 16);
        Assert.That(m.Tiles, Is.EqualTo(3));
        Assert.That(m.KeptPerTile, Is.EqualTo(14));                            // round(54 * 0.25)
        Assert.That(m.IndicesByTile.shape, Is.EqualTo(new long[] { 3, 14 }));
        Assert.That(m.ValuesByTile.shape, Is.EqualTo(new long[] { 3, 16, 14 }));
        Assert.That(KernelTestSupport.Same(m.ToDense(), (w * mask).reshape(40, -1)), Is.True);
        Assert.That(m.Wit, Is.EqualTo(1.0));
    }

    [TestCase(ScalarType.Float16)]
    [TestCase(ScalarType.BFloat16)]
    public void HalfPrecisionValuesRoundTripToTheCastWeight(ScalarType dtype)
    {
        var gen = new Generator(2);
        var w = randn(new long[] { 32, 64 }, generator: gen);
        var mask = SyntheticMasks.RandomBcbp(32, 64, 8, 0.5, gen);
        var m = BcbpMatrix.Pack(w, mask, 8, dtype);
        Assert.That(m.Values.dtype, Is.EqualTo(dtype));
        Assert.That(KernelTestSupport.Same(m.ToDense(), (w * mask).to(dtype)), Is.True);
    }

    [Test]
    public void UnbalancedMaskIsRefusedNamingTheTileAndCounts()
    {
        var w = ones(8, 6);
        var mask = zeros(8, 6);
        mask.narrow(0, 0, 4).narrow(1, 0, 3).fill_(1);                         // tile 0 keeps 3 columns
        mask.narrow(0, 4, 4).narrow(1, 0, 2).fill_(1);                         // tile 1 keeps 2
        var e = Assert.Throws<ArgumentException>(() => BcbpMatrix.Pack(w, mask, 4))!;
        Assert.That(e.Message, Does.Contain("tile 1").And.Contain("keeps 2").And.Contain("tile 0 keeps 3").And.Contain("BlockSparseMatrix"));
    }

    [Test]
    public void BlockSparseKeepsPerTileCountsAndRoundTrips()
    {
        var gen = new Generator(3);
        var w = randn(new long[] { 12, 10 }, generator: gen);
        var mask = zeros(12, 10);
        mask.narrow(0, 0, 4).index_fill_(1, tensor(new long[] { 1, 5, 7 }), 1);
        mask.narrow(0, 4, 4).index_fill_(1, tensor(new long[] { 0 }), 1);
        // tile 2 keeps nothing
        var m = BlockSparseMatrix.Pack(w, mask, 4);
        Assert.That(m.ColPtr, Is.EqualTo(new long[] { 0, 3, 4, 4 }));
        Assert.That(m.Indices.data<int>().ToArray(), Is.EqualTo(new[] { 1, 5, 7, 0 }));
        Assert.That(KernelTestSupport.Same(m.ToDense(), w * mask), Is.True);
        Assert.That(m.Wit, Is.EqualTo(3.0 / (4.0 / 3.0)).Within(1e-12));
        Assert.That(m.Sparsity, Is.EqualTo(1 - 4.0 * 4 / (3 * 4 * 10)).Within(1e-12));
    }

    [Test]
    public void PartiallyMaskedColumnVectorKeepsOnlyTheMaskedValues()
    {
        var w = ones(4, 3);
        var mask = zeros(4, 3);
        mask[0, 1] = tensor(1f);                                                // one element of column 1 in tile 0
        mask[2, 1] = tensor(1f);                                                // and of tile 1
        var m = BcbpMatrix.Pack(w, mask, 2);
        Assert.That(m.KeptPerTile, Is.EqualTo(1));
        Assert.That(KernelTestSupport.Same(m.ToDense(), w * mask), Is.True);
    }

    [Test]
    public void MismatchedMaskShapeIsRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => BcbpMatrix.Pack(ones(4, 3), ones(4, 2), 2))!;
        Assert.That(e.Message, Does.Contain("weight_mask shape"));
    }

    [Test]
    public void MagnitudeBcbpMaskKeepsTheLargestColumnVectorsEquallyPerTile()
    {
        var w = tensor(new float[,] { { 1, 9, 0, 5 }, { 1, 9, 0, 5 }, { 7, 0, 3, 0 }, { 7, 0, 3, 0 } });
        var mask = SyntheticMasks.MagnitudeBcbp(w, 2, 0.5);
        var expected = tensor(new float[,] { { 0, 1, 0, 1 }, { 0, 1, 0, 1 }, { 1, 0, 1, 0 }, { 1, 0, 1, 0 } });
        Assert.That(KernelTestSupport.Same(mask, expected), Is.True);
    }
}
