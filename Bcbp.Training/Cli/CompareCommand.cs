using Bcbp.Training.Reports;


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
        string? outDir = args.Get("out"), title = args.Get("title");
        var bench = (args.Get("bench")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? Array.Empty<string>()).ToList();
        args.ThrowOnUnknown();
        if (new[] { suitePath, resultsDir, runsDir }.Count(s => s is not null) != 1)
            throw new ArgumentException("give exactly one of --suite FILE, --results DIR or --runs DIR (see bcbp compare --help)");

        SuiteReport report;
        if (suitePath is not null)
        {
            if (outDir is not null || title is not null)
                throw new ArgumentException("--out and --title do not apply to --suite (the report goes to the suite's results_dir)");
            report = SuiteReporting.PublishAndReport(suitePath, bench, Console.WriteLine);
        }
        else
        {
            var source = resultsDir ?? runsDir!;
            report = SuiteReporting.Report(source, outDir ?? resultsDir ?? Path.Combine(runsDir!, "report"), bench, Console.WriteLine, title);
        }
        Console.WriteLine();
        Console.WriteLine(ReportMarkdown.Render(report));
        return 0;
    }
}
