
namespace Bcbp.Training.Config;

/// <summary>The <c>train</c> section (dense training and pruning fine-tuning share it).</summary>
public sealed class TrainConfig : IConfigSection
{
    public static readonly IReadOnlyList<string> Optimizers = new[] { "sgd", "adam", "adamw" };
    public static readonly IReadOnlyList<string> LrSchedules = new[] { "cosine", "step", "constant" };
    public static readonly IReadOnlyList<string> LrScalings = new[] { "linear", "none" };

    public int Epochs { get; set; } = 15;
    /// <summary>sgd, adam, adamw.</summary>
    public string Optimizer { get; set; } = "sgd";
    public double Lr { get; set; } = 0.1;
    /// <summary>SGD momentum (Adam's beta1 is its own default).</summary>
    public double Momentum { get; set; } = 0.9;
    public bool Nesterov { get; set; }
    public double WeightDecay { get; set; } = 5e-4;
    /// <summary>cosine, step, constant; <see cref="WarmupEpochs"/> of linear warm-up come first.</summary>
    public string LrSchedule { get; set; } = "cosine";
    public int WarmupEpochs { get; set; }
    /// <summary>Epochs at which the step schedule multiplies the rate by <see cref="Gamma"/>; empty: at 50% and 75%.</summary>
    public List<int> Milestones { get; set; } = new();
    /// <summary>Step schedule factor.</summary>
    public double Gamma { get; set; } = 0.1;
    /// <summary>Label smoothing of the cross-entropy loss, in [0, 1).</summary>
    public double LabelSmoothing { get; set; }
    /// <summary>Data parallel: examples per GPU (per rank) and step; 0: <c>data.batch_size</c> is the global batch, split
    /// over the ranks (docs/distributed.md).</summary>
    public int BatchPerGpu { get; set; }
    /// <summary>linear: <see cref="Lr"/> is multiplied by global batch / <c>data.batch_size</c> (Goyal et al.'s rule;
    /// changes something only with <see cref="BatchPerGpu"/>); none: <see cref="Lr"/> as given.</summary>
    public string LrScaling { get; set; } = "linear";
    /// <summary>Mixed precision: off, bf16 or fp16 (<see cref="AmpMode"/>; a file may write false / true = bf16). fp32
    /// master weights, conv/linear compute in the half type, BatchNorm, loss and optimizer in fp32 (docs/training.md).</summary>
    public AmpMode Amp { get; set; }
    /// <summary>Convolutions in NHWC layout (weights and input batch NHWC-strided); null = auto: on for CUDA, off for CPU.</summary>
    public bool? ChannelsLast { get; set; }

    /// <inheritdoc/>
    public void Validate(string path, ConfigErrors errors)
    {
        errors.AtLeast(ConfigErrors.Join(path, "epochs"), Epochs, 0);
        errors.OneOf(ConfigErrors.Join(path, "optimizer"), Optimizer, Optimizers);
        errors.Positive(ConfigErrors.Join(path, "lr"), Lr);
        errors.InRange(ConfigErrors.Join(path, "momentum"), Momentum, 0, 1);
        errors.AtLeast(ConfigErrors.Join(path, "weight_decay"), WeightDecay, 0);
        errors.OneOf(ConfigErrors.Join(path, "lr_schedule"), LrSchedule, LrSchedules);
        errors.AtLeast(ConfigErrors.Join(path, "warmup_epochs"), WarmupEpochs, 0);
        errors.AtLeast(ConfigErrors.Join(path, "batch_per_gpu"), BatchPerGpu, 0);
        errors.OneOf(ConfigErrors.Join(path, "lr_scaling"), LrScaling, LrScalings);
        if (WarmupEpochs > Epochs && Epochs > 0)
            errors.Add(ConfigErrors.Join(path, "warmup_epochs"), $"is {WarmupEpochs}, more than train.epochs ({Epochs})");
        for (int i = 0; i < Milestones.Count; i++)
        {
            errors.AtLeast($"{ConfigErrors.Join(path, "milestones")}[{i}]", Milestones[i], 1);
            if (i > 0 && Milestones[i] <= Milestones[i - 1])
                errors.Add($"{ConfigErrors.Join(path, "milestones")}[{i}]", $"milestones must increase, got {Milestones[i - 1]} then {Milestones[i]}");
        }
        errors.InClosedRange(ConfigErrors.Join(path, "gamma"), Gamma, double.Epsilon, 1);
        errors.InRange(ConfigErrors.Join(path, "label_smoothing"), LabelSmoothing, 0, 1);
        if (Nesterov && Optimizer == "sgd" && Momentum == 0)
            errors.Add(ConfigErrors.Join(path, "nesterov"), "needs train.momentum > 0");
    }
}
