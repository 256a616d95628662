using System.Diagnostics;
using Spectre.Console;

namespace Bcbp.Training.Logging;

/// <summary>A live progress bar on an interactive terminal: bar, percentage, elapsed time, ETA, and throughput and
/// the status (running loss, sparsity) in the description.</summary>
public sealed class ConsoleProgress : IProgressReporter
{
    public void Run(string title, int totalSteps, Action<IProgressTicker> body)
    {
        AnsiConsole.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(Markup.Escape(title), maxValue: totalSteps);
                body(new Ticker(task, title));
            });
    }

    sealed class Ticker(ProgressTask task, string title) : IProgressTicker
    {
        readonly Stopwatch _clock = Stopwatch.StartNew();
        long _images;
        int _step;

        public void Advance(int images, Func<string> status)
        {
            _step++;
            _images += images;
            task.Increment(1);
            // Refreshing the text reads the loss (a device sync): only every 20 steps.
            if (_step % 20 == 0)
                task.Description = Markup.Escape($"{title}  {status()}  {_images / _clock.Elapsed.TotalSeconds:F0} img/s");
        }
    }
}
