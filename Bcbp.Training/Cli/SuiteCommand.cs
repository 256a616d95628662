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
/// <c>bcbp suite --suite FILE [--only PATTERNS] [--set k=v ...] [--seeds N,...] [--dry-run] [--publish] [--sparse-eval]</c>:
/// runs what is missing of an experiment suite (dense pretraining per model x dataset, then every pruning cell from it;
/// finished cells skipped, stopped ones resumed, stale ones rerun), optionally evaluates each finished pruning cell on
/// our sparse kernels (its speedup goes into the report), then writes the report of the suite's current cells (into
/// the output folder, or with --publish into the suite's results folder) and prints its table.
/// </summary>
public sealed class SuiteCommand : ICliCommand
{
    readonly Option<string?> _suite = CliOptions.Path("--suite", PathKind.Suite,
        "the suite file: a path, or a name in experiments/ (--suite fashion_mnist)", required: true);
    readonly Option<string?> _only = new("--only")
    {
        Description = "run only the cells whose names match these globs (comma-separated; their dense cells run too)", HelpName = "GLOB[,GLOB]",
    };
    readonly Option<List<string>> _sets = CliOptions.Sets("override a config key in every cell (part of each cell's stamp: a changed value reruns the cell; repeatable)");
    readonly Option<string?> _seeds = CliOptions.SeedList("--seeds", "run every cell once per seed (replaces the suite's grid.seeds); the report shows mean ± std");
    readonly Option<bool> _dryRun = CliOptions.Flag("--dry-run", "list the cells and their state (finished, to run, stopped, STALE), validate every config, run nothing");
    readonly Option<bool> _publish = CliOptions.Flag("--publish",
        "copy the current runs into the suite's results_dir (committed evidence) and write the report there; without it the report goes to OUTPUT_DIR/report and nothing outside the output folder changes");
    readonly Option<bool> _sparseEval = CliOptions.Flag("--sparse-eval",
        "convert each finished pruning cell to our sparse kernels and compare it with its masked model on its test set " +
        "(bcbp sparse --run, once per cell); on CUDA the report shows the speedup");
    readonly Option<string?> _shard = new("--shard")
    {
        Description = "run every N-th cell of the plan starting at I (an array job over machines sharing the output folder; " +
                      "a dense model of another shard is waited for); then merge with bcbp compare --suite", HelpName = "I/N",
    };
    readonly Option<int?> _gpus = CliOptions.OptionalInt("--gpus", "run this many cells at once, each as a bcbp train on its own GPU (cuda:0..N-1)");
    readonly Option<bool> _noProgress = CliOptions.Flag("--no-progress", "no progress bar or progress lines");
    readonly Option<bool> _quiet = CliOptions.Flag("--quiet", "no console log of the runs (each run.log is still written)");
    readonly DeviceOptions _device = new();

    public Command Build()
    {
        var command = new Command("suite", "run an experiment suite (dense + pruning grid), skipping finished cells, resuming stopped ones and " +
                                           "rerunning cells whose config changed (old runs kept in OUTPUT_DIR/_superseded); then report")
        {
            _suite, _only, _sets, _seeds, _dryRun, _publish, _sparseEval, _shard, _gpus, _noProgress, _quiet,
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
        bool dryRun = p.GetValue(_dryRun), sparseEval = p.GetValue(_sparseEval), publish = p.GetValue(_publish);
        var seeds = CliOptions.Seeds(p.GetValue(_seeds));

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var suite = SuiteLoader.Load(suitePath);
        if (seeds.Length > 0) suite = suite with { Grid = suite.Grid with { Seeds = seeds } };
        var cells = GridExpander.Select(GridExpander.Expand(suite), only);
        CellConfigs.ValidateAll(cells, sets);
        var plan = SuitePlan.Of(suite, cells, sets);
        var (shardIndex, shardCount) = p.GetValue(_shard) is { } shardText ? SuiteShard.Parse(shardText) : (0, 1);
        int gpus = p.GetValue(_gpus) ?? 1;
        var shard = new SuiteShard(shardIndex, shardCount, gpus);
        Console.WriteLine($"suite {suite.Name}: {cells.Count} cell(s) in {suite.OutputDir}" +
                          (shardCount > 1 ? $"; shard {shardIndex}/{shardCount} runs {plan.Where((_, i) => shard.Owns(i)).Count()}" : ""));
        for (int i = 0; i < plan.Count; i++)
            Console.WriteLine($"  {plan[i].Cell.Name,-40} {plan[i].Describe()}" + (shard.Owns(i) ? "" : $" (shard {shard.OwnerOf(i)})"));
        if (dryRun) return ExitCodes.Ok;

        TorchBackend.CheckCpuThreads(p.GetValue(_device.Threads));
        var runOptions = new RunOptions
        {
            LibTorchDir = libtorch, Quiet = p.GetValue(_quiet), ShowProgress = !p.GetValue(_noProgress), CpuThreads = p.GetValue(_device.Threads),
        };
        ICellExecutor executor = p.GetValue(_gpus) is null
            ? new TrainingCellExecutor(runOptions)
            : new ProcessCellExecutor(gpus, runOptions, Console.Out, Console.Error);
        // The cells' cost.json is counted in this process (CPU) when the cells train in child processes.
        if (executor is ProcessCellExecutor) TorchBackend.Initialize("cpu", libtorch);
        var outcomes = new SuiteExecutor(suite, executor, Console.WriteLine, shard).Run(plan);
        var myCells = outcomes.Select(o => o.Cell).ToList();
        var failedEvals = sparseEval
            ? SuiteSparseEvaluation.EvaluateFinished(suite.OutputDir, myCells, sets, libtorch, Console.WriteLine, Console.Error.WriteLine) : 0;
        var failed = outcomes.Where(o => o.Status is CellStatus.Failed or CellStatus.Blocked).ToList();
        if (shardCount > 1)
        {
            // The other shards may still run: the merged report comes from bcbp compare once all have finished.
            Console.WriteLine($"suite {suite.Name} shard {shardIndex}/{shardCount}: {outcomes.Count(o => o.Status == CellStatus.Ran)} cell(s) run, " +
                              $"{outcomes.Count(o => o.Status == CellStatus.Skipped)} already finished, {clock.Elapsed.TotalSeconds:F0} s; " +
                              $"when every shard has finished: bcbp compare --suite {suitePath}");
            foreach (var o in failed) Console.Error.WriteLine($"error: {o.Cell.Name}: {o.Error}");
            return failed.Count == 0 && failedEvals == 0 ? ExitCodes.Ok : ExitCodes.CheckFailed;
        }
        var (report, dir) = SuiteReporting.ReportSuite(suitePath, suite, sets, publish, Array.Empty<string>(), Console.WriteLine);
        Console.WriteLine();
        Console.WriteLine(ReportConsole.Render(report, dir));
        Console.WriteLine($"suite {suite.Name}: {outcomes.Count(o => o.Status == CellStatus.Ran)} cell(s) run, " +
                          $"{outcomes.Count(o => o.Status == CellStatus.Skipped)} already finished, {clock.Elapsed.TotalSeconds:F0} s");
        if (suite.Next.Length > 0) Console.WriteLine($"next: {suite.Next}");
        foreach (var o in failed) Console.Error.WriteLine($"error: {o.Cell.Name}: {o.Error}");
        return failed.Count == 0 && failedEvals == 0 ? ExitCodes.Ok : ExitCodes.CheckFailed;
    }
}
