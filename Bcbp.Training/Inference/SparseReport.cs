using static System.FormattableString;
namespace Bcbp.Training.Inference;

/// <summary>
/// What <see cref="SparseEvaluation"/> found, written as JSON (snake_case) by <c>bcbp sparse</c>. Accuracies and losses
/// are null when the inputs had no labels (a random batch).
/// </summary>
public sealed record SparseReport
{
    /// <summary>The file a run folder gets (<c>bcbp sparse --run</c>, <c>bcbp suite --sparse-eval</c>).</summary>
    public const string FileName = "sparse_eval.json";

    /// <summary>The run folder evaluated (null when a weights file was given).</summary>
    public string? Run { get; init; }
    public required string Arch { get; init; }
    public required string Weights { get; init; }
    /// <summary>data.dataset of the run, or "random" for a seeded random batch.</summary>
    public required string Inputs { get; init; }
    public required string Device { get; init; }
    public required string Dtype { get; init; }
    public int TileRows { get; init; }
    public required string Layout { get; init; }
    public bool FoldBatchNorm { get; init; }
    public required IReadOnlyList<string> Converted { get; init; }
    /// <summary>Masked modules that stayed dense, "name: reason" (a grouped conv, a field that cannot hold a sparse module).</summary>
    public IReadOnlyList<string> LeftDense { get; init; } = Array.Empty<string>();
    public long Samples { get; init; }
    /// <summary>Shape of the first batch (the one that is timed).</summary>
    public required long[] InputShape { get; init; }
    /// <summary>Test top-1 (percent) and mean cross-entropy of the masked dense model and of the sparse model.</summary>
    public double? DenseTop1 { get; init; }
    public double? SparseTop1 { get; init; }
    public double? DenseLoss { get; init; }
    public double? SparseLoss { get; init; }
    /// <summary>The top-1 the run recorded in results.json when it finished (float32, its own device).</summary>
    public double? RecordedTop1 { get; init; }
    /// <summary>Fraction of samples whose predicted class is the same in both models, and the count that differ.</summary>
    public double Agreement { get; init; }
    public long Disagreements { get; init; }
    /// <summary>||sparse - dense|| / ||dense|| of the logits over all samples, and the largest per sample.</summary>
    public double LogitsRelErr { get; init; }
    public double MaxLogitsRelErr { get; init; }
    /// <summary>Worst per-image relative L2 error of the sparse and of the dense logits against the float32 reference
    /// (the masked dense model in float32, TF32 off), and the per-image bound of the pass rule that was tightest
    /// (max(2 x dense error, 1e-3) in float16/bfloat16; 1e-4 in float32).</summary>
    public double MaxSparseRelErrVsReference { get; init; }
    public double MaxDenseRelErrVsReference { get; init; }
    public double Tolerance { get; init; }
    /// <summary>Images whose sparse logits break the bound; <see cref="Passed"/> when none do.</summary>
    public long FailingSamples { get; init; }
    /// <summary>A control for the rule's noise: images whose dense logits break the same rule with the two models
    /// swapped (dense error over max(2 x the sparse model's, floor)). Two equally precise models give similar counts.</summary>
    public long SwappedFailingSamples { get; init; }
    public bool Passed { get; init; }
    /// <summary>Mean time of one forward pass over the first batch.</summary>
    public double DenseMs { get; init; }
    public double SparseMs { get; init; }
    /// <summary>On our GPU kernels: the whole-model plan's time over the first batch, its worst per-image error against
    /// the float32 reference and the images over the pass rule's bound (every batch), and why it could not run or
    /// capture a graph (null when it did).</summary>
    public double? PlanMs { get; init; }
    public double? MaxPlanRelErrVsReference { get; init; }
    public long? PlanFailingSamples { get; init; }
    public string? PlanNote { get; init; }
    /// <summary>Where whole filters were pruned (a <c>filter</c> run), the physically smaller model
    /// (<c>FilterSurgery</c>, as <c>bcbp shrink</c> exports it) as a whole-model plan: what was removed ("N of M channels
    /// removed in K layers"), its time, worst
    /// per-image error against the float32 reference, images over the bound, and why it could not run (null when it
    /// did, or when nothing could be removed).</summary>
    public string? ShrunkRemoved { get; init; }
    public double? ShrunkPlanMs { get; init; }
    public double? MaxShrunkPlanRelErrVsReference { get; init; }
    public long? ShrunkPlanFailingSamples { get; init; }
    public string? ShrunkPlanNote { get; init; }

    /// <summary>The sparse path a report quotes (<see cref="Best"/>): its time and the images over the pass rule's bound.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public (double Ms, long FailingSamples) BestSparse => Best((SparseMs, FailingSamples), Path(PlanMs, PlanFailingSamples), Path(ShrunkPlanMs, ShrunkPlanFailingSamples));

    /// <summary>A path's (time, images over the bound), or null where it did not run.</summary>
    public static (double Ms, long FailingSamples)? Path(double? ms, long? failing) => ms is { } m && failing is { } f ? (m, f) : null;

    /// <summary>The one rule for which sparse path a report quotes: a path that passes the rule before one that does
    /// not, then the faster (the layer-by-layer model, the whole-model plan, the shrunk model's plan; those that ran).</summary>
    public static (double Ms, long FailingSamples) Best((double Ms, long FailingSamples) layerByLayer, params (double Ms, long FailingSamples)?[] others)
        => others.OfType<(double Ms, long FailingSamples)>().Prepend(layerByLayer)
            .OrderBy(p => p.FailingSamples == 0 ? 0 : 1).ThenBy(p => p.Ms).First();

    /// <summary>The lines <c>bcbp sparse</c> and <c>bcbp suite --sparse-eval</c> print.</summary>
    public string Summary()
    {
        var lines = new List<string>
        {
            Invariant($"sparse: {Arch} from {Run ?? Weights}: {Converted.Count} layers converted ({Layout}, tile_rows {TileRows}") +
            (FoldBatchNorm ? ", BN folded" : "") + Invariant($") on {Device} {Dtype}"),
        };
        if (LeftDense.Count > 0)
            lines.Add($"  left dense (masked, still exact): {string.Join("; ", LeftDense)}");
        if (DenseTop1 is { } dt && SparseTop1 is { } st)
            lines.Add(Invariant($"  {Inputs} test split, {Samples} images: top-1 dense {dt:F2}%, sparse {st:F2}% ") +
                      Invariant($"(loss {DenseLoss:F4} / {SparseLoss:F4})") +
                      (RecordedTop1 is { } rt ? Invariant($"; the run recorded {rt:F2}%") : ""));
        lines.Add(Invariant($"  predictions agree on {Agreement:P2} ({Disagreements} of {Samples} differ); logits rel err ") +
                  Invariant($"{LogitsRelErr:E2} overall, {MaxLogitsRelErr:E2} worst sample"));
        lines.Add(Invariant($"  against the float32 reference (TF32 off), worst image: sparse {MaxSparseRelErrVsReference:E2}, dense {MaxDenseRelErrVsReference:E2}; ") +
                  Invariant($"{FailingSamples} of {Samples} images over max(2 x dense error, floor) (tightest bound {Tolerance:E1}): ") + (Passed ? "PASS" : "FAIL") +
                  Invariant($"; swapped (dense over max(2 x sparse error, floor)): {SwappedFailingSamples}"));
        lines.Add(Invariant($"  time per batch of {InputShape[0]}: dense {DenseMs:F3} ms, sparse {SparseMs:F3} ms ({DenseMs / SparseMs:F2}x)") +
                  (PlanMs is { } p ? Invariant($", whole-model plan {p:F3} ms ({DenseMs / p:F2}x; worst image {MaxPlanRelErrVsReference:E2} vs float32, {PlanFailingSamples} images over the bound)") : "") +
                  (PlanNote is { } n ? $"; plan: {n}" : ""));
        if (ShrunkRemoved is not null || ShrunkPlanNote is not null)
            lines.Add($"  shrunk model ({ShrunkRemoved ?? "not built"}): " +
                      (ShrunkPlanMs is { } sp ? Invariant($"plan {sp:F3} ms ({DenseMs / sp:F2}x; worst image {MaxShrunkPlanRelErrVsReference:E2} vs float32, {ShrunkPlanFailingSamples} images over the bound)") : "no timing") +
                      (ShrunkPlanNote is { } sn ? $"; {sn}" : ""));
        return string.Join(Environment.NewLine, lines);
    }
}
