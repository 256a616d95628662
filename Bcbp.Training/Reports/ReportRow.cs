namespace Bcbp.Training.Reports;

/// <summary>One line of the comparison report: a run's accuracy, sparsity, cost and speedup next to its dense
/// model's, with the run's provenance. Ratios are in [0, 1]; accuracies in percent.</summary>
public sealed record ReportRow
{
    public required string Model { get; init; }
    /// <summary>The suite's name for the dataset axis value (cell names use it).</summary>
    public required string Dataset { get; init; }
    /// <summary><c>data.dataset</c> the run was trained on (null when its config.json is missing).</summary>
    public string? TrainedOn { get; init; }
    public required string Cell { get; init; }
    /// <summary>The dense cell this run fine-tuned from (null for a dense run or a run outside a suite).</summary>
    public string? DenseCell { get; init; }
    public int? Seed { get; init; }
    /// <summary>"dense" or the pruning method.</summary>
    public required string Method { get; init; }
    public int? TileRows { get; init; }
    /// <summary>The pruning unit (<see cref="PruneUnit"/>): 16x1, 4x4, row, ...</summary>
    public string Unit { get; init; } = "-";
    public double TargetSparsity { get; init; }
    public double AchievedSparsity { get; init; }
    public double Top1 { get; init; }
    public double Top5 { get; init; }
    /// <summary>Test images the accuracies were measured on (null: not recorded).</summary>
    public long? TestSamples { get; init; }
    public double? DenseTop1 { get; init; }
    /// <summary>Top-1 minus the dense model's top-1 (negative = lost accuracy).</summary>
    public double? Top1Delta { get; init; }
    /// <summary>Conv/linear multiply-accumulates per image, dense and kept (null: no cost.json).</summary>
    public long? Macs { get; init; }
    public long? KeptMacs { get; init; }
    public long? Params { get; init; }
    public long? KeptParams { get; init; }
    /// <summary>Sparse over dense inference time from a kernel benchmark (null: not measured).</summary>
    public double? Speedup { get; init; }
    /// <summary>The run's sparse images/s over the fastest dense PyTorch baseline of its model and batch (a
    /// <c>--bench</c> file from experiments/bench/pytorch_baselines.py), and that baseline's variant.</summary>
    public double? SpeedupOverBest { get; init; }
    public string? BestDense { get; init; }
    /// <summary>The measured speedup's path against the per-image pass rule (null: no GPU evaluation).</summary>
    public SparseRule? Rule { get; init; }
    /// <summary>Largest per-layer workload imbalance among tiles (Bcbp.Kernels.Formats.TileBalance: max kept work / mean; 1 = balanced).</summary>
    public double? WitMax { get; init; }
    public double TrainSeconds { get; init; }
    public string Device { get; init; } = "";
    public string Machine { get; init; } = "";
    public string Commit { get; init; } = "";
    public DateTime FinishedUtc { get; init; }
    /// <summary>SHA-256 of the run's resolved config (results.json).</summary>
    public string ConfigHash { get; init; } = "";
    /// <summary>The suite's stamp of the cell (suite_cell.json: config, overrides, dense cell's stamp); "" outside a suite.</summary>
    public string CellStamp { get; init; } = "";

    public bool IsDense => Method == "dense";
    public double? FlopsKept => Macs is > 0 ? (double)KeptMacs! / Macs : null;
    public double? ParamsKept => Params is > 0 ? (double)KeptParams! / Params : null;
}
