using System.Globalization;
using System.Text.Json.Nodes;
using Bcbp.Training.Config;
using Bcbp.Training.Json;

namespace Bcbp.Training.Suites;

/// <summary>Turns a suite's grid into its cells: for each model x dataset, the dense cell first, then one cell per
/// method x sparsity (x tile size) in the order the suite lists them; with a seeds axis, all of that once per seed
/// (each seed trains its own dense model).</summary>
public static class GridExpander
{
    public static IReadOnlyList<SuiteCell> Expand(SuiteDefinition suite)
    {
        var cells = new List<SuiteCell>();
        var tiles = suite.Grid.TileRows.Count > 0 ? suite.Grid.TileRows.Select(t => (int?)t).ToList() : new List<int?> { null };
        bool nameTiles = suite.Grid.TileRows.Count > 1;
        var seeds = suite.Grid.Seeds.Count > 0 ? suite.Grid.Seeds.Select(s => (int?)s).ToList() : new List<int?> { null };
        bool nameSeeds = suite.Grid.Seeds.Count > 1;
        foreach (var model in suite.Grid.Models)
        foreach (var dataset in suite.Grid.Datasets)
        foreach (var seed in seeds)
        {
            var pair = JsonTree.Merge(JsonTree.Merge(suite.Base, model.Config), dataset.Config);
            if (seed is { } sd) pair["seed"] = sd;
            string suffix = nameSeeds ? $"_seed{seed}" : "";
            string denseName = $"{model.Name}_{dataset.Name}_dense{suffix}";
            var dense = JsonTree.Merge(pair, suite.Dense);
            dense["prune"] = null;
            cells.Add(new SuiteCell { Name = denseName, Model = model.Name, Dataset = dataset.Name, Seed = seed, Config = Named(dense, denseName, suite) });

            foreach (var method in suite.Grid.Methods)
            foreach (var sparsity in suite.Grid.Sparsities)
            foreach (var tile in tiles)
            {
                string name = PruneCellName(model.Name, dataset.Name, method, sparsity, nameTiles ? tile : null) + suffix;
                var config = JsonTree.Merge(JsonTree.Merge(pair, suite.Finetune), suite.MethodOverrides.GetValueOrDefault(method));
                if (config["prune"] is not JsonObject) config["prune"] = new JsonObject();
                JsonTree.Set(config, "prune.method", method);
                JsonTree.Set(config, "prune.sparsity", sparsity);
                if (tile is { } t) JsonTree.Set(config, "prune.tile_rows", t);
                // The dense cell did the training; a pruning cell only fine-tunes (prune.finetune_epochs).
                JsonTree.Set(config, "train.epochs", 0);
                cells.Add(new SuiteCell
                {
                    Name = name, Model = model.Name, Dataset = dataset.Name, Method = method, Sparsity = sparsity,
                    TileRows = tile, Seed = seed, DenseCell = denseName, Config = Named(config, name, suite),
                });
            }
        }
        return cells;
    }

    /// <summary><c>{model}_{dataset}_{method}_s{percent}[_t{tile_rows}]</c>, e.g. resnet20_fmnist_bcbp_s75 (plus
    /// <c>_seed{N}</c> when the suite crosses seeds).</summary>
    public static string PruneCellName(string model, string dataset, string method, double sparsity, int? tileRows)
    {
        string percent = (sparsity * 100).ToString("0.##", CultureInfo.InvariantCulture);
        return $"{model}_{dataset}_{method}_s{percent}" + (tileRows is { } t ? $"_t{t}" : "");
    }

    /// <summary>Keeps the cells whose name matches any of the comma-separated glob <paramref name="patterns"/>
    /// (<c>*</c> and <c>?</c>), plus the dense cells they start from (which must exist before them).</summary>
    public static IReadOnlyList<SuiteCell> Select(IReadOnlyList<SuiteCell> cells, string? patterns)
    {
        if (string.IsNullOrWhiteSpace(patterns)) return cells;
        var globs = patterns.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var chosen = cells.Where(c => globs.Any(g => Glob.IsMatch(c.Name, g))).ToList();
        if (chosen.Count == 0)
            throw new ArgumentException($"--only '{patterns}' matches no cell; cells are: {string.Join(", ", cells.Select(c => c.Name))}");
        var needed = chosen.Select(c => c.DenseCell).OfType<string>().ToHashSet();
        return cells.Where(c => chosen.Contains(c) || needed.Contains(c.Name)).ToList();
    }

    static JsonObject Named(JsonObject config, string name, SuiteDefinition suite)
    {
        config["name"] = name;
        config["output_dir"] = suite.OutputDir;
        return config;
    }
}
