using Bcbp.Training.Data;
using Bcbp.Training.Logging;


namespace Bcbp.Training.Fitting;

/// <summary>How <see cref="Trainer.Fit"/> feeds, shows and saves a phase.</summary>
public sealed record FitOptions
{
    public int BatchSize { get; init; } = 128;
    public int EvalBatchSize { get; init; } = 512;
    public bool Augment { get; init; } = true;
    /// <summary>The run's seed; each epoch reseeds torch from (seed, phase, epoch).</summary>
    public int Seed { get; init; }
    /// <summary>Added to the phase's epoch when asking the data source for batches, so phases see different orders.</summary>
    public int DataEpochOffset { get; init; }
    public IProgressReporter Progress { get; init; } = NullProgress.Instance;
    /// <summary>Where to write the checkpoint after every epoch; null: no checkpoints.</summary>
    public string? CheckpointPath { get; init; }
    /// <summary>Write the checkpoint (rank 0 of a data-parallel job; the other ranks only read it to resume).</summary>
    public bool WritesFiles { get; init; } = true;
    /// <summary>Continue from <see cref="CheckpointPath"/> (which must hold this phase).</summary>
    public bool Resume { get; init; }
    /// <summary>Fields carried into every checkpoint of the phase (dense top-1, config hash, earlier history).</summary>
    public CheckpointState? Carry { get; init; }
    /// <summary>TensorBoard event file of the run; null: none.</summary>
    public TensorBoardLog? Scalars { get; init; }
    /// <summary>Steps between the per-step scalars (mean training loss over the window, learning rate); 0: none. Each
    /// write reads the window's loss from the device: one host sync per this many steps, none per step.</summary>
    public int ScalarEvery { get; init; }
    /// <summary>The run-wide step of this phase's step 0 (the dense phase's steps, for fine-tuning), so the phases of a
    /// run continue one axis in TensorBoard.</summary>
    public long StepOffset { get; init; }
    /// <summary>More scalars to write with each epoch's (the pruning hook's sparsity, overall and per layer).</summary>
    public Func<IEnumerable<(string Tag, double Value)>>? EpochScalars { get; init; }
    /// <summary>Called after each epoch's checkpoint is written (the runner rewrites metrics files and the plot).</summary>
    public Action<EpochMetrics, CheckpointState>? OnEpoch { get; init; }
}
