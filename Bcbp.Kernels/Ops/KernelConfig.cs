namespace Bcbp.Kernels.Ops;

/// <summary>
/// Thread-block shape of the gather-GEMM: BM rows (inside one pruning tile, so BM divides tile_rows), BN columns,
/// WarpsM x WarpsN warps, Stages-deep pipeline. Chosen from measurements on an H100 (docs/kernels.md).
/// </summary>
public sealed record KernelConfig(int Bm, int Bn, int WarpsM, int WarpsN, int Stages, bool ResidualInShared = false)
{
    /// <summary>
    /// The short-K shape (<c>BCBP_MMA_SHORTK=1</c>, read once; off until <c>verify</c> and a profile on a GPU have
    /// passed it, docs/kernels.md): for loops of at most <see cref="ShortKSteps"/> K steps (ResNet-50's 1x1 layers at
    /// 75%: 1-4), 64-column blocks with as many stages as steps plus one, so an SM holds more blocks (the mma.sync 1x1
    /// layers ran at 1-2 TB/s with 3 blocks per SM: each block's gather, MMA and epilogue come one after the other), and a
    /// residual copied to shared memory at the block's start.
    /// </summary>
    public static bool ShortKEnabled { get; } = Environment.GetEnvironmentVariable("BCBP_MMA_SHORTK") == "1";

    /// <summary>Longest loop (in K steps of <see cref="PackedWeight.Bk"/>) the short-K shape takes.</summary>
    public const int ShortKSteps = 4;

    /// <summary>The configuration for a tile height: BM = the largest of 128, 64, 32 that divides it; with
    /// <see cref="ShortKEnabled"/>, the short-K shape for loops of <paramref name="kSteps"/> &lt;= <see cref="ShortKSteps"/>
    /// (<paramref name="residual"/>: the launch adds one).</summary>
    public static KernelConfig For(int tileRows, int kSteps = int.MaxValue, bool residual = false)
        => For(tileRows, kSteps, residual, ShortKEnabled);

    /// <summary><see cref="For(int, int, bool)"/> with the short-K shape on or off.</summary>
    public static KernelConfig For(int tileRows, int kSteps, bool residual, bool shortK)
    {
        int bm = tileRows % 128 == 0 ? 128 : tileRows % 64 == 0 ? 64 : tileRows % 32 == 0 ? 32
            : throw new NotSupportedException($"the GPU kernels need tile_rows to be a multiple of 32, got {tileRows}; prune with tile_rows 32, 64 or 128 (or run on the CPU reference)");
        if (shortK && kSteps <= ShortKSteps)
            return new KernelConfig(bm, 64, 2, 2, Math.Clamp(kSteps + 1, 2, 4), residual);
        return new KernelConfig(bm, 128, 2, 2, 4);
    }

    /// <summary>Threads per block.</summary>
    public int Threads => WarpsM * WarpsN * 32;

    /// <summary>Dynamic shared memory: the pipeline, or the output tile if larger (the epilogue reuses it), and the
    /// residual tile where it is copied to shared memory.</summary>
    public int SharedBytes => (Math.Max(Stages * (Bm * (PackedWeight.Bk + 8) + PackedWeight.Bk * (Bn + 8)), Bm * (Bn + 8))
                               + (ResidualInShared ? Bm * Bn : 0)) * 2;

    /// <summary>NVRTC -D definitions; <paramref name="residual"/>: the launch adds one (a variant of its own, RES).</summary>
    public string[] Defines(bool bf16, bool residual) => new[]
    {
        $"BM={Bm}", $"BN={Bn}", $"WARPS_M={WarpsM}", $"WARPS_N={WarpsN}", $"STAGES={Stages}", $"BF16={(bf16 ? 1 : 0)}",
        $"RES={(residual ? 1 : 0)}", $"RES_SMEM={(residual && ResidualInShared ? 1 : 0)}",
    };
}
