using Bcbp.Kernels.Interop;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Kernels.Ops;

/// <summary>
/// Host-to-device copies that overlap the work of libtorch: a ring of page-locked host slots (<c>cuMemHostAlloc</c>;
/// TorchSharp has no <c>pin_memory</c>), each copied to device memory on a stream of our own
/// (<c>cuMemcpyHtoDAsync</c> on a non-blocking stream, so the copy runs beside the kernels libtorch queues on the
/// legacy default stream).
/// <para>Each slot has two events, which are what makes reuse safe:</para>
/// <list type="bullet">
/// <item><c>copied</c>, recorded on the copy stream after the slot's copy. The consumer makes libtorch's stream wait
/// for it (<see cref="WaitForCopy"/>) before reading the device memory; a producer waits for it on the host
/// (<see cref="WaitUntilHostFree"/>) before writing the host slot again, so a host buffer is never overwritten while
/// its copy is in flight.</item>
/// <item><c>consumed</c>, recorded on libtorch's stream after the last kernel that reads the slot's device memory
/// (<see cref="MarkConsumed"/>). The next copy into that device memory waits for it on the copy stream
/// (<see cref="Upload"/>), so it never overwrites data a queued kernel has yet to read.</item>
/// </list>
/// Thread use: <see cref="Upload"/> and <see cref="WaitUntilHostFree"/> from producer threads, <see cref="WaitForCopy"/>
/// and <see cref="MarkConsumed"/> from the thread that issues the libtorch work; each call makes the device's primary
/// context current on its thread.
/// </summary>
public sealed class PinnedUploadRing : IDisposable
{
    readonly int _ordinal;
    readonly IntPtr[] _host, _copied, _consumed;
    readonly IntPtr _stream;
    bool _disposed;

    /// <param name="device">The CUDA device the copies go to.</param>
    /// <param name="slots">Host buffers in the ring.</param>
    /// <param name="slotBytes">Bytes of each host buffer.</param>
    public PinnedUploadRing(Device device, int slots, long slotBytes)
    {
        if (device.type != DeviceType.CUDA) throw new ArgumentException($"PinnedUploadRing needs a CUDA device, got {device}");
        if (slots < 1 || slotBytes < 1) throw new ArgumentOutOfRangeException(nameof(slots), "need at least one slot of at least one byte");
        _ordinal = device.index < 0 ? 0 : device.index;
        SlotBytes = slotBytes;
        CudaDriver.UseDevice(_ordinal);
        _host = new IntPtr[slots];
        _copied = new IntPtr[slots];
        _consumed = new IntPtr[slots];
        try
        {
            _stream = CudaDriver.CreateStream();
            for (int i = 0; i < slots; i++)
            {
                _host[i] = CudaDriver.HostAlloc(slotBytes);
                _copied[i] = CudaDriver.CreateEvent(blockingSync: true);   // decode threads wait on it
                _consumed[i] = CudaDriver.CreateEvent();
            }
        }
        catch { Dispose(); throw; }
    }

    /// <summary>Number of slots.</summary>
    public int Slots => _host.Length;
    /// <summary>Bytes of each host slot.</summary>
    public long SlotBytes { get; }

    /// <summary>The page-locked address of host slot <paramref name="slot"/>.</summary>
    public IntPtr Host(int slot) => _host[slot];

    /// <summary>Blocks until the last copy out of host slot <paramref name="slot"/> has read it (at once if none).</summary>
    public void WaitUntilHostFree(int slot)
    {
        CudaDriver.UseDevice(_ordinal);
        CudaDriver.SynchronizeEvent(_copied[slot]);
    }

    /// <summary>Queues the copy of the first <paramref name="bytes"/> of host slot <paramref name="slot"/>, from
    /// <paramref name="hostOffset"/>, into <paramref name="destination"/> (a contiguous CUDA tensor of at least that
    /// many bytes), after the slot's last <see cref="MarkConsumed"/>; returns at once.</summary>
    public void Upload(int slot, long hostOffset, long bytes, Tensor destination)
    {
        if (hostOffset < 0 || bytes < 0 || hostOffset + bytes > SlotBytes)
            throw new ArgumentOutOfRangeException(nameof(bytes), $"{bytes} bytes at {hostOffset} do not fit a slot of {SlotBytes}");
        long capacity = destination.numel() * destination.ElementSize;
        if (destination.device.type != DeviceType.CUDA || bytes > capacity)
            throw new ArgumentException($"destination must be a CUDA tensor of at least {bytes} bytes (got {destination.device}, {capacity} bytes)");
        var device = TensorPointer.Of(destination, "the upload's destination");
        CudaDriver.UseDevice(_ordinal);
        CudaDriver.WaitEvent(_stream, _consumed[slot]);
        CudaDriver.CopyHostToDeviceAsync(device, _host[slot] + (nint)hostOffset, bytes, _stream);
        CudaDriver.RecordEvent(_copied[slot], _stream);
    }

    /// <summary>Makes libtorch's stream (the legacy default stream) wait, on the device, for slot
    /// <paramref name="slot"/>'s last <see cref="Upload"/>s; returns at once.</summary>
    public void WaitForCopy(int slot)
    {
        CudaDriver.UseDevice(_ordinal);
        CudaDriver.WaitEvent(CudaDriver.LegacyStream, _copied[slot]);
    }

    /// <summary>Records, on libtorch's stream, that everything queued so far that reads slot <paramref name="slot"/>'s
    /// device memory is issued: the next upload into it waits for that work to finish.</summary>
    public void MarkConsumed(int slot)
    {
        CudaDriver.UseDevice(_ordinal);
        CudaDriver.RecordEvent(_consumed[slot], CudaDriver.LegacyStream);
    }

    /// <summary>Waits for the copies in flight, then frees the host memory, the events and the stream.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        var errors = new List<Exception>();
        void Try(Action a) { try { a(); } catch (Exception e) { errors.Add(e); } }
        Try(() => CudaDriver.UseDevice(_ordinal));
        if (_stream != IntPtr.Zero) Try(() => CudaDriver.Synchronize(_stream));
        for (int i = 0; i < _host.Length; i++)
        {
            int k = i;
            if (_host[k] != IntPtr.Zero) Try(() => CudaDriver.HostFree(_host[k]));
            if (_copied[k] != IntPtr.Zero) Try(() => CudaDriver.DestroyEvent(_copied[k]));
            if (_consumed[k] != IntPtr.Zero) Try(() => CudaDriver.DestroyEvent(_consumed[k]));
        }
        if (_stream != IntPtr.Zero) Try(() => CudaDriver.DestroyStream(_stream));
        if (errors.Count > 0) throw new AggregateException("freeing the pinned upload ring failed", errors);
    }
}
