namespace Bcbp.Training.Config;

// The typed values of the train section. Files spell them as ConfigNames gives (off, bf16, fp16), plus the aliases
// their members declare; each enum is the one list of its names (binding, validation and docs read it).

/// <summary>
/// <c>train.amp</c>: the precision the forward and backward passes compute in. The optimizer always steps fp32 master
/// weights (docs/training.md, "Mixed precision"). A file may write <c>false</c> for <see cref="Off"/> and <c>true</c>
/// for <see cref="Bf16"/>.
/// </summary>
public enum AmpMode
{
    /// <summary>Everything in float32.</summary>
    [ConfigAlias("false")] Off,
    /// <summary>Conv and linear layers in bfloat16 (fp32's range: no loss scaling needed).</summary>
    [ConfigAlias("true")] Bf16,
    /// <summary>Conv and linear layers in float16, with dynamic loss scaling (as torch.amp.GradScaler).</summary>
    Fp16,
}
