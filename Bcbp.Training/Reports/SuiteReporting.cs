using Bcbp.Training.Suites;

namespace Bcbp.Training.Reports;

/// <summary>The end of a suite run and <c>bcbp compare</c>: copy the finished runs and the suite file into the
/// suite's results folder, then write the report (md, csv, json, png) there from those copies alone, so
/// <c>bcbp compare --results DIR</c> regenerates the same report from committed files.</summary>
public static class SuiteReporting
{
    /// <summary>Name of the copy of the suite file in a results folder (plus the suite file's extension).</summary>
    public const string SuiteFileStem = "suite";

    public static SuiteReport PublishAndReport(string suitePath, IEnumerable<string> extraBench, Action<string> log)
    {
        var suite = SuiteLoader.Load(suitePath);
        var cells = GridExpander.Expand(suite).Select(c => c.Name);
        var copied = ResultsPublisher.Publish(suite.OutputDir, suite.ResultsDir, cells);
        Directory.CreateDirectory(suite.ResultsDir);
        foreach (var old in SuiteFilesIn(suite.ResultsDir)) File.Delete(old);
        File.Copy(suitePath, Path.Combine(suite.ResultsDir, SuiteFileStem + Path.GetExtension(suitePath)));
        log($"published {copied.Count} finished run(s) from {suite.OutputDir} to {suite.ResultsDir}");
        return Report(suite.ResultsDir, suite.ResultsDir, extraBench, log);
    }

    /// <summary>Reports the runs under <paramref name="resultsDir"/> into <paramref name="outDir"/>; a suite file copy
    /// there (published with the results) gives the title, description, method order and benchmark files.</summary>
    public static SuiteReport Report(string resultsDir, string outDir, IEnumerable<string> extraBench, Action<string> log, string? title = null)
    {
        var suiteFile = Directory.Exists(resultsDir) ? SuiteFilesIn(resultsDir).FirstOrDefault() : null;
        var suite = suiteFile is null ? null : SuiteLoader.Load(suiteFile);
        var report = SuiteReport.Build(title ?? (suite is null ? $"Runs in {resultsDir}" : $"Suite {suite.Name}"), resultsDir,
            RunCollector.Collect(resultsDir), SpeedupTable.Load((suite?.Bench ?? Array.Empty<string>()).Concat(extraBench)),
            suite?.Grid.Methods, suite?.Description ?? "");
        foreach (var file in ReportWriter.Write(report, outDir)) log($"wrote {file}");
        return report;
    }

    static IEnumerable<string> SuiteFilesIn(string dir)
        => new[] { ".json", ".yaml", ".yml" }.Select(e => Path.Combine(dir, SuiteFileStem + e)).Where(File.Exists);
}
