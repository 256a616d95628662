using Bcbp.Kernels.Conversion;
using Bcbp.Training.Backend;
using Bcbp.Training.Inference;
using Bcbp.Training.Json;
using Bcbp.Training.Reports;
using Bcbp.Training.Runs;
using Bcbp.Training.Suites;

namespace Bcbp.Training.Cli;

/// <summary>
/// <c>bcbp suite --suite FILE [--only PATTERNS] [--set k=v ...] [--dry-run] [--sparse-eval]</c>: runs what is missing of
/// an experiment suite (dense pretraining per model x dataset, then every pruning cell from it; finished cells skipped,
/// stopped ones resumed), optionally evaluates each finished pruning cell on our sparse kernels (its speedup goes into
/// the report), then publishes the finished runs into the suite's results folder and writes the report.
/// </summary>
public sealed class SuiteCommand : ICliCommand
{
    public string Name => "suite";
    public string Summary => "Run an experiment suite (dense + pruning grid), skipping finished cells; then report";

    public int Run(CliArgs args)
    {
        if (args.Has("help"))
        {
            Console.WriteLine("usage: bcbp suite --suite FILE [--only GLOB[,GLOB]] [--set key=value ...] [--dry-run] [--sparse-eval] [--libtorch DIR] [--threads N] [--quiet] [--no-progress]\n" +
                              "  --only      run only the cells whose names match (their dense cells run too)\n" +
                              "  --set       override a config key in every cell (part of each cell's stamp)\n" +
                              "  --dry-run   list the cells and their state, validate every config, run nothing\n" +
                              "  --sparse-eval  convert each finished pruning cell to our sparse kernels and compare it with its masked\n" +
                              "              model on its test set (bcbp sparse --run; once per cell); on CUDA the report shows the speedup");
            return 0;
        }
        var suitePath = args.Get("suite") ?? throw new ArgumentException("--suite FILE is required (for example --suite experiments/fashion_mnist.json)");
        string? only = args.Get("only"), libtorch = args.Get("libtorch");
        int threads = args.GetInt("threads", 0);
        bool dryRun = args.Has("dry-run"), sparseEval = args.Has("sparse-eval"), quiet = args.Has("quiet"), noProgress = args.Has("no-progress");
        args.ThrowOnUnknown();

        var suite = SuiteLoader.Load(suitePath);
        var cells = GridExpander.Select(GridExpander.Expand(suite), only);
        CellConfigs.ValidateAll(cells, args.Sets);
        Console.WriteLine($"suite {suite.Name}: {cells.Count} cell(s) in {suite.OutputDir}");
        foreach (var cell in cells)
            Console.WriteLine($"  {cell.Name,-40} {RunFolder.StateOf(Path.Combine(suite.OutputDir, cell.Name))}");
        if (dryRun) return 0;

        var executor = new TrainingCellExecutor(new RunOptions { LibTorchDir = libtorch, Quiet = quiet, ShowProgress = !noProgress, CpuThreads = threads });
        var outcomes = new SuiteExecutor(suite, executor, Console.WriteLine).Run(cells, args.Sets);
        var failedEvals = sparseEval ? EvaluateSparse(suite.OutputDir, cells, args.Sets, libtorch) : 0;
        var report = SuiteReporting.PublishAndReport(suitePath, Array.Empty<string>(), Console.WriteLine);
        Console.WriteLine();
        Console.WriteLine(ReportMarkdown.Render(report));
        var failed = outcomes.Where(o => o.Status is CellStatus.Failed or CellStatus.Blocked).ToList();
        foreach (var o in failed) Console.Error.WriteLine($"error: {o.Cell.Name}: {o.Error}");
        return failed.Count == 0 && failedEvals == 0 ? 0 : 1;
    }

    /// <summary>Runs <c>bcbp sparse --run</c> on every finished pruning cell that has no sparse_eval.json yet (on the
    /// cell's device: fp16 kernels on CUDA, the fp32 reference on the CPU); returns how many failed or mismatched.</summary>
    public static int EvaluateSparse(string outputDir, IEnumerable<SuiteCell> cells, IReadOnlyList<string> overrides, string? libtorch)
    {
        int failed = 0;
        foreach (var cell in cells.Where(c => !c.IsDense))
        {
            var dir = Path.Combine(outputDir, cell.Name);
            var reportFile = Path.Combine(dir, SparseReport.FileName);
            if (RunFolder.StateOf(dir) != RunState.Finished || File.Exists(reportFile)) continue;
            try
            {
                // The device the cell ran on, with the suite's --set applied as EvaluateRun applies them.
                var device = TorchBackend.Initialize(SavedRun.Open(dir, overrides).Config.Device, libtorch);
                bool cuda = device.type == TorchSharp.DeviceType.CUDA;
                var report = SparseCommand.EvaluateRun(dir, overrides, null, SparseLayout.Auto, fold: true, device,
                    cuda ? TorchSharp.torch.ScalarType.Float16 : TorchSharp.torch.ScalarType.Float32, batch: null, iters: cuda ? 10 : 2);
                OutputJson.Write(reportFile, report);
                Console.WriteLine($"{cell.Name}: sparse {SparseCommand.Summarize(report)}");
                if (!report.Passed) failed++;
            }
            catch (Exception e) when (e is ArgumentException or InvalidDataException or InvalidOperationException or NotSupportedException or IOException)
            {
                Console.Error.WriteLine($"error: {cell.Name}: sparse evaluation failed: {e.Message}");
                failed++;
            }
        }
        return failed;
    }
}
