using Serilog;
using Spectre.Console;

namespace Bcbp.Training.Logging;

/// <summary>Chooses how progress is shown.</summary>
public static class Progress
{
    /// <summary>A bar on an interactive terminal; log lines when output is redirected; nothing when disabled.</summary>
    public static IProgressReporter ForConsole(ILogger log, bool enabled)
    {
        if (!enabled) return NullProgress.Instance;
        bool interactive = !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;
        return interactive ? new ConsoleProgress() : new PlainProgress(log);
    }
}
