namespace Bcbp.Training.Backend;

/// <summary>
/// What <see cref="GpuMemorySampler"/> saw: the device's used memory before the model was built (idle) and the most
/// seen while the measured work ran, in MiB. <see cref="PeakAboveIdleMib"/> is the run's own figure (model, optimizer
/// state, activations, CUDA context and library workspaces, allocator cache); <see cref="PeakMib"/> the absolute one.
/// Both are null, and <see cref="Source"/> says why, where no reading was possible (CPU, no NVML).
/// </summary>
/// <param name="Source">"nvml: NAME, index N", or "not available: REASON".</param>
/// <param name="IdleMib">the device's used memory before the work (MiB), or null.</param>
/// <param name="PeakMib">the largest reading while the work ran (MiB), or null.</param>
/// <param name="Samples">readings taken while the work ran.</param>
public sealed record GpuMemoryPeak(string Source, double? IdleMib, double? PeakMib, int Samples)
{
    /// <summary>Bytes per MiB.</summary>
    public const double MiB = 1024.0 * 1024.0;

    /// <summary>Peak minus idle: the memory the run itself took.</summary>
    public double? PeakAboveIdleMib => PeakMib - IdleMib;

    /// <summary>Whether figures were read.</summary>
    public bool Available => PeakMib is not null;

    /// <summary>No figures, and why.</summary>
    public static GpuMemoryPeak NotAvailable(string reason) => new($"not available: {reason}", null, null, 0);

    /// <summary>The JSON keys that bench-train and experiments/pytorch_reference/train_throughput.py both write.</summary>
    public void AddTo(IDictionary<string, object?> report)
    {
        report["peak_gpu_memory_mib"] = PeakAboveIdleMib;
        report["peak_gpu_memory_absolute_mib"] = PeakMib;
        report["idle_gpu_memory_mib"] = IdleMib;
        report["gpu_memory_samples"] = Samples;
        report["gpu_memory_source"] = Source;
    }

    /// <summary>One line for the console: "peak GPU memory 11,020 MiB above idle (11,540 absolute)" or the reason.</summary>
    public string Describe() => Available
        ? $"peak GPU memory {PeakAboveIdleMib:N0} MiB above idle ({PeakMib:N0} MiB absolute, {Samples} samples)"
        : $"peak GPU memory {Source}";
}
