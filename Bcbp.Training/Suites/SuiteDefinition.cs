using System.Text.Json.Nodes;

namespace Bcbp.Training.Suites;

/// <summary>
/// An experiment suite (<c>experiments/*.json|yaml</c>): a base experiment config and a grid of models x datasets x
/// methods x sparsities (x tile sizes) (x seeds). Each model x dataset pair trains one dense model; every pruning cell of the
/// pair starts from it. Config layers, applied in this order to form a cell's experiment config:
/// <c>base</c>, the model's and dataset's <c>config</c>, <c>dense</c> or <c>finetune</c>, <c>method_overrides[method]</c>,
/// then the cell's own keys (name, output_dir, prune.method/sparsity/tile_rows, model.pretrained, train.epochs = 0).
/// </summary>
public sealed record SuiteDefinition
{
    /// <summary>Suite name: names the default run and results folders.</summary>
    public required string Name { get; init; }
    public string Description { get; init; } = "";
    /// <summary>Experiment config every cell starts from (snake_case keys, as in configs/*.json).</summary>
    public required JsonObject Base { get; init; }
    /// <summary>Overrides for dense (pretraining) cells.</summary>
    public JsonObject Dense { get; init; } = new();
    /// <summary>Overrides for pruning cells (fine-tuning schedule, prune.schedule, prune.finetune_epochs).</summary>
    public JsonObject Finetune { get; init; } = new();
    public required SuiteGrid Grid { get; init; }
    /// <summary>Per-method overrides for pruning cells (for example block_rows for <c>block</c>).</summary>
    public IReadOnlyDictionary<string, JsonObject> MethodOverrides { get; init; } = new Dictionary<string, JsonObject>();
    /// <summary>Folder holding one run folder per cell.</summary>
    public required string OutputDir { get; init; }
    /// <summary>Folder where <c>bcbp suite --publish</c> copies results (committed with provenance).</summary>
    public required string ResultsDir { get; init; }
    /// <summary>Kernel benchmark JSON files (from <c>bcbp bench</c>) whose speedups the report shows.</summary>
    public IReadOnlyList<string> Bench { get; init; } = Array.Empty<string>();
    /// <summary>What to run after this suite, printed at the end of <c>bcbp suite</c> (key <c>next</c>).</summary>
    public string Next { get; init; } = "";
}

/// <summary>The <c>grid</c> section: the axes a suite crosses.</summary>
public sealed record SuiteGrid
{
    public required IReadOnlyList<GridValue> Models { get; init; }
    public required IReadOnlyList<GridValue> Datasets { get; init; }
    /// <summary>Pruning methods (prune.method values); the dense cell is implied.</summary>
    public required IReadOnlyList<string> Methods { get; init; }
    /// <summary>Target sparsities in [0, 1).</summary>
    public required IReadOnlyList<double> Sparsities { get; init; }
    /// <summary>prune.tile_rows values; empty: whatever the config layers give (one value, not named in cells).</summary>
    public IReadOnlyList<int> TileRows { get; init; } = Array.Empty<int>();
    /// <summary>Config <c>seed</c> values: every cell (dense ones too) once per seed, so the report can show mean ±
    /// std; empty: the config's seed, once.</summary>
    public IReadOnlyList<int> Seeds { get; init; } = Array.Empty<int>();
}

/// <summary>One value of the models or datasets axis: a short name (used in cell names) and the config keys it
/// sets. In a suite file either a string (<c>"resnet20"</c> = model.arch, <c>"cifar10"</c> = data.dataset) or an
/// object <c>{ "name": ..., "config": { ... } }</c>.</summary>
public sealed record GridValue(string Name, JsonObject Config);
