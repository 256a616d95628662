using Bcbp.Training.Experiments;

namespace Bcbp.Training.Cli;

/// <summary>
/// <c>bcbp compare</c>: the comparison report (Markdown, CSV, JSON, PNG) of a suite or of any folder of runs.
/// <c>--suite FILE</c> publishes the suite's finished runs into its results folder and writes the report there;
/// <c>--results DIR</c> regenerates the report of committed results in place; <c>--runs DIR</c> reports any run
/// folders (into <c>--out</c>, default DIR/report).
/// </summary>
public sealed class CompareCommand : ICliCommand
{
    public string Name => "compare";
    public string Summary => "Report of a suite or folder of runs: paper-style table (md/csv/json) and plots";

    public int Run(CliArgs args)
    {
        if (args.Has("help"))
        {
            Console.WriteLine("usage: bcbp compare (--suite FILE | --results DIR | --runs DIR) [--out DIR] [--bench A.json,B.json] [--title TEXT]");
            return 0;
        }
        string? suitePath = args.Get("suite"), resultsDir = args.Get("results"), runsDir = args.Get("runs");
        string? outDir = args.Get("out"), bench = args.Get("bench"), title = args.Get("title");
        args.ThrowOnUnknown();
        if (new[] { suitePath, resultsDir, runsDir }.Count(s => s is not null) != 1)
            throw new ArgumentException("give exactly one of --suite FILE, --results DIR or --runs DIR (see bcbp compare --help)");

        SuiteDefinition? suite = suitePath is null ? null : SuiteLoader.Load(suitePath);
        string source;
        if (suite is not null)
        {
            var cells = GridExpander.Expand(suite).Select(c => c.Name);
            var copied = ResultsPublisher.Publish(suite.OutputDir, suite.ResultsDir, cells);
            Console.WriteLine($"published {copied.Count} finished run(s) from {suite.OutputDir} to {suite.ResultsDir}");
            source = suite.ResultsDir;
        }
        else source = resultsDir ?? runsDir!;
        outDir ??= suite?.ResultsDir ?? resultsDir ?? Path.Combine(runsDir!, "report");

        var benchFiles = (bench?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? Array.Empty<string>())
            .Concat(suite?.Bench ?? Array.Empty<string>()).ToList();
        var report = SuiteReport.Build(
            title ?? (suite is not null ? $"Suite {suite.Name}" : $"Runs in {source}"), source,
            RunCollector.Collect(source), SpeedupTable.Load(benchFiles), suite?.Grid.Methods, suite?.Description ?? "");
        foreach (var file in ReportWriter.Write(report, outDir)) Console.WriteLine($"wrote {file}");
        Console.WriteLine();
        Console.WriteLine(ReportMarkdown.Render(report));
        return 0;
    }
}
