using Bcbp.Training.Pruning.Surgery;

namespace Bcbp.Training.Shrink;

/// <summary>
/// What <c>bcbp shrink</c> did to a run (<c>shrink.json</c>): the channels removed, size and cost before (the masked
/// dense model) and after (the shrunk model), test accuracy of both with their largest logit difference, and
/// inference throughput of both measured side by side. MACs are counted by <see cref="Costs.CostCounter"/>
/// (Conv2d and Linear only; pruning papers call them FLOPs).
/// </summary>
public sealed record ShrinkReport
{
    public const string FileName = "shrink.json";

    public required string Run { get; init; }
    public required string Arch { get; init; }
    /// <summary>prune.method of the run (null when its config has no prune section but its weights carry masks).</summary>
    public string? Method { get; init; }
    public double? Sparsity { get; init; }
    /// <summary>[channels, height, width] of one input image.</summary>
    public required long[] InputShape { get; init; }
    /// <summary>Producers that lost channels, with their channels before and after.</summary>
    public required IReadOnlyList<FilterSurgery.Removed> Removed { get; init; }
    /// <summary>All-zero mask rows still in the shrunk model, per layer: filters that feed a residual sum (block outputs,
    /// shortcuts) or whose BatchNorm output is not &lt;= 0, so they cannot be removed.</summary>
    public required IReadOnlyDictionary<string, long> ZeroFiltersLeft { get; init; }

    /// <summary>Every parameter of the model (BatchNorm included).</summary>
    public long ParamsBefore { get; init; }
    public long ParamsAfter { get; init; }
    /// <summary>Conv2d/Linear weights whose mask is non-zero (plus biases).</summary>
    public long NonzeroParamsBefore { get; init; }
    public long NonzeroParamsAfter { get; init; }
    /// <summary>Dense MACs per image (what a dense kernel computes).</summary>
    public long MacsBefore { get; init; }
    public long MacsAfter { get; init; }

    public int TestImages { get; init; }
    public double Top1Masked { get; init; }
    public double Top1Shrunk { get; init; }
    /// <summary>Fraction of test images on which both models predict the same class.</summary>
    public double Top1Agreement { get; init; }
    public double MaxAbsLogitDiff { get; init; }
    /// <summary>Largest allowed <see cref="MaxAbsLogitDiff"/>: 1e-4 (CPU) or 1e-2 (CUDA, TF32 convs) times max(1, largest |logit|).</summary>
    public double Tolerance { get; init; }
    /// <summary>Largest |logit difference| between the shrunk model and its reload from the saved files (first test batch).</summary>
    public double ReloadMaxAbsDiff { get; init; }
    public bool Agrees => MaxAbsLogitDiff <= Tolerance && ReloadMaxAbsDiff <= Tolerance;

    public required string Device { get; init; }
    public int Threads { get; init; }
    public int Batch { get; init; }
    public int Warmup { get; init; }
    public int Iters { get; init; }
    /// <summary>Images per second of one forward pass at <see cref="Batch"/> (<see cref="Backend.ForwardTimer"/>: the median over windows of <see cref="Iters"/> timed calls).</summary>
    public double MaskedImagesPerSec { get; init; }
    public double ShrunkImagesPerSec { get; init; }
    public double Speedup => ShrunkImagesPerSec / MaskedImagesPerSec;

    /// <summary>The shrunk model's files (weights .safetensors and .pt, manifest), absolute paths.</summary>
    public required IReadOnlyList<string> Files { get; init; }
}
