namespace Bcbp.Kernels.Formats;

/// <summary>
/// The one definition of <c>wit</c>, the workload imbalance among tiles (Park et al.'s WIT): the <b>kept work</b> of a
/// tile is the number of its columns that keep at least one weight (a row tile's GEMM computes every such column for
/// all its rows), scaled to a full-width tile for a narrower edge tile; <c>wit = max over tiles of kept work / mean
/// over tiles of kept work</c>, 1.0 when balanced and when nothing is kept. The packed formats
/// (<see cref="TiledSparseMatrix.Wit"/>) and the pruning report read it from here.
/// </summary>
public static class TileBalance
{
    /// <summary>wit of per-tile kept work (any unit, one value per tile).</summary>
    public static double Wit(IReadOnlyCollection<double> keptWork)
    {
        if (keptWork.Count == 0) return 1.0;
        double mean = keptWork.Average();
        return mean > 0 ? keptWork.Max() / mean : 1.0;
    }
}
