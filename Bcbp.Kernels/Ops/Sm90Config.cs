namespace Bcbp.Kernels.Ops;

/// <summary>
/// Block shape of the Hopper kernel (Cuda/gather_gemm_sm90.cu): TR rows per block (the wgmma N side; one tile or a
/// TR-row chunk of it), NC the wgmma instruction N, MW 64-pixel wgmma blocks per consumer warpgroup, Cons consumer
/// warpgroups, Stages-deep pipeline, MinBlocks blocks per SM the registers are budgeted for. The rule is the one
/// experiments/bench/sm90_probe.py measured best on the H200 (consumers 2, MW 1, as many blocks per SM as
/// registers and shared memory allow, precomputed conv row tables).
/// </summary>
public sealed record Sm90Config(int Tr, int Nc, int Mw, int Cons, int Stages, int MinBlocks)
{
    /// <summary>The kernel's K block (the packing pads each tile's count to a multiple of it).</summary>
    public const int Bk = 64;

    const int SharedPerSm = 233472, Reserved = 1024, Slack = 1024 + 128;

    /// <summary>Rows per block for a tile height: the tile, or the largest multiple of 8 up to 256 dividing it.</summary>
    public static int RowsPerBlock(int tileRows)
    {
        if (tileRows <= 0 || tileRows % 8 != 0)
            throw new NotSupportedException($"the Hopper kernel needs tile_rows to be a multiple of 8, got {tileRows}");
        if (tileRows <= 256) return tileRows;
        for (int d = 256; d >= 8; d -= 8) if (tileRows % d == 0) return d;
        throw new InvalidOperationException("unreachable: 8 divides tile_rows");
    }

    /// <summary>The configuration for <paramref name="tileRows"/>-row tiles whose longest tile spans
    /// <paramref name="kBlocks"/> K blocks.</summary>
    public static Sm90Config For(int tileRows, int kBlocks)
    {
        int tr = RowsPerBlock(tileRows);
        int nc = 256;
        while (tr % nc != 0) nc /= 2;
        const int cons = 2, mw = 1;
        int threads = 128 * (cons + 1);
        // Accumulators plus addressing: ptxas gave 80 at TR 64 (ncu on the H200, session 6), so 64-row tiles get two
        // blocks per SM; the memory-bound layers (short K, large N) run at half speed with one.
        int regs = (mw * tr / 2 + 48 + 7) / 8 * 8;
        int minRegs = Math.Max(1, 65536 / (threads * regs));
        int stage = StageBytes(tr, mw, cons);
        int want = Math.Min(6, Math.Max(2, kBlocks));
        int minBlocks = Math.Max(1, Math.Min(Math.Min(minRegs, SharedPerSm / (Reserved + want * stage + Slack)), 4));
        int stages = Math.Max(2, Math.Min(want, (SharedPerSm / minBlocks - Reserved - Slack) / stage));
        return new Sm90Config(tr, nc, mw, cons, stages, minBlocks);
    }

    static int StageBytes(int tr, int mw, int cons) => 128 * 64 * mw * cons + 128 * tr;

    /// <summary>GEMM columns (pixels) per block.</summary>
    public int ColumnsPerBlock => 64 * Mw * Cons;

    /// <summary>Threads per block: one producer and <see cref="Cons"/> consumer warpgroups.</summary>
    public int Threads => 128 * (Cons + 1);

    /// <summary>Dynamic shared memory: the stages, the barriers and the slack that aligns them to 1024 bytes.</summary>
    public int SharedBytes => 1024 + Stages * StageBytes(Tr, Mw, Cons) + 16 * Stages;

    /// <summary>NVRTC -D definitions; <paramref name="fetch"/> 0 gemm, 1 conv (cp.async), 2 any batch;
    /// <paramref name="residual"/>: the launch adds one (a variant of its own, RES).</summary>
    public string[] Defines(bool bf16, int fetch, bool balanced, bool rowTable, bool residual) => new[]
    {
        $"TR={Tr}", $"NC={Nc}", $"MW={Mw}", $"CONS={Cons}", $"STAGES={Stages}", $"MINB={MinBlocks}",
        $"BF16={(bf16 ? 1 : 0)}", $"FETCH={fetch}", $"BALANCED={(balanced ? 1 : 0)}", $"ROWTAB={(rowTable ? 1 : 0)}", "INFLIGHT=1",
        $"RES={(residual ? 1 : 0)}",
    };
}
