namespace Bcbp.Training.Config;

/// <summary>
/// The <c>prune</c> section: which method, how sparse, and on what schedule. Every key is documented in
/// docs/pruning.md; <c>Validate</c> (PruneConfigValidation.cs) rejects bad values with the key's name and the fix.
/// </summary>
public sealed partial class PruneConfig
{
    /// <summary>bcbp, filter, block, unstructured, nm (<see cref="PruneMethod"/>).</summary>
    public string Method { get; set; } = "bcbp";
    /// <summary>Final fraction of weights pruned in each prunable layer (scope layer) or over all of them (global), in [0, 1).</summary>
    public double Sparsity { get; set; } = 0.5;
    /// <summary>Rows of a GEMM tile (one thread block's rows). A layer with fewer rows is one tile. 0 (the default) =
    /// chosen for the model when the run starts (<c>TileShape.AutoRows</c>: up to 64, and small enough that every
    /// prunable layer has at least two row tiles, so balance means something); the run's config.json holds the choice.</summary>
    public int TileRows { get; set; }
    /// <summary>Columns of a GEMM tile; 0 = the whole K.</summary>
    public int TileCols { get; set; }
    /// <summary>What to do with a last partial tile (M not divisible by tile_rows, or K by tile_cols): error or own_tile.</summary>
    public string Remainder { get; set; } = "error";
    /// <summary>Block shape of the <c>block</c> method (default 8 x 8 = 64 weights, the size of a bcbp column vector of a 64-row tile).</summary>
    public int BlockRows { get; set; } = 8;
    public int BlockCols { get; set; } = 8;
    /// <summary>The <c>nm</c> method keeps <see cref="N"/> of every <see cref="M"/> consecutive weights along K.</summary>
    public int N { get; set; } = 2;
    public int M { get; set; } = 4;
    /// <summary>l1 or l2 (<see cref="PruneScore"/>).</summary>
    public string Score { get; set; } = "l1";
    /// <summary>layer (uniform per layer) or global (one ranking over the prunable layers) (<see cref="PruneScope"/>).</summary>
    public string Scope { get; set; } = "layer";
    /// <summary>
    /// Module-name patterns of layers not to prune: globs (<c>*</c>, <c>?</c>, matched against the whole name) or
    /// regexes written <c>re:...</c>; <c>@first</c> / <c>@last</c> name the first / last prunable layer. Null means
    /// the default <see cref="DefaultExclude"/> (conv1 and fc for ResNet, features.0 and the last classifier layer
    /// for VGG). Null rather than a pre-filled list because configuration binders append to pre-filled lists.
    /// </summary>
    public List<string>? Exclude { get; set; }
    /// <summary>Per-layer sparsities: the first override whose pattern matches a layer's name sets its sparsity.</summary>
    public List<LayerOverride> Overrides { get; set; } = new();
    public ScheduleConfig Schedule { get; set; } = new();
    public int FinetuneEpochs { get; set; } = 15;

    /// <summary>First and last prunable layer: the paper's exclusion of the first conv and the classifier.</summary>
    public static readonly IReadOnlyList<string> DefaultExclude = new[] { "@first", "@last" };

    /// <summary><see cref="Exclude"/>, or <see cref="DefaultExclude"/> when unset.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public IReadOnlyList<string> EffectiveExclude => Exclude ?? (IReadOnlyList<string>)DefaultExclude;

    // Typed views of the string keys (the file keeps the strings; code reads these). Valid after Validate.
    [System.Text.Json.Serialization.JsonIgnore]
    public PruneMethod MethodKind => ConfigNames.Parse<PruneMethod>(Method, "prune.method");
    [System.Text.Json.Serialization.JsonIgnore]
    public PruneScore ScoreKind => ConfigNames.Parse<PruneScore>(Score, "prune.score");
    [System.Text.Json.Serialization.JsonIgnore]
    public PruneScope ScopeKind => ConfigNames.Parse<PruneScope>(Scope, "prune.scope");
    [System.Text.Json.Serialization.JsonIgnore]
    public RemainderRule RemainderKind => ConfigNames.Parse<RemainderRule>(Remainder, "prune.remainder");
}

/// <summary>One entry of <c>prune.overrides</c>: layers whose name matches <see cref="Pattern"/> get <see cref="Sparsity"/>.</summary>
public sealed class LayerOverride
{
    /// <summary>Glob or <c>re:</c> regex over module names (as in <c>exclude</c>).</summary>
    public string Pattern { get; set; } = "";
    public double Sparsity { get; set; }
}

/// <summary>The <c>prune.schedule</c> section.</summary>
public sealed partial class ScheduleConfig
{
    /// <summary>cubic (Zhu and Gupta 2017), linear, or one_shot (<see cref="Config.ScheduleKind"/>).</summary>
    public string Kind { get; set; } = "cubic";
    /// <summary>The typed <see cref="Kind"/> (valid after Validate).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public ScheduleKind ScheduleKind => ConfigNames.Parse<ScheduleKind>(Kind, "prune.schedule.kind");
    /// <summary>Sparsity at <see cref="StartEpoch"/>.</summary>
    public double Initial { get; set; }
    public int StartEpoch { get; set; }
    /// <summary>Epoch at whose first step the final sparsity is reached.</summary>
    public int EndEpoch { get; set; } = 10;
    /// <summary>Optimizer steps between mask updates.</summary>
    public int Frequency { get; set; } = 100;

}
