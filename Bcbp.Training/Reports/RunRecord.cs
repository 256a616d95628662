using System.Text.Json.Nodes;
using Bcbp.Training.Costs;
using Bcbp.Training.Json;
using Bcbp.Training.Pruning.Report;
using Bcbp.Training.Runs;
using Bcbp.Training.Suites;

namespace Bcbp.Training.Reports;

/// <summary>A finished run folder as the report sees it: results.json, and where present the suite's cell info
/// (<c>suite_cell.json</c>), the counted cost (<c>cost.json</c>) and the largest per-layer workload imbalance among
/// tiles from the pruning report (<c>prune_report.json</c>), the pruning unit (from <c>config.json</c>) and the speedup of
/// its own model on our CUDA kernels (<c>sparse_eval.json</c> of <c>bcbp sparse --run</c>), the dataset it was
/// trained on (<c>data.dataset</c> of config.json; a suite's dataset axis only names it) and its architecture
/// (<c>model.arch</c>; a suite's model axis only names it, e.g. "vgg16" for vgg16_cifar).</summary>
public sealed record RunRecord(string Dir, RunResult Result, CellInfo? Info, ModelCost? Cost, double? WitMax = null, string Unit = "-",
                               double? MeasuredSpeedup = null, string? TrainedOn = null, SparseSpeed? Sparse = null, string? Arch = null,
                               SparseRule? Rule = null);

/// <summary>A run's own model on our CUDA kernels (<c>sparse_eval.json</c>): images/s at the timed batch.</summary>
public sealed record SparseSpeed(int Batch, double ImagesPerSecond);

/// <summary>How the quoted sparse path of a GPU evaluation fared against the per-image pass rule (issue 9, item 5):
/// <paramref name="Failing"/> of <paramref name="Samples"/> images over max(2 x the dense fp16 model's error, floor).</summary>
public sealed record SparseRule(long Failing, long Samples)
{
    /// <summary>No image over the bound.</summary>
    public bool Passed => Failing == 0;
}

/// <summary>Finds the finished runs under a folder (one run folder per subfolder).</summary>
public static class RunCollector
{
    /// <summary>Every immediate subfolder of <paramref name="dir"/> that holds results.json, in name order.</summary>
    public static IReadOnlyList<RunRecord> Collect(string dir)
    {
        if (!Directory.Exists(dir))
            throw new DirectoryNotFoundException($"results folder '{dir}' does not exist; run the suite first (bcbp suite --suite FILE) or pass the folder holding the run folders");
        var records = Directory.GetDirectories(dir).Order(StringComparer.Ordinal)
            .Where(d => File.Exists(Path.Combine(d, RunResult.FileName))).Select(Read).ToList();
        if (records.Count == 0)
            throw new InvalidDataException($"no finished runs (no */{RunResult.FileName}) under '{dir}'");
        return records;
    }

    /// <summary>The finished run folder <paramref name="runDir"/> (it must hold results.json).</summary>
    public static RunRecord Read(string runDir)
    {
        var infoPath = Path.Combine(runDir, CellInfo.FileName);
        var costPath = Path.Combine(runDir, ModelCost.FileName);
        var configPath = Path.Combine(runDir, "config.json");
        var config = File.Exists(configPath) ? JsonNode.Parse(File.ReadAllText(configPath)) as JsonObject : null;
        var evalPath = Path.Combine(runDir, Inference.SparseReport.FileName);
        var eval = File.Exists(evalPath) ? JsonNode.Parse(File.ReadAllText(evalPath)) as JsonObject : null;
        // The quoted sparse path, from an evaluation that ran our CUDA kernels (a CPU one times the reference path).
        var best = OnGpu(eval) ? BestSparse(eval!) : ((double Ms, long FailingSamples)?)null;
        var speedup = MeasuredSpeedupOf(eval, best);
        return new RunRecord(
            runDir,
            RunResult.Read(Path.Combine(runDir, RunResult.FileName)),
            File.Exists(infoPath) ? OutputJson.Read<CellInfo>(infoPath) : null,
            File.Exists(costPath) ? OutputJson.Read<ModelCost>(costPath) : null,
            WitMaxOf(Path.Combine(runDir, PruneReportWriter.JsonFile)),
            PruneUnit.Describe(config?["prune"] as JsonObject),
            speedup,
            config?["data"]?["dataset"]?.GetValue<string>(),
            speedup is null ? null : SparseSpeedOf(eval!, best!.Value.Ms),
            config?["model"]?["arch"]?.GetValue<string>(),
            best is { } b ? new SparseRule(b.FailingSamples, eval!["samples"]?.GetValue<long>() ?? 0) : null);
    }

    /// <summary>Images/s of the quoted sparse path (<paramref name="ms"/> per batch) at the timed batch; null without
    /// the batch's shape.</summary>
    static SparseSpeed? SparseSpeedOf(JsonObject eval, double ms)
        => (eval["input_shape"] as JsonArray)?.FirstOrDefault()?.GetValue<long>() is { } batch
            ? new SparseSpeed((int)batch, batch * 1000.0 / ms) : null;

    /// <summary><see cref="Inference.SparseReport.Best"/> over the JSON's fields (a file without the plans' fields, or
    /// with <c>passed</c> alone, reads as the layer-by-layer path).</summary>
    static (double Ms, long FailingSamples) BestSparse(JsonObject eval)
    {
        long failing = eval["failing_samples"]?.GetValue<long>() ?? (eval["passed"]?.GetValue<bool>() == true ? 0 : 1);
        return Inference.SparseReport.Best((eval["sparse_ms"]?.GetValue<double>() ?? 0, failing),
            Inference.SparseReport.Path(eval["plan_ms"]?.GetValue<double?>(), eval["plan_failing_samples"]?.GetValue<long?>()),
            Inference.SparseReport.Path(eval["shrunk_plan_ms"]?.GetValue<double?>(), eval["shrunk_plan_failing_samples"]?.GetValue<long?>()));
    }

    /// <summary>Masked dense time over the quoted sparse path's time (<paramref name="best"/>, <see cref="BestSparse"/>;
    /// null off the GPU). Quoted whether or not that path passed the per-image rule: the record's
    /// <see cref="SparseRule"/> says which, and the report shows it.</summary>
    static double? MeasuredSpeedupOf(JsonObject? eval, (double Ms, long FailingSamples)? best)
    {
        if (best is not { Ms: var sparse }) return null;
        double dense = eval!["dense_ms"]?.GetValue<double>() ?? 0;
        return dense > 0 && sparse > 0 ? dense / sparse : null;
    }

    static bool OnGpu(JsonObject? eval) => eval?["device"]?.GetValue<string>().StartsWith("cuda", StringComparison.Ordinal) == true;

    /// <summary>Max of <c>layers[].wit</c> in a pruning report, or null without one.</summary>
    static double? WitMaxOf(string path)
    {
        if (!File.Exists(path)) return null;
        var layers = (JsonNode.Parse(File.ReadAllText(path)) as JsonObject)?["layers"] as JsonArray;
        var wits = layers?.Select(l => l?["wit"]?.GetValue<double>()).OfType<double>().ToList();
        return wits is { Count: > 0 } ? wits.Max() : null;
    }
}
