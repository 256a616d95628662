using System.CommandLine;
using Bcbp.Kernels.Conversion;
using Bcbp.Training.Config;
using Bcbp.Training.Json;
using Bcbp.Training.Reports;
using Bcbp.Training.Suites;
using Bcbp.Training.Inference;
using Bcbp.Training.Runs;
using Bcbp.Training.Backend;

namespace Bcbp.Training.Cli;

/// <summary>
/// <c>bcbp suite --suite FILE [--only PATTERNS] [--set k=v ...] [--dry-run] [--sparse-eval]</c>: runs what is missing of
/// an experiment suite (dense pretraining per model x dataset, then every pruning cell from it; finished cells skipped,
/// stopped ones resumed), optionally evaluates each finished pruning cell on our sparse kernels (its speedup goes into
/// the report), then publishes the finished runs into the suite's results folder and writes the report.
/// </summary>
public sealed class SuiteCommand : ICliCommand
{
    readonly Option<string?> _suite = CliOptions.Path("--suite", PathKind.Suite,
        "the suite file: a path, or a name in experiments/ (--suite fashion_mnist)", required: true);
    readonly Option<string?> _only = new("--only")
    {
        Description = "run only the cells whose names match these globs (comma-separated; their dense cells run too)", HelpName = "GLOB[,GLOB]",
    };
    readonly Option<List<string>> _sets = CliOptions.Sets("override a config key in every cell (part of each cell's stamp; repeatable)");
    readonly Option<bool> _dryRun = CliOptions.Flag("--dry-run", "list the cells and their state, validate every config, run nothing");
    readonly Option<bool> _sparseEval = CliOptions.Flag("--sparse-eval",
        "convert each finished pruning cell to our sparse kernels and compare it with its masked model on its test set " +
        "(bcbp sparse --run, once per cell); on CUDA the report shows the speedup");
    readonly Option<bool> _noProgress = CliOptions.Flag("--no-progress", "no progress bar or progress lines");
    readonly Option<bool> _quiet = CliOptions.Flag("--quiet", "no console log of the runs (each run.log is still written)");
    readonly DeviceOptions _device = new();

    public Command Build()
    {
        var command = new Command("suite", "run an experiment suite (dense + pruning grid), skipping finished cells and resuming stopped ones; then report")
        {
            _suite, _only, _sets, _dryRun, _sparseEval, _noProgress, _quiet,
        };
        _device.AddTo(command);
        command.SetAction(Run);
        return command;
    }

    int Run(ParseResult p)
    {
        string suitePath = p.GetValue(_suite)!;
        string? only = p.GetValue(_only), libtorch = p.GetValue(_device.LibTorch);
        var sets = new List<string>(p.GetValue(_sets) ?? new());
        // --device is a shorthand for --set device=... in every cell.
        if (p.GetValue(_device.Device) is { } device) sets.Add($"device={device}");
        bool dryRun = p.GetValue(_dryRun), sparseEval = p.GetValue(_sparseEval);

        var suite = SuiteLoader.Load(suitePath);
        var cells = GridExpander.Select(GridExpander.Expand(suite), only);
        CellConfigs.ValidateAll(cells, sets);
        Console.WriteLine($"suite {suite.Name}: {cells.Count} cell(s) in {suite.OutputDir}");
        foreach (var cell in cells)
            Console.WriteLine($"  {cell.Name,-40} {RunFolder.StateOf(Path.Combine(suite.OutputDir, cell.Name))}");
        if (dryRun) return ExitCodes.Ok;

        TorchBackend.CheckCpuThreads(p.GetValue(_device.Threads));
        var executor = new TrainingCellExecutor(new RunOptions
        {
            LibTorchDir = libtorch, Quiet = p.GetValue(_quiet), ShowProgress = !p.GetValue(_noProgress), CpuThreads = p.GetValue(_device.Threads),
        });
        var outcomes = new SuiteExecutor(suite, executor, Console.WriteLine).Run(cells, sets);
        var failedEvals = sparseEval
            ? SuiteSparseEvaluation.EvaluateFinished(suite.OutputDir, cells, sets, libtorch, Console.WriteLine, Console.Error.WriteLine) : 0;
        var report = SuiteReporting.PublishAndReport(suitePath, Array.Empty<string>(), Console.WriteLine);
        Console.WriteLine();
        Console.WriteLine(ReportMarkdown.Render(report));
        var failed = outcomes.Where(o => o.Status is CellStatus.Failed or CellStatus.Blocked).ToList();
        foreach (var o in failed) Console.Error.WriteLine($"error: {o.Cell.Name}: {o.Error}");
        return failed.Count == 0 && failedEvals == 0 ? ExitCodes.Ok : ExitCodes.CheckFailed;
    }
}
