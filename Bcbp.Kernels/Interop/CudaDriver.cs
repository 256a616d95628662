using System.Runtime.InteropServices;

namespace Bcbp.Kernels.Interop;

/// <summary>The CUDA driver API calls the kernels need. Uses PyTorch's primary context of the tensors' device.</summary>
internal static class CudaDriver
{
    [DllImport(CudaLibraries.Driver)] static extern int cuInit(uint flags);
    [DllImport(CudaLibraries.Driver)] static extern int cuDeviceGet(out int device, int ordinal);
    [DllImport(CudaLibraries.Driver)] static extern int cuDeviceGetAttribute(out int value, int attrib, int device);
    [DllImport(CudaLibraries.Driver)] static extern int cuDevicePrimaryCtxRetain(out IntPtr ctx, int device);
    [DllImport(CudaLibraries.Driver)] static extern int cuCtxSetCurrent(IntPtr ctx);
    [DllImport(CudaLibraries.Driver)] static extern int cuModuleLoadData(out IntPtr module, byte[] image);
    [DllImport(CudaLibraries.Driver)] static extern int cuModuleGetFunction(out IntPtr function, IntPtr module, [MarshalAs(UnmanagedType.LPStr)] string name);
    [DllImport(CudaLibraries.Driver)] static extern int cuFuncSetAttribute(IntPtr function, int attrib, int value);
    [DllImport(CudaLibraries.Driver)] static extern int cuLaunchKernel(IntPtr f, uint gx, uint gy, uint gz, uint bx, uint by, uint bz,
        uint sharedMem, IntPtr stream, IntPtr[] kernelParams, IntPtr extra);
    [DllImport(CudaLibraries.Driver)] static extern int cuMemHostAlloc(out IntPtr pointer, nuint bytes, uint flags);
    [DllImport(CudaLibraries.Driver)] static extern int cuMemFreeHost(IntPtr pointer);
    [DllImport(CudaLibraries.Driver)] static extern int cuStreamCreate(out IntPtr stream, uint flags);
    [DllImport(CudaLibraries.Driver, EntryPoint = "cuStreamDestroy_v2")] static extern int cuStreamDestroy(IntPtr stream);
    [DllImport(CudaLibraries.Driver)] static extern int cuStreamSynchronize(IntPtr stream);
    [DllImport(CudaLibraries.Driver)] static extern int cuStreamWaitEvent(IntPtr stream, IntPtr evt, uint flags);
    [DllImport(CudaLibraries.Driver)] static extern int cuEventCreate(out IntPtr evt, uint flags);
    [DllImport(CudaLibraries.Driver, EntryPoint = "cuEventDestroy_v2")] static extern int cuEventDestroy(IntPtr evt);
    [DllImport(CudaLibraries.Driver)] static extern int cuEventRecord(IntPtr evt, IntPtr stream);
    [DllImport(CudaLibraries.Driver)] static extern int cuEventSynchronize(IntPtr evt);
    [DllImport(CudaLibraries.Driver, EntryPoint = "cuMemcpyHtoDAsync_v2")] static extern int cuMemcpyHtoDAsync(IntPtr device, IntPtr host, nuint bytes, IntPtr stream);
    [DllImport(CudaLibraries.Driver)] static extern int cuGetErrorName(int error, out IntPtr name);
    [DllImport(CudaLibraries.Driver)] static extern int cuGetErrorString(int error, out IntPtr str);

    const int AttrComputeMajor = 75, AttrComputeMinor = 76, FuncAttrMaxDynamicShared = 8;
    static readonly Dictionary<int, IntPtr> Contexts = new();
    static readonly object Lock = new();
    static bool _initialized;

    /// <summary>Makes PyTorch's primary context of <paramref name="ordinal"/> current on this thread.</summary>
    internal static void UseDevice(int ordinal)
    {
        CudaLibraries.Register();
        IntPtr ctx;
        lock (Lock)
        {
            if (!_initialized) { Check(cuInit(0), "cuInit", "(init)"); _initialized = true; }
            if (!Contexts.TryGetValue(ordinal, out ctx))
            {
                Check(cuDeviceGet(out int dev, ordinal), "cuDeviceGet", "(init)");
                Check(cuDevicePrimaryCtxRetain(out ctx, dev), "cuDevicePrimaryCtxRetain", "(init)");
                Contexts[ordinal] = ctx;
            }
        }
        Check(cuCtxSetCurrent(ctx), "cuCtxSetCurrent", "(init)");
    }

    /// <summary>The device's compute capability as NVRTC's arch number (90 for sm_90).</summary>
    internal static int ComputeCapability(int ordinal)
    {
        UseDevice(ordinal);
        Check(cuDeviceGet(out int dev, ordinal), "cuDeviceGet", "(init)");
        Check(cuDeviceGetAttribute(out int major, AttrComputeMajor, dev), "cuDeviceGetAttribute", "(init)");
        Check(cuDeviceGetAttribute(out int minor, AttrComputeMinor, dev), "cuDeviceGetAttribute", "(init)");
        return major * 10 + minor;
    }

    internal static IntPtr LoadFunction(byte[] cubin, string kernel)
    {
        Check(cuModuleLoadData(out var module, cubin), "cuModuleLoadData", kernel);
        Check(cuModuleGetFunction(out var f, module, kernel), "cuModuleGetFunction", kernel);
        return f;
    }

    internal static void SetMaxDynamicSharedMemory(IntPtr f, int bytes, string kernel)
        => Check(cuFuncSetAttribute(f, FuncAttrMaxDynamicShared, bytes), "cuFuncSetAttribute(max dynamic shared memory)", kernel);

    /// <summary>Launches on the legacy default stream, the one PyTorch uses unless told otherwise.</summary>
    internal static void Launch(IntPtr f, (uint x, uint y, uint z) grid, uint threads, uint sharedBytes, IntPtr[] args, string kernel)
        => Check(cuLaunchKernel(f, grid.x, grid.y, grid.z, threads, 1, 1, sharedBytes, IntPtr.Zero, args, IntPtr.Zero), "cuLaunchKernel", kernel);

    /// <summary>The legacy default stream (handle 0 in the driver API): libtorch's current stream unless told otherwise.</summary>
    internal static readonly IntPtr LegacyStream = IntPtr.Zero;
    const uint StreamNonBlocking = 1, EventDisableTiming = 2, HostAllocPortable = 1;

    /// <summary>Page-locked host memory the device copies from at full speed and asynchronously (cuMemHostAlloc,
    /// portable: usable from any context). Not write-combined: the decoder's draws may read it back.</summary>
    internal static IntPtr HostAlloc(long bytes) { Check(cuMemHostAlloc(out var p, (nuint)bytes, HostAllocPortable), "cuMemHostAlloc", "(batch upload)"); return p; }
    internal static void HostFree(IntPtr p) => Check(cuMemFreeHost(p), "cuMemFreeHost", "(batch upload)");
    /// <summary>A stream that does not synchronize with the legacy default stream: its work overlaps libtorch's.</summary>
    internal static IntPtr StreamCreateNonBlocking() { Check(cuStreamCreate(out var s, StreamNonBlocking), "cuStreamCreate", "(batch upload)"); return s; }
    internal static void StreamDestroy(IntPtr s) => Check(cuStreamDestroy(s), "cuStreamDestroy", "(batch upload)");
    internal static void StreamSynchronize(IntPtr s) => Check(cuStreamSynchronize(s), "cuStreamSynchronize", "(batch upload)");
    /// <summary>Work issued to <paramref name="stream"/> after this call waits for <paramref name="evt"/>'s last record.</summary>
    internal static void StreamWaitEvent(IntPtr stream, IntPtr evt) => Check(cuStreamWaitEvent(stream, evt, 0), "cuStreamWaitEvent", "(batch upload)");
    internal static IntPtr EventCreate() { Check(cuEventCreate(out var e, EventDisableTiming), "cuEventCreate", "(batch upload)"); return e; }
    internal static void EventDestroy(IntPtr e) => Check(cuEventDestroy(e), "cuEventDestroy", "(batch upload)");
    internal static void EventRecord(IntPtr e, IntPtr stream) => Check(cuEventRecord(e, stream), "cuEventRecord", "(batch upload)");
    /// <summary>Blocks the calling thread until the work before <paramref name="e"/>'s last record is done (at once
    /// for an event never recorded).</summary>
    internal static void EventSynchronize(IntPtr e) => Check(cuEventSynchronize(e), "cuEventSynchronize", "(batch upload)");
    internal static void CopyHostToDeviceAsync(IntPtr device, IntPtr host, long bytes, IntPtr stream)
        => Check(cuMemcpyHtoDAsync(device, host, (nuint)bytes, stream), "cuMemcpyHtoDAsync", "(batch upload)");

    static void Check(int rc, string call, string kernel)
    {
        if (rc == 0) return;
        cuGetErrorName(rc, out var n); cuGetErrorString(rc, out var s);
        throw new CudaException($"CUDA driver call {call} failed for kernel '{kernel}': {Marshal.PtrToStringAnsi(n)} ({Marshal.PtrToStringAnsi(s)})");
    }
}
