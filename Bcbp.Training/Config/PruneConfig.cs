namespace Bcbp.Training.Config;

/// <summary>The <c>prune</c> section: which method, how sparse, and on what schedule.</summary>
public sealed partial class PruneConfig
{
    /// <summary>bcbp, filter, block, unstructured, nm.</summary>
    public string Method { get; set; } = "bcbp";
    public double Sparsity { get; set; } = 0.5;
    public int TileRows { get; set; } = 64;
    public int TileCols { get; set; }
    /// <summary>l1 or l2.</summary>
    public string Score { get; set; } = "l1";
    /// <summary>layer (uniform per layer) or global.</summary>
    public string Scope { get; set; } = "layer";
    public List<string> Exclude { get; set; } = new() { "conv1", "fc" };
    public ScheduleConfig Schedule { get; set; } = new();
    public int FinetuneEpochs { get; set; } = 15;
}

/// <summary>The <c>prune.schedule</c> section.</summary>
public sealed partial class ScheduleConfig
{
    /// <summary>cubic (Zhu and Gupta 2017), linear, or one_shot.</summary>
    public string Kind { get; set; } = "cubic";
    public double Initial { get; set; }
    public int StartEpoch { get; set; }
    public int EndEpoch { get; set; } = 10;
    public int Frequency { get; set; } = 100;
}
