namespace Bcbp.Kernels.Interop;

/// <summary>
/// A CUDA stream of our own beside the legacy default stream that TorchSharp (libtorch's default stream) runs on,
/// and the two events that order them: <see cref="WaitForDefault"/> makes our stream wait for everything queued on
/// the default stream so far, <see cref="DefaultWaits"/> makes the default stream wait for everything queued on ours.
/// Neither blocks the host. The stream is non-blocking (no implicit synchronization with the legacy stream), so work on
/// it can overlap the default stream's. Used by the NCCL collective (gradients are all-reduced on this stream).
/// </summary>
public sealed class CudaStreams : IDisposable
{
    readonly IntPtr _defaultDone, _streamDone, _progress;
    bool _disposed;

    /// <summary>Our stream's handle (a CUstream / cudaStream_t).</summary>
    public IntPtr Stream { get; }

    /// <summary>Creates the stream on device <paramref name="ordinal"/> (PyTorch's primary context is made current on
    /// this thread).</summary>
    public CudaStreams(int ordinal)
    {
        CudaDriver.UseDevice(ordinal);
        Stream = CudaDriver.CreateStream();
        _defaultDone = CudaDriver.CreateEvent();
        _streamDone = CudaDriver.CreateEvent();
        _progress = CudaDriver.CreateEvent();
    }

    /// <summary>Records the progress event after the work queued on our stream so far (a watchdog polls it with
    /// <see cref="ProgressDone"/>).</summary>
    public void MarkProgress() => CudaDriver.RecordEvent(_progress, Stream);

    /// <summary>Whether the work before the last <see cref="MarkProgress"/> has completed (at once true before the first;
    /// never waits). Callable from any thread whose current context is the stream's device (<see cref="UseDevice"/>).</summary>
    public bool ProgressDone() => CudaDriver.EventDone(_progress);

    /// <summary>Makes PyTorch's primary context of <paramref name="ordinal"/> current on this thread (NCCL and the
    /// runtime API then use that device).</summary>
    public static void UseDevice(int ordinal) => CudaDriver.UseDevice(ordinal);

    /// <summary>Work queued on our stream from now on starts after the default stream's work queued so far.</summary>
    public void WaitForDefault()
    {
        CudaDriver.Order(CudaDriver.LegacyStream, Stream, _defaultDone);
    }

    /// <summary>Work queued on the default stream from now on starts after our stream's work queued so far.</summary>
    public void DefaultWaits()
    {
        CudaDriver.Order(Stream, CudaDriver.LegacyStream, _streamDone);
    }

    /// <summary>Blocks the host until our stream is idle.</summary>
    public void Synchronize() => CudaDriver.Synchronize(Stream);

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        CudaDriver.DestroyEvent(_defaultDone);
        CudaDriver.DestroyEvent(_streamDone);
        CudaDriver.DestroyEvent(_progress);
        CudaDriver.DestroyStream(Stream);
    }
}
