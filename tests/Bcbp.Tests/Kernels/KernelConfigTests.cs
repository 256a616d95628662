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
        var cfg = KernelConfig.For(64, kSteps, residual: true, shortK: true);
        Assert.That((cfg.Bm, cfg.Bn, cfg.Stages, cfg.ResidualInShared), Is.EqualTo((64, 64, stages, true)));
        Assert.That(cfg.Defines(false, true), Does.Contain("RES=1").And.Contain("RES_SMEM=1"));
        var plain = cfg with { ResidualInShared = false };
        Assert.That(cfg.SharedBytes - plain.SharedBytes, Is.EqualTo(64 * 64 * 2), "the residual tile [BM x BN] fp16");
    }

    [Test]
    public void LongLoopsAndTheDefaultKeepTheWideShape()
    {
        var wide = new KernelConfig(64, 128, 2, 2, 4);
        Assert.That(KernelConfig.For(64, 5, residual: true, shortK: true), Is.EqualTo(wide));
        Assert.That(KernelConfig.For(64, 1, residual: true, shortK: false), Is.EqualTo(wide));
        Assert.That(KernelConfig.For(64, 1, residual: false, shortK: true).Defines(false, false), Does.Contain("RES_SMEM=0"));
    }

    [TestCase(32)] [TestCase(64)] [TestCase(128)] [TestCase(256)]
    public void EveryShapeFitsABlocksSharedMemory(int tileRows)
    {
        foreach (var kSteps in new[] { 1, 2, 4, 8, 64 })
            foreach (var residual in new[] { false, true })
                foreach (var shortK in new[] { false, true })
                {
                    var cfg = KernelConfig.For(tileRows, kSteps, residual, shortK);
                    Assert.That(tileRows % cfg.Bm, Is.Zero);
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
