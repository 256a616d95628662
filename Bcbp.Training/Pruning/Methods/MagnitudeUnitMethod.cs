using Bcbp.Training.Config;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Training.Pruning.Methods;

/// <summary>
/// Methods whose unit is a fixed rectangle of W ranked by its norm over the whole layer (or globally), with no
/// balance constraint: unstructured (1 x 1), filter (1 x K) and block (block_rows x block_cols).
/// </summary>
public abstract class MagnitudeUnitMethod : IPruningMethod
{
    readonly int _p;

    protected MagnitudeUnitMethod(int normP) => _p = normP;

    public abstract PruneMethod Method { get; }

    /// <summary>Unit shape for a layer of <paramref name="k"/> columns.</summary>
    protected abstract (long Rows, long Cols) UnitShape(long m, long k);

    public Tensor[] ComputeMasks(IReadOnlyList<PruneTarget> targets, bool global = false)
    {
        using var _ = torch.no_grad();
        var shapes = targets.Select(t => UnitShape(t.M, t.K)).ToArray();
        var scores = new Tensor[targets.Count];
        var sizes = new Tensor[targets.Count];
        for (int i = 0; i < targets.Count; i++)
        {
            var t = targets[i];
            var (ur, uc) = shapes[i];
            scores[i] = UnitPooling.Scores(t.Matrix, ur, uc, _p);
            sizes[i] = UnitPooling.Sizes(t.M, t.K, ur, uc, t.Matrix.device);
            if (t.PreviousMask is not null)
                scores[i] = scores[i].masked_fill(UnitPooling.FullyPruned(t.PreviousMask, ur, uc), double.NegativeInfinity);
        }
        var pruned = global
            ? SplitLike(LowestSelection.Select(torch.cat(scores.Select(s => s.flatten()).ToArray()),
                                               torch.cat(sizes.Select(s => s.flatten()).ToArray()),
                                               targets.Sum(t => t.TargetWeights)), scores)
            : targets.Select((t, i) => LowestSelection.Select(scores[i], sizes[i], t.TargetWeights)).ToArray();
        return targets.Select((t, i) =>
        {
            var (ur, uc) = shapes[i];
            var keep = UnitPooling.Expand(pruned[i].logical_not(), ur, uc, t.M, t.K).to(t.Matrix.dtype);
            return t.PreviousMask is null ? keep : keep * t.PreviousMask;
        }).ToArray();
    }

    static Tensor[] SplitLike(Tensor flat, Tensor[] parts)
    {
        var sizes = parts.Select(p => p.numel()).ToArray();
        return flat.split(sizes).Select((s, i) => s.reshape(parts[i].shape)).ToArray();
    }
}

/// <summary>Magnitude pruning of single weights.</summary>
public sealed class UnstructuredMethod(int normP = 1) : MagnitudeUnitMethod(normP)
{
    public override PruneMethod Method => PruneMethod.Unstructured;
    protected override (long Rows, long Cols) UnitShape(long m, long k) => (1, 1);
}
