using Bcbp.Training.Config;
using Bcbp.Kernels.Formats;
using TorchSharp;
using Bcbp.Training.Pruning.Methods;
using static TorchSharp.torch;

namespace Bcbp.Training.Pruning.Report;

/// <summary>
/// Per-tile work of a masked layer on its pruning tile grid: the kept columns of each tile (columns with at least one
/// kept weight) and their <see cref="TileBalance.Wit"/>.
/// </summary>
public sealed record TileStats(long Tiles, long[] KeptColumns, double Wit)
{
    public long KeptColumnsMin => KeptColumns.Min();
    public long KeptColumnsMax => KeptColumns.Max();
    public double KeptColumnsMean => KeptColumns.Average();

    /// <summary>
    /// Stats of <paramref name="mask"/> [M, K] on the tile grid of tile_rows x tile_cols (0 = all K). Partial tiles
    /// are always their own tile here (reporting never fails on a remainder); a narrower edge tile's kept columns are
    /// scaled to the full tile width for <c>wit</c>.
    /// </summary>
    public static TileStats Compute(Tensor mask, int tileRows, int tileCols)
    {
        using var _ = torch.no_grad();
        var grid = TileGrid.For(mask.shape[0], mask.shape[1], tileRows, tileCols, RemainderRule.OwnTile);
        var m = mask.to(ScalarType.Float32);
        var columnAlive = UnitPooling.SumPerUnit(m, grid.TileRows, 1).gt(0).to(ScalarType.Float32);
        var keptPerTile = UnitPooling.SumPerUnit(columnAlive, 1, grid.TileCols);
        var widths = UnitPooling.Sizes(columnAlive.shape[0], columnAlive.shape[1], 1, grid.TileCols, m.device);
        var work = (keptPerTile / widths).flatten().data<float>().Select(v => (double)v).ToArray();
        var kept = keptPerTile.to(ScalarType.Int64).flatten().data<long>().ToArray();
        return new TileStats(grid.Count, kept, TileBalance.Wit(work));
    }
}
