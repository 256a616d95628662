namespace Bcbp.Training.Fitting;

/// <summary>The position of a run that a checkpoint records besides the tensors: enough to continue a killed run
/// at the same epoch, learning rate and metrics history.</summary>
public sealed record CheckpointState
{
    /// <summary>dense or finetune.</summary>
    public required TrainingPhase Phase { get; init; }
    /// <summary>Epochs of <see cref="Phase"/> completed.</summary>
    public int Epoch { get; init; }
    /// <summary>Optimizer steps taken in <see cref="Phase"/> (the learning-rate schedule's position).</summary>
    public long GlobalStep { get; init; }
    /// <summary>Ranks that trained up to this checkpoint (a resume may use another number: it continues at
    /// <see cref="Epoch"/>).</summary>
    public int WorldSize { get; init; } = 1;
    public double BestTop1 { get; init; }
    /// <summary>Test top-1 of the dense model, once the finetune phase started.</summary>
    public double? DenseTop1 { get; init; }
    /// <summary>Metrics of every epoch so far, all phases.</summary>
    public List<EpochMetrics> History { get; init; } = new();
    /// <summary>fp16 loss scale (<see cref="LossScaler.Scale"/>) at the checkpoint; null when training does not scale the loss.</summary>
    public double? LossScale { get; init; }
    /// <summary>Clean steps since the loss scale last changed (<see cref="LossScaler.GoodSteps"/>).</summary>
    public int LossScaleGoodSteps { get; init; }
    /// <summary>The optimizer state's layout: conv weights OHWI (channels_last) or OIHW in the flat buffer
    /// (<see cref="FlatParameters"/>). A resume must use the same, or the momentum of conv weights would be scrambled.</summary>
    public bool ChannelsLast { get; init; }
    /// <summary>The flat buffer holds the half-computed parameters first, then the fp32 ones (mixed precision,
    /// <see cref="FlatParameters.Grouped"/>); a resume must use the same order for the same reason.</summary>
    public bool GroupedByPrecision { get; init; }
    /// <summary>SHA-256 of the resolved config the run started with.</summary>
    public string ConfigHash { get; init; } = "";
    /// <summary>TensorBoard's step of the phase's step s is the phase's offset + s + this: 0 unless the phase was resumed
    /// with another world size (another number of steps per epoch, <see cref="ResumedWith"/>), so the run's event file
    /// goes on at the step it stopped at, without a gap or a step written twice.</summary>
    public long LogStepShift { get; init; }

    /// <summary>The position a resume with <paramref name="worldSize"/> ranks and <paramref name="stepsPerEpoch"/> steps
    /// per epoch continues from: the same, or with another world size (checkpoints are written at epoch ends) the first
    /// step of epoch <see cref="Epoch"/> + 1 of the new schedule, the shift of the logged steps keeping TensorBoard's
    /// step (GlobalStep + LogStepShift) where the checkpoint was written. The one rule of the trainer (schedule) and the
    /// run (where TensorBoard continues).</summary>
    public CheckpointState ResumedWith(int worldSize, int stepsPerEpoch)
    {
        if (worldSize == WorldSize) return this;
        long step = (long)Epoch * stepsPerEpoch;
        return this with { GlobalStep = step, LogStepShift = LogStepShift + GlobalStep - step };
    }
}
