using System.CommandLine;
using Bcbp.Training.Config;
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
    readonly Option<string?> _suite = CliOptions.Path("--suite", PathKind.Suite,
        "publish the suite's finished runs into its results_dir and report there: a path, or a name in experiments/");
    readonly Option<string?> _results = CliOptions.Path("--results", PathKind.Results,
        "regenerate the report of committed results in place: a path, or a name in experiments/results/");
    readonly Option<string?> _runs = CliOptions.Path("--runs", PathKind.Runs,
        "report any run folders below DIR: a path, or a name in runs/");
    readonly Option<string?> _out = new("--out") { Description = "report folder for --results/--runs (default: the results folder, or DIR/report)", HelpName = "DIR" };
    readonly Option<List<string>> _bench = new("--bench")
    {
        Description = "bench.json files whose measured speedups go into the report (comma-separated or repeated; a bare name is looked for in experiments/results/bench/)",
        HelpName = "FILE", Arity = ArgumentArity.ZeroOrMore, AllowMultipleArgumentsPerToken = false,
    };
    readonly Option<string?> _title = new("--title") { Description = "report title for --results/--runs (default: the folder name)", HelpName = "TEXT" };

    public Command Build()
    {
        var command = new Command("compare", "report of a suite or a folder of runs: paper-style tables (Markdown, CSV, JSON) and plots (PNG)")
        {
            _suite, _results, _runs, _out, _bench, _title,
        };
        command.SetAction(Run);
        return command;
    }

    int Run(ParseResult p)
    {
        string? suitePath = p.GetValue(_suite), resultsDir = p.GetValue(_results), runsDir = p.GetValue(_runs);
        string? outDir = p.GetValue(_out), title = p.GetValue(_title);
        var bench = (p.GetValue(_bench) ?? new())
            .SelectMany(b => b.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .Select(b => PathResolver.Resolve(b, PathKind.Bench, Directory.GetCurrentDirectory())).ToList();
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
        return ExitCodes.Ok;
    }
}
