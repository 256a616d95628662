using System.Runtime.InteropServices;

namespace Bcbp.Training.Backend;

/// <summary>
/// The GPU's used memory from NVML (<c>libnvidia-ml.so.1</c>, shipped with the driver): <c>nvmlInit_v2</c>,
/// <c>nvmlDeviceGetHandleByIndex_v2</c>, <c>nvmlDeviceGetMemoryInfo</c> -> <c>used</c>. TorchSharp has no memory
/// statistics, and NVML's figure is the one PyTorch's side (experiments/pytorch_reference/train_throughput.py, ctypes)
/// reads too, so both frameworks are measured by the same rule. The library is loaded by name at run time
/// (<see cref="NativeLibrary.TryLoad(string, out IntPtr)"/>), so a machine without a driver gets a reason instead of a
/// crash.
/// </summary>
public sealed unsafe class NvmlMemoryReader : IGpuMemoryReader
{
    /// <summary>The driver's NVML library.</summary>
    public const string DefaultLibrary = "libnvidia-ml.so.1";

    [StructLayout(LayoutKind.Sequential)]
    struct NvmlMemory { public ulong Total, Free, Used; }

    readonly delegate* unmanaged<IntPtr, NvmlMemory*, int> _getMemoryInfo;
    readonly IntPtr _device;

    NvmlMemoryReader(delegate* unmanaged<IntPtr, NvmlMemory*, int> getMemoryInfo, IntPtr device, string source)
    {
        _getMemoryInfo = getMemoryInfo;
        _device = device;
        Source = source;
    }

    /// <inheritdoc/>
    public string Source { get; }

    /// <inheritdoc/>
    public long? UsedBytes()
    {
        NvmlMemory m;
        return _getMemoryInfo(_device, &m) == 0 ? (long)m.Used : null;
    }

    /// <summary>Opens NVML for CUDA device <paramref name="cudaOrdinal"/>; null, with <paramref name="reason"/> saying
    /// why, when the library, one of its functions or the device is missing.</summary>
    public static NvmlMemoryReader? TryOpen(int cudaOrdinal, out string reason, string library = DefaultLibrary)
    {
        if (!NativeLibrary.TryLoad(library, out var lib))
        {
            reason = $"{library} could not be loaded (no NVIDIA driver on this machine)";
            return null;
        }
        if (!NativeLibrary.TryGetExport(lib, "nvmlInit_v2", out var init) ||
            !NativeLibrary.TryGetExport(lib, "nvmlDeviceGetHandleByIndex_v2", out var byIndex) ||
            !NativeLibrary.TryGetExport(lib, "nvmlDeviceGetMemoryInfo", out var memoryInfo))
        {
            reason = $"{library} lacks nvmlInit_v2, nvmlDeviceGetHandleByIndex_v2 or nvmlDeviceGetMemoryInfo";
            return null;
        }
        NativeLibrary.TryGetExport(lib, "nvmlDeviceGetName", out var getName);
        int status = ((delegate* unmanaged<int>)init)();
        if (status != 0) { reason = $"nvmlInit_v2 failed (NVML error {status})"; return null; }
        uint index = NvmlIndex(cudaOrdinal, Environment.GetEnvironmentVariable("CUDA_VISIBLE_DEVICES"));
        IntPtr device;
        status = ((delegate* unmanaged<uint, IntPtr*, int>)byIndex)(index, &device);
        if (status != 0) { reason = $"nvmlDeviceGetHandleByIndex_v2({index}) failed (NVML error {status})"; return null; }
        string name = "GPU";
        if (getName != IntPtr.Zero)
        {
            var buffer = stackalloc byte[96];
            if (((delegate* unmanaged<IntPtr, byte*, uint, int>)getName)(device, buffer, 96) == 0)
                name = Marshal.PtrToStringUTF8((IntPtr)buffer) ?? name;
        }
        reason = "";
        return new NvmlMemoryReader((delegate* unmanaged<IntPtr, NvmlMemory*, int>)memoryInfo, device, $"nvml: {name}, index {index}");
    }

    /// <summary>NVML numbers every GPU of the machine; CUDA only the visible ones. With
    /// <c>CUDA_VISIBLE_DEVICES=2,3</c> CUDA device 0 is NVML device 2. UUIDs or an unreadable list fall back to the
    /// CUDA ordinal (the device machines expose their GPUs in order).</summary>
    public static uint NvmlIndex(int cudaOrdinal, string? cudaVisibleDevices)
    {
        int ordinal = Math.Max(0, cudaOrdinal);
        if (string.IsNullOrWhiteSpace(cudaVisibleDevices)) return (uint)ordinal;
        var entries = cudaVisibleDevices.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        return ordinal < entries.Length && uint.TryParse(entries[ordinal], out var index) ? index : (uint)ordinal;
    }
}
