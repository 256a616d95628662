namespace Bcbp.Training.Pruning.Methods;

/// <summary>The default tile height: balance is only visible across several tiles, so a layer that is one tile
/// (M &lt;= tile_rows, tile_cols = all of K) has WIT = 1 by construction.</summary>
public static class TileShape
{
    /// <summary>Upper bound of the default: the kernels' thread-block height (docs/kernels.md).</summary>
    public const int MaxRows = 64;

    /// <summary>The largest power of two &lt;= <see cref="MaxRows"/> that divides every layer's row count and leaves
    /// each layer at least two row tiles (ResNet-20's 16-channel layers: 8; VGG/ResNet-50, smallest 64: 32).</summary>
    public static int AutoRows(IEnumerable<long> rowCounts)
    {
        var rows = rowCounts.ToList();
        if (rows.Count == 0) return MaxRows;
        for (int t = MaxRows; t > 1; t /= 2)
            if (rows.All(m => m % t == 0 && m / t >= 2)) return t;
        return 1;
    }

    /// <summary>Names of the layers that form a single tile under <paramref name="tileRows"/> x <paramref name="tileCols"/>.</summary>
    public static IReadOnlyList<string> SingleTileLayers(IEnumerable<(string Name, long M, long K)> layers, int tileRows, int tileCols)
        => layers.Where(l => l.M <= tileRows && (tileCols == 0 || l.K <= tileCols)).Select(l => l.Name).ToList();
}
