using Bcbp.Training.Json;


namespace Bcbp.Training.Runs;

/// <summary>What one experiment run produced; <c>runs/NAME/results.json</c> is this record serialized (snake_case).</summary>
public sealed record RunResult
{
    public const string FileName = "results.json";

    public required string Name { get; init; }
    public required string RunDir { get; init; }
    /// <summary>Final test top-1 / top-5 accuracy in percent, and mean test loss.</summary>
    public double Top1 { get; init; }
    public double Top5 { get; init; }
    public double Loss { get; init; }
    /// <summary>Top-1 of the dense model before pruning (null for a dense run).</summary>
    public double? DenseTop1 { get; init; }
    /// <summary>Test images the accuracies are measured on (null in results of older versions).</summary>
    public long? TestSamples { get; init; }
    /// <summary>null for a dense run; else prune.method, prune.sparsity (target) and the sparsity reached over the
    /// prunable layers.</summary>
    public string? Method { get; init; }
    public double? TargetSparsity { get; init; }
    public double? AchievedSparsity { get; init; }
    /// <summary>Path of the final model (state dict with weight_mask buffers), relative to the run folder.</summary>
    public string ModelFile { get; init; } = TrainingRun.ModelFile;
    public double TrainSeconds { get; init; }
    public string Device { get; init; } = "cpu";
    /// <summary>SHA-256 of the resolved config (provenance).</summary>
    public string ConfigHash { get; init; } = "";
    public string Commit { get; init; } = "";
    public string Machine { get; init; } = "";
    public DateTime FinishedUtc { get; init; }

    /// <summary>Reads a results.json.</summary>
    public static RunResult Read(string path) => OutputJson.Read<RunResult>(path);

    /// <summary>Writes this record as results.json at <paramref name="path"/> (atomically).</summary>
    public void Write(string path) => OutputJson.Write(path, this);
}
