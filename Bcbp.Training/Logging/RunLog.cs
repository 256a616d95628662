using Serilog;
using Serilog.Core;
using Serilog.Formatting.Json;

namespace Bcbp.Training.Logging;

/// <summary>The run's structured logger: console (short lines), <c>run.log</c> in the run folder (readable lines with
/// timestamps) and <c>run.jsonl</c> (one JSON event per line with every property, e.g. Epoch and Top1).</summary>
public static class RunLog
{
    /// <summary>An event with this property goes to the run's files only, not to the console: a failure that the CLI's
    /// error handler prints once itself (<c>log.ForContext(RunLog.FileOnly, true)</c>).</summary>
    public const string FileOnly = "FileOnly";

    /// <summary>The logger of a run in <paramref name="runDir"/> (null: console only). <paramref name="warningsOnly"/>:
    /// the ranks other than 0 of a data-parallel job, whose progress rank 0 already shows.</summary>
    public static Logger Create(string? runDir, bool quiet = false, bool warningsOnly = false)
    {
        var config = new LoggerConfiguration().Enrich.FromLogContext();
        config = warningsOnly ? config.MinimumLevel.Warning() : config.MinimumLevel.Information();
        if (!quiet)
            config = config.WriteTo.Logger(console => console.Filter.ByExcluding(e => e.Properties.ContainsKey(FileOnly))
                .WriteTo.Console(outputTemplate: "[{Timestamp:HH:mm:ss} {Level:u3}] {Message:lj}{NewLine}{Exception}"));
        if (runDir is not null)
            config = config.WriteTo.File(Path.Combine(runDir, "run.log"),
                outputTemplate: "{Timestamp:yyyy-MM-ddTHH:mm:ss.fffZ} [{Level:u3}] {Message:lj}{NewLine}{Exception}")
                .WriteTo.File(new JsonFormatter(renderMessage: true), Path.Combine(runDir, "run.jsonl"));
        return config.CreateLogger();
    }
}
