using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Training.Pruning.Methods;

/// <summary>
/// The threshold selection shared by the methods: prune the lowest-scored units until the pruned weight count is as
/// close as possible to a target. Already-pruned units carry score -inf, so they are always taken first (masks only
/// grow) and still count towards the target, which is therefore reached exactly when new units are added.
/// </summary>
public static class LowestSelection
{
    /// <summary>
    /// Bool tensor (shape of <paramref name="scores"/>): true for pruned units. The pruned count k minimizes
    /// |sum of sizes of the k lowest units - <paramref name="targetWeights"/>| (ties: fewer units), and is never
    /// below the number of -inf (forced) units.
    /// </summary>
    public static Tensor Select(Tensor scores, Tensor sizes, long targetWeights)
    {
        var flat = scores.flatten();
        long n = flat.numel();
        var order = flat.sort(0, false, true).Indices;
        var cum = torch.cat(new[] { torch.zeros(1, dtype: ScalarType.Float64, device: flat.device),
                                    sizes.flatten().to(ScalarType.Float64).index(order).cumsum(0) });
        long k = (cum - targetWeights).abs().argmin().item<long>();
        long forced = flat.isneginf().sum().item<long>();
        k = Math.Max(k, forced);
        var pruned = torch.zeros(n, dtype: ScalarType.Bool, device: flat.device);
        if (k > 0) pruned.index_fill_(0, order.slice(0, 0, k, 1), true);
        return pruned.reshape(scores.shape);
    }
}
