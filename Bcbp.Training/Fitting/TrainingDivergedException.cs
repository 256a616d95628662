using System.Globalization;

namespace Bcbp.Training.Fitting;

/// <summary>
/// Training stopped because the loss became NaN or infinite: a runtime fault of the run (exit code 3). Nothing of the
/// diverged epoch is written (no checkpoint, metrics or results), so the last good checkpoint stays as it was.
/// TorchSharp 0.107 has no fp16 loss scaler, so no step is ever skipped for overflow: every non-finite loss is divergence.
/// </summary>
public sealed class TrainingDivergedException : Exception
{
    /// <summary>dense or finetune.</summary>
    public string Phase { get; }
    /// <summary>1-based epoch of the phase.</summary>
    public int Epoch { get; }
    /// <summary>1-based step within the epoch.</summary>
    public long Step { get; }
    /// <summary>The learning rate at that step.</summary>
    public double Lr { get; }
    /// <summary>The checkpoint of the last finished epoch (of this phase or the one before), or null when there is none.</summary>
    public string? KeptCheckpoint { get; }

    public TrainingDivergedException(string phase, int epoch, long step, double lr, string what, string? keptCheckpoint)
        : base(string.Create(CultureInfo.InvariantCulture,
            $"{phase}: loss diverged at epoch {epoch} step {step} (lr {lr:G4}; {what}); ") +
            (keptCheckpoint is null ? "no epoch had finished, so there is no checkpoint to keep" : $"the last good checkpoint is kept ({keptCheckpoint})") +
            "; lower train.lr")
    {
        (Phase, Epoch, Step, Lr, KeptCheckpoint) = (phase, epoch, step, lr, keptCheckpoint);
    }
}
