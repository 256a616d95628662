namespace Bcbp.Kernels.Plan;

/// <summary>One argument of a plan_ops.cu kernel: a plan buffer's address, or a 32- or 64-bit integer.</summary>
public abstract record OpArg;
/// <summary>The device address of plan buffer <see cref="Index"/>.</summary>
public sealed record BufferArg(int Index) : OpArg;
/// <summary>A C <c>int</c>.</summary>
public sealed record IntArg(int Value) : OpArg;
/// <summary>A C <c>long long</c>.</summary>
public sealed record LongArg(long Value) : OpArg;

/// <summary>A launch of a kernel of Cuda/plan_ops.cu: its name, grid, threads per (1-D) block and arguments in the
/// kernel's parameter order.</summary>
public sealed record OpLaunch(string Kernel, (uint X, uint Y, uint Z) Grid, int Threads, IReadOnlyList<OpArg> Args);

/// <summary>
/// How each layout and pooling step of a plan launches its kernel of Cuda/plan_ops.cu: pure, so the same description
/// drives the GPU (<see cref="ModelPlan"/>) and the host build of the kernels the tests run (tests/.../HostCuda).
/// </summary>
public static class PlanOps
{
    /// <summary>Threads per block of every plan_ops kernel (a 1-D block; nchw_to_chwn sees it as 32 x 8).</summary>
    public const int Threads = 256;

    /// <summary>The launch of <paramref name="step"/> in <paramref name="graph"/> (a transpose, pool or shortcut step).</summary>
    public static OpLaunch Describe(PlanStep step, PlanGraph graph)
    {
        long[] S(int i) => graph.Shapes[i];
        int padded = (int)graph.Padded;
        OpLaunch Elementwise(string kernel, long threads, params OpArg[] args)
            => new(kernel, ((uint)((threads + Threads - 1) / Threads), 1, 1), Threads, args);
        switch (step)
        {
            case ToChwnStep s:
            {
                var x = S(s.Input);
                long batch = x[0], f = x[1] * x[2] * x[3];
                return new OpLaunch("nchw_to_chwn", ((uint)((f + 31) / 32), (uint)((batch + 31) / 32), 1), Threads,
                    new OpArg[] { new BufferArg(s.Input), new BufferArg(s.Output), new IntArg((int)batch), new LongArg(f), new IntArg(padded) });
            }
            case MaxPoolStep s:
            {
                var (x, y) = (S(s.Input), S(s.Output));
                return Elementwise("maxpool_chwn", y[0] * y[1] * y[2] * (padded / 8), new BufferArg(s.Input), new BufferArg(s.Output),
                    new IntArg((int)x[0]), new IntArg((int)x[1]), new IntArg((int)x[2]), new IntArg(padded), new IntArg((int)y[1]),
                    new IntArg((int)y[2]), new IntArg(s.Kernel), new IntArg(s.Stride), new IntArg(s.Padding));
            }
            case AvgPoolStep s:
            {
                var x = S(s.Input);
                return Elementwise("avgpool_chwn", x[0] * (padded / 8), new BufferArg(s.Input), new BufferArg(s.Output),
                    new IntArg((int)x[0]), new IntArg((int)(x[1] * x[2])), new IntArg(padded));
            }
            case ShortcutAStep s:
            {
                var (x, y) = (S(s.Input), S(s.Output));
                return Elementwise("shortcut_a_chwn", y[0] * y[1] * y[2] * (padded / 8), new BufferArg(s.Input), new BufferArg(s.Output),
                    new IntArg((int)x[0]), new IntArg((int)x[1]), new IntArg((int)x[2]), new IntArg(padded), new IntArg((int)y[0]),
                    new IntArg((int)y[1]), new IntArg((int)y[2]), new IntArg(s.Stride), new IntArg(s.PadChannels / 2));
            }
            default: throw new ArgumentException($"{step.GetType().Name} is not a plan_ops.cu step (convs and linears are gather-GEMM launches)");
        }
    }
}
