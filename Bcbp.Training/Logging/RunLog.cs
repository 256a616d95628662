using Serilog;
using Serilog.Core;

namespace Bcbp.Training.Logging;

/// <summary>The run's structured logger: console (short lines) and <c>run.log</c> in the run folder (with
/// timestamps and every property, e.g. {Epoch} and {Top1}, as JSON at the end of the line).</summary>
public static class RunLog
{
    public static Logger Create(string? runDir, bool quiet = false)
    {
        var config = new LoggerConfiguration().MinimumLevel.Information().Enrich.FromLogContext();
        if (!quiet) config = config.WriteTo.Console(outputTemplate: "[{Timestamp:HH:mm:ss} {Level:u3}] {Message:lj}{NewLine}{Exception}");
        if (runDir is not null)
            config = config.WriteTo.File(Path.Combine(runDir, "run.log"),
                outputTemplate: "{Timestamp:yyyy-MM-ddTHH:mm:ss.fffZ} [{Level:u3}] {Message:lj} {Properties:j}{NewLine}{Exception}");
        return config.CreateLogger();
    }
}
