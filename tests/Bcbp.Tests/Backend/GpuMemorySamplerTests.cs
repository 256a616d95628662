using Bcbp.Tests.Support;
using Bcbp.Training.Backend;
using TorchSharp;

namespace Bcbp.Tests.Backend;

/// <summary>The peak GPU memory rule (idle before the model, peak while the work runs, peak minus idle) and its absence
/// path, with a reader that plays back given figures in place of NVML (which needs a GPU).</summary>
public class GpuMemorySamplerTests
{
    const long MiB = 1024 * 1024;

    /// <summary>Plays back <c>figures(call number)</c>; counts its calls and signals once it has been called
    /// <c>signalAt</c> times.</summary>
    sealed class PlaybackReader(Func<int, long?> figures, int signalAt = int.MaxValue) : IGpuMemoryReader
    {
        int _calls;
        public readonly ManualResetEventSlim Reached = new(false);
        public int Calls => Volatile.Read(ref _calls);
        public string Source => "playback";
        public long? UsedBytes()
        {
            int call = Interlocked.Increment(ref _calls) - 1;
            if (call + 1 >= signalAt) Reached.Set();
            return figures(call);
        }
    }

    [Test]
    public void PeakIsTheMostSeenWhileRunningMinusTheIdleValueReadAtCreation()
    {
        // Call 0: idle at creation (1,000 MiB); call 1: Start's own reading (5,000); after that 3,000.
        var reader = new PlaybackReader(call => call switch { 0 => 1000 * MiB, 1 => 5000 * MiB, _ => 3000 * MiB });
        using var sampler = new GpuMemorySampler(reader);
        Assert.That(sampler.Available);
        sampler.Start();
        var peak = sampler.Stop();
        Assert.That(peak.Available);
        Assert.That((peak.IdleMib, peak.PeakMib, peak.PeakAboveIdleMib), Is.EqualTo(((double?)1000, (double?)5000, (double?)4000)));
        Assert.That(peak.Samples, Is.EqualTo(reader.Calls - 1), "every reading after the idle one counts");
        Assert.That(peak.Source, Is.EqualTo("playback"));
    }

    [Test]
    public void TheBackgroundThreadKeepsSamplingUntilStop()
    {
        // Call k reads k MiB (idle 0): the peak is the last reading, so it shows that the thread's readings count.
        var reader = new PlaybackReader(call => call * MiB, signalAt: 8);
        using var sampler = new GpuMemorySampler(reader, TimeSpan.FromMilliseconds(1));
        sampler.Start();
        Assert.That(reader.Reached.Wait(TimeSpan.FromSeconds(60)), "the sampler thread should read on its own");
        var peak = sampler.Stop();
        int calls = reader.Calls;
        Assert.That(calls, Is.GreaterThanOrEqualTo(8));
        Assert.That(peak.PeakMib, Is.EqualTo(calls - 1));
        Assert.That(peak.Samples, Is.EqualTo(calls - 1));
        Assert.That(reader.Calls, Is.EqualTo(calls), "no reading after Stop");
    }

    [Test]
    public void FailedReadingsAreSkipped()
    {
        var reader = new PlaybackReader(call => call switch { 0 => 100 * MiB, 1 => null, _ => 300 * MiB });
        using var sampler = new GpuMemorySampler(reader);
        sampler.Start();
        var peak = sampler.Stop();
        Assert.That(peak.PeakAboveIdleMib, Is.EqualTo(200));
        Assert.That(peak.Samples, Is.EqualTo(reader.Calls - 2), "the idle reading and the failed one do not count");
    }

    [Test]
    public void AFailedIdleReadingMakesTheSamplerANoOpThatSaysWhy()
    {
        var reader = new PlaybackReader(call => call == 0 ? null : 1 * MiB);
        using var sampler = new GpuMemorySampler(reader);
        Assert.That(sampler.Available, Is.False);
        sampler.Start();
        var peak = sampler.Stop();
        Assert.That(peak.Available, Is.False);
        Assert.That(peak.Source, Does.StartWith("not available").And.Contain("playback"));
        Assert.That(reader.Calls, Is.EqualTo(1));
    }

    [Test]
    public void OnTheCpuThereIsNothingToReadAndTheReportSaysSo()
    {
        TorchBackend.Initialize("cpu");
        using var sampler = GpuMemorySampler.ForDevice(torch.CPU);
        Assert.That(sampler.Available, Is.False);
        sampler.Start();
        var peak = sampler.Stop();
        Assert.That(peak.Source, Is.EqualTo("not available: cpu device"));
        var report = new Dictionary<string, object?>();
        peak.AddTo(report);
        Assert.That(report["peak_gpu_memory_mib"], Is.Null);
        Assert.That(report["peak_gpu_memory_absolute_mib"], Is.Null);
        Assert.That(report["gpu_memory_samples"], Is.EqualTo(0));
        Assert.That(report["gpu_memory_source"], Is.EqualTo("not available: cpu device"));
        Assert.That(peak.Describe(), Is.EqualTo("peak GPU memory not available: cpu device"));
    }

    [Test]
    public void AMissingNvmlLibraryIsAReasonNotACrash()
    {
        Assert.That(NvmlMemoryReader.TryOpen(0, out var reason, "libnvidia-ml-absent.so.1"), Is.Null);
        Assert.That(reason, Does.Contain("libnvidia-ml-absent.so.1"));
        using var sampler = GpuMemorySampler.ForDevice(new torch.Device(DeviceType.CUDA, 0), "libnvidia-ml-absent.so.1");
        Assert.That(sampler.Available, Is.False);
        Assert.That(sampler.Stop().Source, Does.StartWith("not available: libnvidia-ml-absent.so.1"));
    }

    [TestCase(0, null, 0u)]
    [TestCase(1, "", 1u)]
    [TestCase(0, "2,3", 2u)]
    [TestCase(1, "2, 3", 3u)]
    [TestCase(0, "GPU-8f3c", 0u)]
    [TestCase(-1, "5", 5u)]
    public void CudaOrdinalsMapToNvmlIndicesThroughCudaVisibleDevices(int ordinal, string? visible, uint expected) =>
        Assert.That(NvmlMemoryReader.NvmlIndex(ordinal, visible), Is.EqualTo(expected));

    [Test]
    public void ThePyTorchReferenceWritesTheSameMemoryKeys()
    {
        // train_throughput.py reads NVML the same way (ctypes); its JSON must carry the keys bench-train writes, so
        // experiments/bench/train_summary.py reads both alike.
        var report = new Dictionary<string, object?>();
        new GpuMemoryPeak("nvml: test", 1, 2, 3).AddTo(report);
        var script = File.ReadAllText(Path.Combine(RepoPaths.Root, "experiments/pytorch_reference/train_throughput.py"));
        foreach (var key in report.Keys)
            Assert.That(script, Does.Contain($"\"{key}\""), key);
    }
}
