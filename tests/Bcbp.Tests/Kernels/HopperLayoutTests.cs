using Bcbp.Kernels.Formats;
using Bcbp.Kernels.Ops;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Tests.Kernels;

/// <summary>The Hopper kernel's packed format (Cuda/gather_gemm_sm90.cu header), its block shapes and the kernel choice,
/// checked on the CPU: the GPU run is `bcbp verify` and experiments/bench/sm90_probe.py.</summary>
public class HopperLayoutTests
{
    [SetUp] public void Setup() => KernelTestSupport.UseCpu();

    [TestCase(32, 90, 8, 0.5, true)]
    [TestCase(48, 200, 24, 0.6, true)]
    [TestCase(100, 300, 64, 0.75, true)]   // partial last tile
    [TestCase(512, 700, 512, 0.8, true)]   // 256-row chunks of a 512-row tile
    [TestCase(96, 200, 32, 0.6, false)]    // block: its own count per tile
    public void WgmmaPackingHoldsEveryKeptWeightOnceInItsSwizzledPlace(int rows, int cols, int tileRows, double sparsity, bool balanced)
    {
        var gen = new Generator((ulong)(rows + cols));
        var w = randn(new long[] { rows, cols }, generator: gen);
        var mask = balanced ? SyntheticMasks.RandomBcbp(rows, cols, tileRows, sparsity, gen) : SyntheticMasks.RandomBlock(rows, cols, tileRows, sparsity, gen);
        TiledSparseMatrix m = balanced ? BcbpMatrix.Pack(w, mask, tileRows) : BlockSparseMatrix.Pack(w, mask, tileRows);
        var p = PackedWeight.Create(m, CPU, ScalarType.Float16, path: KernelPath.Wgmma);

        int tr = Sm90Config.RowsPerBlock(tileRows);
        var values = p.Values.to(ScalarType.Float32).data<float>().ToArray();
        var idx = p.Indices.data<int>().ToArray();
        var colPtr = p.ColPtr.data<int>().ToArray();
        var dense = new float[m.Tiles * tileRows, cols];
        for (int t = 0; t < m.Tiles; t++)
        {
            int c64 = colPtr[t + 1] - colPtr[t], nkb = c64 / 64;
            Assert.That(c64 % 64, Is.Zero);
            Assert.That(c64 - m.Count(t), Is.InRange(0, 63));
            for (int c = 0; c < tileRows / tr; c++)
                for (int kb = 0; kb < nkb; kb++)
                    for (int n = 0; n < tr; n++)
                        for (int k = 0; k < 64; k++)
                        {
                            long at = (long)colPtr[t] * tileRows + ((long)(c * nkb + kb) * tr + n) * 64 + (((k / 8) ^ (n % 8)) * 8 + k % 8);
                            int j = kb * 64 + k, col = idx[colPtr[t] + j];
                            if (j >= m.Count(t)) { Assert.That((col, values[at]), Is.EqualTo((-1, 0f))); continue; }
                            dense[t * tileRows + c * tr + n, col] += values[at];
                        }
        }
        var expected = m.ToDense().to(ScalarType.Float16).to(ScalarType.Float32);
        var got = tensor(dense.Cast<float>().ToArray(), new long[] { m.Tiles * tileRows, cols }).narrow(0, 0, rows);
        Assert.That(KernelTestSupport.Same(got, expected), "unswizzled pieces give back weight * mask");
        if (balanced) Assert.That(p.KeptPadded, Is.EqualTo(colPtr[1]));
        Assert.That(p.KBlocks, Is.EqualTo(Enumerable.Range(0, m.Tiles).Max(t => colPtr[t + 1] - colPtr[t]) / 64));
    }

    [Test]
    public void RowTableAddressesTheIm2colRowsOfAChwnInput()
    {
        var gen = new Generator(5);
        const int b = 3, c = 4, h = 7, wd = 6;
        var g = new ConvGeometry(3, 3, 2, 2, 1, 1, 2, 1);
        var mask = SyntheticMasks.RandomBcbp(16, c * 9, 8, 0.5, gen);
        var p = PackedWeight.Create(BcbpMatrix.Pack(randn(new long[] { 16, c * 9 }, generator: gen), mask, 8), CPU, ScalarType.Float16, path: KernelPath.Wgmma);
        var x = randn(new long[] { b, c, h, wd }, generator: gen);
        var chwn = x.permute(1, 2, 3, 0).contiguous().reshape(-1).data<float>().ToArray();
        var cols = SparseReference.Im2Col(x, g);                        // [B, C*9, OH*OW]
        var (oh, ow) = g.OutputSize(h, wd);
        var table = p.RowTable(b, h, wd, g).data<int>().ToArray();
        var idx = p.Indices.data<int>().ToArray();
        int checkedRows = 0;
        for (int j = 0; j < idx.Length; j++)
        {
            int off = table[2 * j], dy = table[2 * j + 1] >> 16, dx = table[2 * j + 1] & 0xFFFF;
            if (idx[j] < 0) { Assert.That((off, table[2 * j + 1]), Is.EqualTo((-1, 0))); continue; }
            for (int y = 0; y < oh; y++)
                for (int xo = 0; xo < ow; xo++)
                    for (int n = 0; n < b; n++)
                    {
                        int ih = y * g.StrideH - g.PadH + dy, iw = xo * g.StrideW - g.PadW + dx;
                        float expected = cols[n, idx[j], y * ow + xo].item<float>();
                        float got = (uint)ih < h && (uint)iw < wd ? chwn[off + ((y * g.StrideH - g.PadH) * wd + xo * g.StrideW - g.PadW) * b + n] : 0f;
                        Assert.That(got, Is.EqualTo(expected), $"row {idx[j]} at ({y},{xo}) image {n}");
                    }
            checkedRows++;
        }
        Assert.That(checkedRows, Is.EqualTo(p.Source.Indices.shape[0]));
    }

    [TestCase(8)] [TestCase(16)] [TestCase(24)] [TestCase(64)] [TestCase(128)] [TestCase(256)] [TestCase(512)]
    public void Sm90ConfigFitsTheChip(int tileRows)
    {
        foreach (var kBlocks in new[] { 1, 3, 18, 72 })
        {
            var cfg = Sm90Config.For(tileRows, kBlocks);
            Assert.That(tileRows % cfg.Tr, Is.Zero);
            Assert.That(cfg.Tr % cfg.Nc, Is.Zero);
            Assert.That(cfg.Nc & (cfg.Nc - 1), Is.Zero, "wgmma N is a power of two here");
            Assert.That(cfg.Stages, Is.GreaterThanOrEqualTo(2));
            Assert.That(cfg.SharedBytes, Is.LessThanOrEqualTo(227 * 1024), "a block's dynamic shared memory limit");
            Assert.That((cfg.SharedBytes + 1024) * cfg.MinBlocks, Is.LessThanOrEqualTo(228 * 1024), "blocks per SM fit its shared memory");
            Assert.That(65536 / (cfg.Threads * cfg.MinBlocks), Is.GreaterThanOrEqualTo(cfg.Mw * cfg.Tr / 2 + 32), "registers hold the accumulators");
        }
    }

    [Test]
    public void KernelChoiceFollowsTheComputeCapabilityAndTheLayer()
    {
        Assert.That(KernelPaths.Choose(90, 16, pointwise: false), Is.EqualTo(KernelPath.Wgmma));
        Assert.That(KernelPaths.Choose(90, 16, pointwise: true), Is.EqualTo(KernelPath.Wgmma), "mma.sync cannot take 16-row tiles");
        Assert.That(KernelPaths.Choose(90, 64, pointwise: false), Is.EqualTo(KernelPath.Wgmma));
        Assert.That(KernelPaths.Choose(90, 64, pointwise: true), Is.EqualTo(KernelPath.MmaSync));
        Assert.That(KernelPaths.Choose(80, 64, pointwise: false), Is.EqualTo(KernelPath.MmaSync), "sm_90a cubins run on 9.0 only");
        Assert.That(() => KernelPaths.Choose(89, 16, false), Throws.TypeOf<NotSupportedException>().With.Message.Contains("multiple of 32"));
        Assert.That(() => KernelPaths.Choose(90, 12, false), Throws.TypeOf<NotSupportedException>().With.Message.Contains("multiple of 8"));
    }
}
