using Bcbp.Training.Suites;

namespace Bcbp.Training.Reports;

/// <summary>The end of a suite run and <c>bcbp compare</c>: the report (md, csv, json, png, svg) of a suite's current
/// cells, those finished with the config the suite has now (cells of another config are left out and named), into
/// <c>output_dir/report/</c>; with <c>--publish</c>, those cells and the suite file are first copied into the suite's
/// results folder and the report is written there from the copies alone, so <c>bcbp compare --results DIR</c>
/// regenerates the same report from committed files.</summary>
public static class SuiteReporting
{
    /// <summary>Name of the copy of the suite file in a results folder (plus the suite file's extension).</summary>
    public const string SuiteFileStem = "suite";
    /// <summary>Folder under a suite's output folder that its unpublished report goes to.</summary>
    public const string ReportDir = "report";

    /// <summary>Reports the current cells of <paramref name="suite"/> (loaded from <paramref name="suitePath"/>; planned
    /// with <paramref name="overrides"/>, the suite run's <c>--set</c>); <paramref name="publish"/>: into the results
    /// folder. Returns the report and the folder it was written to.</summary>
    public static (SuiteReport Report, string Dir) ReportSuite(string suitePath, SuiteDefinition suite, IReadOnlyList<string> overrides,
                                                               bool publish, IEnumerable<string> extraBench, Action<string> log)
    {
        var plan = SuitePlan.Of(suite, GridExpander.Expand(suite), overrides);
        foreach (var p in plan.Where(p => !p.IsCurrent)) log($"not in the report: {p.Cell.Name} ({p.Describe()})");
        var bench = suite.Bench.Concat(extraBench).ToList();
        if (!publish)
        {
            var current = plan.Where(p => p.IsCurrent).Select(p => p.RunDir).ToList();
            if (current.Count == 0)
                throw new InvalidDataException($"suite {suite.Name}: no cell under {suite.OutputDir} has finished with the suite's current config; run bcbp suite --suite {suitePath} first");
            var dir = Path.Combine(suite.OutputDir, ReportDir);
            return (Write(suite, current.Select(RunCollector.Read), suite.OutputDir, dir, bench, log), dir);
        }
        var published = ResultsPublisher.Publish(plan, suite.ResultsDir, log);
        Directory.CreateDirectory(suite.ResultsDir);
        foreach (var old in SuiteFilesIn(suite.ResultsDir)) File.Delete(old);
        File.Copy(suitePath, Path.Combine(suite.ResultsDir, SuiteFileStem + Path.GetExtension(suitePath)));
        log($"published {published.Count} current run(s) of {suite.Name} to {suite.ResultsDir}");
        if (published.Count == 0) throw new InvalidDataException($"suite {suite.Name}: nothing to publish; run bcbp suite --suite {suitePath} first");
        var records = published.Select(c => RunCollector.Read(Path.Combine(suite.ResultsDir, c)));
        return (Write(suite, records, suite.ResultsDir, suite.ResultsDir, bench, log), suite.ResultsDir);
    }

    /// <summary>Reports every run under <paramref name="resultsDir"/> into <paramref name="outDir"/>; a suite file copy
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

    static SuiteReport Write(SuiteDefinition suite, IEnumerable<RunRecord> records, string source, string outDir, IEnumerable<string> bench, Action<string> log)
    {
        var report = SuiteReport.Build($"Suite {suite.Name}", source, records, SpeedupTable.Load(bench), suite.Grid.Methods, suite.Description);
        foreach (var file in ReportWriter.Write(report, outDir)) log($"wrote {file}");
        return report;
    }

    static IEnumerable<string> SuiteFilesIn(string dir)
        => new[] { ".json", ".yaml", ".yml" }.Select(e => Path.Combine(dir, SuiteFileStem + e)).Where(File.Exists);
}
