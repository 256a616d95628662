using System.Globalization;

namespace Bcbp.Kernels.Ops;

/// <summary>
/// Thread-block shape of the gather-GEMM: BM rows (inside one pruning tile, so BM divides tile_rows), BN columns,
/// WarpsM x WarpsN warps, Stages-deep pipeline, MinBlocks blocks per SM the registers are budgeted for. Chosen from
/// measurements on an H100 and the H200 (docs/kernels.md).
/// </summary>
public sealed record KernelConfig(int Bm, int Bn, int WarpsM, int WarpsN, int Stages, bool ResidualInShared = false, int MinBlocks = 1)
{
    /// <summary>
    /// The block shape of short loops (at most <see cref="ShortKSteps"/> K steps: ResNet-50's 1x1 layers at 75% take
    /// 1-4), or null for the wide shape everywhere. <c>BCBP_MMA_SHORTK</c> (read once) overrides it, a measurement knob:
    /// <c>0</c> off; <c>1</c> the shape first tried (<see cref="FirstShortK"/>); or <c>BN,WARPS_M,WARPS_N,MINB,RES_SMEM</c>
    /// with an optional sixth field <c>1</c> for residual launches only (e.g. <c>64,2,2,4,0</c>, <c>64,2,2,6,0,1</c>). Unset: <see cref="DefaultShortK"/>, the best of those measured on the H200
    /// (docs/kernels.md, sessions 7 and 8).
    /// </summary>
    public static ShortKShape? ShortK => LazyShortK.Value;
    static readonly Lazy<ShortKShape?> LazyShortK = new(() => ShortKShape.Parse(Environment.GetEnvironmentVariable("BCBP_MMA_SHORTK")));

    /// <summary>Blocks per SM the wide shape's registers are budgeted for: <c>BCBP_MMA_MINB</c> (a measurement knob),
    /// default 1 (ptxas free).</summary>
    public static int WideMinBlocks => LazyWideMinBlocks.Value;
    static readonly Lazy<int> LazyWideMinBlocks = new(() => ParseMinBlocks(Environment.GetEnvironmentVariable("BCBP_MMA_MINB")));

    /// <summary>Longest loop (in K steps of <see cref="PackedWeight.Bk"/>) the short-K shape takes.</summary>
    public const int ShortKSteps = 4;

    /// <summary>The short-K shape by default: 64-column blocks, 2 x 2 warps, registers budgeted for 6 blocks per SM, the
    /// residual read in the epilogue, for residual launches only (ResNet-50 75% on the H200: plan 7.21 -> 6.87 ms at
    /// batch 256, 0.594 -> 0.540 ms at batch 1 on every short loop, session 7; residual ones only 6.87 -> 6.61 ms at
    /// batch 256, session 8: short loops without a residual ran slower in it). Loops of 3-4 steps take 4 stages' shared
    /// memory, so 5 of their blocks fit an SM at BM 64, not 6 (measured so: 80 registers, no spills).</summary>
    public static readonly ShortKShape DefaultShortK = new(64, 2, 2, 6, false, ResidualOnly: true);

    /// <summary>The short-K shape first tried, <c>BCBP_MMA_SHORTK=1</c>: 64-column blocks, 2 x 2 warps, the residual tile
    /// copied to shared memory at the block's start.</summary>
    public static readonly ShortKShape FirstShortK = new(64, 2, 2, 1, true);

    /// <summary>The configuration for a tile height: BM = the largest of 128, 64, 32 that divides it; with
    /// <see cref="ShortK"/>, that shape for loops of <paramref name="kSteps"/> &lt;= <see cref="ShortKSteps"/>
    /// (<paramref name="residual"/>: the launch adds one).</summary>
    public static KernelConfig For(int tileRows, int kSteps = int.MaxValue, bool residual = false)
        => For(tileRows, kSteps, residual, ShortK, WideMinBlocks);

    /// <summary><see cref="For(int, int, bool)"/> with a given short-K shape (null: none) and the wide shape's
    /// blocks per SM.</summary>
    public static KernelConfig For(int tileRows, int kSteps, bool residual, ShortKShape? shortK, int wideMinBlocks)
    {
        int bm = tileRows % 128 == 0 ? 128 : tileRows % 64 == 0 ? 64 : tileRows % 32 == 0 ? 32
            : throw new NotSupportedException($"the GPU kernels need tile_rows to be a multiple of 32, got {tileRows}; prune with tile_rows 32, 64 or 128 (or run on the CPU reference)");
        if (shortK is { } s && kSteps <= ShortKSteps && (residual || !s.ResidualOnly))
        {
            int warpsM = Math.Min(s.WarpsM, bm / 16);   // a warp's rows stay a multiple of 16
            return new KernelConfig(bm, s.Bn, warpsM, s.WarpsN, Math.Clamp(kSteps + 1, 2, 4), residual && s.ResidualInShared, s.MinBlocks);
        }
        return new KernelConfig(bm, 128, 2, 2, 4, false, wideMinBlocks);
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
        $"RES={(residual ? 1 : 0)}", $"RES_SMEM={(residual && ResidualInShared ? 1 : 0)}", $"MINB={MinBlocks}",
    };

    static int ParseMinBlocks(string? value)
    {
        if (string.IsNullOrEmpty(value)) return 1;
        if (int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int b) && b is >= 1 and <= 16) return b;
        throw new ArgumentException($"BCBP_MMA_MINB='{value}': give the blocks per SM to budget registers for, 1 to 16 (or unset it)");
    }
}

/// <summary>The mma.sync kernel's block shape for short loops (<see cref="KernelConfig.ShortK"/>): BN columns,
/// WarpsM x WarpsN warps (WarpsM shrinks where BM / WarpsM would drop under 16 rows), MinBlocks blocks per SM for the
/// registers, the residual tile copied to shared memory or not; ResidualOnly: short loops without a residual keep the
/// wide shape (on the H200 they ran slower in this one, docs/kernels.md session 7).</summary>
public sealed record ShortKShape(int Bn, int WarpsM, int WarpsN, int MinBlocks, bool ResidualInShared, bool ResidualOnly = false)
{
    /// <summary>Reads <c>BCBP_MMA_SHORTK</c>'s value (<see cref="KernelConfig.ShortK"/>; unset: the default shape); a
    /// malformed one is refused with what to write instead.</summary>
    public static ShortKShape? Parse(string? value)
    {
        if (string.IsNullOrEmpty(value)) return KernelConfig.DefaultShortK;
        if (value == "0") return null;
        if (value == "1") return KernelConfig.FirstShortK;
        var parts = value.Split(',');
        var n = new int[parts.Length];
        bool ok = parts.Length is 5 or 6 && parts.Select((p, i) => int.TryParse(p.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out n[i])).All(x => x);
        if (ok)
        {
            var shape = new ShortKShape(n[0], n[1], n[2], n[3], n[4] != 0, parts.Length == 6 && n[5] != 0);
            // BN / 8 <= 32 always divides the threads (a multiple of 32): a thread's gather column stays fixed.
            if (shape.Bn is 64 or 128 or 256 && shape.WarpsM is 1 or 2 or 4 && shape.WarpsN is 1 or 2 or 4 or 8
                && shape.Bn / shape.WarpsN % 16 == 0 && shape.MinBlocks is >= 1 and <= 16 && n[4] is 0 or 1 && (parts.Length == 5 || n[5] is 0 or 1))
                return shape;
        }
        throw new ArgumentException($"BCBP_MMA_SHORTK='{value}': give 0 (off), 1 (the first short-K shape) or BN,WARPS_M,WARPS_N,MINB,RES_SMEM[,RESIDUAL_ONLY] " +
                                    "with BN in {64, 128, 256}, WARPS_M in {1, 2, 4}, WARPS_N in {1, 2, 4, 8}, BN / WARPS_N a multiple of 16, " +
                                    "MINB 1-16, RES_SMEM and RESIDUAL_ONLY 0 or 1 (e.g. 64,2,2,6,0,1)");
    }
}
