using Bcbp.Kernels.Interop;
using static TorchSharp.torch;

namespace Bcbp.Kernels.Ops;

/// <summary>
/// Split K for the Hopper gather-GEMM at small N (Cuda/gather_gemm_sm90.cu, "Split K"; Cuda/splitk_reduce.cu): where
/// a launch's blocks would not even give every multiprocessor one, each block runs its tile's whole K loop alone and
/// the layer takes the latency of that loop (ResNet-50's layer4 and classifier at batch 1). Splitting the loop over
/// grid z cuts it, at the cost of fp32 partials and one reduction launch that applies the epilogue.
/// Passed <c>bcbp verify</c> on the H200 (session 6, 478/478 with it on) and pays only for long loops there: ResNet-50
/// at batch 1, 18 K blocks went from 19.5-24.7 to 16.2-18.8 us per layer, 9 K blocks from 11.9-16.0 to 16.8-20.9 us
/// (docs/kernels.md), hence <see cref="MinKBlocks"/>. On unless <c>BCBP_SPLIT_K=0</c>.
/// </summary>
public static class SplitK
{
    /// <summary>Whether launches may split K (<c>BCBP_SPLIT_K=0</c> turns it off; read once).</summary>
    public static bool Enabled { get; } = Environment.GetEnvironmentVariable("BCBP_SPLIT_K") != "0";

    /// <summary>Fewest K blocks (of 64 columns) a loop needs before it is split: shorter ones measured slower split.</summary>
    public const int MinKBlocks = 16;
    /// <summary>Fewest K blocks a split gets: the pipeline needs a few to overlap copies and MMA.</summary>
    public const int MinKBlocksPerSplit = 4;
    /// <summary>Most splits: the partials' traffic grows with them.</summary>
    public const int MaxSplits = 8;

    /// <summary>How many splits a launch of <paramref name="blocks"/> blocks (<paramref name="columnBlocks"/> of them
    /// along N) gets on <paramref name="multiprocessors"/> SMs when its longest tile spans <paramref name="kBlocks"/>
    /// K blocks: 1 when the blocks fill the GPU, the loop is short, or the column blocks need grid z themselves.</summary>
    public static int Splits(long blocks, int kBlocks, int multiprocessors, long columnBlocks)
    {
        if (blocks <= 0 || blocks >= multiprocessors || kBlocks < MinKBlocks || columnBlocks > 65535) return 1;
        long want = (multiprocessors + blocks - 1) / blocks;
        return (int)Math.Min(Math.Min(want, kBlocks / MinKBlocksPerSplit), MaxSplits);
    }

    /// <summary>Threads per block of the reduction.</summary>
    public const int ReduceThreads = 256;

    /// <summary>The reduction's grid for <paramref name="elements"/> outputs (grid-stride beyond 65,535 blocks).</summary>
    public static uint ReduceBlocks(long elements) => (uint)Math.Clamp((elements + ReduceThreads - 1) / ReduceThreads, 1, 65535);

    /// <summary>The reduction of <paramref name="partials"/> [splits x M x N] (fp32) into <paramref name="y"/> [M x N]
    /// (row stride N) with the GEMM's epilogue: bias (fp32, or null), residual (y's layout and dtype, or null), ReLU.</summary>
    internal static KernelLaunch Reduce(Tensor partials, int splits, long m, long n, Tensor? bias, Tensor? residual, Tensor y, bool relu, int device)
    {
        bool bf16 = y.dtype == ScalarType.BFloat16;
        var f = KernelCache.Function("splitk_reduce.cu", "splitk_reduce", new[] { $"BF16={(bf16 ? 1 : 0)}" }, device);
        var args = new KernelArgs(9);
        args.Ptr(TensorPointer.Of(partials, "split-K partials")).I32(splits).I32((int)m).I32((int)n)
            .Ptr(bias is null ? IntPtr.Zero : TensorPointer.Of(bias, "bias"))
            .Ptr(residual is null ? IntPtr.Zero : TensorPointer.Of(residual, "residual")).I64(n)
            .Ptr(TensorPointer.Of(y, "output")).I32(relu ? 1 : 0);
        return new KernelLaunch(f, "splitk_reduce", (ReduceBlocks(m * n), 1, 1), ReduceThreads, 0, args);
    }
}
