namespace Bcbp.Training.Config;

/// <summary>The <c>log</c> section: what a run records besides its metrics files.</summary>
public sealed class LogConfig : IConfigSection
{
    /// <summary>Write TensorBoard event files into the run folder's <c>tb/</c>.</summary>
    public bool Tensorboard { get; set; } = true;
    /// <summary>Optimizer steps between the per-step scalars (training loss over the window, learning rate); 0: only
    /// the per-epoch scalars. Each write reads one value from the device (one host sync per this many steps).</summary>
    public int TbEvery { get; set; } = 50;

    /// <inheritdoc/>
    public void Validate(string path, ConfigErrors errors) => errors.AtLeast(ConfigErrors.Join(path, "tb_every"), TbEvery, 0);
}
