namespace Bcbp.Training.Logging;

/// <summary>Shows nothing (tests, benchmarks, <c>--no-progress</c>).</summary>
public sealed class NullProgress : IProgressReporter, IProgressTicker
{
    public static readonly NullProgress Instance = new();
    public void Run(string title, int totalSteps, Action<IProgressTicker> body) => body(this);
    public void Advance(int images, Func<string> status) { }
}
