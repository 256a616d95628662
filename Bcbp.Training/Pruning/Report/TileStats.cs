using TorchSharp;
using Bcbp.Training.Pruning.Methods;
using static TorchSharp.torch;

namespace Bcbp.Training.Pruning.Report;

/// <summary>
/// Per-tile work of a masked layer. The kept work of a tile is its kept weights scaled to a full tile
/// (kept density * tile_rows * tile_cols), so a smaller last tile is not counted as imbalance merely for being
/// smaller; for full tiles it is the kept weight count. Kept columns of a tile = columns with at least one kept weight.
/// </summary>
public sealed record TileStats(long Tiles, long[] KeptColumns, double Wit)
{
    public long KeptColumnsMin => KeptColumns.Min();
    public long KeptColumnsMax => KeptColumns.Max();
    public double KeptColumnsMean => KeptColumns.Average();

    /// <summary>
    /// Stats of <paramref name="mask"/> [M, K] on the tile grid of tile_rows x tile_cols (0 = all K). Partial tiles
    /// are always their own tile here (reporting never fails on a remainder). <c>wit</c> = max over tiles of kept
    /// work / mean over tiles of kept work; 1.0 when nothing is kept.
    /// </summary>
    public static TileStats Compute(Tensor mask, int tileRows, int tileCols)
    {
        using var _ = torch.no_grad();
        var grid = TileGrid.For(mask.shape[0], mask.shape[1], tileRows, tileCols, RemainderRule.OwnTile);
        var m = mask.to(ScalarType.Float32);
        var density = UnitPooling.SumPerUnit(m, grid.TileRows, grid.TileCols)
                      / UnitPooling.Sizes(grid.M, grid.K, grid.TileRows, grid.TileCols, m.device);
        double mean = density.mean().item<float>();
        double wit = mean > 0 ? density.max().item<float>() / mean : 1.0;
        var columnAlive = UnitPooling.SumPerUnit(m, grid.TileRows, 1).gt(0).to(ScalarType.Float32);
        var kept = UnitPooling.SumPerUnit(columnAlive, 1, grid.TileCols).to(ScalarType.Int64).flatten().data<long>().ToArray();
        return new TileStats(grid.Count, kept, wit);
    }
}
