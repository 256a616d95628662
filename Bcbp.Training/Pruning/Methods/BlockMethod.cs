using Bcbp.Training.Config;

namespace Bcbp.Training.Pruning.Methods;

/// <summary>
/// Unbalanced block pruning: blocks of block_rows x block_cols (edge blocks may be smaller) ranked across the whole
/// layer (or globally). Tiles end up with different amounts of work: the imbalance BCBP removes.
/// </summary>
public sealed class BlockMethod(int blockRows, int blockCols, int normP = 1) : MagnitudeUnitMethod(normP)
{
    public override PruneMethod Method => PruneMethod.Block;
    protected override (long Rows, long Cols) UnitShape(long m, long k) => (Math.Min(blockRows, m), Math.Min(blockCols, k));
}
