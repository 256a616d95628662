using static TorchSharp.torch;

namespace Bcbp.Training.Fitting;

/// <summary>
/// Dynamic loss scaling for <c>train.amp: fp16</c>, as torch.amp.GradScaler does it (TorchSharp 0.107 has none): the
/// loss is multiplied by <see cref="Scale"/> before backward so small float16 gradients do not flush to zero; the fp32
/// master gradient is divided by it again; a step whose gradient holds an inf or NaN is skipped and the scale halved,
/// and after <see cref="GrowthInterval"/> clean steps in a row it doubles. Costs one host read per step (the finite
/// check). The scale and the clean-step count are saved in the checkpoint (<see cref="CheckpointState.LossScale"/>).
/// </summary>
public sealed class LossScaler
{
    /// <summary>GradScaler's defaults: init_scale 2^16, growth_factor 2, backoff_factor 0.5, growth_interval 2000.</summary>
    public const double InitialScale = 65536.0, GrowthFactor = 2.0, BackoffFactor = 0.5;
    public const int DefaultGrowthInterval = 2000;

    /// <summary>Below the smallest float16 subnormal (2^-24) a scale cannot bring any gradient back: the run diverged.</summary>
    public const double MinScale = 5.9604644775390625e-08;

    /// <summary>Clean steps in a row before the scale grows.</summary>
    public int GrowthInterval { get; }
    /// <summary>The factor the loss is multiplied by now.</summary>
    public double Scale { get; private set; }
    /// <summary>Clean steps since the scale last changed.</summary>
    public int GoodSteps { get; private set; }
    /// <summary>Steps skipped so far (non-finite gradients).</summary>
    public long SkippedSteps { get; private set; }

    public LossScaler(double scale = InitialScale, int growthInterval = DefaultGrowthInterval)
    {
        if (!(scale > 0) || !double.IsFinite(scale)) throw new ArgumentException($"loss scale must be a positive finite number, got {scale}.");
        if (growthInterval < 1) throw new ArgumentException($"growth interval must be >= 1, got {growthInterval}.");
        Scale = scale;
        GrowthInterval = growthInterval;
    }

    /// <summary>Continues from a checkpoint's scale and clean-step count.</summary>
    public void Restore(double scale, int goodSteps)
    {
        if (!(scale > 0) || !double.IsFinite(scale) || goodSteps < 0)
            throw new ArgumentException($"invalid saved loss scale {scale} / clean steps {goodSteps}.");
        Scale = scale;
        GoodSteps = goodSteps;
    }

    /// <summary>The loss to call backward on: <paramref name="loss"/> x <see cref="Scale"/>.</summary>
    public Tensor ScaleLoss(Tensor loss) => loss * Scale;

    /// <summary>
    /// Divides <paramref name="gradient"/> (the fp32 master gradient, in place) by the scale and updates the scale.
    /// Returns whether the optimizer may step: false when the gradient holds an inf or NaN (the step is to be skipped).
    /// </summary>
    public bool UnscaleAndUpdate(Tensor gradient)
    {
        bool finite;
        using (no_grad())
        {
            gradient.mul_(1.0 / Scale);
            using var ok = gradient.isfinite().all();
            finite = ok.item<bool>();
        }
        Update(finite);
        return finite;
    }

    /// <summary>The scale's rule alone: back off on a non-finite gradient, grow after <see cref="GrowthInterval"/> clean steps.</summary>
    public void Update(bool finite)
    {
        if (!finite)
        {
            Scale *= BackoffFactor;
            GoodSteps = 0;
            SkippedSteps++;
            return;
        }
        if (++GoodSteps < GrowthInterval) return;
        // GradScaler keeps the scale finite: growth that would overflow float32 is not applied.
        if (double.IsFinite(Scale * GrowthFactor) && Scale * GrowthFactor <= float.MaxValue) Scale *= GrowthFactor;
        GoodSteps = 0;
    }

    /// <summary>The scale fell below <see cref="MinScale"/>: every recent step overflowed, training diverged.</summary>
    public bool Collapsed => Scale < MinScale;
}
