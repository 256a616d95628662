using Bcbp.Training.Reports;
using Bcbp.Training.Suites;

namespace Bcbp.Training.Cli;

/// <summary>
/// <c>bcbp compare</c>: the comparison report (Markdown, CSV, JSON, PNG + SVG) of a suite or of any folder of runs.
/// It only reads runs: <c>--suite FILE</c> reports the suite's current cells into OUTPUT_DIR/report (with
/// <c>--publish</c>, it publishes them into the suite's results folder and reports there); <c>--results DIR</c> and
/// <c>--runs DIR</c> report every run in DIR into <c>--out</c> (default runs/compare/NAME and DIR/report), so
/// committed results are rewritten only when <c>--out</c> names their folder.
/// </summary>
public sealed class CompareCommand : ICliCommand
{
    public string Name => "compare";
    public string Summary => "Report of a suite or folder of runs: paper-style table (md/csv/json) and plots";

    public int Run(CliArgs args)
    {
        if (args.Has("help"))
        {
            Console.WriteLine("usage: bcbp compare (--suite FILE [--set key=value ...] [--seeds N,...] [--publish] | --results DIR | --runs DIR) [--out DIR] [--bench A.json,B.json] [--title TEXT]\n" +
                              "  --suite     the suite's cells finished with its current config (--set/--seeds as given to bcbp suite), into OUTPUT_DIR/report\n" +
                              "  --publish   copy them into the suite's results_dir and write the report there\n" +
                              "  --results   every run in DIR (e.g. committed results), into --out (default runs/compare/NAME)\n" +
                              "  --runs      every run in DIR, into --out (default DIR/report)");
            return 0;
        }
        string? suitePath = args.Get("suite"), resultsDir = args.Get("results"), runsDir = args.Get("runs");
        string? outDir = args.Get("out"), title = args.Get("title");
        bool publish = args.Has("publish");
        var seeds = args.GetInts("seeds");
        var bench = (args.Get("bench")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? Array.Empty<string>()).ToList();
        args.ThrowOnUnknown();
        if (new[] { suitePath, resultsDir, runsDir }.Count(s => s is not null) != 1)
            throw new ArgumentException("give exactly one of --suite FILE, --results DIR or --runs DIR (see bcbp compare --help)");

        SuiteReport report;
        string dir;
        if (suitePath is not null)
        {
            if (outDir is not null || title is not null)
                throw new ArgumentException("--out and --title do not apply to --suite (the report goes to the suite's output folder, or with --publish its results_dir)");
            var suite = SuiteLoader.Load(suitePath);
            if (seeds.Count > 0) suite = suite with { Grid = suite.Grid with { Seeds = seeds } };
            (report, dir) = SuiteReporting.ReportSuite(suitePath, suite, args.Sets, publish, bench, Console.WriteLine);
        }
        else
        {
            if (publish || seeds.Count > 0 || args.Sets.Count > 0)
                throw new ArgumentException("--publish, --seeds and --set apply to --suite only");
            var source = resultsDir ?? runsDir!;
            dir = outDir ?? (resultsDir is not null
                ? Path.Combine("runs", "compare", Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(resultsDir))))
                : Path.Combine(runsDir!, "report"));
            report = SuiteReporting.Report(source, dir, bench, Console.WriteLine, title);
        }
        Console.WriteLine();
        Console.WriteLine(ReportConsole.Render(report, dir));
        return 0;
    }
}
