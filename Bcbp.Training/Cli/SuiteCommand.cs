using Bcbp.Training.Experiments;
using Bcbp.Training.Runner;

namespace Bcbp.Training.Cli;

/// <summary>
/// <c>bcbp suite --suite FILE [--only PATTERNS] [--set k=v ...] [--dry-run]</c>: runs what is missing of an
/// experiment suite (dense pretraining per model x dataset, then every pruning cell from it; finished cells skipped,
/// stopped ones resumed), then publishes the finished runs into the suite's results folder and writes the report.
/// </summary>
public sealed class SuiteCommand : ICliCommand
{
    public string Name => "suite";
    public string Summary => "Run an experiment suite (dense + pruning grid), skipping finished cells; then report";

    public int Run(CliArgs args)
    {
        if (args.Has("help"))
        {
            Console.WriteLine("usage: bcbp suite --suite FILE [--only GLOB[,GLOB]] [--set key=value ...] [--dry-run] [--libtorch DIR] [--threads N] [--quiet] [--no-progress]\n" +
                              "  --only      run only the cells whose names match (their dense cells run too)\n" +
                              "  --set       override a config key in every cell (part of each cell's stamp)\n" +
                              "  --dry-run   list the cells and their state, validate every config, run nothing");
            return 0;
        }
        var suitePath = args.Get("suite") ?? throw new ArgumentException("--suite FILE is required (for example --suite experiments/fashion_mnist.json)");
        string? only = args.Get("only"), libtorch = args.Get("libtorch");
        int threads = args.GetInt("threads", 0);
        bool dryRun = args.Has("dry-run"), quiet = args.Has("quiet"), noProgress = args.Has("no-progress");
        args.ThrowOnUnknown();

        var suite = SuiteLoader.Load(suitePath);
        var cells = GridExpander.Select(GridExpander.Expand(suite), only);
        CellConfigs.ValidateAll(cells, args.Sets);
        Console.WriteLine($"suite {suite.Name}: {cells.Count} cell(s) in {suite.OutputDir}");
        foreach (var cell in cells)
            Console.WriteLine($"  {cell.Name,-40} {RunFolder.StateOf(Path.Combine(suite.OutputDir, cell.Name))}");
        if (dryRun) return 0;

        var executor = new RunnerCellExecutor(new RunOptions { LibTorchDir = libtorch, Quiet = quiet, ShowProgress = !noProgress, CpuThreads = threads });
        var outcomes = new SuiteRunner(suite, executor, Console.WriteLine).Run(cells, args.Sets);
        var report = SuiteReporting.PublishAndReport(suitePath, Array.Empty<string>(), Console.WriteLine);
        Console.WriteLine();
        Console.WriteLine(ReportMarkdown.Render(report));
        var failed = outcomes.Where(o => o.Status is CellStatus.Failed or CellStatus.Blocked).ToList();
        foreach (var o in failed) Console.Error.WriteLine($"error: {o.Cell.Name}: {o.Error}");
        return failed.Count == 0 ? 0 : 1;
    }
}
