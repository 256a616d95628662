using System.Text.Json.Nodes;

namespace Bcbp.Training.Suites;

/// <summary>One run of a suite: a dense pretraining (<see cref="Method"/> null) or one pruning setting that starts
/// from <see cref="DenseCell"/>'s final model. <see cref="Config"/> is the experiment config before
/// <c>model.pretrained</c> is filled in (the dense run's model file is known once that run finished).</summary>
public sealed record SuiteCell
{
    /// <summary>Run name and folder name: <c>{model}_{dataset}_dense</c> or <c>{model}_{dataset}_{method}_s{percent}</c>
    /// (plus <c>_t{tile_rows}</c> when the suite crosses tile sizes, <c>_seed{N}</c> when it crosses seeds).</summary>
    public required string Name { get; init; }
    public required string Model { get; init; }
    public required string Dataset { get; init; }
    public string? Method { get; init; }
    public double? Sparsity { get; init; }
    public int? TileRows { get; init; }
    /// <summary>The config's <c>seed</c> when the suite has a seeds axis (null: the config's own).</summary>
    public int? Seed { get; init; }
    /// <summary>Name of the dense cell this cell fine-tunes from (null for a dense cell).</summary>
    public string? DenseCell { get; init; }
    public required JsonObject Config { get; init; }

    public bool IsDense => Method is null;

    /// <summary>The <c>--set</c> overrides that apply to this cell: a dense cell has no <c>prune</c> section, so
    /// <c>prune.*</c> overrides skip it (else they would turn it into a pruning run).</summary>
    public IReadOnlyList<string> OverridesFor(IReadOnlyList<string> overrides)
        => IsDense ? overrides.Where(o => !o.StartsWith("prune.", StringComparison.Ordinal) && !o.StartsWith("prune=", StringComparison.Ordinal)).ToList()
                   : overrides;
}
