using static TorchSharp.torch;

namespace Bcbp.Kernels.Formats;

/// <summary>Reads which column vectors (tile_rows x 1) of each row tile a mask keeps.</summary>
public static class TileColumns
{
    /// <summary>
    /// For a mask [M x K] (0/1, any rank that flattens to it), the ascending column indices each row tile keeps: a
    /// column is kept when any of the tile's rows keeps it (a BCBP mask keeps or drops whole column vectors).
    /// </summary>
    public static long[][] Kept(Tensor mask, int tileRows)
    {
        if (tileRows <= 0) throw new ArgumentException($"tile_rows must be positive, got {tileRows}");
        using var scope = NewDisposeScope();
        var m2 = Flatten(mask).cpu();
        long rows = m2.shape[0];
        int tiles = (int)((rows + tileRows - 1) / tileRows);
        var kept = new long[tiles][];
        for (int t = 0; t < tiles; t++)
        {
            long start = t * (long)tileRows, len = Math.Min(tileRows, rows - start);
            var any = m2.narrow(0, start, len).ne(0).sum(dim: 0).gt(0);
            kept[t] = nonzero(any).flatten().data<long>().ToArray();
        }
        return kept;
    }

    /// <summary>Weight or mask as the GEMM's [out x in*kh*kw] matrix.</summary>
    public static Tensor Flatten(Tensor t) => t.dim() == 2 ? t : t.reshape(t.shape[0], -1);
}
