using Bcbp.Training.Config;

namespace Bcbp.Training.Pruning.Methods;

/// <summary>
/// How W [M, K] is cut into tiles of <c>tile_rows x tile_cols</c> (tile_cols 0 = all of K). A tile size larger than
/// the matrix is clamped to it (a layer with fewer rows than tile_rows is one row tile). A last partial tile is an
/// error under <see cref="RemainderRule.Error"/> and a smaller tile of its own under <see cref="RemainderRule.OwnTile"/>.
/// </summary>
public sealed record TileGrid(long M, long K, long TileRows, long TileCols)
{
    /// <summary>Number of row tiles (ceil).</summary>
    public long RowTiles => (M + TileRows - 1) / TileRows;
    /// <summary>Number of column tiles (ceil).</summary>
    public long ColTiles => (K + TileCols - 1) / TileCols;
    public long Count => RowTiles * ColTiles;

    /// <summary>Start and width of column tile <paramref name="c"/>.</summary>
    public (long Start, long Width) Col(long c) => (c * TileCols, Math.Min(TileCols, K - c * TileCols));

    /// <summary>The grid for a [<paramref name="m"/>, <paramref name="k"/>] matrix; throws under
    /// <see cref="RemainderRule.Error"/> when a tile dimension leaves a remainder.</summary>
    public static TileGrid For(long m, long k, int tileRows, int tileCols, RemainderRule remainder, string layer = "layer")
    {
        long tr = Math.Min(tileRows, m);
        long tc = tileCols == 0 ? k : Math.Min(tileCols, k);
        if (remainder == RemainderRule.Error)
        {
            if (m % tr != 0)
                throw new ArgumentException($"prune.tile_rows = {tileRows} does not divide M = {m} of {layer}; " +
                                            "set prune.remainder to own_tile (the last rows form a smaller tile) or choose a tile_rows dividing M.");
            if (k % tc != 0)
                throw new ArgumentException($"prune.tile_cols = {tileCols} does not divide K = {k} of {layer}; " +
                                            "set prune.remainder to own_tile, set tile_cols to 0 (all of K) or to a divisor of K.");
        }
        return new TileGrid(m, k, tr, tc);
    }
}
