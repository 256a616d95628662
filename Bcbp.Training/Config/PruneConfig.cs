namespace Bcbp.Training.Config;

/// <summary>
/// The <c>prune</c> section: which method, how sparse, and on what schedule. Every key is documented in
/// docs/pruning.md; <see cref="Validate"/> rejects bad values with the key's name and the fix.
/// </summary>
public sealed class PruneConfig
{
    /// <summary>The methods <see cref="Method"/> accepts.</summary>
    public static readonly string[] Methods = { "bcbp", "filter", "block", "unstructured", "nm" };

    /// <summary>bcbp, filter, block, unstructured, nm.</summary>
    public string Method { get; set; } = "bcbp";
    /// <summary>Final fraction of weights pruned in each prunable layer (scope layer) or over all of them (global), in [0, 1).</summary>
    public double Sparsity { get; set; } = 0.5;
    /// <summary>Rows of a GEMM tile (one thread block's rows). A layer with fewer rows is one tile.</summary>
    public int TileRows { get; set; } = 64;
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
    /// <summary>l1 or l2.</summary>
    public string Score { get; set; } = "l1";
    /// <summary>layer (uniform per layer) or global (one ranking over the prunable layers).</summary>
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
    public IReadOnlyList<string> EffectiveExclude => Exclude ?? (IReadOnlyList<string>)DefaultExclude;

    /// <summary>Throws <see cref="ArgumentException"/> naming the bad key and the fix.</summary>
    public void Validate()
    {
        static ArgumentException Bad(string msg) => new(msg);
        string method = Method?.ToLowerInvariant() ?? "";
        if (!Methods.Contains(method))
            throw Bad($"prune.method '{Method}' is unknown; use one of {string.Join(", ", Methods)}.");
        CheckSparsity("prune.sparsity", Sparsity);
        foreach (var o in Overrides)
        {
            if (string.IsNullOrWhiteSpace(o.Pattern)) throw Bad("prune.overrides[].pattern is empty; give a module-name glob such as 'layer4.*'.");
            CheckSparsity($"prune.overrides['{o.Pattern}'].sparsity", o.Sparsity);
        }
        if (TileRows < 1) throw Bad($"prune.tile_rows must be >= 1 (got {TileRows}).");
        if (TileCols < 0) throw Bad($"prune.tile_cols must be >= 0, 0 meaning all of K (got {TileCols}).");
        if (Remainder is not ("error" or "own_tile"))
            throw Bad($"prune.remainder '{Remainder}' is unknown; use error or own_tile.");
        if (BlockRows < 1 || BlockCols < 1) throw Bad($"prune.block_rows and prune.block_cols must be >= 1 (got {BlockRows} x {BlockCols}).");
        if (Score is not ("l1" or "l2")) throw Bad($"prune.score '{Score}' is unknown; use l1 or l2.");
        if (Scope is not ("layer" or "global")) throw Bad($"prune.scope '{Scope}' is unknown; use layer or global.");
        if (method == "nm")
        {
            if (N < 1 || M < 2 || N >= M) throw Bad($"prune.n and prune.m must satisfy 1 <= n < m (got {N}:{M}).");
            if (Scope == "global") throw Bad("prune.scope=global is not supported by method nm (N:M is a per-group rule); set prune.scope to layer.");
            double nmSparsity = 1.0 - (double)N / M;
            if (Math.Abs(Sparsity - nmSparsity) > 1e-9)
                throw Bad($"prune.sparsity {Sparsity} does not match prune.n:prune.m = {N}:{M} (sparsity {nmSparsity}); set prune.sparsity to {nmSparsity} or change n/m.");
            foreach (var o in Overrides.Where(o => o.Sparsity > nmSparsity + 1e-9))
                throw Bad($"prune.overrides['{o.Pattern}'].sparsity {o.Sparsity} exceeds what {N}:{M} allows ({nmSparsity}).");
        }
        Schedule.Validate(FinetuneEpochs, Sparsity);
    }

    static void CheckSparsity(string key, double s)
    {
        if (!(s >= 0 && s < 1)) throw new ArgumentException($"{key} must be in [0, 1) (got {s}); e.g. 0.75 prunes 75% of the weights.");
    }
}

/// <summary>One entry of <c>prune.overrides</c>: layers whose name matches <see cref="Pattern"/> get <see cref="Sparsity"/>.</summary>
public sealed class LayerOverride
{
    /// <summary>Glob or <c>re:</c> regex over module names (as in <c>exclude</c>).</summary>
    public string Pattern { get; set; } = "";
    public double Sparsity { get; set; }
}

/// <summary>The <c>prune.schedule</c> section.</summary>
public sealed class ScheduleConfig
{
    /// <summary>cubic (Zhu and Gupta 2017), linear, or one_shot.</summary>
    public string Kind { get; set; } = "cubic";
    /// <summary>Sparsity at <see cref="StartEpoch"/>.</summary>
    public double Initial { get; set; }
    public int StartEpoch { get; set; }
    /// <summary>Epoch at whose first step the final sparsity is reached.</summary>
    public int EndEpoch { get; set; } = 10;
    /// <summary>Optimizer steps between mask updates.</summary>
    public int Frequency { get; set; } = 100;

    /// <summary>Throws <see cref="ArgumentException"/> naming the bad key.</summary>
    public void Validate(int finetuneEpochs, double finalSparsity)
    {
        if (Kind is not ("cubic" or "linear" or "one_shot"))
            throw new ArgumentException($"prune.schedule.kind '{Kind}' is unknown; use cubic, linear or one_shot.");
        if (!(Initial >= 0 && Initial <= finalSparsity))
            throw new ArgumentException($"prune.schedule.initial must be in [0, prune.sparsity = {finalSparsity}] (got {Initial}).");
        if (StartEpoch < 0) throw new ArgumentException($"prune.schedule.start_epoch must be >= 0 (got {StartEpoch}).");
        if (EndEpoch < StartEpoch)
            throw new ArgumentException($"prune.schedule.end_epoch ({EndEpoch}) must be >= prune.schedule.start_epoch ({StartEpoch}).");
        string lastKey = Kind == "one_shot" ? "start_epoch" : "end_epoch";
        int last = Kind == "one_shot" ? StartEpoch : EndEpoch;
        if (last >= finetuneEpochs)
            throw new ArgumentException($"prune.schedule.{lastKey} ({last}) must be < prune.finetune_epochs ({finetuneEpochs}) so the final sparsity is reached and fine-tuned; lower {lastKey} or raise finetune_epochs.");
        if (Frequency < 1) throw new ArgumentException($"prune.schedule.frequency must be >= 1 step (got {Frequency}).");
    }
}
