using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Training.Backend;

/// <summary>
/// The one timing rule of Bcbp (bench, sparse, shrink): each function is called <c>warmup</c> times untimed; then its
/// <c>iters</c> timed calls run in up to <see cref="MaxWindows"/> windows of queued calls (so the queue hides host launch
/// overhead, as in steady inference), the functions taking turns window by window (so a slowdown of the shared machine
/// hits them alike), the device synchronized before each window's clock starts and stops. A function's time is the
/// median over its windows of the window's time per call.
/// </summary>
public static class ForwardTimer
{
    /// <summary>Most windows the timed calls are split into.</summary>
    public const int MaxWindows = 5;

    /// <summary>Default untimed calls per function before timing.</summary>
    public const int DefaultWarmup = 3;

    /// <summary>Milliseconds per call of each of <paramref name="functions"/>, in their order.</summary>
    public static double[] MedianMs(IReadOnlyList<Func<Tensor>> functions, int warmup, int iters, Device device)
    {
        if (iters < 1) throw new ArgumentException($"--iters must be at least 1, got {iters}");
        if (warmup < 0) throw new ArgumentException($"--warmup must be >= 0, got {warmup}");
        void Sync() { if (device.type == DeviceType.CUDA) torch.cuda.synchronize(); }
        using var _ = no_grad();
        foreach (var f in functions)
            for (int i = 0; i < warmup; i++) { using var scope = NewDisposeScope(); f(); }
        int windows = Math.Min(MaxWindows, iters);
        var times = functions.Select(_ => new List<double>()).ToArray();
        for (int w = 0; w < windows; w++)
        {
            // Spread iters over the windows: the first iters % windows windows get one call more.
            int calls = iters / windows + (w < iters % windows ? 1 : 0);
            for (int f = 0; f < functions.Count; f++)
            {
                Sync();
                var clock = Stopwatch.StartNew();
                for (int i = 0; i < calls; i++) { using var scope = NewDisposeScope(); functions[f](); }
                Sync();
                times[f].Add(clock.Elapsed.TotalMilliseconds / calls);
            }
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
