using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Training.Fitting;

/// <summary>What a hook sees of the training loop.</summary>
public sealed class TrainContext
{
    public required nn.Module Model { get; init; }
    public required optim.Optimizer Optimizer { get; init; }
    public required Device Device { get; init; }
    /// <summary>0-based epoch within the phase (the one running, or just finished in OnEpochEnd).</summary>
    public int Epoch { get; set; }
    /// <summary>Optimizer steps taken since the start of this training phase (restored on resume).</summary>
    public long GlobalStep { get; set; }
    public int StepsPerEpoch { get; init; }
    public Serilog.ILogger Log { get; init; } = Serilog.Log.Logger;
}

/// <summary>
/// Extension points of the trainer, in the order they run. Pruning is a hook: it updates masks at batch begin,
/// masks gradients after backward, and re-applies masks after the optimizer step.
/// Order per phase: OnTrainBegin (after a resumed run's position is set in the context, before its tensors load, so
/// buffers a hook registers there are restored from the checkpoint); per step OnBatchBegin, forward + loss + backward,
/// OnAfterBackward, optimizer step, OnAfterOptimizerStep; OnEpochEnd before the epoch's evaluation; OnTrainEnd.
/// Batch-level calls run inside the step's torch.NewDisposeScope(): tensors a hook keeps beyond the step must be
/// updated in place or detached from the scope (DetachFromDisposeScope / MoveToOuterDisposeScope).
/// </summary>
public interface ITrainingHook
{
    void OnTrainBegin(TrainContext ctx) { }
    void OnBatchBegin(TrainContext ctx) { }
    /// <summary>After backward, before the optimizer step: the parameters' gradients exist (in the compute type under
    /// <c>train.amp</c>, and multiplied by the loss scale under fp16: a hook that needs their true size, e.g. for
    /// clipping, must divide by it; masking does not care).</summary>
    void OnAfterBackward(TrainContext ctx) { }
    void OnAfterOptimizerStep(TrainContext ctx) { }
    void OnEpochEnd(TrainContext ctx) { }
    void OnTrainEnd(TrainContext ctx) { }
    /// <summary>Share of the prunable weights that are zero now (progress line, epoch line, metrics); null for a hook
    /// that does not prune.</summary>
    double? Sparsity => null;
    /// <summary>The mask updates since the last call (the trainer collects them once per epoch).</summary>
    IReadOnlyList<SparsityUpdate> TakeMaskUpdates() => Array.Empty<SparsityUpdate>();
}
