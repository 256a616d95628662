using System.Collections.Concurrent;
using Bcbp.Training.Config;
using Bcbp.Training.Costs;
using Bcbp.Training.Distributed;
using Bcbp.Training.Runs;

namespace Bcbp.Training.Suites;

/// <summary>
/// Runs each suite cell as a child <c>bcbp train</c> pinned to one of <c>--gpus G</c> GPUs (<c>--set
/// device=cuda:I</c>), so G cells train at once, one per GPU, each in its own process (its own seed, allocator and
/// CUDA context; a crash takes only that cell). The child's lines come back prefixed by the cell's name; the cell's
/// cost.json is counted here afterwards, as <see cref="TrainingCellExecutor"/> does.
/// </summary>
public sealed class ProcessCellExecutor : ICellExecutor
{
    readonly BlockingCollection<int> _free = new();
    readonly RunOptions _options;
    readonly TextWriter _output, _error;

    /// <param name="gpus">GPUs cuda:0..gpus-1, one cell each at a time.</param>
    /// <param name="options">--libtorch, --threads, --quiet of the suite, passed on to every cell.</param>
    /// <param name="output">Where the cells' stdout lines go.</param>
    /// <param name="error">Where their stderr lines go.</param>
    public ProcessCellExecutor(int gpus, RunOptions options, TextWriter output, TextWriter error)
    {
        for (int i = 0; i < gpus; i++) _free.Add(i);
        _options = options;
        _output = output;
        _error = error;
    }

    public RunResult Run(SuiteCell cell, string configPath, IReadOnlyList<string> overrides, bool resume)
    {
        int gpu = _free.Take();
        try
        {
            var (exe, prefix) = ProcessLauncher.Self();
            var args = new List<string>(prefix) { "train", "--config", configPath, "--force", "--no-progress" };
            foreach (var o in overrides) { args.Add("--set"); args.Add(o); }
            args.AddRange(new[] { "--set", $"device=cuda:{gpu}" });
            if (resume) args.Add("--resume");
            if (_options.Quiet) args.Add("--quiet");
            if (_options.LibTorchDir is { } lib) { args.Add("--libtorch"); args.Add(lib); }
            if (_options.CpuThreads is { } t) { args.Add("--threads"); args.Add(t.ToString(System.Globalization.CultureInfo.InvariantCulture)); }
            int code = ChildProcess.Run(exe, args, $"[{cell.Name} cuda:{gpu}] ", _output, _error);
            var config = ConfigLoader.Load(configPath, overrides.Append($"device=cuda:{gpu}").ToList());
            string runDir = Path.Combine(config.OutputDir, config.Name);
            if (code != 0)
                throw new InvalidOperationException($"bcbp train of cell {cell.Name} on cuda:{gpu} exited with code {code}; its run.log in {runDir} says why.");
            var result = RunResult.Read(Path.Combine(runDir, RunResult.FileName));
            ModelCostFile.Write(result.RunDir, config, result.ModelFile);
            return result;
        }
        finally { _free.Add(gpu); }
    }
}
