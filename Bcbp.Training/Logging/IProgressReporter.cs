namespace Bcbp.Training.Logging;

/// <summary>Shows the progress of a loop of steps (a training epoch): a live bar on a terminal, plain log lines when
/// output is redirected (CI), nothing in tests and benchmarks.</summary>
public interface IProgressReporter
{
    /// <summary>Runs <paramref name="body"/>, which reports each step through the ticker it gets.</summary>
    void Run(string title, int totalSteps, Action<IProgressTicker> body);
}

/// <summary>Receives one call per step.</summary>
public interface IProgressTicker
{
    /// <summary>One step of <paramref name="images"/> images done. <paramref name="status"/> (running loss, sparsity,
    /// ...) is only called when the display refreshes (it may synchronize the device).</summary>
    void Advance(int images, Func<string> status);
}
