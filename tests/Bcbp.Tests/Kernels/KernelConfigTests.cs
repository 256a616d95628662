using Bcbp.Kernels.Formats;
using Bcbp.Kernels.Ops;
using static TorchSharp.torch;

namespace Bcbp.Tests.Kernels;

/// <summary>The mma.sync kernel's block shapes (Ops/KernelConfig.cs): the short-K shape only for short loops, its
/// residual tile counted in the shared memory the launch asks for, every shape within a block's limit.</summary>
public class KernelConfigTests
{
    [TestCase(1, 2)] [TestCase(2, 3)] [TestCase(4, 4)]
    public void ShortLoopsGetNarrowBlocksWithAStagePerStepAndTheResidualInSharedMemory(int kSteps, int stages)
    {
        var cfg = KernelConfig.For(64, kSteps, residual: true, KernelConfig.FirstShortK, 1);
        Assert.That((cfg.Bm, cfg.Bn, cfg.Stages, cfg.ResidualInShared), Is.EqualTo((64, 64, stages, true)));
        Assert.That(cfg.Defines(false, true), Does.Contain("RES=1").And.Contain("RES_SMEM=1"));
        var plain = cfg with { ResidualInShared = false };
        Assert.That(cfg.SharedBytes - plain.SharedBytes, Is.EqualTo(64 * 64 * 2), "the residual tile [BM x BN] fp16");
    }

    [Test]
    public void LongLoopsKeepTheWideShapeAndShortOnesTakeTheDefaultShortKShape()
    {
        Assert.That(KernelConfig.For(64, 2, residual: true), Is.EqualTo(new KernelConfig(64, 64, 2, 2, 3, false, 6)), "BCBP_MMA_SHORTK unset: the default");
        Assert.That(KernelConfig.For(64, 2, residual: false), Is.EqualTo(new KernelConfig(64, 128, 2, 2, 4)), "the default is for residual launches only");
        Assert.That(KernelConfig.For(64, 5, residual: true), Is.EqualTo(new KernelConfig(64, 128, 2, 2, 4)));
        var wide = new KernelConfig(64, 128, 2, 2, 4);
        Assert.That(KernelConfig.For(64, 5, residual: true, KernelConfig.FirstShortK, 1), Is.EqualTo(wide));
        Assert.That(KernelConfig.For(64, 1, residual: true, null, 1), Is.EqualTo(wide));
        Assert.That(KernelConfig.For(64, 1, residual: false, KernelConfig.FirstShortK, 1).Defines(false, false), Does.Contain("RES_SMEM=0"));
    }

    [Test]
    public void AShortKShapeSpecNamesColumnsWarpsBlocksPerSmAndTheResidualsPlace()
    {
        Assert.That(ShortKShape.Parse(null), Is.EqualTo(KernelConfig.DefaultShortK));
        Assert.That(ShortKShape.Parse("0"), Is.Null);
        Assert.That(ShortKShape.Parse("1"), Is.EqualTo(KernelConfig.FirstShortK));
        var shape = ShortKShape.Parse("64,4,2,5,0")!;
        Assert.That(shape, Is.EqualTo(new ShortKShape(64, 4, 2, 5, false)));
        var cfg = KernelConfig.For(32, 2, residual: true, shape, 1);
        Assert.That((cfg.Bm, cfg.Bn, cfg.WarpsM, cfg.WarpsN, cfg.Stages, cfg.ResidualInShared, cfg.MinBlocks), Is.EqualTo((32, 64, 2, 2, 3, false, 5)),
            "32-row blocks keep 16 rows per warp: 2 warps down M, not 4");
        Assert.That(cfg.Defines(false, true), Does.Contain("MINB=5").And.Contain("WARPS_M=2"));
        Assert.That(KernelConfig.For(64, 8, residual: true, shape, 3), Is.EqualTo(new KernelConfig(64, 128, 2, 2, 4, false, 3)), "long loops: the wide shape");
        var residualOnly = ShortKShape.Parse("64,2,2,6,0,1")!;
        Assert.That(residualOnly.ResidualOnly, Is.True);
        Assert.That(KernelConfig.For(64, 2, residual: true, residualOnly, 1).Bn, Is.EqualTo(64));
        Assert.That(KernelConfig.For(64, 2, residual: false, residualOnly, 1), Is.EqualTo(new KernelConfig(64, 128, 2, 2, 4)), "no residual: the wide shape");
        Assert.That(ShortKShape.Parse("64,2,2,6,0,0")!.ResidualOnly, Is.False);
    }

    [TestCase("2")] [TestCase("64,2,2")] [TestCase("96,2,2,1,0")] [TestCase("64,2,8,1,0")] [TestCase("64,2,2,0,0")] [TestCase("64,2,2,1,2")] [TestCase("64,2,x,1,0")] [TestCase("64,2,2,6,0,2")] [TestCase("64,2,2,6,0,1,1")]
    public void AMalformedShortKShapeIsRefusedWithTheForm(string value)
    {
        var e = Assert.Throws<ArgumentException>(() => ShortKShape.Parse(value));
        Assert.That(e!.Message, Does.Contain($"BCBP_MMA_SHORTK='{value}'").And.Contain("BN,WARPS_M,WARPS_N,MINB,RES_SMEM"));
    }

    [TestCase(32)] [TestCase(64)] [TestCase(128)] [TestCase(256)]
    public void EveryShapeFitsABlocksSharedMemory(int tileRows)
    {
        foreach (var kSteps in new[] { 1, 2, 4, 8, 64 })
            foreach (var residual in new[] { false, true })
                foreach (var shortK in new[] { null, "0", "1", "64,2,2,4,0", "128,2,4,2,0", "256,4,4,1,1", "64,4,1,1,1", "64,2,2,6,0,1" })
                {
                    var cfg = KernelConfig.For(tileRows, kSteps, residual, ShortKShape.Parse(shortK), 1);
                    Assert.That(tileRows % cfg.Bm, Is.Zero);
                    Assert.That((cfg.Bm / cfg.WarpsM % 16, cfg.Bn / cfg.WarpsN % 16), Is.EqualTo((0, 0)), "each warp's piece is whole 16 x 16 MMA tiles");
                    Assert.That(cfg.SharedBytes, Is.LessThanOrEqualTo(227 * 1024));
                    Assert.That(cfg.Threads % (cfg.Bn / 8), Is.Zero, "a thread's gather column stays fixed");
                }
    }

    [TestCase("output")] [TestCase("residual")]
    public void ALaunchRefusesAnOutputOrResidualThatDoesNotStart16ByteAligned(string which)
    {
        KernelTestSupport.UseCpu();
        var gen = new Generator(3);
        var mask = SyntheticMasks.RandomBcbp(32, 64, 32, 0.5, gen);
        var w = PackedWeight.Create(BcbpMatrix.Pack(randn(32, 64, generator: gen) * mask, mask, 32), CPU, ScalarType.Float16);
        var x = randn(new long[] { 64, 16 }, dtype: ScalarType.Float16);
        Tensor Shifted() => empty(32 * 16 + 1, dtype: ScalarType.Float16).narrow(0, 1, 32 * 16).view(32, 16);
        var y = which == "output" ? Shifted() : empty(32, 16, dtype: ScalarType.Float16);
        var res = which == "residual" ? Shifted() : null;
        var e = Assert.Throws<ArgumentException>(() => GatherGemm.PrepareGemm(w, x, y, null, res, false).Dispose());
        Assert.That(e!.Message, Does.Contain($"the {which} must start 16-byte aligned").And.Contain("offset 1"));
    }
}
