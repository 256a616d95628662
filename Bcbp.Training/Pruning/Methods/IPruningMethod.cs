using Bcbp.Training.Config;
using static TorchSharp.torch;

namespace Bcbp.Training.Pruning.Methods;

/// <summary>
/// A pruning method = a unit (what is removed together), a score (its L1/L2 importance) and a selection rule (which
/// units go). Pure: masks are a function of the weights, the targets and the previous masks; no model needed.
/// </summary>
public interface IPruningMethod
{
    /// <summary>Which method this is (its descriptor: <see cref="PruningMethodInfo.Of"/>).</summary>
    PruneMethod Method { get; }

    /// <summary>
    /// Keep-masks (float 0/1, [M, K], on the weight's device) for <paramref name="targets"/>. With
    /// <paramref name="global"/> the layers share one ranking and together prune sum(sparsity_l * numel_l) weights;
    /// otherwise each layer reaches its own sparsity. Every new mask is contained in the target's previous mask.
    /// </summary>
    Tensor[] ComputeMasks(IReadOnlyList<PruneTarget> targets, bool global = false);
}

/// <summary>One layer to prune: its GEMM matrix W [M, K], target sparsity now, and its current mask (null = dense).</summary>
public sealed record PruneTarget(Tensor Matrix, double Sparsity, Tensor? PreviousMask = null, string Name = "layer")
{
    public long M => Matrix.shape[0];
    public long K => Matrix.shape[1];
    public long NumWeights => M * K;
    /// <summary>Weights this target should prune: round(sparsity * numel).</summary>
    public long TargetWeights => (long)Math.Round(Sparsity * NumWeights, MidpointRounding.AwayFromZero);
}
