using Bcbp.Kernels.Ops;
using static TorchSharp.torch;

namespace Bcbp.Tests.Kernels;

/// <summary>Split K of the Hopper gather-GEMM: the rule for how many splits a launch gets, and the reduction kernel
/// (Cuda/splitk_reduce.cu, built for the host) against TorchSharp on the same values.</summary>
public class SplitKTests
{
    [TestCase(8, 18, 132, 1, 4)]      // ResNet-50 layer4 conv2 at batch 1: 8 blocks, 18 K blocks -> 18 / 4 = 4 splits
    [TestCase(16, 32, 132, 1, 8)]     // the classifier 2048 -> 1000 at batch 8: ceil(132 / 16) = 9 -> the cap, 8
    [TestCase(52, 20, 132, 13, 3)]    // ceil(132 / 52) = 3
    [TestCase(32, 16, 132, 4, 4)]     // the shortest loop that is split: 16 / 4
    [TestCase(8, 9, 132, 1, 1)]       // layer3 conv2 (9 K blocks): measured slower split, so not split
    [TestCase(132, 18, 132, 1, 1)]    // the blocks fill the GPU
    [TestCase(8, 18, 132, 70000, 1)]  // column blocks need grid z themselves
    public void SplitsFillTheGpuWithinTheLoopAndTheCap(long blocks, int kBlocks, int sms, long columnBlocks, int expected)
        => Assert.That(SplitK.Splits(blocks, kBlocks, sms, columnBlocks), Is.EqualTo(expected));

    [Test]
    public void SplitsNeverLeaveASplitTooFewKBlocksOrExceedTheCap()
    {
        for (int kb = 0; kb <= 40; kb++)
            for (long blocks = 1; blocks <= 140; blocks += 7)
            {
                int s = SplitK.Splits(blocks, kb, 132, 1);
                Assert.That(s, Is.InRange(1, SplitK.MaxSplits));
                if (s > 1) Assert.That(kb / s, Is.GreaterThanOrEqualTo(SplitK.MinKBlocksPerSplit), $"kb {kb}, blocks {blocks}");
                if (s > 1) Assert.That(blocks, Is.LessThan(132));
                if (s > 1) Assert.That(kb, Is.GreaterThanOrEqualTo(SplitK.MinKBlocks));
            }
    }

    HostKernels _host = null!;

    [OneTimeSetUp] public void Build() { KernelTestSupport.UseCpu(); _host = new HostKernels(); }
    [OneTimeTearDown] public void Clean() => _host?.Dispose();

    [TestCase(false, 3, 40, 37, true, true, true)]
    [TestCase(true, 8, 16, 300, true, false, true)]
    [TestCase(false, 2, 9, 5, false, true, false)]
    [TestCase(false, 5, 64, 1100, true, true, true)]   // more elements than one pass of the grid's threads covers
    public void ReductionSumsThePartialsAndAppliesTheKernelsEpilogue(bool bf16, int splits, int m, int n, bool bias, bool residual, bool relu)
    {
        var gen = new Generator(21);
        var dtype = bf16 ? ScalarType.BFloat16 : ScalarType.Float16;
        var part = randn(new long[] { splits, m, n }, generator: gen);
        var b = bias ? randn(m, generator: gen) : null;
        var res = residual ? randn(new long[] { m, n }, generator: gen).to(dtype) : null;
        var y = full(new long[] { m, n }, 7.0, dtype: dtype);          // every element must be written
        var outputs = _host.Launch("splitk_reduce", (Math.Min(SplitK.ReduceBlocks((long)m * n), 3u), 1, 1), 64, bf16,
            new HostKernels.Buffer(part), new HostKernels.Int(splits), new HostKernels.Int(m), new HostKernels.Int(n),
            b is null ? new HostKernels.Null() : new HostKernels.Buffer(b), res is null ? new HostKernels.Null() : new HostKernels.Buffer(res),
            new HostKernels.Long(n), new HostKernels.Buffer(y), new HostKernels.Int(relu ? 1 : 0));
        var got = outputs[^1];

        // The same arithmetic in the same order: the splits summed one after the other in fp32, the bias added, one
        // rounding, then the residual and ReLU in fp32 and the final rounding.
        var sum = part[0].clone();
        for (int z = 1; z < splits; z++) sum = sum + part[z];
        if (b is not null) sum = sum + b.unsqueeze(1);
        var expected = sum.to(dtype).to(ScalarType.Float32);
        if (res is not null) expected = expected + res.to(ScalarType.Float32);
        if (relu) expected = expected.relu();
        Assert.That(KernelTestSupport.Same(got, expected.to(dtype)), "bit for bit");
    }
}
