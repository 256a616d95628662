using System.Diagnostics;
using Serilog;

namespace Bcbp.Training.Logging;

/// <summary>Progress as log lines (about every 10% of the steps, at least every 30 s): for redirected output and CI,
/// where a redrawn bar would fill the log with control characters.</summary>
public sealed class PlainProgress(ILogger log) : IProgressReporter
{
    public void Run(string title, int totalSteps, Action<IProgressTicker> body) => body(new Ticker(log, title, totalSteps));

    sealed class Ticker(ILogger log, string title, int totalSteps) : IProgressTicker
    {
        readonly Stopwatch _clock = Stopwatch.StartNew();
        readonly int _every = Math.Max(1, totalSteps / 10);
        int _step;
        long _images;
        double _lastLine;

        public void Advance(int images, Func<string> status)
        {
            _step++;
            _images += images;
            double t = _clock.Elapsed.TotalSeconds;
            if (_step % _every != 0 && t - _lastLine < 30 && _step != totalSteps) return;
            _lastLine = t;
            double rate = _images / Math.Max(t, 1e-9);
            var eta = TimeSpan.FromSeconds(t / _step * Math.Max(0, totalSteps - _step));
            var text = status();
            log.Information("{Title} step {Step}/{Steps}{Status} {ImagesPerSecond:F0} img/s ETA {Eta:mm\\:ss}",
                title, _step, totalSteps, text.Length > 0 ? " " + text : "", rate, eta);
        }
    }
}
