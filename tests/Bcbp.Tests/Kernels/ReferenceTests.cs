using Bcbp.Kernels.Formats;
using Bcbp.Kernels.Modules;
using Bcbp.Kernels.Ops;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Tests.Kernels;

public class ReferenceTests
{
    [SetUp] public void Setup() => KernelTestSupport.UseCpu();

    [TestCase(false)]
    [TestCase(true)]
    public void GemmReferenceMatchesDenseMatmul(bool balanced)
    {
        var gen = new Generator(4);
        var w = randn(new long[] { 48, 40 }, generator: gen);
        var mask = balanced ? SyntheticMasks.RandomBcbp(48, 40, 16, 0.6, gen) : SyntheticMasks.RandomBlock(48, 40, 16, 0.6, gen, 4);
        TiledSparseMatrix m = balanced ? BcbpMatrix.Pack(w, mask, 16) : BlockSparseMatrix.Pack(w, mask, 16);
        var x = randn(new long[] { 40, 9 }, generator: gen);
        var bias = randn(new long[] { 48 }, generator: gen);
        var expected = (w * mask).matmul(x) + bias.unsqueeze(1);
        Assert.That(KernelTestSupport.RelErr(SparseReference.Gemm(m, x, bias), expected), Is.LessThan(1e-6));
    }

    // Compared with a float64 dense conv: the expected result then has no float32 rounding of its own.
    [TestCase(3, 1, 1, 1)]
    [TestCase(3, 2, 1, 1)]
    [TestCase(3, 1, 2, 2)]
    [TestCase(1, 2, 0, 1)]
    [TestCase(5, 2, 3, 2)]
    public void ConvReferenceMatchesDenseConv2d(int k, int stride, int pad, int dilation)
    {
        var gen = new Generator(5);
        var w = randn(new long[] { 24, 6, k, k }, generator: gen);
        var mask = SyntheticMasks.RandomBcbp(24, 6L * k * k, 8, 0.5, gen).reshape(w.shape);
        var m = BcbpMatrix.Pack(w, mask, 8);
        var x = randn(new long[] { 2, 6, 11, 9 }, generator: gen);
        var bias = randn(new long[] { 24 }, generator: gen);
        var g = new ConvGeometry(k, k, stride, stride, pad, pad, dilation, dilation);
        var expected = nn.functional.conv2d(x.to(ScalarType.Float64), (w * mask).to(ScalarType.Float64), bias.to(ScalarType.Float64),
            new long[] { stride }, new long[] { pad }, new long[] { dilation });
        Assert.That(KernelTestSupport.RelErr(SparseReference.Conv2d(m, x, g, bias), expected), Is.LessThan(1e-6));
    }

    [Test]
    public void ConvReferenceOverSeveralBatchChunksMatchesDenseConv2d()
    {
        // K * OH * OW = 576 * 1024 per image: the reference builds im2col for 7 images at a time, so 9 images take two
        // chunks, the second partial; a 40-row output has a partial last tile of 16 rows.
        var gen = new Generator(7);
        var w = randn(new long[] { 40, 64, 3, 3 }, generator: gen);
        var mask = SyntheticMasks.RandomBlock(40, 576, 16, 0.75, gen, 8).reshape(w.shape);
        var m = BlockSparseMatrix.Pack(w, mask, 16);
        var x = randn(new long[] { 9, 64, 32, 32 }, generator: gen);
        var expected = nn.functional.conv2d(x.to(ScalarType.Float64), (w * mask).to(ScalarType.Float64), padding: new long[] { 1 });
        var y = SparseReference.Conv2d(m, x, new ConvGeometry(3, 3, 1, 1, 1, 1, 1, 1));
        Assert.That(y.shape, Is.EqualTo(new long[] { 9, 40, 32, 32 }));
        Assert.That(KernelTestSupport.RelErr(y, expected), Is.LessThan(1e-6));
    }

    [Test]
    public void Im2ColMatchesHandComputedColumns()
    {
        var x = arange(9, dtype: ScalarType.Float32).reshape(1, 1, 3, 3);
        var cols = SparseReference.Im2Col(x, new ConvGeometry(2, 2));          // 4 taps x 4 positions
        var expected = tensor(new float[,] { { 0, 1, 3, 4 }, { 1, 2, 4, 5 }, { 3, 4, 6, 7 }, { 4, 5, 7, 8 } }).unsqueeze(0);
        Assert.That(KernelTestSupport.Same(cols, expected), Is.True);
    }

    [Test]
    public void SparseModulesOnCpuMatchDenseLayers()
    {
        var gen = new Generator(6);
        var w = randn(new long[] { 16, 4, 3, 3 }, generator: gen);
        var mask = SyntheticMasks.RandomBcbp(16, 36, 8, 0.75, gen).reshape(w.shape);
        var conv = new BcbpConv2d(BcbpMatrix.Pack(w, mask, 8), 4, new ConvGeometry(3, 3, 1, 1, 1, 1));
        var x = randn(new long[] { 2, 4, 5, 5 }, generator: gen);
        var expected = nn.functional.conv2d(x, w * mask, padding: new long[] { 1 });
        Assert.That(KernelTestSupport.RelErr(conv.forward(x), expected), Is.LessThan(1e-5));

        var lw = randn(new long[] { 8, 12 }, generator: gen);
        var lmask = SyntheticMasks.RandomBcbp(8, 12, 4, 0.5, gen);
        var lin = new BcbpLinear(BcbpMatrix.Pack(lw, lmask, 4), ones(8));
        var lx = randn(new long[] { 3, 2, 12 }, generator: gen);
        Assert.That(KernelTestSupport.RelErr(lin.forward(lx), nn.functional.linear(lx, lw * lmask, ones(8))), Is.LessThan(1e-5));
    }

    [Test]
    public void PackedWeightPadsEveryTileToTheKernelStep()
    {
        var gen = new Generator(7);
        var w = randn(new long[] { 64, 100 }, generator: gen);
        var m = BlockSparseMatrix.Pack(w, SyntheticMasks.RandomBlock(64, 100, 32, 0.5, gen, 10), 32);
        var p = PackedWeight.Create(m, CPU, ScalarType.Float16);
        var ptr = p.ColPtr.data<int>().ToArray();
        for (int t = 0; t < m.Tiles; t++)
        {
            long cnt = m.Count(t), padded = ptr[t + 1] - ptr[t];
            Assert.That(padded % PackedWeight.Bk, Is.Zero);
            Assert.That(padded - cnt, Is.InRange(0, PackedWeight.Bk - 1));
            var vals = p.Values.narrow(0, ptr[t] * 32L, padded * 32).view(32, padded);
            Assert.That(KernelTestSupport.Same(vals.narrow(1, 0, cnt), m.TileValues(t).to(ScalarType.Float16)), Is.True);
            Assert.That(vals.narrow(1, cnt, padded - cnt).abs().sum().to(ScalarType.Float32).item<float>(), Is.Zero);
        }
        Assert.Throws<ArgumentException>(() => PackedWeight.Create(m, CPU, ScalarType.Float32));
    }
}
