namespace Bcbp.Training.Backend;

/// <summary>Reads the memory in use on one GPU, the whole device's figure (every process, the CUDA context, the
/// libraries' workspaces and the allocators' caches), as <c>nvidia-smi</c> shows it. <see cref="GpuMemorySampler"/>
/// samples it; <see cref="NvmlMemoryReader"/> is the real one.</summary>
public interface IGpuMemoryReader
{
    /// <summary>Bytes in use now, or null when this reading failed (the sampler skips it).</summary>
    long? UsedBytes();

    /// <summary>Where the figures come from, for the report (e.g. "nvml: NVIDIA H200, index 0").</summary>
    string Source { get; }
}
