namespace Bcbp.Training.Fitting;

/// <summary>One row of metrics.json / metrics.csv: what an epoch of a phase (dense or finetune) did.</summary>
public sealed record EpochMetrics
{
    /// <summary>dense or finetune.</summary>
    public required TrainingPhase Phase { get; init; }
    /// <summary>1-based epoch within the phase.</summary>
    public int Epoch { get; init; }
    /// <summary>Learning rate at the last step of the epoch.</summary>
    public double Lr { get; init; }
    public double TrainLoss { get; init; }
    public double TrainTop1 { get; init; }
    public double TestLoss { get; init; }
    public double TestTop1 { get; init; }
    public double TestTop5 { get; init; }
    /// <summary>Training images per second over the epoch (evaluation excluded).</summary>
    public double ImagesPerSecond { get; init; }
    public double Seconds { get; init; }
    /// <summary>Share of the prunable weights that are zero at the end of the epoch (null for a dense phase).</summary>
    public double? Sparsity { get; init; }
    /// <summary>Every mask update during the epoch: the phase's step and the sparsity right after it (null for a dense
    /// phase); the ramp the learning curve draws.</summary>
    public IReadOnlyList<SparsityUpdate>? MaskUpdates { get; init; }
}

/// <summary>One mask update: the step (within the phase) it happened at, the same in epochs (step / steps per epoch)
/// and the sparsity it left.</summary>
public sealed record SparsityUpdate(long Step, double Epoch, double Sparsity);
