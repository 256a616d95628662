using Bcbp.Training.Config;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Training.Pruning.Methods;

/// <summary>
/// N:M semi-structured sparsity: in every group of m consecutive weights along K (within a row), only the n largest
/// in magnitude are kept (2:4 by default). Full N:M is sparsity 1 - n/m. To ramp up gradually, a target sparsity
/// s below that applies N:M to round(s / (1 - n/m) * groups) groups: those whose m - n smallest weights have the
/// lowest norm (groups made N:M earlier score -inf and are kept as they were). When K is not a multiple of m the
/// last K mod m columns of each row form no group and stay dense.
/// </summary>
public sealed class NmMethod(int n = 2, int m = 4, int normP = 1) : IPruningMethod
{
    public PruneMethod Method => PruneMethod.Nm;

    public Tensor[] ComputeMasks(IReadOnlyList<PruneTarget> targets, bool global = false)
    {
        if (global) throw new ArgumentException("prune.scope=global is not supported by method nm; set prune.scope to layer.");
        using var _ = torch.no_grad();
        return targets.Select(Mask).ToArray();
    }

    Tensor Mask(PruneTarget t)
    {
        double full = 1.0 - (double)n / m;
        if (t.Sparsity > full + 1e-9)
            throw new ArgumentException($"sparsity {t.Sparsity} of {t.Name} exceeds what {n}:{m} allows ({full}).");
        long groupsPerRow = t.K / m, kg = groupsPerRow * m;
        var keep = torch.ones_like(t.Matrix);
        if (groupsPerRow == 0) return t.PreviousMask is null ? keep : keep * t.PreviousMask;

        var a = t.Matrix.detach().abs().slice(1, 0, kg, 1).reshape(t.M, groupsPerRow, m).to(ScalarType.Float32);
        // Within each group: the n largest stay, the m - n smallest go (stable order breaks ties by position).
        var order = a.sort(2, true, true).Indices;
        var groupKeep = torch.zeros_like(a).scatter_(2, order.slice(2, 0, n, 1), torch.ones_like(a).slice(2, 0, n, 1));
        var dropped = a * (1 - groupKeep);
        var cost = normP == 1 ? dropped.sum(2) : dropped.pow(2).sum(2).sqrt();
        Tensor? prevGroups = null;
        if (t.PreviousMask is not null)
        {
            prevGroups = t.PreviousMask.slice(1, 0, kg, 1).reshape(t.M, groupsPerRow, m);
            cost = cost.masked_fill(prevGroups.sum(2).lt(m), double.NegativeInfinity);
        }
        long totalGroups = t.M * groupsPerRow;
        long target = (long)Math.Round(t.Sparsity / full * totalGroups, MidpointRounding.AwayFromZero);
        var chosen = LowestSelection.Select(cost, torch.ones_like(cost), target).unsqueeze(2);
        // Newly chosen groups take the fresh N:M pattern; earlier groups keep their previous pattern.
        var fresh = prevGroups is null ? groupKeep : torch.where(prevGroups.sum(2, keepdim: true).lt(m), prevGroups, groupKeep);
        var groupMask = torch.where(chosen, fresh, torch.ones_like(fresh)).reshape(t.M, kg).to(t.Matrix.dtype);
        keep.slice(1, 0, kg, 1).copy_(groupMask);
        return t.PreviousMask is null ? keep : keep * t.PreviousMask;
    }
}
