using System.CommandLine;
using Bcbp.Training.Config;
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
    readonly Option<string?> _suite = CliOptions.Path("--suite", PathKind.Suite,
        "report the suite's cells finished with its current config (--set/--seeds as given to bcbp suite) into OUTPUT_DIR/report: a path, or a name in experiments/");
    readonly Option<List<string>> _sets = CliOptions.Sets("for --suite: the --set overrides the suite ran with (they are part of each cell's stamp)");
    readonly Option<string?> _seeds = CliOptions.SeedList("--seeds", "for --suite: the seeds the suite ran with");
    readonly Option<bool> _publish = CliOptions.Flag("--publish", "for --suite: copy the current runs into the suite's results_dir and write the report there");
    readonly Option<string?> _results = CliOptions.Path("--results", PathKind.Results,
        "report committed results (into runs/compare/NAME unless --out): a path, or a name in experiments/results/");
    readonly Option<string?> _runs = CliOptions.Path("--runs", PathKind.Runs,
        "report any run folders below DIR: a path, or a name in runs/");
    readonly Option<string?> _out = new("--out") { Description = "report folder for --results/--runs (default: runs/compare/NAME, or DIR/report); naming the results folder rewrites its report", HelpName = "DIR" };
    readonly Option<List<string>> _bench = new("--bench")
    {
        Description = "bench.json files whose measured speedups go into the report (comma-separated or repeated; a bare name is looked for in experiments/results/bench/)",
        HelpName = "FILE", Arity = ArgumentArity.ZeroOrMore, AllowMultipleArgumentsPerToken = false,
    };
    readonly Option<string?> _title = new("--title") { Description = "report title for --results/--runs (default: the folder name)", HelpName = "TEXT" };

    public Command Build()
    {
        var command = new Command("compare", "report of a suite or a folder of runs: paper-style tables (Markdown, CSV, JSON) and plots (PNG + SVG); only reads runs")
        {
            _suite, _sets, _seeds, _publish, _results, _runs, _out, _bench, _title,
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

        var sets = p.GetValue(_sets) ?? new();
        var seeds = CliOptions.Seeds(p.GetValue(_seeds));
        bool publish = p.GetValue(_publish);
        SuiteReport report;
        string dir;
        if (suitePath is not null)
        {
            if (outDir is not null || title is not null)
                throw new ArgumentException("--out and --title do not apply to --suite (the report goes to the suite's output folder, or with --publish its results_dir)");
            var suite = SuiteLoader.Load(suitePath);
            if (seeds.Length > 0) suite = suite with { Grid = suite.Grid with { Seeds = seeds } };
            (report, dir) = SuiteReporting.ReportSuite(suitePath, suite, sets, publish, bench, Console.WriteLine);
        }
        else
        {
            if (publish || seeds.Length > 0 || sets.Count > 0)
                throw new ArgumentException("--publish, --seeds and --set apply to --suite only");
            var source = resultsDir ?? runsDir!;
            dir = outDir ?? (resultsDir is not null
                ? System.IO.Path.Combine("runs", "compare", System.IO.Path.GetFileName(System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(resultsDir))))
                : System.IO.Path.Combine(runsDir!, "report"));
            report = SuiteReporting.Report(source, dir, bench, Console.WriteLine, title);
        }
        Console.WriteLine();
        Console.WriteLine(ReportConsole.Render(report, dir));
        return ExitCodes.Ok;
    }
}
