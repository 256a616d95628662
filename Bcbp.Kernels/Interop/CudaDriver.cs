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
    [DllImport(CudaLibraries.Driver)] static extern int cuFuncGetAttribute(out int value, int attrib, IntPtr function);
    [DllImport(CudaLibraries.Driver)] static extern int cuOccupancyMaxActiveBlocksPerMultiprocessor(out int blocks, IntPtr function, int blockSize, nuint dynamicShared);
    [DllImport(CudaLibraries.Driver)] static extern int cuLaunchKernel(IntPtr f, uint gx, uint gy, uint gz, uint bx, uint by, uint bz,
        uint sharedMem, IntPtr stream, IntPtr[] kernelParams, IntPtr extra);
    [DllImport(CudaLibraries.Driver)] static extern int cuLaunchKernelEx(ref ProgrammaticLaunch.LaunchConfig config, IntPtr f, IntPtr[] kernelParams, IntPtr extra);
    [DllImport(CudaLibraries.Driver)] static extern int cuStreamCreate(out IntPtr stream, uint flags);
    [DllImport(CudaLibraries.Driver, EntryPoint = "cuStreamDestroy_v2")] static extern int cuStreamDestroy(IntPtr stream);
    [DllImport(CudaLibraries.Driver)] static extern int cuStreamSynchronize(IntPtr stream);
    [DllImport(CudaLibraries.Driver)] static extern int cuEventCreate(out IntPtr ev, uint flags);
    [DllImport(CudaLibraries.Driver, EntryPoint = "cuEventDestroy_v2")] static extern int cuEventDestroy(IntPtr ev);
    [DllImport(CudaLibraries.Driver)] static extern int cuEventRecord(IntPtr ev, IntPtr stream);
    [DllImport(CudaLibraries.Driver)] static extern int cuStreamWaitEvent(IntPtr stream, IntPtr ev, uint flags);
    [DllImport(CudaLibraries.Driver, EntryPoint = "cuStreamBeginCapture_v2")] static extern int cuStreamBeginCapture(IntPtr stream, int mode);
    [DllImport(CudaLibraries.Driver)] static extern int cuStreamEndCapture(IntPtr stream, out IntPtr graph);
    [DllImport(CudaLibraries.Driver)] static extern int cuGraphInstantiateWithFlags(out IntPtr exec, IntPtr graph, ulong flags);
    [DllImport(CudaLibraries.Driver)] static extern int cuGraphLaunch(IntPtr exec, IntPtr stream);
    [DllImport(CudaLibraries.Driver)] static extern int cuGraphDestroy(IntPtr graph);
    [DllImport(CudaLibraries.Driver)] static extern int cuGraphExecDestroy(IntPtr exec);
    [DllImport(CudaLibraries.Driver)] static extern int cuEventSynchronize(IntPtr ev);
    [DllImport(CudaLibraries.Driver)] static extern int cuEventQuery(IntPtr ev);
    [DllImport(CudaLibraries.Driver)] static extern int cuEventElapsedTime(out float ms, IntPtr start, IntPtr end);
    [DllImport(CudaLibraries.Driver)] static extern int cuMemHostAlloc(out IntPtr pointer, nuint bytes, uint flags);
    [DllImport(CudaLibraries.Driver)] static extern int cuMemFreeHost(IntPtr pointer);
    [DllImport(CudaLibraries.Driver, EntryPoint = "cuMemcpyHtoDAsync_v2")] static extern int cuMemcpyHtoDAsync(IntPtr device, IntPtr host, nuint bytes, IntPtr stream);
    [DllImport(CudaLibraries.Driver)] static extern int cuGetErrorName(int error, out IntPtr name);
    [DllImport(CudaLibraries.Driver)] static extern int cuGetErrorString(int error, out IntPtr str);

    const int AttrComputeMajor = 75, AttrComputeMinor = 76, AttrMultiprocessors = 16, FuncAttrMaxDynamicShared = 8;
    static readonly System.Collections.Concurrent.ConcurrentDictionary<int, int> Multiprocessors = new(), Capabilities = new();
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

    /// <summary>The device's streaming multiprocessors (132 on an H200), read once per device.</summary>
    internal static int MultiprocessorCount(int ordinal) => Multiprocessors.GetOrAdd(ordinal, o =>
    {
        UseDevice(o);
        Check(cuDeviceGet(out int dev, o), "cuDeviceGet", "(init)");
        Check(cuDeviceGetAttribute(out int sms, AttrMultiprocessors, dev), "cuDeviceGetAttribute", "(init)");
        return sms;
    });

    /// <summary>The device's compute capability as NVRTC's arch number (90 for sm_90), read once per device.</summary>
    internal static int ComputeCapability(int ordinal) => Capabilities.GetOrAdd(ordinal, o =>
    {
        UseDevice(o);
        Check(cuDeviceGet(out int dev, o), "cuDeviceGet", "(init)");
        Check(cuDeviceGetAttribute(out int major, AttrComputeMajor, dev), "cuDeviceGetAttribute", "(init)");
        Check(cuDeviceGetAttribute(out int minor, AttrComputeMinor, dev), "cuDeviceGetAttribute", "(init)");
        return major * 10 + minor;
    });

    internal static IntPtr LoadFunction(byte[] cubin, string kernel)
    {
        Check(cuModuleLoadData(out var module, cubin), "cuModuleLoadData", kernel);
        Check(cuModuleGetFunction(out var f, module, kernel), "cuModuleGetFunction", kernel);
        return f;
    }

    internal static void SetMaxDynamicSharedMemory(IntPtr f, int bytes, string kernel)
        => Check(cuFuncSetAttribute(f, FuncAttrMaxDynamicShared, bytes), "cuFuncSetAttribute(max dynamic shared memory)", kernel);

    const int FuncAttrNumRegs = 4, FuncAttrLocalBytes = 3;

    /// <summary>What a kernel holds per thread and how many of its blocks fit an SM at a launch's block size and dynamic
    /// shared memory (registers per thread, local memory per thread in bytes: spills, resident blocks per SM).</summary>
    internal static (int Registers, int LocalBytes, int BlocksPerSm) Resources(IntPtr f, int threads, int sharedBytes, string kernel)
    {
        Check(cuFuncGetAttribute(out int regs, FuncAttrNumRegs, f), "cuFuncGetAttribute(registers)", kernel);
        Check(cuFuncGetAttribute(out int local, FuncAttrLocalBytes, f), "cuFuncGetAttribute(local bytes)", kernel);
        Check(cuOccupancyMaxActiveBlocksPerMultiprocessor(out int blocks, f, threads, (nuint)sharedBytes), "cuOccupancyMaxActiveBlocksPerMultiprocessor", kernel);
        return (regs, local, blocks);
    }

    /// <summary>The legacy default stream, the one PyTorch (and so TorchSharp) uses unless told otherwise.</summary>
    internal static readonly IntPtr LegacyStream = IntPtr.Zero;

    /// <summary>Launches on <paramref name="stream"/> (the legacy default stream unless given); <paramref name="programmatic"/>:
    /// with programmatic stream serialization (<see cref="ProgrammaticLaunch"/>; only for a kernel compiled with PDL=1).</summary>
    internal static void Launch(IntPtr f, (uint x, uint y, uint z) grid, uint threads, uint sharedBytes, IntPtr[] args, string kernel,
        IntPtr stream = default, bool programmatic = false)
    {
        if (!programmatic)
        {
            Check(cuLaunchKernel(f, grid.x, grid.y, grid.z, threads, 1, 1, sharedBytes, stream, args, IntPtr.Zero), "cuLaunchKernel", kernel);
            return;
        }
        var config = new ProgrammaticLaunch.LaunchConfig
        {
            GridX = grid.x, GridY = grid.y, GridZ = grid.z, BlockX = threads, BlockY = 1, BlockZ = 1, SharedBytes = sharedBytes,
            Stream = stream, Attributes = ProgrammaticLaunch.SerializationAllowed.Value, AttributeCount = 1,
        };
        Check(cuLaunchKernelEx(ref config, f, args, IntPtr.Zero), "cuLaunchKernelEx (programmatic)", kernel);
    }

    const uint StreamNonBlocking = 1, EventDisableTiming = 2, EventBlockingSync = 1;
    const int CaptureModeThreadLocal = 1;

    /// <summary>A stream of our own that does not synchronize with the legacy stream (work is handed over by events).</summary>
    internal static IntPtr CreateStream() { Check(cuStreamCreate(out var s, StreamNonBlocking), "cuStreamCreate", "(stream)"); return s; }
    internal static void DestroyStream(IntPtr s) => Check(cuStreamDestroy(s), "cuStreamDestroy", "(stream)");
    internal static void Synchronize(IntPtr s) => Check(cuStreamSynchronize(s), "cuStreamSynchronize", "(stream)");
    /// <summary>An event without timing; <paramref name="blockingSync"/>: a host wait on it sleeps instead of spinning
    /// (for threads that wait while others need the cores).</summary>
    internal static IntPtr CreateEvent(bool blockingSync = false)
    {
        Check(cuEventCreate(out var e, EventDisableTiming | (blockingSync ? EventBlockingSync : 0)), "cuEventCreate", "(event)");
        return e;
    }
    internal static void DestroyEvent(IntPtr e) => Check(cuEventDestroy(e), "cuEventDestroy", "(event)");
    /// <summary>An event that records a time stamp (for <see cref="ElapsedMs"/>).</summary>
    internal static IntPtr CreateTimingEvent() { Check(cuEventCreate(out var e, 0), "cuEventCreate", "(timing event)"); return e; }
    /// <summary>Milliseconds between two recorded timing events (both complete).</summary>
    internal static float ElapsedMs(IntPtr start, IntPtr end) { Check(cuEventElapsedTime(out var ms, start, end), "cuEventElapsedTime", "(timing event)"); return ms; }

    /// <summary>Makes <paramref name="waiter"/> wait for the work queued on <paramref name="after"/> so far.</summary>
    internal static void Order(IntPtr after, IntPtr waiter, IntPtr ev)
    {
        Check(cuEventRecord(ev, after), "cuEventRecord", "(event)");
        Check(cuStreamWaitEvent(waiter, ev, 0), "cuStreamWaitEvent", "(event)");
    }

    /// <summary>Starts recording the launches on <paramref name="stream"/> from this thread into a graph.</summary>
    internal static void BeginCapture(IntPtr stream) => Check(cuStreamBeginCapture(stream, CaptureModeThreadLocal), "cuStreamBeginCapture", "(graph)");

    /// <summary>Ends the capture; returns the executable graph, or throws (the capture is ended either way).</summary>
    internal static IntPtr EndCapture(IntPtr stream)
    {
        int rc = cuStreamEndCapture(stream, out var graph);
        Check(rc, "cuStreamEndCapture", "(graph)");
        try { Check(cuGraphInstantiateWithFlags(out var exec, graph, 0), "cuGraphInstantiate", "(graph)"); return exec; }
        finally { cuGraphDestroy(graph); }
    }

    internal static void LaunchGraph(IntPtr exec, IntPtr stream) => Check(cuGraphLaunch(exec, stream), "cuGraphLaunch", "(graph)");
    internal static void DestroyGraph(IntPtr exec) => Check(cuGraphExecDestroy(exec), "cuGraphExecDestroy", "(graph)");

    const uint HostAllocPortable = 1;

    /// <summary>Records <paramref name="ev"/> after the work queued on <paramref name="stream"/> so far.</summary>
    internal static void RecordEvent(IntPtr ev, IntPtr stream) => Check(cuEventRecord(ev, stream), "cuEventRecord", "(event)");
    /// <summary>Work queued on <paramref name="stream"/> after this call waits for <paramref name="ev"/>'s last record.</summary>
    internal static void WaitEvent(IntPtr stream, IntPtr ev) => Check(cuStreamWaitEvent(stream, ev, 0), "cuStreamWaitEvent", "(event)");
    /// <summary>Blocks the calling thread until the work before <paramref name="ev"/>'s last record is done (at once
    /// for an event never recorded).</summary>
    internal static void SynchronizeEvent(IntPtr ev) => Check(cuEventSynchronize(ev), "cuEventSynchronize", "(event)");
    /// <summary>Whether the work before <paramref name="ev"/>'s last record is done, without waiting (cuEventQuery:
    /// CUDA_ERROR_NOT_READY means not yet; any other error throws).</summary>
    internal static bool EventDone(IntPtr ev)
    {
        int rc = cuEventQuery(ev);
        if (rc == ErrorNotReady) return false;
        Check(rc, "cuEventQuery", "(event)");
        return true;
    }
    const int ErrorNotReady = 600;

    /// <summary>Page-locked host memory the device copies from at full speed and asynchronously (cuMemHostAlloc,
    /// portable: usable from any context). Not write-combined: the decoder's draws may read it back.</summary>
    internal static IntPtr HostAlloc(long bytes) { Check(cuMemHostAlloc(out var p, (nuint)bytes, HostAllocPortable), "cuMemHostAlloc", "(batch upload)"); return p; }
    internal static void HostFree(IntPtr p) => Check(cuMemFreeHost(p), "cuMemFreeHost", "(batch upload)");
    /// <summary>Queues a copy of page-locked host memory to the device on <paramref name="stream"/>; returns at once.</summary>
    internal static void CopyHostToDeviceAsync(IntPtr device, IntPtr host, long bytes, IntPtr stream)
        => Check(cuMemcpyHtoDAsync(device, host, (nuint)bytes, stream), "cuMemcpyHtoDAsync", "(batch upload)");

    static void Check(int rc, string call, string kernel)
    {
        if (rc == 0) return;
        cuGetErrorName(rc, out var n); cuGetErrorString(rc, out var s);
        throw new CudaException($"CUDA driver call {call} failed for kernel '{kernel}': {Marshal.PtrToStringAnsi(n)} ({Marshal.PtrToStringAnsi(s)})");
    }
}
