using Bcbp.Training.Config;

namespace Bcbp.Training.Pruning.Methods;

/// <summary>
/// Filter pruning (Li et al. 2017): the unit is a whole row of W (one output channel), ranked by its L1 norm
/// (L2 with prune.score = l2). Removing rows removes output channels, see Surgery/FilterSurgery.
/// </summary>
public sealed class FilterMethod(int normP = 1) : MagnitudeUnitMethod(normP)
{
    public override PruneMethod Method => PruneMethod.Filter;
    protected override (long Rows, long Cols) UnitShape(long m, long k) => (1, k);
}
