using Serilog;
using Serilog.Core;
using Serilog.Formatting.Json;

namespace Bcbp.Training.Logging;

/// <summary>The run's structured logger: console (short lines), <c>run.log</c> in the run folder (readable lines with
/// timestamps) and <c>run.jsonl</c> (one JSON event per line with every property, e.g. Epoch and Top1).</summary>
public static class RunLog
{
    /// <summary>A property that keeps an event out of the console (a failure the CLI reports itself):
    /// <c>log.ForContext(RunLog.FileOnly, true).Error(e, ...)</c>.</summary>
    public const string FileOnly = "FileOnly";

    public static Logger Create(string? runDir, bool quiet = false)
    {
        var config = new LoggerConfiguration().MinimumLevel.Information().Enrich.FromLogContext();
        // The console gets no stack traces (the CLI prints one line per failure); run.log keeps them.
        if (!quiet) config = config.WriteTo.Logger(c => c.Filter.ByExcluding(e => e.Properties.ContainsKey(FileOnly))
            .WriteTo.Console(outputTemplate: "[{Timestamp:HH:mm:ss} {Level:u3}] {Message:lj}{NewLine}"));
        if (runDir is not null)
            config = config.WriteTo.File(Path.Combine(runDir, "run.log"),
                outputTemplate: "{Timestamp:yyyy-MM-ddTHH:mm:ss.fffZ} [{Level:u3}] {Message:lj}{NewLine}{Exception}")
                .WriteTo.File(new JsonFormatter(renderMessage: true), Path.Combine(runDir, "run.jsonl"));
        return config.CreateLogger();
    }
}
