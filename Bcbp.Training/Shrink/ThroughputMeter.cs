using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Training.Shrink;

/// <summary>
/// Times several inference functions side by side: each is warmed up, then the timed iterations take turns
/// (A, B, A, B, ...) so a slowdown of the shared machine hits all of them alike; the result is each one's median.
/// CUDA work is synchronized before the clock stops.
/// </summary>
public static class ThroughputMeter
{
    /// <summary>Median seconds per call of each of <paramref name="runs"/>.</summary>
    public static double[] MedianSeconds(IReadOnlyList<Func<Tensor>> runs, int warmup, int iters, Device device)
    {
        if (iters < 1) throw new ArgumentException($"--iters must be at least 1, got {iters}");
        void Sync() { if (device.type == DeviceType.CUDA) torch.cuda.synchronize(); }
        using var _ = no_grad();
        foreach (var run in runs)
            for (int i = 0; i < warmup; i++) { using var scope = NewDisposeScope(); run(); }
        Sync();
        var times = runs.Select(_ => new List<double>()).ToArray();
        for (int i = 0; i < iters; i++)
            for (int r = 0; r < runs.Count; r++)
            {
                using var scope = NewDisposeScope();
                var clock = Stopwatch.StartNew();
                runs[r]();
                Sync();
                times[r].Add(clock.Elapsed.TotalSeconds);
            }
        return times.Select(Median).ToArray();
    }

    /// <summary>The middle value (mean of the two middle ones for an even count).</summary>
    public static double Median(IReadOnlyList<double> values)
    {
        if (values.Count == 0) throw new ArgumentException("median of no values");
        var sorted = values.OrderBy(v => v).ToArray();
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }
}
