namespace Bcbp.Kernels.Ops;

/// <summary>
/// Thread-block shape of the gather-GEMM: BM rows (inside one pruning tile, so BM divides tile_rows), BN columns,
/// WarpsM x WarpsN warps, Stages-deep pipeline. Chosen from measurements on an H100 (docs/kernels.md).
/// </summary>
public sealed record KernelConfig(int Bm, int Bn, int WarpsM, int WarpsN, int Stages)
{
    /// <summary>The configuration for a tile height: BM = the largest of 128, 64, 32 that divides it.</summary>
    public static KernelConfig For(int tileRows)
    {
        int bm = tileRows % 128 == 0 ? 128 : tileRows % 64 == 0 ? 64 : tileRows % 32 == 0 ? 32
            : throw new NotSupportedException($"the GPU kernels need tile_rows to be a multiple of 32, got {tileRows}; prune with tile_rows 32, 64 or 128 (or run on the CPU reference)");
        return new KernelConfig(bm, 128, 2, 2, 4);
    }

    /// <summary>Threads per block.</summary>
    public int Threads => WarpsM * WarpsN * 32;

    /// <summary>Dynamic shared memory: the pipeline, or the output tile if larger (the epilogue reuses it).</summary>
    public int SharedBytes => Math.Max(Stages * (Bm * (PackedWeight.Bk + 8) + PackedWeight.Bk * (Bn + 8)), Bm * (Bn + 8)) * 2;

    /// <summary>NVRTC -D definitions; <paramref name="residual"/>: the launch adds one (a variant of its own, RES).</summary>
    public string[] Defines(bool bf16, bool residual) => new[]
    {
        $"BM={Bm}", $"BN={Bn}", $"WARPS_M={WarpsM}", $"WARPS_N={WarpsN}", $"STAGES={Stages}", $"BF16={(bf16 ? 1 : 0)}",
        $"RES={(residual ? 1 : 0)}",
    };
}
