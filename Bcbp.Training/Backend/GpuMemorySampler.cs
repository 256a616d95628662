using TorchSharp;

namespace Bcbp.Training.Backend;

/// <summary>
/// Peak GPU memory of a measured piece of work, read the same way for ours and for PyTorch (NVML's used memory; see
/// <see cref="NvmlMemoryReader"/>): created before the model is built, it reads the idle value; <see cref="Start"/>
/// then samples every <see cref="DefaultInterval"/> on a background thread until <see cref="Stop"/>, which returns
/// the peak (<see cref="GpuMemoryPeak"/>). Start and Stop each take one reading themselves, so even work shorter
/// than the interval has a figure. Without a GPU or NVML it is a no-op whose result says "not available" and why.
/// </summary>
public sealed class GpuMemorySampler : IDisposable
{
    /// <summary>Time between readings: fine enough to catch a step's peak of activations (a ResNet-50 b256 step takes
    /// ~100 ms), coarse enough to cost nothing (one NVML call takes microseconds).</summary>
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromMilliseconds(10);

    readonly IGpuMemoryReader? _reader;
    readonly string _unavailable;
    readonly TimeSpan _interval;
    readonly long? _idle;
    readonly object _lock = new();
    readonly ManualResetEventSlim _stopping = new(false);
    Thread? _thread;
    long? _peak;
    int _samples;

    /// <summary>Samples <paramref name="reader"/>; reads the idle value now.</summary>
    public GpuMemorySampler(IGpuMemoryReader reader, TimeSpan? interval = null)
    {
        _reader = reader;
        _interval = interval ?? DefaultInterval;
        _idle = reader.UsedBytes();
        _unavailable = _idle is null ? $"the first reading from {reader.Source} failed" : "";
        if (_idle is null) _reader = null;
    }

    GpuMemorySampler(string reason)
    {
        _unavailable = reason;
        _interval = DefaultInterval;
    }

    /// <summary>A sampler for <paramref name="device"/>: NVML on CUDA, a no-op ("not available: cpu device") elsewhere
    /// or where NVML cannot be opened.</summary>
    public static GpuMemorySampler ForDevice(torch.Device device, string library = NvmlMemoryReader.DefaultLibrary)
    {
        if (device.type != DeviceType.CUDA) return new GpuMemorySampler($"{device.type.ToString().ToLowerInvariant()} device");
        var reader = NvmlMemoryReader.TryOpen(device.index, out var reason, library);
        return reader is null ? new GpuMemorySampler(reason) : new GpuMemorySampler(reader);
    }

    /// <summary>Whether this sampler reads anything.</summary>
    public bool Available => _reader is not null;

    /// <summary>Starts sampling (one reading now, then one every interval on a background thread).</summary>
    public void Start()
    {
        if (_reader is null) return;
        if (_thread is not null) throw new InvalidOperationException("GpuMemorySampler.Start called twice");
        Sample();
        _thread = new Thread(Loop) { IsBackground = true, Name = "gpu-memory-sampler" };
        _thread.Start();
    }

    /// <summary>Stops sampling, takes a last reading and returns the peak (or why there is none).</summary>
    public GpuMemoryPeak Stop()
    {
        if (_reader is null) return GpuMemoryPeak.NotAvailable(_unavailable);
        StopThread();
        Sample();
        lock (_lock)
            return _peak is { } peak
                ? new GpuMemoryPeak(_reader.Source, _idle!.Value / GpuMemoryPeak.MiB, peak / GpuMemoryPeak.MiB, _samples)
                : GpuMemoryPeak.NotAvailable($"every reading from {_reader.Source} failed");
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        StopThread();
        _stopping.Dispose();
    }

    void Loop()
    {
        // Wait returns true when Stop signals, so the thread ends at once instead of after its next interval.
        while (!_stopping.Wait(_interval)) Sample();
    }

    void Sample()
    {
        var used = _reader!.UsedBytes();
        if (used is not { } bytes) return;
        lock (_lock)
        {
            _samples++;
            if (_peak is null || bytes > _peak) _peak = bytes;
        }
    }

    void StopThread()
    {
        if (_thread is null) return;
        _stopping.Set();
        _thread.Join();
        _thread = null;
    }
}
